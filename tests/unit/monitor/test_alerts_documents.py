"""The alert service's pure parts: observations from probe runs, remediation outcomes in
notifications, and what the API, the status page and the metrics show of an alert."""

from __future__ import annotations

import math
from dataclasses import replace

from alerting.grouping import Notification
from alerting.lifecycle import Alert
from alerting.model import AlertState
from alerting.remediation import RunRecord
from monitor.alerts import (
    alert_document,
    attach_outcomes,
    observation_of,
    ordered,
    outcome_text,
    since_of,
    status_entry,
)
from monitor.runner import ProbeRun
from probes.base import ProbeResult, Reason, Status

T0 = 1_800_000_000.0


def alert(rule: str = "worker_down", state: AlertState = AlertState.FIRING, **kw: object) -> Alert:
    """A firing alert on probe api-worker, with a summary and a description."""
    base = Alert(
        fingerprint=f"fp-{rule}",
        rule=rule,
        severity="critical",
        labels={"probe": "api-worker", "probe_type": "workers"},
        state=state,
        active_since=T0,
        last_active_at=T0 + 30,
        last_seen=T0 + 30,
        annotations={"summary": "Worker api-worker is down", "description": "500s"},
        values={"error_ratio": 0.5},
        firing_since=T0 + 10,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def notification(*alerts: Alert, resolved: tuple[Alert, ...] = ()) -> Notification:
    """A notification of one group holding ``alerts``."""
    return Notification(
        route="{}",
        receivers=("slack",),
        group_key="{}:{}",
        group_id="g",
        group_labels={},
        common_labels={},
        firing=alerts,
        resolved=resolved,
        reminder=False,
        at=T0 + 40,
    )


def record(outcome: str = "ok", detail: str = "Worker api rolled back to version v1") -> RunRecord:
    """An audit record of the rollback hook for ``fp-worker_down``."""
    return RunRecord(
        remediation="rollback-api",
        action="worker_rollback",
        fingerprint="fp-worker_down",
        rule="worker_down",
        state="firing",
        at=T0 + 12,
        outcome=outcome,  # type: ignore[arg-type]
        detail=detail,
    )


def test_a_probe_run_becomes_an_observation_taken_when_the_run_started() -> None:
    """Status, reason, values, message and the probe's labels reach the engine; a NaN value
    is left out so the engine treats it as not published."""
    result = ProbeResult(
        status=Status.CRIT,
        message="500 in 5 ms",
        reason=Reason.HTTP_STATUS,
        values={"error_ratio": 0.5, "latency_ms": math.nan},
    )
    run = ProbeRun("api-worker", "workers", "workers", result, started_at=T0, duration_s=0.1)
    observed = observation_of(run, {"zone": "spacevision.app"})
    assert (
        "api-worker",
        "workers",
        "crit",
        T0,
        {"error_ratio": 0.5},
        {"zone": "spacevision.app"},
        "500 in 5 ms",
        "http_status",
    ) == (
        observed.probe,
        observed.probe_type,
        observed.status,
        observed.at,
        dict(observed.values),
        dict(observed.labels),
        observed.message,
        observed.reason,
    )


def test_a_successful_run_has_no_reason() -> None:
    """``reason`` is null when the probe succeeded, as rules expect."""
    run = ProbeRun("p", "http", "http", ProbeResult(Status.OK), started_at=T0, duration_s=0.0)
    assert observation_of(run, {}).reason is None


def test_outcomes_ride_on_the_alerts_next_notification() -> None:
    """The rollback's outcome lands in the alert's annotations and at the end of its
    description, so every receiver shows what flarewatch did; other alerts are untouched."""
    other = alert("worker_checks_failing", severity="warning")
    [sent] = attach_outcomes(
        [notification(other, resolved=(alert(),))], {"fp-worker_down": [record()]}
    )
    [resolved] = sent.resolved
    line = "rollback-api (worker_rollback): ok — Worker api rolled back to version v1"
    assert line == resolved.annotations["remediation"]
    assert f"500s\n\nRemediation: {line}" == resolved.annotations["description"]
    assert other == sent.firing[0]


def test_several_outcomes_are_listed_one_per_line() -> None:
    """A failed run and a dry run both show, in order."""
    [sent] = attach_outcomes(
        [notification(alert(annotations={"summary": "down"}))],
        {"fp-worker_down": [record("failed", "10220: secret changed"), record("dry_run", "")]},
    )
    assert (
        "Remediation:\nrollback-api (worker_rollback): FAILED — 10220: secret changed\n"
        "rollback-api (worker_rollback): dry run"
    ) == sent.firing[0].annotations["description"]


def test_without_outcomes_notifications_are_unchanged() -> None:
    """The common case costs nothing and changes nothing."""
    sent = (notification(alert()),)
    assert sent == attach_outcomes(sent, {})


def test_outcome_text_shows_a_failure_loudly() -> None:
    """FAILED stands out in a chat message."""
    assert "rollback-api (worker_rollback): FAILED — boom" == outcome_text(record("failed", "boom"))


def test_alerts_are_listed_firing_then_pending_then_resolved_critical_first() -> None:
    """What needs attention comes first."""
    alerts = [
        alert("a", AlertState.RESOLVED, resolved_at=T0 + 50),
        alert("b", AlertState.PENDING),
        alert("c", severity="warning"),
        alert("d"),
    ]
    assert ["d", "c", "b", "a"] == [a.rule for a in ordered(alerts)]


def test_since_is_when_the_alert_entered_its_state() -> None:
    """Firing since, pending since, resolved at."""
    assert T0 + 10 == since_of(alert())
    assert T0 == since_of(alert(state=AlertState.PENDING))
    assert T0 + 99 == since_of(alert(state=AlertState.RESOLVED, resolved_at=T0 + 99))


def test_the_api_document_says_why_an_alert_is_muted() -> None:
    """Silence ids and the inhibiting alert are named; non-finite values become null."""
    silenced = alert_document(alert(values={"x": math.inf}), "silence:s1,s2")
    assert (["s1", "s2"], None, {"x": None}) == (
        silenced["silenced_by"],
        silenced["inhibited_by"],
        silenced["values"],
    )
    inhibited = alert_document(alert(), "inhibited_by:fp-dns")
    assert ([], "fp-dns") == (inhibited["silenced_by"], inhibited["inhibited_by"])
    assert "2027-01-15T08:00:10.000Z" == inhibited["since"]


def test_the_status_page_entry_has_the_pages_fields() -> None:
    """name, severity, state, probe, summary and since: the status page's contract."""
    assert {
        "name": "worker_down",
        "severity": "critical",
        "state": "firing",
        "probe": "api-worker",
        "summary": "Worker api-worker is down",
        "since": "2027-01-15T08:00:10.000Z",
        "fingerprint": "fp-worker_down",
        "muted": False,
    } == status_entry(alert(), None)
