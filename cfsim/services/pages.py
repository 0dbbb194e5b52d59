"""Pages: projects, deployments (build stages, logs, retry, rollback), tails and domains.

Endpoints under ``/accounts/{account_id}/pages/projects`` (cloudflare-api.md §1, §8). The
rules live in :mod:`cfsim.services.pages_models`. Builds run on the simulator's clock: a new
deployment passes its stages in about a second and is finished on the next read after that.
A ``pages`` fault with ``exception`` or ``error_status`` that is active for the project when
the build stage ends fails the build; an ``outage`` fault fails the deploy stage.

Error codes ([V] verified, [I] inferred):

- 8000007 "Project not found…" [V: wrangler users' logs]; 8000009 "The deployment ID you
  have specified does not exist…" [V: observed live, several third-party clients].
- 8000024 "Invalid list options provided. Review the `page` or `per_page` parameter." for
  page sizes Pages refuses [V: third-party reports]; the bounds (10 projects, 25 deployments
  per page) are [I].
- 8000034 refusing to delete the live production deployment (or an aliased preview without
  ``force``) [I]; 8000035 for a refused rollback [I]; 8000036 for retrying a deployment that is
  still running [I]; 8000000 for a malformed body [I]; 8000110 for an unknown tail [I].
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from cfsim.envelope import CfHttpError, ok, paginate, query_int
from cfsim.ids import new_uuid
from cfsim.services import accounts
from cfsim.services.pages_models import (
    BUILD,
    DEPLOY,
    PagesDeployment,
    PagesProject,
    delete_refusal,
    rollback_refusal,
)
from cfsim.services.worker_models import digest, iso_at
from cfsim.services.worker_upload import UploadError, parse_multipart
from cfsim.services.workers import read_tail_filters

if TYPE_CHECKING:
    from cfsim.state import SimState

CODE_PROJECT_NOT_FOUND = 8000007
CODE_DEPLOYMENT_NOT_FOUND = 8000009
CODE_LIST_OPTIONS = 8000024
CODE_DELETE_REFUSED = 8000034
CODE_ROLLBACK_REFUSED = 8000035
CODE_RETRY_REFUSED = 8000036
CODE_BAD_REQUEST = 8000000
CODE_TAIL_NOT_FOUND = 8000110

# Stage durations of a new deployment, in seconds (queued … deploy).
FAST_STAGES = (0.1, 0.1, 0.2, 0.4, 0.2)
SEEDED_STAGES = (3.0, 4.0, 6.0, 48.0, 11.0)


@dataclass
class PagesStore:
    """The account's Pages projects, by name."""

    projects: dict[str, PagesProject] = field(default_factory=dict)
    stage_seconds: tuple[float, float, float, float, float] = FAST_STAGES

    def get(self, name: str) -> PagesProject:
        """A project by name, or Cloudflare's 404."""
        project = self.projects.get(name)
        if project is None:
            raise CfHttpError(
                404,
                CODE_PROJECT_NOT_FOUND,
                "Project not found. The specified project name does not match any of your "
                "existing projects.",
            )
        return project

    def aliases(self, value: str) -> tuple[str, ...]:
        """Project names are what paths use: no other names."""
        return ()

    def close(self) -> None:
        """Nothing to release."""


def advance(state: SimState, project: PagesProject, now: float) -> None:
    """Settle builds whose outcome is due and promote newly live production deployments."""
    for dep in project.deployments:
        if dep.outcome is None and now >= dep.decision_ts:
            decision = state.faults.decide("pages", (project.name, project.id, dep.id), now)
            if decision.exception or decision.error_status is not None:
                dep.outcome, dep.failed_stage = "failure", BUILD
                dep.failure_message = (
                    decision.exception
                    or decision.error_message
                    or f"build failed (simulated status {decision.error_status})"
                )
            elif decision.outage:
                dep.outcome, dep.failed_stage = "failure", DEPLOY
                dep.failure_message = "Deployment failed: Cloudflare Pages is unavailable."
            else:
                dep.outcome = "success"
        if dep.environment == "production" and not dep.promoted and dep.live(now):
            dep.promoted = True
            current = project.canonical()
            if current is None or dep.created_ts >= current.created_ts:
                project.canonical_id = dep.id


