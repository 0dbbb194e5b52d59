"""Log rows from tail events and probe results: levels, trace ids, request context (pure)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from cfapi.tail_events import TailEvent, TailLog
from ops.logevents import (
    Level,
    LogRow,
    ProbeRecord,
    TraceConfig,
    event_level,
    extract_trace_id,
    make_traceparent,
    new_traceparent,
    normalise_tail_event,
    normalise_trace_query,
    parse_ray,
    parse_traceparent,
    probe_record_dict,
    probe_row,
    url_path,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
NOW_MS = 1_795_000_000_000


def tail_event(**overrides: Any) -> TailEvent:
    """A trace-v1 fetch event like the simulator and Cloudflare send, with overrides."""
    message: dict[str, Any] = {
        "outcome": "ok",
        "scriptName": "api",
        "eventTimestamp": NOW_MS - 5,
        "exceptions": [],
        "logs": [{"message": ["GET /v1/stars"], "level": "log", "timestamp": NOW_MS - 4}],
        "event": {
            "request": {
                "url": "https://api.spacevision.app/v1/stars?page=2",
                "method": "get",
                "headers": {"traceparent": TRACEPARENT, "cf-ray": "8a1b2c3d4e5f6789-AMS"},
                "cf": {"colo": "SJC"},
            },
            "response": {"status": 200},
        },
        "scriptVersion": {"id": "v2-id"},
    }
    message.update(overrides)
    return TailEvent.model_validate(message)


def row(**overrides: Any) -> LogRow:
    """A normalised Worker row."""
    return normalise_tail_event(
        tail_event(**overrides), kind="worker", service="api", now_ms=NOW_MS
    )


@pytest.mark.parametrize(
    ("outcome", "status", "console", "exceptions", "expected"),
    [
        ("ok", 200, ["log"], 0, Level.INFO),
        ("ok", 200, ["debug"], 0, Level.INFO),
        ("ok", 200, ["warn"], 0, Level.WARN),
        ("ok", 404, [], 0, Level.WARN),
        ("ok", 503, ["error"], 0, Level.ERROR),
        ("ok", 503, [], 0, Level.ERROR),
        ("ok", 200, ["error"], 0, Level.ERROR),
        ("canceled", None, [], 0, Level.WARN),
        ("exception", 500, [], 1, Level.ERROR),
        ("exceededCpu", None, [], 0, Level.ERROR),
        ("unknown", 522, [], 0, Level.ERROR),
        ("someFutureOutcome", None, [], 0, Level.ERROR),
        (None, None, [], 0, Level.INFO),
        ("ok", 200, [], 1, Level.ERROR),
    ],
)
def test_level_is_the_worst_signal(
    outcome: str | None, status: int | None, console: list[str], exceptions: int, expected: Level
) -> None:
    """Outcome, HTTP status, console levels and exceptions all raise the level; the worst wins."""
    assert expected == event_level(outcome, status, console, exceptions)


def test_worker_answering_503_after_console_error_is_an_error() -> None:
    """A D1 failure surfaces as console.error + 503 with outcome ok: it must not look healthy."""
    r = row(
        logs=[{"message": ["D1_ERROR: Network connection lost."], "level": "error"}],
        event={
            "request": {"url": "https://x/health", "method": "GET"},
            "response": {"status": 503},
        },
    )
    assert (Level.ERROR, "ok", 503) == (r.level, r.outcome, r.status)


def test_request_context_is_kept() -> None:
    """Method, URL, path, status, colo, ray id, version and time come from the event."""
    r = row()
    actual = (r.method, r.url, r.path, r.status, r.colo, r.ray_id, r.version, r.ts_ms, r.script)
    expected = (
        "GET",
        "https://api.spacevision.app/v1/stars?page=2",
        "/v1/stars?page=2",
        200,
        "SJC",
        "8a1b2c3d4e5f6789",
        "v2-id",
        NOW_MS - 5,
        "api",
    )
    assert expected == actual


def test_colo_falls_back_to_the_ray_suffix() -> None:
    """Without ``request.cf`` the colo still shows, from ``cf-ray``'s suffix."""
    r = row(event={"request": {"url": "https://x/", "headers": {"cf-ray": "8a1b2c3d4e5f6789-ams"}}})
    assert ("AMS", "8a1b2c3d4e5f6789") == (r.colo, r.ray_id)


def test_console_lines_and_exceptions_are_kept_in_order() -> None:
    """Every console line (with its level) and every exception (with its stack) is in the row."""
    r = row(
        outcome="exception",
        logs=[
            {"message": ["start", {"user": 7}], "level": "info"},
            {"message": ["oops"], "level": "error"},
        ],
        exceptions=[{"name": "TypeError", "message": "x is undefined", "stack": "at f (a.js:1)"}],
    )
    actual = (
        [(c.level, c.text) for c in r.logs],
        r.message,
        [(e.title, e.stack) for e in r.exceptions],
    )
    expected = (
        [("info", 'start {"user": 7}'), ("error", "oops")],
        'start {"user": 7}\noops',
        [("TypeError: x is undefined", "at f (a.js:1)")],
    )
    assert expected == actual


