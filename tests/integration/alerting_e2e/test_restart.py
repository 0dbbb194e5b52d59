"""Restarts: alert state and the outbox persist in state_dir, so a restarted daemon does not
announce a firing alert again, resolves what ended while it was down, and delivers what a
SIGKILL cut short."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.conftest import SimHandle
from tests.integration.alerting_e2e.conftest import (
    FAULT,
    Receivers,
    Session,
    Spawn,
    StartDaemon,
    alerting_section,
    child_environment,
    config_document,
    eventually,
    until,
    write_config,
)


async def fired(receivers: Receivers) -> None:
    """Wait for the incident's first messages: one on Slack, one PagerDuty trigger."""
    await eventually(lambda: len(receivers.slack.delivered()) == 1)
    await eventually(lambda: len(receivers.pagerduty_events()) == 1)


async def settled(session: Session) -> None:
    """Wait until the daemon has run a round and its outbox is empty: anything that round
    had to say has reached the receivers by then."""
    await until(session.evaluated)
    await until(lambda: _empty(session))


async def _empty(session: Session) -> bool:
    return await session.undelivered() == 0


async def test_a_restart_does_not_announce_a_firing_alert_again(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """Fired before the restart, still firing after it: no second message or trigger; the
    resolve after the restart reaches both receivers once, with the original dedup key."""
    path = write_config(
        tmp_path / "flarewatch.yaml",
        config_document(sim, tmp_path / "state", alerting_section(receivers, remediations=[])),
    )
    first = await start_daemon(path)
    fault = await sim.control("POST", "/__sim/faults", json=FAULT)
    await fired(receivers)
    await first.daemon.stop()

    second = await start_daemon(path)
    await settled(second)
    assert {"worker_down", "worker_checks_failing"} == await second.firing()
    assert 1 == len(receivers.slack.delivered())
    assert 1 == len(receivers.pagerduty_events())

    await sim.control("DELETE", f"/__sim/faults/{fault['id']}")
    await eventually(lambda: len(receivers.pagerduty_events()) == 2)
    await eventually(lambda: len(receivers.slack.delivered()) == 2)
    trigger, resolve = receivers.pagerduty_events()
    assert ("trigger", "resolve") == (trigger["event_action"], resolve["event_action"])
    assert trigger["dedup_key"] == resolve["dedup_key"]
    assert receivers.slack_texts()[1].startswith("✅ RESOLVED:2")


async def test_an_alert_that_ended_while_the_daemon_was_down_resolves_after_restart(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """Fault cleared while the daemon is stopped: the first round after the restart sends
    the resolve to both receivers, and nothing announces the alert as new."""
    path = write_config(
        tmp_path / "flarewatch.yaml",
        config_document(sim, tmp_path / "state", alerting_section(receivers, remediations=[])),
    )
    first = await start_daemon(path)
    fault = await sim.control("POST", "/__sim/faults", json=FAULT)
    await fired(receivers)
    await first.daemon.stop()
    await sim.control("DELETE", f"/__sim/faults/{fault['id']}")

    second = await start_daemon(path)
    await eventually(lambda: len(receivers.pagerduty_events()) == 2)
    await eventually(lambda: len(receivers.slack.delivered()) == 2)
    await settled(second)
    texts = receivers.slack_texts()
    assert texts[0].startswith("🔴 FIRING:2"), texts
    assert texts[1].startswith("✅ RESOLVED:2"), texts
    assert ["trigger", "resolve"] == [e["event_action"] for e in receivers.pagerduty_events()]
    assert set() == await second.firing()


async def test_a_notification_cut_short_by_sigkill_is_delivered_after_restart(
    sim: SimHandle, receivers: Receivers, spawn: Spawn, tmp_path: Path
) -> None:
    """SIGKILL while PagerDuty holds the trigger's request: the restarted daemon sends it
    again (same dedup key, so PagerDuty stays consistent), and Slack, whose delivery the
    outbox had recorded before the kill, does not get it twice. (Killed between Slack's
    answer and that record, Slack would rightly get it again: at-least-once; the test waits
    for the record so that it checks the recorded case.)"""
    document = config_document(
        sim, tmp_path / "state", alerting_section(receivers, remediations=[])
    )
    document["logging"] = {"level": "debug", "format": "json"}
    path = write_config(tmp_path / "flarewatch.yaml", document)
    receivers.pagerduty.hold()
    first = await spawn("run", "-c", str(path), env=child_environment())
    await eventually(lambda: bool(first.events("flarewatch_ready")), within=30)
    await sim.control("POST", "/__sim/faults", json=FAULT)
    await eventually(lambda: len(receivers.slack.delivered()) == 1)
    await receivers.pagerduty.wait_for(1, within=20)
    # alert_firing is logged once the round's state is saved: the kill comes after that.
    await eventually(lambda: len(first.events("alert_firing")) == 2)
    await eventually(
        lambda: any(e.get("receiver") == "slack" for e in first.events("notification_delivered"))
    )
    first.proc.send_signal(signal.SIGKILL)
    assert -signal.SIGKILL == await first.finish()
    receivers.pagerduty.release()

    second = await spawn("run", "-c", str(path), env=child_environment())
    await receivers.pagerduty.wait_answered(2, within=30)
    await eventually(lambda: bool(second.events("flarewatch_ready")), within=30)
    second.proc.send_signal(signal.SIGTERM)
    assert 0 == await second.finish()
    sent = [r.json() for r in receivers.pagerduty.requests]
    assert 2 == len(sent)  # the cut-short trigger and its re-send
    assert 1 == len({e["dedup_key"] for e in sent})
    assert {"trigger"} == {e["event_action"] for e in sent}
    assert 1 == len(receivers.slack.delivered())
    assert second.events("outbox_receiver_not_configured") == []
