"""DNS records of a zone: list, CRUD, batch, BIND export and import.

The rules (:mod:`cfsim.services.dns_rules`) and the zone-file format
(:mod:`cfsim.services.dns_zonefile`) are pure; this module holds the store, applies changes
to a record table and commits them: one SOA serial bump per request and one audit-log entry
per changed record.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cfsim.context import state_of
from cfsim.envelope import (
    CODE_VALIDATION,
    bad_request,
    not_found,
    ok,
    page_params,
    paginate,
    read_model,
)
from cfsim.ids import iso, new_id
from cfsim.services.dns_rules import (
    CODE_DNS_VALIDATION,
    CODE_IDENTICAL,
    CODE_RECORD_NOT_FOUND,
    ORDER_FIELDS,
    PER_PAGE_MAX,
    PROXIABLE_TYPES,
    RecordError,
    build_filter,
    check_conflicts,
    choice,
    normalize_record,
    sort_records,
)
from cfsim.services.dns_zonefile import ZoneFileError, parse_bind, render_bind

if TYPE_CHECKING:
    from cfsim.state import SimState

# --------------------------------------------------------------------------------------------
# Store
# --------------------------------------------------------------------------------------------


def _user_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a stored record that a PATCH merges into."""
    keys = ("type", "name", "content", "ttl", "proxied", "priority", "data", "comment", "tags")
    fields = {k: record.get(k) for k in keys}
    fields["settings"] = record.get("settings")
    return fields


INITIAL_SERIAL = 2_350_000_000


@dataclass
class DnsStore:
    """Records per zone (insertion ordered) and each zone's SOA serial."""

    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    serials: dict[str, int] = field(default_factory=dict)

    def zone_records(self, zone_id: str) -> dict[str, dict[str, Any]]:
        """The mutable record table of one zone (created empty on first use)."""
        return self.records.setdefault(zone_id, {})

    def serial(self, zone_id: str) -> int:
        """The zone's SOA serial; every change to its records adds one."""
        return self.serials.get(zone_id, INITIAL_SERIAL)

    def bump(self, zone_id: str) -> int:
        """Advance the zone's SOA serial after a change; return the new value."""
        self.serials[zone_id] = self.serial(zone_id) + 1
        return self.serials[zone_id]

    def get(self, zone_id: str, record_id: str) -> dict[str, Any]:
        """A record of the zone, or Cloudflare's 81044 not-found error."""
        record = self.zone_records(zone_id).get(record_id)
        if record is None:
            raise not_found(CODE_RECORD_NOT_FOUND, "Record does not exist.")
        return record

    def aliases(self, value: str) -> tuple[str, ...]:
        """A record id is also known by its name."""
        for table in self.records.values():
            if value in table:
                return (table[value]["name"],)
        return ()

    def close(self) -> None:
        """Nothing is held open."""


