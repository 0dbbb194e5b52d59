"""The daemon's log store against the simulator: probe rows with their trace id next to the
Worker's tail events of the same request (`flarewatch logs trace`), retention at open, the
metrics, and no store at all when disabled."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from prometheus_client import CollectorRegistry

from monitor.config import Config
from monitor.configload import load_config
from monitor.daemon import Daemon, Options
from monitor.logsink import LogSink
from ops.logevents import Level, LogRow
from ops.logstore import LogStore, RetentionPolicy
from probes.registry import builtin_registry
from tests.conftest import SimHandle
from tests.integration.monitor.conftest import until

REGISTRY = builtin_registry()
FLAREWATCH = str(Path(sys.executable).with_name("flarewatch"))
DAY_MS = 86_400_000


def document(sim: SimHandle, state_dir: Path, **logs: Any) -> dict[str, Any]:
    """An ``http`` probe of the api Worker through the simulator's edge every 0.3 s."""
    return {
        "cloudflare": {
            "account_id": sim.account_id,
            "api_token": sim.token,
            "api_base_url": sim.api,
        },
        "server": {"listen": "127.0.0.1:0"},
        "state_dir": str(state_dir),
        "defaults": {"interval": "0.3s", "timeout": "0.25s"},
        "http": {"connect_to": {"api.spacevision.app:80": urlsplit(sim.url).netloc}},
        "probes": [{"name": "api-health", "type": "http", "url": "http://api.spacevision.app/"}],
        "logs": logs,
    }


async def started(data: dict[str, Any]) -> Daemon:
    """A started in-process daemon for ``data``."""
    config = Config.model_validate(data, context={"registry": REGISTRY})
    daemon = Daemon(
        config,
        registry=REGISTRY,
        options=Options(startup_jitter_s=0.05, heartbeat_s=0.1),
        metrics_registry=CollectorRegistry(),
    )
    await daemon.start()
    return daemon


def read(path: Path) -> list[LogRow]:
    """Every row of the store at ``path``, oldest first."""
    with LogStore(path, create=False) as db:
        return db.query(0, 4e9, limit=10_000)


