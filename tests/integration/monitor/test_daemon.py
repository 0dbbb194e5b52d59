"""The daemon in-process against the simulator: health, readiness, metrics, faults, stop."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from monitor.daemon import Daemon, Options, StartError
from tests.conftest import SimHandle
from tests.integration.monitor.conftest import REGISTRY, Starter, build, config_data, until
from tests.integration.monitor.testprobes import GATES


async def test_readyz_is_503_before_the_first_round_and_200_after(
    start_daemon: Starter,
) -> None:
    """Ready means every probe has a result: one still running keeps the daemon unready."""
    running = await start_daemon(
        [{"name": "held", "type": "script", "mode": "gate"}, {"name": "quick", "type": "script"}],
        timeout="10s",
    )

    async def quick_ran() -> bool:
        return (await running.probe("quick"))["checked_at"] is not None

    await until(quick_ran)
    assert not running.daemon.is_ready()
    assert 503 == (await running.get("/readyz"))[0]
    assert 0.0 == await running.metric("flarewatch_ready")
    GATES.setdefault("held", asyncio.Event()).set()

    async def ready() -> bool:
        return (await running.get("/readyz"))[0] == 200

    await until(ready)
    await asyncio.wait_for(running.daemon.wait_ready(), 1.0)
    assert (await running.status())["flarewatch"]["ready"]
    assert 200 == (await running.get("/healthz"))[0]


async def test_metrics_expose_the_documented_families(start_daemon: Starter) -> None:
    """Prometheus finds every family docs/daemon.md lists, with samples for live probes."""
    running = await start_daemon(
        [{"name": "s", "type": "script", "value": 4.0}, {"name": "kv", "type": "kvlist"}]
    )

    async def both_ran() -> bool:
        success = (await running.metrics()).get("flarewatch_probe_success", {})
        return 2 == len(success)

    await until(both_ran)
    samples = await running.metrics()
    text = (await running.get("/metrics"))[1]
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    for name in (
        "flarewatch_probe_success",
        "flarewatch_probe_status",
        "flarewatch_probe_latency_seconds",
        "flarewatch_probe_last_run_timestamp_seconds",
        "flarewatch_probe_interval_seconds",
        "flarewatch_probe_runs_total",
        "flarewatch_probe_failures_total",
        "flarewatch_probe_crashes_total",
        "flarewatch_probe_duration_seconds",
        "flarewatch_scheduler_lag_seconds",
        "flarewatch_scheduler_skipped_runs_total",
        "flarewatch_cloudflare_api_requests_total",
        "flarewatch_cloudflare_api_budget_remaining",
        "flarewatch_cloudflare_api_budget_capacity",
        "flarewatch_cloudflare_api_attempts_total",
        "flarewatch_analytics_requests_total",
        "flarewatch_build_info",
        "flarewatch_ready",
        "flarewatch_config_reloads_total",
        "flarewatch_config_last_reload_success",
        "flarewatch_config_last_reload_timestamp_seconds",
        "flarewatch_script_answer",
        "flarewatch_script_retries_total",
        "flarewatch_script_shard_value",
    ):
        assert name in declared, name
    assert 4.0 == samples["flarewatch_script_answer"][(("probe", "s"),)]
    assert samples["flarewatch_cloudflare_api_requests_total"][(("group", "kv"),)] >= 1.0


async def test_a_crashing_probe_is_unknown_and_counted_while_others_keep_running(
    start_daemon: Starter,
) -> None:
    """The runner is the crash barrier: the crash is a result and a counter, not an outage."""
    running = await start_daemon(
        [{"name": "bad", "type": "script", "mode": "crash"}, {"name": "good", "type": "script"}]
    )

    async def crashed_twice_while_good_ran() -> bool:
        crashes = await running.metric("flarewatch_probe_crashes_total", probe="bad", type="script")
        good = await running.metric(
            "flarewatch_probe_runs_total", probe="good", type="script", status="ok"
        )
        return (crashes or 0) >= 2 and (good or 0) >= 3

    await until(crashed_twice_while_good_ran)
    bad = await running.probe("bad")
    assert ("unknown", "error") == (bad["status"], bad["reason"])
    assert "RuntimeError: scripted crash" in bad["message"]
    assert 200 == (await running.get("/healthz"))[0]


async def test_a_hanging_probe_times_out_and_never_blocks_other_services(
    start_daemon: Starter,
) -> None:
    """A probe that never answers is crit/timeout; other services keep their rhythm."""
    running = await start_daemon(
        [
            {"name": "stuck-1", "type": "slow"},
            {"name": "stuck-2", "type": "slow"},
            {"name": "kv", "type": "kvlist"},
            {"name": "s", "type": "script"},
        ],
        interval="0.2s",
        timeout="0.5s",
    )

    async def others_kept_going() -> bool:
        runs = await running.metric(
            "flarewatch_probe_runs_total", probe="s", type="script", status="ok"
        )
        kv = await running.metric(
            "flarewatch_probe_runs_total", probe="kv", type="kvlist", status="ok"
        )
        stuck = await running.metric(
            "flarewatch_probe_failures_total", probe="stuck-1", type="slow", reason="timeout"
        )
        return (runs or 0) >= 6 and (kv or 0) >= 6 and (stuck or 0) >= 1

    await until(others_kept_going)
    stuck = await running.probe("stuck-1")
    assert ("crit", "timeout") == (stuck["status"], stuck["reason"])
    skipped = await running.metric(
        "flarewatch_scheduler_skipped_runs_total", reason="max_instances"
    )
    assert (skipped or 0) >= 1


async def fault(sim: SimHandle, **spec: Any) -> None:
    """Inject a simulator fault."""
    await sim.control("POST", "/__sim/faults", json=spec)


async def test_api_5xx_shows_in_metrics_within_an_interval(
    sim: SimHandle, start_daemon: Starter
) -> None:
    """A failing Cloudflare API turns the probe red and shows up in the retry counters."""
    running = await start_daemon(
        [{"name": "kv", "type": "kvlist"}], interval="0.5s", timeout="0.4s"
    )

    async def ok() -> bool:
        return (await running.metric("flarewatch_probe_success", probe="kv", type="kvlist")) == 1.0

    await until(ok)
    await fault(sim, service="kv", error_status=500)
    injected = time.monotonic()

    async def failing() -> bool:
        return (await running.metric("flarewatch_probe_success", probe="kv", type="kvlist")) == 0.0

    await until(failing)
    # One interval plus the probe's timeout, with slack for a loaded machine.
    assert time.monotonic() - injected < 0.5 + 0.4 + 2.0
    retries = await running.metric(
        "flarewatch_cloudflare_api_retries_total", group="kv", reason="server_error"
    )
    assert (retries or 0) >= 1
    entry = await running.probe("kv")
    assert entry["reason"] in ("api_error", "timeout")
    assert 200 == (await running.get("/healthz"))[0]


async def test_a_429_with_retry_after_pauses_api_calls_without_stalling_other_probes(
    sim: SimHandle, start_daemon: Starter
) -> None:
    """A 429 is counted and pauses the client; probes that need no API keep running."""
    running = await start_daemon(
        [{"name": "kv", "type": "kvlist"}, {"name": "s", "type": "script"}],
        interval="0.3s",
        timeout="0.25s",
    )
    await fault(sim, service="kv", rate_limit=True)

    async def limited() -> bool:
        hits = await running.metric("flarewatch_cloudflare_api_rate_limited_total", group="kv")
        return (hits or 0) >= 1

    await until(limited)
    paused = await running.metric("flarewatch_cloudflare_api_budget_paused_seconds")
    assert paused is not None
    assert paused > 0
    before = await running.metric(
        "flarewatch_probe_runs_total", probe="s", type="script", status="ok"
    )

    async def script_kept_running() -> bool:
        now = await running.metric(
            "flarewatch_probe_runs_total", probe="s", type="script", status="ok"
        )
        kv = await running.metric("flarewatch_probe_success", probe="kv", type="kvlist")
        return (now or 0) >= (before or 0) + 3 and kv == 0.0

    await until(script_kept_running)
    assert 200 == (await running.get("/healthz"))[0]


async def test_an_outage_of_one_service_leaves_the_others_green(
    sim: SimHandle, start_daemon: Starter
) -> None:
    """D1 down: the D1 probe fails, the KV probe stays ok through the same interval."""
    running = await start_daemon(
        [{"name": "kv", "type": "kvlist"}, {"name": "db", "type": "d1list"}],
        interval="0.4s",
        timeout="0.35s",
    )

    async def both_ok() -> bool:
        m = await running.metrics()
        success = m.get("flarewatch_probe_success", {})
        return (
            success.get((("probe", "kv"), ("type", "kvlist"))) == 1.0
            and success.get((("probe", "db"), ("type", "d1list"))) == 1.0
        )

    await until(both_ok)
    await fault(sim, service="d1", outage=True)
    kv_before = await running.metric(
        "flarewatch_probe_runs_total", probe="kv", type="kvlist", status="ok"
    )

    async def d1_down_kv_up() -> bool:
        m = await running.metrics()
        db = m["flarewatch_probe_success"].get((("probe", "db"), ("type", "d1list")))
        kv_ok = m["flarewatch_probe_runs_total"].get(
            (("probe", "kv"), ("status", "ok"), ("type", "kvlist"))
        )
        return db == 0.0 and (kv_ok or 0) >= (kv_before or 0) + 2

    await until(d1_down_kv_up)
    assert "ok" == (await running.probe("kv"))["status"]
    services = {s["service"]: s["status"] for s in (await running.status())["services"]}
    assert "ok" == services["kv"]
    assert services["d1"] in ("crit", "unknown")


async def test_stop_cancels_hanging_runs_and_closes_the_server(start_daemon: Starter) -> None:
    """SIGTERM's path must not wait for a probe that never answers."""
    running = await start_daemon([{"name": "stuck", "type": "slow"}], timeout="60s")

    async def in_flight() -> bool:
        return running.daemon.scheduler.in_flight() == ["stuck"]

    await until(in_flight)
    port = running.daemon.port
    began = time.monotonic()
    await running.daemon.stop()
    assert time.monotonic() - began < 10.0
    assert [] == running.daemon.scheduler.in_flight()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port or 0), timeout=1),
    ):
        pass


