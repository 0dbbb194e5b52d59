"""The simulator's aiohttp application: routing, auth, rate limiting, faults and controls.

Request path, outermost first:

1. ``edge``: a request whose ``Host`` is a deployed Worker's or Pages project's hostname is
   served by the edge (:mod:`cfsim.services.edge`), as Cloudflare's network would.
2. ``record``: every request goes into the request log (secrets redacted).
3. ``errors``: :class:`~cfsim.envelope.CfHttpError` and routing misses become Cloudflare's
   failure envelope; nothing escapes as a 500 page or a traceback.
4. ``api_gate``: under ``/client/v4`` only — authentication, the rate limit, then faults.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from aiohttp import web

from cfsim import controls
from cfsim.context import STATE, state_of
from cfsim.envelope import (
    CODE_AUTH,
    CODE_INTERNAL,
    CODE_METHOD_NOT_ALLOWED,
    CODE_NO_ROUTE,
    CODE_RATE_LIMITED,
    CfHttpError,
)
from cfsim.graphql_engine import error_body
from cfsim.graphql_filters import QueryError
from cfsim.requestlog import LoggedRequest, redact_headers, redact_query
from cfsim.services import (
    accounts,
    d1,
    dns,
    edge,
    graphql,
    kv,
    lb,
    pages,
    r2,
    tail,
    workers,
    zones,
)
from cfsim.state import SimState

API_PREFIX = "/client/v4"
log = structlog.get_logger("cfsim")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Path parameters that name one resource; faults can target any of them by id or name.
# Load-balancer pools are left out on purpose: a fault on a pool makes its origins report
# unhealthy (cfsim.services.lb), it does not take the pool's own API down.
RESOURCE_PARAMS = (
    "zone_id",
    "script_name",
    "project_name",
    "namespace_id",
    "bucket_name",
    "database_id",
)

_SERVICE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/dns_records"), "dns"),
    (re.compile(r"/workers/"), "workers"),
    (re.compile(r"/pages/"), "pages"),
    (re.compile(r"/storage/kv/"), "kv"),
    (re.compile(r"/r2/|/event_notifications/r2/"), "r2"),
    (re.compile(r"/d1/"), "d1"),
    (re.compile(r"^/client/v4/graphql$"), "graphql"),
)

_TOKEN_FORMAT = re.compile(r"^[A-Za-z0-9_\-.]{8,200}$")


def service_for(path: str) -> str:
    """Name the simulated service a request path belongs to (``api`` for the rest)."""
    for pattern, service in _SERVICE_PATTERNS:
        if pattern.search(path):
            return service
    return "api"


def resources_for(state: SimState, request: web.Request) -> tuple[str, ...]:
    """Ids in the path plus the names users know them by (for fault matching)."""
    names: list[str] = []
    for param in RESOURCE_PARAMS:
        value = request.match_info.get(param)
        if value:
            names.append(value)
            names.extend(state.aliases(param, value))
    return tuple(names)


def _authenticate(state: SimState, request: web.Request) -> None:
    """Check credentials the way Cloudflare does, raising its error envelopes."""
    authorization = request.headers.get("Authorization")
    email = request.headers.get("X-Auth-Email")
    key = request.headers.get("X-Auth-Key")
    if authorization is None and not (email or key):
        raise CfHttpError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not _TOKEN_FORMAT.match(token.strip()):
            raise _header_format_error(6111, "Authorization")
        if token.strip() != state.token:
            if request.path.endswith("/tokens/verify"):
                raise CfHttpError(401, 1000, "Invalid API Token")
            raise CfHttpError(403, CODE_AUTH, "Authentication error")
        return
    if not email or "@" not in email:
        raise _header_format_error(6102, "X-Auth-Email")
    if not key or not state.legacy_key or key != state.legacy_key or email != state.legacy_email:
        raise CfHttpError(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")


def _header_format_error(code: int, header: str) -> CfHttpError:
    err = CfHttpError(400, 6003, "Invalid request headers")
    err.errors[0]["error_chain"] = [
        {"code": code, "message": f"Invalid format for {header} header"}
    ]
    return err


def _credential_key(request: web.Request) -> str:
    auth = request.headers.get("Authorization")
    return auth or f"{request.headers.get('X-Auth-Email')}:{request.headers.get('X-Auth-Key')}"


@web.middleware
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Send requests for deployed hostnames to the simulated edge."""
    state = state_of(request)
    host = (request.host or "").split(":")[0].lower()
    target = edge.resolve_host(state, host)
    if target is not None:
        return await edge.serve(state, target, request)
    return await handler(request)