def test_missing_event_time_uses_now() -> None:
    """An event without ``eventTimestamp`` is stored at the time it arrived."""
    assert NOW_MS == row(eventTimestamp=None).ts_ms


def test_raw_event_is_the_wire_form() -> None:
    """``raw`` keeps the message as Cloudflare sent it (aliases, unknown fields included)."""
    r = row(futureField={"a": 1})
    assert r.raw is not None
    assert (r.raw["scriptName"], r.raw["futureField"]) == ("api", {"a": 1})


def test_credentials_in_request_headers_are_redacted() -> None:
    """Whatever Cloudflare sends, a token or cookie never reaches the store or the output."""
    request = {
        "url": "https://x/",
        "headers": {"Authorization": "Bearer s3cret", "cookie": "sid=s3cret", "accept": "*/*"},
    }
    r = row(event={"request": request})
    assert r.raw_json is not None
    headers = r.raw["event"]["request"]["headers"]
    assert (b"s3cret" in r.raw_json, headers["Authorization"], headers["accept"]) == (
        False,
        "REDACTED",
        "*/*",
    )


def test_huge_console_output_is_clipped() -> None:
    """A Worker logging megabytes cannot bloat one row past the documented bound."""
    r = row(logs=[{"message": ["x" * 100_000], "level": "log"}])
    assert (len(r.message), r.message.endswith("…")) == (16_384, True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (TRACEPARENT, TRACE),
        (TRACEPARENT.upper(), TRACE),
        (f"  {TRACEPARENT} ", TRACE),
        (f"01-{TRACE}-00f067aa0ba902b7-01-future", TRACE),
        (f"00-{TRACE}-00f067aa0ba902b7-01-extra", None),
        (f"ff-{TRACE}-00f067aa0ba902b7-01", None),
        (f"00-{'0' * 32}-00f067aa0ba902b7-01", None),
        (f"00-{TRACE}-{'0' * 16}-01", None),
        (f"00-{TRACE[:-1]}-00f067aa0ba902b7-01", None),
        ("garbage", None),
        ("", None),
    ],
)
def test_traceparent_follows_w3c(header: str, expected: str | None) -> None:
    """Valid traceparents give their trace-id; invalid ones (per W3C) give nothing."""
    assert expected == parse_traceparent(header)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8a1b2c3d4e5f6789-SJC", ("8a1b2c3d4e5f6789", "SJC")),
        ("8A1B2C3D4E5F6789", ("8a1b2c3d4e5f6789", "")),
        ("not-a-ray", ("", "")),
        ("", ("", "")),
    ],
)
def test_ray_is_split_into_id_and_colo(value: str, expected: tuple[str, str]) -> None:
    """``cf-ray`` gives the ray id (the part users search for) and the colo."""
    assert expected == parse_ray(value)


def _trace(
    request_headers: dict[str, str],
    logs: list[TailLog] | None = None,
    **config: tuple[str, ...],
) -> tuple[str, str]:
    return extract_trace_id(request_headers, logs or [], TraceConfig(**config))


def test_trace_id_prefers_a_configured_header() -> None:
    """An application that propagates x-request-id is correlated by it, over traceparent."""
    headers = {"X-Request-Id": "req-42", "traceparent": TRACEPARENT}
    assert ("req-42", "header") == _trace(headers, headers=("x-request-id",))


def test_trace_id_from_a_structured_log_field() -> None:
    """A JSON log line carrying the configured field (dotted path too) names the trace."""
    logs = [
        TailLog(message=["plain text"]),
        TailLog(message=['{"msg": "hi", "trace": {"id": "t-9"}}']),
    ]
    assert ("t-9", "log_field") == _trace({}, logs, log_fields=("trace.id",))


def test_trace_id_from_an_object_log_argument() -> None:
    """``console.log({trace_id})`` (an object, not a string) works as well."""
    logs = [TailLog(message=[{"trace_id": "abc"}])]
    assert ("abc", "log_field") == _trace({}, logs, log_fields=("trace_id",))


def test_trace_id_falls_back_to_traceparent_then_ray() -> None:
    """Without configured sources: traceparent first, else the ray id."""
    both = _trace({"traceparent": TRACEPARENT, "cf-ray": "8a1b2c3d4e5f6789-SJC"})
    ray_only = _trace({"cf-ray": "8a1b2c3d4e5f6789-SJC"})
    nothing = _trace({"traceparent": "bad"})
    assert ((TRACE, "traceparent"), ("8a1b2c3d4e5f6789", "cf-ray"), ("", "")) == (
        both,
        ray_only,
        nothing,
    )


