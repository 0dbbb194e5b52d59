"""Workers KV: namespaces, keys, values (raw bytes), metadata and the bulk endpoints.

The data model and KV's limits live in :mod:`cfsim.services.kv_data`; this module is the
HTTP surface. Every operation on a namespace is recorded as an analytics sample (kind
``kv``, subject the namespace id, action ``read``/``write``/``delete``/``list``) so the
GraphQL KV datasets have data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from email import policy
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from cfsim.analytics import Sample
from cfsim.envelope import (
    CfHttpError,
    ok,
    page_params,
    paginate,
    query_int,
    read_json,
    read_model,
    validate,
)
from cfsim.services.accounts import require_account
from cfsim.services.kv_data import (
    CODE_INVALID_DIRECTION,
    CODE_INVALID_EXPIRATION,
    CODE_INVALID_EXPIRATION_TTL,
    CODE_INVALID_LIMIT,
    CODE_INVALID_ORDER,
    CODE_INVALID_REQUEST,
    CODE_KEY_NOT_FOUND,
    CODE_PAYLOAD_TOO_LARGE,
    LIST_LIMIT_MAX,
    LIST_LIMIT_MIN,
    MAX_BULK_DELETE,
    MAX_BULK_GET,
    MAX_BULK_WRITE,
    Entry,
    KvStore,
    Namespace,
    bulk_value,
    check_key,
    check_metadata,
    check_value_size,
    decode_bulk_value,
    parse_metadata,
    parse_number,
    resolve_expiration,
)

if TYPE_CHECKING:
    from cfsim.state import SimState

__all__ = ["KvStore", "add_routes", "seed"]

KvHandler = Callable[[web.Request, "SimState", Namespace], Awaitable[web.Response]]
Handler = Callable[[web.Request], Awaitable[web.Response]]


class CreateNamespaceBody(BaseModel):
    """Body of ``POST …/namespaces``."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=512)


class BulkPair(BaseModel):
    """One item of a bulk write."""

    model_config = ConfigDict(extra="forbid")

    key: str
    value: str
    base64: bool = False
    expiration: float | None = None
    expiration_ttl: float | None = None
    metadata: Any = None


class BulkWriteBody(RootModel[list[BulkPair]]):
    """Body of ``PUT …/bulk``: an array of key/value pairs."""


class BulkDeleteBody(RootModel[list[str]]):
    """Body of ``POST …/bulk/delete``: an array of key names."""


class BulkGetBody(BaseModel):
    """Body of ``POST …/bulk/get``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    keys: list[str]
    type: Literal["text", "json"] = "text"
    with_metadata: bool = Field(default=False, alias="withMetadata")


def _operation(action: str, operation: str) -> Callable[[KvHandler], Handler]:
    """Resolve the namespace, run the handler and record one analytics sample."""

    def wrap(handler: KvHandler) -> Handler:
        async def serve(request: web.Request) -> web.Response:
            state = require_account(request)
            namespace = state.kv.get(request.match_info["namespace_id"], operation)
            started = time.perf_counter()
            status = 500
            size = 0
            try:
                response = await handler(request, state, namespace)
                status = response.status
                body = response.body
                size = len(body) if action == "read" and isinstance(body, bytes) else 0
                return response
            except CfHttpError as err:
                status = err.status
                raise
            finally:
                state.analytics.record(
                    Sample(
                        ts=state.clock(),
                        kind="kv",
                        subject=namespace.id,
                        action=action,
                        status="success" if status < 400 else "error",
                        http_status=status,
                        duration_ms=(time.perf_counter() - started) * 1000,
                        bytes=size or (request.content_length or 0),
                    )
                )

        serve.__doc__ = handler.__doc__
        return serve

    return wrap


async def list_namespaces(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/storage/kv/namespaces (page/per_page, order, direction)."""
    state = require_account(request)
    page, per_page = page_params(request, default_per_page=20, min_per_page=5, max_per_page=100)
    order = request.query.get("order")
    direction = request.query.get("direction", "asc")
    if order is not None and order not in {"id", "title"}:
        raise CfHttpError(400, CODE_INVALID_ORDER, f"invalid order {order!r}: use id or title")
    if direction not in {"asc", "desc"}:
        raise CfHttpError(
            400, CODE_INVALID_DIRECTION, f"invalid direction {direction!r}: use asc or desc"
        )
    items = [n.as_dict() for n in state.kv.namespaces.values()]
    if order is not None:
        items.sort(key=lambda n: str(n[order]), reverse=direction == "desc")
    chunk, info = paginate(items, page, per_page)
    return ok(chunk, result_info=info)


