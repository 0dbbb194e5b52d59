"""The simulated edge: deployed Workers and Pages projects answering HTTP (placeholder)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from cfsim.state import SimState


def resolve_host(state: SimState, host: str) -> Any | None:
    """Return what serves ``host`` on the edge, or ``None`` when it is not an edge hostname."""
    return None


async def serve(state: SimState, target: Any, request: web.Request) -> web.StreamResponse:
    """Serve one edge request."""
    raise web.HTTPNotFound()
