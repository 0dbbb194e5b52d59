"""Workers KV data: namespaces, entries, expiry, key listing and KV's limits.

Pure logic: every method that depends on time takes ``now`` (seconds since the epoch), so
tests drive expiry with an injected clock. Errors are Cloudflare's KV error envelopes.

Error codes and messages. [V] = seen in real API answers quoted by third parties
(wrangler issue logs, client test fixtures): 10009 ``get: 'key not found'``, 10011
``could not parse UUID from request's namespace_id``, 10013 ``<op>: 'namespace not found'``,
10014 ``a namespace with this account ID and title already exists``. The limit messages are
Miniflare's copies of the API's (413 value, 414 key, 400 expiration). The other codes are
[I]: from the retired api.cloudflare.com KV error table (10024 payload too large, 10030 key
too long, 10033/10034 invalid expiration/ttl, 10028 invalid limit, 10041 invalid cursor,
10042 illegal key name, 10043/10044 invalid order/direction, 10047 invalid metadata),
consistent with how wrangler-legacy grouped them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cfsim.envelope import CfHttpError
from cfsim.ids import new_id

if TYPE_CHECKING:
    from cfsim.state import SimState

MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 25 * 1024 * 1024
MAX_METADATA_BYTES = 1024
MIN_TTL_S = 60
MAX_NAMESPACES = 1000
MAX_BULK_WRITE = 10_000
MAX_BULK_DELETE = 10_000
MAX_BULK_GET = 100
LIST_LIMIT_MIN = 10
LIST_LIMIT_MAX = 1000

CODE_KEY_NOT_FOUND = 10009
CODE_BAD_NAMESPACE_ID = 10011
CODE_NAMESPACE_NOT_FOUND = 10013
CODE_NAMESPACE_EXISTS = 10014
CODE_TOO_MANY_NAMESPACES = 10018
CODE_MISSING_TITLE = 10019
CODE_PAYLOAD_TOO_LARGE = 10024
CODE_INVALID_LIMIT = 10028
CODE_INVALID_REQUEST = 10029
CODE_KEY_TOO_LONG = 10030
CODE_INVALID_EXPIRATION = 10033
CODE_INVALID_EXPIRATION_TTL = 10034
CODE_INVALID_CURSOR = 10041
CODE_ILLEGAL_KEY = 10042
CODE_INVALID_ORDER = 10043
CODE_INVALID_DIRECTION = 10044
CODE_INVALID_METADATA = 10047

_NAMESPACE_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Entry:
    """One stored value with its optional expiry (epoch seconds) and metadata."""

    value: bytes
    expiration: int | None = None
    metadata: Any = None
    has_metadata: bool = False

    def expired(self, now: float) -> bool:
        """Whether the entry has reached its expiration time."""
        return self.expiration is not None and self.expiration <= now

    def listing(self, name: str) -> dict[str, Any]:
        """The entry as ``GET …/keys`` lists it (fields only when set)."""
        item: dict[str, Any] = {"name": name}
        if self.expiration is not None:
            item["expiration"] = self.expiration
        if self.has_metadata:
            item["metadata"] = self.metadata
        return item


@dataclass
class Namespace:
    """A KV namespace: its id, title and live entries."""

    id: str
    title: str
    entries: dict[str, Entry] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The namespace object of the v4 API."""
        return {"id": self.id, "title": self.title, "supports_url_encoding": True}

    def get(self, key: str, now: float) -> Entry | None:
        """The live entry for ``key``; an expired one is dropped and reads as missing."""
        entry = self.entries.get(key)
        if entry is not None and entry.expired(now):
            del self.entries[key]
            return None
        return entry

    def purge(self, now: float) -> None:
        """Drop every expired entry."""
        for key in [k for k, e in self.entries.items() if e.expired(now)]:
            del self.entries[key]

    def usage(self, now: float) -> tuple[int, int]:
        """Stored bytes (keys, values and metadata) and key count."""
        self.purge(now)
        size = 0
        for key, entry in self.entries.items():
            size += len(key.encode()) + len(entry.value)
            if entry.has_metadata:
                size += len(json.dumps(entry.metadata).encode())
        return size, len(self.entries)

    def list_keys(
        self, now: float, *, prefix: str, limit: int, cursor: str
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of keys in byte order, and the cursor of the next page ("" when done)."""
        self.purge(now)
        after = decode_cursor(cursor) if cursor else None
        names = sorted((k for k in self.entries if k.startswith(prefix)), key=lambda k: k.encode())
        if after is not None:
            names = [k for k in names if k.encode() > after.encode()]
        page = names[:limit]
        more = len(names) > limit
        next_cursor = encode_cursor(page[-1]) if more and page else ""
        return [self.entries[k].listing(k) for k in page], next_cursor


def encode_cursor(last_key: str) -> str:
    """An opaque cursor that resumes listing after ``last_key``."""
    return base64.urlsafe_b64encode(b"kv1:" + last_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The last key a cursor stands for, or KV's invalid-cursor error."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if not raw.startswith(b"kv1:"):
            raise ValueError("not a KV cursor")
        return raw[4:].decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as err:
        raise CfHttpError(400, CODE_INVALID_CURSOR, "Invalid list cursor") from err


def check_key(key: str) -> None:
    """Refuse key names KV refuses: empty, ``.``, ``..`` or longer than 512 UTF-8 bytes."""
    if key == "":
        raise CfHttpError(400, CODE_ILLEGAL_KEY, "Key names must not be empty")
    if key in {".", ".."}:
        raise CfHttpError(
            400, CODE_ILLEGAL_KEY, f'Illegal key name "{key}". Please use a different name.'
        )
    length = len(key.encode())
    if length > MAX_KEY_BYTES:
        raise CfHttpError(
            414,
            CODE_KEY_TOO_LONG,
            f"UTF-8 encoded length of {length} exceeds key length limit of {MAX_KEY_BYTES}.",
        )


def check_value_size(length: int) -> None:
    """Refuse values over 25 MiB with KV's 413."""
    if length > MAX_VALUE_BYTES:
        raise CfHttpError(
            413,
            CODE_PAYLOAD_TOO_LARGE,
            f"Value length of {length} exceeds limit of {MAX_VALUE_BYTES}.",
        )


def check_metadata(metadata: Any) -> None:
    """Refuse metadata whose JSON form is over 1024 bytes."""
    length = len(json.dumps(metadata, separators=(",", ":")).encode())
    if length > MAX_METADATA_BYTES:
        raise CfHttpError(
            413,
            CODE_INVALID_METADATA,
            f"Metadata length of {length} exceeds limit of {MAX_METADATA_BYTES}.",
        )


def parse_metadata(raw: str | bytes) -> Any:
    """Decode a metadata part (JSON text), or answer KV's invalid-metadata error."""
    try:
        metadata = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise CfHttpError(400, CODE_INVALID_METADATA, "metadata must be valid JSON") from err
    check_metadata(metadata)
    return metadata


def resolve_expiration(
    expiration: float | None, expiration_ttl: float | None, now: float
) -> int | None:
    """The absolute expiry (epoch seconds) a write asks for; ``expiration_ttl`` wins."""
    if expiration_ttl is not None:
        if expiration_ttl <= 0:
            raise CfHttpError(
                400,
                CODE_INVALID_EXPIRATION_TTL,
                f"Invalid expiration_ttl of {expiration_ttl:g}. "
                "Please specify integer greater than 0.",
            )
        if expiration_ttl < MIN_TTL_S:
            raise CfHttpError(
                400,
                CODE_INVALID_EXPIRATION_TTL,
                f"Invalid expiration_ttl of {expiration_ttl:g}. "
                f"Expiration TTL must be at least {MIN_TTL_S}.",
            )
        return int(now) + int(expiration_ttl)
    if expiration is not None:
        if expiration <= now:
            raise CfHttpError(
                400,
                CODE_INVALID_EXPIRATION,
                f"Invalid expiration of {expiration:g}. Please specify integer greater than "
                "the current number of seconds since the UNIX epoch.",
            )
        if expiration < now + MIN_TTL_S:
            raise CfHttpError(
                400,
                CODE_INVALID_EXPIRATION,
                f"Invalid expiration of {expiration:g}. Expiration times must be at least "
                f"{MIN_TTL_S} seconds in the future.",
            )
        return int(expiration)
    return None


def parse_number(raw: str | None, name: str, code: int) -> float | None:
    """A numeric query parameter (``expiration``, ``expiration_ttl``), or None when absent."""
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError as err:
        raise CfHttpError(400, code, f"Invalid {name} of {raw!r}: not a number") from err


def decode_bulk_value(value: str, is_base64: bool) -> bytes:
    """The bytes of a bulk-write value (base64 when flagged)."""
    if not is_base64:
        return value.encode()
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error) as err:
        raise CfHttpError(
            400, CODE_INVALID_REQUEST, "Value is flagged base64 but is not valid base64"
        ) from err


