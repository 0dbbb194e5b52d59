"""Restart safety: alerts stored as records and fed back to ``step`` are neither re-announced
nor lost."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from alerting.lifecycle import (
    RECORD_VERSION,
    Alert,
    LifecycleSettings,
    from_record,
    step,
    to_record,
)
from alerting.model import AlertState, RuleVerdict, fingerprint

RULE = "probe_down"
LABELS = {"probe": "d1-main", "probe_type": "d1"}
FP = fingerprint(RULE, LABELS)
SETTINGS = LifecycleSettings(
    repeat_interval=3600.0, flap_window=600.0, flap_threshold=4, stale_after=300.0
)


def _verdict(active: bool, at: float, for_s: float = 0.0) -> RuleVerdict:
    return RuleVerdict(
        rule=RULE,
        severity="critical",
        labels=LABELS,
        active=active,
        at=at,
        values={"attempts": 3.0},
        annotations={"summary": "D1 d1-main unreachable"},
        for_s=for_s,
    )


def _stored(*verdicts: RuleVerdict) -> dict[str, Alert]:
    """Alerts as the daemon would have stored them: run, then through JSON records."""
    alerts: dict[str, Alert] = {}
    for v in verdicts:
        alerts, _ = step(alerts, [v], v.at, SETTINGS)
    return {fp: from_record(json.loads(json.dumps(to_record(a)))) for fp, a in alerts.items()}


def _after_restart(
    stored: dict[str, Alert], rounds: Sequence[tuple[float, RuleVerdict | None]]
) -> list[str]:
    """Event kinds emitted by the restarted daemon over ``rounds``."""
    kinds: list[str] = []
    alerts = stored
    for now, verdict in rounds:
        alerts, events = step(alerts, [] if verdict is None else [verdict], now, SETTINGS)
        kinds += [e.kind for e in events]
    return kinds


def test_firing_and_notified_alert_is_not_announced_again() -> None:
    """A daemon restarted during an incident stays quiet about it (no alert storm)."""
    stored = _stored(_verdict(True, 0.0))
    kinds = _after_restart(
        stored, [(1000.0, _verdict(True, 1000.0)), (1060.0, _verdict(True, 1060.0))]
    )
    assert [] == kinds


def test_reminder_schedule_survives_restart() -> None:
    """The reminder clock counts from the last notification before the restart."""
    stored = _stored(_verdict(True, 0.0))
    kinds = _after_restart(
        stored, [(3000.0, _verdict(True, 3000.0)), (3600.0, _verdict(True, 3600.0))]
    )
    assert ["reminder"] == kinds


@pytest.mark.parametrize(
    "first_round",
    [
        pytest.param((1000.0, _verdict(False, 1000.0)), id="false-verdict-on-the-first-round"),
        pytest.param((1000.0, None), id="no-verdict-at-all"),
    ],
)
def test_alert_resolved_while_down_is_resolved_exactly_once(
    first_round: tuple[float, RuleVerdict | None],
) -> None:
    """An incident that ended while the daemon was down gets its resolve — once — whether the
    probe reports the recovery or has stopped reporting (then it resolves as stale)."""
    stored = _stored(_verdict(True, 0.0))
    later = [(1100.0, None), (2000.0, _verdict(False, 2000.0)), (2100.0, None)]
    assert ["resolved"] == _after_restart(stored, [first_round, *later])


def test_pending_alert_continues_its_for_after_restart() -> None:
    """A pending alert's ``for`` keeps counting from its stored ``active_since``."""
    stored = _stored(_verdict(True, 0.0, for_s=120.0))
    kinds = _after_restart(stored, [(120.0, _verdict(True, 120.0, for_s=120.0))])
    assert ["firing"] == kinds


def test_announcement_held_by_a_crash_is_made_after_restart() -> None:
    """An alert stored as firing but never announced (the daemon stopped between the two) is
    announced on the next round: nothing is lost."""
    stored = _stored(_verdict(True, 0.0))
    unannounced = {FP: replace(stored[FP], notified_state=None, last_notified_at=None)}
    assert ["firing"] == _after_restart(unannounced, [(30.0, _verdict(True, 30.0))])


def _full_alert() -> Alert:
    return Alert(
        fingerprint=FP,
        rule=RULE,
        severity="critical",
        labels=LABELS,
        state=AlertState.RESOLVED,
        active_since=10.0,
        last_active_at=40.5,
        last_seen=70.0,
        annotations={"summary": "D1 d1-main unreachable", "runbook_url": "https://runbooks/d1"},
        values={"attempts": 3.0, "latency_ms": 1234.5},
        firing_since=12.0,
        resolved_at=75.0,
        resolved_reason="stale",
        notified_state=AlertState.RESOLVED,
        last_notified_at=75.0,
        flap_history=(12.0, 75.0),
        flapping=True,
    )


def test_record_round_trips_through_json() -> None:
    """Every field survives ``to_record`` → JSON → ``from_record`` unchanged."""
    alert = _full_alert()
    assert alert == from_record(json.loads(json.dumps(to_record(alert))))


def test_record_is_versioned_json_data() -> None:
    """Records carry their format version and only JSON types, so the store can evolve."""
    record = to_record(_full_alert())
    actual = (record["record_version"], record["state"], record["flap_history"])
    assert (RECORD_VERSION, "resolved", [12.0, 75.0]) == actual


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"record_version": 99}, "unsupported alert record version 99", id="version"),
        pytest.param({"state": "exploded"}, "state", id="unknown-state"),
        pytest.param({"surprise": 1}, "surprise", id="unknown-field"),
        pytest.param({"active_since": "soon"}, "active_since", id="bad-time"),
    ],
)
def test_bad_record_is_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    """A corrupt or foreign record fails loudly with the field named, instead of loading an
    alert that would misbehave."""
    record = {**to_record(_full_alert()), **change}
    with pytest.raises(ValueError, match=message):
        from_record(record)


def test_record_without_version_is_refused() -> None:
    """A record missing its version is not guessed at."""
    record = to_record(_full_alert())
    del record["record_version"]
    with pytest.raises(ValueError, match="unsupported alert record version None"):
        from_record(record)
