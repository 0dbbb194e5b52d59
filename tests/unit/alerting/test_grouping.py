"""Grouping on an injected clock: group_wait, group_interval, repeat_interval, resolves, muting,
flapping, empty groups and the daemon's wake-up time."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import pytest

from alerting.grouping import GroupState, Notification, next_wakeup, step
from alerting.lifecycle import Alert, LifecycleSettings
from alerting.lifecycle import step as lifecycle_step
from alerting.model import AlertState, RuleVerdict, fingerprint
from alerting.routing import RouteTree, load_routes

F, R = AlertState.FIRING, AlertState.RESOLVED

# Short timers, as the demo and tests use: 30 s wait, 5 min interval, 1 h reminders.
TREE_CONFIG: dict[str, Any] = {
    "receivers": ["slack"],
    "group_by": ["zone"],
    "group_wait": "30s",
    "group_interval": "5m",
    "repeat_interval": "1h",
    "routes": [
        {
            "matchers": ['severity="critical"'],
            "receivers": ["pagerduty"],
            "group_by": [],
            "continue": True,
        },
        {"matchers": ['probe_type="d1"'], "receivers": ["webhook"]},
    ],
}
TREE: RouteTree = load_routes(TREE_CONFIG, known_notifiers={"slack", "pagerduty", "webhook"})
ROOT = "{}"


def _alert(
    name: str,
    notified: AlertState | None = F,
    *,
    zone: str = "example.com",
    severity: str = "warning",
    probe_type: str = "workers",
    flapping: bool = False,
) -> Alert:
    """An alert as the lifecycle lists it; ``notified`` is what the lifecycle announced."""
    labels = {"probe": name, "probe_type": probe_type, "zone": zone}
    state = AlertState.RESOLVED if notified is R else AlertState.FIRING
    return Alert(
        fingerprint=fingerprint("rule_" + name, labels),
        rule="rule_" + name,
        severity=severity,  # type: ignore[arg-type]
        labels=labels,
        state=state,
        active_since=0.0,
        last_active_at=0.0,
        last_seen=0.0,
        annotations={"summary": f"{name} is down"},
        firing_since=0.0,
        resolved_at=1.0 if state is AlertState.RESOLVED else None,
        resolved_reason="cleared" if state is AlertState.RESOLVED else None,
        notified_state=notified,
        flapping=flapping,
    )


class Round(NamedTuple):
    """One call of ``step``: the clock, the lifecycle's alerts and the muted ones (by name)."""

    now: float
    alerts: Sequence[Alert]
    muted: Collection[str] = ()


class Sent(NamedTuple):
    """A notification, reduced to what the tests compare."""

    at: float
    route: str
    firing: tuple[str, ...]
    resolved: tuple[str, ...]
    reminder: bool = False


def _sent(n: Notification) -> Sent:
    def names(alerts: tuple[Alert, ...]) -> tuple[str, ...]:
        return tuple(sorted(a.labels["probe"] + ("~" if a.flapping else "") for a in alerts))

    return Sent(n.at, n.route, names(n.firing), names(n.resolved), n.reminder)


def _by_name(alerts: Sequence[Alert]) -> dict[str, Alert]:
    return {a.labels["probe"]: a for a in alerts}


def _run(
    rounds: Sequence[Round], groups: Mapping[str, GroupState] | None = None
) -> tuple[list[Sent], dict[str, GroupState]]:
    """Run the rounds; return every notification sent and the final groups."""
    current: dict[str, GroupState] = dict(groups or {})
    sent: list[Sent] = []
    for r in rounds:
        names = _by_name(r.alerts)
        muted = {names[n].fingerprint for n in r.muted}
        current, notifications = step(
            current, {a.fingerprint: a for a in r.alerts}, r.now, TREE, muted
        )
        sent += [_sent(n) for n in notifications]
    return sent, current


A, B, C = _alert("a"), _alert("b"), _alert("c")
A_RESOLVED = _alert("a", R)

