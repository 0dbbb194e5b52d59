"""Grouping across a reload that changes routes: receivers that heard an alert firing and no
longer route it get its resolve (a handover), receivers that still route it are not told
again, and nothing already announced is left open — also across a restart in between."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alerting.grouping import GroupState, Notification, from_record, step, to_record
from alerting.lifecycle import Alert
from alerting.model import AlertState, fingerprint
from alerting.notifiers.base import notification_id
from alerting.routing import RouteTree, load_routes

KNOWN = {"slack", "pagerduty", "webhook"}
BASE: dict[str, Any] = {
    "receivers": ["slack"],
    "group_by": ["zone"],
    "group_wait": "30s",
    "group_interval": "5m",
    "repeat_interval": "1h",
}


def _tree(**changes: Any) -> RouteTree:
    return load_routes({**BASE, **changes}, known_notifiers=KNOWN)


CRITICAL_TO_PAGERDUTY = _tree(
    routes=[
        {
            "matchers": ['severity="critical"'],
            "receivers": ["pagerduty"],
            "group_by": [],
            "continue": True,
        }
    ]
)


def _alert(
    name: str, *, severity: str = "critical", state: AlertState = AlertState.FIRING
) -> Alert:
    labels = {"probe": name, "probe_type": "workers", "zone": "example.com"}
    resolved = state is AlertState.RESOLVED
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
        resolved_at=40.0 if resolved else None,
        resolved_reason="cleared" if resolved else None,
        notified_state=state,
    )


A, B = _alert("a"), _alert("b", severity="warning")


def _alerts(*alerts: Alert) -> dict[str, Alert]:
    return {a.fingerprint: a for a in alerts}


def _announced(tree: RouteTree, *alerts: Alert) -> dict[str, GroupState]:
    """The groups once every alert was sent (after group_wait)."""
    groups, _ = step({}, _alerts(*alerts), 0.0, tree)
    groups, sent = step(groups, _alerts(*alerts), 30.0, tree)
    assert sent
    return groups


def _summary(notifications: Sequence[Notification]) -> list[tuple[Any, ...]]:
    def names(alerts: tuple[Alert, ...]) -> tuple[str, ...]:
        return tuple(sorted(a.labels["probe"] for a in alerts))

    return [(n.receivers, names(n.firing), names(n.resolved), n.handover) for n in notifications]


def _after(
    groups: Mapping[str, GroupState], tree: RouteTree, *alerts: Alert, at: float = 100.0
) -> tuple[dict[str, GroupState], list[Notification]]:
    return step(groups, _alerts(*alerts), at, tree)


def test_a_receiver_that_no_longer_routes_an_alert_gets_its_resolve() -> None:
    """The anchor complaint: a reload that drops the critical route must not leave the
    PagerDuty incident open. PagerDuty hears a resolve at once; Slack, the new route, hears
    the firing at its new group's first flush, as for any new group."""
    groups = _announced(CRITICAL_TO_PAGERDUTY, A)
    groups, sent = _after(groups, _tree(), A, at=100.0)
    _, flush = _after(groups, _tree(), A, at=130.0)
    assert [(("pagerduty",), (), ("a",), True)] == _summary(sent)
    assert [(("slack",), ("a",), (), False)] == _summary(flush)


def test_the_handover_ends_a_still_firing_alert_at_the_reload() -> None:
    """Receivers keyed by alert (Alertmanager's endsAt, the webhook's endsAt) need an end
    time for an alert that still fires elsewhere: the round of the reload."""
    groups = _announced(CRITICAL_TO_PAGERDUTY, A)
    _, [handover] = _after(groups, _tree(), A, at=123.0)
    assert (AlertState.FIRING, 123.0) == (
        handover.resolved[0].state,
        handover.resolved[0].resolved_at,
    )


def test_a_receiver_removed_from_a_route_gets_resolves_for_the_whole_group() -> None:
    """Removing a receiver from a route that stays closes everything it was told, with no
    firing alert listed (so a group-keyed PagerDuty resolves the group too)."""
    both = _tree(receivers=["slack", "pagerduty"])
    groups = _announced(both, A, B)
    _, sent = _after(groups, _tree(), A, B)
    assert [(("pagerduty",), (), ("a", "b"), True)] == _summary(sent)


def test_a_receiver_that_still_routes_the_alert_is_not_told_again() -> None:
    """A reload that only regroups (group_by zone → probe) moves the alert to a new group of
    the same receiver: no resolve, and no second "firing" at the new group's first flush.
    (The old group is closed with an empty handover, which receivers keyed by alert skip.)"""
    groups = _announced(_tree(), A)
    regrouped = _tree(group_by=["probe"])
    groups, first = _after(groups, regrouped, A, at=100.0)
    groups, flush = _after(groups, regrouped, A, at=130.0)
    assert ([(("slack",), (), (), True)], []) == (_summary(first), flush)
    assert ['{}:{probe="a"}'] == sorted(groups)