def bulk_value(entry: Entry | None, as_json: bool) -> Any:
    """A value as bulk get returns it: text, or decoded JSON; None for a missing key."""
    if entry is None:
        return None
    try:
        text = entry.value.decode()
    except UnicodeDecodeError as err:
        raise CfHttpError(
            400, CODE_INVALID_REQUEST, "At least one of the requested keys is not UTF-8 text"
        ) from err
    if not as_json:
        return text
    try:
        return json.loads(text)
    except ValueError as err:
        raise CfHttpError(
            400,
            CODE_INVALID_REQUEST,
            "At least one of the requested keys corresponds to a non-JSON value",
        ) from err


@dataclass
class KvStore:
    """Every KV namespace of the account, by id."""

    namespaces: dict[str, Namespace] = field(default_factory=dict)

    def aliases(self, value: str) -> tuple[str, ...]:
        """A namespace id is also known by its title."""
        namespace = self.namespaces.get(value)
        return (namespace.title,) if namespace else ()

    def close(self) -> None:
        """KV holds nothing open."""

    def create(self, title: str) -> Namespace:
        """Create a namespace; titles are unique within the account."""
        if not title.strip():
            raise CfHttpError(400, CODE_MISSING_TITLE, "missing title")
        if any(n.title == title for n in self.namespaces.values()):
            raise CfHttpError(
                400,
                CODE_NAMESPACE_EXISTS,
                "a namespace with this account ID and title already exists",
            )
        if len(self.namespaces) >= MAX_NAMESPACES:
            raise CfHttpError(400, CODE_TOO_MANY_NAMESPACES, "too many namespaces in this account")
        namespace = Namespace(id=new_id(), title=title)
        self.namespaces[namespace.id] = namespace
        return namespace

    def get(self, namespace_id: str, operation: str) -> Namespace:
        """A namespace by id, or KV's malformed-id / not-found error naming ``operation``."""
        namespace = self.namespaces.get(namespace_id)
        if namespace is not None:
            return namespace
        if not _NAMESPACE_ID.match(namespace_id):
            raise CfHttpError(
                400,
                CODE_BAD_NAMESPACE_ID,
                f"could not parse UUID from request's namespace_id: '{namespace_id}'",
            )
        raise CfHttpError(404, CODE_NAMESPACE_NOT_FOUND, f"{operation}: 'namespace not found'")

    def by_title(self, title: str) -> Namespace | None:
        """Find a namespace by its title."""
        return next((n for n in self.namespaces.values() if n.title == title), None)

    def usage(self, state: SimState, namespace_id: str) -> tuple[int, int]:
        """Stored bytes and key count of a namespace, as GraphQL KV storage reports them.

        A capacity fault on the namespace (by id or title) overrides the real figures.
        """
        now = state.clock()
        namespace = self.get(namespace_id, "usage")
        size, keys = namespace.usage(now)
        capacity = state.faults.capacity("kv", (namespace.id, namespace.title), now)
        if capacity is not None:
            size = capacity.bytes if capacity.bytes is not None else size
            keys = capacity.objects if capacity.objects is not None else keys
        return size, keys
