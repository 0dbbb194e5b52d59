"""Load balancing, health checks and audit logs through the client, against the simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cfapi.client import CloudflareClient
from cfapi.dns import record_body
from tests.conftest import SimHandle


async def _zone_id(client: CloudflareClient) -> str:
    zone = await client.zones.find("spacevision.app")
    assert zone is not None
    return zone.id


async def test_pools_monitors_and_health(sim: SimHandle, client: CloudflareClient) -> None:
    """Pools and monitors are listed and fetched; pool health is reported per PoP."""
    pools = await client.lb.pools(sim.account_id)
    monitors = await client.lb.monitors(sim.account_id)
    primary = next(p for p in pools if p.name == "api-primary")
    fetched = await client.lb.pool(sim.account_id, primary.id)
    monitor = await client.lb.monitor(sim.account_id, monitors[0].id)
    health = await client.lb.pool_health(sim.account_id, primary.id)
    actual = (fetched.monitor, monitor.path, health.pool_id, bool(health.pop_health))
    assert actual == (monitors[0].id, "/health", primary.id, True)


async def test_load_balancers_of_a_zone(client: CloudflareClient) -> None:
    """The zone's load balancer is listed and fetched."""
    zone_id = await _zone_id(client)
    balancers = await client.lb.load_balancers(zone_id)
    fetched = await client.lb.load_balancer(zone_id, balancers[0].id)
    assert fetched.name == "lb.spacevision.app"


async def test_health_checks(client: CloudflareClient) -> None:
    """Health checks are listed, created and fetched with a status."""
    zone_id = await _zone_id(client)
    created = await client.lb.create_healthcheck(
        zone_id, {"name": "www-origin", "address": "www.spacevision.app", "type": "HTTPS"}
    )
    names = [c.name or "" async for c in client.lb.healthchecks(zone_id, per_page=5)]
    fetched = await client.lb.healthcheck(zone_id, created.id)
    assert (sorted(names), fetched.address) == (["api-origin", "www-origin"], "www.spacevision.app")
    assert fetched.status in {"unknown", "healthy", "unhealthy", "suspended"}


async def test_audit_logs_v1_and_v2_see_changes(sim: SimHandle, client: CloudflareClient) -> None:
    """DNS changes show in the account's audit log, page by page (v1) and by cursor (v2)."""
    zone_id = await _zone_id(client)
    for i in range(7):
        await client.dns.create(zone_id, record_body(type="A", name=f"a{i}", content="192.0.2.9"))
    v1 = [e async for e in client.audit.account_logs(sim.account_id, per_page=3)]
    user = [e async for e in client.audit.user_logs(per_page=3)]
    now = datetime.now(UTC)
    v2 = [
        e
        async for e in client.audit.account_logs_v2(
            sim.account_id,
            since=(now - timedelta(days=1)).date().isoformat(),
            before=(now + timedelta(days=1)).date().isoformat(),
            limit=2,
        )
    ]
    assert (len(v1) >= 7, len(user) == len(v1), len(v2) == len(v1)) == (True, True, True)