def test_a_moved_alert_resolves_through_its_new_group() -> None:
    """The new group inherits that the alert was announced, so its resolve is owed there even
    if it resolves before the new group's first flush (else the old page stays open)."""
    groups = _announced(_tree(), A)
    regrouped = _tree(group_by=["probe"])
    groups, _ = _after(groups, regrouped, A, at=100.0)
    resolved = _alert("a", state=AlertState.RESOLVED)
    groups, early = _after(groups, regrouped, resolved, at=110.0)
    left, sent = _after(groups, regrouped, resolved, at=130.0)
    assert ([], [(("slack",), (), ("a",), False)], {}) == (early, _summary(sent), left)


def test_a_receiver_added_to_a_route_hears_the_firing_group_at_the_next_flush() -> None:
    """A receiver added by a reload has heard nothing: the group owes it a message at its
    next boundary (sent to every receiver: the message lists every firing alert)."""
    groups = _announced(_tree(), A)
    widened = _tree(receivers=["slack", "pagerduty"])
    groups, now = _after(groups, widened, A, at=100.0)
    groups, later = _after(groups, widened, A, at=330.0)
    assert [] == now
    assert [(("slack", "pagerduty"), ("a",), (), False)] == _summary(later)
    _, again = _after(groups, widened, A, at=630.0)
    assert [] == again


def test_a_group_keeping_the_receiver_lists_its_firing_alerts_in_the_handover() -> None:
    """When one alert of a group leaves a receiver that keeps the group, the handover lists
    the group's other firing alerts too: a group-keyed receiver must not close the group."""
    tree = _tree(receivers=["slack", "pagerduty"])
    groups = _announced(tree, A, B)
    split = _tree(
        receivers=["slack", "pagerduty"],
        routes=[{"matchers": ['severity="critical"'], "receivers": ["slack"]}],
    )
    _, sent = _after(groups, split, A, B)
    assert [(("pagerduty",), ("b",), ("a",), True)] == _summary(sent)


def test_a_group_whose_alerts_all_moved_is_closed_for_its_receivers() -> None:
    """PagerDuty with ``dedup: group`` opened an incident keyed by the old group: when every
    alert moves to another PagerDuty group, the old group is closed with an empty handover."""
    groups = _announced(_tree(receivers=["pagerduty"]), A)
    regrouped = _tree(receivers=["pagerduty"], group_by=["probe"])
    _, sent = _after(groups, regrouped, A)
    assert [(("pagerduty",), (), (), True)] == _summary(sent)


def test_a_route_removed_with_its_receiver_hands_over_every_alert() -> None:
    """A receiver dropped from the configuration altogether still gets the handover (the
    daemon logs and counts it if the receiver can no longer be reached)."""
    groups = _announced(CRITICAL_TO_PAGERDUTY, A)
    only_webhook = load_routes({**BASE, "receivers": ["webhook"]}, known_notifiers=KNOWN)
    _, sent = _after(groups, only_webhook, A)
    assert [(("pagerduty",), (), ("a",), True)] == _summary(sent)


def test_the_handover_is_owed_after_a_restart_between_reload_and_round() -> None:
    """The groups on disk remember who heard them, so a daemon restarted with the new
    configuration still sends the handover."""
    groups = _announced(CRITICAL_TO_PAGERDUTY, A)
    loaded = {k: from_record(to_record(g)) for k, g in groups.items()}
    _, sent = _after(loaded, _tree(), A)
    assert [(("pagerduty",), (), ("a",), True)] == _summary(sent)


def test_a_group_stored_without_receivers_reads_them_from_its_route() -> None:
    """Groups stored before flarewatch recorded receivers are read as heard by their route's
    current receivers: an upgrade neither announces everything again nor hands anything
    over, and the next message records the receivers."""
    both = _tree(receivers=["slack", "pagerduty"])
    groups = _announced(both, A)
    old = {}
    for key, group in groups.items():
        record = to_record(group)
        del record["receivers"]
        old[key] = from_record(record)
    groups, sent = _after(old, both, A)
    _, reminder = _after(groups, both, A, at=3630.0)
    assert [] == sent
    assert [(("slack", "pagerduty"), ("a",), (), False)] == _summary(reminder)


def test_an_unchanged_configuration_hands_nothing_over() -> None:
    """A reload that changes nothing routes nothing differently: no message at all."""
    groups = _announced(CRITICAL_TO_PAGERDUTY, A, B)
    _, sent = _after(groups, CRITICAL_TO_PAGERDUTY, A, B)
    assert [] == sent


def test_a_handover_and_a_flush_of_the_group_have_different_ids() -> None:
    """A handover and the group's own message in one round are two notifications: receivers
    deduplicating by notification id must not drop either."""
    groups = _announced(_tree(receivers=["slack", "pagerduty"]), A, B)
    split = _tree(
        receivers=["slack", "pagerduty"],
        routes=[{"matchers": ['severity="critical"'], "receivers": ["slack"]}],
    )
    _, [handover] = _after(groups, split, A, B)
    plain = Notification(**{**handover.__dict__, "handover": False})
    assert notification_id(handover) != notification_id(plain)
