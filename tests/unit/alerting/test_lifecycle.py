"""The alert lifecycle, round by round on an injected clock: every transition and event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import pytest

from alerting.lifecycle import Alert, AlertEvent, LifecycleSettings, step
from alerting.model import AlertState, RuleVerdict, fingerprint

RULE = "worker_error_ratio"
LABELS = {"probe": "api", "probe_type": "workers", "zone": "example.com"}
FP = fingerprint(RULE, LABELS)

SETTINGS = LifecycleSettings(
    repeat_interval=3600.0,
    flap_window=600.0,
    flap_threshold=4,
    stale_after=300.0,
    resolved_retention=900.0,
)


class Round(NamedTuple):
    """One evaluation round: the clock, the rule's verdict (``None``: no verdict) and the
    observation time (defaults to the round)."""

    now: float
    active: bool | None
    at: float | None = None


def _verdict(
    active: bool,
    at: float,
    for_s: float = 0.0,
    keep_firing_for_s: float = 0.0,
    values: Mapping[str, float] | None = None,
    labels: Mapping[str, str] = LABELS,
) -> RuleVerdict:
    return RuleVerdict(
        rule=RULE,
        severity="warning",
        labels=labels,
        active=active,
        at=at,
        values=values or {"error_ratio": 0.2},
        annotations={"summary": "api errors"},
        for_s=for_s,
        keep_firing_for_s=keep_firing_for_s,
    )


def _run(
    rounds: Sequence[Round],
    for_s: float = 0.0,
    keep_firing_for_s: float = 0.0,
    settings: LifecycleSettings = SETTINGS,
    alerts: Mapping[str, Alert] | None = None,
) -> tuple[list[tuple[str, tuple[str, ...]]], dict[str, Alert], list[AlertEvent]]:
    """Run the rounds; return per round (state or "-" when gone, event kinds), the final
    alerts and every event."""
    current: dict[str, Alert] = dict(alerts or {})
    trace: list[tuple[str, tuple[str, ...]]] = []
    emitted: list[AlertEvent] = []
    for r in rounds:
        verdicts = []
        if r.active is not None:
            at = r.now if r.at is None else r.at
            verdicts.append(_verdict(r.active, at, for_s, keep_firing_for_s))
        current, events = step(current, verdicts, r.now, settings)
        emitted.extend(events)
        state = current[FP].state.value if FP in current else "-"
        trace.append((state, tuple(e.kind for e in events)))
    return trace, current, emitted


T, F = True, False

TRANSITIONS = [
    pytest.param(60, 0, [Round(0, F)], [("-", ())], id="inactive-stays-inactive-when-false"),
    pytest.param(60, 0, [Round(0, T)], [("pending", ())], id="inactive-to-pending-with-for"),
    pytest.param(
        60,
        0,
        [Round(0, T), Round(30, F)],
        [("pending", ()), ("-", ())],
        id="pending-to-inactive-silently-when-false",
    ),
    pytest.param(
        60,
        0,
        [Round(0, T), Round(59, T), Round(60, T)],
        [("pending", ()), ("pending", ()), ("firing", ("firing",))],
        id="pending-to-firing-at-the-round-for-has-elapsed",
    ),
    pytest.param(0, 0, [Round(0, T)], [("firing", ("firing",))], id="for-zero-fires-at-once"),
    pytest.param(
        0,
        0,
        [Round(0, T), Round(30, T), Round(60, T)],
        [("firing", ("firing",)), ("firing", ()), ("firing", ())],
        id="firing-stays-firing-silently-while-true",
    ),
    pytest.param(
        0,
        0,
        [Round(0, T), Round(30, F)],
        [("firing", ("firing",)), ("resolved", ("resolved",))],
        id="firing-to-resolved-at-the-first-false-round-without-keep-firing-for",
    ),
    pytest.param(
        0,
        60,
        [Round(0, T), Round(30, F), Round(59, F)],
        [("firing", ("firing",)), ("firing", ()), ("firing", ())],
        id="keep-firing-for-holds-firing-after-the-condition-clears",
    ),
    pytest.param(
        0,
        60,
        [Round(0, T), Round(30, F), Round(60, F)],
        [("firing", ("firing",)), ("firing", ()), ("resolved", ("resolved",))],
        id="keep-firing-for-expires-counted-from-the-last-true-round",
    ),
    pytest.param(
        0,
        60,
        [Round(0, T), Round(30, F), Round(45, T), Round(104, F), Round(105, F)],
        [
            ("firing", ("firing",)),
            ("firing", ()),
            ("firing", ()),
            ("firing", ()),
            ("resolved", ("resolved",)),
        ],
        id="keep-firing-for-restarts-when-the-condition-returns",
    ),
    pytest.param(
        60,
        0,
        [Round(0, T), Round(60, T), Round(90, F), Round(120, T), Round(180, T)],
        [
            ("pending", ()),
            ("firing", ("firing",)),
            ("resolved", ("resolved",)),
            ("pending", ()),
            ("firing", ("firing",)),
        ],
        id="resolved-to-pending-again-then-firing-again",
    ),
    pytest.param(
        0,
        0,
        [Round(0, T), Round(30, F), Round(60, T)],
        [("firing", ("firing",)), ("resolved", ("resolved",)), ("firing", ("firing",))],
        id="resolved-to-firing-at-once-with-for-zero",
    ),
    pytest.param(
        60,
        0,
        [Round(0, T), Round(60, T), Round(90, F), Round(120, T), Round(150, F)],
        [
            ("pending", ()),
            ("firing", ("firing",)),
            ("resolved", ("resolved",)),
            ("pending", ()),
            ("resolved", ()),
        ],
        id="re-pending-alert-that-clears-returns-to-resolved-silently",
    ),
    pytest.param(
        0,
        0,
        [Round(0, T), Round(30, F), Round(200, None), Round(400, F)],
        [
            ("firing", ("firing",)),
            ("resolved", ("resolved",)),
            ("resolved", ()),
            ("resolved", ()),
        ],
        id="resolved-stays-resolved-without-events",
    ),
]


@pytest.mark.parametrize(("for_s", "keep_s", "rounds", "expected"), TRANSITIONS)
def test_transition(
    for_s: float,
    keep_s: float,
    rounds: list[Round],
    expected: list[tuple[str, tuple[str, ...]]],
) -> None:
    """Each lifecycle transition happens at the right round with the right event (and pending
    never notifies), as Prometheus' ``for`` / ``keep_firing_for`` semantics prescribe."""
    trace, _, _ = _run(rounds, for_s=for_s, keep_firing_for_s=keep_s)
    assert expected == trace


