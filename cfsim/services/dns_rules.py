"""Cloudflare's rules for DNS records: names, contents, TTLs, proxying, conflicts, filters.

Pure functions over plain dicts, no I/O: the DNS service (:mod:`cfsim.services.dns`) calls
them and turns :class:`RecordError` into the API's failure envelope.

Error codes are Cloudflare's, as real API bodies quoted in public issue reports show them
[V]: 9000 invalid name; 9005/9006 A/AAAA content (top-level); 1004 "DNS Validation Error"
wrapping 9007 (CNAME content), 9004 (type not proxiable), 9021 (TTL), 9100 (MX priority)
and 9020 (type); 9009 MX content; 9003 target not allowed when proxied; 81044 unknown
record; 81053/81054 CNAME conflicts; 81057 identical record. Where no real code is known
the simulator answers 1004 "DNS Validation Error: <what is wrong>" [I].
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from cfsim.envelope import CODE_VALIDATION, CfHttpError

# --------------------------------------------------------------------------------------------
# Codes and limits
# --------------------------------------------------------------------------------------------

CODE_DNS_VALIDATION = 1004
CODE_NAME_INVALID = 9000
CODE_PROXY_TARGET = 9003
CODE_NOT_PROXIABLE = 9004
CODE_A_CONTENT = 9005
CODE_AAAA_CONTENT = 9006
CODE_CNAME_CONTENT = 9007
CODE_MX_CONTENT = 9009
CODE_TTL = 9021
CODE_PRIORITY = 9100
CODE_RECORD_NOT_FOUND = 81044
CODE_CNAME_EXISTS_FOR_CNAME = 81053
CODE_CNAME_EXISTS = 81054
CODE_IDENTICAL = 81057

# Record types of the 2024 schema's enum; the simulator models the ones in SUPPORTED_TYPES.
SCHEMA_TYPES = (
    "A",
    "AAAA",
    "CAA",
    "CERT",
    "CNAME",
    "DNSKEY",
    "DS",
    "HTTPS",
    "LOC",
    "MX",
    "NAPTR",
    "NS",
    "PTR",
    "SMIMEA",
    "SRV",
    "SSHFP",
    "SVCB",
    "TLSA",
    "TXT",
    "URI",
)
SUPPORTED_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT")
PROXIABLE_TYPES = ("A", "AAAA", "CNAME")
ADDRESS_TYPES = ("A", "AAAA", "CNAME")
CAA_TAGS = ("issue", "issuewild", "iodef")
ORDER_FIELDS = ("type", "name", "content", "ttl", "proxied")
TTL_AUTO = 1
TTL_MIN = 60  # 30 on Enterprise zones; the simulated zone is on the Free plan
TTL_MAX = 86_400
# Observed limit of one TXT record's content (2026) and of all same-name records together
# (docs: 8,192 characters) [I: limits reported by API users and cloudflare-docs PRs].
TXT_MAX = 4_080
SAME_NAME_MAX = 8_192
NAME_MAX = 253
PER_PAGE_MAX = 5_000_000

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$")
_TAG = re.compile(r"^[A-Za-z0-9_-]+(:.*)?$")


class RecordError(Exception):
    """A DNS record Cloudflare would refuse, with the error it answers.

    ``chained`` errors travel inside ``1004 DNS Validation Error``'s ``error_chain``, as the
    API reports them; the others are top-level errors.
    """

    def __init__(self, code: int, message: str, *, chained: bool = False, status: int = 400):
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.chained = chained
        self.status = status

    def to_http(self, *, pointer: str | None = None, prefix: str = "") -> CfHttpError:
        """Render as the failure envelope (``pointer`` names the failing batch item)."""
        if self.chained:
            err = CfHttpError(self.status, CODE_DNS_VALIDATION, "DNS Validation Error")
            err.errors[0]["error_chain"] = [{"code": self.code, "message": prefix + self.message}]
        else:
            err = CfHttpError(self.status, self.code, prefix + self.message)
        if pointer is not None:
            err.errors[0]["source"] = {"pointer": pointer}
        return err


def _invalid(message: str) -> RecordError:
    """A validation failure with no specific real code known [I]: 1004 and a clear message."""
    return RecordError(CODE_DNS_VALIDATION, f"DNS Validation Error: {message}")


# --------------------------------------------------------------------------------------------
# Names and contents (pure)
# --------------------------------------------------------------------------------------------


def _punycode(name: str) -> str:
    """Cloudflare represents names in Punycode: encode non-ASCII labels."""
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError as err:
        raise RecordError(CODE_NAME_INVALID, "DNS name is invalid.") from err


def _labels_valid(name: str, *, wildcard: bool) -> bool:
    if not name or len(name) > NAME_MAX:
        return False
    labels = name.split(".")
    for index, label in enumerate(labels):
        if label == "*" and wildcard and index == 0:
            continue
        if len(label) > 63 or not _LABEL.match(label):
            return False
    return True


def normalize_name(raw: str, zone: str) -> str:
    """Turn a record name as clients send it into the FQDN Cloudflare stores.

    ``@`` is the apex; a name ending in the zone is absolute; a trailing dot makes any name
    absolute, and an absolute name outside the zone is refused (9000). Any other name is
    relative to the zone, as in the dashboard. Names are lower-cased and Punycode-encoded.
    """
    name = _punycode(raw.strip()).lower()
    zone = zone.lower()
    if name == "@":
        return zone
    if name.endswith("."):
        name = name[:-1]
        if name != zone and not name.endswith("." + zone):
            raise RecordError(CODE_NAME_INVALID, "DNS name is invalid.")
    elif name and name != zone and not name.endswith("." + zone):
        name = f"{name}.{zone}"
    if not _labels_valid(name, wildcard=True):
        raise RecordError(CODE_NAME_INVALID, "DNS name is invalid.")
    return name


def is_ip(value: str) -> bool:
    """Whether ``value`` parses as an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def normalize_hostname(value: str) -> str | None:
    """A hostname target (CNAME, MX, NS, PTR, SRV) as stored, or None when it is not one."""
    host = _punycode(value.strip()).lower().removesuffix(".")
    if not host or is_ip(host) or not _labels_valid(host, wildcard=False):
        return None
    return host


