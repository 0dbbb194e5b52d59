"""The analytics hub and resource index against the simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from cfapi import CloudflareClient, Credentials, GraphqlError, ServerError
from probes.analytics import DATASETS, AnalyticsHub
from probes.resources import ResourceIndex, Unresolved
from tests.conftest import SimHandle


class _Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def cf(sim: SimHandle) -> AsyncIterator[CloudflareClient]:
    """A client on the simulator."""
    async with CloudflareClient(Credentials.bearer(sim.token), base_url=sim.api) as client:
        yield client


async def _graphql_requests(sim: SimHandle) -> int:
    log = await sim.control("GET", "/__sim/requests")
    return sum(1 for r in log if r["path"].endswith("/graphql"))


async def test_many_readers_share_one_request(sim: SimHandle, cf: CloudflareClient) -> None:
    """Ten probes reading four datasets at once cost one GraphQL request, not ten."""
    hub = AnalyticsHub(cf, sim.account_id, clock=_Clock())
    hub.want(*DATASETS)
    reads = [hub.get("r2_storage", "uploads") for _ in range(5)]
    reads += [hub.get("d1_storage", "nope"), hub.get("workers", "api")] * 2
    results = await asyncio.gather(*reads, hub.get("kv_storage", "x"))
    assert 1 == await _graphql_requests(sim)
    uploads = results[0]
    assert uploads is not None
    assert 18_432.0 == uploads["max.objectCount"]
    assert results[5] is None


async def test_cache_refreshes_after_max_age(sim: SimHandle, cf: CloudflareClient) -> None:
    """Within max_age the cache answers; after it, one new request is made."""
    clock = _Clock()
    hub = AnalyticsHub(cf, sim.account_id, clock=clock, max_age_s=30)
    await hub.get("r2_storage", "uploads")
    clock.now += 29
    await hub.get("r2_storage", "uploads")
    assert 1 == await _graphql_requests(sim)
    clock.now += 2
    await hub.get("r2_storage", "uploads")
    assert 2 == await _graphql_requests(sim)


async def test_a_new_dataset_forces_a_refresh(sim: SimHandle, cf: CloudflareClient) -> None:
    """A dataset nobody declared is fetched on first read rather than answered as empty."""
    hub = AnalyticsHub(cf, sim.account_id, clock=_Clock())
    await hub.get("r2_storage", "uploads")
    size = await hub.get(
        "d1_storage",
        await ResourceIndex(cf, sim.account_id, clock=time.time).d1_database("spacevision-db"),
    )
    assert size is not None
    assert size["max.databaseSizeBytes"] > 0


async def test_a_failure_is_cached_until_max_age(sim: SimHandle, cf: CloudflareClient) -> None:
    """A failing analytics API is asked once per refresh, and every reader sees the error."""
    await sim.control(
        "POST", "/__sim/faults", json={"service": "graphql", "error_status": 500, "duration_s": 60}
    )
    clock = _Clock()
    hub = AnalyticsHub(cf, sim.account_id, clock=clock)
    for _ in range(3):
        with pytest.raises((ServerError, GraphqlError)):
            await hub.get("workers", "api")
    before = await _graphql_requests(sim)
    await sim.control("DELETE", "/__sim/faults")
    clock.now += 31
    assert await hub.get("r2_storage", "uploads") is not None
    assert before + 1 == await _graphql_requests(sim)


async def test_names_resolve_to_ids_once(sim: SimHandle, cf: CloudflareClient) -> None:
    """A namespace title, database name and zone name resolve to ids, cached."""
    index = ResourceIndex(cf, sim.account_id, clock=time.time)
    ns = await index.kv_namespace("SESSIONS")
    assert ns == await index.kv_namespace("SESSIONS")
    assert ns == await index.kv_namespace(ns)
    db = await index.d1_database("spacevision-db")
    assert 36 == len(db)
    zone = await index.zone("spacevision.app")
    assert 32 == len(zone)
    log = await sim.control("GET", "/__sim/requests")
    assert 1 == sum(1 for r in log if r["path"].endswith("/storage/kv/namespaces"))


async def test_unknown_names_are_unresolved(sim: SimHandle, cf: CloudflareClient) -> None:
    """A name nobody has is an error naming the kind and the name."""
    index = ResourceIndex(cf, sim.account_id, clock=time.time)
    with pytest.raises(Unresolved, match="no kv namespace named 'NOPE'"):
        await index.kv_namespace("NOPE")


async def test_a_dataset_wanted_during_a_refresh_is_still_fetched(
    sim: SimHandle, cf: CloudflareClient
) -> None:
    """A reader joining a refresh that started before its dataset was wanted gets its data.

    The daemon starts every probe at once: the first refresh may be in flight when another
    probe asks for a new dataset; that probe must not see "no data" for a whole max_age.
    """
    hub = AnalyticsHub(cf, sim.account_id, clock=_Clock())
    database = await ResourceIndex(cf, sim.account_id, clock=time.time).d1_database(
        "spacevision-db"
    )
    first = asyncio.ensure_future(hub.get("r2_storage", "uploads"))
    for _ in range(100):  # until the refresh for r2_storage alone is in flight
        if hub.requests:
            break
        await asyncio.sleep(0)
    assert 1 == hub.requests
    size = await hub.get("d1_storage", database)
    assert size is not None
    assert await first is not None
    assert 2 == await _graphql_requests(sim)
