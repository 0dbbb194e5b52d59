"""The PagerDuty notifier against a local Events API v2 receiver."""

from __future__ import annotations

import structlog

from alerting.notifiers import NotifierContext, Outcome, PagerDutyConfig, PagerDutyNotifier, Reason
from tests.integration.alerting.conftest import ReceiverFactory, closed_port_url
from tests.integration.alerting.receivers import Answer, Receiver, pagerduty_ok
from tests.unit.alerting.notifier_samples import alert, notification

KEY = "R0UT1NGk3yR0UT1NGk3yR0UT1NGk3y00"


def pagerduty(receiver: Receiver | None, **settings: object) -> PagerDutyNotifier:
    """A PagerDuty notifier whose events URL is the local receiver."""
    url = receiver.url("/v2/enqueue") if receiver is not None else closed_port_url("/v2/enqueue")
    config = PagerDutyConfig.model_validate(
        {"type": "pagerduty", "routing_key": KEY, "url": url, **settings}
    )
    return PagerDutyNotifier("oncall", config, NotifierContext(external_url="https://fw.example"))


async def test_a_trigger_and_its_resolve_share_the_dedup_key(receivers: ReceiverFactory) -> None:
    """The incident PagerDuty opens is the one the resolve closes: no incident left open."""
    receiver = await receivers(pagerduty_ok)
    notifier = pagerduty(receiver)
    try:
        fired = await notifier.send(notification([alert("api")]))
        resolved = await notifier.send(notification([], [alert("api", firing=False)], at=1e9))
    finally:
        await notifier.close()
    assert (Outcome.DELIVERED, Outcome.DELIVERED) == (fired.outcome, resolved.outcome)
    trigger, resolve = (r.json() for r in receiver.requests)
    assert ("trigger", "resolve") == (trigger["event_action"], resolve["event_action"])
    assert trigger["dedup_key"] == resolve["dedup_key"] == alert("api").fingerprint
    assert KEY == trigger["routing_key"]
    assert "critical" == trigger["payload"]["severity"]


async def test_a_retry_after_a_429_sends_only_what_was_not_accepted(
    receivers: ReceiverFactory,
) -> None:
    """PagerDuty allows ~120 events a minute per key; a 429 halfway through a big group must
    not make the retry spend the budget again on events already accepted."""
    receiver = await receivers(pagerduty_ok)
    receiver.plan(
        Answer(status=202, json_body={"status": "success"}),
        Answer(status=429, json_body={"status": "throttle"}),
    )
    alerts = [alert("a"), alert("b"), alert("c")]
    note = notification(alerts)
    notifier = pagerduty(receiver)
    try:
        first = await notifier.send(note)
        second = await notifier.send(note)
    finally:
        await notifier.close()
    assert (Outcome.RETRY, Reason.RATE_LIMITED) == (first.outcome, first.reason)
    assert Outcome.DELIVERED == second.outcome
    keys = [r.json()["dedup_key"] for r in receiver.requests]
    a, b, c = (x.fingerprint for x in alerts)
    assert [a, b, b, c] == keys


async def test_an_invalid_event_is_given_up_with_pagerdutys_reason(
    receivers: ReceiverFactory,
) -> None:
    """A 400 ("Event object is invalid") will never pass: dead-letter it, saying why."""
    receiver = await receivers(pagerduty_ok)
    receiver.plan(
        Answer(
            status=400,
            json_body={"status": "invalid event", "message": "Event object is invalid"},
        )
    )
    notifier = pagerduty(receiver)
    try:
        delivery = await notifier.send(notification([alert()]))
    finally:
        await notifier.close()
    assert (Outcome.FAILED, Reason.INVALID) == (delivery.outcome, delivery.reason)
    assert "Event object is invalid" in delivery.detail
    assert delivery.detail.startswith("trigger ")


async def test_the_routing_key_never_shows_in_errors_or_logs() -> None:
    """PagerDuty down: the failure is reported and logged without the integration key."""
    notifier = pagerduty(None)
    with structlog.testing.capture_logs() as events:
        try:
            delivery = await notifier.send(notification([alert()]))
        finally:
            await notifier.close()
    assert Outcome.RETRY == delivery.outcome
    assert KEY not in delivery.detail
    assert KEY not in repr(events)
    assert KEY not in repr(notifier)


async def test_group_mode_pages_once_per_group(receivers: ReceiverFactory) -> None:
    """``dedup: group``: one PagerDuty alert for the whole group, Alertmanager-style."""
    receiver = await receivers(pagerduty_ok)
    notifier = pagerduty(receiver, dedup="group")
    note = notification([alert("a"), alert("b")])
    try:
        await notifier.send(note)
    finally:
        await notifier.close()
    (request,) = receiver.requests
    assert note.group_id == request.json()["dedup_key"]
