"""Human and JSON output of events, notices and traces (pure)."""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from ops.logevents import ConsoleLine, ExceptionInfo, GapRecord, Level, LogRow, Notice
from ops.logformat import (
    detail_lines,
    format_ms,
    format_notice,
    format_row,
    format_time,
    format_trace,
    gap_notice,
    headline,
    json_line,
    trace_summary,
)

T0 = 1_795_000_000_000  # 2026-11-18 11:06:40 UTC
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def failing_row(**overrides: object) -> LogRow:
    """The api Worker throwing on /health."""
    values: dict[str, object] = {
        "ts_ms": T0 + 234,
        "kind": "worker",
        "service": "api",
        "level": Level.ERROR,
        "outcome": "exception",
        "method": "GET",
        "url": "https://api.spacevision.app/health",
        "status": 500,
        "colo": "SJC",
        "ray_id": "8a1b2c3d4e5f6789",
        "trace_id": TRACE,
        "logs": (ConsoleLine("error", "Unhandled error: x is undefined"),),
        "exceptions": (
            ExceptionInfo(
                "TypeError",
                "x is undefined",
                "TypeError: x is undefined\n    at handleRequest (index.js:42:11)",
            ),
        ),
    }
    values.update(overrides)
    return LogRow(**values)  # type: ignore[arg-type]


def test_headline_carries_the_request_context() -> None:
    """One line says when, how bad, where, which request, what status, colo, ray and trace."""
    expected = (
        "2026-11-18 11:06:40.234 ERROR worker/api GET https://api.spacevision.app/health 500 "
        f"exception SJC  ray 8a1b2c3d4e5f6789  trace {TRACE}"
    )
    assert expected == headline(failing_row(), tz=UTC)


def test_console_lines_and_stack_are_indented_beneath() -> None:
    """Logs and the exception sit under the headline; stack frames one step further in."""
    expected = [
        "    error  Unhandled error: x is undefined",
        "    TypeError: x is undefined",
        "        at handleRequest (index.js:42:11)",
    ]
    assert expected == detail_lines(failing_row())


def test_plain_output_has_no_escape_codes_and_colour_output_has() -> None:
    """Colour is opt-in, so pipes and files get clean text."""
    plain = format_row(failing_row(), tz=UTC)
    coloured = format_row(failing_row(), color=True, tz=UTC)
    assert ("\x1b[" in plain, "\x1b[" in coloured) == (False, True)


def test_live_lines_show_only_the_time() -> None:
    """A live tail shows the time of day; stored queries show the date too."""
    assert headline(failing_row(), tz=UTC, date=False).startswith("11:06:40.234 ERROR")


def test_ray_equal_to_trace_is_not_repeated() -> None:
    """When the trace id is the ray id, it is shown once."""
    line = headline(failing_row(trace_id="8a1b2c3d4e5f6789"), tz=UTC)
    assert 1 == line.count("8a1b2c3d4e5f6789")


def test_probe_rows_show_their_message_and_latency() -> None:
    """A probe row reads like a check result, with its measured latency."""
    r = LogRow(
        ts_ms=T0,
        kind="probe",
        service="api-health",
        level=Level.INFO,
        outcome="ok",
        method="GET",
        url="https://api.spacevision.app/health",
        status=200,
        duration_ms=45.4,
        message="HTTP 200",
    )
    expected = (
        "2026-11-18 11:06:40.000 INFO  probe/api-health GET https://api.spacevision.app/health "
        "200 45 ms HTTP 200"
    )
    assert expected == headline(r, tz=UTC)


def test_json_line_holds_every_field() -> None:
    """``--json`` lines are complete: context, logs, exceptions and the original event."""
    data = json.loads(json_line(failing_row(raw_json=b'{"outcome": "exception"}')))
    actual = (
        data["type"],
        data["time"],
        data["level"],
        data["path"],
        data["exceptions"][0]["name"],
        data["logs"][0]["level"],
        data["event"],
    )
    expected = (
        "event",
        "2026-11-18T11:06:40.234Z",
        "error",
        "/health",
        "TypeError",
        "error",
        {"outcome": "exception"},
    )
    assert expected == actual


def test_notice_json_and_text() -> None:
    """Notices are marked in text and typed in JSON, so they are never mistaken for events."""
    notice = Notice(kind="gap", message="gap: …", service="api", source="worker", at_ms=T0)
    data = json.loads(json_line(notice))
    text = format_notice(notice, tz=UTC)
    assert (data["type"], data["notice"], text) == (
        "notice",
        "gap",
        "-- 2026-11-18 11:06:40.000 gap: …",
    )


def test_stored_gap_reads_as_a_notice() -> None:
    """``logs query`` shows where stored logs may be incomplete."""
    notice = gap_notice(GapRecord("api", "worker", T0, T0 + 3_500, "reconnect"))
    expected = (
        "gap: events of worker/api between 2026-11-18T11:06:40.000Z and "
        "2026-11-18T11:06:43.500Z (3.5 s) may be missing (reconnect)"
    )
    assert (expected, "gap") == (notice.message, notice.kind)


def test_trace_lists_events_in_time_order_with_offsets() -> None:
    """A trace reads top-down: probe first, then the Worker and Pages, each with its offset."""
    probe = LogRow(
        ts_ms=T0,
        kind="probe",
        service="api-health",
        level=Level.INFO,
        method="GET",
        url="https://api.spacevision.app/health",
        status=200,
        duration_ms=45.0,
        trace_id=TRACE,
    )
    worker = failing_row(ts_ms=T0 + 3, logs=(), exceptions=())
    pages = LogRow(
        ts_ms=T0 + 15,
        kind="pages",
        service="spacevision-web",
        level=Level.INFO,
        method="GET",
        url="https://spacevision.app/",
        status=200,
        trace_id=TRACE,
    )
    lines = format_trace(TRACE, [pages, worker, probe], tz=UTC).splitlines()
    expected = [
        f"trace {TRACE}: 3 events from 3 sources over 15 ms "
        "(probe/api-health, worker/api, pages/spacevision-web)",
        "  started 2026-11-18 11:06:40.000",
        "      +0 ms  INFO  probe/api-health       GET https://api.spacevision.app/health 200 "
        "latency 45 ms",
        "      +3 ms  ERROR worker/api             GET https://api.spacevision.app/health 500 "
        "exception",
        "     +15 ms  INFO  pages/spacevision-web  GET https://spacevision.app/ 200",
    ]
    assert expected == lines


def test_empty_trace_says_so() -> None:
    """No events is an answer too."""
    assert f"trace {TRACE}: no events" == trace_summary(TRACE, [])


@pytest.mark.parametrize(
    ("ms", "expected"), [(0.25, "250 µs"), (12.4, "12 ms"), (1250.0, "1.25 s")]
)
def test_durations_read_naturally(ms: float, expected: str) -> None:
    """Latencies use the unit a person would."""
    assert expected == format_ms(ms)


def test_time_in_a_given_zone() -> None:
    """Times are shown in the zone asked for (UTC here), with milliseconds."""
    assert "2026-11-18 11:06:40.007" == format_time(T0 + 7, UTC)