@pytest.mark.parametrize(
    ("repeat_interval", "rounds", "expected"),
    [
        pytest.param(
            3600.0,
            [Round(0, T), Round(3599, T), Round(3600, T), Round(7199, T), Round(7200, T)],
            [
                ("firing", ("firing",)),
                ("firing", ()),
                ("firing", ("reminder",)),
                ("firing", ()),
                ("firing", ("reminder",)),
            ],
            id="every-repeat-interval-since-the-last-notification",
        ),
        pytest.param(
            None,
            [Round(0, T), Round(3600, T), Round(7200, T)],
            [("firing", ("firing",)), ("firing", ()), ("firing", ())],
            id="none-when-repeat-interval-is-off",
        ),
        pytest.param(
            3600.0,
            [Round(0, T), Round(3000, F), Round(3600, F)],
            [("firing", ("firing",)), ("resolved", ("resolved",)), ("resolved", ())],
            id="none-once-resolved",
        ),
    ],
)
def test_reminders(
    repeat_interval: float | None,
    rounds: list[Round],
    expected: list[tuple[str, tuple[str, ...]]],
) -> None:
    """A firing alert is announced again every ``repeat_interval`` (users forget long
    incidents), never when reminders are off or the alert has resolved."""
    settings = LifecycleSettings(
        repeat_interval=repeat_interval, flap_window=600.0, flap_threshold=4, stale_after=300.0
    )
    trace, _, _ = _run(rounds, settings=settings)
    assert expected == trace


def test_reminder_shows_current_values() -> None:
    """A reminder carries the values of the latest round, not those at the first firing, so
    "still firing" shows today's numbers."""
    first = _verdict(True, 0.0, values={"error_ratio": 0.2})
    latest = _verdict(True, 3600.0, values={"error_ratio": 0.6})
    alerts, _ = step({}, [first], 0.0, SETTINGS)
    _, events = step(alerts, [latest], 3600.0, SETTINGS)
    assert [("reminder", {"error_ratio": 0.6})] == [(e.kind, e.alert.values) for e in events]


