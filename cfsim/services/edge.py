"""The simulated edge: deployed Workers and Pages projects answering HTTP by ``Host``.

Hostnames served ([V] verified, [I] inferred):

- Worker routes (``api.spacevision.app/*``): the route's Worker. Routes are matched on the
  host only; path patterns are treated as ``/*`` [I: simplification].
- ``<script>.<account subdomain>.workers.dev`` when the script's workers.dev subdomain is
  enabled, and ``<version id prefix>-<script>.<subdomain>.workers.dev`` for a version preview
  when previews are enabled [V: workers.dev preview URL format].
- Pages custom domains and ``<project>.pages.dev`` (the live production deployment),
  ``<short id>.<project>.pages.dev`` (that deployment) and ``<branch>.<project>.pages.dev``
  (the newest live deployment of that branch) [V: Pages docs].
- Any other ``*.workers.dev`` or ``*.pages.dev`` host answers 404 "Nothing is here yet".

Every request applies the ``workers`` or ``pages`` faults of its Worker or project, records
an analytics :class:`~cfsim.analytics.Sample` and publishes a ``trace-v1`` event to its tails.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from cfsim.analytics import Kind, Sample
from cfsim.faults import Decision
from cfsim.services import pages as pages_service
from cfsim.services.pages_models import PagesProject
from cfsim.services.tail import TraceEvent
from cfsim.services.worker_models import Script, Version, pick_version
from cfsim.services.worker_runtime import (
    IMAGE_WORKERS,
    Invocation,
    binding_error,
    nothing_here,
    pages_page,
    ray_header,
    request_info,
    returned_status,
    thrown,
    trace_message,
    unavailable,
    worker_response,
)

if TYPE_CHECKING:
    from cfsim.state import SimState

_BINDING_SERVICES = {"kv_namespace": "kv", "d1": "d1", "r2_bucket": "r2"}


@dataclass(frozen=True)
class EdgeTarget:
    """What serves a hostname: a Worker (maybe one version), a Pages project, or nothing."""

    kind: Literal["worker", "pages", "missing"]
    name: str = ""
    version_prefix: str | None = None
    label: str | None = None


def resolve_host(state: SimState, host: str) -> EdgeTarget | None:
    """Return what serves ``host`` on the edge, or ``None`` when it is not an edge hostname."""
    host = host.lower().rstrip(".")
    route = state.workers.route_for_host(host)
    if route is not None and route.script in state.workers.scripts:
        return EdgeTarget("worker", route.script)
    if host.endswith(".workers.dev"):
        return _workers_dev(state, host)
    found = pages_service.project_for_host(state, host)
    if found is not None:
        project, label = found
        return EdgeTarget("pages", project.name, label=label)
    if host.endswith(".pages.dev"):
        return EdgeTarget("missing")
    return None


def _workers_dev(state: SimState, host: str) -> EdgeTarget:
    sub = state.workers.subdomain
    suffix = f".{sub}.workers.dev"
    if not sub or not host.endswith(suffix):
        return EdgeTarget("missing")
    label = host[: -len(suffix)]
    script = state.workers.scripts.get(label)
    if script is not None:
        return EdgeTarget("worker", label) if script.subdomain_enabled else EdgeTarget("missing")
    prefix, _, name = label.partition("-")
    script = state.workers.scripts.get(name)
    if (
        script is not None
        and script.previews_enabled
        and len(prefix) == 8
        and any(v.id.startswith(prefix) for v in script.versions)
    ):
        return EdgeTarget("worker", name, version_prefix=prefix)
    return EdgeTarget("missing")


async def serve(state: SimState, target: EdgeTarget, request: web.Request) -> web.StreamResponse:
    """Serve one edge request as the deployed Worker or Pages project would."""
    host = (request.host or "").split(":")[0].lower()
    ray = secrets.token_hex(8)
    if target.kind == "worker":
        script = state.workers.scripts.get(target.name)
        if script is not None and script.versions:
            return await _serve_worker(state, script, target, request, host, ray)
    if target.kind == "pages":
        project = state.pages.projects.get(target.name)
        if project is not None:
            return await _serve_pages(state, project, target, request, host, ray)
    return _respond(404, nothing_here(host), "text/html; charset=UTF-8", ray)


def _choose_version(script: Script, target: EdgeTarget, rand: Any) -> Version:
    if target.version_prefix:
        return next(v for v in script.versions if v.id.startswith(target.version_prefix))
    deployment = script.active_deployment()
    if deployment is None:
        return script.latest_version()
    return script.version(pick_version(deployment, rand)) or script.latest_version()


async def _faulted(
    decision: Decision, ts_ms: int, host: str, ray: str, *, worker: bool
) -> Invocation | None:
    """Apply the faults in force: wait out added latency, then the failed invocation, if any.

    ``None`` means the request is served normally (after the latency).
    """
    if decision.latency_s:
        await asyncio.sleep(decision.latency_s)
    if decision.outage:
        return unavailable(host, ray)
    if decision.exception:
        return thrown(decision.exception, ts_ms, host, ray)
    if decision.error_status is not None:
        return returned_status(decision.error_status, decision.error_message, ts_ms, worker)
    return None


async def _serve_worker(
    state: SimState,
    script: Script,
    target: EdgeTarget,
    request: web.Request,
    host: str,
    ray: str,
) -> web.StreamResponse:
    started = time.perf_counter()
    now = state.clock()
    ts_ms = int(now * 1000)
    version = _choose_version(script, target, state.workers.rand)
    decision = state.faults.decide("workers", (script.name,), now)
    inv = await _faulted(decision, ts_ms, host, ray, worker=True)
    if inv is None:
        failures = await _touch_bindings(state, version, request.path, script.name, now)
        inv = worker_response(
            script.name, version.id, request.method, request.path, failures, ts_ms
        )
    return _finish(
        state,
        request,
        inv,
        started=started,
        now=now,
        ray=ray,
        host=host,
        kind="workers",
        subject=script.name,
        scope=("worker", script.name),
        script_name=script.name,
        version_id=version.id,
    )


async def _touch_bindings(
    state: SimState, version: Version, path: str, script: str, now: float
) -> dict[str, str]:
    """Use the bindings the request needs; return binding label → error for those that failed.

    ``/health`` reads every KV namespace, queries every D1 database and heads every R2
    bucket; the image Worker reads R2 for any image. Binding faults are matched by the
    resource's id, its known names, and the binding's name.
    """
    failures: dict[str, str] = {}
    for binding in version.bindings:
        service = _BINDING_SERVICES.get(binding["type"])
        needed = path == "/health" or (script in IMAGE_WORKERS and service == "r2")
        if service is None or not needed:
            continue
        resources, subject = _binding_resources(state, binding)
        decision = state.faults.decide(service, resources, now)
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)
        failed = decision.fails
        if failed:
            failures[f"{binding['type']}:{binding['name']}"] = binding_error(service, decision)
        state.analytics.record(
            Sample(
                ts=now,
                kind=_kind(service),
                subject=subject,
                action={"kv": "read", "d1": "read", "r2": "GetObject"}[service],
                status="error" if failed else "success",
                http_status=500 if failed else 200,
                duration_ms=decision.latency_s * 1000 + 2.0,
                rows_read=1 if service == "d1" and not failed else 0,
            )
        )
    return failures


def _kind(service: str) -> Kind:
    if service == "kv":
        return "kv"
    if service == "d1":
        return "d1"
    return "r2"


def _binding_resources(state: SimState, binding: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    """Names a fault may use for a binding's resource, and the resource's analytics subject."""
    kind = binding["type"]
    if kind == "kv_namespace":
        ns = str(binding["namespace_id"])
        return (ns, binding["name"], *state.aliases("namespace_id", ns)), ns
    if kind == "d1":
        db = str(binding.get("id") or binding.get("database_id"))
        names = [db, binding["name"], *state.aliases("database_id", db)]
        if binding.get("database_name"):
            names.append(str(binding["database_name"]))
        return tuple(names), db
    bucket = str(binding["bucket_name"])
    return (bucket, binding["name"]), bucket


async def _serve_pages(
    state: SimState,
    project: PagesProject,
    target: EdgeTarget,
    request: web.Request,
    host: str,
    ray: str,
) -> web.StreamResponse:
    started = time.perf_counter()
    now = state.clock()
    ts_ms = int(now * 1000)
    pages_service.advance(state, project, now)
    dep = None
    if target.label is not None:
        dep = next((d for d in project.deployments if d.short_id == target.label), None)
        dep = dep if dep is not None and dep.live(now) else project.branch_head(target.label, now)
        if dep is None:
            return _respond(404, nothing_here(host), "text/html; charset=UTF-8", ray)
    else:
        dep = project.canonical()
        if dep is None:
            return _respond(404, nothing_here(host), "text/html; charset=UTF-8", ray)
    decision = state.faults.decide("pages", (project.name, project.id, dep.id), now)
    inv = await _faulted(decision, ts_ms, host, ray, worker=False)
    if inv is None:
        page = pages_page(project.name, dep.id, dep.environment, dep.branch, dep.commit_hash)
        inv = Invocation(200, page, "text/html; charset=UTF-8", cpu_ms=0.7)
        inv.log("log", ts_ms, f"{request.method} {request.path}")
    script_name = project.script_name(dep.environment)
    return _finish(
        state,
        request,
        inv,
        started=started,
        now=now,
        ray=ray,
        host=host,
        kind="pages",
        subject=script_name,
        scope=("pages", dep.id),
        script_name=script_name,
        version_id=dep.id,
    )


def _finish(
    state: SimState,
    request: web.Request,
    inv: Invocation,
    *,
    started: float,
    now: float,
    ray: str,
    host: str,
    kind: Kind,
    subject: str,
    scope: tuple[str, str],
    script_name: str,
    version_id: str,
) -> web.Response:
    """Record the sample, publish the tail event and build the HTTP response."""
    duration_ms = (time.perf_counter() - started) * 1000 + inv.cpu_ms
    state.analytics.record(
        Sample(
            ts=now,
            kind=kind,
            subject=subject,
            action="fetch",
            status=inv.invocation_status,
            http_status=inv.status,
            duration_ms=duration_ms,
            cpu_ms=inv.cpu_ms,
            subrequests=inv.subrequests,
            item=request.path,
            host=host,
        )
    )
    url = f"https://{host}{request.path_qs}"
    client_ip = request.remote or "127.0.0.1"
    headers = dict(request.headers)
    req = request_info(url, request.method, headers, client_ip, ray)
    message = trace_message(script_name, inv, int(now * 1000), req, version_id)
    state.tails.publish(
        TraceEvent(
            scope=scope,
            message=message,
            outcome=inv.outcome,
            method=request.method,
            headers={**{k.lower(): v for k, v in headers.items()}, "cf-ray": ray_header(ray)},
            client_ip=client_ip,
            version_id=version_id,
            searchable=url + " " + _searchable(inv),
        ),
        now,
    )
    return _respond(inv.status, inv.body, inv.content_type, ray)


def _searchable(inv: Invocation) -> str:
    parts = [str(m) for log in inv.logs for m in log["message"]]
    parts += [f"{e['name']}: {e['message']}" for e in inv.exceptions]
    return " ".join(parts)


def _respond(status: int, body: bytes, content_type: str, ray: str) -> web.Response:
    return web.Response(
        status=status,
        body=body,
        headers={
            "Content-Type": content_type,
            "Server": "cloudflare",
            "CF-Ray": ray_header(ray),
        },
    )
