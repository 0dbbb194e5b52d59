"""The daemon's log keeping, pure parts: probe rows, the logs settings, what a capture adds to
a notification, explanations, and the capture service's bookkeeping (with a fake tail)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry

from alerting.grouping import Notification
from alerting.lifecycle import Alert, AlertEvent
from alerting.model import AlertState
from cfapi.client import CloudflareClient
from cfapi.errors import TailLimitReached
from monitor.capture import (
    Capturer,
    CaptureReport,
    attach_captures,
    attach_explanations,
    exception_text,
    report_text,
    wanted,
)
from monitor.config import DEFAULT_CAPTURE_RULES, LogCapture, LogsSettings
from monitor.logsink import SinkMetrics, policy_of, probe_record
from monitor.runner import ProbeRun
from monitor.statuspage import render
from ops.capture import CapturedException
from ops.logevents import probe_row
from probes.base import ProbeResult, Reason, Status
from probes.httpcheck import Finding, HttpOutcome, trace_of

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
STACK = (
    "TypeError: x is undefined\n"
    "    at handleRequest (index.js:42:11)\n"
    "    at route (index.js:10:3)\n"
    "    at a (index.js:1:1)\n"
    "    at b (index.js:2:1)\n"
    "    at c (index.js:3:1)\n"
    "    at d (index.js:4:1)"
)


def run_of(result: ProbeResult, *, probe: str = "api-health") -> ProbeRun:
    """A finished run of an ``http`` probe at t=1000 s."""
    return ProbeRun(probe, "http", "http", result, started_at=1000.0, duration_s=0.05)


def exc(name: str = "TypeError", message: str = "x is undefined") -> CapturedException:
    """A captured exception of the api Worker for ``GET /v1/x``."""
    return CapturedException(
        name=name,
        message=message,
        stack=STACK,
        ts_ms=1,
        script="api",
        outcome="exception",
        method="GET",
        url="https://api.spacevision.app/v1/x",
        status=500,
    )


def alert(fp: str, *, rule: str = "worker_error_ratio_critical", **annotations: str) -> Alert:
    """A firing alert of probe ``api-worker``."""
    return Alert(
        fingerprint=fp,
        rule=rule,
        severity="critical",
        labels={"probe": "api-worker"},
        state=AlertState.FIRING,
        active_since=0.0,
        last_active_at=0.0,
        last_seen=0.0,
        annotations=annotations,
    )


def note(*alerts: Alert) -> Notification:
    """A notification carrying ``alerts`` as firing."""
    return Notification(
        route="root",
        receivers=("slack",),
        group_key="k",
        group_id="g",
        group_labels={},
        common_labels={},
        firing=alerts,
        resolved=(),
        reminder=False,
        at=0.0,
    )


def test_a_probe_row_carries_the_trace_id_its_check_sent() -> None:
    """The probe's row joins the Worker's tail events of the same request by trace id."""
    result = ProbeResult(Status.OK, "200 in 41 ms", latency_ms=41.0, trace_id=TRACE)
    row = probe_row(probe_record(run_of(result)))
    actual = (row.kind, row.service, row.trace_id, row.trace_source, row.ts_ms, row.duration_ms)
    assert ("probe", "api-health", TRACE, "probe", 1_000_000, 41.0) == actual


def test_a_probe_row_without_a_trace_has_none() -> None:
    """A probe that sends no HTTP request is stored without a trace id, not a made-up one."""
    failed = ProbeResult.failed(Reason.API_ERROR, "Cloudflare API: error (code 10000)")
    row = probe_row(probe_record(run_of(failed)))
    assert ("", "error", "crit") == (row.trace_id, row.level.label, row.outcome)


def test_a_run_of_several_checks_reports_the_worst_check_s_trace() -> None:
    """The failing request is the one worth following into the Worker's events."""
    ok = HttpOutcome("a", "200 in 3 ms", trace_id="a" * 32)
    bad = HttpOutcome(
        "b", "", findings=(Finding(Status.CRIT, Reason.HTTP_STATUS, "500"),), trace_id="b" * 32
    )
    assert ("b" * 32, "a" * 32, None) == (trace_of([ok, bad]), trace_of([ok]), trace_of([]))


