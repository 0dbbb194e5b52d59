"""Workers: scripts, versions, deployments, settings, subdomains and tails.

Endpoints under ``/accounts/{account_id}/workers`` (cloudflare-api.md §1, §7, §8). The rules
live in :mod:`cfsim.services.worker_models`, upload decoding in
:mod:`cfsim.services.worker_upload`, tail sessions in :mod:`cfsim.services.tail`.

Error codes ([V] verified, [I] inferred):

- 10007 ``workers.api.error.script_not_found`` for an unknown script [V: wrangler users'
  logs]; the same code for unknown versions, deployments and tails [I].
- 10220 secrets changed since the target version, retry with ``?force=true`` [V: wrangler].
- 10021 for an upload Cloudflare refuses (bad metadata, missing module) [I: the code wrangler
  shows for script validation errors]; 10016 for an invalid script name [I]; 10208 for an
  invalid deployment (split, unknown version) or paging parameter [I]; 10209 when deleting
  the latest deployment [I]; 10054 for an invalid or missing workers.dev subdomain [I].
"""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cfsim.envelope import CfHttpError, ok, query_int, read_json, read_model, validate
from cfsim.ids import new_id, new_uuid
from cfsim.services import accounts
from cfsim.services.tail import Scope, TailCreateBody
from cfsim.services.worker_models import (
    Deployment,
    DeploymentRejected,
    Module,
    Script,
    Version,
    changed_secrets,
    check_split,
    merge_bindings,
    secret_change_message,
    secrets_of,
    triggered_by,
)
from cfsim.services.worker_upload import (
    SettingsPatch,
    Upload,
    UploadError,
    UploadMetadata,
    decode_json_part,
    decode_upload,
    encode_multipart,
    find_part,
    module_parts,
    parse_multipart,
)

if TYPE_CHECKING:
    from cfsim.state import SimState

CODE_NOT_FOUND = 10007
CODE_SECRETS_CHANGED = 10220
CODE_BAD_UPLOAD = 10021
CODE_BAD_NAME = 10016
CODE_BAD_DEPLOYMENT = 10208
CODE_DELETE_ACTIVE = 10209
CODE_SUBDOMAIN = 10054

SCRIPT_NAME = re.compile(r"^[a-z0-9_][a-z0-9-_]{0,62}$")
SUBDOMAIN_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Route:
    """A zone route sending matching requests to a Worker (``api.example.com/*``)."""

    id: str
    pattern: str
    script: str

    def matches_host(self, host: str) -> bool:
        """Whether ``host`` matches the pattern's host part (``*`` is a wildcard)."""
        host_part = self.pattern.split("/", 1)[0].lower()
        regex = "^" + ".*".join(re.escape(p) for p in host_part.split("*")) + "$"
        return re.match(regex, host) is not None


@dataclass
class WorkersStore:
    """The account's Workers, their routes and the workers.dev subdomain."""

    scripts: dict[str, Script] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    subdomain: str | None = None
    rand: Callable[[], float] = random.random

    def get(self, name: str) -> Script:
        """A script by name, or Cloudflare's 404."""
        script = self.scripts.get(name)
        if script is None:
            raise CfHttpError(404, CODE_NOT_FOUND, "workers.api.error.script_not_found")
        return script

    def route_for_host(self, host: str) -> Route | None:
        """The first route whose pattern matches ``host``."""
        return next((r for r in self.routes if r.matches_host(host)), None)

    def aliases(self, value: str) -> tuple[str, ...]:
        """Script names are their ids: no other names."""
        return ()

    def close(self) -> None:
        """Nothing to release."""


# --- request bodies -----------------------------------------------------------------------


class DeploymentVersion(BaseModel):
    """One version of a percentage deployment."""

    model_config = ConfigDict(extra="forbid")

    version_id: str = Field(min_length=1, max_length=36)
    percentage: float = Field(ge=0.01, le=100)


class DeploymentAnnotations(BaseModel):
    """Annotations a client may put on a deployment."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    message: str | None = Field(default=None, alias="workers/message", max_length=50)


class DeploymentCreate(BaseModel):
    """Body of ``POST …/deployments``."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["percentage"]
    versions: list[DeploymentVersion]
    annotations: DeploymentAnnotations | None = None