async def create_namespace(request: web.Request) -> web.Response:
    """POST /accounts/{account_id}/storage/kv/namespaces {title}."""
    state = require_account(request)
    body = await read_model(request, CreateNamespaceBody, code=CODE_INVALID_REQUEST)
    namespace = state.kv.create(body.title)
    state.accounts.audit(state, "create", "kv_namespace", namespace.id)
    return ok(namespace.as_dict())


async def get_namespace(request: web.Request) -> web.Response:
    """GET …/namespaces/{namespace_id}."""
    state = require_account(request)
    return ok(state.kv.get(request.match_info["namespace_id"], "get namespace").as_dict())


async def delete_namespace(request: web.Request) -> web.Response:
    """DELETE …/namespaces/{namespace_id}."""
    state = require_account(request)
    namespace = state.kv.get(request.match_info["namespace_id"], "delete namespace")
    del state.kv.namespaces[namespace.id]
    state.accounts.audit(state, "delete", "kv_namespace", namespace.id)
    return ok(None)


@_operation("list", "list keys")
async def list_keys(request: web.Request, state: SimState, namespace: Namespace) -> web.Response:
    """GET …/keys?prefix=&limit=&cursor= (CursorLimitPagination, limit 10..1000)."""
    limit = query_int(
        request,
        "limit",
        LIST_LIMIT_MAX,
        minimum=LIST_LIMIT_MIN,
        maximum=LIST_LIMIT_MAX,
        code=CODE_INVALID_LIMIT,
    )
    keys, cursor = namespace.list_keys(
        state.clock(),
        prefix=request.query.get("prefix", ""),
        limit=limit,
        cursor=request.query.get("cursor", ""),
    )
    return ok(keys, result_info={"count": len(keys), "cursor": cursor})


@_operation("read", "get")
async def get_value(request: web.Request, state: SimState, namespace: Namespace) -> web.Response:
    """GET …/values/{key_name}: the raw bytes, not the envelope."""
    key = request.match_info["key_name"]
    check_key(key)
    entry = namespace.get(key, state.clock())
    if entry is None:
        raise CfHttpError(404, CODE_KEY_NOT_FOUND, "get: 'key not found'")
    headers = {} if entry.expiration is None else {"Expiration": str(entry.expiration)}
    return web.Response(body=entry.value, content_type="application/octet-stream", headers=headers)


@_operation("read", "metadata")
async def get_metadata(request: web.Request, state: SimState, namespace: Namespace) -> web.Response:
    """GET …/metadata/{key_name}: the key's metadata (null when it has none)."""
    key = request.match_info["key_name"]
    check_key(key)
    entry = namespace.get(key, state.clock())
    if entry is None:
        raise CfHttpError(404, CODE_KEY_NOT_FOUND, "metadata: 'key not found'")
    return ok(entry.metadata if entry.has_metadata else None)