def test_values_and_annotations_update_every_round() -> None:
    """The alert keeps the latest verdict's values and annotations, even on a silent round."""
    alerts, _ = step({}, [_verdict(True, 0.0, values={"error_ratio": 0.2})], 0.0, SETTINGS)
    newer = RuleVerdict(
        rule=RULE,
        severity="critical",
        labels=LABELS,
        active=True,
        at=30.0,
        values={"error_ratio": 0.3},
        annotations={"summary": "api errors at 30%"},
    )
    alerts, _ = step(alerts, [newer], 30.0, SETTINGS)
    actual = (alerts[FP].severity, alerts[FP].values, alerts[FP].annotations)
    assert ("critical", {"error_ratio": 0.3}, {"summary": "api errors at 30%"}) == actual


FLAPPING = [
    pytest.param(
        [Round(0, T), Round(10, F), Round(20, T), Round(30, F)],
        [
            ("firing", ("firing",)),
            ("resolved", ("resolved",)),
            ("firing", ("firing",)),
            ("resolved", ("flapping",)),
        ],
        id="starts-at-the-threshold-change-which-is-held",
    ),
    pytest.param(
        [Round(0, T), Round(10, F), Round(20, T), Round(30, F), Round(40, T), Round(50, F)],
        [
            ("firing", ("firing",)),
            ("resolved", ("resolved",)),
            ("firing", ("firing",)),
            ("resolved", ("flapping",)),
            ("firing", ()),
            ("resolved", ()),
        ],
        id="holds-firing-and-resolved-while-flapping",
    ),
    pytest.param(
        [Round(0, T), Round(10, F), Round(20, T), Round(30, F), Round(629, F), Round(630, F)],
        [
            ("firing", ("firing",)),
            ("resolved", ("resolved",)),
            ("firing", ("firing",)),
            ("resolved", ("flapping",)),
            ("resolved", ()),
            ("resolved", ("flapping_stopped", "resolved")),
        ],
        id="stops-after-a-stable-window-and-announces-the-held-state",
    ),
    pytest.param(
        [Round(0, T), Round(10, F), Round(20, T), Round(30, F), Round(40, T), Round(640, T)],
        [
            ("firing", ("firing",)),
            ("resolved", ("resolved",)),
            ("firing", ("firing",)),
            ("resolved", ("flapping",)),
            ("firing", ()),
            ("firing", ("flapping_stopped",)),
        ],
        id="stops-without-repeating-a-state-already-announced",
    ),
    pytest.param(
        [Round(0, T), Round(10, F), Round(20, T), Round(700, F), Round(710, T), Round(720, F)],
        [
            ("firing", ("firing",)),
            ("resolved", ("resolved",)),
            ("firing", ("firing",)),
            ("resolved", ("resolved",)),
            ("firing", ("firing",)),
            ("resolved", ("resolved",)),
        ],
        id="changes-spread-wider-than-the-window-do-not-flap",
    ),
]


@pytest.mark.parametrize(("rounds", "expected"), FLAPPING)
def test_flapping(rounds: list[Round], expected: list[tuple[str, tuple[str, ...]]]) -> None:
    """Too many firing/resolved changes within the window mark the alert flapping and hold its
    notifications; once stable for a window it says so and announces exactly what is owed."""
    trace, _, _ = _run(rounds)
    assert expected == trace


def test_no_reminders_while_flapping() -> None:
    """A flapping alert sends no reminders even when firing longer than ``repeat_interval``:
    holding notifications is the point of flap detection."""
    settings = LifecycleSettings(
        repeat_interval=60.0, flap_window=600.0, flap_threshold=4, stale_after=300.0
    )
    rounds = [Round(0, T), Round(10, F), Round(20, T), Round(30, F), Round(40, T)]
    rounds += [Round(t, T) for t in range(100, 600, 100)]
    _, _, events = _run(rounds, settings=settings)
    assert ["firing", "resolved", "firing", "flapping"] == [e.kind for e in events]


def test_flapping_stopped_is_not_followed_by_a_reminder() -> None:
    """The end of flapping already tells the current state; a reminder in the same round
    would be noise."""
    settings = LifecycleSettings(
        repeat_interval=60.0, flap_window=600.0, flap_threshold=4, stale_after=300.0
    )
    rounds = [Round(0, T), Round(10, F), Round(20, T), Round(30, F), Round(40, T), Round(640, T)]
    trace, _, _ = _run(rounds, settings=settings)
    assert ("firing", ("flapping_stopped",)) == trace[-1]