def _project(request: web.Request) -> tuple[SimState, PagesProject, float]:
    state = accounts.require_account(request)
    project = state.pages.get(request.match_info["project_name"])
    now = state.clock()
    advance(state, project, now)
    return state, project, now


def _deployment(request: web.Request) -> tuple[SimState, PagesProject, PagesDeployment, float]:
    state, project, now = _project(request)
    dep = project.deployment(request.match_info["deployment_id"])
    if dep is None:
        raise CfHttpError(
            404,
            CODE_DEPLOYMENT_NOT_FOUND,
            "The deployment ID you have specified does not exist. Update the deployment ID "
            "and try again.",
        )
    return state, project, dep, now


def _page(request: web.Request, default: int, maximum: int) -> tuple[int, int]:
    try:
        page = query_int(request, "page", 1, minimum=1, maximum=1_000_000)
        per_page = query_int(request, "per_page", default, minimum=1, maximum=maximum)
    except CfHttpError as err:
        raise CfHttpError(
            400,
            CODE_LIST_OPTIONS,
            "Invalid list options provided. Review the `page` or `per_page` parameter.",
        ) from err
    return page, per_page


def new_deployment(
    state: SimState,
    project: PagesProject,
    *,
    branch: str,
    commit_hash: str,
    commit_message: str,
    trigger_type: str,
    now: float,
    commit_dirty: bool = False,
    durations: tuple[float, float, float, float, float] | None = None,
    retry_of: str | None = None,
) -> PagesDeployment:
    """Queue a build of ``branch`` (production when it is the production branch)."""
    dep = PagesDeployment(
        id=new_uuid(),
        project_id=project.id,
        project_name=project.name,
        environment="production" if branch == project.production_branch else "preview",
        branch=branch,
        commit_hash=commit_hash,
        commit_message=commit_message,
        created_ts=now,
        durations=durations or state.pages.stage_seconds,
        trigger_type=trigger_type,
        commit_dirty=commit_dirty,
        retry_of=retry_of,
    )
    project.deployments.append(dep)
    return dep


# --- projects -----------------------------------------------------------------------------


async def list_projects(request: web.Request) -> web.Response:
    """GET /accounts/{a}/pages/projects."""
    state = accounts.require_account(request)
    page, per_page = _page(request, 10, 10)
    now = state.clock()
    projects = sorted(state.pages.projects.values(), key=lambda p: p.name)
    for project in projects:
        advance(state, project, now)
    items, info = paginate([p.as_dict(now) for p in projects], page, per_page)
    return ok(items, result_info=info)


async def get_project(request: web.Request) -> web.Response:
    """GET …/projects/{project_name}."""
    _, project, now = _project(request)
    return ok(project.as_dict(now))


async def list_domains(request: web.Request) -> web.Response:
    """GET …/projects/{project_name}/domains: the custom domains, all active."""
    state, project, _ = _project(request)
    items = []
    for name in project.domains:
        apex = ".".join(name.split(".")[-2:])
        zone = state.zones.by_name(apex)
        items.append(
            {
                "id": stable_uuid(project.id, name),
                "domain_id": stable_uuid(project.id, name),
                "name": name,
                "status": "active",
                "certificate_authority": "google",
                "created_on": iso_at(project.created_ts),
                "zone_tag": zone["id"] if zone else digest(apex)[:32],
                "validation_data": {"method": "http", "status": "active"},
                "verification_data": {"status": "active"},
            }
        )
    return ok(
        items,
        result_info={"page": 1, "per_page": 100, "count": len(items), "total_count": len(items)},
    )


def stable_uuid(project_id: str, name: str) -> str:
    """A stable UUID-shaped id for a project's domain (the same on every read)."""
    h = digest(f"{project_id}/{name}")
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


# --- deployments --------------------------------------------------------------------------


async def list_deployments(request: web.Request) -> web.Response:
    """GET …/deployments[?env=production|preview&page&per_page], newest first."""
    _, project, now = _project(request)
    env = request.query.get("env")
    if env not in (None, "production", "preview"):
        raise CfHttpError(
            400, CODE_BAD_REQUEST, f"Invalid value for 'env': {env!r}; use production or preview."
        )
    page, per_page = _page(request, 25, 25)
    deps = [d for d in reversed(project.deployments) if env is None or d.environment == env]
    items, info = paginate([project.deployment_dict(d, now) for d in deps], page, per_page)
    return ok(items, result_info=info)