class ScriptSubdomainBody(BaseModel):
    """Body of ``POST …/scripts/{name}/subdomain``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool
    previews_enabled: bool | None = None


class AccountSubdomainBody(BaseModel):
    """Body of ``PUT …/workers/subdomain``."""

    model_config = ConfigDict(extra="forbid")

    subdomain: str = Field(min_length=1, max_length=63)


# --- helpers ------------------------------------------------------------------------------


def _script(request: web.Request) -> tuple[SimState, Script]:
    state = accounts.require_account(request)
    return state, state.workers.get(request.match_info["script_name"])


def _source(request: web.Request) -> str:
    """Where a change came from, as version and deployment metadata record it."""
    agent = request.headers.get("User-Agent", "").lower()
    return "wrangler" if "wrangler" in agent else "api"


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").lower()
    if value not in {"true", "false", "1", "0", ""}:
        raise CfHttpError(400, CODE_BAD_DEPLOYMENT, f"Invalid value for '{name}': {value!r}")
    return value in {"true", "1"}


def _upload_error(err: UploadError | DeploymentRejected) -> CfHttpError:
    return CfHttpError(400, CODE_BAD_UPLOAD, str(err))


def new_version(
    state: SimState,
    script: Script | None,
    *,
    modules: tuple[Module, ...],
    main_module: str,
    service_worker: bool,
    metadata: UploadMetadata,
    source: str,
    annotations: Mapping[str, str],
    now: float,
) -> Version:
    """Build the next version of ``script`` from decoded upload metadata."""
    previous = script.latest_version() if script and script.versions else None
    try:
        bindings = merge_bindings(
            [b.model_dump() for b in metadata.bindings], previous, metadata.keep_bindings
        )
    except DeploymentRejected as err:
        raise _upload_error(err) from err
    return Version(
        id=new_uuid(),
        number=(previous.number + 1) if previous else 1,
        created_ts=now,
        modules=modules,
        main_module=main_module,
        bindings=bindings,
        secrets=secrets_of(bindings),
        compatibility_date=metadata.compatibility_date,
        compatibility_flags=list(metadata.compatibility_flags),
        limits=metadata.limits.model_dump(exclude_none=True) if metadata.limits else {},
        placement_mode=metadata.placement.mode if metadata.placement else None,
        service_worker=service_worker,
        source=source,
        author_email=state.accounts.user_email,
        author_id=state.accounts.user_id,
        annotations=dict(annotations),
    )


def deploy(
    state: SimState,
    script: Script,
    versions: list[tuple[str, float]],
    *,
    source: str,
    annotations: Mapping[str, str],
    now: float,
) -> Deployment:
    """Make ``versions`` serve ``script``'s traffic (a new latest deployment)."""
    deployment = Deployment(
        id=new_uuid(),
        created_ts=now,
        versions=versions,
        source=source,
        author_email=state.accounts.user_email,
        annotations=dict(annotations),
    )
    script.deployments.append(deployment)
    script.last_deployed_from = source
    script.modified_ts = now
    return deployment


def _apply_script_settings(script: Script, meta: UploadMetadata | SettingsPatch) -> None:
    if meta.logpush is not None:
        script.logpush = meta.logpush
    if meta.tags is not None:
        script.tags = list(meta.tags)
    if meta.tail_consumers is not None:
        script.tail_consumers = [c.model_dump(exclude_none=True) for c in meta.tail_consumers]


# --- scripts ------------------------------------------------------------------------------


async def list_scripts(request: web.Request) -> web.Response:
    """GET /accounts/{a}/workers/scripts (a single page, no result_info)."""
    state = accounts.require_account(request)
    return ok([s.as_dict() for _, s in sorted(state.workers.scripts.items())])


async def download_script(request: web.Request) -> web.Response:
    """GET …/scripts/{name}: the raw entry module of the serving version, not an envelope."""
    _, script = _script(request)
    return web.Response(
        body=script.serving_version().main.content, content_type="application/javascript"
    )