STALENESS = [
    pytest.param(
        0,
        [Round(0, T), Round(299, None), Round(300, None), Round(600, None)],
        [
            ("firing", ("firing",)),
            ("firing", ()),
            ("resolved", ("resolved",)),
            ("resolved", ()),
        ],
        id="firing-alert-without-verdicts-resolves-once-after-stale-after",
    ),
    pytest.param(
        600,
        [Round(0, T), Round(300, None)],
        [("pending", ()), ("-", ())],
        id="pending-alert-without-verdicts-is-dropped",
    ),
    pytest.param(
        0,
        [Round(0, T), Round(200, T, 0), Round(300, T, 0)],
        [("firing", ("firing",)), ("firing", ()), ("resolved", ("resolved",))],
        id="verdicts-on-an-old-observation-count-as-none",
    ),
    pytest.param(
        0,
        [Round(0, T), Round(100, F), Round(150, T, 50)],
        [("firing", ("firing",)), ("resolved", ("resolved",)), ("resolved", ())],
        id="verdict-older-than-the-last-seen-is-ignored",
    ),
    pytest.param(
        60,
        [Round(0, T), Round(100, T, 0), Round(200, T, 0)],
        [("pending", ()), ("pending", ()), ("pending", ())],
        id="re-evaluating-one-observation-does-not-advance-for",
    ),
]


@pytest.mark.parametrize(("for_s", "rounds", "expected"), STALENESS)
def test_staleness(
    for_s: float, rounds: list[Round], expected: list[tuple[str, tuple[str, ...]]]
) -> None:
    """When a probe stops reporting, its alerts resolve once (or are dropped if pending)
    after ``stale_after``; old or replayed observations never move an alert."""
    trace, _, _ = _run(rounds, for_s=for_s)
    assert expected == trace


@pytest.mark.parametrize(
    ("for_s", "undecided", "expected"),
    [
        pytest.param(
            0,
            {"missing": ("values.error_ratio",)},
            [("firing", ("firing",)), ("firing", ()), ("resolved", ("resolved",))],
            id="missing-value-holds-a-firing-alert-until-stale",
        ),
        pytest.param(
            0,
            {"error": "no such overload"},
            [("firing", ("firing",)), ("firing", ()), ("resolved", ("resolved",))],
            id="evaluation-error-holds-a-firing-alert-until-stale",
        ),
        pytest.param(
            60,
            {"missing": ("values.error_ratio",)},
            [("pending", ()), ("pending", ()), ("-", ())],
            id="missing-value-neither-drops-nor-fires-a-pending-alert",
        ),
    ],
)
def test_undecided_verdict_counts_as_none(
    for_s: float, undecided: dict[str, Any], expected: list[tuple[str, tuple[str, ...]]]
) -> None:
    """A verdict the engine could not decide is inactive but says nothing about the condition:
    it neither resolves nor fires an alert, which goes stale if it stays undecided."""
    unknown = replace(_verdict(False, 0.0, for_s=for_s), **undecided)
    alerts: dict[str, Alert] = {}
    trace = []
    for now, verdict in [
        (0.0, _verdict(True, 0.0, for_s=for_s)),
        (200.0, replace(unknown, at=200.0)),
        (300.0, replace(unknown, at=300.0)),
    ]:
        alerts, events = step(alerts, [verdict], now, SETTINGS)
        state = alerts[FP].state.value if FP in alerts else "-"
        trace.append((state, tuple(e.kind for e in events)))
    assert expected == trace


def test_stale_resolve_gives_its_reason() -> None:
    """A resolve caused by silence from the probe says ``stale``, one caused by the condition
    says ``cleared``, so notifications do not claim a recovery nobody observed."""
    _, _, stale = _run([Round(0, T), Round(300, None)])
    _, _, cleared = _run([Round(0, T), Round(30, F)])
    actual = [e.alert.resolved_reason for e in stale + cleared if e.kind == "resolved"]
    assert ["stale", "cleared"] == actual


