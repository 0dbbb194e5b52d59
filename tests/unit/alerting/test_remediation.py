"""Remediation guards and templating: pure decisions with an injected clock."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from alerting.lifecycle import Alert, AlertEvent, EventKind
from alerting.model import AlertState
from alerting.remediation import (
    Action,
    MissingLabel,
    Remediation,
    RunRecord,
    alert_environment,
    decide,
    expand,
    triggered,
)

T0 = 1_800_000_000.0


def _event(
    kind: EventKind = "firing", rule: str = "worker_error_ratio_high", **labels: str
) -> AlertEvent:
    alert = Alert(
        fingerprint="fp-" + rule,
        rule=rule,
        severity="critical",
        labels={"probe": "api-worker", "script": "api", **labels},
        state=AlertState.FIRING if kind == "firing" else AlertState.RESOLVED,
        active_since=T0,
        last_active_at=T0,
        last_seen=T0,
        annotations={"summary": "api errors at 12%"},
        values={"error_ratio": 0.12},
    )
    return AlertEvent(kind=kind, at=T0, alert=alert)


def _hook(**overrides: Any) -> Remediation:
    data: dict[str, Any] = {
        "name": "rollback-api",
        "when": {"rule": "worker_error_ratio_high"},
        "action": {"type": "worker_rollback"},
        "cooldown": "10m",
        "max_per_hour": 2,
    }
    data.update(overrides)
    return Remediation.model_validate(data)


def _ran(at: float, outcome: str = "ok", name: str = "rollback-api") -> RunRecord:
    return RunRecord(name, "worker_rollback", "fp", "r", "firing", at, outcome, "")  # type: ignore[arg-type]


def test_a_matching_firing_event_runs_the_hook() -> None:
    """With no history the first trigger runs."""
    [decision] = decide([_hook()], [_event()], [], T0)
    assert "run" == decision.verdict


@pytest.mark.parametrize(
    ("event", "when", "expected"),
    [
        (_event("resolved"), {"rule": "worker_error_ratio_high"}, False),
        (_event("resolved"), {"states": ["resolved"]}, True),
        (_event("reminder"), {"states": ["firing", "resolved"]}, False),
        (_event(rule="kv_latency_high"), {"rule": "worker_error_ratio_high"}, False),
        (_event(), {"matchers": ['probe="api-worker"', "severity=critical"]}, True),
        (_event(), {"matchers": ['probe=~"web.*"']}, False),
    ],
)
def test_triggers_select_rule_state_and_labels(
    event: AlertEvent, when: dict[str, Any], expected: bool
) -> None:
    """A hook acts only on the rule, states and labels it names; reminders never trigger."""
    assert expected == triggered(_hook(when=when), event)


def test_cooldown_skips_and_says_how_long_is_left() -> None:
    """A second trigger inside the cooldown is skipped with the time left."""
    [decision] = decide([_hook()], [_event()], [_ran(T0 - 120)], T0)
    assert ("skip", "cooldown: 480 s left of 600 s") == (decision.verdict, decision.reason)


def test_hourly_limit_counts_real_runs_only() -> None:
    """Dry runs and skips do not use up the hourly budget; ok and failed runs do."""
    hook = _hook(cooldown="0s")
    history = [
        _ran(T0 - 3000),
        _ran(T0 - 2000, "failed"),
        _ran(T0 - 10, "dry_run"),
        _ran(T0 - 5, "skipped"),
    ]
    [decision] = decide([hook], [_event()], history, T0)
    assert ("skip", "limit: 2 runs in the last hour (max 2)") == (decision.verdict, decision.reason)
    [later] = decide([hook], [_event()], history, T0 + 700)
    assert "run" == later.verdict


def test_one_round_cannot_run_a_hook_twice() -> None:
    """Two alerts firing together trigger the rollback once; the second is in cooldown."""
    events = [_event(probe="a"), _event(probe="b")]
    verdicts = [d.verdict for d in decide([_hook()], events, [], T0)]
    assert ["run", "skip"] == verdicts


@pytest.mark.parametrize("global_dry_run", [True, False])
def test_dry_run_rehearses(global_dry_run: bool) -> None:
    """A dry run (per hook or for all) is decided but changes nothing."""
    hook = _hook(dry_run=not global_dry_run)
    [decision] = decide([hook], [_event()], [], T0, global_dry_run=global_dry_run)
    assert "dry_run" == decision.verdict


def test_labels_fill_action_fields() -> None:
    """``$script`` in a field takes the alert's label, so one hook serves every Worker."""
    assert "api" == expand("$script", {"script": "api"})
    assert "api-v2" == expand("${script}-v2", {"script": "api"})
    assert "cost $5" == expand("cost $$5", {})


def test_a_missing_label_is_an_error_not_a_wrong_target() -> None:
    """Acting on the wrong Worker is worse than not acting: a missing label refuses."""
    with pytest.raises(MissingLabel, match="no label 'project'"):
        expand("$project", {"script": "api"})


def test_command_environment_carries_the_alert() -> None:
    """A command hook learns the alert from FLAREWATCH_* variables."""
    env = alert_environment(_event())
    assert "worker_error_ratio_high" == env["FLAREWATCH_RULE"]
    assert "api" == env["FLAREWATCH_LABEL_SCRIPT"]
    assert "0.12" == env["FLAREWATCH_VALUE_ERROR_RATIO"]
    assert "firing" == env["FLAREWATCH_EVENT"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "command", "argv": []}, "at least 1"),
        ({"type": "reboot"}, "does not match any of the expected tags"),
        ({"type": "worker_cpu_limit", "cpu_ms": 5}, "greater than or equal to 10"),
        ({"type": "worker_rollback", "scrpt": "api"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_actions_are_refused_at_load(data: dict[str, Any], message: str) -> None:
    """An action that cannot be performed is a config error, not a failure at 3 a.m."""
    with pytest.raises(ValidationError, match=message):
        TypeAdapter(Action).validate_python(data)


def test_bad_matchers_are_refused_at_load() -> None:
    """A matcher that does not parse fails the config load."""
    with pytest.raises(ValidationError):
        _hook(when={"matchers": ["probe=="]})


def test_audit_records_round_trip() -> None:
    """The audit line reads back as the same record."""
    record = RunRecord("h", "command", "fp", "r", "resolved", T0, "failed", "exit 3", 12.5)
    assert record == RunRecord.from_dict(record.as_dict())
    with pytest.raises(ValueError, match="unknown outcome"):
        RunRecord.from_dict({**record.as_dict(), "outcome": "maybe"})