async def create_deployment(request: web.Request) -> web.Response:
    """POST …/deployments (multipart: ``branch``, ``commit_hash``, ``commit_message``…)."""
    state, project, now = _project(request)
    fields: dict[str, str] = {}
    body = await request.read()
    if body.strip():
        try:
            parts = parse_multipart(request.headers.get("Content-Type", ""), body)
        except UploadError as err:
            raise CfHttpError(400, CODE_BAD_REQUEST, str(err)) from err
        for part in parts:
            if part.name in {"branch", "commit_hash", "commit_message", "commit_dirty"}:
                try:
                    fields[part.name] = part.data.decode().strip()
                except UnicodeDecodeError as err:
                    raise CfHttpError(
                        400, CODE_BAD_REQUEST, f"Form field {part.name!r} is not UTF-8 text."
                    ) from err
    dirty = fields.get("commit_dirty", "false").lower()
    if dirty not in {"true", "false"}:
        raise CfHttpError(400, CODE_BAD_REQUEST, "commit_dirty must be 'true' or 'false'.")
    dep = new_deployment(
        state,
        project,
        branch=fields.get("branch") or project.production_branch,
        commit_hash=fields.get("commit_hash") or secrets.token_hex(20),
        commit_message=fields.get("commit_message") or "Direct upload",
        commit_dirty=dirty == "true",
        trigger_type="ad_hoc",
        now=now,
    )
    return ok(project.deployment_dict(dep, now))


async def get_deployment(request: web.Request) -> web.Response:
    """GET …/deployments/{deployment_id}."""
    _, project, dep, now = _deployment(request)
    return ok(project.deployment_dict(dep, now))


async def delete_deployment(request: web.Request) -> web.Response:
    """DELETE …/deployments/{deployment_id}[?force=true]."""
    state, project, dep, now = _deployment(request)
    force = request.query.get("force", "false").lower() in {"true", "1"}
    refusal = delete_refusal(project, dep, force, now)
    if refusal:
        raise CfHttpError(400, CODE_DELETE_REFUSED, refusal)
    project.deployments.remove(dep)
    await state.tails.delete_scope(("pages", dep.id))
    return ok(None)


async def deployment_logs(request: web.Request) -> web.Response:
    """GET …/deployments/{deployment_id}/history/logs: the build log so far."""
    _, project, dep, now = _deployment(request)
    data = [{"ts": iso_at(ts), "line": line} for ts, line in dep.log_lines(now, project.repo)]
    return ok({"total": len(data), "includes_container_logs": True, "data": data})


async def retry_deployment(request: web.Request) -> web.Response:
    """POST …/deployments/{deployment_id}/retry: build the same commit again."""
    state, project, dep, now = _deployment(request)
    if not dep.done(now):
        raise CfHttpError(
            400, CODE_RETRY_REFUSED, "This deployment is still in progress; retry it once it ends."
        )
    retry = new_deployment(
        state,
        project,
        branch=dep.branch,
        commit_hash=dep.commit_hash,
        commit_message=dep.commit_message,
        commit_dirty=dep.commit_dirty,
        trigger_type=dep.trigger_type,
        now=now,
        retry_of=dep.id,
    )
    return ok(project.deployment_dict(retry, now))


async def rollback_deployment(request: web.Request) -> web.Response:
    """POST …/deployments/{deployment_id}/rollback: make it the live production deployment."""
    _, project, dep, now = _deployment(request)
    refusal = rollback_refusal(project, dep, now)
    if refusal:
        raise CfHttpError(400, CODE_ROLLBACK_REFUSED, refusal)
    project.canonical_id = dep.id
    return ok(project.deployment_dict(dep, now))


# --- tails --------------------------------------------------------------------------------


async def create_tail(request: web.Request) -> web.Response:
    """POST …/deployments/{deployment_id}/tails with ``{filters}``."""
    state, project, dep, now = _deployment(request)
    body = await read_tail_filters(request)
    session = state.tails.create(
        ("pages", dep.id),
        project.script_name(dep.environment),
        body.filters,
        creator_ip=request.remote or "127.0.0.1",
        host=request.host,
        now=now,
    )
    return ok(session.as_dict())


