"""The daemon with the real probe types against the simulator: faults show, nothing crashes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from monitor.config import Config
from monitor.daemon import Daemon, Options
from probes.registry import default_registry
from tests.conftest import SimHandle
from tests.integration.monitor.conftest import Running, until

REGISTRY = default_registry()
INTERVAL_S = 1.0
TIMEOUT_S = 0.8


@pytest.fixture
async def estate(sim: SimHandle, tmp_path: Path) -> AsyncIterator[Running]:
    """The daemon watching a slice of the SpaceVision estate with the built-in probe types."""
    edge = urlsplit(sim.url).netloc
    data: dict[str, Any] = {
        "state_dir": str(tmp_path / "state"),
        "cloudflare": {
            "account_id": sim.account_id,
            "api_token": sim.token,
            "api_base_url": sim.api,
        },
        "server": {"listen": "127.0.0.1:0"},
        "defaults": {"interval": f"{INTERVAL_S}s", "timeout": f"{TIMEOUT_S}s"},
        "http": {"connect_to": {"www.spacevision.app:80": edge, "api.spacevision.app:80": edge}},
        "probes": [
            {"name": "budget", "type": "api", "verify_token": None},
            {"name": "www", "type": "http", "url": "http://www.spacevision.app/"},
            {"name": "sessions-kv", "type": "kv", "namespace": "SESSIONS", "canary_interval": 0},
            {"name": "main-db", "type": "d1", "database": "spacevision-db"},
            {"name": "uploads", "type": "r2", "bucket": "uploads", "quota": "10GB"},
        ],
    }
    config = Config.model_validate(data, context={"registry": REGISTRY})
    daemon = Daemon(
        config, registry=REGISTRY, options=Options(startup_jitter_s=0.1, heartbeat_s=0.2)
    )
    await daemon.start()
    running = Running(daemon, aiohttp.ClientSession())
    try:
        yield running
    finally:
        await daemon.stop()
        await running.session.close()


async def success(running: Running, probe: str, type_name: str) -> float | None:
    """``flarewatch_probe_success`` of one probe."""
    return await running.metric("flarewatch_probe_success", probe=probe, type=type_name)


async def test_the_estate_comes_up_green(estate: Running) -> None:
    """Every built-in probe type used here reports ok against a healthy simulator."""

    async def ready() -> bool:
        return (await estate.get("/readyz"))[0] == 200

    await until(ready, timeout_s=20.0)
    statuses = {p["name"]: p["status"] for p in (await estate.status())["probes"]}
    assert {"budget", "www", "sessions-kv", "main-db", "uploads"} == set(statuses)
    assert {"ok"} == set(statuses.values()), statuses


async def test_a_d1_outage_shows_within_an_interval_and_spares_other_services(
    sim: SimHandle, estate: Running
) -> None:
    """D1 down: main-db fails within one interval (plus its timeout); KV and HTTP stay ok."""

    async def green() -> bool:
        return (await success(estate, "main-db", "d1")) == 1.0

    await until(green, timeout_s=20.0)
    await sim.control("POST", "/__sim/faults", json={"service": "d1", "outage": True})
    injected = time.monotonic()

    async def d1_red() -> bool:
        return (await success(estate, "main-db", "d1")) == 0.0

    await until(d1_red, timeout_s=20.0)
    assert time.monotonic() - injected < INTERVAL_S + TIMEOUT_S + 2.0
    assert 1.0 == await success(estate, "sessions-kv", "kv")
    assert 1.0 == await success(estate, "www", "http")
    entry = await estate.probe("main-db")
    assert entry["reason"] in ("unreachable", "api_error", "timeout")
    assert 200 == (await estate.get("/healthz"))[0]


async def test_kv_5xx_and_a_429_never_crash_the_daemon(sim: SimHandle, estate: Running) -> None:
    """Errors and rate limits become results and counters; the daemon stays healthy."""

    async def green() -> bool:
        return (await success(estate, "sessions-kv", "kv")) == 1.0

    await until(green, timeout_s=20.0)
    await sim.control("POST", "/__sim/faults", json={"service": "kv", "error_status": 502})

    async def kv_red() -> bool:
        return (await success(estate, "sessions-kv", "kv")) == 0.0

    await until(kv_red, timeout_s=20.0)
    await sim.control("DELETE", "/__sim/faults")
    await sim.control("POST", "/__sim/faults", json={"service": "r2", "rate_limit": True})

    async def limited() -> bool:
        hits = await estate.metric("flarewatch_cloudflare_api_rate_limited_total", group="r2")
        return (hits or 0) >= 1

    await until(limited, timeout_s=20.0)
    before = await estate.metric(
        "flarewatch_probe_runs_total", probe="www", type="http", status="ok"
    )

    async def http_keeps_going() -> bool:
        now = await estate.metric(
            "flarewatch_probe_runs_total", probe="www", type="http", status="ok"
        )
        return (now or 0) >= (before or 0) + 2

    await until(http_keeps_going, timeout_s=20.0)
    crashes = (await estate.metrics()).get("flarewatch_probe_crashes_total", {})
    assert {0.0} == set(crashes.values())
    assert 200 == (await estate.get("/healthz"))[0]
