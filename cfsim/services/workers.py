"""Simulated workers service (placeholder until its endpoints land)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from cfsim.state import SimState


class WorkersStore:
    """State of the workers service."""

    def aliases(self, value: str) -> tuple[str, ...]:
        """Names a user may know the resource with id ``value`` by."""
        return ()

    def close(self) -> None:
        """Release held resources."""


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the workers endpoints under ``prefix``."""


def seed(state: SimState) -> None:
    """Populate the SpaceVision account's workers resources."""