TIMELINES = [
    pytest.param(
        [Round(0, [A]), Round(29, [A])],
        [],
        id="nothing-is-sent-before-group-wait",
    ),
    pytest.param(
        [Round(0, [A]), Round(10, [A, B]), Round(30, [A, B])],
        [Sent(30, ROOT, ("a", "b"), ())],
        id="group-wait-collects-alerts-that-arrive-meanwhile",
    ),
    pytest.param(
        [Round(0, [A]), Round(31.5, [A])],
        [Sent(31.5, ROOT, ("a",), ())],
        id="a-late-round-sends-what-is-overdue",
    ),
    pytest.param(
        [Round(0, [A]), Round(31.5, [A]), Round(40, [A, B]), Round(330, [A, B])],
        [Sent(31.5, ROOT, ("a",), ()), Sent(330, ROOT, ("a", "b"), ())],
        id="boundaries-count-from-the-scheduled-first-flush-not-a-late-round",
    ),
    pytest.param(
        [
            Round(0, [A]),
            Round(30, [A]),
            Round(45, [A, B]),
            Round(100, [A, B, C]),
            Round(329, [A, B, C]),
            Round(330, [A, B, C]),
        ],
        [Sent(30, ROOT, ("a",), ()), Sent(330, ROOT, ("a", "b", "c"), ())],
        id="group-interval-batches-later-changes-into-the-next-boundary",
    ),
    pytest.param(
        [Round(0, [A]), Round(30, [A]), Round(400, [A, B]), Round(629, [A, B]), Round(630, [A, B])],
        [Sent(30, ROOT, ("a",), ()), Sent(630, ROOT, ("a", "b"), ())],
        id="boundaries-count-from-the-first-flush-not-from-the-change",
    ),
    pytest.param(
        [Round(0, [A]), Round(30, [A]), Round(330, [A, B])],
        [Sent(30, ROOT, ("a",), ()), Sent(330, ROOT, ("a", "b"), ())],
        id="a-change-on-a-boundary-is-sent-at-once",
    ),
    pytest.param(
        [
            Round(0, [A, B]),
            Round(30, [A, B]),
            Round(100, [A_RESOLVED, B]),
            Round(330, [A_RESOLVED, B]),
            Round(630, [A_RESOLVED, B]),
        ],
        [Sent(30, ROOT, ("a", "b"), ()), Sent(330, ROOT, ("b",), ("a",))],
        id="a-resolve-is-sent-once-with-what-still-fires",
    ),
    pytest.param(
        [
            Round(0, [A]),
            Round(30, [A]),
            Round(100, [A_RESOLVED]),
            Round(330, [A_RESOLVED]),
            Round(630, [A_RESOLVED]),
        ],
        [Sent(30, ROOT, ("a",), ()), Sent(330, ROOT, (), ("a",))],
        id="a-group-whose-last-alert-resolves-says-so-once",
    ),
    pytest.param(
        [Round(0, [A]), Round(10, [A_RESOLVED]), Round(30, [A_RESOLVED])],
        [],
        id="an-alert-resolved-before-it-was-sent-is-never-sent",
    ),
    pytest.param(
        [
            Round(0, [A, B]),
            Round(30, [A, B]),
            Round(100, [A, B, C]),
            Round(200, [A, B]),
            Round(330, [A, B]),
        ],
        [Sent(30, ROOT, ("a", "b"), ())],
        id="an-alert-gone-before-its-boundary-is-never-sent",
    ),
    pytest.param(
        [Round(0, [A]), Round(30, [A]), Round(3629, [A]), Round(3630, [A]), Round(7230, [A])],
        [
            Sent(30, ROOT, ("a",), ()),
            Sent(3630, ROOT, ("a",), (), reminder=True),
            Sent(7230, ROOT, ("a",), (), reminder=True),
        ],
        id="repeat-interval-re-sends-an-unchanged-firing-group-as-a-reminder",
    ),
    pytest.param(
        [
            Round(0, [A]),
            Round(30, [A]),
            Round(3300, [A, B]),
            Round(3330, [A, B]),
            Round(3630, [A, B]),
            Round(6929, [A, B]),
            Round(6930, [A, B]),
        ],
        [
            Sent(30, ROOT, ("a",), ()),
            Sent(3330, ROOT, ("a", "b"), ()),
            Sent(6930, ROOT, ("a", "b"), (), reminder=True),
        ],
        id="a-change-restarts-the-reminder-clock",
    ),
    pytest.param(
        [Round(0, [A, B], muted={"b"}), Round(30, [A, B], muted={"b"})],
        [Sent(30, ROOT, ("a",), ())],
        id="muted-alerts-are-left-out",
    ),
    pytest.param(
        [Round(0, [A], muted={"a"}), Round(30, [A], muted={"a"}), Round(3630, [A], muted={"a"})],
        [],
        id="a-group-whose-every-alert-is-muted-sends-nothing-not-even-reminders",
    ),
    pytest.param(
        [Round(0, [A], muted={"a"}), Round(30, [A], muted={"a"}), Round(100, [A]), Round(330, [A])],
        [Sent(330, ROOT, ("a",), ())],
        id="an-alert-unmuted-while-firing-is-sent-at-the-next-boundary",
    ),
    pytest.param(
        [
            Round(0, [A]),
            Round(30, [A]),
            Round(100, [A], muted={"a"}),
            Round(330, [A]),
            Round(630, [A]),
        ],
        [Sent(30, ROOT, ("a",), ())],
        id="an-alert-muted-after-it-was-sent-is-not-sent-again-when-unmuted",
    ),
    pytest.param(
        [
            Round(0, [A]),
            Round(30, [A]),
            Round(100, [A_RESOLVED], muted={"a"}),
            Round(330, [A_RESOLVED], muted={"a"}),
        ],
        [Sent(30, ROOT, ("a",), ()), Sent(330, ROOT, (), ("a",))],
        id="the-resolve-of-an-alert-sent-as-firing-is-sent-even-when-muted",
    ),
    pytest.param(
        [
            Round(0, [A]),
            Round(30, [A]),
            Round(100, [_alert("a", flapping=True)]),
            Round(330, [_alert("a", flapping=True)]),
            Round(3630, [_alert("a", flapping=True)]),
        ],
        [Sent(30, ROOT, ("a",), ()), Sent(330, ROOT, ("a~",), ())],
        id="flapping-is-a-change-and-holds-reminders",
    ),
    pytest.param(
        [
            Round(0, [A]),
            Round(30, [A]),
            Round(100, [_alert("a", F, flapping=True)]),
            Round(330, [_alert("a", F, flapping=True)]),
            Round(400, [A]),
            Round(630, [A]),
        ],
        [Sent(30, ROOT, ("a",), ()), Sent(330, ROOT, ("a~",), ()), Sent(630, ROOT, ("a",), ())],
        id="flapping-stopped-while-firing-is-a-change",
    ),
    pytest.param(
        [
            Round(0, [A]),
            Round(30, [A]),
            Round(100, [_alert("a", F, flapping=True)]),
            Round(330, [_alert("a", F, flapping=True)]),
            Round(400, [A_RESOLVED]),
            Round(630, [A_RESOLVED]),
        ],
        [Sent(30, ROOT, ("a",), ()), Sent(330, ROOT, ("a~",), ()), Sent(630, ROOT, (), ("a",))],
        id="a-resolve-held-while-flapping-is-sent-when-the-lifecycle-releases-it",
    ),
    pytest.param(
        [Round(0, [_alert("a", None)]), Round(30, [_alert("a", None)])],
        [],
        id="an-alert-the-lifecycle-has-not-announced-is-not-grouped",
    ),
]


