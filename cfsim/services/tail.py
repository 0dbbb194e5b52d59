"""Tail WebSocket sessions (placeholder until Workers tails land)."""

from __future__ import annotations

from aiohttp import web


class TailHub:
    """Open tail sessions and the events published to them."""

    async def close_all(self) -> None:
        """Close every open tail WebSocket."""


def add_routes(app: web.Application) -> None:
    """Register the tail WebSocket endpoint."""