@web.middleware
async def record_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log every request with its outcome, secrets redacted."""
    state = state_of(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if not request.path.startswith("/__sim/"):
            state.log.add(
                LoggedRequest(
                    ts=state.clock(),
                    method=request.method,
                    path=request.path,
                    query=redact_query(request.query_string),
                    service=service_for(request.path),
                    status=status,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    headers=redact_headers(dict(request.headers)),
                )
            )


def _render(request: web.Request, err: CfHttpError) -> web.Response:
    """The REST failure envelope, or GraphQL's ``{data: null, errors}`` body on ``/graphql``."""
    if service_for(request.path) != "graphql":
        return err.response()
    errors = [QueryError(str(e["message"])) for e in err.errors]
    body = error_body(state_of(request).clock(), errors)
    return web.json_response(body, status=err.status, headers=err.headers)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into Cloudflare's envelope (API) or a plain error (elsewhere)."""
    try:
        return await handler(request)
    except CfHttpError as err:
        return _render(request, err)
    except web.HTTPNotFound:
        return _render(request, CfHttpError(404, CODE_NO_ROUTE, "No route for the URI"))
    except web.HTTPMethodNotAllowed:
        return _render(request, CfHttpError(405, CODE_METHOD_NOT_ALLOWED, "Method not allowed"))
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        # A bug in the simulator must still answer in the API's shape, and say so loudly.
        log.exception("sim_handler_failed", method=request.method, path=request.path)
        return CfHttpError(500, CODE_INTERNAL, "Internal simulator error").response()


@web.middleware
async def api_gate_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate, rate-limit and apply faults to API calls."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    state = state_of(request)
    _authenticate(state, request)
    now = state.clock()
    allowed, remaining, reset = state.limiter.hit(_credential_key(request), now)
    limit_headers = state.limiter.headers(remaining, reset)
    service = service_for(request.path)
    decision = state.faults.decide(service, resources_for(state, request), now)
    if not allowed or decision.rate_limit:
        retry = max(1, int(reset + 0.999)) if not allowed else 30
        headers = {**limit_headers, "Retry-After": str(retry)}
        if decision.rate_limit and allowed:
            headers["Ratelimit"] = f'"default";r=0;t={retry}'
        raise CfHttpError(
            429,
            CODE_RATE_LIMITED,
            "Rate limited. Please wait and consider throttling your request speed",
            headers=headers,
        )
    if decision.latency_s:
        await asyncio.sleep(decision.latency_s)
    if decision.outage:
        raise CfHttpError(
            503, CODE_INTERNAL, f"Service unavailable: {service} is experiencing an outage"
        )
    if decision.error_status is not None:
        raise CfHttpError(
            decision.error_status,
            decision.error_code or CODE_INTERNAL,
            decision.error_message or f"Simulated {service} failure",
            headers=limit_headers,
        )
    response = await handler(request)
    if not response.prepared:
        response.headers.update(limit_headers)
    return response


def build_app(
    state: SimState, *, outer_middlewares: Iterable[Any] = (), client_max_size: int = 64 * 1024**2
) -> web.Application:
    """Build the simulator application around ``state``.

    ``outer_middlewares`` run first and see every final response, errors included; the test
    suite uses this to record each exchange and validate it against Cloudflare's schema.
    """
    app = web.Application(
        middlewares=[
            *outer_middlewares,
            edge_middleware,
            record_middleware,
            errors_middleware,
            api_gate_middleware,
        ],
        client_max_size=client_max_size,
    )
    app[STATE] = state
    for module in (accounts, zones, dns, workers, pages, kv, r2, d1, lb, graphql):
        module.add_routes(app, API_PREFIX)
    tail.add_routes(app)
    controls.add_routes(app)
    app.on_shutdown.append(_close_tails)
    app.on_cleanup.append(_close_state)
    return app


async def _close_tails(app: web.Application) -> None:
    await app[STATE].tails.close_all()


async def _close_state(app: web.Application) -> None:
    app[STATE].close()