def test_a_malformed_trace_id_is_dropped_not_raised() -> None:
    """A plugin's bad trace id must not break storing its run."""
    result = ProbeResult(Status.OK, "ok", trace_id="not-hex")
    assert "" == probe_record(run_of(result)).traceparent


def test_the_store_defaults_to_the_state_dir_and_false_disables_it() -> None:
    """`logs.store` defaults to <state_dir>/logs.db; `false` keeps no store at all."""
    default = LogsSettings().store_path("/srv/fw/")
    off = LogsSettings.model_validate({"store": False}).store_path("/srv/fw")
    own = LogsSettings.model_validate({"store": "/data/logs.db"}).store_path("/srv/fw")
    assert ("/srv/fw/logs.db", None, "/data/logs.db") == (default, off, own)


def test_retention_settings_become_the_store_policy() -> None:
    """Durations and sizes as written in YAML reach the store's retention policy."""
    settings = LogsSettings.model_validate({"retention": {"max_age": "2d", "max_size": "10MB"}})
    policy = policy_of(settings.retention)
    assert (172_800.0, 10_000_000) == (policy.max_age_s, policy.max_bytes)


def test_capture_defaults_to_the_worker_error_rules() -> None:
    """Out of the box, the shipped Worker error-ratio rules trigger a 30 s, 5-exception capture."""
    capture = LogsSettings().capture
    assert (DEFAULT_CAPTURE_RULES, 30.0, 5) == (capture.rules, capture.duration, capture.limit)


def test_an_exception_shows_its_request_and_first_stack_lines() -> None:
    """A notification shows the throw site, not a 50-line stack."""
    text = exception_text(exc(), stack_lines=2)
    assert (
        "TypeError: x is undefined\n"
        "  request: GET https://api.spacevision.app/v1/x → 500\n"
        "  at handleRequest (index.js:42:11)\n"
        "  at route (index.js:10:3)\n"
        "  … 4 more stack lines"
    ) == text


def test_a_notification_never_shows_the_request_s_query_string() -> None:
    """A visitor's token in ?token=… must not land in Slack."""
    leaky = replace(exc(), url="https://api.spacevision.app/v1/x?token=s3cr3t#frag")
    assert "s3cr3t" not in exception_text(leaky)


def test_a_capture_at_the_tail_limit_reads_as_a_note() -> None:
    """An operator learns why no exceptions came with the alert."""
    report = CaptureReport("api", "tail_limit", note="not captured: 10 tails")
    assert "Capture of Worker api: not captured: 10 tails" == report_text(report)


def test_captures_are_attached_like_remediation_outcomes() -> None:
    """The `exceptions` annotation and the description's end carry the capture; alerts
    without a capture are left alone."""
    report = CaptureReport("api", "captured", (exc(),), duration_s=3.2)
    [out] = attach_captures([note(alert("a", description="5 % fail"), alert("b"))], {"a": [report]})
    first, second = out.firing
    expected_head = "Captured 1 exception of Worker api in 3 s:\nTypeError: x is undefined"
    assert first.annotations["exceptions"].startswith(expected_head)
    assert first.annotations["description"].startswith("5 % fail\n\nCaptured 1 exception")
    assert {} == dict(second.annotations)


def test_an_alert_gets_the_catalogue_explanation_of_its_probe_message() -> None:
    """A probe failing with Error 1101 tells the on-call what it means and what to do."""
    [out] = attach_explanations(
        [note(alert("a"))], {"api-worker": "expected status 2xx (body: error code: 1101)"}
    )
    assert out.firing[0].annotations["explanation"].startswith("1101 Error 1101: Worker threw")


def test_a_resolved_alert_gets_no_explanation() -> None:
    """Once the error is gone, explaining it would mislead; a firing alert's description
    carries the explanation too (receivers that show only the description)."""
    resolved = replace(note(), resolved=(alert("a", description="d"),))
    firing = note(alert("b", description="d"))
    messages = {"api-worker": "error code: 1101"}
    [old, new] = attach_explanations([resolved, firing], messages)
    assert ({"description": "d"}, True) == (
        dict(old.resolved[0].annotations),
        new.firing[0].annotations["description"].startswith("d\n\nExplanation: 1101 "),
    )