async def _read_body(request: web.Request) -> bytes:
    """The whole request body; bodies past the server's cap still get KV's 413."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as err:
        check_value_size(request.content_length or 0)
        raise CfHttpError(413, CODE_PAYLOAD_TOO_LARGE, "Request body too large") from err


async def _read_multipart(request: web.Request) -> tuple[bytes, bool, Any]:
    """The ``value`` and optional ``metadata`` parts of a multipart write.

    Parsed from the buffered body (not streamed) so that a middleware which has already read
    the body — the contract recorder does — leaves it parseable.
    """
    raw = await _read_body(request)
    header = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(header + raw)
    if not message.is_multipart():
        raise CfHttpError(400, CODE_INVALID_REQUEST, "malformed multipart body")
    value: bytes | None = None
    has_metadata = False
    metadata: Any = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "value":
            check_value_size(len(data))
            value = data
        elif name == "metadata":
            metadata = parse_metadata(data)
            has_metadata = True
        else:
            raise CfHttpError(400, CODE_INVALID_REQUEST, f"unexpected multipart field {name!r}")
    if value is None:
        raise CfHttpError(400, CODE_INVALID_REQUEST, "multipart body has no 'value' part")
    return value, has_metadata, metadata


@_operation("write", "put")
async def put_value(request: web.Request, state: SimState, namespace: Namespace) -> web.Response:
    """PUT …/values/{key_name}[?expiration=|?expiration_ttl=]: raw body or multipart."""
    key = request.match_info["key_name"]
    check_key(key)
    now = state.clock()
    expiration = resolve_expiration(
        parse_number(request.query.get("expiration"), "expiration", CODE_INVALID_EXPIRATION),
        parse_number(
            request.query.get("expiration_ttl"), "expiration_ttl", CODE_INVALID_EXPIRATION_TTL
        ),
        now,
    )
    if request.content_type == "multipart/form-data":
        value, has_metadata, metadata = await _read_multipart(request)
    else:
        value = await _read_body(request)
        check_value_size(len(value))
        has_metadata, metadata = False, None
    namespace.entries[key] = Entry(value, expiration, metadata, has_metadata)
    return ok(None)


@_operation("delete", "delete")
async def delete_value(request: web.Request, state: SimState, namespace: Namespace) -> web.Response:
    """DELETE …/values/{key_name} (deleting a missing key succeeds, as in KV)."""
    key = request.match_info["key_name"]
    check_key(key)
    namespace.entries.pop(key, None)
    return ok(None)


def _bulk_outcome(count: int) -> dict[str, Any]:
    return {"successful_key_count": count, "unsuccessful_keys": []}


@_operation("write", "bulk write")
async def bulk_write(request: web.Request, state: SimState, namespace: Namespace) -> web.Response:
    """PUT …/bulk: up to 10,000 pairs, all validated before any is written."""
    pairs = validate(BulkWriteBody, await read_json(request), code=CODE_INVALID_REQUEST).root
    if len(pairs) > MAX_BULK_WRITE:
        raise CfHttpError(
            413,
            CODE_INVALID_REQUEST,
            f"bulk write accepts at most {MAX_BULK_WRITE} pairs, got {len(pairs)}",
        )
    now = state.clock()
    staged: list[tuple[str, Entry]] = []
    for pair in pairs:
        check_key(pair.key)
        value = decode_bulk_value(pair.value, pair.base64)
        check_value_size(len(value))
        has_metadata = "metadata" in pair.model_fields_set
        if has_metadata:
            check_metadata(pair.metadata)
        expiration = resolve_expiration(pair.expiration, pair.expiration_ttl, now)
        staged.append((pair.key, Entry(value, expiration, pair.metadata, has_metadata)))
    namespace.entries.update(staged)
    return ok(_bulk_outcome(len(staged)))


@_operation("delete", "bulk delete")
async def bulk_delete(request: web.Request, state: SimState, namespace: Namespace) -> web.Response:
    """POST …/bulk/delete: up to 10,000 key names."""
    keys = validate(BulkDeleteBody, await read_json(request), code=CODE_INVALID_REQUEST).root
    if len(keys) > MAX_BULK_DELETE:
        raise CfHttpError(
            413,
            CODE_INVALID_REQUEST,
            f"bulk delete accepts at most {MAX_BULK_DELETE} keys, got {len(keys)}",
        )
    for key in keys:
        check_key(key)
    for key in keys:
        namespace.entries.pop(key, None)
    return ok(_bulk_outcome(len(keys)))


@_operation("read", "bulk get")
async def bulk_get(request: web.Request, state: SimState, namespace: Namespace) -> web.Response:
    """POST …/bulk/get {keys (≤ 100), type text|json, withMetadata}."""
    body = validate(BulkGetBody, await read_json(request), code=CODE_INVALID_REQUEST)
    if not body.keys or len(body.keys) > MAX_BULK_GET:
        raise CfHttpError(
            400,
            CODE_INVALID_REQUEST,
            f"bulk get needs between 1 and {MAX_BULK_GET} keys, got {len(body.keys)}",
        )
    now = state.clock()
    values: dict[str, Any] = {}
    for key in body.keys:
        check_key(key)
        entry = namespace.get(key, now)
        value = bulk_value(entry, body.type == "json")
        if body.with_metadata:
            values[key] = {
                "value": value,
                "metadata": entry.metadata if entry is not None and entry.has_metadata else None,
                "expiration": entry.expiration if entry is not None else None,
            }
        else:
            values[key] = value
    return ok({"values": values})


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the KV endpoints under ``prefix``."""
    base = f"{prefix}/accounts/{{account_id}}/storage/kv/namespaces"
    ns = f"{base}/{{namespace_id}}"
    r = app.router
    r.add_get(base, list_namespaces)
    r.add_post(base, create_namespace)
    r.add_get(ns, get_namespace)
    r.add_delete(ns, delete_namespace)
    r.add_get(f"{ns}/keys", list_keys)
    r.add_get(f"{ns}/values/{{key_name:.+}}", get_value)
    r.add_put(f"{ns}/values/{{key_name:.+}}", put_value)
    r.add_delete(f"{ns}/values/{{key_name:.+}}", delete_value)
    r.add_get(f"{ns}/metadata/{{key_name:.+}}", get_metadata)
    r.add_put(f"{ns}/bulk", bulk_write)
    r.add_post(f"{ns}/bulk/get", bulk_get)
    r.add_post(f"{ns}/bulk/delete", bulk_delete)


