"""The outbox on a real SQLite file with real notifiers and local receivers: delivery,
order, retries, Retry-After, dead letters, bounds, restarts and crashes."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from prometheus_client import CollectorRegistry

from alerting.grouping import Notification
from alerting.notifiers import (
    NotifierContext,
    PagerDutyConfig,
    PagerDutyNotifier,
    SlackConfig,
    SlackNotifier,
    WebhookConfig,
    WebhookNotifier,
)
from alerting.notifiers.base import Delivery, notification_id
from alerting.notifiers.webhook import ID_HEADER
from alerting.outbox import Outbox, OutboxError, OutboxFull, RetryPolicy
from tests.integration.alerting import outbox_child
from tests.integration.alerting.conftest import ReceiverFactory, closed_port_url
from tests.integration.alerting.receivers import (
    Answer,
    Received,
    Receiver,
    eventually,
    pagerduty_ok,
    running,
    slack_ok,
)
from tests.unit.alerting.notifier_samples import T0, alert, notification

ROOT = Path(__file__).resolve().parents[3]
FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_age=600.0)


def hook(receiver: Receiver) -> WebhookNotifier:
    """A webhook notifier for receiver ``hook``."""
    config = WebhookConfig.model_validate({"type": "webhook", "url": receiver.url("/in")})
    return WebhookNotifier("hook", config, NotifierContext())


def note(index: int, group: str = "a") -> Notification:
    """The ``index``-th notification of group ``group`` (distinct ids, ordered by time)."""
    return notification(
        [alert("api")], at=T0 + index, group_labels={"zone": group}, receivers=("hook",)
    )


def ids(requests: list[Received]) -> list[str]:
    """The notification ids of requests, in arrival order."""
    return [r.headers[ID_HEADER] for r in requests]


async def test_an_enqueued_notification_is_delivered_and_removed(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """The basic promise: enqueue returns at once, the worker delivers, the queue empties."""
    receiver = await receivers()
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        await outbox.enqueue("hook", note(1))
        assert {"hook": 1} == outbox.depth()
        async with running(outbox, {"hook": hook(receiver)}):
            await receiver.wait_answered(1)
            await eventually(lambda: outbox.depth() == {})
        assert [] == await outbox.pending()
    assert [notification_id(note(1))] == ids(receiver.requests)


async def test_a_group_is_delivered_in_order_through_failures(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """Firing, then resolved, must never arrive as resolved, then firing: a receiver that
    fails for a while gets the group's notifications in order once it recovers, each once."""
    receiver = await receivers()
    receiver.plan(*[Answer(status=500, text="down")] * 4)
    sent = [note(i) for i in range(5)]
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        await outbox.enqueue_many(("hook", n) for n in sent)
        async with running(outbox, {"hook": hook(receiver)}):
            await eventually(lambda: outbox.depth() == {})
    assert [notification_id(n) for n in sent] == ids(receiver.delivered())