async def test_a_probe_check_and_the_worker_event_share_one_trace(
    sim: SimHandle, tmp_path: Path
) -> None:
    """The probe's traceparent reaches the Worker: `logs trace ID --store` lists the probe's
    HTTP check and the api Worker's tail event of that request together."""
    state = tmp_path / "state"
    daemon = await started(document(sim, state, tail={"workers": ["api"]}))
    store = state / "logs.db"
    try:

        async def joined() -> bool:
            assert daemon.logsink is not None
            await daemon.logsink.flush()
            rows = await asyncio.to_thread(read, store)
            probes = {r.trace_id for r in rows if r.kind == "probe" and r.trace_id}
            return any(r.kind == "worker" and r.trace_id in probes for r in rows)

        await until(joined, timeout_s=20.0)
    finally:
        await daemon.stop()
    rows = await asyncio.to_thread(read, store)
    probes = {r.trace_id for r in rows if r.kind == "probe"}
    trace_id = next(r.trace_id for r in rows if r.kind == "worker" and r.trace_id in probes)
    proc = await asyncio.create_subprocess_exec(
        FLAREWATCH,
        "logs",
        "trace",
        trace_id,
        "--store",
        str(store),
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert 0 == proc.returncode, err.decode()
    trace = json.loads(out)
    assert ["probe/api-health", "worker/api"] == sorted(trace["sources"])


async def test_a_disabled_store_writes_nothing(sim: SimHandle, tmp_path: Path) -> None:
    """`logs.store: false` keeps no file in state_dir (and the daemon runs as usual)."""
    state = tmp_path / "state"
    state.mkdir()
    daemon = await started(document(sim, state, store=False))
    try:
        await daemon.wait_ready()
        assert (None, []) == (daemon.logsink, sorted(p.name for p in state.iterdir()))
    finally:
        await daemon.stop()


def old_and_new(now_ms: int) -> list[LogRow]:
    """Two rows ten days old and one from now."""
    return [
        LogRow(ts_ms=now_ms - 10 * DAY_MS, kind="probe", service="old", level=Level.INFO),
        LogRow(ts_ms=now_ms - 10 * DAY_MS + 1, kind="probe", service="old", level=Level.INFO),
        LogRow(ts_ms=now_ms, kind="probe", service="new", level=Level.INFO),
    ]


async def test_retention_runs_when_the_sink_opens(tmp_path: Path) -> None:
    """A daemon restarted after a week away drops what is past max_age before writing."""
    path = tmp_path / "logs.db"
    now = 1_800_000_000.0
    with LogStore(path) as db:
        db.add(old_and_new(int(now * 1000)))
    sink = LogSink(path, RetentionPolicy(max_age_s=7 * 86_400), clock=lambda: now)
    await sink.open()
    await sink.aclose()
    assert (2, ["new"]) == (sink.deleted, [r.service for r in read(path)])


async def test_retention_runs_again_each_interval(tmp_path: Path) -> None:
    """The hourly pass removes rows that aged out while the daemon ran."""
    path = tmp_path / "logs.db"
    clock = [1_800_000_000.0]
    sink = LogSink(
        path,
        RetentionPolicy(max_age_s=86_400),
        clock=lambda: clock[0],
        retention_interval_s=3600,
        flush_interval_s=0.01,
    )
    await sink.open()
    try:
        for row in old_and_new(int(clock[0] * 1000))[2:]:
            sink.add(row)
        await sink.flush()
        clock[0] += 2 * 86_400  # two days later: the row is too old and retention is due

        async def pruned() -> bool:
            return sink.deleted == 1

        await until(pruned, timeout_s=10.0)
    finally:
        await sink.aclose()
    assert [] == read(path)


async def test_stored_rows_and_store_size_are_metrics(sim: SimHandle, tmp_path: Path) -> None:
    """flarewatch_log_events_stored_total{kind="probe"} grows with runs and the store's size
    is exported, so a full disk is seen coming."""
    state = tmp_path / "state"
    daemon = await started(document(sim, state))
    registry = daemon.metrics_registry
    try:

        async def counted() -> bool:
            value = registry.get_sample_value(
                "flarewatch_log_events_stored_total", {"kind": "probe"}
            )
            return (value or 0) >= 2

        await until(counted)
        assert daemon.logsink is not None
        await daemon.logsink.flush()
        size = registry.get_sample_value("flarewatch_log_store_size_bytes")
        assert (size or 0) > 0
    finally:
        await daemon.stop()


async def test_a_reload_starts_and_stops_continuous_tails(sim: SimHandle, tmp_path: Path) -> None:
    """Adding `logs.tail.workers` on reload attaches a tail to the Worker; removing it
    deletes the tail again (a tail slot is never leaked)."""
    path = tmp_path / "flarewatch.yaml"
    data = document(sim, tmp_path / "state")
    path.write_text(yaml.safe_dump(data))
    daemon = Daemon(
        load_config(path, registry=REGISTRY),
        registry=REGISTRY,
        loader=lambda: load_config(path, registry=REGISTRY),
        source=str(path),
        options=Options(startup_jitter_s=0.05, heartbeat_s=0.1),
        metrics_registry=CollectorRegistry(),
    )
    await daemon.start()
    tails_url = f"/accounts/{sim.account_id}/workers/scripts/api/tails"

    async def tails(count: int) -> bool:
        _, answer = await sim.call("GET", tails_url)
        return len(answer["result"]) == count

    try:
        path.write_text(yaml.safe_dump({**data, "logs": {"tail": {"workers": ["api"]}}}))
        assert (await daemon.reload("test")).ok
        await until(lambda: tails(1))
        path.write_text(yaml.safe_dump(data))
        assert (await daemon.reload("test")).ok
        await until(lambda: tails(0))
    finally:
        await daemon.stop()
