"""What the notification hook tells the alert service about holding an alert's first
notification for its error capture (with a fake tail; no I/O)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from alerting.grouping import Notification
from alerting.lifecycle import AlertEvent
from monitor.capture import Capturer, NotificationHook
from monitor.config import LogCapture
from monitor.logsink import SinkMetrics
from tests.unit.monitor.test_logsink import FakeTail, alert, exc


def _hook(tail: FakeTail, **settings: object) -> NotificationHook:
    capturer = Capturer(
        None,  # type: ignore[arg-type]  # the fake tail never uses the client
        "acc",
        LogCapture.model_validate(settings),
        script_of=lambda a: "api",
        metrics=SinkMetrics(CollectorRegistry()),
        capture=tail,
    )
    return NotificationHook(capturer)


def _note(*fingerprints: str) -> Notification:
    return Notification(
        route="{}",
        receivers=("slack",),
        group_key="{}:{}",
        group_id="0" * 32,
        group_labels={},
        common_labels={},
        firing=tuple(alert(fp) for fp in fingerprints),
        resolved=(),
        reminder=False,
        at=0.0,
    )


async def test_a_notification_listing_an_alert_being_captured_is_held() -> None:
    """The alert's first notification should carry its exceptions: it waits for the
    capture; alerts without a capture do not make it wait."""
    tail = FakeTail([exc()])
    hook = _hook(tail)
    hook.submit([AlertEvent("firing", 0.0, alert("a"))])
    held = hook.held(_note("a", "b"))
    tail.release.set()
    await hook.capturer.drain()  # type: ignore[union-attr]
    assert (frozenset({"a"}), frozenset(), 10.0) == (held, hook.held(_note("a")), hook.hold)


async def test_a_hold_of_zero_sends_at_once() -> None:
    """``hold: 0s`` is the fastest page: nothing waits, the exceptions ride on the next one."""
    tail = FakeTail([exc()])
    hook = _hook(tail, hold=0)
    hook.submit([AlertEvent("firing", 0.0, alert("a"))])
    held = hook.held(_note("a"))
    tail.release.set()
    await hook.capturer.drain()  # type: ignore[union-attr]
    assert frozenset() == held


async def test_waiting_ends_with_the_capture_and_the_amender_attaches_it() -> None:
    """Once the capture ends, the held notification is rewritten with its exceptions; the
    reports are forgotten only when a notification carried them."""
    tail = FakeTail([exc()])
    hook = _hook(tail)
    hook.submit([AlertEvent("firing", 0.0, alert("a"))])
    tail.release.set()
    finished = await hook.wait({"a"}, 5.0)
    amended = hook.amender({"a"})(_note("a"))
    still_there = hook.capturer.reports({"a"})  # type: ignore[union-attr]
    hook.forget({"a"})
    assert finished
    assert amended.firing[0].annotations["exceptions"].startswith("Captured 1 exception")
    assert (1, {}) == (len(still_there["a"]), hook.capturer.reports({"a"}))  # type: ignore[union-attr]


async def test_waiting_is_bounded_by_the_hold() -> None:
    """A capture still tailing at the deadline does not hold the page any longer."""
    tail = FakeTail([exc()])
    hook = _hook(tail)
    hook.submit([AlertEvent("firing", 0.0, alert("a"))])
    finished = await hook.wait({"a"}, 0.0)
    tail.release.set()
    await hook.capturer.drain()  # type: ignore[union-attr]
    assert not finished
