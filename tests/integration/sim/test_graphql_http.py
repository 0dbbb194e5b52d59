"""The simulator's ``httpRequestsAdaptiveGroups``: edge requests per host, path and status."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import SimHandle
from tests.integration.sim.test_graphql import dataset, graphql, iso

PATHS = """
query P($z: String!, $s: Time!, $f: ZoneHttpRequestsAdaptiveGroupsFilter_InputObject) {
  viewer { zones(filter: {zoneTag: $z}) { zoneTag
    httpRequestsAdaptiveGroups(limit: 100, filter: $f, orderBy: [count_DESC]) {
      count dimensions { clientRequestHTTPHost clientRequestPath edgeResponseStatus }
      avg { edgeTimeToFirstByteMs } quantiles { edgeTimeToFirstByteMsP50 edgeTimeToFirstByteMsP99 }
    } } } }
"""


async def edge(sim: SimHandle, host: str, path: str) -> int:
    """One request through the simulated edge."""
    async with sim.session.get(sim.url + path, headers={"Host": host}) as resp:
        await resp.read()
        return resp.status


async def zone_id(sim: SimHandle) -> str:
    """spacevision.app's id."""
    status, body = await sim.call("GET", "/zones", params={"name": "spacevision.app"})
    assert status == 200, body
    return str(body["result"][0]["id"])


async def rows(sim: SimHandle, **flt: Any) -> list[dict[str, Any]]:
    """The zone's HTTP request groups of the last ten minutes."""
    start = iso(time.time() - 600)
    status, answer = await graphql(
        sim, PATHS, z=await zone_id(sim), s=start, f={"datetime_geq": start, **flt}
    )
    assert status == 200, answer
    return dataset(answer, "httpRequestsAdaptiveGroups", "zones")


async def test_edge_requests_are_grouped_by_host_path_and_status(sim: SimHandle) -> None:
    """Worker and Pages requests of the zone appear with their count and status."""
    for _ in range(3):
        assert 200 == await edge(sim, "api.spacevision.app", "/v1/stars")
    assert 200 == await edge(sim, "api.spacevision.app", "/health")
    assert 200 == await edge(sim, "spacevision.app", "/")
    found = {
        (
            r["dimensions"]["clientRequestHTTPHost"],
            r["dimensions"]["clientRequestPath"],
            r["dimensions"]["edgeResponseStatus"],
        ): r["count"]
        for r in await rows(sim)
    }
    assert {
        ("api.spacevision.app", "/v1/stars", 200): 3,
        ("api.spacevision.app", "/health", 200): 1,
        ("spacevision.app", "/", 200): 1,
    } == found


async def test_time_to_first_byte_follows_added_latency(sim: SimHandle) -> None:
    """A latency fault on the Worker shows as a slow path (what perf ranks on)."""
    await sim.control(
        "POST", "/__sim/faults", json={"service": "workers", "resource": "api", "latency_ms": 150}
    )
    assert 200 == await edge(sim, "api.spacevision.app", "/slow")
    [row] = await rows(sim, clientRequestPath="/slow")
    assert row["quantiles"]["edgeTimeToFirstByteMsP50"] >= 150
    assert row["avg"]["edgeTimeToFirstByteMs"] >= 150


async def test_failures_carry_their_status(sim: SimHandle) -> None:
    """An exception answers 500 and is counted under that status, filterable."""
    await sim.control(
        "POST", "/__sim/faults", json={"service": "workers", "resource": "api", "exception": "x"}
    )
    assert 500 == await edge(sim, "api.spacevision.app", "/v1/boom")
    found = await rows(sim, edgeResponseStatus_geq=500)
    assert [("/v1/boom", 500, 1)] == [
        (r["dimensions"]["clientRequestPath"], r["dimensions"]["edgeResponseStatus"], r["count"])
        for r in found
    ]
