"""The simulator's own controls under ``/__sim/``: faults, request log, traffic, reset.

No authentication: the simulator listens on loopback for tests, demos and drills.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cfsim.analytics import BackgroundTraffic
from cfsim.context import state_of
from cfsim.envelope import CfHttpError, ok, read_model
from cfsim.faults import FaultSpec


class ConfigBody(BaseModel):
    """Settings accepted by ``PUT /__sim/config``."""

    model_config = ConfigDict(extra="forbid")

    rate_limit: int | None = Field(default=None, ge=1, description="Requests per window per token.")
    rate_window_s: float | None = Field(default=None, gt=0)


class TrafficBody(BaseModel):
    """Background traffic for one subject, accepted by ``POST /__sim/traffic``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["workers", "pages", "kv", "r2", "d1", "lb"]
    subject: str = Field(min_length=1)
    rps: float = Field(ge=0, le=100_000)
    error_ratio: float = Field(default=0.0, ge=0, le=1)
    cpu_ms: float = Field(default=2.0, ge=0)
    duration_ms: float = Field(default=20.0, ge=0)
    latency_ms: float = Field(default=8.0, ge=0)


# Close codes a server may send in a close frame (RFC 6455 §7.4; 1004-1006 and 1015 are
# reserved and never sent). 1000 is a clean stop, which is no drill of a reconnect.
_SENDABLE_CLOSE_CODES = frozenset({1001, 1002, 1003, *range(1007, 1015)})


class TailDisconnectBody(BaseModel):
    """Body of ``POST /__sim/tails/disconnect``: which tail (default every one), and how."""

    model_config = ConfigDict(extra="forbid")

    tail_id: str | None = Field(default=None, min_length=1)
    code: int | None = Field(
        default=None,
        description="Close code to send; omitted, the TCP connection is dropped (1006).",
    )

    @field_validator("code")
    @classmethod
    def _sendable(cls, code: int | None) -> int | None:
        if code is None or code in _SENDABLE_CLOSE_CODES or 3000 <= code <= 4999:
            return code
        raise ValueError(
            "code must be a close code a server can send other than 1000: 1001-1003, "
            "1007-1014 or 3000-4999 (omit it to drop the connection, which the client sees "
            "as 1006)"
        )


async def index(request: web.Request) -> web.Response:
    """GET /__sim/: what the simulator is and how to drive it."""
    state = state_of(request)
    return ok(
        {
            "account_id": state.account_id,
            "api": f"{request.scheme}://{request.host}/client/v4",
            "controls": {
                "faults": "GET, POST, DELETE /__sim/faults; DELETE /__sim/faults/{id}",
                "requests": "GET, DELETE /__sim/requests",
                "traffic": "GET, POST /__sim/traffic",
                "config": "GET, PUT /__sim/config",
                "tails": "GET /__sim/tails; POST /__sim/tails/disconnect",
                "reset": "POST /__sim/reset",
            },
        }
    )


async def list_faults(request: web.Request) -> web.Response:
    """GET /__sim/faults."""
    state = state_of(request)
    now = state.clock()
    return ok([f.as_dict(now) for f in state.faults.active(now)])


async def add_fault(request: web.Request) -> web.Response:
    """POST /__sim/faults: activate a fault (see README for the fields)."""
    state = state_of(request)
    spec = await read_model(request, FaultSpec)
    fault = state.faults.add(spec, state.clock())
    return ok(fault.as_dict(state.clock()), status=201)


async def clear_faults(request: web.Request) -> web.Response:
    """DELETE /__sim/faults: clear every fault."""
    state_of(request).faults.clear()
    return ok(None)


async def delete_fault(request: web.Request) -> web.Response:
    """DELETE /__sim/faults/{id}."""
    fault_id = request.match_info["fault_id"]
    if not state_of(request).faults.remove(fault_id):
        raise CfHttpError(404, 7003, f"No fault {fault_id!r}")
    return ok({"id": fault_id})


async def list_requests(request: web.Request) -> web.Response:
    """GET /__sim/requests[?service=S&limit=N]: the request log, secrets redacted."""
    state = state_of(request)
    service = request.query.get("service")
    try:
        limit = int(request.query.get("limit", "1000"))
    except ValueError as err:
        raise CfHttpError(400, 1001, "limit must be a whole number") from err
    items = [r.as_dict() for r in state.log.items() if service is None or r.service == service]
    return ok(items[-limit:] if limit > 0 else [])


