"""Identifiers and timestamps shaped like Cloudflare's."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def new_id() -> str:
    """Return a 32-character lowercase hex identifier, as Cloudflare uses for most objects."""
    return secrets.token_hex(16)


def new_uuid() -> str:
    """Return a dashed UUID-style identifier (D1 databases, Workers versions and deployments)."""
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def iso(ts: datetime | None = None) -> str:
    """Format a timestamp the way Cloudflare does: RFC 3339 with microseconds and ``Z``."""
    ts = ts or datetime.now(UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> datetime:
    """Return the current time in UTC (one place to read the clock)."""
    return datetime.now(UTC)