async def test_a_refused_token_is_a_start_error(sim: SimHandle) -> None:
    """A wrong token must stop the start with a clear message, not a crash loop of probes."""
    data = config_data(sim, [{"name": "s", "type": "script"}])
    data["cloudflare"]["api_token"] = "not-the-right-token-at-all"
    daemon = Daemon(build(data), registry=REGISTRY)
    with pytest.raises(StartError, match="refused the API token"):
        await daemon.start()
    assert daemon.port is None


async def test_an_unreachable_api_is_a_start_error(sim: SimHandle) -> None:
    """A base URL nobody answers on is named in the error, with the key to fix."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    data = config_data(sim, [{"name": "s", "type": "script"}])
    data["cloudflare"]["api_base_url"] = f"http://127.0.0.1:{closed_port}/client/v4"
    daemon = Daemon(build(data), registry=REGISTRY)
    with pytest.raises(StartError, match=r"cannot reach the Cloudflare API .*api_base_url"):
        await daemon.start()


async def test_an_address_in_use_is_a_start_error(sim: SimHandle) -> None:
    """Two daemons on one port: the second says so instead of crashing."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        data = config_data(sim, [{"name": "s", "type": "script"}])
        daemon = Daemon(
            build(data),
            registry=REGISTRY,
            options=Options(listen=f"127.0.0.1:{port}"),
        )
        with pytest.raises(StartError, match=f"cannot listen on 127.0.0.1:{port}"):
            await daemon.start()


async def test_the_status_page_is_served(start_daemon: Starter) -> None:
    """/ renders the status page from the same document as /api/v1/status."""
    running = await start_daemon([{"name": "home-check", "type": "script"}])

    async def ran() -> bool:
        return (await running.probe("home-check"))["checked_at"] is not None

    await until(ran)
    status, html = await running.get("/")
    assert 200 == status
    assert "home-check" in html