async def upload_script(request: web.Request) -> web.Response:
    """PUT …/scripts/{name}: upload (new version + 100 % deployment) or legacy rollback."""
    state = accounts.require_account(request)
    name = request.match_info["script_name"]
    now = state.clock()
    if "rollback_to" in request.query:
        return await _legacy_rollback(request, state, name, now)
    if not SCRIPT_NAME.match(name):
        raise CfHttpError(
            400,
            CODE_BAD_NAME,
            "Invalid Worker name: use lowercase letters, digits, '-' and '_' (at most 63).",
        )
    try:
        upload = decode_upload(request.headers.get("Content-Type", ""), await request.read())
    except UploadError as err:
        raise _upload_error(err) from err
    script = state.workers.scripts.get(name)
    source = _source(request)
    version = _version_from_upload(
        state, script, upload, source, {"workers/triggered_by": "upload"}, now
    )
    if script is None:
        script = Script(name=name, tag=new_id(), created_ts=now, modified_ts=now)
        state.workers.scripts[name] = script
    script.versions.append(version)
    _apply_script_settings(script, upload.metadata)
    deploy(
        state,
        script,
        [(version.id, 100.0)],
        source=source,
        annotations={"workers/triggered_by": "upload"},
        now=now,
    )
    return ok({**script.as_dict(), "startup_time_ms": _startup_ms(version)})


def _version_from_upload(
    state: SimState,
    script: Script | None,
    upload: Upload,
    source: str,
    annotations: dict[str, str],
    now: float,
) -> Version:
    if upload.metadata.annotations is not None:
        annotations = {**annotations, **upload.metadata.annotations.as_dict()}
    return new_version(
        state,
        script,
        modules=upload.modules,
        main_module=upload.main_module,
        service_worker=upload.service_worker,
        metadata=upload.metadata,
        source=source,
        annotations=annotations,
        now=now,
    )


def _startup_ms(version: Version) -> int:
    """A plausible startup time that grows with the bundle size."""
    size = sum(len(m.content) for m in version.modules)
    return 3 + size // 50_000


async def _legacy_rollback(
    request: web.Request, state: SimState, name: str, now: float
) -> web.Response:
    """PUT …/scripts/{name}?rollback_to=<deployment id> with an optional ``message``."""
    script = state.workers.get(name)
    target = script.deployment(request.query["rollback_to"])
    if target is None:
        raise CfHttpError(404, CODE_NOT_FOUND, "workers.api.error.deployment_not_found")
    message = await _rollback_message(request)
    annotations = {"workers/triggered_by": "rollback"}
    if message:
        annotations["workers/message"] = message
    deploy(
        state,
        script,
        list(target.versions),
        source=_source(request),
        annotations=annotations,
        now=now,
    )
    return ok({**script.as_dict(), "startup_time_ms": _startup_ms(script.serving_version())})


async def _rollback_message(request: web.Request) -> str | None:
    body = await request.read()
    if not body.strip():
        return None
    ctype = request.headers.get("Content-Type", "")
    try:
        if ctype.lower().startswith("multipart/"):
            part = find_part(parse_multipart(ctype, body), "message")
            return part.data.decode() if part else None
        data = await read_json(request)
    except (UploadError, UnicodeDecodeError) as err:
        raise CfHttpError(400, CODE_BAD_UPLOAD, f"Invalid rollback body: {err}") from err
    message = data.get("message") if isinstance(data, dict) else None
    return message if isinstance(message, str) else None


async def delete_script(request: web.Request) -> web.Response:
    """DELETE …/scripts/{name}: the Worker, its routes and its tails go."""
    state, script = _script(request)
    del state.workers.scripts[script.name]
    state.workers.routes = [r for r in state.workers.routes if r.script != script.name]
    await state.tails.delete_scope(("worker", script.name))
    return ok(None)


async def get_content(request: web.Request) -> web.Response:
    """GET …/scripts/{name}/content/v2: every module of the serving version, as a form."""
    _, script = _script(request)
    boundary = secrets.token_hex(16)
    body = encode_multipart(script.serving_version().modules, boundary)
    return web.Response(
        body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )


def _release(
    request: web.Request,
    state: SimState,
    script: Script,
    trigger: str,
    now: float,
    **changes: Any,
) -> Version:
    """A new version from the latest one with ``changes``, deployed to 100 % at once.

    What ``PUT …/content`` and a settings change do: the rest of the configuration carries
    over, and the version and its deployment are annotated with what triggered them.
    """
    latest = script.latest_version()
    annotations = {"workers/triggered_by": trigger}
    fields: dict[str, Any] = {
        "bindings": [dict(b) for b in latest.bindings],
        "secrets": dict(latest.secrets),
        "compatibility_flags": list(latest.compatibility_flags),
        "limits": dict(latest.limits),
        **changes,
    }
    version = replace(
        latest,
        id=new_uuid(),
        number=latest.number + 1,
        created_ts=now,
        source=_source(request),
        author_email=state.accounts.user_email,
        author_id=state.accounts.user_id,
        annotations=annotations,
        **fields,
    )
    script.versions.append(version)
    deploy(
        state,
        script,
        [(version.id, 100.0)],
        source=version.source,
        annotations=annotations,
        now=now,
    )
    return version


async def put_content(request: web.Request) -> web.Response:
    """PUT …/scripts/{name}/content: new code, same configuration; deployed at once."""
    state, script = _script(request)
    now = state.clock()
    try:
        parts = parse_multipart(request.headers.get("Content-Type", ""), await request.read())
        meta_part = find_part(parts, "metadata")
        meta: UploadMetadata = (
            decode_json_part(meta_part, UploadMetadata) if meta_part else UploadMetadata()
        )
        modules = module_parts(parts, frozenset({"metadata"}))
    except UploadError as err:
        raise _upload_error(err) from err
    entry = (
        meta.main_module
        or meta.body_part
        or request.headers.get("CF-WORKER-MAIN-MODULE-PART")
        or request.headers.get("CF-WORKER-BODY-PART")
    )
    if not entry or entry not in {m.name for m in modules}:
        raise CfHttpError(
            400,
            CODE_BAD_UPLOAD,
            "Name the entry module (main_module or body_part) among the parts.",
        )
    _release(
        request,
        state,
        script,
        "upload",
        now,
        modules=modules,
        main_module=entry,
        service_worker=bool(meta.body_part or request.headers.get("CF-WORKER-BODY-PART")),
    )
    return ok(script.as_dict())


async def get_settings(request: web.Request) -> web.Response:
    """GET …/scripts/{name}/settings: bindings and runtime settings of the latest version."""
    _, script = _script(request)
    return ok(script.settings())


async def patch_settings(request: web.Request) -> web.Response:
    """PATCH …/scripts/{name}/settings (multipart ``settings`` part).

    Version-level changes (bindings, compatibility, limits, placement) make a new version
    that is deployed at once; logpush, tags and tail consumers change the script only.
    """
    state, script = _script(request)
    now = state.clock()
    try:
        parts = parse_multipart(request.headers.get("Content-Type", ""), await request.read())
        part = find_part(parts, "settings")
        if part is None:
            raise UploadError("The request needs a 'settings' part with the changes as JSON.")
        patch: SettingsPatch = decode_json_part(part, SettingsPatch)
    except UploadError as err:
        raise _upload_error(err) from err
    _apply_script_settings(script, patch)
    versioned = patch.model_dump(
        include={"bindings", "compatibility_date", "compatibility_flags", "limits", "placement"},
        exclude_none=True,
    )
    if versioned:
        latest = script.latest_version()
        try:
            bindings = (
                merge_bindings([b.model_dump() for b in patch.bindings], latest, ())
                if patch.bindings is not None
                else [dict(b) for b in latest.bindings]
            )
        except DeploymentRejected as err:
            raise _upload_error(err) from err
        _release(
            request,
            state,
            script,
            "settings",
            now,
            bindings=bindings,
            secrets=secrets_of(bindings),
            compatibility_date=patch.compatibility_date or latest.compatibility_date,
            compatibility_flags=(
                list(patch.compatibility_flags)
                if patch.compatibility_flags is not None
                else list(latest.compatibility_flags)
            ),
            limits=(
                patch.limits.model_dump(exclude_none=True) if patch.limits else dict(latest.limits)
            ),
            placement_mode=patch.placement.mode if patch.placement else latest.placement_mode,
        )
    script.modified_ts = now
    return ok(script.settings())


