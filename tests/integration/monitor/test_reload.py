"""Hot reload in-process: the admin token guards it, a bad file is refused, a good one swaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from structlog.testing import capture_logs

from tests.integration.monitor.conftest import ADMIN_TOKEN, Running, Starter, until

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def ran(running: Running, *names: str) -> None:
    """Wait until every probe in ``names`` has a result."""

    async def all_ran() -> bool:
        probes = {p["name"]: p for p in (await running.status())["probes"]}
        return all(n in probes and probes[n]["checked_at"] is not None for n in names)

    await until(all_ran)


def rewrite(path: Path, change: Any) -> None:
    """Load the YAML at ``path``, let ``change`` edit it, write it back."""
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


async def test_reload_needs_the_admin_token(start_daemon: Starter, tmp_path: Path) -> None:
    """Without the token (or with a wrong one) nothing is reloaded."""
    running = await start_daemon(
        [{"name": "a", "type": "script"}], config_file=tmp_path / "fw.yaml"
    )
    assert 401 == (await running.post("/-/reload"))[0]
    wrong = {"Authorization": "Bearer wrong-token-wrong-token"}
    assert 403 == (await running.post("/-/reload", headers=wrong))[0]
    assert 0.0 == await running.metric("flarewatch_config_reloads_total", result="success")
    status, body = await running.post("/-/reload", headers=BEARER)
    assert (200, "reloaded") == (status, body["status"])


async def test_reload_is_off_without_an_admin_token(start_daemon: Starter, tmp_path: Path) -> None:
    """No admin token configured: the HTTP reload is refused (SIGHUP still works)."""
    running = await start_daemon(
        [{"name": "a", "type": "script"}], config_file=tmp_path / "fw.yaml", admin_token=None
    )
    status, body = await running.post("/-/reload", headers=BEARER)
    assert 403 == status
    assert "admin API is off" in body["error"]


async def test_a_good_reload_swaps_probes_and_keeps_the_server(
    start_daemon: Starter, tmp_path: Path
) -> None:
    """Added probes appear, removed ones go, unchanged ones keep their history."""
    config = tmp_path / "fw.yaml"
    running = await start_daemon(
        [{"name": "kept", "type": "script"}, {"name": "dropped", "type": "script"}],
        config_file=config,
    )
    await ran(running, "kept", "dropped")
    port = running.daemon.port
    rewrite(
        config,
        lambda d: d.update(
            probes=[{"name": "kept", "type": "script"}, {"name": "added", "type": "kvlist"}]
        ),
    )
    status, body = await running.post("/-/reload", headers=BEARER)
    assert (200, "2 probes: 1 added, 1 removed, 0 changed") == (status, body["message"])
    await ran(running, "added")
    names = [p["name"] for p in (await running.status())["probes"]]
    assert ["kept", "added"] == names
    kept = await running.probe("kept")
    assert len(kept["history"]) >= 1
    assert port == running.daemon.port
    assert None is await running.metric("flarewatch_probe_success", probe="dropped", type="script")
    assert 1.0 == await running.metric("flarewatch_config_reloads_total", result="success")


async def test_a_bad_reload_keeps_the_running_config_and_says_why(
    start_daemon: Starter, tmp_path: Path
) -> None:
    """A broken file is rejected with its located problems; probes carry on unchanged."""
    config = tmp_path / "fw.yaml"
    running = await start_daemon([{"name": "a", "type": "script"}], config_file=config)
    await ran(running, "a")
    rewrite(config, lambda d: d["probes"].append({"name": "b", "type": "script", "intervl": "5s"}))
    with capture_logs() as logs:
        outcome = await running.daemon.reload("signal")
    assert not outcome.ok
    assert any(f"{config}:" in p and "intervl" in p for p in outcome.problems)
    [rejected] = [e for e in logs if e["event"] == "config_reload_rejected"]
    assert ("signal", "error") == (rejected["origin"], rejected["log_level"])
    assert ["a"] == [p["name"] for p in (await running.status())["probes"]]
    assert 1.0 == await running.metric("flarewatch_config_reloads_total", result="failure")
    assert 0.0 == await running.metric("flarewatch_config_last_reload_success")

    status, body = await running.post("/-/reload", headers=BEARER)
    assert (422, "rejected") == (status, body["status"])

    async def still_running() -> bool:
        runs = await running.metric(
            "flarewatch_probe_runs_total", probe="a", type="script", status="ok"
        )
        return (runs or 0) >= 3

    await until(still_running)


async def test_a_changed_interval_restarts_only_that_probe(
    start_daemon: Starter, tmp_path: Path
) -> None:
    """A reload re-times what changed; probes with identical settings keep their instance."""
    config = tmp_path / "fw.yaml"
    running = await start_daemon(
        [{"name": "same", "type": "script"}, {"name": "faster", "type": "script"}],
        config_file=config,
        interval="30s",
    )
    await ran(running, "same", "faster")
    before = {p.name: p.probe for p in running.daemon.app.probes}  # type: ignore[union-attr]
    rewrite(config, lambda d: d["probes"][1].update(interval="0.2s"))
    outcome = await running.daemon.reload("http")
    assert outcome.ok
    after = {p.name: p.probe for p in running.daemon.app.probes}  # type: ignore[union-attr]
    assert before["same"] is after["same"]
    assert before["faster"] is not after["faster"]

    async def faster_runs_often() -> bool:
        return len((await running.probe("faster"))["history"]) >= 4

    await until(faster_runs_often)
    assert 1 == len((await running.probe("same"))["history"])
