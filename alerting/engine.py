"""One evaluation round of the whole alert engine, as a pure function.

``(config, state, observations, silences, now) -> (state, events, notifications)``: rules
turn observations into verdicts, the lifecycle turns verdicts into alerts and events,
silences and inhibition decide what is muted, and grouping decides which messages are due.
The daemon owns the loop, the clock, persistence and delivery; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from alerting import grouping, lifecycle
from alerting.grouping import GroupState, Notification
from alerting.inhibition import InhibitRule, default_inhibit_rules, inhibited
from alerting.lifecycle import Alert, AlertEvent, LifecycleSettings
from alerting.model import Observation
from alerting.routing import RouteTree
from alerting.rules import EvaluationCache, RuleSet, evaluate
from alerting.silences import Silence, silenced_by


@dataclass(frozen=True)
class EngineConfig:
    """What a configuration load produces for the engine.

    Reminders come from each route's ``repeat_interval`` (grouping), so the lifecycle's own
    reminders are off by default.
    """

    rules: RuleSet
    routes: RouteTree
    inhibit_rules: tuple[InhibitRule, ...] = field(default_factory=default_inhibit_rules)
    lifecycle: LifecycleSettings = field(
        default_factory=lambda: LifecycleSettings(repeat_interval=None)
    )


@dataclass(frozen=True)
class EngineState:
    """Everything the engine carries from one round to the next (and persists)."""

    alerts: Mapping[str, Alert] = field(default_factory=dict)
    groups: Mapping[str, GroupState] = field(default_factory=dict)


@dataclass(frozen=True)
class RoundResult:
    """The outcome of a round: the next state and what happened in it.

    ``muted`` maps the fingerprint of each silenced or inhibited alert to why: the ids of the
    silences (``silence:<id>``) or the fingerprint of the inhibiting alert
    (``inhibited_by:<fingerprint>``).
    """

    state: EngineState
    events: tuple[AlertEvent, ...]
    notifications: tuple[Notification, ...]
    muted: Mapping[str, str]


def evaluate_round(
    config: EngineConfig,
    state: EngineState,
    observations: Iterable[Observation],
    silences: Iterable[Silence],
    now: float,
    cache: EvaluationCache | None = None,
) -> RoundResult:
    """Run one round over every probe's latest observation.

    Pass the same ``cache`` every round (see :func:`alerting.rules.evaluate`).
    """
    verdicts = evaluate(config.rules, observations, cache).relevant(lifecycle.watched(state.alerts))
    alerts, events = lifecycle.step(state.alerts, verdicts, now, config.lifecycle)
    muted = muted_alerts(alerts, config.inhibit_rules, silences, now)
    groups, notifications = grouping.step(state.groups, alerts, now, config.routes, muted)
    return RoundResult(EngineState(alerts, groups), tuple(events), tuple(notifications), muted)


def flush(
    config: EngineConfig, state: EngineState, silences: Iterable[Silence], now: float
) -> RoundResult:
    """Send what grouping owes between rounds (call at :func:`next_wakeup`)."""
    muted = muted_alerts(state.alerts, config.inhibit_rules, silences, now)
    groups, notifications = grouping.step(state.groups, state.alerts, now, config.routes, muted)
    return RoundResult(EngineState(state.alerts, groups), (), tuple(notifications), muted)


def next_wakeup(state: EngineState) -> float | None:
    """When grouping next owes a message, or ``None`` when nothing is pending."""
    return grouping.next_wakeup(state.groups)


def muted_alerts(
    alerts: Mapping[str, Alert],
    inhibit_rules: tuple[InhibitRule, ...],
    silences: Iterable[Silence],
    now: float,
) -> dict[str, str]:
    """Fingerprint → reason for every alert a silence or an inhibit rule mutes at ``now``."""
    active_silences = tuple(silences)
    muted: dict[str, str] = {}
    for fp, alert in alerts.items():
        ids = silenced_by(alert.match_labels, active_silences, now)
        if ids:
            muted[fp] = "silence:" + ",".join(ids)
    for target, source in inhibited(alerts.values(), inhibit_rules).items():
        muted.setdefault(target, f"inhibited_by:{source}")
    return muted