@pytest.mark.parametrize(("rounds", "expected"), TIMELINES)
def test_grouping_timeline(rounds: Sequence[Round], expected: list[Sent]) -> None:
    """Alertmanager's timing, round by round: what is sent when decides whether an incident is
    one message or a storm, and whether a resolve is ever heard."""
    actual, _ = _run(rounds)
    assert expected == actual


def test_ten_alerts_of_one_incident_make_one_notification() -> None:
    """The point of grouping: an incident that trips ten rules sends one message per route."""
    alerts = [_alert(f"w{i}") for i in range(10)]
    rounds = [Round(float(i), alerts[: i + 1]) for i in range(10)] + [Round(30, alerts)]
    expected = [Sent(30, ROOT, tuple(f"w{i}" for i in range(10)), ())]
    assert expected == _run(rounds)[0]


def test_ten_rules_tripped_through_the_lifecycle_make_one_notification() -> None:
    """End to end with the real lifecycle: ten firing events in one round are one message."""
    settings = LifecycleSettings(repeat_interval=None)
    labels = {"probe": "api", "probe_type": "workers", "zone": "example.com"}
    verdicts = [
        RuleVerdict(rule=f"rule_{i}", severity="warning", labels=labels, active=True, at=0.0)
        for i in range(10)
    ]
    alerts, events = lifecycle_step({}, verdicts, 0.0, settings)
    groups, first = step({}, alerts, 0.0, TREE)
    _, second = step(groups, alerts, 30.0, TREE)
    expected: tuple[object, ...] = (10, [], [(ROOT, 10)])
    actual = (len(events), first, [(n.route, len(n.firing)) for n in second])
    assert expected == actual