def materialize(
    zone: Mapping[str, Any],
    fields: Mapping[str, Any],
    *,
    record_id: str,
    created_on: str,
    now: str,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The full API object of a record from its normalised fields."""
    record: dict[str, Any] = {
        "id": record_id,
        "zone_id": zone["id"],
        "zone_name": zone["name"],
        "name": fields["name"],
        "type": fields["type"],
        "content": fields["content"],
        "proxiable": fields["proxiable"],
        "proxied": fields["proxied"],
        "ttl": fields["ttl"],
        "settings": fields["settings"],
        "locked": False,
        "meta": {"auto_added": False, "source": "primary"},
        "comment": fields["comment"],
        "tags": fields["tags"],
        "created_on": created_on,
        "modified_on": now,
    }
    if fields.get("priority") is not None:
        record["priority"] = fields["priority"]
    if fields.get("data") is not None:
        record["data"] = fields["data"]
    for key, stamp in (("comment", "comment_modified_on"), ("tags", "tags_modified_on")):
        if fields[key]:
            unchanged = previous is not None and previous.get(key) == fields[key]
            record[stamp] = previous.get(stamp, now) if unchanged and previous else now
    return record


# --------------------------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------------------------


class RecordBody(BaseModel):
    """A record as clients send it to POST, PUT, PATCH and batch (extra fields refused)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: str | None = None
    name: str | None = Field(default=None, max_length=255)
    content: str | None = None
    ttl: float | None = None
    proxied: bool | None = None
    priority: float | None = None
    data: dict[str, Any] | None = None
    comment: str | None = None
    tags: list[str] | None = None
    settings: dict[str, Any] | None = None
    private_routing: bool | None = None
    id: str | None = None


class RecordWithId(RecordBody):
    """A batch patch or put: a record body naming the record it changes."""

    id: str


class BatchDelete(BaseModel):
    """A batch delete: the id of the record to remove."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str


class BatchBody(BaseModel):
    """``POST /dns_records/batch``: applied as deletes, patches, puts, posts, all or nothing."""

    model_config = ConfigDict(extra="forbid", strict=True)

    deletes: list[BatchDelete] = Field(default_factory=list)
    patches: list[RecordWithId] = Field(default_factory=list)
    puts: list[RecordWithId] = Field(default_factory=list)
    posts: list[RecordBody] = Field(default_factory=list)


def _given(body: RecordBody) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True, exclude={"id", "private_routing"})


# --------------------------------------------------------------------------------------------
# Changes (apply to a record table; the handlers commit them)
# --------------------------------------------------------------------------------------------

Action = Literal["rec_add", "rec_set", "rec_del"]


@dataclass
class Change:
    """One applied change, for the audit log."""

    action: Action
    record: dict[str, Any]


def _create(
    zone: Mapping[str, Any], table: dict[str, dict[str, Any]], given: Mapping[str, Any]
) -> dict[str, Any]:
    fields = normalize_record(zone["name"], given)
    check_conflicts(table.values(), fields, None)
    now = iso()
    record = materialize(zone, fields, record_id=new_id(), created_on=now, now=now)
    table[record["id"]] = record
    return record


def _update(
    zone: Mapping[str, Any],
    table: dict[str, dict[str, Any]],
    record_id: str,
    given: Mapping[str, Any],
    *,
    partial: bool,
) -> dict[str, Any]:
    existing = table.get(record_id)
    if existing is None:
        raise RecordError(CODE_RECORD_NOT_FOUND, "Record does not exist.", status=404)
    merged = {**_user_fields(existing), **given} if partial else dict(given)
    if partial and given.get("type", existing["type"]) != existing["type"]:
        # A type change drops what only the old type used, unless sent again.
        for key in ("priority", "data", "content"):
            if key not in given:
                merged.pop(key, None)
    fields = normalize_record(zone["name"], merged)
    check_conflicts(table.values(), fields, record_id)
    record = materialize(
        zone,
        fields,
        record_id=record_id,
        created_on=existing["created_on"],
        now=iso(),
        previous=existing,
    )
    table[record_id] = record
    return record


def _delete(table: dict[str, dict[str, Any]], record_id: str) -> dict[str, Any]:
    record = table.pop(record_id, None)
    if record is None:
        raise RecordError(CODE_RECORD_NOT_FOUND, "Record does not exist.", status=404)
    return record


def apply_batch(
    zone: Mapping[str, Any], table: Mapping[str, dict[str, Any]], body: BatchBody
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]], list[Change]]:
    """Apply a batch to a copy of ``table``: deletes, patches, puts, then posts.

    Returns the new table, the per-operation results and the changes; raises
    :class:`CfHttpError` naming the failing item (``source.pointer``) and leaves ``table``
    untouched, so a failed batch changes nothing.
    """
    work = dict(table)
    results: dict[str, list[dict[str, Any]]] = {
        "deletes": [],
        "patches": [],
        "puts": [],
        "posts": [],
    }
    changes: list[Change] = []
    for index, item in enumerate(body.deletes):
        with _pointing_at("deletes", index):
            record = _delete(work, item.id)
        results["deletes"].append(record)
        changes.append(Change("rec_del", record))
    for op, partial in (("patches", True), ("puts", False)):
        for index, change in enumerate(getattr(body, op)):
            with _pointing_at(op, index):
                record = _update(zone, work, change.id, _given(change), partial=partial)
            results[op].append(record)
            changes.append(Change("rec_set", record))
    for index, post in enumerate(body.posts):
        with _pointing_at("posts", index):
            record = _create(zone, work, _given(post))
        results["posts"].append(record)
        changes.append(Change("rec_add", record))
    return work, results, changes


@contextmanager
def _pointing_at(op: str, index: int) -> Iterator[None]:
    """Re-raise a :class:`RecordError` as the 400 envelope, pointing at ``/op/index``."""
    try:
        yield
    except RecordError as err:
        where = f"/{op}/{index}"
        failure = RecordError(err.code, err.message, chained=err.chained)
        raise failure.to_http(pointer=where, prefix=f"{op}[{index}]: ") from err


# --------------------------------------------------------------------------------------------
# Handlers (the imperative shell)
# --------------------------------------------------------------------------------------------


def _zone(request: web.Request) -> tuple[SimState, dict[str, Any]]:
    state = state_of(request)
    return state, state.zones.get(request.match_info["zone_id"])


def _commit(state: SimState, zone: Mapping[str, Any], changes: Sequence[Change]) -> None:
    """Bump the serial once and write one audit entry per changed record."""
    if not changes:
        return
    state.dns.bump(zone["id"])
    for change in changes:
        record = change.record
        state.accounts.audit(state, change.action, "DNS_record", record["id"])
        # The v1 entry carries what DNS audit entries show (zone and record) in ``metadata``.
        state.accounts.audit_log[-1]["metadata"] = {
            "zone_id": zone["id"],
            "zone_name": zone["name"],
            "name": record["name"],
            "type": record["type"],
            "content": record["content"],
        }


async def list_records(request: web.Request) -> web.Response:
    """GET /zones/{zone_id}/dns_records: filters, order and page/per_page (1..5,000,000)."""
    state, zone = _zone(request)
    page, per_page = page_params(
        request, default_per_page=100, min_per_page=1, max_per_page=PER_PAGE_MAX
    )
    query = request.query
    try:
        check = build_filter(query, zone["name"])
        order = choice(query, "order", ORDER_FIELDS, "type")
        direction = choice(query, "direction", ("asc", "desc"), "asc")
    except RecordError as err:
        raise err.to_http() from err
    matching = [r for r in state.dns.zone_records(zone["id"]).values() if check(r)]
    items, info = paginate(sort_records(matching, order, direction), page, per_page)
    return ok(items, result_info=info)


async def create_record(request: web.Request) -> web.Response:
    """POST /zones/{zone_id}/dns_records."""
    state, zone = _zone(request)
    body = await read_model(request, RecordBody, code=CODE_DNS_VALIDATION)
    try:
        record = _create(zone, state.dns.zone_records(zone["id"]), _given(body))
    except RecordError as err:
        raise err.to_http() from err
    _commit(state, zone, [Change("rec_add", record)])
    return ok(record)


async def get_record(request: web.Request) -> web.Response:
    """GET /zones/{zone_id}/dns_records/{dns_record_id}."""
    state, zone = _zone(request)
    return ok(state.dns.get(zone["id"], request.match_info["dns_record_id"]))


async def _update_handler(request: web.Request, *, partial: bool) -> web.Response:
    state, zone = _zone(request)
    record_id = request.match_info["dns_record_id"]
    state.dns.get(zone["id"], record_id)
    body = await read_model(request, RecordBody, code=CODE_DNS_VALIDATION)
    try:
        record = _update(
            zone, state.dns.zone_records(zone["id"]), record_id, _given(body), partial=partial
        )
    except RecordError as err:
        raise err.to_http() from err
    _commit(state, zone, [Change("rec_set", record)])
    return ok(record)


async def put_record(request: web.Request) -> web.Response:
    """PUT /zones/{zone_id}/dns_records/{dns_record_id}: replace every field."""
    return await _update_handler(request, partial=False)


async def patch_record(request: web.Request) -> web.Response:
    """PATCH /zones/{zone_id}/dns_records/{dns_record_id}: change only the fields sent."""
    return await _update_handler(request, partial=True)


async def delete_record(request: web.Request) -> web.Response:
    """DELETE /zones/{zone_id}/dns_records/{dns_record_id}: answers ``{id}``."""
    state, zone = _zone(request)
    record_id = request.match_info["dns_record_id"]
    state.dns.get(zone["id"], record_id)
    record = _delete(state.dns.zone_records(zone["id"]), record_id)
    _commit(state, zone, [Change("rec_del", record)])
    return ok({"id": record_id})


async def batch_records(request: web.Request) -> web.Response:
    """POST /zones/{zone_id}/dns_records/batch: all operations or none."""
    state, zone = _zone(request)
    body = await read_model(request, BatchBody, code=CODE_DNS_VALIDATION)
    table, results, changes = apply_batch(zone, state.dns.zone_records(zone["id"]), body)
    state.dns.records[zone["id"]] = table
    _commit(state, zone, changes)
    return ok(results)


async def export_records(request: web.Request) -> web.Response:
    """GET /zones/{zone_id}/dns_records/export: the zone as a BIND file (text/plain)."""
    state, zone = _zone(request)
    text = render_bind(
        zone["name"],
        zone["name_servers"],
        state.dns.serial(zone["id"]),
        state.dns.zone_records(zone["id"]).values(),
        datetime.now(UTC),
    )
    return web.Response(text=text, content_type="text/plain")


def read_import_form(content_type: str, body: bytes) -> tuple[str, bool]:
    """The zone file and the ``proxied`` flag of a ``multipart/form-data`` import body."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise bad_request(CODE_VALIDATION, "Expected a multipart/form-data body with 'file'")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=email_policy.HTTP).parsebytes(head + body)
    parts: dict[str, bytes] = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = payload
    if "file" not in parts:
        raise bad_request(CODE_VALIDATION, "Missing required form field 'file'")
    try:
        text = parts["file"].decode("utf-8")
    except UnicodeDecodeError as err:
        raise bad_request(CODE_VALIDATION, "The zone file must be UTF-8 text") from err
    proxied = parts.get("proxied", b"false").decode("utf-8", "replace").strip().lower()
    if proxied not in ("true", "false"):
        raise bad_request(CODE_VALIDATION, "'proxied' must be 'true' or 'false'")
    return text, proxied == "true"


async def import_records(request: web.Request) -> web.Response:
    """POST /zones/{zone_id}/dns_records/import: add a BIND file's records.

    All or nothing: an unreadable line or an invalid record refuses the file. Records
    identical to existing ones and the apex NS records (Cloudflare's own) are skipped, so
    ``recs_added`` can be lower than ``total_records_parsed``.
    """
    state, zone = _zone(request)
    started = iso()
    text, proxy_default = read_import_form(
        request.headers.get("Content-Type", ""), await request.read()
    )
    try:
        parsed = parse_bind(text, zone["name"])
    except ZoneFileError as err:
        raise bad_request(CODE_DNS_VALIDATION, f"DNS Validation Error: {err}") from err
    table = dict(state.dns.zone_records(zone["id"]))
    changes: list[Change] = []
    for item in parsed:
        given = dict(item.fields)
        if given["type"] == "NS" and given["name"].removesuffix(".") == zone["name"]:
            continue
        if given["proxied"] is None:
            given["proxied"] = proxy_default and given["type"] in PROXIABLE_TYPES
        try:
            fields = normalize_record(zone["name"], given)
            check_conflicts(table.values(), fields, None)
        except RecordError as err:
            if err.code == CODE_IDENTICAL:
                continue
            raise err.to_http(prefix=f"line {item.line}: ") from err
        now = iso()
        record = materialize(zone, fields, record_id=new_id(), created_on=now, now=now)
        table[record["id"]] = record
        changes.append(Change("rec_add", record))
    state.dns.records[zone["id"]] = table
    _commit(state, zone, changes)
    # Cloudflare adds the parse timing next to the result [V: 2024 schema import_scan].
    return web.json_response(
        {
            "success": True,
            "errors": [],
            "messages": [],
            "result": {"recs_added": len(changes), "total_records_parsed": len(parsed)},
            "timing": {"start_time": started, "end_time": iso(), "process_time": 0},
        }
    )


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the DNS record endpoints (fixed paths before ``{dns_record_id}``)."""
    base = f"{prefix}/zones/{{zone_id}}/dns_records"
    app.router.add_get(base, list_records)
    app.router.add_post(base, create_record)
    app.router.add_post(f"{base}/batch", batch_records)
    app.router.add_get(f"{base}/export", export_records)
    app.router.add_post(f"{base}/import", import_records)
    app.router.add_get(f"{base}/{{dns_record_id}}", get_record)
    app.router.add_put(f"{base}/{{dns_record_id}}", put_record)
    app.router.add_patch(f"{base}/{{dns_record_id}}", patch_record)
    app.router.add_delete(f"{base}/{{dns_record_id}}", delete_record)


# The SpaceVision zone: web on Pages (flattened apex CNAME), the API on a Worker route, images
# behind the proxy, Google mail, SPF/DMARC, CAA for Let's Encrypt and one DNS-only host.
# Cloudflare serves the NS records itself, so the zone holds none.
SEED_RECORDS: tuple[dict[str, Any], ...] = (
    {"type": "CNAME", "name": "@", "content": "spacevision-web.pages.dev", "proxied": True},
    {"type": "CNAME", "name": "www", "content": "spacevision-web.pages.dev", "proxied": True},
    {
        "type": "AAAA",
        "name": "api",
        "content": "100::",
        "proxied": True,
        "comment": "Worker route api.spacevision.app/* (originless)",
    },
    {
        "type": "A",
        "name": "images",
        "content": "198.51.100.20",
        "proxied": True,
        "comment": "image origin behind the cache",
        "tags": ["owner:media"],
    },
    {
        "type": "A",
        "name": "status",
        "content": "203.0.113.10",
        "proxied": False,
        "ttl": 300,
        "comment": "status page, DNS only",
    },
    {"type": "MX", "name": "@", "content": "aspmx.l.google.com", "priority": 1, "ttl": 3600},
    {"type": "MX", "name": "@", "content": "alt1.aspmx.l.google.com", "priority": 5, "ttl": 3600},
    {"type": "TXT", "name": "@", "content": "v=spf1 include:_spf.google.com ~all", "ttl": 3600},
    {
        "type": "TXT",
        "name": "_dmarc",
        "content": "v=DMARC1; p=quarantine; rua=mailto:dmarc@spacevision.app",
        "ttl": 3600,
    },
    {"type": "CAA", "name": "@", "data": {"flags": 0, "tag": "issue", "value": "letsencrypt.org"}},
)


def seed(state: SimState) -> None:
    """Populate ``spacevision.app`` (created by the zones seed) with its records."""
    zone = state.zones.by_name("spacevision.app")
    if zone is None:
        return
    table = state.dns.zone_records(zone["id"])
    for given in SEED_RECORDS:
        _create(zone, table, given)
