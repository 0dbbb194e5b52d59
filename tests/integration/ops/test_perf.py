"""``flarewatch perf`` against the simulator: background traffic, faults, real edge requests,
stored tail events — the bottleneck each scenario plants is the one named."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

from cfapi.client import CloudflareClient
from cfapi.tail_events import TailEvent
from ops.logevents import normalise_tail_event
from ops.logstore import LogStore
from ops.perf import PerfReport, WorkerPerf, analyse, collect
from tests.conftest import SimHandle
from tests.integration.ops.conftest import fault, hit
from tests.integration.ops.test_cli_logs import cli_env, run_cli

HOUR = 3600.0


async def traffic(sim: SimHandle, kind: str, subject: str, **settings: Any) -> None:
    """Steady background traffic for one subject (see docs/sim/graphql.md)."""
    await sim.control("POST", "/__sim/traffic", json={"kind": kind, "subject": subject, **settings})


async def bound(client: CloudflareClient, sim: SimHandle, worker: str = "api") -> dict[str, str]:
    """The resources a Worker is bound to: binding name → namespace id, database id, bucket."""
    settings = await client.workers.settings(sim.account_id, worker)
    found = {}
    for item in settings.bindings or []:
        resource = item.get("namespace_id") or item.get("id") or item.get("database_id")
        found[item["name"]] = str(resource or item.get("bucket_name") or "")
    return found


async def report(
    client: CloudflareClient, sim: SimHandle, *, past: bool = False, **kwargs: Any
) -> PerfReport:
    """perf over the hour ending at the next whole second, or with ``past`` at the last one
    (a window wholly in the past holds exactly 3600 ``rps`` background requests)."""
    now = time.time()
    until = float(math.floor(now) if past else math.ceil(now))
    inputs = await collect(client, sim.account_id, until - HOUR, until, **kwargs)
    return analyse(inputs)


def _iso(ts: float) -> str:
    """A whole-second UTC time as ``--since``/``--until`` take it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def worker(result: PerfReport, name: str = "api") -> WorkerPerf:
    """One Worker's section."""
    return next(w for w in result.workers if w.script == name)


async def test_slow_d1_is_named_as_the_bottleneck(sim: SimHandle, client: CloudflareClient) -> None:
    """api waits 250 ms per request on a D1 that takes 240 ms a batch: D1 is named, with
    its numbers, ahead of a fast KV and an R2 whose latency analytics do not report."""
    ids = await bound(client, sim)
    await traffic(sim, "workers", "api", rps=2, error_ratio=0.01, cpu_ms=3, duration_ms=250)
    await traffic(sim, "d1", ids["DB"], rps=2, latency_ms=240)
    await traffic(sim, "kv", ids["SESSIONS"], rps=2, latency_ms=2)
    await traffic(sim, "r2", ids["UPLOADS"], rps=1)
    api = worker(await report(client, sim, past=True))
    assert (7200, 72) == (api.requests, api.errors)
    assert 3.0 == api.cpu.p50
    assert 250.0 == api.wall.p50
    assert api.waiting_dominates
    assert "D1 spacevision-db" == api.bottleneck
    d1, kv, r2 = api.contributors
    assert ("d1", 1.0, 240.0) == (d1.kind, round(d1.per_request, 2), d1.latency_ms)
    assert ("kv", 2.0) == (kv.kind, kv.latency_ms)
    assert ("r2", None) == (r2.kind, r2.estimated_ms)
    assert "likely D1 spacevision-db" in api.verdict


async def test_slow_kv_is_named_when_d1_is_fast(sim: SimHandle, client: CloudflareClient) -> None:
    """The same Worker, the other way round: the cause moves with the numbers."""
    ids = await bound(client, sim)
    await traffic(sim, "workers", "api", rps=1, cpu_ms=2, duration_ms=200)
    await traffic(sim, "kv", ids["SESSIONS"], rps=1, latency_ms=180)
    await traffic(sim, "d1", ids["DB"], rps=1, latency_ms=4)
    api = worker(await report(client, sim, worker="api"))
    assert "KV SESSIONS" == api.bottleneck


