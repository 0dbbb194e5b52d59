"""The live stream's pure rules: Cloudflare filters, the local status filter, targets, messages,
and what the error capture keeps of a failed invocation."""

from __future__ import annotations

import pytest

from cfapi.errors import NotFound, TailLimitReached
from ops.capture import captured_from
from ops.logevents import ConsoleLine, ExceptionInfo, Level, LogRow, Notice
from ops.logstream import (
    StreamFilters,
    Target,
    describe_failure,
    gap_record,
    parse_header_filter,
)


def test_filters_become_cloudflare_tail_filters() -> None:
    """Method, header, search and sampling are sent to Cloudflare, which filters at the source."""
    filters = StreamFilters(
        methods=("post", "GET", "get"),
        search="D1_ERROR",
        headers=(("x-user", "42"), ("x-debug", None)),
        sampling=0.25,
    )
    expected = [
        {"sampling_rate": 0.25},
        {"method": ["GET", "POST"]},
        {"header": {"key": "x-user", "query": "42"}},
        {"header": {"key": "x-debug"}},
        {"query": "D1_ERROR"},
    ]
    assert expected == filters.tail_filters()


def test_no_filters_and_full_sampling_send_nothing() -> None:
    """Sampling 1 means every event: no filter is sent."""
    assert [] == StreamFilters(sampling=1.0).tail_filters()


def test_status_is_filtered_locally_by_level() -> None:
    """``error`` keeps 5xx and console.error rows that Cloudflare's outcome filter would miss."""
    row_error = LogRow(ts_ms=1, kind="worker", service="api", level=Level.ERROR, outcome="ok")
    row_warn = LogRow(ts_ms=1, kind="worker", service="api", level=Level.WARN, status=404)
    errors, oks = StreamFilters(status="error"), StreamFilters(status="ok")
    actual = [errors.accepts(row_error), errors.accepts(row_warn), oks.accepts(row_warn)]
    assert [True, False, True] == actual


@pytest.mark.parametrize(("rate"), [0.0, -0.1, 1.5])
def test_sampling_must_be_a_share(rate: float) -> None:
    """A sampling rate outside (0, 1] is refused with an example."""
    with pytest.raises(ValueError, match=r"e\.g\. 0\.1"):
        StreamFilters(sampling=rate)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x-user:42", ("x-user", "42")),
        ("x-user: a:b", ("x-user", "a:b")),
        ("x-debug", ("x-debug", None)),
    ],
)
def test_header_filters(text: str, expected: tuple[str, str | None]) -> None:
    """``K:V`` matches a value (which may contain colons); ``K`` only the presence."""
    assert expected == parse_header_filter(text)


@pytest.mark.parametrize("text", ["", ":v", "two words:v"])
def test_bad_header_filters_are_refused(text: str) -> None:
    """A header filter without a usable name is an input error."""
    with pytest.raises(ValueError, match="NAME or NAME:VALUE"):
        parse_header_filter(text)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("spacevision-web", Target("pages", "spacevision-web")),
        ("spacevision-web@abc-123", Target("pages", "spacevision-web", "abc-123")),
    ],
)
def test_pages_targets(spec: str, expected: Target) -> None:
    """A project follows production; ``@DEPLOYMENT`` pins one deployment."""
    assert expected == Target.pages(spec)


@pytest.mark.parametrize("spec", ["", "@abc", "web@"])
def test_bad_pages_targets(spec: str) -> None:
    """An empty project or deployment is an input error."""
    with pytest.raises(ValueError, match="PROJECT@DEPLOYMENT_ID"):
        Target.pages(spec)


def test_tail_limit_message_explains_what_to_do() -> None:
    """At 10 viewers the user learns the limit and how to free a slot; it is not bad input."""
    text, bad_input = describe_failure(TailLimitReached("too many"), Target("worker", "api"))
    assert ("10 tails are already attached" in text, "wrangler tail" in text, bad_input) == (
        True,
        True,
        False,
    )


def test_unknown_worker_is_bad_input() -> None:
    """A misspelt Worker name is the user's input: named, and exit code 2."""
    text, bad_input = describe_failure(NotFound("404"), Target("worker", "apj"))
    assert ("worker/apj: no Worker named 'apj' in this account", True) == (text, bad_input)


def test_gap_notices_become_gap_records() -> None:
    """Gaps are stored so a later query shows where logs may be incomplete; other notices not."""
    gap = Notice("gap", "…", "api", "worker", at_ms=9, start_ms=5, end_ms=9, reason="reconnect")
    other = Notice("sampling", "…", "api", "worker", at_ms=9)
    record = gap_record(gap)
    assert (record is not None and (record.start_ms, record.end_ms, record.reason), None) == (
        (5, 9, "reconnect"),
        gap_record(other),
    )


def test_capture_keeps_each_exception_with_its_request() -> None:
    """An alert gets name, message, stack and the request that failed."""
    row = LogRow(
        ts_ms=100,
        kind="worker",
        service="api",
        level=Level.ERROR,
        script="api",
        outcome="exception",
        method="POST",
        url="https://api.spacevision.app/v1/upload",
        status=500,
        ray_id="8a1b2c3d4e5f6789",
        logs=(ConsoleLine("error", "Unhandled error"),),
        exceptions=(ExceptionInfo("TypeError", "x is undefined", "at f (a.js:1)", 101),),
    )
    (captured,) = captured_from(row)
    actual = (captured.title, captured.stack, captured.request, captured.ts_ms, captured.as_dict())
    assert actual[:4] == (
        "TypeError: x is undefined",
        "at f (a.js:1)",
        "POST https://api.spacevision.app/v1/upload → 500",
        101,
    )
    assert {
        "method": "POST",
        "url": row.url,
        "status": 500,
        "colo": None,
        "ray_id": row.ray_id,
    } == (actual[4]["request"])


def test_capture_names_failures_without_exception_objects() -> None:
    """Exceeding CPU leaves no exception object; the capture still says what happened."""
    row = LogRow(ts_ms=5, kind="worker", service="api", level=Level.ERROR, outcome="exceededCpu")
    (captured,) = captured_from(row)
    assert ("exceededCpu: the invocation exceeded its CPU time limit", 5) == (
        captured.title,
        captured.ts_ms,
    )


def test_successful_invocations_capture_nothing() -> None:
    """An ok invocation is not an exception, whatever it logged."""
    row = LogRow(ts_ms=5, kind="worker", service="api", level=Level.ERROR, outcome="ok")
    assert [] == captured_from(row)