def test_alerts_split_into_groups_by_their_group_by_labels() -> None:
    """DNS alerts of two zones are two incidents: one message each."""
    alerts = [_alert("a", zone="one.example"), _alert("b", zone="two.example")]
    sent, groups = _run([Round(0, alerts), Round(30, alerts)])
    expected = (
        [Sent(30, ROOT, ("a",), ()), Sent(30, ROOT, ("b",), ())],
        ['{}:{zone="one.example"}', '{}:{zone="two.example"}'],
    )
    assert expected == (sent, sorted(groups))


def test_an_alert_reaches_every_route_it_matches() -> None:
    """With ``continue``, a critical D1 alert pages PagerDuty and also reaches the D1 route."""
    alerts = [_alert("db", severity="critical", probe_type="d1")]
    groups, _ = step({}, {a.fingerprint: a for a in alerts}, 0.0, TREE)
    _, notifications = step(groups, {a.fingerprint: a for a in alerts}, 30.0, TREE)
    expected = [
        ('{}/{probe_type="d1"}', ("webhook",)),
        ('{}/{severity="critical"}', ("pagerduty",)),
    ]
    assert expected == [(n.route, n.receivers) for n in notifications]


def test_a_notification_carries_the_group_and_common_labels() -> None:
    """Receivers title messages with the group labels and what every alert shares."""
    alerts = {a.fingerprint: a for a in (A, B)}
    groups, _ = step({}, alerts, 0.0, TREE)
    _, [notification] = step(groups, alerts, 30.0, TREE)
    expected = (
        '{}:{zone="example.com"}',
        {"zone": "example.com"},
        {"probe_type": "workers", "zone": "example.com", "severity": "warning"},
        ("slack",),
        (A, B) if A.fingerprint < B.fingerprint else (B, A),
    )
    actual = (
        notification.group_key,
        notification.group_labels,
        notification.common_labels,
        notification.receivers,
        notification.firing,
    )
    assert expected == actual


def test_group_id_is_a_stable_hash_of_the_group_key() -> None:
    """A PagerDuty-style key per group must be the same on every replica and after restarts."""
    groups, _ = step({}, {A.fingerprint: A}, 0.0, TREE)
    _, [notification] = step(groups, {A.fingerprint: A}, 30.0, TREE)
    expected = hashlib.sha256(b'{}:{zone="example.com"}').hexdigest()[:32]
    assert (expected, expected) == (notification.group_id, groups[notification.group_key].id)