async def test_groups_do_not_wait_for_each_other(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """A group whose notification keeps failing must not hold up the other groups."""
    receiver = await receivers()
    stuck = note(1, group="stuck")
    receiver.decide = lambda r: (
        Answer(status=500) if r.headers[ID_HEADER] == notification_id(stuck) else None
    )
    others = [note(i, group=f"g{i}") for i in range(2, 6)]
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        await outbox.enqueue("hook", stuck)
        await outbox.enqueue_many(("hook", n) for n in others)
        async with running(outbox, {"hook": hook(receiver)}):
            await eventually(lambda: outbox.depth() == {"hook": 1})
        (left,) = await outbox.pending()
    assert {notification_id(n) for n in others} == set(ids(receiver.delivered()))
    assert left.failures >= 1


async def test_retry_after_schedules_the_next_attempt(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """A 429 with ``Retry-After: 30`` is stored: the next attempt is 30 s later, even after a
    restart, and the failure is logged once."""
    receiver = await receivers()
    receiver.plan(Answer(status=429, text="slow down", headers={"Retry-After": "30"}))
    clock = [T0]
    async with await Outbox.open(tmp_path, policy=FAST, clock=lambda: clock[0]) as outbox:
        await outbox.enqueue("hook", note(1))
        with structlog.testing.capture_logs() as events:
            async with running(outbox, {"hook": hook(receiver)}):
                await receiver.wait_answered(1)
                await eventually(lambda: bool(events))
        (entry,) = await outbox.pending()
    assert (1, T0 + 30.0) == (entry.failures, entry.next_attempt_at)
    assert "rate_limited: HTTP 429: slow down" == entry.last_error
    failing = [e for e in events if e["event"] == "notifier_failing"]
    assert [("hook", "rate_limited", 30.0)] == [
        (e["receiver"], e["reason"], e["retry_in_s"]) for e in failing
    ]
    assert 1 == len(receiver.requests)


async def test_a_refused_notification_is_dead_lettered_with_a_log_line(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """A 400 will never pass: the notification leaves the queue at once, is kept as a dead
    letter, and an error line says which, why and how often it was tried."""
    receiver = await receivers()
    receiver.plan(Answer(status=400, text="bad payload"))
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        await outbox.enqueue("hook", note(1))
        with structlog.testing.capture_logs() as events:
            async with running(outbox, {"hook": hook(receiver)}):
                await eventually(lambda: outbox.depth() == {})
        (dead,) = await outbox.dead_letters()
    (line,) = [e for e in events if e["event"] == "notification_dead_lettered"]
    assert ("error", "hook", 1, "refused by the receiver") == (
        line["log_level"],
        line["receiver"],
        line["attempts"],
        line["why"],
    )
    assert "HTTP 400: bad payload" in line["error"]
    assert notification_id(note(1)) == dead.notification_id


async def test_max_attempts_dead_letters_a_failing_notification(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """With ``max_attempts``, a receiver failing for good costs that many tries, no more."""
    receiver = await receivers()
    receiver.decide = lambda r: Answer(status=503)
    policy = RetryPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=3)
    async with await Outbox.open(tmp_path, policy=policy) as outbox:
        await outbox.enqueue("hook", note(1))
        async with running(outbox, {"hook": hook(receiver)}):
            await eventually(lambda: outbox.depth() == {})
        (dead,) = await outbox.dead_letters()
    assert 3 == len(receiver.requests)
    assert 3 == dead.failures


async def test_dead_letters_can_be_revived(receivers: ReceiverFactory, tmp_path: Path) -> None:
    """After fixing a receiver, what was given up on is sent after all."""
    receiver = await receivers()
    receiver.plan(Answer(status=400))
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        await outbox.enqueue("hook", note(1))
        async with running(outbox, {"hook": hook(receiver)}):
            await eventually(lambda: outbox.depth() == {})
            assert 1 == await outbox.revive(receiver="hook")
            await eventually(lambda: len(receiver.delivered()) == 1)
        assert [] == await outbox.dead_letters()


async def test_a_full_outbox_refuses_clearly_and_stores_nothing(tmp_path: Path) -> None:
    """The queue is bounded per receiver; when full, enqueueing fails with a message that
    says what to do, and a batch is stored whole or not at all."""
    async with await Outbox.open(tmp_path, max_pending=2) as outbox:
        await outbox.enqueue_many([("hook", note(1)), ("other", note(1))])
        with pytest.raises(OutboxFull, match="outbox full for 'hook' \\(1 pending\\)") as raised:
            await outbox.enqueue_many([("other", note(2)), ("hook", note(2)), ("hook", note(3))])
        assert "raise max_pending" in str(raised.value)
        assert {"hook": 1, "other": 1} == outbox.depth()
        assert 2 == len(await outbox.pending())


async def test_fanout_stores_one_entry_per_receiver(tmp_path: Path) -> None:
    """A notification routed to Slack and PagerDuty is queued for each, independently."""
    async with await Outbox.open(tmp_path) as outbox:
        await outbox.fanout([notification([alert()], receivers=("slack", "pagerduty"))])
        assert {"pagerduty": 1, "slack": 1} == outbox.depth()


async def test_a_restart_before_delivery_delivers_each_once(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """The daemon stopped after enqueueing: after the restart every notification goes out,
    once, in order."""
    receiver = await receivers()
    sent = [note(i) for i in range(3)]
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        await outbox.enqueue_many(("hook", n) for n in sent)
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        assert {"hook": 3} == outbox.depth()
        async with running(outbox, {"hook": hook(receiver)}):
            await eventually(lambda: outbox.depth() == {})
    assert [notification_id(n) for n in sent] == ids(receiver.requests)


async def test_a_send_cut_short_by_shutdown_is_sent_again(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """At-least-once: a send the shutdown interrupted is not acknowledged, so it is sent
    again after the restart, with the same notification id for the receiver to deduplicate."""
    receiver = await receivers()
    receiver.hold()
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        await outbox.enqueue("hook", note(1))
        task = asyncio.create_task(outbox.run({"hook": hook(receiver)}))
        await receiver.wait_for(1)
        await outbox.stop(grace=0.05)
        await task
        assert {"hook": 1} == outbox.depth()
    receiver.release()
    async with (
        await Outbox.open(tmp_path, policy=FAST) as outbox,
        running(outbox, {"hook": hook(receiver)}),
    ):
        await eventually(lambda: outbox.depth() == {})
    assert [notification_id(note(1))] * 2 == ids(receiver.requests)


def spawn(db: Path, url: str, mode: str, processes: list[subprocess.Popen[bytes]]) -> int:
    """Start :mod:`outbox_child` and wait for its ``enqueued`` line; return its PID."""
    child = subprocess.Popen(  # noqa: S603 - this interpreter and our own module
        [sys.executable, "-m", "tests.integration.alerting.outbox_child", str(db), url, mode],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    processes.append(child)
    assert child.stdout is not None
    assert b"enqueued\n" == child.stdout.readline()
    return child.pid


def sigkill(pid: int, processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL the child with this PID and reap it."""
    os.kill(pid, signal.SIGKILL)
    child = next(p for p in processes if p.pid == pid)
    child.wait(timeout=10)
    assert -signal.SIGKILL == child.returncode


async def test_sigkill_before_delivery_delivers_once_after_restart(
    receivers: ReceiverFactory,
    tmp_path: Path,
    cleanup_processes: list[subprocess.Popen[bytes]],
) -> None:
    """A daemon killed with SIGKILL right after enqueueing: the notification was on disk, and
    the next process delivers it exactly once."""
    receiver = await receivers()
    db = tmp_path / "outbox.sqlite3"
    pid = await asyncio.to_thread(spawn, db, receiver.url("/in"), "enqueue", cleanup_processes)
    await asyncio.to_thread(sigkill, pid, cleanup_processes)
    async with (
        await Outbox.open(db, policy=FAST) as outbox,
        running(outbox, {"hook": hook(receiver)}),
    ):
        await eventually(lambda: outbox.depth() == {})
    assert 1 == len(receiver.requests)


async def test_sigkill_during_delivery_sends_again_after_restart(
    receivers: ReceiverFactory,
    tmp_path: Path,
    cleanup_processes: list[subprocess.Popen[bytes]],
) -> None:
    """SIGKILL between the send and its acknowledgement: the receiver may have it, so the
    next process sends it again (at-least-once), with the same id; nothing is lost."""
    receiver = await receivers()
    receiver.hold()
    db = tmp_path / "outbox.sqlite3"
    pid = await asyncio.to_thread(spawn, db, receiver.url("/in"), "deliver", cleanup_processes)
    await receiver.wait_for(1)
    await asyncio.to_thread(sigkill, pid, cleanup_processes)
    receiver.release()
    async with (
        await Outbox.open(db, policy=FAST) as outbox,
        running(outbox, {"hook": hook(receiver)}),
    ):
        await eventually(lambda: outbox.depth() == {})
    (first, second) = ids(receiver.requests)
    assert first == second


async def test_a_second_process_cannot_open_the_same_outbox(tmp_path: Path) -> None:
    """Two daemons on one state_dir would send everything twice: the second is refused."""
    async with await Outbox.open(tmp_path):
        with pytest.raises(OutboxError, match="in use by another flarewatch process"):
            await Outbox.open(tmp_path)


async def test_an_unreadable_record_is_dead_lettered(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """A record a newer flarewatch wrote (after a downgrade) cannot be sent: it is set aside
    with a reason instead of blocking its group forever."""
    receiver = await receivers()
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        await outbox.enqueue_many([("hook", note(1)), ("hook", note(2))])
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
        db.execute("UPDATE outbox SET payload = '{\"record_version\": 9}' WHERE id = 1")
    db.close()
    async with (
        await Outbox.open(tmp_path, policy=FAST) as outbox,
        running(outbox, {"hook": hook(receiver)}),
    ):
        await eventually(lambda: outbox.depth() == {})
        (dead,) = await outbox.dead_letters()
    assert [notification_id(note(2))] == ids(receiver.requests)
    assert dead.last_error is not None
    assert "record version 9" in dead.last_error


async def test_an_outbox_from_a_newer_flarewatch_is_refused(tmp_path: Path) -> None:
    """A schema this version does not know is not touched."""
    async with await Outbox.open(tmp_path):
        pass
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
        db.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises(OutboxError, match="newer flarewatch \\(outbox schema 7"):
        await Outbox.open(tmp_path)


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    """A corrupt outbox is an error naming the file and what to do, not a traceback."""
    (tmp_path / "outbox.sqlite3").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OutboxError, match=r"is not a readable outbox .* move it away"):
        await Outbox.open(tmp_path)


async def test_notifier_state_survives_a_reopen(tmp_path: Path) -> None:
    """Alertmanager's known alerts are kept here; a restart must find them."""
    async with await Outbox.open(tmp_path) as outbox:
        await outbox.state("am").save({"version": 1, "alerts": {"f": {"at": 1.0}}})
    async with await Outbox.open(tmp_path) as outbox:
        assert {"version": 1, "alerts": {"f": {"at": 1.0}}} == await outbox.state("am").load()
        assert {} == await outbox.state("other").load()


async def test_metrics_count_attempts_latency_and_depth(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """flarewatch_notifications_total, the latency histogram and the outbox depth show
    delivery health on /metrics."""
    registry = CollectorRegistry()
    receiver = await receivers()
    receiver.plan(Answer(status=500))
    async with await Outbox.open(tmp_path, policy=FAST, registry=registry) as outbox:
        await outbox.enqueue("hook", note(1))
        assert 1 == registry.get_sample_value("flarewatch_outbox_depth", {"notifier": "hook"})
        async with running(outbox, {"hook": hook(receiver)}):
            await eventually(lambda: outbox.depth() == {})
    sample = registry.get_sample_value
    assert 1 == sample("flarewatch_notifications_total", {"notifier": "hook", "outcome": "retry"})
    assert 1 == sample(
        "flarewatch_notifications_total", {"notifier": "hook", "outcome": "delivered"}
    )
    assert 1 == sample("flarewatch_notification_latency_seconds_count", {"notifier": "hook"})
    assert 0 == sample("flarewatch_outbox_depth", {"notifier": "hook"})


async def test_entries_for_an_unconfigured_receiver_are_kept(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """A receiver renamed or removed in the config: its notifications wait (with a warning)
    rather than vanish."""
    receiver = await receivers()
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        await outbox.enqueue_many([("gone", note(1)), ("hook", note(2))])
        with structlog.testing.capture_logs() as events:
            async with running(outbox, {"hook": hook(receiver)}):
                await eventually(lambda: outbox.depth() == {"gone": 1})
    warned = [e for e in events if e["event"] == "outbox_receiver_not_configured"]
    assert [("gone", 1)] == [(e["receiver"], e["pending"]) for e in warned]


async def test_failure_and_recovery_are_logged_once_each(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """An outage of many failed attempts makes one warning and one recovery line, not one
    line per attempt."""
    receiver = await receivers()
    receiver.plan(*[Answer(status=502)] * 5)
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        await outbox.enqueue_many(("hook", note(i)) for i in range(3))
        with structlog.testing.capture_logs() as events:
            async with running(outbox, {"hook": hook(receiver)}):
                await eventually(lambda: outbox.depth() == {})
    kinds = [e["event"] for e in events if e["event"].startswith("notifier_")]
    assert ["notifier_failing", "notifier_recovered"] == kinds


async def test_enqueue_does_not_wait_for_a_hung_receiver(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """No probe ever waits on Slack: with a delivery stuck, enqueueing still returns."""
    receiver = await receivers()
    receiver.hold()
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        await outbox.enqueue("hook", note(1))
        async with running(outbox, {"hook": hook(receiver)}):
            await receiver.wait_for(1)
            await asyncio.wait_for(outbox.enqueue("hook", note(2)), 5.0)
            assert {"hook": 2} == outbox.depth()
            receiver.release()
            await eventually(lambda: outbox.depth() == {})


async def test_a_stop_right_after_start_is_not_missed(tmp_path: Path) -> None:
    """The daemon may stop delivery at once (a failed reload); the workers must end."""
    async with await Outbox.open(tmp_path) as outbox:
        config = WebhookConfig.model_validate({"type": "webhook", "url": closed_port_url()})
        notifier = WebhookNotifier("hook", config, NotifierContext())
        outbox.start({"hook": notifier})
        await outbox.stop()
        await asyncio.wait_for(outbox.wait(), 5.0)


class Flaky:
    """A notifier with a bug: it raises on its first ``failures`` sends."""

    name = "hook"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[Notification] = []

    async def send(self, notification: Notification) -> Delivery:
        """Raise, then deliver."""
        if self.failures:
            self.failures -= 1
            raise RuntimeError("notifier bug")
        self.sent.append(notification)
        return Delivery.delivered()

    async def close(self) -> None:
        """Nothing to close."""


async def test_a_notifier_that_raises_does_not_kill_its_worker(tmp_path: Path) -> None:
    """A bug in a notifier is a failed attempt, retried; delivery carries on."""
    flaky = Flaky(failures=2)
    async with await Outbox.open(tmp_path, policy=FAST) as outbox, running(outbox, {"hook": flaky}):
        await outbox.enqueue("hook", note(1))
        await eventually(lambda: outbox.depth() == {})
    assert [note(1)] == flaky.sent


async def test_pagerduty_stays_consistent_across_a_sigkill_mid_trigger(
    receivers: ReceiverFactory,
    tmp_path: Path,
    cleanup_processes: list[subprocess.Popen[bytes]],
) -> None:
    """Killed while PagerDuty receives a trigger: the restarted daemon sends the trigger again
    with the same dedup_key (PagerDuty merges it into the open alert), and the later resolve
    carries that key too, so the incident closes."""
    pagerduty = await receivers(pagerduty_ok)
    pagerduty.hold()
    db = tmp_path / "outbox.sqlite3"
    url = pagerduty.url("/v2/enqueue")
    pid = await asyncio.to_thread(spawn, db, url, "pagerduty", cleanup_processes)
    await pagerduty.wait_for(1)
    await asyncio.to_thread(sigkill, pid, cleanup_processes)
    pagerduty.release()
    config = PagerDutyConfig.model_validate(
        {"type": "pagerduty", "routing_key": outbox_child.ROUTING_KEY, "url": url}
    )
    notifier = PagerDutyNotifier("hook", config, NotifierContext())
    resolve = notification([], [alert("api", firing=False)], at=T0 + 900, receivers=("hook",))
    async with await Outbox.open(db, policy=FAST) as outbox, running(outbox, {"hook": notifier}):
        await outbox.enqueue("hook", resolve)
        await eventually(lambda: outbox.depth() == {})
    events = [(r.json()["event_action"], r.json()["dedup_key"]) for r in pagerduty.requests]
    key = alert("api").fingerprint
    assert [("trigger", key), ("trigger", key), ("resolve", key)] == events


async def test_slack_failing_for_a_while_gets_everything_in_order_once(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """Slack answering 500, 429 and 503 for a while: after recovery every message arrives,
    each group's in order, none twice (the failures were answers, so nothing was in doubt)."""
    slack = await receivers(slack_ok)
    slack.plan(
        Answer(status=500, text="rollup_error"),
        Answer(status=429, text="rate_limited", headers={"Retry-After": "1"}),
    )
    slack.decide = lambda r: Answer(status=503) if len(slack.requests) <= 6 else None
    config = SlackConfig.model_validate(
        {
            "type": "slack",
            "webhook_url": slack.url("/services/T/B/order-test-hook"),
            "inline_retry_max": "0",  # so the outbox, not slack-sdk, waits out the 429
        }
    )
    notifier = SlackNotifier("hook", config, NotifierContext())
    sent = [
        notification(
            [alert(summary=f"{group}-{i}")],
            at=T0 + i,
            group_labels={"zone": group},
            receivers=("hook",),
        )
        for i in range(4)
        for group in ("a", "b")
    ]
    async with await Outbox.open(tmp_path, policy=FAST) as outbox:
        await outbox.fanout(sent)
        async with running(outbox, {"hook": notifier}):
            await eventually(lambda: outbox.depth() == {})
    delivered = [r.json()["text"].split(" · ")[1].split("\n")[0] for r in slack.delivered()]
    assert sorted(delivered) == sorted(f"{g}-{i}" for i in range(4) for g in ("a", "b"))
    for group in ("a", "b"):
        assert [f"{group}-{i}" for i in range(4)] == [d for d in delivered if d[0] == group]
