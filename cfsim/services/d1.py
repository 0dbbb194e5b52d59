"""Simulated d1 service (placeholder until its endpoints land)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from cfsim.state import SimState


class D1Store:
    """State of the d1 service."""

    def aliases(self, value: str) -> tuple[str, ...]:
        """Names a user may know the resource with id ``value`` by."""
        return ()

    def close(self) -> None:
        """Release held resources."""


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the d1 endpoints under ``prefix``."""


def seed(state: SimState) -> None:
    """Populate the SpaceVision account's d1 resources."""