# --- versions -----------------------------------------------------------------------------


async def list_versions(request: web.Request) -> web.Response:
    """GET …/versions: newest first, ``result: {items}`` (V4PagePagination)."""
    _, script = _script(request)
    page = query_int(request, "page", 1, minimum=1, maximum=1_000_000, code=CODE_BAD_DEPLOYMENT)
    per_page = query_int(request, "per_page", 10, minimum=1, maximum=100, code=CODE_BAD_DEPLOYMENT)
    _flag(request, "deployable")  # every simulated version is deployable
    newest_first = list(reversed(script.versions))
    start = (page - 1) * per_page
    items = [v.item_short() for v in newest_first[start : start + per_page]]
    return ok(
        {"items": items},
        result_info={
            "page": page,
            "per_page": per_page,
            "count": len(items),
            "total_count": len(newest_first),
        },
    )


async def upload_version(request: web.Request) -> web.Response:
    """POST …/versions: a new version of an existing Worker, not deployed."""
    state, script = _script(request)
    now = state.clock()
    try:
        upload = decode_upload(request.headers.get("Content-Type", ""), await request.read())
    except UploadError as err:
        raise _upload_error(err) from err
    if upload.metadata.usage_model not in (None, "standard"):
        raise CfHttpError(400, CODE_BAD_UPLOAD, "usage_model of a version must be 'standard'.")
    version = _version_from_upload(
        state, script, upload, _source(request), {"workers/triggered_by": "version_upload"}, now
    )
    script.versions.append(version)
    script.modified_ts = now
    return ok(
        {**version.item_full(script.last_deployed_from), "startup_time_ms": _startup_ms(version)}
    )


async def get_version(request: web.Request) -> web.Response:
    """GET …/versions/{version_id}: the version with its resources."""
    _, script = _script(request)
    version = script.version(request.match_info["version_id"])
    if version is None:
        raise CfHttpError(404, CODE_NOT_FOUND, "workers.api.error.version_not_found")
    return ok(version.item_full(script.last_deployed_from))


# --- deployments --------------------------------------------------------------------------


async def list_deployments(request: web.Request) -> web.Response:
    """GET …/deployments: ``result: {deployments}``, newest (the active one) first."""
    _, script = _script(request)
    return ok({"deployments": [d.as_dict() for d in reversed(script.deployments)]})


async def create_deployment(request: web.Request) -> web.Response:
    """POST …/deployments[?force=true]: route traffic to one or two versions (rollbacks too)."""
    state, script = _script(request)
    force = _flag(request, "force")
    body = await read_model(request, DeploymentCreate, code=CODE_BAD_DEPLOYMENT)
    split = [(v.version_id, v.percentage) for v in body.versions]
    known = {v.id: v for v in script.versions}
    try:
        check_split(split, known)
    except DeploymentRejected as err:
        raise CfHttpError(400, CODE_BAD_DEPLOYMENT, str(err)) from err
    if not force:
        latest = script.latest_version()
        for version_id, _ in split:
            changed = changed_secrets(known[version_id], latest)
            if changed:
                raise CfHttpError(
                    400, CODE_SECRETS_CHANGED, secret_change_message(version_id, changed)
                )
    annotations = {"workers/triggered_by": triggered_by(split, script)}
    if body.annotations and body.annotations.message is not None:
        annotations["workers/message"] = body.annotations.message
    deployment = deploy(
        state, script, split, source=_source(request), annotations=annotations, now=state.clock()
    )
    return ok(deployment.as_dict())


