"""Grouping: a pure state machine from the lifecycle's alerts to grouped notifications.

Alertmanager's aggregation groups: every alert goes to the routes :func:`alerting.routing.match`
gives it, and within a route to the group named by its ``group_by`` labels. A new group waits
``group_wait`` before its first notification, collecting the alerts that arrive meanwhile; after
that its changes (an alert starting to fire, an alert resolving, an alert starting or stopping
flapping) are sent together at the next ``group_interval`` boundary; an unchanged firing group
is sent again ``repeat_interval`` after its last notification, as a reminder.

The lifecycle decides *what* is announced; grouping decides *when and with what else*. An
alert's announced state is the lifecycle's ``notified_state``, which moves exactly when the
lifecycle emits a ``firing`` or ``resolved`` event and stays put while the alert flaps, so a
held change is held here too; ``Alert.flapping`` is the lifecycle's ``flapping`` /
``flapping_stopped``. :func:`step` reconciles each group with those, rather than replaying
events, so a change is sent once even across a restart or a config reload, and a missed round
loses nothing. The lifecycle's ``reminder`` events are not used: the routes' ``repeat_interval``
schedules group reminders. docs/alerts.md ("Routing and grouping") has the rules and a timeline.

A reload that changes the route tree is handed over, not dropped: each group remembers the
receivers that heard its announced alerts, and a receiver that no longer routes such an alert
gets its resolve at once (:attr:`Notification.handover`), while a receiver that still routes it
through another group is not told again (docs/alerts.md, "Restarts and reloads").
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ConfigDict, with_config

from alerting.lifecycle import Alert
from alerting.model import AlertState
from alerting.records import RecordCodec
from alerting.routing import Route, RouteMatch, RouteTree, match

RECORD_VERSION = 1

# Grid arithmetic on float epoch seconds: a boundary computed a hair late is still the boundary.
_EPSILON = 1e-6


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class Member:
    """One alert in a group: its latest snapshot and what the group last told its receivers.

    ``announced``: the group has sent the alert as firing (and not yet as resolved).
    ``announced_flapping``: whether it was flapping in that notification.
    """

    alert: Alert
    announced: bool = False
    announced_flapping: bool = False


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class GroupState:
    """One group: a route and the values of its ``group_by`` labels, and its alerts.

    ``created_at``: when its first alert arrived (``group_wait`` counts from here).
    ``first_flush_at``: its first flush, the origin of its ``group_interval`` boundaries.
    ``next_flush_at``: the flush it owes (a change waits for it); ``reminder_at``: when its
    next reminder is due; ``last_notified_at``: its last notification. ``members`` are keyed
    by fingerprint. ``receivers``: the receivers that heard its announced members (its
    route's receivers at its last notification, less those a reload handed over); ``None`` in
    a record written before flarewatch kept it, read as its route's current receivers.
    """

    route: str
    key: str
    labels: Mapping[str, str]
    created_at: float
    members: Mapping[str, Member] = field(default_factory=dict)
    first_flush_at: float | None = None
    next_flush_at: float | None = None
    reminder_at: float | None = None
    last_notified_at: float | None = None
    receivers: tuple[str, ...] | None = None

    @property
    def id(self) -> str:
        """A stable short id for the group key (32 hex digits of its SHA-256), for receivers
        that want one key per group (Alertmanager's PagerDuty key is a hash of it)."""
        return group_id(self.key)


@dataclass(frozen=True)
class Notification:
    """One message for a route's receivers about one group: plain data for the notifiers.

    ``firing``: every unmuted alert of the group announced as firing (the new ones and those
    already announced); ``resolved``: alerts announced firing before that have resolved since,
    sent this once. Both are lifecycle :class:`~alerting.lifecycle.Alert` snapshots ordered by
    fingerprint; a snapshot's ``flapping`` says its state is unreliable. ``reminder``: nothing
    changed, the group is still firing. ``group_labels`` name the group, ``common_labels`` are
    the labels (with ``rule`` and ``severity``) every listed alert shares.

    ``handover``: a reload stopped routing the group's ``resolved`` alerts to these receivers
    (the alerts may well still fire: they are announced to their new routes' receivers);
    the message tells the receivers so, and closes what the group had opened there. A
    handover with nothing listed closes a group whose alerts all moved to another group of
    the same receivers (for receivers keyed by group, such as PagerDuty with ``dedup:
    group``; the others skip it).
    """

    route: str
    receivers: tuple[str, ...]
    group_key: str
    group_id: str
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    firing: tuple[Alert, ...]
    resolved: tuple[Alert, ...]
    reminder: bool
    at: float
    handover: bool = False


def with_alerts(
    notifications: Iterable[Notification],
    change: Callable[[Alert], Alert],
    *,
    resolved: bool = True,
) -> tuple[Notification, ...]:
    """The notifications with ``change`` applied to each firing alert, and to each resolved
    one unless ``resolved`` is false (pure)."""
    return tuple(
        replace(
            n,
            firing=tuple(change(a) for a in n.firing),
            resolved=tuple(change(a) for a in n.resolved) if resolved else n.resolved,
        )
        for n in notifications
    )


def with_note(alert: Alert, key: str, value: str, line: str) -> Alert:
    """``alert`` with annotation ``key`` set to ``value`` and its ``description`` ending with
    ``line`` after a blank line, so receivers that show only the description show it too."""
    description = alert.annotations.get("description", "").rstrip()
    annotations = {
        **alert.annotations,
        key: value,
        "description": f"{description}\n\n{line}" if description else line,
    }
    return replace(alert, annotations=annotations)


def group_id(key: str) -> str:
    """32 hex digits of the SHA-256 of a group key: stable across restarts and replicas."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def step(
    groups: Mapping[str, GroupState],
    alerts: Mapping[str, Alert],
    now: float,
    tree: RouteTree,
    muted: Collection[str] = frozenset(),
) -> tuple[dict[str, GroupState], list[Notification]]:
    """Advance every group to ``now`` and return the groups to keep and the notifications due.

    ``groups`` is the previous result (or records loaded after a restart), keyed by group key;
    ``alerts`` is the lifecycle's current mapping (what :func:`alerting.lifecycle.step`
    returned this round); ``muted`` holds the fingerprints silenced or inhibited at ``now``.
    Call it after every lifecycle round and at :func:`next_wakeup`. Notifications come in
    group-key order.
    """
    wanted = _memberships(groups, alerts, now, tree)
    heard = {key: _heard(group, wanted.get(key)) for key, group in groups.items()}
    notifications = _handovers(groups, heard, wanted, alerts, now, muted)
    kept: dict[str, GroupState] = {}
    for key in sorted(wanted):
        routed, members = wanted[key]
        previous = groups.get(key)
        if previous is None:
            group = _new_group(key, routed, members, groups, heard, now)
        else:
            staying = routed.route.receivers
            receivers = tuple(r for r in heard[key] if r in staying)
            group = previous
            if receivers != previous.receivers:
                group = replace(previous, receivers=receivers)
        advanced, notification = _advance(group, members, routed.route, now, muted)
        if notification is not None:
            notifications.append(notification)
        if advanced is not None:
            kept[key] = advanced
    return kept, notifications


def next_wakeup(groups: Mapping[str, GroupState]) -> float | None:
    """The earliest time a group owes a flush or a reminder, or ``None`` when none does.

    The daemon sleeps until then (or its next lifecycle round, or a silence starting or
    ending, whichever is first) and calls :func:`step`; it need not poll.
    """
    times = [t for g in groups.values() for t in (g.next_flush_at, g.reminder_at) if t is not None]
    return min(times, default=None)


def _heard(group: GroupState, routed: tuple[RouteMatch, Any] | None) -> tuple[str, ...]:
    """The receivers that heard the group's announced members (a record without them: its
    route's receivers, if the route still exists; nobody can say otherwise)."""
    if group.receivers is not None:
        return group.receivers
    return routed[0].route.receivers if routed is not None else ()


def _new_group(
    key: str,
    routed: RouteMatch,
    members: Mapping[str, Member],
    groups: Mapping[str, GroupState],
    heard: Mapping[str, tuple[str, ...]],
    now: float,
) -> GroupState:
    """A group the tree just created. Members a reload moved here keep what other groups
    announced of them (``_memberships``); the group's receivers that heard every such member
    count as having heard the group, so they are not told again (the others are, at its first
    flush), and its reminders continue from now."""
    inherited = [fp for fp, m in members.items() if m.announced]
    receivers: tuple[str, ...] = ()
    if inherited:
        told: dict[str, set[str]] = {}
        for old_key, group in groups.items():
            for fp in inherited:
                member = group.members.get(fp)
                if member is not None and member.announced:
                    told.setdefault(fp, set()).update(heard[old_key])
        receivers = tuple(
            r for r in routed.route.receivers if all(r in told.get(fp, ()) for fp in inherited)
        )
    return GroupState(
        route=routed.route.id,
        key=key,
        labels=dict(routed.group_labels),
        created_at=now,
        receivers=receivers,
        last_notified_at=now if inherited else None,
    )


def _handovers(
    groups: Mapping[str, GroupState],
    heard: Mapping[str, tuple[str, ...]],
    wanted: Mapping[str, tuple[RouteMatch, Mapping[str, Member]]],
    alerts: Mapping[str, Alert],
    now: float,
    muted: Collection[str],
) -> list[Notification]:
    """What a reload owes the receivers that heard an alert firing and no longer route it.

    For each group and each receiver that heard its announced members: the members that
    receiver hears through no group of the new tree are listed as resolved, at once, with
    ``handover`` set. If the receiver still hears the group, the message also lists the
    group's announced firing members (a group-keyed receiver must not close the group); if it
    no longer does, the message closes the group for it even when every member moved to
    another of its groups. Receivers owed the same message share one notification.
    """
    routed_to: dict[str, set[str]] | None = None
    notifications: list[Notification] = []
    for key, group in groups.items():
        survivor = wanted.get(key)
        staying = survivor[0].route.receivers if survivor is not None else ()
        if survivor is not None and _covers(staying, heard[key]):
            kept = survivor[1]
            if kept.keys() >= group.members.keys() or all(
                fp in kept for fp, m in group.members.items() if m.announced
            ):
                continue  # every receiver still hears every announced member here
        announced = sorted(fp for fp, m in group.members.items() if m.announced)
        if not announced:
            continue
        if routed_to is None:
            routed_to = {}
            for routed, members in wanted.values():
                for fp in members:
                    routed_to.setdefault(fp, set()).update(routed.route.receivers)
        owed: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
        for receiver in heard[key]:
            resolved = tuple(fp for fp in announced if receiver not in routed_to.get(fp, ()))
            firing: tuple[str, ...] = ()
            if receiver in staying and survivor is not None:
                if not resolved:
                    continue
                firing = tuple(
                    fp
                    for fp, m in sorted(survivor[1].items())
                    if m.announced and _firing(m.alert) and fp not in muted
                )
            owed.setdefault((firing, resolved), []).append(receiver)
        for (firing, resolved), receivers in owed.items():
            firing_alerts = tuple(survivor[1][fp].alert for fp in firing) if survivor else ()
            resolved_alerts = tuple(_handed_over(alerts, group.members[fp], now) for fp in resolved)
            notifications.append(
                Notification(
                    route=group.route,
                    receivers=tuple(receivers),
                    group_key=key,
                    group_id=group.id,
                    group_labels=dict(group.labels),
                    common_labels=_common_labels(
                        a.match_labels for a in firing_alerts + resolved_alerts
                    ),
                    firing=firing_alerts,
                    resolved=resolved_alerts,
                    reminder=False,
                    at=now,
                    handover=True,
                )
            )
    return sorted(notifications, key=lambda n: n.group_key)


def _handed_over(alerts: Mapping[str, Alert], member: Member, now: float) -> Alert:
    """The snapshot a handover lists: the alert as it is now, ended ``now`` here if it still
    fires (receivers that key by alert close it at that time), or its end if it has ended."""
    alert = alerts.get(member.alert.fingerprint)
    if alert is None:
        return _ended(member.alert, now)
    if alert.state is AlertState.RESOLVED:
        return alert
    return replace(alert, resolved_at=now)


def _memberships(
    groups: Mapping[str, GroupState], alerts: Mapping[str, Alert], now: float, tree: RouteTree
) -> dict[str, tuple[RouteMatch, dict[str, Member]]]:
    """Every group's members this round, with the route match that puts them there.

    Candidates are the alerts the lifecycle has announced as firing and the groups' current
    members. A candidate joins the groups its routes give it only if it is announced firing; a
    member stays (refreshed) while routed there, so a resolve reaches every group that
    announced the firing. A member the lifecycle no longer lists has ended: it stays as a
    resolved snapshot (reason ``stale``) until its resolve is sent. An alert a reload moves
    into a group it was not in joins it as announced if another group announced it, so the
    new group owes its resolve (its receivers that had not heard it are told at the next
    flush: see ``_new_group`` and ``_advance``).
    """
    previous: dict[str, dict[str, Member]] = {}
    snapshots: dict[str, Alert] = {}
    for key, group in groups.items():
        for fp, member in group.members.items():
            previous.setdefault(fp, {})[key] = member
            if fp not in alerts:
                snapshots[fp] = _ended(member.alert, now)
    for fp, alert in alerts.items():
        if fp in previous or alert.notified_state is AlertState.FIRING:
            snapshots[fp] = alert
    wanted: dict[str, tuple[RouteMatch, dict[str, Member]]] = {}
    for fp in sorted(snapshots):
        alert = snapshots[fp]
        for routed in match(tree, alert.match_labels):
            key = routed.group_key
            known = previous.get(fp, {}).get(key)
            if known is None and not _firing(alert):
                continue
            if known is not None:
                member = replace(known, alert=alert)
            else:
                told = [m for m in previous.get(fp, {}).values() if m.announced]
                member = Member(
                    alert,
                    announced=bool(told),
                    announced_flapping=any(m.announced_flapping for m in told),
                )
            wanted.setdefault(key, (routed, {}))[1][fp] = member
    return wanted


def _advance(
    group: GroupState,
    members: Mapping[str, Member],
    route: Route,
    now: float,
    muted: Collection[str],
) -> tuple[GroupState | None, Notification | None]:
    """One group at ``now``: its flush or reminder if due, and what is left of it."""
    # A resolve nobody heard the firing of is not news: such members leave silently.
    current = {fp: m for fp, m in members.items() if m.announced or _firing(m.alert)}
    if not current:
        return None, None
    changed = any(_owed(fp, m, muted) for fp, m in current.items()) or _untold(
        group, current, route, muted
    )
    if group.first_flush_at is None:
        due: float | None = group.created_at + route.group_wait
    elif group.next_flush_at is not None:
        due = group.next_flush_at
    else:
        due = _boundary(group.first_flush_at, route.group_interval, now) if changed else None
    first_flush_at = group.first_flush_at
    if first_flush_at is None and due is not None and due <= now:
        first_flush_at = due  # boundaries count from the scheduled flush, not a late round
    reminder = _reminder_at(group, current, route, muted)
    flushing = due is not None and due <= now
    reminding = reminder is not None and reminder <= now
    notification = None
    last_notified_at = group.last_notified_at
    if (flushing and changed) or reminding:
        notification = _notification(group, current, route, now, muted, reminder=not changed)
        current = _after_sending(current, muted)
        last_notified_at = now
        if notification is not None and group.receivers != route.receivers:
            group = replace(group, receivers=route.receivers)
    if flushing or notification is not None:
        due = None  # everything owed went out (muted alerts are owed nothing)
    if not current:
        return None, notification
    advanced = replace(
        group,
        route=route.id,
        members=current,
        first_flush_at=first_flush_at,
        next_flush_at=due,
        last_notified_at=last_notified_at,
    )
    return replace(
        advanced, reminder_at=_reminder_at(advanced, current, route, muted)
    ), notification


def _untold(
    group: GroupState, members: Mapping[str, Member], route: Route, muted: Collection[str]
) -> bool:
    """Whether a receiver of the route (added by a reload) has not heard the group's announced
    firing alerts: then the next flush tells every receiver."""
    heard = route.receivers if group.receivers is None else group.receivers
    if _covers(heard, route.receivers):
        return False
    return any(m.announced and _firing(m.alert) and fp not in muted for fp, m in members.items())


def _covers(receivers: tuple[str, ...], others: tuple[str, ...]) -> bool:
    """Whether every receiver of ``others`` is in ``receivers`` (usually the same tuple)."""
    return receivers == others or set(others) <= set(receivers)


def _firing(alert: Alert) -> bool:
    """Whether the lifecycle has announced the alert as firing (and not since resolved)."""
    return alert.notified_state is AlertState.FIRING


def _owed(fp: str, member: Member, muted: Collection[str]) -> bool:
    """Whether the member makes the group's next flush send something.

    A resolve is owed to receivers that heard the firing even when the alert is muted: an open
    page that never closes is worse than one message during a silence.
    """
    if not _firing(member.alert):
        return member.announced
    if fp in muted:
        return False
    return not member.announced or member.announced_flapping != member.alert.flapping


def _reminder_at(
    group: GroupState, members: Mapping[str, Member], route: Route, muted: Collection[str]
) -> float | None:
    """When the group's next reminder is due: the first boundary ``repeat_interval`` after its
    last notification, if it has an unmuted firing alert that is not flapping (the lifecycle
    holds a flapping alert's reminders)."""
    if group.first_flush_at is None or group.last_notified_at is None:
        return None
    if not any(
        _firing(m.alert) and not m.alert.flapping and fp not in muted for fp, m in members.items()
    ):
        return None
    return _boundary(
        group.first_flush_at, route.group_interval, group.last_notified_at + route.repeat_interval
    )


def _boundary(origin: float, interval: float, at_or_after: float) -> float:
    """The first ``group_interval`` boundary (``origin + k * interval``) at or after a time."""
    steps = math.ceil((at_or_after - origin) / interval - _EPSILON)
    return origin + steps * interval


def _notification(
    group: GroupState,
    members: Mapping[str, Member],
    route: Route,
    now: float,
    muted: Collection[str],
    *,
    reminder: bool,
) -> Notification | None:
    firing = tuple(
        m.alert for fp, m in sorted(members.items()) if _firing(m.alert) and fp not in muted
    )
    resolved = tuple(
        m.alert for _, m in sorted(members.items()) if not _firing(m.alert) and m.announced
    )
    if not firing and not resolved:
        return None
    return Notification(
        route=route.id,
        receivers=route.receivers,
        group_key=group.key,
        group_id=group.id,
        group_labels=dict(group.labels),
        common_labels=_common_labels(a.match_labels for a in firing + resolved),
        firing=firing,
        resolved=resolved,
        reminder=reminder,
        at=now,
    )


def _after_sending(members: Mapping[str, Member], muted: Collection[str]) -> dict[str, Member]:
    """The members once a notification went out: resolves sent leave, firing alerts sent are
    announced; muted firing alerts were not sent and keep their announced state."""
    kept: dict[str, Member] = {}
    for fp, member in members.items():
        if not _firing(member.alert):
            continue
        if fp in muted:
            kept[fp] = member
        else:
            kept[fp] = replace(member, announced=True, announced_flapping=member.alert.flapping)
    return kept


def _common_labels(label_sets: Iterable[Mapping[str, str]]) -> dict[str, str]:
    common: dict[str, str] | None = None
    for labels in label_sets:
        if common is None:
            common = dict(labels)
        else:
            common = {k: v for k, v in common.items() if labels.get(k) == v}
    return common or {}


def _ended(alert: Alert, now: float) -> Alert:
    """The snapshot of an alert the lifecycle stopped listing: it is over, for want of data if
    it had not resolved."""
    if alert.state is AlertState.RESOLVED and alert.notified_state is AlertState.RESOLVED:
        return alert
    return replace(
        alert,
        state=AlertState.RESOLVED,
        notified_state=AlertState.RESOLVED,
        resolved_at=alert.resolved_at if alert.state is AlertState.RESOLVED else now,
        resolved_reason=alert.resolved_reason or "stale",
        flapping=False,
    )


_CODEC: RecordCodec[GroupState] = RecordCodec("group", GroupState, RECORD_VERSION)


def to_record(group: GroupState) -> dict[str, Any]:
    """The group as JSON-safe data for the daemon's store, with a ``record_version``."""
    return _CODEC.dump(group)


def from_record(record: Mapping[str, Any]) -> GroupState:
    """Read a group written by :func:`to_record`; raises ``ValueError`` naming the bad field."""
    return _CODEC.load(record)
