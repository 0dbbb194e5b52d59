"""Contract checks: every API exchange in the test suite against Cloudflare's OpenAPI schema.

The simulator used by the tests carries :func:`recorder_middleware`, which keeps every
request to ``/client/v4`` and the response it got. At the end of each test the fixture
validates them with openapi-core against ``tests/data/openapi-subset.json`` — a copy of the
official schema subset — so both sides are checked at once: what ``cfapi`` (or any client)
sends and what ``cfsim`` answers.

Known flaws of the 2024 schema are fixed here, explicitly and one by one (``FIXUPS``),
never by switching validation off.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, MultiDict
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import (
    OperationNotFound,
    PathNotFound,
    ServerNotFound,
)
from openapi_core.templating.responses.exceptions import ResponseNotFound

SCHEMA_PATH = Path(__file__).parent / "data" / "openapi-subset.json"
API_PREFIX = "/client/v4"
HOST_URL = "https://api.cloudflare.com"


def _fix_dns_request_required(spec: dict[str, Any]) -> str:
    """DNS create/update bodies reuse a response schema whose read-only fields are required.

    The 2024 schema marks ``id``, ``proxiable``, ``created_on``, ``modified_on`` as required in
    the record schemas used as request bodies (Prism rejects valid bodies with 422 for it).
    Read-only fields cannot be required of a client: drop them from every ``required`` list of
    the DNS record schemas.
    """
    read_only = {
        "id",
        "proxiable",
        "created_on",
        "modified_on",
        "meta",
        "zone_id",
        "zone_name",
        "locked",
    }
    changed = 0
    for name, schema in spec["components"]["schemas"].items():
        # ``dns-records_dns-record`` (the oneOf every body uses) repeats the required list.
        if not name.startswith("dns-records_") or not name.lower().endswith("record"):
            continue
        for part in [schema, *schema.get("allOf", [])]:
            req = part.get("required")
            if req and read_only & set(req):
                part["required"] = [r for r in req if r not in read_only]
                changed += 1
    return f"dns record schemas: read-only fields dropped from required in {changed} places"


def _fix_unsatisfiable_failures(spec: dict[str, Any]) -> str:
    """Many 4XX responses are ``allOf [<success envelope>, <failure envelope>]``.

    The success envelope says ``success: enum [true]`` (and often requires a shaped
    ``result``); the failure envelope says ``success: enum [false]`` and ``result: null``. No
    response can satisfy both, so a real Cloudflare error would fail validation. Validate
    4XX bodies against the failure envelope alone — the part that describes an error.
    """
    changed = 0
    for item in spec["paths"].values():
        for op in item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            for code, response in op["responses"].items():
                if not code.startswith("4"):
                    continue
                for media in response.get("content", {}).values():
                    parts = media.get("schema", {}).get("allOf", [])
                    failure = [p for p in parts if p.get("$ref", "").endswith("-failure")]
                    if failure and len(parts) > 1:
                        media["schema"] = failure[0]
                        changed += 1
    return f"4XX responses: success half of allOf [success, failure] dropped in {changed} places"


def _fix_read_only_parameters(spec: dict[str, Any]) -> str:
    """Path parameters (``account_id``, ``namespace_id``, ``database_id``…) reuse readOnly schemas.

    ``readOnly`` says a property is not sent in a request *body*; on a parameter it makes
    openapi-core refuse every request ("Tried to write read-only property"), although the id
    must be in the path. Give each such parameter a copy of its schema without ``readOnly``
    (the shared component keeps it for response bodies).
    """
    schemas = spec["components"]["schemas"]
    changed = 0
    for item in spec["paths"].values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for param in op.get("parameters", []):
                schema = param.get("schema", {})
                target = schema
                while "$ref" in target:
                    target = schemas[target["$ref"].rsplit("/", 1)[-1]]
                if target.get("readOnly"):
                    param["schema"] = {k: v for k, v in target.items() if k != "readOnly"}
                    changed += 1
    return f"parameters: readOnly dropped from {changed} parameter schemas"


def _fix_kv_value_bodies(spec: dict[str, Any]) -> str:
    """KV value writes and reads are raw bytes; DELETEs carry no body.

    The 2024 schema only describes a multipart write whose ``metadata`` part is required, and
    a required empty JSON body on the KV DELETEs. SDK 5.9.0 (``kv.namespaces.values.update``)
    documents the real API: "Send the value as an application/octet-stream request body, or
    use multipart/form-data with a value part and an optional JSON metadata part"; the SDK
    sends no body on DELETE. The read answers raw bytes (``format: binary``).
    """
    base = "/accounts/{account_id}/storage/kv/namespaces/{namespace_id}"
    values = spec["paths"][base + "/values/{key_name}"]
    content = values["put"]["requestBody"]["content"]
    content["multipart/form-data"]["schema"]["required"] = ["value"]
    content["application/octet-stream"] = {"schema": {"type": "string", "format": "binary"}}
    read = values["get"]["responses"]["200"]["content"]["application/octet-stream"]
    read["schema"] = {"type": "string", "format": "binary"}
    for op in (values["delete"], spec["paths"][base]["delete"]):
        op["requestBody"]["required"] = False
    return "kv values: raw-body write, optional metadata part, binary read, body-less DELETEs"


def _fix_d1_nullable_results(spec: dict[str, Any]) -> str:
    """D1 answers ``result: null`` on delete and SQL NULLs as ``null`` in ``/raw`` rows.

    The common D1 envelope types ``result`` as object-or-array while the delete response
    requires ``result`` to be null, so no delete response could validate; and raw rows allow
    only number, string or object cells, so any NULL column (which SQLite returns as null)
    would fail. Allow null in both places.
    """
    schemas = spec["components"]["schemas"]
    # OAS 3.0 ``nullable`` only counts beside ``type``: mark the first typed branch of each anyOf.
    schemas["d1_api-response-common"]["properties"]["result"]["anyOf"][0]["nullable"] = True
    rows = schemas["d1_raw-result-response"]["properties"]["results"]["properties"]["rows"]
    rows["items"]["items"]["anyOf"][0]["nullable"] = True
    return "d1: nullable result in the common envelope and nullable raw-row cells"


def _fix_kv_bulk_get_missing_keys(spec: dict[str, Any]) -> str:
    """``bulk/get`` answers ``null`` for a requested key that does not exist.

    The 2024 schema (and the SDK types generated from it) allow only string, number, boolean
    or object values in ``result.values``, and say nothing about missing keys. Cloudflare
    documents the same bulk read on the Workers binding as returning
    ``Map<string, string | null>``, ``null`` for a key not found (cloudflare-docs PR #21392,
    changelog 2025-04-10 "Read multiple keys from Workers KV with bulk reads"); nothing we
    found says the REST endpoint drops missing keys instead. Allow ``null`` values (see
    docs/sim/storage.md).
    """
    name = "sdk_kv_namespaces_keys_Keys_bulk_get__WorkersKVBulkGetResult"
    values = spec["components"]["schemas"][name]["properties"]["values"]
    # OAS 3.0 ``nullable`` only counts beside ``type``: mark the first typed branch.
    values["additionalProperties"]["anyOf"][0]["nullable"] = True
    return "kv bulk get: null values (missing keys)"


def _fix_dns_patch_partial(spec: dict[str, Any]) -> str:
    """``PATCH /dns_records/{id}`` takes only the fields that change.

    The 2024 schema reuses the whole-record ``oneOf`` (``type``, ``name`` and ``content``
    required) as the PATCH body, which makes PATCH the same as PUT. Cloudflare's API calls
    PATCH "Update DNS Record" against PUT "Overwrite DNS Record", and clients rely on partial
    bodies: dness sends ``{"content": <ip>}`` alone (nickbabcock/dness ``src/cloudflare.rs``,
    PR #201: "PATCH the record to change only the IP address", tested to keep the proxy
    setting); OpenWrt's ddns script dropped ``proxied`` from its PATCH to keep the record's
    own (openwrt/packages#6364); python-cloudflare's maintainer shows PATCH on this endpoint
    (cloudflare/python-cloudflare#81). For this one operation only: every record type's
    schema without its top-level ``required`` lists, as ``anyOf`` (a partial body such as
    ``{"ttl": 300}`` fits several types at once, which ``oneOf`` would refuse).
    """
    schemas = spec["components"]["schemas"]
    branches = []
    for ref in schemas["dns-records_dns-record"]["oneOf"]:
        name = ref["$ref"].rsplit("/", 1)[-1]
        partial = copy.deepcopy(schemas[name])
        for part in [partial, *partial.get("allOf", [])]:
            part.pop("required", None)
        schemas[f"{name}_patch"] = partial
        branches.append({"$ref": f"#/components/schemas/{name}_patch"})
    op = spec["paths"]["/zones/{zone_id}/dns_records/{dns_record_id}"]["patch"]
    op["requestBody"]["content"]["application/json"]["schema"] = {
        "type": "object",
        "anyOf": branches,
    }
    return f"PATCH dns_records/{{id}}: partial bodies ({len(branches)} record types, anyOf)"


def _fix_dns_delete_body(spec: dict[str, Any]) -> str:
    """``DELETE /dns_records/{id}`` declares a *required* JSON body with no schema.

    Cloudflare's SDK (5.9.0 ``records.delete``) and clients in the wild send no body, and the
    API accepts that; a body cannot be required of a DELETE that takes no fields.
    """
    op = spec["paths"]["/zones/{zone_id}/dns_records/{dns_record_id}"]["delete"]
    op["requestBody"]["required"] = False
    return "DELETE dns_records/{id}: request body optional"


def _fix_dns_batch_items(spec: dict[str, Any]) -> str:
    """The derived batch schema types ``patches``/``puts`` items as *response* records.

    Those require ``id``, ``created_on``, ``meta``, ``modified_on``, ``proxiable`` — fields no
    client sends. SDK 5.9.0 (``batch_patch_param.py``, ``batch_put_param.py``) types each item
    as the record's ``*RecordParam`` plus a required ``id``: use that.
    """
    schemas = spec["components"]["schemas"]
    prefix = "sdk_dns_records_Records_batch__"
    props = spec["paths"]["/zones/{zone_id}/dns_records/batch"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["properties"]
    changed = 0
    for op in ("patches", "puts"):
        items = []
        for ref in props[op]["items"]["anyOf"]:
            record = ref["$ref"].rsplit("/", 1)[1].removeprefix(prefix)
            param = (
                "PostDNSRecordsOpenpgpkeyRecord"
                if record == "OpenpgpkeyRecord"
                else record + "Param"
            )
            assert prefix + param in schemas, param
            items.append(
                {
                    "allOf": [
                        {"$ref": f"#/components/schemas/{prefix}{param}"},
                        {
                            "type": "object",
                            "required": ["id"],
                            "properties": {"id": {"type": "string"}},
                        },
                    ]
                }
            )
            changed += 1
        props[op]["items"] = {"anyOf": items}
    return f"dns batch: {changed} patch/put item schemas are record params with an id"


def _fix_dns_nullable_comment(spec: dict[str, Any]) -> str:
    """The API answers ``"comment": null`` for records without a comment.

    Real responses show it (e.g. a 2023 list response quoted in joshuaavalon/docker-cloudflare
    #76) and SDK 5.9.0 types ``comment: Optional[str]``; the 2024 schema says plain string.
    """
    spec["components"]["schemas"]["dns-records_comment"]["nullable"] = True
    return "dns-records_comment: nullable"


def _fix_audit_logs_one_of(spec: dict[str, Any]) -> str:
    """v1 audit logs answer ``oneOf [collection, api-response-common]``.

    Every successful list matches both (neither forbids the other's fields), so ``oneOf``
    rejects all of them, even the schema's own example: the intent is ``anyOf``.
    """
    schema = spec["components"]["schemas"]["aaa_audit_logs_response_collection"]
    schema["anyOf"] = schema.pop("oneOf")
    return "aaa_audit_logs_response_collection: oneOf -> anyOf"


def _fix_memberships_one_of(spec: dict[str, Any]) -> str:
    """``GET /memberships`` answers ``oneOf [with roles, with policies]``.

    The two collections differ only in optional fields (``roles`` / ``policies``), so every
    membership list matches both and ``oneOf`` rejects them all: the intent is ``anyOf``.
    """
    media = spec["paths"]["/memberships"]["get"]["responses"]["200"]["content"]
    schema = media["application/json"]["schema"]
    schema["anyOf"] = schema.pop("oneOf")
    return "GET /memberships 200: oneOf -> anyOf"


def _fix_graphql_error_statuses(spec: dict[str, Any]) -> str:
    """``POST /graphql`` (a manual entry of the subset) describes only HTTP 200.

    Cloudflare's GraphQL docs (``analytics/graphql-api/errors.mdx``) list HTTP 400 for parse
    errors, unknown fields and dataset limits, 401/403 for authentication and authorization
    and 429 when the query budget is spent, each with the same ``{data, errors}`` body. Describe
    4XX answers with the body schema of the 200.
    """
    op = spec["paths"]["/graphql"]["post"]
    op["responses"]["4XX"] = {
        "description": "GraphQL error response",
        "content": copy.deepcopy(op["responses"]["200"]["content"]),
    }
    return "graphql: 4XX answers described with the {data, errors} body"


def _fix_security_all_schemes_anded(spec: dict[str, Any]) -> str:
    """Some operations list ``{api_email, api_key, api_token}`` as ONE security requirement.

    In OpenAPI that demands all three at once, which no client sends: a token alone is how
    the SDK and wrangler call load balancing and R2 event notifications. The intent is the
    alternatives the rest of the schema lists: ``api_token`` or ``api_email`` + ``api_key``.
    """
    changed = 0
    for item in spec["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("security") == [
                {"api_email": [], "api_key": [], "api_token": []}
            ]:
                op["security"] = [{"api_token": []}, {"api_email": [], "api_key": []}]
                changed += 1
    return f"security: token OR email+key instead of all three in {changed} operations"


_WORKERS = "/accounts/{account_id}/workers/scripts/{script_name}"
_PAGES_DEPLOYMENT = (
    "/accounts/{account_id}/pages/projects/{project_name}/deployments/{deployment_id}"
)


def _fix_workers_download_media_types(spec: dict[str, Any]) -> str:
    """Script downloads declare the media types ``undefined`` and ``string``, which no body has.

    ``GET …/scripts/{name}`` answers the raw script (SDK 5.9.0 sends ``Accept:
    application/javascript`` and returns ``str``: "the original script content, not JSON
    encoded"); ``GET …/content/v2`` answers the modules as a form (wrangler's ``init
    --from-dash`` parses it as FormData). Key the 200 schemas by those media types; errors
    are the usual JSON failure envelope (the 4XX entries are keyed ``undefined`` or describe
    the *success* envelope).
    """
    failure = {"$ref": "#/components/schemas/workers_api-response-common-failure"}
    for path, types in (
        (_WORKERS, ("application/javascript", "text/javascript", "multipart/form-data")),
        (_WORKERS + "/content/v2", ("multipart/form-data", "application/javascript")),
    ):
        responses = spec["paths"][path]["get"]["responses"]
        schema = next(iter(responses["200"]["content"].values())).get("schema", {})
        responses["200"]["content"] = {t: {"schema": copy.deepcopy(schema)} for t in types}
        responses["4XX"]["content"] = {"application/json": {"schema": failure}}
    return "workers script downloads: real media types, JSON failure envelope for 4XX"


def _fix_workers_upload_one_of(spec: dict[str, Any]) -> str:
    """The multipart upload is ``oneOf [module upload, {message}]`` with nothing required.

    Every form matches both branches, so ``oneOf`` refuses all uploads; and a multipart
    ``oneOf`` cannot be told apart before its JSON parts are decoded, so openapi-core decodes
    no part at all. The second branch is the legacy rollback body, "only parsed when query
    param rollback_to is present" (its own description): describe the form as one object with
    the module parts, ``metadata`` and the optional ``message``.
    """
    media = spec["components"]["requestBodies"]["workers_script_upload"]["content"]
    form = media["multipart/form-data"]["schema"]
    upload, rollback = form.pop("oneOf")
    form.update(type="object", properties={**upload["properties"], **rollback["properties"]})
    return "workers upload: oneOf of two forms merged into one form"


def _fix_workers_success_only_errors(spec: dict[str, Any]) -> str:
    """Some Workers 4XX responses are the *success* envelope (``success: enum [true]``).

    Both ``settings`` operations describe their errors with ``workers_api-response-common``,
    which no error can match: use the failure envelope.
    """
    changed = 0
    for op in spec["paths"][_WORKERS + "/settings"].values():
        media = op["responses"]["4XX"]["content"]["application/json"]
        if media["schema"] == {"$ref": "#/components/schemas/workers_api-response-common"}:
            media["schema"] = {"$ref": "#/components/schemas/workers_api-response-common-failure"}
            changed += 1
    return f"workers 4XX: failure envelope instead of the success one in {changed} operations"


def _fix_workers_pages_delete_bodies(spec: dict[str, Any]) -> str:
    """Workers and Pages DELETEs declare a *required* JSON body with no schema.

    SDK 5.9.0 sends no body on ``scripts.delete``, ``tail.delete`` and Pages
    ``deployments.delete`` (and wrangler's ``deleteTail`` neither): the body is optional.
    """
    changed = 0
    for path, item in spec["paths"].items():
        op = item.get("delete")
        if ("/workers/" in path or "/pages/" in path) and op and "requestBody" in op:
            op["requestBody"]["required"] = False
            changed += 1
    return f"workers/pages DELETE: request body optional in {changed} operations"


def _fix_workers_tails_list(spec: dict[str, Any]) -> str:
    """``GET …/tails`` ("List Tails") reuses the single-tail response: ``result`` an object.

    The endpoint lists the Worker's tails: Cloudflare's own Rust client (cloudflare-rs
    ``workers::tail::List``) decodes ``JsonResponse<Vec<Tail>>``. Type ``result`` as an array
    of ``{id, url, expires_at}``.
    """
    tail = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "url": {}, "expires_at": {}},
    }
    response = spec["paths"][_WORKERS + "/tails"]["get"]["responses"]["200"]
    response["content"]["application/json"]["schema"] = {
        "allOf": [
            {"$ref": "#/components/schemas/workers_api-response-common"},
            {"properties": {"result": {"type": "array", "items": tail}}},
        ]
    }
    return "workers tails list: result is an array of tails"


def _fix_workers_deployment_delete_envelope(spec: dict[str, Any]) -> str:
    """The derived ``DELETE …/deployments/{id}`` nests a whole envelope inside ``result``.

    SDK 5.9.0 casts that call to ``DeploymentDeleteResponse`` *without* unwrapping
    ``result`` (no ``post_parser``), so ``{errors, messages, success}`` is the body itself,
    not its ``result``. Validate the body as the plain v4 envelope.
    """
    op = spec["paths"][_WORKERS + "/deployments/{deployment_id}"]["delete"]
    op["responses"]["200"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/cfapi_v4_envelope"
    }
    return "workers deployment delete: the body is the envelope"


def _fix_pages_deployment_ids(spec: dict[str, Any]) -> str:
    """Pages ``deployment_id`` path parameters reuse the 32-character ``pages_identifier``.

    Pages deployment ids are UUIDs, 36 characters with hyphens (SDK 5.9.0: "UUID of the Pages
    deployment"; the schema's own example id has hyphens), so every real id would be refused.
    """
    changed = 0
    for path, item in spec["paths"].items():
        if "/pages/" not in path:
            continue
        for op in item.values():
            for param in op.get("parameters", []) if isinstance(op, dict) else []:
                if param.get("name") == "deployment_id":
                    param["schema"] = {"type": "string", "maxLength": 36}
                    changed += 1
    return f"pages deployment_id: UUID-length parameters in {changed} places"


def _fix_workers_binding_kinds(spec: dict[str, Any]) -> str:
    """The 2024 binding ``oneOf`` lacks ``plain_text`` and ``secret_text``; names are readOnly.

    Settings list environment variables and secrets as bindings (SDK 5.9.0
    ``BindingWorkersBindingKindPlainText`` / ``…SecretText``), and a client must send a
    binding's ``name`` and a KV binding's ``namespace_id`` to create it, so they cannot be
    readOnly (openapi-core refuses any request carrying them).
    """
    schemas = spec["components"]["schemas"]
    for kind in ("plain_text", "secret_text"):
        schemas["workers_binding"]["oneOf"].append(
            {
                "type": "object",
                "required": ["name", "type"],
                "properties": {
                    "name": {"type": "string"},
                    "type": {"type": "string", "enum": [kind]},
                    "text": {"type": "string"},
                },
            }
        )
    for name in ("workers_binding_name", "workers_namespace_identifier"):
        schemas[name].pop("readOnly", None)
    return "workers bindings: plain_text and secret_text kinds; name and namespace_id writable"


FIXUPS: tuple[Callable[[dict[str, Any]], str], ...] = (
    _fix_dns_request_required,
    _fix_unsatisfiable_failures,
    _fix_read_only_parameters,
    _fix_kv_value_bodies,
    _fix_d1_nullable_results,
    _fix_kv_bulk_get_missing_keys,
    _fix_dns_patch_partial,
    _fix_dns_delete_body,
    _fix_dns_batch_items,
    _fix_dns_nullable_comment,
    _fix_audit_logs_one_of,
    _fix_memberships_one_of,
    _fix_graphql_error_statuses,
    _fix_security_all_schemes_anded,
    _fix_workers_download_media_types,
    _fix_workers_upload_one_of,
    _fix_workers_success_only_errors,
    _fix_workers_pages_delete_bodies,
    _fix_workers_tails_list,
    _fix_workers_deployment_delete_envelope,
    _fix_pages_deployment_ids,
    _fix_workers_binding_kinds,
)


@cache
def load_spec() -> tuple[OpenAPI, tuple[str, ...]]:
    """Load the schema subset once, apply the fixups and say what each changed."""
    raw = json.loads(SCHEMA_PATH.read_text())
    spec = copy.deepcopy(raw)
    notes = tuple(fix(spec) for fix in FIXUPS)
    return OpenAPI.from_dict(spec), notes


@dataclass
class Exchange:
    """One recorded API request and the simulator's response."""

    method: str
    path: str
    query: MultiDict[str]
    headers: CIMultiDict[str]
    body: bytes
    status: int
    response_headers: CIMultiDict[str]
    response_body: bytes

    def describe(self) -> str:
        """Short form for failure messages."""
        q = ("?" + "&".join(f"{k}={v}" for k, v in self.query.items())) if self.query else ""
        return f"{self.method} {self.path}{q} -> {self.status}"


class _Request:
    """openapi-core's request protocol over a recorded exchange."""

    def __init__(self, ex: Exchange) -> None:
        self._ex = ex
        cookies: dict[str, str] = {}
        self.parameters = RequestParameters(
            query=ex.query, header=ex.headers, cookie=cookies, path={}
        )

    @property
    def host_url(self) -> str:
        return HOST_URL

    @property
    def path(self) -> str:
        return self._ex.path

    @property
    def method(self) -> str:
        return self._ex.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._ex.body or None

    @property
    def content_type(self) -> str:
        return self._ex.headers.get("Content-Type", "").lower()


class _Response:
    """openapi-core's response protocol over a recorded exchange."""

    def __init__(self, ex: Exchange) -> None:
        self._ex = ex

    @property
    def status_code(self) -> int:
        return self._ex.status

    @property
    def content_type(self) -> str:
        return self._ex.response_headers.get("Content-Type", "").lower()

    @property
    def headers(self) -> CIMultiDict[str]:
        return self._ex.response_headers

    @property
    def data(self) -> bytes:
        return self._ex.response_body


@dataclass
class ContractRecorder:
    """Collects exchanges and validates them against the schema."""

    exchanges: list[Exchange] = field(default_factory=list)

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        """An aiohttp middleware that records API exchanges (outermost, to see errors too)."""

        @web.middleware
        async def record(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if not request.path.startswith(API_PREFIX):
                return await handler(request)
            body = await request.read()
            response = await handler(request)
            payload = response.body if isinstance(response, web.Response) else None
            if isinstance(payload, bytes):
                self.exchanges.append(
                    Exchange(
                        method=request.method,
                        # Encoded, as sent: a decoded %2F in a KV key would split the segment.
                        path=request.rel_url.raw_path,
                        query=MultiDict(request.query),
                        headers=CIMultiDict(request.headers),
                        body=body,
                        status=response.status,
                        response_headers=CIMultiDict(response.headers),
                        response_body=payload,
                    )
                )
            return response

        return record

    def violations(self) -> list[str]:
        """Every schema violation among the recorded exchanges, described."""
        return [v for ex in self.exchanges for v in check_exchange(ex)]

    def operations(self) -> Iterator[str]:
        """``METHOD path`` of each recorded exchange (for coverage reports)."""
        for ex in self.exchanges:
            yield f"{ex.method} {ex.path}"


def check_exchange(ex: Exchange) -> list[str]:
    """Validate one exchange; return the violations (empty when it conforms).

    Requests are validated when the simulator accepted them (status < 400): a request the
    simulator rejects is a test of bad input and is meant to break the contract. Responses
    are validated whenever the operation is in the subset and the schema describes the
    status (5xx from fault injection is not described by the schema).
    """
    openapi, _ = load_spec()
    path = ex.path.removeprefix(API_PREFIX) or "/"
    req = _Request(Exchange(**{**ex.__dict__, "path": API_PREFIX + path}))
    problems: list[str] = []
    try:
        if ex.status < 400:
            openapi.validate_request(req)
    except (PathNotFound, OperationNotFound, ServerNotFound) as err:
        return [f"{ex.describe()}: not an operation of the schema subset ({err})"]
    except Exception as err:
        problems.append(f"{ex.describe()}: request violates schema: {_explain(err)}")
    if ex.status >= 500:
        return problems
    try:
        openapi.validate_response(req, _Response(ex))
    except (PathNotFound, OperationNotFound, ServerNotFound):
        if ex.status < 400:
            problems.append(f"{ex.describe()}: not an operation of the schema subset")
    except ResponseNotFound:
        problems.append(f"{ex.describe()}: status {ex.status} not described by the schema")
    except Exception as err:
        problems.append(f"{ex.describe()}: response violates schema: {_explain(err)}")
    return problems


def _explain(err: BaseException) -> str:
    """Name the failing fields, without dumping whole bodies into the report."""
    parts = [type(err).__name__]
    cause: BaseException | None = err
    while cause is not None:
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            for e in schema_errors:
                where = "/".join(str(p) for p in e.absolute_path) or "(root)"
                parts.append(f"  - {str(e.message)[:200]} at {where}")
        elif cause is not err:
            parts.append(f"  caused by {type(cause).__name__}: {str(cause)[:300]}")
        cause = cause.__cause__
    return "\n".join(parts)