async def get_deployment(request: web.Request) -> web.Response:
    """GET …/deployments/{deployment_id}."""
    _, script = _script(request)
    deployment = script.deployment(request.match_info["deployment_id"])
    if deployment is None:
        raise CfHttpError(404, CODE_NOT_FOUND, "workers.api.error.deployment_not_found")
    return ok(deployment.as_dict())


async def delete_deployment(request: web.Request) -> web.Response:
    """DELETE …/deployments/{deployment_id}: any but the latest, which serves traffic."""
    _, script = _script(request)
    deployment = script.deployment(request.match_info["deployment_id"])
    if deployment is None:
        raise CfHttpError(404, CODE_NOT_FOUND, "workers.api.error.deployment_not_found")
    if deployment is script.active_deployment():
        raise CfHttpError(
            400,
            CODE_DELETE_ACTIVE,
            "Cannot delete the latest deployment: it is actively serving traffic. "
            "Create a new deployment first.",
        )
    script.deployments.remove(deployment)
    return ok(None)


# --- subdomains ---------------------------------------------------------------------------


def _require_subdomain(state: SimState) -> str:
    if not state.workers.subdomain:
        raise CfHttpError(
            404, CODE_SUBDOMAIN, "This account has no workers.dev subdomain; create one first."
        )
    return state.workers.subdomain


async def get_script_subdomain(request: web.Request) -> web.Response:
    """GET …/scripts/{name}/subdomain: is the Worker on workers.dev (and its previews)?"""
    _, script = _script(request)
    return ok({"enabled": script.subdomain_enabled, "previews_enabled": script.previews_enabled})


async def set_script_subdomain(request: web.Request) -> web.Response:
    """POST …/scripts/{name}/subdomain: enable or disable workers.dev for the Worker."""
    state, script = _script(request)
    _require_subdomain(state)
    body = await read_model(request, ScriptSubdomainBody, code=CODE_SUBDOMAIN)
    script.subdomain_enabled = body.enabled
    script.previews_enabled = (
        body.previews_enabled if body.previews_enabled is not None else body.enabled
    )
    return ok({"enabled": script.subdomain_enabled, "previews_enabled": script.previews_enabled})


async def get_account_subdomain(request: web.Request) -> web.Response:
    """GET /accounts/{a}/workers/subdomain: ``{subdomain}``."""
    state = accounts.require_account(request)
    return ok({"subdomain": _require_subdomain(state)})


async def put_account_subdomain(request: web.Request) -> web.Response:
    """PUT /accounts/{a}/workers/subdomain with ``{subdomain}``."""
    state = accounts.require_account(request)
    body = await read_model(request, AccountSubdomainBody, code=CODE_SUBDOMAIN)
    if not SUBDOMAIN_NAME.match(body.subdomain):
        raise CfHttpError(
            400,
            CODE_SUBDOMAIN,
            "Invalid subdomain: use lowercase letters, digits and inner hyphens (at most 63).",
        )
    state.workers.subdomain = body.subdomain
    return ok({"subdomain": body.subdomain})


# --- tails --------------------------------------------------------------------------------


async def read_tail_filters(request: web.Request) -> TailCreateBody:
    """The tail-creation body; an empty body means no filters."""
    raw = await request.read()
    if not raw.strip():
        return TailCreateBody()
    return validate(TailCreateBody, await read_json(request))


async def list_tails(request: web.Request) -> web.Response:
    """GET …/scripts/{name}/tails: the Worker's unexpired tails."""
    state, script = _script(request)
    scope: Scope = ("worker", script.name)
    return ok([s.as_dict() for s in state.tails.active(scope, state.clock())])


async def create_tail(request: web.Request) -> web.Response:
    """POST …/scripts/{name}/tails with ``{filters}``: ``{id, url, expires_at}``."""
    state, script = _script(request)
    body = await read_tail_filters(request)
    session = state.tails.create(
        ("worker", script.name),
        script.name,
        body.filters,
        creator_ip=request.remote or "127.0.0.1",
        host=request.host,
        now=state.clock(),
    )
    return ok(session.as_dict())


