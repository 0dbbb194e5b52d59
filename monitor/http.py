"""The daemon's HTTP surface (aiohttp): metrics, health, status, the status page, reload.

| route | answer |
|---|---|
| ``GET /metrics`` | Prometheus text, by prometheus_client's own aiohttp handler |
| ``GET /healthz`` | 200 while the event loop and the scheduler are alive, else 503 |
| ``GET /readyz`` | 200 once the config is loaded and every probe has run, else 503 |
| ``GET /api/v1/status`` | the status document (JSON) |
| ``GET /`` | the status page (HTML, rendered from the status document) |
| ``POST /-/reload`` | reload the config file; needs ``Authorization: Bearer <admin token>`` |
| ``GET /api/v1/alerts`` | the alerts (``?state=firing``, ``?fingerprint=…``, ``?rule=…``) |
| ``GET /api/v1/silences`` | the silences (``?state=active``); ``/api/v1/silences/{id}`` one |
| ``POST /api/v1/silences`` | create a silence (admin token) |
| ``DELETE /api/v1/silences/{id}`` | expire a silence (admin token) |

``/-/reload`` answers 403 when ``server.admin_token`` is not configured (the admin API is
off), 401 without a bearer token, 403 with a wrong one (compared in constant time), 200 with
the reload's outcome, or 422 with the new file's problems (the running config stays). The
silence changes need the admin token the same way; the alert and silence routes answer 404
when the configuration has no ``alerting`` section.
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

from alerting.silences import SilenceError

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


class AlertingOff(Exception):
    """The configuration has no ``alerting`` section: there are no alerts or silences."""


class AlertsSurface(Protocol):
    """What the alert and silence routes ask of the daemon (each may raise
    :class:`AlertingOff`)."""

    def alerts_document(
        self, *, states: Sequence[str], fingerprint: str | None, rule: str | None
    ) -> dict[str, Any]:
        """``/api/v1/alerts``, filtered."""
        ...

    def silences_document(self, *, states: Sequence[str]) -> dict[str, Any]:
        """``/api/v1/silences``, filtered by state."""
        ...

    def silence_document(self, silence_id: str) -> dict[str, Any] | None:
        """One silence, or ``None``."""
        ...

    async def add_silence(self, request: object) -> dict[str, Any]:
        """Create a silence; raises :class:`alerting.silences.SilenceError`."""
        ...

    async def expire_silence(self, silence_id: str) -> dict[str, Any] | None:
        """Expire a silence; ``None`` when there is none with that id."""
        ...


_ALERT_STATES = ("pending", "firing", "resolved")
_SILENCE_STATES = ("pending", "active", "expired")
_ALERTING_OFF = {
    "status": "not_found",
    "error": "alerting is not configured: add an alerting section to the configuration "
    "(docs/alerts.md)",
}


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


def admin_refusal(surface: Surface, request: web.Request, action: str) -> web.Response | None:
    """``None`` when the request carries the admin bearer token; otherwise the answer: 403
    when the admin API is off, 401 without a bearer token, 403 with a wrong one."""
    expected = surface.admin_token()
    if expected is None:
        return _json(
            {
                "status": "forbidden",
                "error": "the admin API is off: set server.admin_token (or admin_token_file) "
                f"to allow {action}",
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
    return None


def _states(request: web.Request, allowed: Sequence[str]) -> list[str] | web.Response:
    states = [s for value in request.query.getall("state", []) for s in value.split(",") if s]
    unknown = sorted(set(states) - set(allowed))
    if unknown:
        return _json(
            {
                "status": "bad_request",
                "error": f"unknown state {', '.join(unknown)}; states: {', '.join(allowed)}",
            },
            400,
        )
    return states


def make_app(
    surface: Surface, registry: CollectorRegistry, alerts: AlertsSurface | None = None
) -> web.Application:
    """The aiohttp application serving ``surface``, the metrics in ``registry`` and, when
    given, the alert and silence API of ``alerts``."""
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
        # The page (its styles, script and icons) is loaded when first asked for: a daemon
        # that only Prometheus talks to never holds it.
        from monitor.statuspage import CONTENT_SECURITY_POLICY, render

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
        refused = admin_refusal(surface, request, "POST /-/reload, or send SIGHUP")
        if refused is not None:
            return refused
        outcome = await surface.reload("http")
        body = {
            "status": "reloaded" if outcome.ok else "rejected",
            "message": outcome.message,
            "problems": list(outcome.problems),
        }
        return _json(body, 200 if outcome.ok else 422)

    async def list_alerts(request: web.Request) -> web.Response:
        states = _states(request, _ALERT_STATES)
        if isinstance(states, web.Response):
            return states
        if alerts is None:
            return _json(_ALERTING_OFF, 404)
        try:
            document = alerts.alerts_document(
                states=states,
                fingerprint=request.query.get("fingerprint"),
                rule=request.query.get("rule"),
            )
        except AlertingOff:
            return _json(_ALERTING_OFF, 404)
        return _json(document)

    async def list_silences(request: web.Request) -> web.Response:
        states = _states(request, _SILENCE_STATES)
        if isinstance(states, web.Response):
            return states
        if alerts is None:
            return _json(_ALERTING_OFF, 404)
        try:
            return _json(alerts.silences_document(states=states))
        except AlertingOff:
            return _json(_ALERTING_OFF, 404)

    async def get_silence(request: web.Request) -> web.Response:
        if alerts is None:
            return _json(_ALERTING_OFF, 404)
        try:
            found = alerts.silence_document(request.match_info["id"])
        except AlertingOff:
            return _json(_ALERTING_OFF, 404)
        if found is None:
            return _json({"status": "not_found", "error": "no silence with that id"}, 404)
        return _json({"silence": found})

    async def add_silence(request: web.Request) -> web.Response:
        refused = admin_refusal(surface, request, "POST /api/v1/silences")
        if refused is not None:
            return refused
        if alerts is None:
            return _json(_ALERTING_OFF, 404)
        try:
            body = await request.json()
        except ValueError:
            return _json({"status": "bad_request", "error": "the body is not JSON"}, 400)
        try:
            created = await alerts.add_silence(body)
        except AlertingOff:
            return _json(_ALERTING_OFF, 404)
        except SilenceError as err:
            return _json(
                {"status": "rejected", "error": "invalid silence", "problems": list(err.problems)},
                422,
            )
        return _json({"status": "created", "silence": created}, 201)

    async def expire_silence(request: web.Request) -> web.Response:
        refused = admin_refusal(surface, request, "DELETE /api/v1/silences/{id}")
        if refused is not None:
            return refused
        if alerts is None:
            return _json(_ALERTING_OFF, 404)
        try:
            expired = await alerts.expire_silence(request.match_info["id"])
        except AlertingOff:
            return _json(_ALERTING_OFF, 404)
        if expired is None:
            return _json({"status": "not_found", "error": "no silence with that id"}, 404)
        return _json({"status": "expired", "silence": expired})

    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/", page)
    app.router.add_post("/-/reload", reload)
    app.router.add_get("/api/v1/alerts", list_alerts)
    app.router.add_get("/api/v1/silences", list_silences)
    app.router.add_post("/api/v1/silences", add_silence)
    app.router.add_get("/api/v1/silences/{id}", get_silence)
    app.router.add_delete("/api/v1/silences/{id}", expire_silence)
    return app


def refresh_interval(intervals: Sequence[float]) -> float:
    """The status page's refresh: the shortest probe interval, between 2 and 30 seconds."""
    shortest = min((i for i in intervals if math.isfinite(i) and i > 0), default=10.0)
    return min(30.0, max(2.0, shortest))
