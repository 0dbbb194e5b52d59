"""The daemon's HTTP surface (aiohttp): metrics, health, status, the status page, reload.

| route | answer |
|---|---|
| ``GET /metrics`` | Prometheus text, by prometheus_client's own aiohttp handler |
| ``GET /healthz`` | 200 while the event loop and the scheduler are alive, else 503 |
| ``GET /readyz`` | 200 once the config is loaded and every probe has run, else 503 |
| ``GET /api/v1/status`` | the status document (JSON) |
| ``GET /`` | the status page (HTML, rendered from the status document) |
| ``POST /-/reload`` | reload the config file; needs ``Authorization: Bearer <admin token>`` |

``/-/reload`` answers 403 when ``server.admin_token`` is not configured (the admin API is
off), 401 without a bearer token, 403 with a wrong one (compared in constant time), 200 with
the reload's outcome, or 422 with the new file's problems (the running config stays).
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler
from pydantic import SecretStr

from monitor.statuspage import CONTENT_SECURITY_POLICY, render

_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: ``ok``, a one-line ``message``, and the new file's ``problems``."""

    ok: bool
    message: str
    problems: Sequence[str] = field(default_factory=tuple)


class Surface(Protocol):
    """What the HTTP surface asks of the daemon."""

    def status_document(self) -> dict[str, Any]:
        """The ``/api/v1/status`` document, now."""
        ...

    def is_ready(self) -> bool:
        """Config loaded and first round done."""
        ...

    def health(self) -> tuple[bool, str]:
        """Whether the loop and scheduler are alive, and a short reason."""
        ...

    def admin_token(self) -> SecretStr | None:
        """The configured admin token (``None``: the admin API is off)."""
        ...

    async def reload(self, origin: str) -> ReloadOutcome:
        """Reload the configuration file."""
        ...

    def page_refresh_s(self) -> float:
        """How often the status page should refresh itself."""
        ...


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(data, indent=2, allow_nan=False),
        content_type="application/json",
        headers={**_SECURITY_HEADERS, **(headers or {})},
    )


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (``None`` if absent/other)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def token_matches(given: str, expected: SecretStr) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    return hmac.compare_digest(given.encode(), expected.get_secret_value().strip().encode())


def make_app(surface: Surface, registry: CollectorRegistry) -> web.Application:
    """The aiohttp application serving ``surface`` and the metrics in ``registry``."""
    app = web.Application()
    metrics_handler = make_aiohttp_handler(registry)

    async def healthz(request: web.Request) -> web.Response:
        alive, detail = surface.health()
        return _json(
            {"status": "ok" if alive else "unhealthy", "detail": detail}, 200 if alive else 503
        )

    async def readyz(request: web.Request) -> web.Response:
        ready = surface.is_ready()
        return _json({"ready": ready}, 200 if ready else 503)

    async def status(request: web.Request) -> web.Response:
        return _json(surface.status_document())

    async def page(request: web.Request) -> web.Response:
        refresh = surface.page_refresh_s()
        html = render(surface.status_document(), refresh_s=refresh)
        response = web.Response(
            text=html,
            content_type="text/html",
            charset="utf-8",
            headers={
                **_SECURITY_HEADERS,
                "Content-Security-Policy": CONTENT_SECURITY_POLICY + "; frame-ancestors 'none'",
                "Referrer-Policy": "no-referrer",
            },
        )
        # A 200-probe page is about 480 KiB of HTML and compresses about 20x.
        response.enable_compression()
        return response

    async def reload(request: web.Request) -> web.Response:
        expected = surface.admin_token()
        if expected is None:
            return _json(
                {
                    "status": "forbidden",
                    "error": "the admin API is off: set server.admin_token (or "
                    "admin_token_file) to allow POST /-/reload, or send SIGHUP",
                },
                403,
            )
        given = bearer_token(request.headers.get("Authorization"))
        if given is None:
            return _json(
                {"status": "unauthorized", "error": "send Authorization: Bearer <admin token>"},
                401,
                {"WWW-Authenticate": 'Bearer realm="flarewatch"'},
            )
        if not token_matches(given, expected):
            return _json({"status": "forbidden", "error": "wrong admin token"}, 403)
        outcome = await surface.reload("http")
        body = {
            "status": "reloaded" if outcome.ok else "rejected",
            "message": outcome.message,
            "problems": list(outcome.problems),
        }
        return _json(body, 200 if outcome.ok else 422)

    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/", page)
    app.router.add_post("/-/reload", reload)
    return app


def refresh_interval(intervals: Sequence[float]) -> float:
    """The status page's refresh: the shortest probe interval, between 2 and 30 seconds."""
    shortest = min((i for i in intervals if math.isfinite(i) and i > 0), default=10.0)
    return min(30.0, max(2.0, shortest))
