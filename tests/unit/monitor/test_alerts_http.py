"""The alert and silence routes of the HTTP surface, with mocked requests (no sockets)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest import mock

from aiohttp import streams, web
from aiohttp.test_utils import make_mocked_request
from prometheus_client import CollectorRegistry

from alerting.silences import SilenceError
from monitor.http import AlertingOff, make_app
from tests.unit.monitor.test_http import ADMIN, FakeSurface, body

AUTH = {"Authorization": f"Bearer {ADMIN}"}


class FakeAlerts:
    """An alert service stand-in that records what it was asked."""

    def __init__(self, *, off: bool = False) -> None:
        self.off = off
        self.queries: list[dict[str, Any]] = []
        self.created: list[object] = []
        self.expired: list[str] = []
        self.refuse: SilenceError | None = None

    def _on(self) -> None:
        if self.off:
            raise AlertingOff

    def alerts_document(
        self, *, states: Any, fingerprint: str | None, rule: str | None
    ) -> dict[str, Any]:
        """Record the filters."""
        self._on()
        self.queries.append({"states": list(states), "fingerprint": fingerprint, "rule": rule})
        return {"evaluated_at": None, "alerts": []}

    def silences_document(self, *, states: Any) -> dict[str, Any]:
        """Record the filter."""
        self._on()
        self.queries.append({"states": list(states)})
        return {"silences": []}

    def silence_document(self, silence_id: str) -> dict[str, Any] | None:
        """Only ``s1`` exists."""
        self._on()
        return {"id": "s1"} if silence_id == "s1" else None

    async def add_silence(self, request: object) -> dict[str, Any]:
        """Record the body, or refuse it as set."""
        self._on()
        if self.refuse is not None:
            raise self.refuse
        self.created.append(request)
        return {"id": "s2"}

    async def expire_silence(self, silence_id: str) -> dict[str, Any] | None:
        """Only ``s1`` exists."""
        self._on()
        self.expired.append(silence_id)
        return {"id": "s1", "state": "expired"} if silence_id == "s1" else None


async def call(
    alerts: FakeAlerts | None,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    admin: str | None = ADMIN,
) -> web.Response:
    """Dispatch one request through the app's router."""
    app = make_app(FakeSurface(admin=admin), CollectorRegistry(), alerts)
    payload: Any = mock.sentinel.payload
    if data is not None:
        payload = streams.StreamReader(
            mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop()
        )
        payload.feed_data(data)
        payload.feed_eof()
    request = make_mocked_request(method, path, headers=headers or {}, app=app, payload=payload)
    match = await app.router.resolve(request)
    request._match_info = match
    response = await match.handler(request)
    assert isinstance(response, web.Response)
    return response


async def test_alerts_are_listed_with_the_filters_given() -> None:
    """?state (repeated or comma-separated), ?fingerprint and ?rule reach the service."""
    alerts = FakeAlerts()
    response = await call(alerts, "GET", "/api/v1/alerts?state=firing,pending&rule=worker_down")
    assert 200 == response.status
    assert [{"states": ["firing", "pending"], "fingerprint": None, "rule": "worker_down"}] == (
        alerts.queries
    )


async def test_an_unknown_state_is_a_400_naming_the_states() -> None:
    """A typo in a filter is not silently an empty list."""
    response = await call(FakeAlerts(), "GET", "/api/v1/alerts?state=fireing")
    assert 400 == response.status
    assert "unknown state fireing; states: pending, firing, resolved" == body(response)["error"]


async def test_without_alerting_the_routes_say_how_to_turn_it_on() -> None:
    """404 with the fix, whether the daemon has no alert service at all or it is off."""
    for alerts in (None, FakeAlerts(off=True)):
        for method, path in (("GET", "/api/v1/alerts"), ("GET", "/api/v1/silences")):
            response = await call(alerts, method, path)
            assert 404 == response.status
            assert "add an alerting section" in body(response)["error"]


async def test_creating_a_silence_needs_the_admin_token() -> None:
    """401 without a token, 403 with a wrong one, 403 when the admin API is off."""
    alerts = FakeAlerts()
    missing = await call(alerts, "POST", "/api/v1/silences", data=b"{}")
    wrong = await call(
        alerts, "POST", "/api/v1/silences", headers={"Authorization": "Bearer nope"}, data=b"{}"
    )
    off = await call(alerts, "POST", "/api/v1/silences", headers=AUTH, data=b"{}", admin=None)
    assert (401, 403, 403) == (missing.status, wrong.status, off.status)
    assert "POST /api/v1/silences" in body(off)["error"]
    assert [] == alerts.created


async def test_a_silence_is_created_with_the_token() -> None:
    """201 with the stored silence."""
    alerts = FakeAlerts()
    sent = {"matchers": ["probe=api"], "duration": "1h"}
    response = await call(
        alerts, "POST", "/api/v1/silences", headers=AUTH, data=json.dumps(sent).encode()
    )
    assert (201, {"status": "created", "silence": {"id": "s2"}}) == (
        response.status,
        body(response),
    )
    assert [sent] == alerts.created


async def test_an_invalid_silence_is_a_422_listing_every_problem() -> None:
    """The caller learns everything to fix in one answer."""
    alerts = FakeAlerts()
    alerts.refuse = SilenceError(["comment is required", "matchers is required"])
    response = await call(alerts, "POST", "/api/v1/silences", headers=AUTH, data=b"{}")
    assert 422 == response.status
    assert ["comment is required", "matchers is required"] == body(response)["problems"]


async def test_a_body_that_is_not_json_is_a_400() -> None:
    """Not a validation problem: the request itself is malformed."""
    response = await call(FakeAlerts(), "POST", "/api/v1/silences", headers=AUTH, data=b"{x")
    assert (400, "the body is not JSON") == (response.status, body(response)["error"])


async def test_expiring_needs_the_token_and_an_existing_silence() -> None:
    """DELETE: 401 without the token; 404 for an unknown id; 200 with the expired silence."""
    alerts = FakeAlerts()
    refused = await call(alerts, "DELETE", "/api/v1/silences/s1")
    unknown = await call(alerts, "DELETE", "/api/v1/silences/nope", headers=AUTH)
    done = await call(alerts, "DELETE", "/api/v1/silences/s1", headers=AUTH)
    assert (401, 404, 200) == (refused.status, unknown.status, done.status)
    assert ["nope", "s1"] == alerts.expired


async def test_one_silence_can_be_read_without_the_token() -> None:
    """Reading is open, like the status page; an unknown id is a 404."""
    found = await call(FakeAlerts(), "GET", "/api/v1/silences/s1")
    missing = await call(FakeAlerts(), "GET", "/api/v1/silences/s9")
    assert (200, 404) == (found.status, missing.status)
    assert {"silence": {"id": "s1"}} == body(found)