async def test_a_cpu_bound_worker_is_not_blamed_on_bindings(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """30 ms of CPU in 35 ms of wall time: the code is the cost, whatever the bindings do."""
    ids = await bound(client, sim)
    await traffic(sim, "workers", "api", rps=1, cpu_ms=30, duration_ms=35)
    await traffic(sim, "d1", ids["DB"], rps=1, latency_ms=3)
    api = worker(await report(client, sim, worker="api"))
    assert (False, None) == (api.waiting_dominates, api.bottleneck)
    assert api.verdict.startswith("CPU dominates")


async def test_waiting_nothing_explains_is_said_so(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """Long waits with no binding traffic and no subrequests: perf does not invent a cause."""
    await traffic(sim, "workers", "image-processor", rps=1, cpu_ms=1, duration_ms=400)
    images = worker(await report(client, sim, worker="image-processor"), "image-processor")
    assert images.waiting_dominates
    assert images.bottleneck is None
    assert "neither bindings nor subrequests" in images.verdict


async def store_tail(
    client: CloudflareClient, sim: SimHandle, store: Path, poke: Any, events: int
) -> None:
    """Tail the api Worker while ``poke`` makes requests, and keep ``events`` in the store.

    One task reads the tail (cancelling a read of the stream would end it); the test pokes
    until the reader has enough.
    """
    seen: list[TailEvent] = []
    async with client.tails.worker(sim.account_id, "api") as tail:

        async def read() -> None:
            async for item in tail:
                if isinstance(item, TailEvent):
                    seen.append(item)
                    if len(seen) >= events:
                        return

        reader = asyncio.create_task(read())
        async with asyncio.timeout(10):
            while not reader.done():
                await poke()
                await asyncio.wait({reader}, timeout=0.2)
        await reader
    now_ms = int(time.time() * 1000)
    rows = [normalise_tail_event(e, kind="worker", service="api", now_ms=now_ms) for e in seen]
    with LogStore(store) as db:
        db.add(rows)


async def test_faults_show_as_slow_paths_outliers_and_stored_binding_errors(
    sim: SimHandle, client: CloudflareClient, tmp_path: Path
) -> None:
    """D1 slows /health down and then fails it: perf ranks /health slowest, flags it as an
    outlier, learns the Worker's hostname from the stored tail events and counts the D1
    errors in them, explained."""
    store = tmp_path / "logs.db"
    await fault(sim, service="d1", resource="spacevision-db", latency_ms=150)
    for _ in range(3):
        assert 200 == await hit(sim, "api", "/health")
    for _ in range(6):
        assert 200 == await hit(sim, "api", "/v1/stars")
    await sim.control("DELETE", "/__sim/faults")
    await fault(sim, service="d1", resource="spacevision-db", outage=True)

    async def failing() -> None:
        assert 503 == await hit(sim, "api", "/health")

    await store_tail(client, sim, store, failing, events=2)
    api = worker(await report(client, sim, worker="api", store=store))
    slowest = api.slow_paths[0]
    assert ("api.spacevision.app/health", True) == (slowest.route, slowest.p99 >= 150)
    assert slowest.errors >= 2
    assert any(o.kind == "path" and o.subject == slowest.route for o in api.outliers)
    assert any("D1: D1_ERROR: Network connection lost." in line for line in api.evidence)


async def test_the_command_prints_the_report_and_json(sim: SimHandle, tmp_path: Path) -> None:
    """The command end to end: text with the verdict, JSON with the same numbers.

    The window is an explicit past hour on whole seconds: ``--until now`` is rounded out to
    whole seconds (GraphQL's ``Time``), a 3,601-second window whose count would depend on
    where in its second the command ran."""
    env = cli_env(sim, tmp_path)
    await traffic(sim, "workers", "api", rps=1, cpu_ms=2, duration_ms=50)
    end = math.floor(time.time())
    window = ("--since", _iso(end - HOUR), "--until", _iso(end))
    code, out, err = await run_cli(env, "perf", "--worker", "api", "--no-store", *window)
    assert (0, "") == (code, err)
    assert "api — 3,600 requests (1.00/s)" in out
    assert "→ waiting dominates" in out
    code, out, _ = await run_cli(env, "perf", "--json", "--no-store", *window)
    assert 0 == code
    document = json.loads(out)
    api = next(w for w in document["workers"] if w["script"] == "api")
    assert (3600, 50.0) == (api["requests"], api["wall"]["p50"])


async def test_bad_input_exits_2(sim: SimHandle, tmp_path: Path) -> None:
    """An unknown Worker or an empty window is the user's to fix: exit 2, no traceback."""
    env = cli_env(sim, tmp_path)
    code, _, err = await run_cli(env, "perf", "--worker", "nope", "--no-store")
    assert (2, True) == (code, "no Worker named 'nope'" in err)
    code, _, err = await run_cli(env, "perf", "--since", "now")
    assert (2, True) == (code, "window is empty" in err)
    assert "Traceback" not in err
