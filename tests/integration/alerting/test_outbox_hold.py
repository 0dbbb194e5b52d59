"""Held notifications in the outbox (``not_before`` and ``amend``): what the daemon uses to let
an alert's first notification wait for its error capture without risking it — the entry is
stored at once, goes out rewritten when released, or as it is at its deadline."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from alerting.grouping import Notification
from alerting.notifiers import NotifierContext, WebhookConfig, WebhookNotifier
from alerting.outbox import Outbox, RetryPolicy
from tests.integration.alerting.conftest import ReceiverFactory
from tests.integration.alerting.receivers import Receiver, eventually, running
from tests.unit.alerting.notifier_samples import T0, alert, notification

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_age=600.0)


def hook(receiver: Receiver) -> WebhookNotifier:
    """A webhook notifier for receiver ``hook``."""
    config = WebhookConfig.model_validate({"type": "webhook", "url": receiver.url("/in")})
    return WebhookNotifier("hook", config, NotifierContext())


def first() -> Notification:
    """The first notification of the api alert's group."""
    return notification([alert("api")], at=T0, group_labels={"zone": "a"}, receivers=("hook",))


def with_note(n: Notification) -> Notification:
    """What a capture adds: an annotation on the firing alert."""
    return replace(
        n,
        firing=tuple(
            replace(a, annotations={**a.annotations, "exceptions": "TypeError"}) for a in n.firing
        ),
    )


async def test_a_held_entry_goes_out_rewritten_when_released(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """Held for an hour, released at once by ``amend``: the receiver gets the rewritten
    notification, once, and the group's later notification after it."""
    receiver = await receivers()
    later = notification(
        [alert("api")], at=T0 + 60, group_labels={"zone": "a"}, receivers=("hook",)
    )
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        [held] = await outbox.enqueue_many([("hook", first())], not_before=[time.time() + 3600.0])
        await outbox.enqueue("hook", later)
        async with running(outbox, {"hook": hook(receiver)}):
            assert 1 == await outbox.amend([held], with_note)
            await eventually(lambda: outbox.depth() == {})
    bodies = [r.json() for r in receiver.delivered()]
    assert ["TypeError", None] == [b["alerts"][0]["annotations"].get("exceptions") for b in bodies]


async def test_a_held_entry_goes_out_as_it_is_at_its_deadline(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """If nobody releases it (the capture hangs, the daemon restarted), the notification is
    not lost: it is sent at its deadline, and a late ``amend`` changes nothing."""
    receiver = await receivers()
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        [held] = await outbox.enqueue_many([("hook", first())], not_before=[0.0])
        async with running(outbox, {"hook": hook(receiver)}):
            await eventually(lambda: outbox.depth() == {})
        assert 0 == await outbox.amend([held], with_note)
    [body] = [r.json() for r in receiver.delivered()]
    assert "exceptions" not in body["alerts"][0]["annotations"]
