"""Alerting inside the daemon: reloads keep alert state, the surfaces (metrics, status
document and page) show alerts, and bad alerting input stops the start with exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SimHandle
from tests.integration.alerting_e2e.conftest import (
    ADMIN,
    FAULT,
    Receivers,
    Session,
    Spawn,
    StartDaemon,
    alerting_section,
    config_document,
    eventually,
    until,
    write_config,
)


async def _empty(session: Session) -> bool:
    return await session.evaluated() and await session.undelivered() == 0


async def test_a_reload_keeps_alert_state_and_only_new_receivers_hear_of_it(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """Firing before the reload; the reload adds PagerDuty for critical alerts. Slack's
    group is untouched (no second message); PagerDuty, which never heard, gets the trigger."""
    section = alerting_section(receivers, remediations=[])
    full_route = section["route"]
    section["route"] = {**full_route, "routes": [{"receivers": ["slack"]}]}
    path = tmp_path / "flarewatch.yaml"
    write_config(path, config_document(sim, tmp_path / "state", section))
    running = await start_daemon(path)
    await sim.control("POST", "/__sim/faults", json=FAULT)
    await eventually(lambda: len(receivers.slack.delivered()) == 1)
    assert [] == receivers.pagerduty.requests

    section["route"] = full_route
    write_config(path, config_document(sim, tmp_path / "state", section))
    outcome = await running.daemon.reload("test")
    assert outcome.ok, outcome.problems
    await eventually(lambda: len(receivers.pagerduty_events()) == 1)
    await until(lambda: _empty(running))
    assert "trigger" == receivers.pagerduty_events()[0]["event_action"]
    assert 1 == len(receivers.slack.delivered())
    assert {"worker_down", "worker_checks_failing"} == await running.firing()


async def test_a_reload_that_stops_paging_resolves_the_open_page(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """The anchor complaint: a reload that no longer routes critical alerts to PagerDuty
    must close the incident PagerDuty opened (same dedup_key), not leave it open forever;
    Slack, still routed, hears nothing new."""
    section = alerting_section(receivers, remediations=[])
    path = tmp_path / "flarewatch.yaml"
    write_config(path, config_document(sim, tmp_path / "state", section))
    running = await start_daemon(path)
    await sim.control("POST", "/__sim/faults", json=FAULT)
    await eventually(lambda: len(receivers.pagerduty_events()) == 1)
    await until(lambda: _empty(running))
    slack_before = len(receivers.slack.delivered())

    section["route"] = {**section["route"], "routes": [{"receivers": ["slack"]}]}
    write_config(path, config_document(sim, tmp_path / "state", section))
    outcome = await running.daemon.reload("test")
    assert outcome.ok, outcome.problems
    await eventually(lambda: len(receivers.pagerduty_events()) == 2)
    await until(lambda: _empty(running))
    trigger, resolve = receivers.pagerduty_events()
    assert ("trigger", "resolve") == (trigger["event_action"], resolve["event_action"])
    assert trigger["dedup_key"] == resolve["dedup_key"]
    assert slack_before == len(receivers.slack.delivered())
    assert {"worker_down", "worker_checks_failing"} == await running.firing()


async def test_a_reload_that_removes_the_pager_keeps_its_resolve_and_says_so(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """PagerDuty removed from the configuration altogether (its routing key gone): the
    daemon cannot close the incident itself, so it keeps the resolve queued for it, counts
    it, and goes on alerting (no crash)."""
    section = alerting_section(receivers, remediations=[])
    path = tmp_path / "flarewatch.yaml"
    write_config(path, config_document(sim, tmp_path / "state", section))
    running = await start_daemon(path)
    await sim.control("POST", "/__sim/faults", json=FAULT)
    await eventually(lambda: len(receivers.pagerduty_events()) == 1)

    section["notifiers"] = {"slack": section["notifiers"]["slack"]}
    section["route"] = {**section["route"], "routes": [{"receivers": ["slack"]}]}
    write_config(path, config_document(sim, tmp_path / "state", section))
    outcome = await running.daemon.reload("test")
    assert outcome.ok, outcome.problems

    async def counted() -> bool:
        samples = (await metrics(running)).get("flarewatch_notifications_unconfigured_total", {})
        return samples.get((("notifier", "pagerduty"),)) == 1.0

    await until(counted)
    assert 1 == len(receivers.pagerduty_events())
    assert {"worker_down", "worker_checks_failing"} == await running.firing()


async def test_a_reload_with_a_bad_route_is_rejected_and_alerting_goes_on(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """A route naming an unknown notifier: the reload is refused with file:line, and the
    running rules keep alerting."""
    section = alerting_section(receivers, remediations=[])
    path = tmp_path / "flarewatch.yaml"
    write_config(path, config_document(sim, tmp_path / "state", section))
    running = await start_daemon(path)
    broken = {**section, "route": {**section["route"], "receivers": ["slakc"]}}
    write_config(path, config_document(sim, tmp_path / "state", broken))
    outcome = await running.daemon.reload("test")
    assert not outcome.ok
    [problem] = outcome.problems
    assert f"{path}:" in problem
    assert "alerting.route.receivers[0]: unknown notifier 'slakc'" in problem
    await sim.control("POST", "/__sim/faults", json=FAULT)
    await eventually(lambda: len(receivers.pagerduty_events()) == 1)


async def metrics(session: Session) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of /metrics: name → sorted labels → value."""
    async with session.http.get(session.daemon.url + "/metrics") as resp:
        text = await resp.text()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def test_alerts_show_in_metrics_the_status_document_and_the_page(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """Firing alerts by rule and severity, notifications by notifier and outcome, their
    latency and the outbox depth in /metrics; the alerts in /api/v1/status and on the page."""
    path = write_config(
        tmp_path / "flarewatch.yaml",
        config_document(sim, tmp_path / "state", alerting_section(receivers, remediations=[])),
    )
    running = await start_daemon(path)
    await sim.control("POST", "/__sim/faults", json=FAULT)
    await eventually(lambda: len(receivers.pagerduty_events()) == 1)
    await until(lambda: _empty(running))

    samples = await metrics(running)
    firing = samples["flarewatch_alerts_firing"]
    assert 1 == firing[(("rule", "worker_down"), ("severity", "critical"))]
    assert 1 == firing[(("rule", "worker_checks_failing"), ("severity", "warning"))]
    delivered = samples["flarewatch_notifications_total"]
    assert 1 == delivered[(("notifier", "pagerduty"), ("outcome", "delivered"))]
    assert 1 <= samples["flarewatch_notification_latency_seconds_count"][(("notifier", "slack"),)]
    assert 0 == samples["flarewatch_outbox_depth"][(("notifier", "slack"),)]
    assert 1 <= samples["flarewatch_alert_round_duration_seconds_count"][()]
    assert 2 == samples["flarewatch_alerts"][(("state", "firing"),)]

    async with running.http.get(running.daemon.url + "/api/v1/status") as resp:
        status: dict[str, Any] = await resp.json()
    entries = {a["name"]: a for a in status["alerts"]}
    assert ("firing", "critical", "api-worker") == (
        entries["worker_down"]["state"],
        entries["worker_down"]["severity"],
        entries["worker_down"]["probe"],
    )
    async with running.http.get(running.daemon.url + "/") as resp:
        page = await resp.text()
    assert "Worker api-worker is down" in page


async def test_bad_alerting_input_stops_the_start_with_exit_2(
    sim: SimHandle, receivers: Receivers, spawn: Spawn, tmp_path: Path
) -> None:
    """A rule reading a value no probe publishes: `flarewatch run` exits 2 naming
    file:line, without a traceback."""
    section = alerting_section(receivers)
    section["rules"][0]["condition"] = "values.eror_ratio > 0.1"
    path = write_config(
        tmp_path / "flarewatch.yaml", config_document(sim, tmp_path / "state", section)
    )
    process = await spawn("run", "-c", str(path))
    assert 2 == await process.finish()
    text = "\n".join(process.lines)
    assert f"{path}:" in text
    assert "alerting.rules[0].condition" in text
    assert "did you mean 'values.error_ratio'?" in text
    assert "Traceback" not in text
    assert ADMIN not in text


async def test_two_daemons_cannot_share_a_state_dir(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, spawn: Spawn, tmp_path: Path
) -> None:
    """Both would send every notification: the second refuses to start (exit 2)."""
    path = write_config(
        tmp_path / "flarewatch.yaml",
        config_document(sim, tmp_path / "state", alerting_section(receivers)),
    )
    await start_daemon(path)
    process = await spawn("run", "-c", str(path))
    assert 2 == await process.finish()
    assert any("in use by another flarewatch process" in line for line in process.lines)
