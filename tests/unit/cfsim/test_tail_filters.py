"""Tail filters (AND across filters, OR inside one) and the overload sampler."""

from __future__ import annotations

from typing import Any

import pytest

from cfsim.services.tail import Sampler, TailFilter, TraceEvent, info_message, matches


def event(**kw: Any) -> TraceEvent:
    """A GET that succeeded, from 10.0.0.1, version v1, with an ``x-debug: 1`` header."""
    base: dict[str, Any] = {
        "scope": ("worker", "api"),
        "message": {},
        "outcome": "ok",
        "method": "GET",
        "headers": {"x-debug": "1"},
        "client_ip": "10.0.0.1",
        "version_id": "v1",
        "searchable": "https://api.example.com/health GET /health ok",
    }
    return TraceEvent(**{**base, **kw})


def filters(*items: dict[str, Any]) -> list[TailFilter]:
    """Filters as the API body gives them."""
    return [TailFilter.model_validate(i) for i in items]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([], True),
        ([{"outcome": ["ok"]}], True),
        ([{"outcome": ["exception", "exceededCpu"]}], False),
        ([{"method": ["get"]}], True),
        ([{"method": ["POST"]}], False),
        ([{"header": {"key": "X-Debug"}}], True),
        ([{"header": {"key": "x-debug", "query": "1"}}], True),
        ([{"header": {"key": "x-debug", "query": "2"}}], False),
        ([{"header": {"key": "x-other"}}], False),
        ([{"client_ip": ["10.0.0.1", "10.0.0.2"]}], True),
        ([{"client_ip": ["self"]}], True),
        ([{"client_ip": ["192.0.2.1"]}], False),
        ([{"query": "/health"}], True),
        ([{"query": "/stars"}], False),
        ([{"scriptVersion": "v1"}], True),
        ([{"scriptVersion": "v2"}], False),
        ([{"method": ["GET"]}, {"outcome": ["exception"]}], False),
    ],
)
def test_filters_match(given: list[dict[str, Any]], expected: bool) -> None:
    """Each filter kind keeps or drops the event; several filters must all pass."""
    assert expected == matches(filters(*given), event(), "10.0.0.1", lambda: 0.0)


@pytest.mark.parametrize(("roll", "expected"), [(0.24, True), (0.25, False)])
def test_sampling_rate(roll: float, expected: bool) -> None:
    """sampling_rate 0.25 keeps a quarter of the events."""
    assert expected == matches(filters({"sampling_rate": 0.25}), event(), "x", lambda: roll)


def test_sampler_enters_sampling_past_the_limit() -> None:
    """The third event in a window of limit 2 starts sampling and is dropped."""
    sampler = Sampler(limit=2)
    results = [sampler.admit(t) for t in (0.0, 0.1, 0.2)]
    assert [(True, None), (True, None), (False, "overload")] == results


def test_sampler_leaves_sampling_when_traffic_calms() -> None:
    """Once the rate falls to half the limit, sampling stops with overload-stop."""
    sampler = Sampler(limit=2)
    for t in (0.0, 0.1, 0.2):
        sampler.admit(t)
    assert (True, "overload-stop") == sampler.admit(5.0)


def test_overload_info_message_shape() -> None:
    """The info event carries wrangler's message and type, with empty logs and exceptions."""
    message = info_message("api", "overload-stop", 1.5)
    assert {
        "outcome": "ok",
        "scriptName": "api",
        "exceptions": [],
        "logs": [],
        "eventTimestamp": 1500,
        "event": {
            "message": "Tail has exited sampling mode and is no longer dropping messages.",
            "type": "overload-stop",
        },
    } == message
