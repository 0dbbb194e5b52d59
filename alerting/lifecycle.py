"""The alert lifecycle: a pure state machine from rule verdicts to alerts and events.

``inactive → pending → firing → resolved`` as in Prometheus (``for``, ``keep_firing_for``),
plus what Prometheus leaves to Alertmanager or to nobody: repeat reminders, flap detection
that holds notifications, staleness when a probe stops reporting, and restart safety — the
daemon persists :class:`Alert` records (:func:`to_record` / :func:`from_record`) and feeds them
back into :func:`step`, which announces only what has not been announced yet.

Times: a verdict's ``at`` is when its observation was taken; it drives everything about the
condition (``active_since``, ``last_active_at``, ``last_seen``, ``for``, ``keep_firing_for``).
``now`` is the evaluation round; it stamps transitions and notifications (``firing_since``,
``resolved_at``, ``last_notified_at``, flap history, events). ``docs/alerts.md`` explains every
rule of this module with examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import ConfigDict, with_config

from alerting.model import AlertState, RuleVerdict, Severity
from alerting.records import RecordCodec

EventKind = Literal["firing", "resolved", "reminder", "flapping", "flapping_stopped"]
ResolveReason = Literal["cleared", "stale"]

RECORD_VERSION = 1


@dataclass(frozen=True)
class LifecycleSettings:
    """Timers of the lifecycle, in seconds; the per-rule ``for`` and ``keep_firing_for`` come
    with each verdict.

    ``repeat_interval``: a firing alert is announced again (as a reminder) this long after its
    last notification; ``None`` turns reminders off. ``flap_threshold`` firing↔resolved changes
    within ``flap_window`` mark an alert flapping; it stops flapping after a whole window without
    a change. ``stale_after``: a pending or firing alert whose probe has not reported for this
    long is dropped or resolved (reason ``stale``); verdicts on observations older than this are
    ignored. ``resolved_retention``: how long a resolved alert stays listed (at least until its
    flap history is empty).
    """

    repeat_interval: float | None = 4 * 3600.0
    flap_window: float = 1800.0
    flap_threshold: int = 4
    stale_after: float = 900.0
    resolved_retention: float = 900.0

    def __post_init__(self) -> None:
        problems = []
        if self.repeat_interval is not None and self.repeat_interval <= 0:
            problems.append("repeat_interval must be positive (or None for no reminders)")
        if self.flap_window <= 0:
            problems.append("flap_window must be positive")
        if self.flap_threshold < 2:
            problems.append("flap_threshold must be at least 2 (one change is not a flap)")
        if self.stale_after <= 0:
            problems.append("stale_after must be positive")
        if self.resolved_retention < 0:
            problems.append("resolved_retention must not be negative")
        if problems:
            raise ValueError("invalid lifecycle settings: " + "; ".join(problems))


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class Alert:
    """One alert instance (a rule and its labels) as the lifecycle keeps it between rounds.

    ``active_since``: when the condition last became true (start of the current cycle).
    ``last_active_at``: the last observation with the condition true (``keep_firing_for``
    counts from here). ``last_seen``: the last observation with any verdict (staleness).
    ``firing_since`` / ``resolved_at``: the rounds of the last transitions; ``resolved_reason``
    says why it resolved. ``notified_state`` / ``last_notified_at``: what was last announced
    (``firing`` or ``resolved``) and when anything was last announced. ``flap_history``: rounds of
    firing↔resolved changes within the flap window. ``annotations`` and ``values`` are those of
    the last verdict, so reminders and resolves show current numbers.
    """

    fingerprint: str
    rule: str
    severity: Severity
    labels: Mapping[str, str]
    state: AlertState
    active_since: float
    last_active_at: float
    last_seen: float
    annotations: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, float] = field(default_factory=dict)
    firing_since: float | None = None
    resolved_at: float | None = None
    resolved_reason: ResolveReason | None = None
    notified_state: AlertState | None = None
    last_notified_at: float | None = None
    flap_history: tuple[float, ...] = ()
    flapping: bool = False

    @property
    def match_labels(self) -> dict[str, str]:
        """The labels silences and inhibit rules match: the alert's labels plus ``rule`` and
        ``severity`` (which take precedence over labels of the same name)."""
        return {**self.labels, "rule": self.rule, "severity": self.severity}


@dataclass(frozen=True)
class AlertEvent:
    """Something to notify about: what happened to which alert, in which round.

    ``alert`` is the alert as it is after the round, so a notification has the current state,
    values and annotations. Pending and abandoned-pending alerts produce no events: an alert
    that never fires is not news (as with Prometheus, whose pending alerts never reach
    Alertmanager).
    """

    kind: EventKind
    at: float
    alert: Alert

    @property
    def fingerprint(self) -> str:
        """The alert instance this event is about (PagerDuty's ``dedup_key``)."""
        return self.alert.fingerprint


def step(
    alerts: Mapping[str, Alert],
    verdicts: Sequence[RuleVerdict],
    now: float,
    settings: LifecycleSettings,
) -> tuple[dict[str, Alert], list[AlertEvent]]:
    """Advance every alert by one evaluation round.

    ``alerts`` is the previous round's result (or records loaded after a restart), keyed by
    fingerprint. ``verdicts`` is the round: the verdict of every rule for every probe with a
    current observation; an alert without a usable verdict (none, undecided, or on an
    observation older than ``stale_after``) keeps its state until it goes stale. When several
    verdicts name one alert, the one with the latest ``at`` counts. Verdicts that cannot
    change anything may be left out: undecided ones, and inactive ones whose (rule, probe)
    is neither :func:`watched` nor named by an active verdict of the round; that is what
    :meth:`alerting.rules.Verdicts.relevant` hands over. Returns the alerts to keep
    (resolved ones until their retention ends) and the events, ordered by fingerprint.
    """
    latest = _latest_verdicts(alerts, verdicts, now, settings)
    kept: dict[str, Alert] = {}
    events: list[AlertEvent] = []
    for fp in sorted(alerts.keys() | latest.keys()):
        previous = alerts.get(fp)
        if previous is not None and previous.state is AlertState.INACTIVE:
            previous = None  # inactive alerts are never kept; a stray record is treated as absent
        verdict = latest.get(fp)
        if previous is not None and verdict is not None and verdict.at < previous.last_seen:
            verdict = None  # older than what the alert already reflects: replayed or reordered
        advanced = _advance(previous, verdict, now, settings)
        if advanced is None:
            continue
        alert = _announce(*advanced, now, settings, events)
        if not _expired(alert, now, settings):
            kept[fp] = alert
    return kept, events


def watched(alerts: Mapping[str, Alert]) -> set[tuple[str, str | None]]:
    """The (rule, probe) of every alert in ``alerts``: the pairs whose inactive verdicts
    :func:`step` needs (an inactive verdict about anything else opens no alert)."""
    return {(a.rule, a.labels.get("probe")) for a in alerts.values()}


def _latest_verdicts(
    alerts: Mapping[str, Alert],
    verdicts: Sequence[RuleVerdict],
    now: float,
    settings: LifecycleSettings,
) -> dict[str, RuleVerdict]:
    """The newest usable verdict per alert fingerprint: decided (no ``missing`` value, no
    ``error``) and about an observation younger than ``stale_after``.

    Most verdicts of a round are inactive and about no alert; hashing their labels into a
    fingerprint would be most of the round's cost, so an inactive verdict is only
    fingerprinted when its (rule, probe) could name a known alert or an active verdict.
    """
    relevant = watched(alerts)
    relevant.update((v.rule, v.labels.get("probe")) for v in verdicts if v.active)
    latest: dict[str, RuleVerdict] = {}
    for candidate in verdicts:
        if now - candidate.at >= settings.stale_after:
            continue
        if candidate.missing or candidate.error is not None:
            continue  # undecided: says nothing about the condition, so it counts as no verdict
        if not candidate.active and (candidate.rule, candidate.labels.get("probe")) not in relevant:
            continue
        fp = candidate.fingerprint
        known = latest.get(fp)
        if known is None or candidate.at >= known.at:
            latest[fp] = candidate
    return latest


def _advance(
    previous: Alert | None, verdict: RuleVerdict | None, now: float, settings: LifecycleSettings
) -> tuple[Alert, bool] | None:
    """The alert after this round's verdict (or its absence), and whether it changed between
    firing and resolved; ``None`` when it is gone (inactive)."""
    if verdict is None:
        if previous is None:
            return None
        if previous.state in (AlertState.PENDING, AlertState.FIRING) and (
            now - previous.last_seen >= settings.stale_after
        ):
            if previous.state is AlertState.PENDING:
                return _abandon(previous)
            return _resolve(previous, now, "stale"), True
        return previous, False
    if previous is None:
        if not verdict.active:
            return None
        return _pend_or_fire(_open(verdict), verdict, now)
    alert = _refresh(previous, verdict)
    if alert.state is AlertState.PENDING:
        if not verdict.active:
            return _abandon(alert)
        return _pend_or_fire(alert, verdict, now)
    if alert.state is AlertState.FIRING:
        if not verdict.active and verdict.at - alert.last_active_at >= verdict.keep_firing_for_s:
            return _resolve(alert, now, "cleared"), True
        return alert, False
    if not verdict.active:
        return alert, False
    restarted = replace(alert, state=AlertState.PENDING, active_since=verdict.at)
    return _pend_or_fire(restarted, verdict, now)


def _open(verdict: RuleVerdict) -> Alert:
    return Alert(
        fingerprint=verdict.fingerprint,
        rule=verdict.rule,
        severity=verdict.severity,
        labels=dict(verdict.labels),
        state=AlertState.PENDING,
        active_since=verdict.at,
        last_active_at=verdict.at,
        last_seen=verdict.at,
        annotations=dict(verdict.annotations),
        values=dict(verdict.values),
    )


def _refresh(alert: Alert, verdict: RuleVerdict) -> Alert:
    """Take the verdict's numbers, texts and observation time."""
    last_active_at = verdict.at if verdict.active else alert.last_active_at
    if (
        alert.last_seen == verdict.at
        and alert.last_active_at == last_active_at
        and alert.severity == verdict.severity
        and alert.values == verdict.values
        and alert.annotations == verdict.annotations
    ):
        return alert  # the same observation evaluated again: spare the copy
    return replace(
        alert,
        severity=verdict.severity,
        values=dict(verdict.values),
        annotations=dict(verdict.annotations),
        last_seen=verdict.at,
        last_active_at=last_active_at,
    )


def _pend_or_fire(alert: Alert, verdict: RuleVerdict, now: float) -> tuple[Alert, bool]:
    """A pending alert whose condition holds: it fires once it has held for ``for``."""
    if verdict.at - alert.active_since >= verdict.for_s:
        fired = replace(
            alert,
            state=AlertState.FIRING,
            firing_since=now,
            resolved_at=None,
            resolved_reason=None,
        )
        return fired, True
    return alert, False


def _abandon(alert: Alert) -> tuple[Alert, bool] | None:
    """A pending alert whose condition cleared (or went stale) before ``for`` elapsed: back to
    resolved if an earlier cycle fired, otherwise gone."""
    if alert.resolved_at is None:
        return None
    return replace(alert, state=AlertState.RESOLVED), False


def _resolve(alert: Alert, now: float, reason: ResolveReason) -> Alert:
    return replace(alert, state=AlertState.RESOLVED, resolved_at=now, resolved_reason=reason)


def _announce(
    alert: Alert,
    changed: bool,
    now: float,
    settings: LifecycleSettings,
    events: list[AlertEvent],
) -> Alert:
    """Flap bookkeeping and the events this round owes, appended to ``events``.

    Notifications reconcile the alert's state with ``notified_state`` rather than reacting to
    transitions, so a change held while flapping, or one that happened before a restart, is
    announced exactly once when it may be.
    """
    history = tuple(t for t in alert.flap_history if now - t < settings.flap_window)
    if changed:
        history += (now,)
    kinds: list[EventKind] = []
    flapping = alert.flapping
    if not flapping and changed and len(history) >= settings.flap_threshold:
        flapping = True
        kinds.append("flapping")
    elif flapping and not history:
        flapping = False
        kinds.append("flapping_stopped")
    notified = alert.notified_state
    if not flapping:
        due = _due(alert.state, notified)
        if due is not None:
            notified = due
            kinds.append("firing" if due is AlertState.FIRING else "resolved")
        elif (
            not kinds
            and alert.state is AlertState.FIRING
            and settings.repeat_interval is not None
            and alert.last_notified_at is not None
            and now - alert.last_notified_at >= settings.repeat_interval
        ):
            kinds.append("reminder")
    if not kinds and history == alert.flap_history:
        return alert
    final = replace(
        alert,
        flap_history=history,
        flapping=flapping,
        notified_state=notified,
        last_notified_at=now if kinds else alert.last_notified_at,
    )
    events.extend(AlertEvent(kind, now, final) for kind in kinds)
    return final


def _due(state: AlertState, notified: AlertState | None) -> AlertState | None:
    """The announcement the alert is owed: firing when firing and not announced as such,
    resolved when not firing but last announced as firing."""
    if state is AlertState.FIRING:
        return None if notified is AlertState.FIRING else AlertState.FIRING
    return AlertState.RESOLVED if notified is AlertState.FIRING else None


def _expired(alert: Alert, now: float, settings: LifecycleSettings) -> bool:
    """A resolved alert leaves the list after its retention, once nothing about it is held."""
    return (
        alert.state is AlertState.RESOLVED
        and alert.resolved_at is not None
        and now - alert.resolved_at >= settings.resolved_retention
        and not alert.flapping
        and not alert.flap_history
    )


_CODEC: RecordCodec[Alert] = RecordCodec("alert", Alert, RECORD_VERSION)


def to_record(alert: Alert) -> dict[str, Any]:
    """The alert as JSON-safe data for the daemon's store, with a ``record_version``."""
    return _CODEC.dump(alert)


def from_record(record: Mapping[str, Any]) -> Alert:
    """Read an alert written by :func:`to_record`; raises ``ValueError`` naming the bad field."""
    return _CODEC.load(record)