def proxiable(rtype: str, content: str) -> bool:
    """Whether Cloudflare can proxy a record: A/AAAA/CNAME, not to private or local targets."""
    if rtype not in PROXIABLE_TYPES:
        return False
    if rtype == "CNAME":
        return True
    address = ipaddress.ip_address(content)
    # 192.0.2.1 and 100:: are Cloudflare's documented originless targets for Workers, so only
    # RFC 1918 / ULA, loopback, link-local, multicast and unspecified targets are refused.
    local = (
        address.is_loopback or address.is_link_local or address.is_multicast
    ) or address.is_unspecified
    if isinstance(address, ipaddress.IPv4Address):
        rfc1918 = any(
            address in ipaddress.ip_network(net)
            for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
        )
        return not (local or rfc1918)
    return not (local or address in ipaddress.ip_network("fc00::/7"))


def _ttl(value: Any) -> int:
    if value is None:
        return TTL_AUTO
    number = float(value)
    if number.is_integer() and (int(number) == TTL_AUTO or TTL_MIN <= number <= TTL_MAX):
        return int(number)
    raise RecordError(
        CODE_TTL, "TTL must be between 60 and 86400 seconds, or 1 for Automatic.", chained=True
    )


def _priority(value: Any) -> int:
    if value is None:
        raise RecordError(CODE_PRIORITY, "priority is a required field.", chained=True)
    number = float(value)
    if not number.is_integer() or not 0 <= number <= 65_535:
        raise _invalid("priority must be a whole number between 0 and 65535.")
    return int(number)


def caa_data_from_content(content: str) -> dict[str, Any]:
    """Parse CAA presentation form ``0 issue "letsencrypt.org"`` into ``data``."""
    parts = content.strip().split(None, 2)
    if len(parts) != 3 or not parts[0].isdigit():
        raise _invalid("CAA content must be 'flags tag \"value\"'; set 'data' instead.")
    value = parts[2]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return {"flags": int(parts[0]), "tag": parts[1], "value": value}


def srv_data_from_content(content: str) -> dict[str, Any]:
    """Parse SRV presentation form ``priority weight port target`` into ``data``."""
    parts = content.split()
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]):
        raise _invalid("SRV content must be 'priority weight port target'; set 'data' instead.")
    return {
        "priority": int(parts[0]),
        "weight": int(parts[1]),
        "port": int(parts[2]),
        "target": parts[3],
    }