async def clear_requests(request: web.Request) -> web.Response:
    """DELETE /__sim/requests."""
    state_of(request).log.clear()
    return ok(None)


async def get_config(request: web.Request) -> web.Response:
    """GET /__sim/config."""
    limiter = state_of(request).limiter
    return ok({"rate_limit": limiter.limit, "rate_window_s": limiter.window_s})


async def put_config(request: web.Request) -> web.Response:
    """PUT /__sim/config: change the rate-limit budget (resets the windows)."""
    limiter = state_of(request).limiter
    body = await read_model(request, ConfigBody)
    if body.rate_limit is not None:
        limiter.limit = body.rate_limit
    if body.rate_window_s is not None:
        limiter.window_s = body.rate_window_s
    limiter.reset()
    return ok({"rate_limit": limiter.limit, "rate_window_s": limiter.window_s})


async def list_traffic(request: web.Request) -> web.Response:
    """GET /__sim/traffic: background traffic in force."""
    analytics = state_of(request).analytics
    return ok([vars(t) for t in analytics.background.values()])


async def set_traffic(request: web.Request) -> web.Response:
    """POST /__sim/traffic: set background traffic for one subject (``rps: 0`` removes it)."""
    body = await read_model(request, TrafficBody)
    state_of(request).analytics.set_background(BackgroundTraffic(**body.model_dump()))
    return ok(body.model_dump())


async def list_tails(request: web.Request) -> web.Response:
    """GET /__sim/tails: every tail session, with its open sockets (expired ones included)."""
    state = state_of(request)
    now = state.clock()
    return ok(
        [
            {
                "id": s.id,
                "kind": s.scope[0],
                "name": s.scope[1],
                "script_name": s.script_name,
                "connections": len(s.connections),
                "delivered": s.delivered,
                "expired": s.expired(now),
            }
            for s in state.tails.sessions.values()
        ]
    )


async def disconnect_tails(request: web.Request) -> web.Response:
    """POST /__sim/tails/disconnect: cut tail sockets abnormally, as an edge restart does.

    Body (optional): ``{"tail_id": ID}`` for one tail, every tail otherwise; ``{"code": N}``
    to close with that code instead of dropping the connection. The tails stay: clients can
    reconnect to the same URL.
    """
    state = state_of(request)
    body = (
        await read_model(request, TailDisconnectBody)
        if request.can_read_body
        else TailDisconnectBody()
    )
    if body.tail_id is not None and state.tails.get(body.tail_id) is None:
        raise CfHttpError(404, 7003, f"No tail {body.tail_id!r}")
    cut = await state.tails.disconnect(body.tail_id, body.code)
    return ok({"disconnected": cut, "code": body.code if body.code is not None else 1006})


async def reset(request: web.Request) -> web.Response:
    """POST /__sim/reset: back to the seed, no faults, empty logs, fresh rate limits."""
    from cfsim.seed import reseed  # the seed imports every store; keep that off the hot path

    state = state_of(request)
    discarded_tails = state.tails
    reseed(state)
    # Tails of the old state are gone: their sockets close now, as a deleted tail's do.
    await discarded_tails.close_all()
    return ok(None)


def add_routes(app: web.Application) -> None:
    """Register the ``/__sim/`` controls."""
    r = app.router
    r.add_get("/__sim/", index)
    r.add_get("/__sim/faults", list_faults)
    r.add_post("/__sim/faults", add_fault)
    r.add_delete("/__sim/faults", clear_faults)
    r.add_delete("/__sim/faults/{fault_id}", delete_fault)
    r.add_get("/__sim/requests", list_requests)
    r.add_delete("/__sim/requests", clear_requests)
    r.add_get("/__sim/config", get_config)
    r.add_put("/__sim/config", put_config)
    r.add_get("/__sim/traffic", list_traffic)
    r.add_post("/__sim/traffic", set_traffic)
    r.add_get("/__sim/tails", list_tails)
    r.add_post("/__sim/tails/disconnect", disconnect_tails)
    r.add_post("/__sim/reset", reset)
