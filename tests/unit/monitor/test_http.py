"""The HTTP surface's handlers, called with mocked requests (no sockets)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client import CollectorRegistry, Gauge
from pydantic import SecretStr

from monitor.http import ReloadOutcome, bearer_token, make_app, refresh_interval, token_matches

ADMIN = "admin-token-0123456789"


class FakeSurface:
    """A daemon stand-in whose answers the test sets."""

    def __init__(self, *, admin: str | None = ADMIN, ready: bool = True, alive: bool = True):
        self.admin = None if admin is None else SecretStr(admin)
        self.ready = ready
        self.alive = alive
        self.reloads: list[str] = []
        self.outcome = ReloadOutcome(True, "3 probes")

    def status_document(self) -> dict[str, Any]:
        """A minimal document."""
        return {"flarewatch": {"version": "1", "now": "2026-11-27T14:00:00Z"}, "probes": []}

    def is_ready(self) -> bool:
        """As set."""
        return self.ready

    def health(self) -> tuple[bool, str]:
        """As set."""
        return self.alive, "scheduler running" if self.alive else "heartbeat stale"

    def admin_token(self) -> SecretStr | None:
        """As set."""
        return self.admin

    async def reload(self, origin: str) -> ReloadOutcome:
        """Record the call and return the set outcome."""
        self.reloads.append(origin)
        return self.outcome

    def page_refresh_s(self) -> float:
        """Ten seconds."""
        return 10.0


async def call(
    surface: FakeSurface, method: str, path: str, headers: dict[str, str] | None = None
) -> web.Response:
    """Dispatch one request through the app's router."""
    registry = CollectorRegistry()
    Gauge("flarewatch_test_gauge", "A test gauge.", registry=registry).set(7)
    app = make_app(surface, registry)
    request = make_mocked_request(method, path, headers=headers or {}, app=app)
    match = await app.router.resolve(request)
    request._match_info = match  # the router's answer, as aiohttp's request handler sets it
    response = await match.handler(request)
    assert isinstance(response, web.Response)
    return response


def body(response: web.Response) -> Any:
    """The JSON body."""
    assert response.text is not None
    return json.loads(response.text)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Bearer {ADMIN}", ADMIN),
        (f"bearer   {ADMIN} ", ADMIN),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", None),
        (None, None),
        ("", None),
    ],
)
def test_bearer_token_reads_only_bearer_credentials(
    header: str | None, expected: str | None
) -> None:
    """Only ``Authorization: Bearer <token>`` counts as presenting the admin token."""
    assert expected == bearer_token(header)


def test_token_matches_only_the_exact_token() -> None:
    """Prefixes and near misses are refused (the comparison is constant-time)."""
    assert token_matches(ADMIN, SecretStr(ADMIN))
    assert not token_matches(ADMIN[:-1], SecretStr(ADMIN))
    assert not token_matches(ADMIN + "x", SecretStr(ADMIN))


@pytest.mark.parametrize(
    ("intervals", "expected"), [([30.0, 5.0], 5.0), ([0.2], 2.0), ([300.0], 30.0), ([], 10.0)]
)
def test_the_page_refreshes_at_the_shortest_interval_within_bounds(
    intervals: list[float], expected: float
) -> None:
    """The page refreshes as often as results change, but not madly and not rarely."""
    assert expected == refresh_interval(intervals)


async def test_healthz_is_503_when_the_scheduler_is_not_alive() -> None:
    """Uptime checks and container runtimes restart a daemon whose scheduler died."""
    assert 200 == (await call(FakeSurface(), "GET", "/healthz")).status
    response = await call(FakeSurface(alive=False), "GET", "/healthz")
    assert (503, {"status": "unhealthy", "detail": "heartbeat stale"}) == (
        response.status,
        body(response),
    )


async def test_readyz_is_503_until_ready() -> None:
    """Load balancers wait for the first round before sending traffic to the status page."""
    assert 503 == (await call(FakeSurface(ready=False), "GET", "/readyz")).status
    assert 200 == (await call(FakeSurface(ready=True), "GET", "/readyz")).status


async def test_status_is_json() -> None:
    """/api/v1/status returns the document as JSON, never cached."""
    response = await call(FakeSurface(), "GET", "/api/v1/status")
    assert ("application/json", "no-store") == (
        response.content_type,
        response.headers["Cache-Control"],
    )
    assert "1" == body(response)["flarewatch"]["version"]


async def test_the_page_is_html_with_a_content_security_policy() -> None:
    """The status page is served with its CSP as a header (and no framing)."""
    response = await call(FakeSurface(), "GET", "/")
    assert "text/html" == response.content_type
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.text is not None
    assert "<!DOCTYPE html>" in response.text


async def test_metrics_come_from_the_registry() -> None:
    """/metrics is prometheus_client's handler over the daemon's registry."""
    response = await call(FakeSurface(), "GET", "/metrics")
    assert response.body is not None
    assert b"flarewatch_test_gauge 7.0" in bytes(response.body)  # type: ignore[arg-type]


async def test_reload_is_off_without_an_admin_token() -> None:
    """No admin token configured: the endpoint refuses and says how to enable it."""
    surface = FakeSurface(admin=None)
    response = await call(surface, "POST", "/-/reload", {"Authorization": f"Bearer {ADMIN}"})
    assert 403 == response.status
    assert "server.admin_token" in body(response)["error"]
    assert [] == surface.reloads


async def test_reload_without_credentials_is_401() -> None:
    """A missing bearer token is 401 with a WWW-Authenticate challenge."""
    surface = FakeSurface()
    response = await call(surface, "POST", "/-/reload")
    assert (401, 'Bearer realm="flarewatch"') == (
        response.status,
        response.headers["WWW-Authenticate"],
    )
    assert [] == surface.reloads


async def test_reload_with_a_wrong_token_is_403() -> None:
    """A wrong token is refused and nothing is reloaded."""
    surface = FakeSurface()
    response = await call(surface, "POST", "/-/reload", {"Authorization": "Bearer wrong-token"})
    assert 403 == response.status
    assert [] == surface.reloads


async def test_reload_with_the_admin_token_reloads() -> None:
    """The right token reloads and reports the outcome."""
    surface = FakeSurface()
    response = await call(surface, "POST", "/-/reload", {"Authorization": f"Bearer {ADMIN}"})
    assert (200, {"status": "reloaded", "message": "3 probes", "problems": []}) == (
        response.status,
        body(response),
    )
    assert ["http"] == surface.reloads


async def test_a_rejected_reload_is_422_with_the_problems() -> None:
    """A bad new file is reported to the caller; the daemon keeps its running config."""
    surface = FakeSurface()
    surface.outcome = ReloadOutcome(False, "rejected", ("f.yaml:3: probes[0].interval: bad",))
    response = await call(surface, "POST", "/-/reload", {"Authorization": f"Bearer {ADMIN}"})
    assert 422 == response.status
    assert ["f.yaml:3: probes[0].interval: bad"] == body(response)["problems"]