def _whole(value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{what} must be a number between {low} and {high}.")
    if not float(value).is_integer() or not low <= value <= high:
        raise _invalid(f"{what} must be a whole number between {low} and {high}.")
    return int(value)


def _caa(data: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    flags = _whole(data.get("flags", 0), 0, 255, "CAA flags")
    tag = data.get("tag")
    if tag not in CAA_TAGS:
        raise _invalid("CAA tag must be one of issue, issuewild or iodef.")
    value = data.get("value")
    if not isinstance(value, str) or not value or '"' in value:
        raise _invalid("CAA value must be a non-empty string without double quotes.")
    return {"flags": flags, "tag": tag, "value": value}, f'{flags} {tag} "{value}"'


def _srv(name: str, zone: str, data: Mapping[str, Any]) -> tuple[dict[str, Any], str, int]:
    labels = name.split(".")
    if name == zone or len(labels) < 3 or not all(lb.startswith("_") for lb in labels[:2]):
        raise RecordError(
            CODE_NAME_INVALID,
            "DNS name is invalid. SRV names start with _service._proto (e.g. _sip._tcp).",
        )
    priority = _whole(data.get("priority"), 0, 65_535, "SRV priority")
    weight = _whole(data.get("weight"), 0, 65_535, "SRV weight")
    port = _whole(data.get("port"), 0, 65_535, "SRV port")
    raw_target = data.get("target")
    target = normalize_hostname(raw_target) if isinstance(raw_target, str) else None
    if target is None:
        raise _invalid("SRV target must be a valid hostname.")
    clean = {"priority": priority, "weight": weight, "port": port, "target": target}
    return clean, f"{weight} {port} {target}", priority


def _tags(raw: Any) -> list[str]:
    if raw is None:
        return []
    tags = list(raw)
    for tag in tags:
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise _invalid(
                f"tag {tag!r} must be name or name:value, the name of letters, digits, _ or -."
            )
    return tags


def normalize_record(zone: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate what a client asked for and return the record's user-visible fields.

    ``fields`` holds ``type``, ``name``, ``content``, ``ttl``, ``proxied``, ``priority``,
    ``data``, ``comment``, ``tags`` and ``settings`` (absent or None when not given). The
    result has the same keys, canonical: FQDN name, typed TTL, content derived from ``data``
    for CAA/SRV, ``proxiable`` added. Raises :class:`RecordError` as Cloudflare refuses.
    """
    rtype = fields.get("type")
    if rtype not in SCHEMA_TYPES:
        raise RecordError(9020, "Invalid DNS record type", chained=True)
    if rtype not in SUPPORTED_TYPES:
        raise _invalid(f"the simulator does not model {rtype} records")
    raw_name = fields.get("name")
    if not isinstance(raw_name, str):
        raise RecordError(CODE_NAME_INVALID, "DNS name is invalid.")
    name = normalize_name(raw_name, zone)
    ttl = _ttl(fields.get("ttl"))
    raw_content = fields.get("content")
    content = raw_content.strip() if isinstance(raw_content, str) else None
    data = fields.get("data")
    priority: int | None = None
    clean_data: dict[str, Any] | None = None
    if rtype == "A":
        try:
            content = str(ipaddress.IPv4Address(content or ""))
        except ValueError as err:
            raise RecordError(
                CODE_A_CONTENT, "Content for A record must be a valid IPv4 address."
            ) from err
    elif rtype == "AAAA":
        try:
            content = str(ipaddress.IPv6Address(content or ""))
        except ValueError as err:
            raise RecordError(
                CODE_AAAA_CONTENT, "Content for AAAA record must be a valid IPv6 address."
            ) from err
    elif rtype == "CNAME":
        content = normalize_hostname(content or "")
        if content is None:
            raise RecordError(
                CODE_CNAME_CONTENT, "Content for CNAME record is invalid.", chained=True
            )
        if content == name:
            raise _invalid("CNAME content cannot reference itself.")
    elif rtype == "MX":
        priority = _priority(fields.get("priority"))
        content = normalize_hostname(content or "")
        if content is None:
            raise RecordError(
                CODE_MX_CONTENT,
                "Change the content of your MX record to be a hostname (and not an IP address).",
            )
    elif rtype in ("NS", "PTR"):
        content = normalize_hostname(content or "")
        if content is None:
            raise _invalid(f"Content for {rtype} record must be a valid hostname.")
    elif rtype == "TXT":
        if not content:
            raise _invalid("Content for TXT record is required.")
        if len(content) > TXT_MAX:
            raise _invalid(f"Content for TXT record must be at most {TXT_MAX} characters.")
    elif rtype == "CAA":
        if data is None and content:
            data = caa_data_from_content(content)
        if not isinstance(data, Mapping):
            raise _invalid("CAA records need 'data' with flags, tag and value.")
        clean_data, content = _caa(data)
    elif rtype == "SRV":
        if data is None and content:
            data = srv_data_from_content(content)
        if not isinstance(data, Mapping):
            raise _invalid("SRV records need 'data' with priority, weight, port and target.")
        clean_data, content, priority = _srv(name, zone, data)
    assert content is not None
    can_proxy = proxiable(rtype, content)
    proxied = bool(fields.get("proxied"))
    if proxied and rtype not in PROXIABLE_TYPES:
        raise RecordError(CODE_NOT_PROXIABLE, "This record type cannot be proxied.", chained=True)
    if proxied and not can_proxy:
        raise RecordError(
            CODE_PROXY_TARGET, f"Target {content} is not allowed for a proxied record."
        )
    if proxied:
        ttl = TTL_AUTO  # proxied records always answer with Cloudflare's automatic TTL
    comment = fields.get("comment")
    return {
        "type": rtype,
        "name": name,
        "content": content,
        "ttl": ttl,
        "proxied": proxied,
        "proxiable": can_proxy,
        "priority": priority,
        "data": clean_data,
        "comment": comment if comment else None,
        "tags": _tags(fields.get("tags")),
        "settings": dict(fields.get("settings") or {}),
    }


def check_conflicts(
    records: Iterable[Mapping[str, Any]], candidate: Mapping[str, Any], exclude_id: str | None
) -> None:
    """Refuse a record that cannot coexist with the zone's others (CNAME rules, duplicates).

    Cloudflare's rules [V: docs "records with same name", SDK docstrings]: a CNAME cannot
    share its name with an A, AAAA or CNAME (81053); an A/AAAA cannot share it with a CNAME
    (81054); NS cannot share its name with other types; identical records are refused (81057);
    same-name contents are limited to 8,192 characters together.
    """
    rtype, name = candidate["type"], candidate["name"]
    same_name = [r for r in records if r["name"] == name and r.get("id") != exclude_id]
    for other in same_name:
        if (
            other["type"] == rtype
            and other["content"] == candidate["content"]
            and other.get("priority") == candidate.get("priority")
        ):
            raise RecordError(CODE_IDENTICAL, "Record already exists.")
    for other in same_name:
        if rtype == "CNAME" and other["type"] in ADDRESS_TYPES:
            raise RecordError(
                CODE_CNAME_EXISTS_FOR_CNAME,
                "An A, AAAA, or CNAME record with that host already exists.",
            )
        if rtype in ("A", "AAAA") and other["type"] == "CNAME":
            raise RecordError(CODE_CNAME_EXISTS, "A CNAME record with that host already exists.")
        if (rtype == "NS") != (other["type"] == "NS"):
            raise _invalid("NS records cannot exist on the same name as any other record type.")
    total = len(candidate["content"]) + sum(
        len(r["content"]) for r in same_name if r["type"] == rtype
    )
    if total > SAME_NAME_MAX:
        raise _invalid(
            f"the combined content of {rtype} records named {name} must not exceed "
            f"{SAME_NAME_MAX} characters."
        )


# --------------------------------------------------------------------------------------------
# Listing: filters and order (pure)
# --------------------------------------------------------------------------------------------

Predicate = Callable[[Mapping[str, Any]], bool]
_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "exact": lambda value, wanted: value == wanted,
    "contains": lambda value, wanted: wanted in value,
    "startswith": lambda value, wanted: value.startswith(wanted),
    "endswith": lambda value, wanted: value.endswith(wanted),
}


def _string_filter(key: str, op: str, wanted: str) -> Predicate:
    compare = _STRING_OPS[op]
    wanted_cmp = wanted if op == "exact" else wanted.lower()

    def check(record: Mapping[str, Any]) -> bool:
        value = record.get(key) or ""
        return compare(value if op == "exact" else value.lower(), wanted_cmp)

    return check


def _tag_filter(op: str, wanted: str) -> Predicate:
    tag_name, _, tag_value = wanted.partition(":")

    def values(record: Mapping[str, Any]) -> list[str]:
        return [
            t.partition(":")[2] for t in record.get("tags") or [] if t.partition(":")[0] == tag_name
        ]

    if op == "present":
        return lambda r: bool(values(r))
    if op == "absent":
        return lambda r: not values(r)
    compare = _STRING_OPS[op]
    return lambda r: any(compare(v, tag_value) for v in values(r))


def _bool_param(raw: str, name: str) -> bool:
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise RecordError(CODE_VALIDATION, f"Invalid value for '{name}': {raw!r} is not a boolean")


def choice(query: Mapping[str, str], name: str, choices: Sequence[str], default: str) -> str:
    value = query.get(name, default)
    if value not in choices:
        raise RecordError(
            CODE_VALIDATION, f"Invalid value for '{name}': {value!r} (one of {', '.join(choices)})"
        )
    return value


def _mentions(record: Mapping[str, Any], text: str) -> bool:
    fields = [str(record.get(k) or "") for k in ("name", "content", "comment")]
    return any(text in f.lower() for f in [*fields, *(record.get("tags") or [])])


def build_filter(query: Mapping[str, str], zone: str) -> Predicate:
    """Turn list query parameters into one predicate, as Cloudflare combines them.

    ``match`` (all/any) combines the filters; tag filters combine among themselves by
    ``tag_match`` and count as one filter; ``search`` applies on its own, over name,
    content, comment and tags.
    """
    preds: list[Predicate] = []
    tag_preds: list[Predicate] = []
    if "type" in query:
        rtype = choice(query, "type", SCHEMA_TYPES, "A")
        preds.append(lambda r: r["type"] == rtype)
    if "name" in query:
        wanted_name = query["name"].strip().lower().removesuffix(".")
        preds.append(lambda r: r["name"] == wanted_name)
    if "content" in query:
        wanted_content = query["content"]
        preds.append(lambda r: str(r["content"]).lower() == wanted_content.lower())
    if "proxied" in query:
        wanted_proxied = _bool_param(query["proxied"], "proxied")
        preds.append(lambda r: r["proxied"] is wanted_proxied)
    if "comment" in query:
        preds.append(_string_filter("comment", "exact", query["comment"]))
    if "comment.present" in query:
        preds.append(lambda r: bool(r.get("comment")))
    if "comment.absent" in query:
        preds.append(lambda r: not r.get("comment"))
    for key in ("name", "content", "comment"):
        for op in _STRING_OPS:
            param = f"{key}.{op}"
            if param in query:
                wanted = query[param]
                if key == "name" and op == "exact":
                    wanted = wanted.lower().removesuffix(".")
                preds.append(_string_filter(key, op, wanted))
    if "tag" in query:
        tag = query["tag"]
        tag_preds.append(_tag_filter("exact" if ":" in tag else "present", tag))
    for op in ("present", "absent", *_STRING_OPS):
        if f"tag.{op}" in query:
            tag_preds.append(_tag_filter(op, query[f"tag.{op}"]))
    match_any = choice(query, "match", ("all", "any"), "all") == "any"
    tags_any = choice(query, "tag_match", ("all", "any"), "all") == "any"
    if tag_preds:
        preds.append(lambda r: (any if tags_any else all)(p(r) for p in tag_preds))
    search = query.get("search", "").lower()

    def check(record: Mapping[str, Any]) -> bool:
        if search and not _mentions(record, search):
            return False
        if not preds:
            return True
        results = (p(record) for p in preds)
        return any(results) if match_any else all(results)

    return check


def sort_records(
    records: Iterable[dict[str, Any]], order: str = "type", direction: str = "asc"
) -> list[dict[str, Any]]:
    """Order records by ``order`` (then name, type and content for a stable listing)."""

    def key(record: Mapping[str, Any]) -> tuple[Any, ...]:
        primary = record[order]
        return (primary, record["name"], record["type"], str(record["content"]))

    return sorted(records, key=key, reverse=direction == "desc")
