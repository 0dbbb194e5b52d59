"""The official ``cloudflare`` Python SDK (5.9.0), unchanged, against the simulator.

The SDK is generated from Cloudflare's live API description, so it is an independent client:
each test drives one area end to end and, through the ``sim`` fixture, every exchange is
also checked against the OpenAPI schema. ``base_url`` is the v4 root including
``/client/v4`` (the SDK's default is ``https://api.cloudflare.com/client/v4``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cloudflare import AsyncCloudflare

from tests.conftest import SimHandle


@asynccontextmanager
async def client(sim: SimHandle) -> AsyncIterator[AsyncCloudflare]:
    """An SDK client pointed at the simulator, without retries so failures show at once."""
    async with AsyncCloudflare(api_token=sim.token, base_url=sim.api, max_retries=0) as cf:
        yield cf


async def test_zones_and_dns_records(sim: SimHandle) -> None:
    """The SDK lists zones and DNS records and creates a record that is then listed."""
    async with client(sim) as cf:
        zones = [z async for z in cf.zones.list()]
        zone = next(z for z in zones if z.name == "spacevision.app")
        before = [r async for r in cf.dns.records.list(zone_id=zone.id)]
        created = await cf.dns.records.create(
            zone_id=zone.id,
            name="sdk.spacevision.app",
            type="A",
            content="203.0.113.50",
            ttl=300,
            proxied=False,
        )
        after = [r async for r in cf.dns.records.list(zone_id=zone.id)]
    assert created is not None
    expected = ("sdk.spacevision.app", "A", "203.0.113.50", len(before) + 1)
    assert expected == (created.name, created.type, created.content, len(after))
    assert created.id in {r.id for r in after}


async def test_kv_namespaces_keys_and_values(sim: SimHandle) -> None:
    """The SDK lists namespaces and keys, writes a value and reads the same bytes back."""
    async with client(sim) as cf:
        namespaces = [n async for n in cf.kv.namespaces.list(account_id=sim.account_id)]
        namespace = namespaces[0]
        # SDK 5.9.0 types ``value`` as ``str | FileTypes`` but refuses a str at run time
        # ("Expected entry at `value` to be bytes..."): it uploads bytes as multipart.
        await cf.kv.namespaces.values.update(
            "sdk-key",
            account_id=sim.account_id,
            namespace_id=namespace.id,
            value=b"sdk value",
        )
        keys = [
            k.name
            async for k in cf.kv.namespaces.keys.list(
                namespace_id=namespace.id, account_id=sim.account_id
            )
        ]
        response = await cf.kv.namespaces.values.get(
            "sdk-key", account_id=sim.account_id, namespace_id=namespace.id
        )
        value = await response.read()
    assert len(namespaces) >= 1
    assert "sdk-key" in keys
    expected = b"sdk value"
    assert expected == value


async def test_r2_buckets(sim: SimHandle) -> None:
    """The SDK lists the account's R2 buckets (``result.buckets`` in the SDK's model too)."""
    async with client(sim) as cf:
        listing = await cf.r2.buckets.list(account_id=sim.account_id)
    names = {b.name for b in listing.buckets or []}
    assert {"uploads", "backups"} <= names


async def test_d1_databases_and_query(sim: SimHandle) -> None:
    """The SDK lists D1 databases and runs a query, getting rows and D1's meta back."""
    async with client(sim) as cf:
        databases = [d async for d in cf.d1.database.list(account_id=sim.account_id)]
        database = next(d for d in databases if d.name == "spacevision-db")
        assert database.uuid is not None
        results = [
            r
            async for r in cf.d1.database.query(
                database.uuid, account_id=sim.account_id, sql="SELECT 1 + 1 AS two"
            )
        ]
    expected = [[{"two": 2}]]
    assert expected == [r.results for r in results]
    assert results[0].success is True
    assert results[0].meta is not None


async def test_workers_scripts_versions_and_deployments(sim: SimHandle) -> None:
    """The SDK lists scripts and versions; its deployments pager finds nothing.

    SDK 5.9.0 pages ``GET …/deployments`` as ``result.items`` (``V4PagePagination``) while
    the API answers ``result.deployments`` (official schema, wrangler). Against a correct
    API the SDK's iterator therefore yields no deployments; the raw response shows them.
    """
    async with client(sim) as cf:
        scripts = [s async for s in cf.workers.scripts.list(account_id=sim.account_id)]
        versions = [
            v async for v in cf.workers.scripts.versions.list("api", account_id=sim.account_id)
        ]
        via_pager = [
            d async for d in cf.workers.scripts.deployments.list("api", account_id=sim.account_id)
        ]
        raw = await cf.workers.scripts.deployments.with_raw_response.list(
            "api", account_id=sim.account_id
        )
        body = raw.http_response.json()
    assert {"api", "image-processor"} <= {s.id for s in scripts}
    assert len(versions) >= 2
    expected: list[object] = []
    assert expected == via_pager
    deployments = body["result"]["deployments"]
    assert len(deployments) >= 1
    assert "items" not in body["result"]
    assert deployments[0]["versions"][0]["version_id"] in {v.id for v in versions}


async def test_pages_projects_and_deployments(sim: SimHandle) -> None:
    """The SDK lists Pages projects and a project's deployments."""
    async with client(sim) as cf:
        projects = [p async for p in cf.pages.projects.list(account_id=sim.account_id)]
        deployments = [
            d
            async for d in cf.pages.projects.deployments.list(
                "spacevision-web", account_id=sim.account_id
            )
        ]
    assert "spacevision-web" in {p.name for p in projects}
    assert len(deployments) >= 1
    assert {d.environment for d in deployments} <= {"production", "preview"}
