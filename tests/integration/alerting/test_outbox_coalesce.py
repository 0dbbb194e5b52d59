"""A full outbox loses nothing: with a receiver down past ``max_pending``, each group's newer
notification is merged into its undelivered one (every resolve kept), counted and logged,
and the receiver gets the latest truth once it is back — also when the merge lands on the
notification being sent at that moment."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry

from alerting.grouping import Notification
from alerting.lifecycle import Alert
from alerting.notifiers import NotifierContext, WebhookConfig, WebhookNotifier
from alerting.notifiers.base import notification_id
from alerting.outbox import Outbox, RetryPolicy
from tests.integration.alerting.conftest import ReceiverFactory
from tests.integration.alerting.receivers import Answer, Receiver, eventually, running
from tests.unit.alerting.notifier_samples import T0, alert, notification

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_age=600.0)
API, IMAGES, DB = alert("api"), alert("images"), alert("db")
IMAGES_RESOLVED = alert("images", firing=False)


def hook(receiver: Receiver) -> WebhookNotifier:
    """A webhook notifier for receiver ``hook``."""
    config = WebhookConfig.model_validate({"type": "webhook", "url": receiver.url("/in")})
    return WebhookNotifier("hook", config, NotifierContext())


def message(at: float, firing: Sequence[Alert], resolved: Sequence[Alert] = ()) -> Notification:
    """A notification of the one group ``zone=a`` for ``hook``."""
    return notification(
        firing,
        resolved,
        at=T0 + at,
        group_labels={"zone": "a"},
        receivers=("hook",),
    )


def listed(payload: dict[str, object]) -> list[tuple[str, str]]:
    """(probe, status) of every alert in a webhook body."""
    alerts = payload["alerts"]
    assert isinstance(alerts, list)
    return sorted((a["labels"]["probe"], a["status"]) for a in alerts)


async def test_a_receiver_down_past_max_pending_gets_the_latest_truth_and_every_resolve(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """The old behaviour dropped a round's notifications for a full receiver, so a resolve
    could vanish and a page stay open. Now the queue stays bounded and the receiver, once
    back, hears what is firing now and what resolved meanwhile."""
    receiver = await receivers()
    down = True
    receiver.decide = lambda _: Answer(status=503, text="down") if down else None
    registry = CollectorRegistry()
    rounds = [
        message(1, [API, IMAGES]),
        message(2, [API], [IMAGES_RESOLVED]),
        message(3, [API, DB]),
    ]
    async with await Outbox.open(tmp_path, policy=FAST, max_pending=1, registry=registry) as outbox:
        await outbox.enqueue("hook", rounds[0])
        async with running(outbox, {"hook": hook(receiver)}):
            await receiver.wait_answered(1)
            with structlog.testing.capture_logs() as logs:
                for sent in rounds[1:]:
                    await outbox.enqueue_many([("hook", sent)], coalesce=True)
                    assert {"hook": 1} == outbox.depth()
            down = False
            await eventually(lambda: outbox.depth() == {})
    last = receiver.delivered()[-1].json()
    assert [("api", "firing"), ("db", "firing"), ("images", "resolved")] == listed(last)
    assert 2.0 == registry.get_sample_value(
        "flarewatch_notifications_coalesced_total", {"notifier": "hook"}
    )
    assert ["notifications_coalesced"] * 2 == [
        e["event"] for e in logs if e["event"] == "notifications_coalesced"
    ]


async def test_a_merge_into_the_notification_being_sent_is_sent_after_it(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """The worker may be sending the very entry a newer notification is merged into: the
    entry must not be removed when the older content is accepted, or the newer is lost."""
    receiver = await receivers()
    receiver.hold()
    first = message(1, [API, IMAGES])
    second = message(2, [API], [IMAGES_RESOLVED])
    async with await Outbox.open(tmp_path, policy=FAST, max_pending=1) as outbox:
        await outbox.enqueue("hook", first)
        async with running(outbox, {"hook": hook(receiver)}):
            await receiver.wait_for(1)
            await outbox.enqueue_many([("hook", second)], coalesce=True)
            receiver.release()
            await eventually(lambda: outbox.depth() == {})
    sent = [r.json() for r in receiver.delivered()]
    assert [notification_id(first), notification_id(second)] == [s["notificationId"] for s in sent]
    assert [("api", "firing"), ("images", "resolved")] == listed(sent[-1])


async def test_a_new_group_is_stored_even_when_the_receiver_is_full(tmp_path: Path) -> None:
    """Coalescing needs an entry of the same group; a first message of another group is
    stored past the bound rather than lost (at most one extra entry per group)."""
    async with await Outbox.open(tmp_path, max_pending=1) as outbox:
        await outbox.enqueue("hook", message(1, [API]))
        other = notification([DB], at=T0 + 2, group_labels={"zone": "b"}, receivers=("hook",))
        await outbox.enqueue_many([("hook", other)], coalesce=True)
        assert {"hook": 2} == outbox.depth()


async def test_a_receiver_no_notifier_is_configured_for_is_logged_and_counted(
    tmp_path: Path,
) -> None:
    """A reload that removed a receiver still owes it handovers: they are kept (delivered if
    the receiver is configured again), and the operator is told, with a metric to alert on."""
    registry = CollectorRegistry()
    async with await Outbox.open(tmp_path, registry=registry) as outbox:
        outbox.start({})
        try:
            with structlog.testing.capture_logs() as logs:
                await outbox.enqueue("gone", message(1, [], [IMAGES_RESOLVED]))
        finally:
            await outbox.stop()
            await outbox.wait()
        assert {"gone": 1} == outbox.depth()
    assert 1.0 == registry.get_sample_value(
        "flarewatch_notifications_unconfigured_total", {"notifier": "gone"}
    )
    assert ["notifications_for_unconfigured_receiver"] == [
        e["event"] for e in logs if e["log_level"] == "error"
    ]