def test_a_rule_s_own_explanation_is_kept() -> None:
    """A rule author's explanation wins over the catalogue's."""
    [out] = attach_explanations(
        [note(alert("a", explanation="ours"))], {"api-worker": "D1_ERROR: Network connection lost."}
    )
    assert "ours" == out.firing[0].annotations["explanation"]


def test_only_firing_events_of_capture_rules_start_a_capture() -> None:
    """Resolutions and other rules must not spend a Worker's tail slots."""
    events = [
        AlertEvent("firing", 0.0, alert("a")),
        AlertEvent("resolved", 0.0, alert("b")),
        AlertEvent("firing", 0.0, alert("c", rule="kv_slow")),
    ]
    assert ["a"] == [e.alert.fingerprint for e in wanted(events, DEFAULT_CAPTURE_RULES)]


class FakeTail:
    """A stand-in for ``capture_exceptions``: each call waits for ``release``."""

    def __init__(self, result: Sequence[CapturedException] | BaseException) -> None:
        self.result = result
        self.calls: list[str] = []
        self.release = asyncio.Event()

    async def __call__(
        self, cf: CloudflareClient, account_id: str, script: str, duration_s: float, limit: int
    ) -> list[CapturedException]:
        self.calls.append(script)
        await self.release.wait()
        if isinstance(self.result, BaseException):
            raise self.result
        return list(self.result)


def capturer(tail: FakeTail, registry: CollectorRegistry) -> Capturer:
    """A capturer whose alerts are all about Worker ``api``."""
    return Capturer(
        None,  # type: ignore[arg-type]  # the fake tail never uses the client
        "acc",
        LogCapture(),
        script_of=lambda a: "api",
        metrics=SinkMetrics(registry),
        capture=tail,
    )


async def test_one_capture_per_worker_is_shared_by_its_alerts() -> None:
    """Two error alerts of one Worker cost one tail, and both get its exceptions."""
    tail = FakeTail([exc()])
    service = capturer(tail, CollectorRegistry())
    service.submit([AlertEvent("firing", 0.0, alert("a"))])
    service.submit([AlertEvent("firing", 0.0, alert("b", rule="worker_error_ratio_warning"))])
    tail.release.set()
    await service.drain()
    reports = (service.take("a"), service.take("b"), service.take("a"))
    assert (["api"], 1, 1, 0) == (tail.calls, len(reports[0]), len(reports[1]), len(reports[2]))


@pytest.mark.parametrize(
    ("error", "outcome"),
    [(TailLimitReached("10 tails", status=429), "tail_limit"), (RuntimeError("bug"), "failed")],
)
async def test_a_capture_that_cannot_tail_is_a_note_and_counted(
    error: BaseException, outcome: str
) -> None:
    """At the viewer limit (or on a bug) alerting goes on; the alert says why, and
    flarewatch_log_captures_total counts the outcome."""
    registry = CollectorRegistry()
    tail = FakeTail(error)
    service = capturer(tail, registry)
    service.submit([AlertEvent("firing", 0.0, alert("a"))])
    tail.release.set()
    await service.drain()
    [report] = service.take("a")
    counted = registry.get_sample_value("flarewatch_log_captures_total", {"outcome": outcome})
    assert (outcome, True, 1.0) == (report.outcome, report.note.startswith("not captured"), counted)


def test_the_status_page_shows_a_failing_probe_s_explanation() -> None:
    """The page's reader sees what Error 1101 means next to the failing probe."""
    probe = {
        "name": "api-worker",
        "status": "crit",
        "checked_at": "2026-11-27T14:00:00.000Z",
        "message": "expected status 2xx (body: error code: 1101)",
        "explanation": "1101 Error 1101: Worker threw a JavaScript exception: tail it",
    }
    page = render({"probes": [probe]})
    assert "ⓘ 1101 Error 1101: Worker threw a JavaScript exception: tail it" in page
