"""The issue's integration test: a Worker error burst in the simulator pages through the
whole daemon — probe, rules, lifecycle, grouping, outbox, Slack and PagerDuty receivers — and
a remediation rolls the Worker back; clearing the fault resolves on both receivers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SimHandle
from tests.integration.alerting_e2e.conftest import (
    FAULT,
    ROUTING_KEY,
    Receivers,
    StartDaemon,
    alerting_section,
    config_document,
    eventually,
    until,
    write_config,
)


async def test_a_worker_error_burst_pages_once_rolls_back_and_resolves(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """Fault → both rules fire → one grouped Slack message (both alerts) and one PagerDuty
    trigger (the critical one) → the rollback shows in the Worker's deployments → fault
    cleared → one resolved message on Slack and a resolve with the same dedup key."""
    before = await sim.call("GET", f"/accounts/{sim.account_id}/workers/scripts/api/deployments")
    deployments_before = len(before[1]["result"]["deployments"])
    path = write_config(
        tmp_path / "flarewatch.yaml",
        config_document(sim, tmp_path / "state", alerting_section(receivers)),
    )
    running = await start_daemon(path)
    await running.daemon.wait_ready()
    fault = await sim.control("POST", "/__sim/faults", json=FAULT)

    await eventually(lambda: len(receivers.slack.delivered()) == 1)
    await eventually(lambda: len(receivers.pagerduty_events()) == 1)
    [firing] = receivers.slack_texts()
    assert firing.startswith("🔴 FIRING:2 · probe=api-worker"), firing
    [trigger] = receivers.pagerduty_events()
    assert ("trigger", ROUTING_KEY) == (trigger["event_action"], trigger["routing_key"])
    assert trigger["payload"]["summary"].startswith("Worker api-worker is down")

    async def rolled_back() -> bool:
        _, answer = await sim.call(
            "GET", f"/accounts/{sim.account_id}/workers/scripts/api/deployments"
        )
        deployments = answer["result"]["deployments"]
        message = deployments[0].get("annotations", {}).get("workers/message", "")
        return len(deployments) == deployments_before + 1 and "flarewatch remediation" in message

    await until(rolled_back)

    await sim.control("DELETE", f"/__sim/faults/{fault['id']}")
    await eventually(lambda: len(receivers.slack.delivered()) >= 2)
    await eventually(lambda: len(receivers.pagerduty_events()) >= 2)
    _firing_text, resolved_text = receivers.slack_texts()
    assert resolved_text.startswith("✅ RESOLVED:2 · probe=api-worker"), resolved_text
    trigger, resolve = receivers.pagerduty_events()
    assert "resolve" == resolve["event_action"]
    assert trigger["dedup_key"] == resolve["dedup_key"]
    assert set() == await running.firing()
    # The rollback's outcome rides on the alert's next notification: here, its resolve.
    resolved_blocks = json.dumps(receivers.slack.delivered()[1].json(), ensure_ascii=False)
    assert "Remediation: rollback-api (worker_rollback): ok" in resolved_blocks