def test_notifications_show_the_lifecycles_current_snapshot() -> None:
    """A reminder must show today's numbers, not those of the first message."""
    fresh = replace(A, values={"error_ratio": 0.5})
    groups, _ = step({}, {A.fingerprint: A}, 0.0, TREE)
    groups, _ = step(groups, {A.fingerprint: A}, 30.0, TREE)
    _, [reminder] = step(groups, {A.fingerprint: fresh}, 3630.0, TREE)
    assert ({"error_ratio": 0.5}, True) == (reminder.firing[0].values, reminder.reminder)


def test_an_alert_the_lifecycle_dropped_is_resolved_for_want_of_data() -> None:
    """If the lifecycle stops listing an alert that was sent as firing, its receivers must
    still hear that it is over, and that no data says so."""
    groups, _ = step({}, {A.fingerprint: A}, 0.0, TREE)
    groups, _ = step(groups, {A.fingerprint: A}, 30.0, TREE)
    groups, none = step(groups, {}, 100.0, TREE)
    left, [notification] = step(groups, {}, 330.0, TREE)
    resolved = notification.resolved[0]
    expected: tuple[object, ...] = ([], (), AlertState.RESOLVED, "stale", 100.0, {})
    actual = (
        none,
        notification.firing,
        resolved.state,
        resolved.resolved_reason,
        resolved.resolved_at,
        left,
    )
    assert expected == actual


def test_groups_of_a_route_removed_by_a_reload_are_dropped() -> None:
    """After a reload the alert goes where the new tree sends it, and the old group goes."""
    groups, _ = step({}, {A.fingerprint: A}, 0.0, TREE)
    reloaded = load_routes(
        {"receivers": ["slack"], "group_by": ["probe"]}, known_notifiers={"slack"}
    )
    after, _ = step(groups, {A.fingerprint: A}, 10.0, reloaded)
    assert ['{}:{zone="example.com"}'] == sorted(groups)
    assert ['{}:{probe="a"}'] == sorted(after)


@pytest.mark.parametrize(
    ("rounds", "expected"),
    [
        pytest.param([], None, id="no-groups-no-wakeup"),
        pytest.param([Round(5, [A])], 35.0, id="a-new-group-wakes-at-the-end-of-group-wait"),
        pytest.param(
            [Round(5, [A]), Round(35, [A])], 3635.0, id="a-notified-group-wakes-for-its-reminder"
        ),
        pytest.param(
            [Round(5, [A]), Round(35, [A]), Round(50, [A, B])],
            335.0,
            id="a-pending-change-wakes-at-the-next-boundary",
        ),
        pytest.param(
            [Round(5, [A], muted={"a"}), Round(35, [A], muted={"a"})],
            None,
            id="a-muted-group-needs-no-wakeup",
        ),
        pytest.param(
            [
                Round(5, [A]),
                Round(35, [A]),
                Round(50, [_alert("a", flapping=True)]),
                Round(335, [_alert("a", flapping=True)]),
            ],
            None,
            id="a-flapping-group-needs-no-reminder-wakeup",
        ),
    ],
)
def test_next_wakeup(rounds: Sequence[Round], expected: float | None) -> None:
    """The daemon sleeps until the next flush or reminder instead of polling; too late loses
    timing, too early wastes work, none at all would lose a notification."""
    _, groups = _run(rounds)
    assert expected == next_wakeup(groups)


def test_empty_groups_are_removed() -> None:
    """A group with nothing left must go, or state grows with every incident forever."""
    _, groups = _run([Round(0, [A]), Round(30, [A]), Round(100, [A_RESOLVED])])
    _, after = _run([Round(330, [A_RESOLVED])], groups)
    assert (1, {}) == (len(groups), after)