@pytest.mark.parametrize(
    ("retention", "flap_window", "rounds", "expected"),
    [
        pytest.param(
            120.0,
            60.0,
            [Round(0, T), Round(30, F), Round(149, F), Round(150, F)],
            [("firing", ("firing",)), ("resolved", ("resolved",)), ("resolved", ()), ("-", ())],
            id="dropped-when-retention-ends",
        ),
        pytest.param(
            60.0,
            600.0,
            [Round(0, T), Round(30, F), Round(100, F), Round(629, F), Round(630, F)],
            [
                ("firing", ("firing",)),
                ("resolved", ("resolved",)),
                ("resolved", ()),
                ("resolved", ()),
                ("-", ()),
            ],
            id="kept-until-its-flap-history-is-empty",
        ),
    ],
)
def test_resolved_retention(
    retention: float,
    flap_window: float,
    rounds: list[Round],
    expected: list[tuple[str, tuple[str, ...]]],
) -> None:
    """Resolved alerts stay listed for the retention ("recent alerts"), and longer while their
    flap history matters, so dropping one never resets flap detection."""
    settings = LifecycleSettings(
        flap_window=flap_window, flap_threshold=4, stale_after=300.0, resolved_retention=retention
    )
    trace, _, _ = _run(rounds, settings=settings)
    assert expected == trace


def test_new_cycle_keeps_fingerprint_and_restarts_active_since() -> None:
    """A resolved alert that comes back is the same instance (same PagerDuty dedup key) with
    a new ``active_since``, and its previous resolve is cleared when it fires."""
    _, alerts, _ = _run([Round(0, T), Round(30, F), Round(90, T)])
    alert = alerts[FP]
    actual = (alert.fingerprint, alert.active_since, alert.firing_since, alert.resolved_at)
    assert (FP, 90.0, 90.0, None) == actual


def test_pending_alert_records_when_it_became_active() -> None:
    """``active_since`` is the observation that first met the condition, and ``firing_since``
    the round at which ``for`` elapsed."""
    _, alerts, _ = _run([Round(5, T, 0), Round(65, T, 60)], for_s=60)
    actual = (alerts[FP].active_since, alerts[FP].firing_since)
    assert (0.0, 65.0) == actual


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        pytest.param(
            [(False, 10.0), (True, 20.0), (False, 5.0)],
            ("firing", ["firing"]),
            id="newest-true",
        ),
        pytest.param([(True, 10.0), (False, 20.0)], ("-", []), id="newest-false"),
    ],
)
def test_latest_of_several_verdicts_counts(
    verdicts: list[tuple[bool, float]], expected: tuple[str, list[str]]
) -> None:
    """When one round holds several verdicts for one alert, the newest observation decides."""
    alerts, events = step({}, [_verdict(a, at) for a, at in verdicts], 20.0, SETTINGS)
    state = alerts[FP].state.value if FP in alerts else "-"
    assert expected == (state, [e.kind for e in events])


def test_alerts_are_independent_and_events_ordered_by_fingerprint() -> None:
    """Two instances of a rule advance separately, and a round's events come in fingerprint
    order so the outbox is deterministic."""
    other = {**LABELS, "probe": "www"}
    verdicts = [_verdict(True, 0.0, labels=LABELS), _verdict(True, 0.0, labels=other)]
    _, events = step({}, verdicts, 0.0, SETTINGS)
    assert sorted([FP, fingerprint(RULE, other)]) == [e.fingerprint for e in events]


def test_inactive_record_is_treated_as_absent() -> None:
    """An alert handed in as inactive is not kept: inactive alerts are never listed."""
    alerts, _ = step({}, [_verdict(True, 0.0, for_s=60)], 0.0, SETTINGS)
    inactive = {FP: replace(alerts[FP], state=AlertState.INACTIVE)}
    actual, events = step(inactive, [], 10.0, SETTINGS)
    assert ({}, []) == (actual, events)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repeat_interval": 0.0}, "repeat_interval must be positive"),
        ({"flap_window": 0.0}, "flap_window must be positive"),
        ({"flap_threshold": 1}, "flap_threshold must be at least 2"),
        ({"stale_after": -1.0}, "stale_after must be positive"),
        ({"resolved_retention": -1.0}, "resolved_retention must not be negative"),
    ],
)
def test_settings_refuse_nonsense(kwargs: dict[str, Any], message: str) -> None:
    """Settings that would break the state machine are refused with the field named."""
    with pytest.raises(ValueError, match=message):
        LifecycleSettings(**kwargs)
