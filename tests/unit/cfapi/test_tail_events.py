"""Parsing trace-v1 tail messages into typed events, and the tail's timing helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cfapi.tail import DEFAULT_TTL_S, expiry_in, renewal_delay
from cfapi.tail_events import (
    TailEvent,
    TailGap,
    TailMessageError,
    TailSampling,
    event_kind,
    parse_tail_message,
)

FETCH_EVENT: dict[str, Any] = {
    "outcome": "exception",
    "scriptName": "my-worker",
    "entrypoint": None,
    "eventTimestamp": 1732700000000,
    "exceptions": [
        {"name": "Error", "message": "boom", "timestamp": 1732700000012, "stack": "Error: boom"}
    ],
    "logs": [{"message": ["hello", {"a": 1}], "level": "log", "timestamp": 1732700000005}],
    "event": {
        "request": {
            "url": "https://example.com/x",
            "method": "GET",
            "headers": {"user-agent": "curl"},
            "cf": {"colo": "ATL", "country": "US"},
        }
    },
}


def test_fetch_event_is_parsed() -> None:
    """The documented example parses into outcome, script, time, exceptions, logs, request."""
    event = parse_tail_message(json.dumps(FETCH_EVENT))
    assert isinstance(event, TailEvent)
    request = event.request
    assert request is not None
    actual = (
        event.outcome,
        event.script_name,
        event.timestamp,
        [e.message for e in event.exceptions],
        [log.text for log in event.logs],
        (request.method, request.url),
        event.failed,
    )
    expected = (
        "exception",
        "my-worker",
        datetime(2024, 11, 27, 9, 33, 20, tzinfo=UTC),
        ["boom"],
        ['hello {"a": 1}'],
        ("GET", "https://example.com/x"),
        True,
    )
    assert actual == expected


def test_binary_frames_parse_like_text() -> None:
    """Messages may come as binary frames holding the same JSON."""
    event = parse_tail_message(json.dumps(FETCH_EVENT).encode())
    assert isinstance(event, TailEvent)
    assert event.script_name == "my-worker"


def test_unknown_fields_are_kept() -> None:
    """Fields Cloudflare adds later survive parsing (forward compatibility)."""
    event = parse_tail_message(json.dumps({**FETCH_EVENT, "cpuTime": 3, "wallTime": 9}))
    assert isinstance(event, TailEvent)
    assert (event.model_extra or {}) == {"cpuTime": 3, "wallTime": 9}


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ({"request": {"url": "https://x"}}, "request"),
        ({"cron": "*/5 * * * *", "scheduledTime": 1732700000000}, "cron"),
        ({"scheduledTime": "2024-11-27T09:33:20Z"}, "alarm"),
        ({"mailFrom": "a@b.c", "rcptTo": "d@e.f", "rawSize": 10}, "email"),
        ({"queue": "jobs", "batchSize": 3}, "queue"),
        ({"rpcMethod": "fetchThing"}, "rpc"),
        ({"consumedEvents": [{"scriptName": "w"}]}, "tail"),
        ({"message": "sampling", "type": "overload"}, "info"),
        ({"something": "else"}, "unknown"),
        (None, "none"),
    ],
)
def test_event_kind_follows_the_event_shape(event: dict[str, Any] | None, kind: str) -> None:
    """Each trigger has its own event shape; the kind names it."""
    assert event_kind(event) == kind


@pytest.mark.parametrize(("kind", "active"), [("overload", True), ("overload-stop", False)])
def test_sampling_notices_become_sampling_items(kind: str, active: bool) -> None:
    """Entering and leaving sampling mode are surfaced, not mistaken for invocations."""
    message = {
        "outcome": "ok",
        "scriptName": "w",
        "exceptions": [],
        "logs": [],
        "eventTimestamp": 1732700000000,
        "event": {"message": "Tail is currently in sampling mode", "type": kind},
    }
    item = parse_tail_message(json.dumps(message))
    assert isinstance(item, TailSampling)
    assert (item.active, item.message) == (active, "Tail is currently in sampling mode")


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"logs": "nope"}', b"\xff\xfe"])
def test_malformed_messages_raise_a_tail_message_error(raw: str | bytes) -> None:
    """Junk is reported as TailMessageError so the stream can count and skip it."""
    with pytest.raises(TailMessageError):
        parse_tail_message(raw)


def test_response_status_is_read_when_present() -> None:
    """A fetch event's response status is exposed when the tail reports it."""
    event = TailEvent.model_validate({**FETCH_EVENT, "event": {"response": {"status": 503}}})
    assert event.status == 503


def test_gap_duration() -> None:
    """A gap says how long events may have been missed."""
    gap = TailGap(
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 1, 1, 0, 0, 7, tzinfo=UTC),
        reason="reconnect",
    )
    assert gap.seconds == 7.0


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [
        ("2026-01-01T01:00:00Z", 3600.0),
        ("2026-01-01T01:00:00+00:00", 3600.0),
        ("2026-01-01T01:00:00", 3600.0),
        ("2025-12-31T23:00:00Z", 0.0),
        (None, DEFAULT_TTL_S),
        ("soon", DEFAULT_TTL_S),
    ],
)
def test_expiry_is_read_from_expires_at(expires_at: str | None, expected: float) -> None:
    """expires_at is ISO 8601 (UTC when naive); missing or junk means an hour."""
    now = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert expiry_in(expires_at, now) == expected


@pytest.mark.parametrize(
    ("ttl", "before", "expected"), [(3600.0, 300.0, 3300.0), (4.0, 300.0, 2.0), (0.0, 300.0, 0.0)]
)
def test_renewal_comes_before_expiry(ttl: float, before: float, expected: float) -> None:
    """Renew renew_before_s ahead of expiry, or halfway for short-lived tails."""
    assert renewal_delay(ttl, before) == expected