async def delete_tail(request: web.Request) -> web.Response:
    """DELETE …/deployments/{deployment_id}/tails/{tail_id}."""
    state, _, dep, _ = _deployment(request)
    session = state.tails.get(request.match_info["tail_id"])
    if session is None or session.scope != ("pages", dep.id):
        raise CfHttpError(404, CODE_TAIL_NOT_FOUND, "Tail not found for this deployment.")
    await state.tails.delete(session.id)
    return ok(None)


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the Pages endpoints under ``prefix``."""
    base = f"{prefix}/accounts/{{account_id}}/pages/projects"
    proj = f"{base}/{{project_name}}"
    dep = f"{proj}/deployments/{{deployment_id}}"
    r = app.router
    r.add_get(base, list_projects)
    r.add_get(proj, get_project)
    r.add_get(f"{proj}/domains", list_domains)
    r.add_get(f"{proj}/deployments", list_deployments)
    r.add_post(f"{proj}/deployments", create_deployment)
    r.add_get(dep, get_deployment)
    r.add_delete(dep, delete_deployment)
    r.add_get(f"{dep}/history/logs", deployment_logs)
    r.add_post(f"{dep}/retry", retry_deployment)
    r.add_post(f"{dep}/rollback", rollback_deployment)
    r.add_post(f"{dep}/tails", create_tail)
    r.add_delete(f"{dep}/tails/{{tail_id}}", delete_tail)


# --- seed ---------------------------------------------------------------------------------

DAY = 86_400.0
HOUR = 3_600.0


def seed(state: SimState) -> None:
    """``spacevision-web``: four production deployments (the third failed) and two previews."""
    now = state.clock()
    project = PagesProject(
        id=new_uuid(),
        name="spacevision-web",
        production_branch="main",
        created_ts=now - 120 * DAY,
        domains=["spacevision.app", "www.spacevision.app"],
        repo="spacevision/spacevision-web",
        script_number=4827159,
        build_config={
            "build_caching": True,
            "build_command": "npm run build",
            "destination_dir": "dist",
            "root_dir": "",
            "web_analytics_tag": None,
            "web_analytics_token": None,
        },
        env_vars={"API_BASE_URL": {"type": "plain_text", "value": "https://api.spacevision.app"}},
    )
    state.pages.projects[project.name] = project
    history: list[tuple[float, str, str, str | None]] = [
        (14 * DAY, "main", "Launch the interactive star map", None),
        (6 * DAY, "main", "Add constellation search", None),
        (
            2 * DAY,
            "main",
            "Upgrade to Vite 5",
            'Could not resolve "./components/StarField" from "src/App.tsx"',
        ),
        (1 * DAY, "main", "Fix StarField import after the Vite 5 upgrade", None),
        (20 * HOUR, "feature/orbit-viewer", "Orbit viewer prototype", None),
        (3 * HOUR, "fix/mobile-nav", "Fix the mobile navigation drawer", None),
    ]
    for age, branch, message, failure in history:
        dep = new_deployment(
            state,
            project,
            branch=branch,
            commit_hash=secrets.token_hex(20),
            commit_message=message,
            trigger_type="github:push",
            now=now - age,
            durations=SEEDED_STAGES,
        )
        if failure:
            dep.outcome, dep.failed_stage, dep.failure_message = "failure", BUILD, failure
        else:
            dep.outcome = "success"
    advance(state, project, now)


def serving_deployment(
    project: PagesProject, deployment: PagesDeployment | None, now: float
) -> PagesDeployment | None:
    """The deployment that answers: the one asked for if live, else the live production one."""
    if deployment is not None:
        return deployment if deployment.live(now) else None
    return project.canonical()


def project_for_host(state: SimState, host: str) -> tuple[PagesProject, str | None] | None:
    """The project (and, for ``<label>.<project>.pages.dev``, its label) serving ``host``."""
    for project in state.pages.projects.values():
        if host == project.subdomain or host in project.domains:
            return project, None
        suffix = "." + project.subdomain
        if host.endswith(suffix):
            return project, host[: -len(suffix)]
    return None
