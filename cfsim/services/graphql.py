"""Simulated graphql service (placeholder until its endpoints land)."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the graphql endpoints under ``prefix``."""
