"""Silences through the CLI, the API and restarts: `flarewatch silence add` mutes the page,
`flarewatch alerts` shows why, expiring releases it, and silences outlive the daemon."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from tests.conftest import SimHandle
from tests.integration.alerting_e2e.conftest import (
    ADMIN,
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


async def started(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> Session:
    """A daemon with the incident's rules and receivers, no remediation."""
    path = write_config(
        tmp_path / "flarewatch.yaml",
        config_document(sim, tmp_path / "state", alerting_section(receivers, remediations=[])),
    )
    return await start_daemon(path)


async def test_a_silence_added_with_the_cli_mutes_the_page_until_expired(
    sim: SimHandle,
    receivers: Receivers,
    start_daemon: StartDaemon,
    spawn: Spawn,
    tmp_path: Path,
) -> None:
    """A deploy silences worker_down on api-worker: the incident sends Slack only the
    warning and PagerDuty nothing; `flarewatch alerts` marks the alert silenced; expiring
    the silence pages at once."""
    running = await started(sim, receivers, start_daemon, tmp_path)
    token = tmp_path / "admin-token"
    token.write_text(ADMIN + "\n")
    url = running.daemon.url
    add = await spawn(
        "silence", "add", 'rule="worker_down"', "probe=api-worker", "--duration", "1h",
        "--comment", "deploying api, CHG-42", "--author", "alice",
        "--url", url, "--token-file", str(token),
    )  # fmt: skip
    assert 0 == await add.finish(), add.lines
    silence_id = add.stdout.strip()
    listing = await spawn("silence", "list", "--json", "--url", url)
    assert 0 == await listing.finish()
    [listed] = json.loads(listing.stdout)["silences"]
    assert (silence_id, "active", "alice") == (
        listed["id"],
        listed["state"],
        listed["created_by"],
    )

    await sim.control("POST", "/__sim/faults", json=FAULT)
    await eventually(lambda: len(receivers.slack.delivered()) == 1)
    await until(lambda: _both_firing(running))
    await until(lambda: _outbox_empty(running))
    assert [] == receivers.pagerduty.requests
    [text] = receivers.slack_texts()
    assert "1 URL check(s) failing" in text, text
    assert "is down" not in text, text
    shown = await spawn("alerts", "--url", url)
    assert 0 == await shown.finish()
    [row] = [line for line in shown.stdout.splitlines() if "worker_down" in line]
    assert row.startswith("firing (silenced)"), shown.stdout

    expire = await spawn(
        "silence", "expire", silence_id, "--url", url,
        env=child_environment(FLAREWATCH_ADMIN_TOKEN=ADMIN),
    )  # fmt: skip
    assert 0 == await expire.finish(), expire.lines
    await eventually(lambda: len(receivers.pagerduty_events()) == 1)
    assert "trigger" == receivers.pagerduty_events()[0]["event_action"]


async def _both_firing(running: Session) -> bool:
    return {"worker_down", "worker_checks_failing"} <= await running.firing()


async def _outbox_empty(running: Session) -> bool:
    return await running.undelivered() == 0


async def test_silences_survive_a_restart(
    sim: SimHandle, receivers: Receivers, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """A silence created through the API is there, still active, after a restart."""
    running = await started(sim, receivers, start_daemon, tmp_path)
    body = {
        "matchers": ['probe="api-worker"'],
        "duration": "2h",
        "created_by": "bob",
        "comment": "migration",
    }
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with running.http.post(
        running.daemon.url + "/api/v1/silences", json=body, headers=headers
    ) as resp:
        assert 201 == resp.status, await resp.text()
        created = (await resp.json())["silence"]
    await running.daemon.stop()

    again = await started(sim, receivers, start_daemon, tmp_path)
    async with (
        aiohttp.ClientSession() as http,
        http.get(again.daemon.url + f"/api/v1/silences/{created['id']}") as resp,
    ):
        assert 200 == resp.status
        kept = (await resp.json())["silence"]
    assert created == kept


async def test_silence_changes_need_the_admin_token(
    sim: SimHandle,
    receivers: Receivers,
    start_daemon: StartDaemon,
    spawn: Spawn,
    tmp_path: Path,
) -> None:
    """Without a token the CLI says how to give one (exit 2); with a wrong one the daemon
    refuses it (exit 2); nothing is created either way."""
    running = await started(sim, receivers, start_daemon, tmp_path)
    url = running.daemon.url
    args = ("silence", "add", "probe=api-worker", "-c", "x", "--url", url)
    missing = await spawn(*args)
    assert 2 == await missing.finish()
    assert any("FLAREWATCH_ADMIN_TOKEN" in line for line in missing.lines), missing.lines
    wrong = await spawn(*args, env=child_environment(FLAREWATCH_ADMIN_TOKEN="not-the-token-at-all"))
    assert 2 == await wrong.finish()
    assert any("wrong admin token" in line for line in wrong.lines), wrong.lines
    listing = await spawn("silence", "list", "--all", "--url", url)
    assert 0 == await listing.finish()
    assert "No silences." == listing.stdout.strip()


async def test_the_cli_says_when_the_daemon_cannot_be_reached(spawn: Spawn) -> None:
    """Nothing listening: exit 1 with the URL and a hint, no traceback."""
    shown = await spawn("alerts", "--url", "http://127.0.0.1:9")
    assert 1 == await shown.finish()
    text = "\n".join(shown.lines)
    assert "cannot reach flarewatch at http://127.0.0.1:9" in text
    assert "Traceback" not in text