async def delete_tail(request: web.Request) -> web.Response:
    """DELETE …/scripts/{name}/tails/{id}: stop the tail and close its sockets (1000)."""
    state, script = _script(request)
    session = state.tails.get(request.match_info["id"])
    if session is None or session.scope != ("worker", script.name):
        raise CfHttpError(404, CODE_NOT_FOUND, "workers.api.error.tail_not_found")
    await state.tails.delete(session.id)
    return ok(None)


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the Workers endpoints under ``prefix``."""
    base = f"{prefix}/accounts/{{account_id}}/workers"
    one = f"{base}/scripts/{{script_name}}"
    r = app.router
    r.add_get(f"{base}/scripts", list_scripts)
    r.add_get(one, download_script)
    r.add_put(one, upload_script)
    r.add_delete(one, delete_script)
    r.add_get(f"{one}/content/v2", get_content)
    r.add_put(f"{one}/content", put_content)
    r.add_get(f"{one}/settings", get_settings)
    r.add_patch(f"{one}/settings", patch_settings)
    r.add_get(f"{one}/versions", list_versions)
    r.add_post(f"{one}/versions", upload_version)
    r.add_get(f"{one}/versions/{{version_id}}", get_version)
    r.add_get(f"{one}/deployments", list_deployments)
    r.add_post(f"{one}/deployments", create_deployment)
    r.add_get(f"{one}/deployments/{{deployment_id}}", get_deployment)
    r.add_delete(f"{one}/deployments/{{deployment_id}}", delete_deployment)
    r.add_get(f"{one}/subdomain", get_script_subdomain)
    r.add_post(f"{one}/subdomain", set_script_subdomain)
    r.add_get(f"{one}/tails", list_tails)
    r.add_post(f"{one}/tails", create_tail)
    r.add_delete(f"{one}/tails/{{id}}", delete_tail)
    r.add_get(f"{base}/subdomain", get_account_subdomain)
    r.add_put(f"{base}/subdomain", put_account_subdomain)


# --- seed ---------------------------------------------------------------------------------

DAY = 86_400.0

API_V1 = b"""import { Router } from "./router.js";

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/health") {
      const session = await env.SESSIONS.get("health-probe");
      const { results } = await env.DB.prepare("SELECT 1 AS ok").all();
      return Response.json({ status: "ok", kv: session !== undefined, d1: results.length === 1 });
    }
    return Router.handle(request, env, ctx);
  },
};
"""
API_ROUTER = b"""export const Router = {
  async handle(request, env) {
    const url = new URL(request.url);
    return Response.json({ path: url.pathname, method: request.method });
  },
};
"""
API_V3 = API_V1.replace(b"return Router.handle", b"// rate limit uploads\n    return Router.handle")
IMAGES_V1 = b"""export default {
  async fetch(request, env) {
    const key = new URL(request.url).pathname.slice(1);
    const object = await env.IMAGES.get(key);
    if (object === null) return new Response("Not found", { status: 404 });
    return new Response(object.body, { headers: { "content-type": "image/webp" } });
  },
};
"""
IMAGES_V2 = IMAGES_V1.replace(b"image/webp", b"image/avif")


def _resource_id(store: object, names: tuple[str, ...]) -> str | None:
    """Find the id of a sibling store's resource by one of ``names``.

    Stores keep resources in dicts keyed by id and answer ``aliases(id)`` with the names a
    user knows them by (the contract :meth:`cfsim.state.SimState.aliases` relies on), so the
    Workers seed can bind to the KV namespace and D1 database the other seeds created
    without reaching into their internals.
    """
    aliases = getattr(store, "aliases", None)
    if not callable(aliases):
        return None
    for value in getattr(store, "__dict__", {}).values():
        if not isinstance(value, dict):
            continue
        for key in value:
            if isinstance(key, str) and (key in names or set(aliases(key)) & set(names)):
                return key
    return None


def _module(name: str, content: bytes) -> Module:
    return Module(name, content, "application/javascript+module")


def _seed_script(
    state: SimState,
    name: str,
    created_ts: float,
    history: list[tuple[float, tuple[Module, ...], list[dict[str, Any]], dict[str, str], bool]],
) -> Script:
    """Create ``name`` with one version per history entry; deploy those flagged so."""
    script = Script(name=name, tag=new_id(), created_ts=created_ts, modified_ts=created_ts)
    for ts, modules, bindings, notes, deployed in history:
        metadata = UploadMetadata(
            main_module=modules[0].name,
            compatibility_date="2025-09-01",
            compatibility_flags=["nodejs_compat"],
        )
        version = new_version(
            state,
            script,
            modules=modules,
            main_module=modules[0].name,
            service_worker=False,
            metadata=metadata,
            source="wrangler",
            annotations=notes,
            now=ts,
        )
        version.bindings = [dict(b) for b in bindings]
        version.secrets = secrets_of(bindings)
        script.versions.append(version)
        if deployed:
            deploy(
                state,
                script,
                [(version.id, 100.0)],
                source="wrangler",
                annotations={"workers/triggered_by": notes["workers/triggered_by"]},
                now=ts,
            )
        script.modified_ts = ts
    state.workers.scripts[name] = script
    return script


def seed(state: SimState) -> None:
    """The SpaceVision Workers: ``api`` and ``image-processor``, 3 versions and 2 deployments each.

    ``api`` rotated its JWT secret in version 2, so rolling back to version 1 needs
    ``?force=true`` (10220); version 3 of each is uploaded but not deployed.
    """
    now = state.clock()
    store = state.workers
    store.subdomain = "spacevision"
    kv_id = _resource_id(state.kv, ("SESSIONS", "spacevision-sessions", "sessions")) or new_id()
    d1_id = _resource_id(state.d1, ("spacevision-db",)) or new_uuid()
    api_bindings: list[dict[str, Any]] = [
        {"type": "kv_namespace", "name": "SESSIONS", "namespace_id": kv_id},
        {"type": "d1", "name": "DB", "binding": "DB", "id": d1_id, "database_id": d1_id},
        {"type": "r2_bucket", "name": "UPLOADS", "bucket_name": "uploads"},
        {"type": "plain_text", "name": "ENVIRONMENT", "text": "production"},
    ]
    secret_v1 = {"type": "secret_text", "name": "JWT_SECRET", "text": "jwt-2025-10"}
    secret_v2 = {"type": "secret_text", "name": "JWT_SECRET", "text": "jwt-2026-01"}
    api_code = (_module("index.js", API_V1), _module("router.js", API_ROUTER))
    api_next = (_module("index.js", API_V3), _module("router.js", API_ROUTER))
    _seed_script(
        state,
        "api",
        now - 60 * DAY,
        [
            (now - 30 * DAY, api_code, [*api_bindings, secret_v1], _by("upload"), True),
            (now - 7 * DAY, api_code, [*api_bindings, secret_v2], _by("secret"), True),
            (
                now - 1 * DAY,
                api_next,
                [*api_bindings, secret_v2],
                {
                    **_by("version_upload"),
                    "workers/message": "Rate-limit uploads",
                    "workers/tag": "v1.4.0",
                },
                False,
            ),
        ],
    )
    image_bindings: list[dict[str, Any]] = [
        {"type": "r2_bucket", "name": "IMAGES", "bucket_name": "uploads"}
    ]
    _seed_script(
        state,
        "image-processor",
        now - 45 * DAY,
        [
            (
                now - 20 * DAY,
                (_module("index.js", IMAGES_V1),),
                image_bindings,
                _by("upload"),
                True,
            ),
            (now - 5 * DAY, (_module("index.js", IMAGES_V2),), image_bindings, _by("upload"), True),
            (
                now - 2 * DAY,
                (_module("index.js", IMAGES_V2 + b"\n// resize on the fly\n"),),
                image_bindings,
                {**_by("version_upload"), "workers/message": "Resize on the fly"},
                False,
            ),
        ],
    )
    store.routes = [
        Route(new_id(), "api.spacevision.app/*", "api"),
        Route(new_id(), "images.spacevision.app/*", "image-processor"),
    ]


def _by(trigger: str) -> dict[str, str]:
    return {"workers/triggered_by": trigger}
