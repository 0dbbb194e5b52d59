"""Error capture on alert through the whole daemon: a Worker error burst in the simulator
(its `exception` fault) fires a capture rule, the daemon tails the Worker, and the exceptions
(name, message, stack, request) reach the local Slack receiver with the alert's first
notification, which waits for the capture (at most ``logs.capture.hold``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import SimHandle
from tests.integration.alerting_e2e.conftest import (
    FAULT,
    Receivers,
    StartDaemon,
    alerting_section,
    config_document,
    eventually,
    receivers,
    start_daemon,
    until,
    write_config,
)

__all__ = ["receivers", "start_daemon"]  # the fixtures this module uses


def capture_config(sim: SimHandle, tmp_path: Path, receivers: Receivers, **capture: Any) -> Path:
    """The api Worker's probe with alerting to Slack only, and a capture on its failing checks."""
    section = alerting_section(receivers, remediations=[])
    section["route"]["routes"] = [{"receivers": ["slack"]}]
    document = config_document(sim, tmp_path / "state", section)
    document["logs"] = {
        "capture": {"rules": ["worker_checks_failing"], "duration": "10s", "limit": 2, **capture}
    }
    return write_config(tmp_path / "flarewatch.yaml", document)


def slack_json(receivers: Receivers, index: int) -> str:
    """The Slack message ``index`` as JSON text (blocks included)."""
    return json.dumps(receivers.slack.delivered()[index].json(), ensure_ascii=False)


EXCEPTION_PARTS = [
    "Captured 2 exceptions of Worker api",
    "TypeError: Cannot read properties of undefined (reading 'userId')",
    "request: GET https://api.spacevision.app/health → 500",
    "at handleRequest",
]


async def test_the_first_notification_waits_for_the_capture_and_carries_it(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """Firing (explained: Error 1101) → a capture of the api Worker (limit 2) → the first
    Slack message, held until the capture ended, carries both exceptions with their request
    and throw site (not the resolve, long after the incident started); the capture's tail is
    gone and the resolve does not repeat them."""
    running = await start_daemon(capture_config(sim, tmp_path, receivers, hold="20s"))
    await running.daemon.wait_ready()
    fault = await sim.control("POST", "/__sim/faults", json=FAULT)
    await eventually(lambda: len(receivers.slack.delivered()) >= 1, within=30.0)
    first = slack_json(receivers, 0)
    registry = running.daemon.metrics_registry
    assert 1.0 == registry.get_sample_value(
        "flarewatch_log_captures_total", {"outcome": "captured"}
    )
    assert "Explanation: 1101 Error 1101: Worker threw a JavaScript exception" in first
    assert [p for p in EXCEPTION_PARTS if p not in first] == []
    await sim.control("DELETE", f"/__sim/faults/{fault['id']}")
    await eventually(lambda: len(receivers.slack.delivered()) >= 2)
    _, tails = await sim.call("GET", f"/accounts/{sim.account_id}/workers/scripts/api/tails")
    assert "Captured 2 exceptions" not in slack_json(receivers, 1)
    assert [] == tails["result"]


async def test_without_a_hold_exceptions_ride_on_the_alert_s_next_notification(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """``hold: 0s`` sends the first notification at once (fastest page); the capture's
    exceptions then reach the alert's next notification, here the resolve."""
    running = await start_daemon(capture_config(sim, tmp_path, receivers, hold="0s"))
    await running.daemon.wait_ready()
    fault = await sim.control("POST", "/__sim/faults", json=FAULT)
    await eventually(lambda: len(receivers.slack.delivered()) >= 1)
    assert "Captured" not in slack_json(receivers, 0)
    registry = running.daemon.metrics_registry

    def captured() -> bool:
        value = registry.get_sample_value("flarewatch_log_captures_total", {"outcome": "captured"})
        return value == 1.0

    await eventually(captured)
    await sim.control("DELETE", f"/__sim/faults/{fault['id']}")
    await eventually(lambda: len(receivers.slack.delivered()) >= 2)
    resolved = slack_json(receivers, 1)
    assert [p for p in EXCEPTION_PARTS if p not in resolved] == []


async def test_a_worker_at_its_tail_limit_gets_a_note_not_a_crash(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """With 10 viewers on the Worker the capture cannot start: the first notification says
    so (it waited only as long as the refusal took) and alerting carries on (the resolve
    still arrives)."""
    for _ in range(10):
        await sim.call("POST", f"/accounts/{sim.account_id}/workers/scripts/api/tails", json={})
    running = await start_daemon(capture_config(sim, tmp_path, receivers))
    await running.daemon.wait_ready()
    fault = await sim.control("POST", "/__sim/faults", json=FAULT)
    await eventually(lambda: len(receivers.slack.delivered()) >= 1)
    registry = running.daemon.metrics_registry
    await eventually(
        lambda: (
            registry.get_sample_value("flarewatch_log_captures_total", {"outcome": "tail_limit"})
            == 1.0
        )
    )
    assert "already has its 10 tails attached" in slack_json(receivers, 0)
    await sim.control("DELETE", f"/__sim/faults/{fault['id']}")
    await eventually(lambda: len(receivers.slack.delivered()) >= 2)


async def test_the_status_document_explains_a_failing_probe(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """A Worker answering Error 1101 is explained on the status API with the fix."""
    running = await start_daemon(capture_config(sim, tmp_path, receivers, enabled=False))
    await running.daemon.wait_ready()
    await sim.control("POST", "/__sim/faults", json=FAULT)

    def explained() -> bool:
        [probe] = running.daemon.status_document()["probes"]
        text = probe["explanation"] or ""
        return text.startswith("1101 ")

    await eventually(explained)


async def test_stopping_the_daemon_mid_capture_deletes_its_tail(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """A capture still tailing at shutdown must not leave one of the Worker's 10 tail slots
    taken."""
    path = capture_config(sim, tmp_path, receivers, duration="10m", limit=50)
    running = await start_daemon(path)
    await running.daemon.wait_ready()
    await sim.control("POST", "/__sim/faults", json=FAULT)
    tails_url = f"/accounts/{sim.account_id}/workers/scripts/api/tails"

    async def tailing() -> bool:
        _, answer = await sim.call("GET", tails_url)
        return len(answer["result"]) == 1

    await until(tailing)
    await running.daemon.stop()
    _, answer = await sim.call("GET", tails_url)
    assert [] == answer["result"]
