"""How handlers reach the simulator state (kept apart from the stores to avoid cycles)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from cfsim.state import SimState

STATE: web.AppKey[SimState] = web.AppKey("cfsim_state")


def state_of(request: web.Request) -> SimState:
    """The simulator state behind a request."""
    return request.app[STATE]