def _put(namespace: Namespace, key: str, value: Any, **extra: Any) -> None:
    raw = value if isinstance(value, str) else json.dumps(value)
    has_metadata = "metadata" in extra
    namespace.entries[key] = Entry(
        raw.encode(), extra.get("expiration"), extra.get("metadata"), has_metadata
    )


def seed(state: SimState) -> None:
    """SESSIONS (expiring sessions), CONFIG (feature flags with metadata) and CACHE."""
    now = int(state.clock())
    sessions = state.kv.create("SESSIONS")
    for i, user in enumerate(("ada", "grace", "margaret", "katherine")):
        _put(
            sessions,
            f"session:{user}-{1000 + i}",
            {"user": f"{user}@spacevision.app", "issued_at": now - 600 * i},
            expiration=now + 86_400,
        )
    config = state.kv.create("CONFIG")
    flags = {
        "dark-mode": (True, {"owner": "web", "rollout": 100}),
        "ai-captions": (False, {"owner": "ml", "rollout": 0}),
        "new-upload-flow": (True, {"owner": "web", "rollout": 25}),
        "offline-sync": (True, {"owner": "pwa", "rollout": 50}),
    }
    for name, (enabled, metadata) in flags.items():
        _put(config, f"flag:{name}", "true" if enabled else "false", metadata=metadata)
    _put(config, "app:min-version", "2.4.0")
    _put(config, "app:maintenance", "false", metadata={"updated_by": "ops"})
    cache = state.kv.create("CACHE")
    for day in ("2024-06-01", "2024-06-02", "2024-06-03"):
        _put(
            cache,
            f"apod:{day}",
            {"date": day, "title": f"Astronomy picture {day}", "media_type": "image"},
            expiration=now + 3600,
        )