def test_configured_header_missing_falls_through() -> None:
    """A configured header absent from a request does not hide the traceparent."""
    assert (TRACE, "traceparent") == _trace({"traceparent": TRACEPARENT}, headers=("x-req",))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (TRACEPARENT, TRACE),
        (TRACE.upper(), TRACE),
        ("8a1b2c3d4e5f6789-SJC", "8a1b2c3d4e5f6789"),
        ("req-42", "req-42"),
    ],
)
def test_trace_lookup_accepts_what_users_paste(query: str, expected: str) -> None:
    """``logs trace`` takes a whole traceparent, a trace id, a cf-ray or a request id."""
    assert expected == normalise_trace_query(query)


def test_new_traceparent_is_valid_and_fresh() -> None:
    """Generated traceparents parse, and two are different."""
    a, b = new_traceparent(), new_traceparent()
    assert (parse_traceparent(a) is not None, a != b) == (True, True)


def test_new_traceparent_skips_all_zero_ids() -> None:
    """A random source that yields zeros first does not produce an invalid header."""
    draws = iter([b"\0" * 16, b"\0" * 8, b"\1" * 16, b"\2" * 8])
    assert "00-" + "01" * 16 + "-" + "02" * 8 + "-01" == new_traceparent(lambda _n: next(draws))


def test_make_traceparent_refuses_bad_ids() -> None:
    """A malformed id is a programming error, said clearly."""
    with pytest.raises(ValueError, match="32 and span id 16"):
        make_traceparent("abc", "def")


@pytest.mark.parametrize(
    ("status", "expected"),
    [("ok", Level.INFO), ("warn", Level.WARN), ("crit", Level.ERROR), ("unknown", Level.ERROR)],
)
def test_probe_status_maps_to_level(status: str, expected: Level) -> None:
    """Probe results share the event levels, so ``--level error`` finds failed probes."""
    record = ProbeRecord(ts_ms=NOW_MS, probe="api-health", probe_type="http", status=status)
    assert expected == probe_row(record).level


def test_probe_row_joins_the_trace_it_sent() -> None:
    """A probe row carries the traceparent it sent and the ray id it got, like the Worker."""
    record = ProbeRecord(
        ts_ms=NOW_MS,
        probe="api-health",
        probe_type="http",
        status="crit",
        message="HTTP 503",
        reason="http_status",
        latency_ms=45.5,
        method="get",
        url="https://api.spacevision.app/health",
        http_status=503,
        traceparent=TRACEPARENT,
        ray_id="8a1b2c3d4e5f6789-SJC",
    )
    r = probe_row(record)
    actual = (r.kind, r.service, r.script, r.trace_id, r.ray_id, r.colo, r.duration_ms, r.message)
    expected = (
        "probe",
        "api-health",
        "http",
        TRACE,
        "8a1b2c3d4e5f6789",
        "SJC",
        45.5,
        "HTTP 503 (reason: http_status)",
    )
    assert expected == actual


def test_probe_row_raw_json_is_unchanged_by_the_explicit_field_map() -> None:
    """The store and ``logs --json`` read ``raw_json``: dropping ``asdict`` must not change it.

    A rich record (every field set, unicode, a float latency, an HTTP status) gives the same
    row, byte for byte in ``raw_json``, as the ``dataclasses.asdict`` serialisation it replaced.
    """
    record = ProbeRecord(
        ts_ms=NOW_MS,
        probe="api-health",
        probe_type="http",
        status="warn",
        message="slow: 812 ms — über the budget",
        reason="latency",
        latency_ms=812.25,
        method="POST",
        url="https://api.spacevision.app/v1/stars?limit=5",
        http_status=200,
        traceparent=TRACEPARENT,
        ray_id="8a1b2c3d4e5f6789-SJC",
    )
    old_raw = json.dumps(dataclasses.asdict(record), separators=(",", ":")).encode()
    row = probe_row(record)
    assert (old_raw, row) == (row.raw_json, dataclasses.replace(row, raw_json=old_raw))


def test_probe_record_dict_names_every_field_in_order() -> None:
    """A field added to ``ProbeRecord`` but not to the map would silently vanish from logs."""
    record = ProbeRecord(ts_ms=1, probe="p", probe_type="http", status="ok")
    assert dataclasses.asdict(record) == probe_record_dict(record)
    assert [f.name for f in dataclasses.fields(ProbeRecord)] == list(probe_record_dict(record))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", ""),
        ("https://a.example", "/"),
        ("https://a.example/x/y?z=1#frag", "/x/y?z=1"),
        ("https://a.example?q=1", "/?q=1"),
        ("/relative", "/relative"),
    ],
)
def test_url_path(url: str, expected: str) -> None:
    """The stored path is the request's path and query, never the fragment."""
    assert expected == url_path(url)


def test_level_names_parse() -> None:
    """Users may type warning or err; anything else is refused with the choices."""
    assert (Level.WARN, Level.ERROR) == (Level.parse("Warning"), Level.parse("err"))
    with pytest.raises(ValueError, match="debug, info, warn, error"):
        Level.parse("fatal")
