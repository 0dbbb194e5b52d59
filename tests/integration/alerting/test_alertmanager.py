"""The Alertmanager notifier against a real Alertmanager 0.25 started by the test."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

from alerting.notifiers import (
    AlertmanagerConfig,
    AlertmanagerNotifier,
    MemoryState,
    NotifierContext,
    Outcome,
)
from alerting.outbox import Outbox
from tests.integration.alerting.conftest import AlertmanagerProcess, closed_port_url
from tests.integration.alerting.receivers import eventually
from tests.unit.alerting.notifier_samples import alert, notification


def am_notifier(
    *urls: str, state: MemoryState | None = None, clock: list[float] | None = None
) -> AlertmanagerNotifier:
    """An Alertmanager notifier with a 1-minute resend and an optionally pinned clock."""
    config = AlertmanagerConfig.model_validate({"type": "alertmanager", "urls": list(urls)})
    context = NotifierContext(
        external_url="http://flarewatch.test",
        clock=(lambda: clock[0]) if clock is not None else time.time,
        state=state,
    )
    return AlertmanagerNotifier("am", config, context)


def ends_at(entry: dict[str, object]) -> float:
    """An alert's ``endsAt`` as epoch seconds."""
    return datetime.fromisoformat(str(entry["endsAt"]).replace("Z", "+00:00")).timestamp()


async def test_a_firing_alert_appears_in_alertmanager(alertmanager: AlertmanagerProcess) -> None:
    """The alert, posted to /api/v2/alerts, is active in Alertmanager with its identity."""
    now = time.time()
    notifier = am_notifier(alertmanager.url)
    try:
        delivery = await notifier.send(notification([alert(firing_since=now - 60)], at=now))
    finally:
        await notifier.close()
    assert Outcome.DELIVERED == delivery.outcome, delivery.detail
    (shown,) = await alertmanager.alerts()
    labels = shown["labels"]
    assert isinstance(labels, dict)
    assert "worker_error_ratio_critical" == labels["alertname"]
    assert ("api", "critical") == (labels["probe"], labels["severity"])
    assert "active" == shown["status"]["state"]  # type: ignore[index]
    assert "http://flarewatch.test/api/v1/alerts?fingerprint=" in str(shown["generatorURL"])
    assert ends_at(shown) >= now + 3 * 60  # valid for four resend intervals


async def test_a_resolve_ends_the_alert_in_alertmanager(alertmanager: AlertmanagerProcess) -> None:
    """After the resolve, Alertmanager no longer lists the alert as active."""
    now = time.time()
    notifier = am_notifier(alertmanager.url)
    firing = alert(firing_since=now - 120)
    resolved = alert(firing=False, firing_since=now - 120, resolved_at=now - 1)
    try:
        await notifier.send(notification([firing], at=now - 60))
        assert 1 == len(await alertmanager.alerts(active="true"))
        delivery = await notifier.send(notification([], [resolved], at=now))
    finally:
        await notifier.close()
    assert Outcome.DELIVERED == delivery.outcome
    assert [] == await alertmanager.alerts(active="true")


async def test_the_resend_keeps_the_alert_alive(alertmanager: AlertmanagerProcess) -> None:
    """Alertmanager forgets an alert whose endsAt passes: each tick moves endsAt forward."""
    now = time.time()
    clock = [now]
    notifier = am_notifier(alertmanager.url, clock=clock)
    try:
        await notifier.send(notification([alert(firing_since=now - 60)], at=now))
        first = ends_at((await alertmanager.alerts())[0])
        assert notifier.next_tick() == now  # the first tick is due at once (it loads state)
        await notifier.tick()
        assert notifier.next_tick() == now + 60
        clock[0] = now + 60
        delivery = await notifier.tick()
    finally:
        await notifier.close()
    assert Outcome.DELIVERED == delivery.outcome
    assert ends_at((await alertmanager.alerts())[0]) >= first + 59


async def test_one_alertmanager_down_does_not_block_delivery(
    alertmanager: AlertmanagerProcess,
) -> None:
    """In a cluster, one member down is normal: the alert counts as delivered, the failure
    is reported, and the resend will reach the member when it is back."""
    now = time.time()
    notifier = am_notifier(alertmanager.url, closed_port_url().rstrip("/"))
    try:
        delivery = await notifier.send(notification([alert(firing_since=now)], at=now))
    finally:
        await notifier.close()
    assert Outcome.DELIVERED == delivery.outcome
    assert "accepted by 1 of 2" in delivery.detail
    assert 1 == len(await alertmanager.alerts())


async def test_known_alerts_survive_a_restart_through_the_outbox(
    alertmanager: AlertmanagerProcess, tmp_path: Path
) -> None:
    """After a restart the firing alert is still resent; otherwise Alertmanager would
    resolve it on its own minutes later while it still fires."""
    now = time.time()
    async with await Outbox.open(tmp_path) as outbox:
        before = AlertmanagerNotifier(
            "am",
            AlertmanagerConfig(type="alertmanager", urls=(alertmanager.url,)),
            NotifierContext(state=outbox.state("am")),
        )
        await before.send(notification([alert(firing_since=now)], at=now))
        await before.close()
    async with await Outbox.open(tmp_path) as outbox:
        after = AlertmanagerNotifier(
            "am",
            AlertmanagerConfig(type="alertmanager", urls=(alertmanager.url,)),
            NotifierContext(state=outbox.state("am")),
        )
        try:
            assert {alert().fingerprint} == set(await after.known_alerts())
            assert Outcome.DELIVERED == (await after.tick()).outcome
        finally:
            await after.close()


async def test_the_outbox_delivers_to_alertmanager(
    alertmanager: AlertmanagerProcess, tmp_path: Path
) -> None:
    """End to end through the outbox worker: enqueue, and the alert shows up."""
    now = time.time()
    async with await Outbox.open(tmp_path) as outbox:
        notifier = AlertmanagerNotifier(
            "am",
            AlertmanagerConfig(type="alertmanager", urls=(alertmanager.url,)),
            NotifierContext(state=outbox.state("am")),
        )
        await outbox.enqueue("am", notification([alert(firing_since=now)], at=now))
        runner = asyncio.create_task(outbox.run({"am": notifier}))
        try:
            await eventually(lambda: outbox.depth() == {})
        finally:
            await outbox.stop()
            await runner
            await notifier.close()
    assert 1 == len(await alertmanager.alerts())
