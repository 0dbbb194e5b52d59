"""Restart safety: groups stored as JSON records and fed back to ``step`` are neither
re-announced nor lost."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from alerting.grouping import RECORD_VERSION, GroupState, from_record, step, to_record
from alerting.lifecycle import Alert
from alerting.model import AlertState, fingerprint
from alerting.routing import load_routes

TREE = load_routes(
    {
        "receivers": ["slack"],
        "group_by": ["zone"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "1h",
    },
    known_notifiers={"slack"},
)
LABELS = {"probe": "api", "probe_type": "workers", "zone": "example.com"}
ALERT = Alert(
    fingerprint=fingerprint("probe_down", LABELS),
    rule="probe_down",
    severity="critical",
    labels=LABELS,
    state=AlertState.FIRING,
    active_since=0.0,
    last_active_at=0.0,
    last_seen=0.0,
    values={"attempts": 3.0},
    annotations={"summary": "api is down"},
    firing_since=0.0,
    notified_state=AlertState.FIRING,
    last_notified_at=0.0,
)
ALERTS = {ALERT.fingerprint: ALERT}


def _reloaded(groups: dict[str, GroupState]) -> dict[str, GroupState]:
    """The groups as a restarted daemon reads them back from its store."""
    return {k: from_record(json.loads(json.dumps(to_record(g)))) for k, g in groups.items()}


def _notified_group() -> dict[str, GroupState]:
    groups, _ = step({}, ALERTS, 0.0, TREE)
    groups, _ = step(groups, ALERTS, 30.0, TREE)
    return groups


@pytest.mark.parametrize(
    "groups",
    [
        pytest.param(step({}, ALERTS, 0.0, TREE)[0], id="waiting-for-its-first-flush"),
        pytest.param(_notified_group(), id="notified-with-a-reminder-scheduled"),
    ],
)
def test_a_group_survives_a_json_round_trip_unchanged(groups: dict[str, GroupState]) -> None:
    """Whatever the store gives back must be the group that was stored, field for field."""
    assert groups == _reloaded(groups)


def test_a_restart_does_not_re_announce_a_notified_group() -> None:
    """An alert storm after every restart is what users hate most (gatus#679,
    alertmanager#2339): a group already notified stays quiet until its reminder."""
    groups = _reloaded(_notified_group())
    groups, quiet = step(groups, ALERTS, 100.0, TREE)
    _, reminder = step(groups, ALERTS, 3630.0, TREE)
    assert ([], [True]) == (quiet, [n.reminder for n in reminder])


def test_a_restart_keeps_a_waiting_group_on_its_schedule() -> None:
    """A group that was collecting alerts when the daemon stopped flushes at its original time,
    not a whole group_wait after the restart."""
    groups = _reloaded(step({}, ALERTS, 0.0, TREE)[0])
    _, sent = step(groups, ALERTS, 30.0, TREE)
    assert [("{}", 1)] == [(n.route, len(n.firing)) for n in sent]


def test_a_restart_still_sends_a_resolve_that_happened_while_down() -> None:
    """A resolve must never be lost to a restart (alertmanager#2370)."""
    resolved = replace(
        ALERT, state=AlertState.RESOLVED, resolved_at=50.0, notified_state=AlertState.RESOLVED
    )
    groups = _reloaded(_notified_group())
    _, sent = step(groups, {resolved.fingerprint: resolved}, 330.0, TREE)
    assert [((), (resolved,))] == [(n.firing, n.resolved) for n in sent]


def test_a_record_names_its_version() -> None:
    """A later flarewatch must be able to tell which format it is reading."""
    record = to_record(_notified_group()['{}:{zone="example.com"}'])
    assert RECORD_VERSION == record["record_version"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"record_version": 99}, "unsupported group record version 99", id="version"),
        pytest.param({"record_version": None}, "unsupported group record version None", id="none"),
        pytest.param({"colour": "red"}, "colour", id="unknown-field"),
        pytest.param({"created_at": "yesterday"}, "created_at", id="bad-value"),
    ],
)
def test_a_bad_record_is_refused_naming_the_problem(
    change: dict[str, object], expected: str
) -> None:
    """A corrupt or foreign record must fail loudly at load, not misbehave later."""
    record = {**to_record(_notified_group()['{}:{zone="example.com"}']), **change}
    with pytest.raises(ValueError, match=expected):
        from_record(record)
