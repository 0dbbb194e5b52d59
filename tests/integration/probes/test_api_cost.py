"""What the SpaceVision storage probes cost in Cloudflare API requests, counted by the simulator.

Cloudflare allows 1,200 requests per 5 minutes per token; issue 3 budgets the whole
SpaceVision config at 30 s intervals to under 300 of them. These tests run the kv, r2, d1 and
api probes of that config for ten rounds on a clock advanced 30 s per round (5 minutes) and
count what the simulator served.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from cfapi.budget import group_for
from probes.analytics import AnalyticsHub
from probes.api import ApiProbe, ApiSettings
from probes.base import Probe, ProbeContext, Status
from probes.d1 import D1Probe, D1Settings
from probes.kv import KvProbe, KvSettings
from probes.r2 import R2Probe, R2Settings
from probes.resources import ResourceIndex
from tests.conftest import SimHandle

ROUNDS = 10
INTERVAL_S = 30.0


class SteppedClock:
    """Wall time that moves only when the test says a round has passed."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def spacevision_probes(clock: Callable[[], float], **kv: object) -> list[Probe[Any]]:
    """The storage and api probes of config/example.yaml, with their defaults."""
    probes: list[Probe[Any]] = []
    for title in ("SESSIONS", "CONFIG", "CACHE"):
        entry = {"name": f"{title.lower()}-kv", "type": "kv", "namespace": title, **kv}
        probes.append(KvProbe(KvSettings.model_validate(entry), timer=clock))
    for bucket in ("uploads", "backups", "public-assets"):
        settings = R2Settings(name=f"{bucket}-r2", type="r2", bucket=bucket, quota=20 * 10**9)
        probes.append(R2Probe(settings, timer=clock))
    for database in ("spacevision-db", "spacevision-analytics"):
        settings_d1 = D1Settings(name=database, type="d1", database=database)
        probes.append(D1Probe(settings_d1, timer=clock))
    api = ApiSettings(name="cloudflare-api", type="api")
    probes.append(ApiProbe(api, timer=clock, wall=clock))
    return probes


async def five_minutes(sim: SimHandle, probe_ctx: ProbeContext, **kv: object) -> Counter[str]:
    """Requests per API group for ten 30 s rounds of the SpaceVision storage probes."""
    clock = SteppedClock()
    cf = probe_ctx.cf
    ctx = dataclasses.replace(
        probe_ctx,
        analytics=AnalyticsHub(cf, sim.account_id, clock=clock),
        resources=ResourceIndex(cf, sim.account_id, clock=clock),
        clock=clock,
    )
    probes = spacevision_probes(clock, **kv)
    for probe in probes:
        ctx.analytics.want(*probe.analytics)
    await sim.control("DELETE", "/__sim/requests")
    for _ in range(ROUNDS):
        for probe in probes:
            result = await probe.run(ctx)
            assert Status.OK == result.status, (probe.name, result.message)
        clock.now += INTERVAL_S
    log = await sim.control("GET", "/__sim/requests")
    return Counter(group_for(r["path"].removeprefix("/client/v4")) for r in log)


async def test_storage_probes_cost_under_a_tenth_of_the_budget(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """With default settings the nine probes cost well under 120 requests per 5 minutes.

    KV canaries run every 5 minutes (3 requests each), R2 reads each bucket and D1 queries
    each database every run, names resolve once, GraphQL is one request per round for all,
    and the token is verified hourly.
    """
    counts = await five_minutes(sim, probe_ctx)
    assert ROUNDS == counts["graphql"]
    assert 3 * 3 + 3 == counts["kv"]  # one canary each, three namespace lookups
    assert 3 * ROUNDS == counts["r2"]
    assert 2 * ROUNDS + 2 == counts["d1"]  # a query per run, one lookup per database
    assert 1 == counts["accounts"]
    assert sum(counts.values()) < 120


async def test_canary_on_every_run_stays_inside_the_issue_budget(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """Even with the canary on every run (canary_interval: 0) the nine cost under 300."""
    counts = await five_minutes(sim, probe_ctx, canary_interval=0)
    assert 3 * 3 * ROUNDS + 3 == counts["kv"]
    assert sum(counts.values()) < 300
