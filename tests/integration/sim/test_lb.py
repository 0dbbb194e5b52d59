"""Simulated load balancing over HTTP: load balancers, pools and their health under faults,
monitors and standalone health checks."""

from __future__ import annotations

from typing import Any

from tests.conftest import SimHandle

ZONE = "spacevision.app"


async def _zone_id(sim: SimHandle) -> str:
    status, body = await sim.call("GET", "/zones", params={"name": ZONE})
    assert status == 200, body
    return str(body["result"][0]["id"])


def _lb(sim: SimHandle) -> str:
    return f"/accounts/{sim.account_id}/load_balancers"


async def _pools(sim: SimHandle) -> dict[str, dict[str, Any]]:
    status, body = await sim.call("GET", f"{_lb(sim)}/pools")
    assert status == 200, body
    return {p["name"]: p for p in body["result"]}


async def _health(sim: SimHandle, pool_id: str) -> dict[str, Any]:
    status, body = await sim.call("GET", f"{_lb(sim)}/pools/{pool_id}/health")
    assert status == 200, body
    return dict(body["result"])


def _origin_states(health: dict[str, Any]) -> set[tuple[str, bool]]:
    return {
        (address, state["healthy"])
        for pop in health["pop_health"].values()
        for origin in pop["origins"]
        for address, state in origin.items()
    }


async def test_load_balancer_fronts_the_api_pools(sim: SimHandle) -> None:
    """lb.spacevision.app steers to the primary pool, then the backup (its fallback)."""
    zone_id = await _zone_id(sim)
    status, body = await sim.call("GET", f"/zones/{zone_id}/load_balancers")
    assert status == 200, body
    pools = await _pools(sim)
    (balancer,) = body["result"]
    expected = (
        "lb.spacevision.app",
        [pools["api-primary"]["id"], pools["api-backup"]["id"]],
        pools["api-backup"]["id"],
    )
    assert (balancer["name"], balancer["default_pools"], balancer["fallback_pool"]) == expected


async def test_load_balancer_details_match_the_listing(sim: SimHandle) -> None:
    """GET by id answers the same object the list shows."""
    zone_id = await _zone_id(sim)
    _, listing = await sim.call("GET", f"/zones/{zone_id}/load_balancers")
    balancer = listing["result"][0]
    status, body = await sim.call("GET", f"/zones/{zone_id}/load_balancers/{balancer['id']}")
    assert (status, body["result"]) == (200, balancer)


async def test_unknown_load_balancer_is_404(sim: SimHandle) -> None:
    """An unknown load balancer id answers Cloudflare's 404 envelope."""
    zone_id = await _zone_id(sim)
    status, body = await sim.call("GET", f"/zones/{zone_id}/load_balancers/{'0' * 32}")
    assert (status, body["success"]) == (404, False)


async def test_pools_are_healthy_without_faults(sim: SimHandle) -> None:
    """Both seeded pools and all their origins report healthy when nothing is broken."""
    pools = await _pools(sim)
    assert {n: (p["healthy"], {o["healthy"] for o in p["origins"]}) for n, p in pools.items()} == {
        "api-primary": (True, {True}),
        "api-backup": (True, {True}),
    }


async def test_pool_details_name_the_monitor(sim: SimHandle) -> None:
    """A pool is checked by the seeded HTTPS monitor on /health."""
    pool = (await _pools(sim))["api-primary"]
    status, body = await sim.call("GET", f"{_lb(sim)}/pools/{pool['id']}")
    assert status == 200, body
    status, monitor = await sim.call("GET", f"{_lb(sim)}/monitors/{body['result']['monitor']}")
    assert (status, monitor["result"]["type"], monitor["result"]["path"]) == (
        200,
        "https",
        "/health",
    )


async def test_monitors_list_the_seeded_monitor(sim: SimHandle) -> None:
    """The account has one monitor."""
    status, body = await sim.call("GET", f"{_lb(sim)}/monitors")
    assert (status, [m["description"] for m in body["result"]]) == (200, ["api /health"])


async def test_pool_health_reports_every_region(sim: SimHandle) -> None:
    """Health details cover each check region, every origin healthy with an RTT."""
    pool = (await _pools(sim))["api-primary"]
    health = await _health(sim, pool["id"])
    assert health["pool_id"] == pool["id"]
    assert len(health["pop_health"]) == len(pool["check_regions"])
    assert _origin_states(health) == {("203.0.113.21", True), ("203.0.113.22", True)}


async def test_outage_on_a_pool_makes_its_origins_unhealthy(sim: SimHandle) -> None:
    """An 'api' outage fault naming the pool marks its origins down; the backup stays up."""
    await sim.control(
        "POST", "/__sim/faults", json={"service": "api", "resource": "api-primary", "outage": True}
    )
    pools = await _pools(sim)
    health = await _health(sim, pools["api-primary"]["id"])
    assert _origin_states(health) == {("203.0.113.21", False), ("203.0.113.22", False)}
    assert (pools["api-primary"]["healthy"], pools["api-backup"]["healthy"]) == (False, True)


async def test_fault_on_one_origin_leaves_the_pool_healthy(sim: SimHandle) -> None:
    """One failing origin (HTTP 502) is unhealthy; the pool keeps its minimum of one."""
    await sim.control(
        "POST",
        "/__sim/faults",
        json={"service": "api", "resource": "api-origin-2", "error_status": 502},
    )
    pool = (await _pools(sim))["api-primary"]
    origins = {o["name"]: (o["healthy"], o["failure_reason"]) for o in pool["origins"]}
    assert origins["api-origin-2"][0] is False
    assert "502" in origins["api-origin-2"][1]
    assert (origins["api-origin-1"], pool["healthy"]) == ((True, "No failures"), True)


async def test_cleared_fault_restores_health(sim: SimHandle) -> None:
    """Once the fault is cleared the pool's origins are healthy again."""
    fault = await sim.control(
        "POST", "/__sim/faults", json={"service": "api", "resource": "api-backup", "outage": True}
    )
    await sim.control("DELETE", f"/__sim/faults/{fault['id']}")
    pool = (await _pools(sim))["api-backup"]
    assert _origin_states(await _health(sim, pool["id"])) == {("198.51.100.31", True)}


async def test_unknown_pool_is_404(sim: SimHandle) -> None:
    """An unknown pool id answers Cloudflare's 404 envelope."""
    status, body = await sim.call("GET", f"{_lb(sim)}/pools/{'0' * 32}/health")
    assert (status, body["success"]) == (404, False)


async def test_healthchecks_list_the_seeded_check(sim: SimHandle) -> None:
    """The zone has the api-origin HTTPS health check, healthy."""
    zone_id = await _zone_id(sim)
    status, body = await sim.call("GET", f"/zones/{zone_id}/healthchecks")
    assert status == 200, body
    assert [(c["name"], c["type"], c["status"]) for c in body["result"]] == [
        ("api-origin", "HTTPS", "healthy")
    ]


async def test_created_healthcheck_reads_back(sim: SimHandle) -> None:
    """A created TCP health check is listed and readable by id, with TCP defaults."""
    zone_id = await _zone_id(sim)
    status, body = await sim.call(
        "POST",
        f"/zones/{zone_id}/healthchecks",
        json={"name": "db-primary", "address": "203.0.113.50", "type": "TCP"},
    )
    assert status == 200, body
    created = body["result"]
    status, body = await sim.call("GET", f"/zones/{zone_id}/healthchecks/{created['id']}")
    assert (status, body["result"], created["tcp_config"], created["http_config"]) == (
        200,
        created,
        {"method": "connection_established", "port": 80},
        None,
    )


async def test_healthcheck_name_must_be_a_token(sim: SimHandle) -> None:
    """Names allow only letters, digits, '-' and '_': anything else is a 400."""
    zone_id = await _zone_id(sim)
    status, body = await sim.call(
        "POST",
        f"/zones/{zone_id}/healthchecks",
        json={"name": "has space", "address": "203.0.113.50"},
    )
    assert (status, "name" in body["errors"][0]["message"]) == (400, True)


async def test_healthcheck_follows_faults_on_its_name(sim: SimHandle) -> None:
    """An outage fault naming the health check makes it report unhealthy with a reason."""
    zone_id = await _zone_id(sim)
    await sim.control(
        "POST", "/__sim/faults", json={"service": "api", "resource": "api-origin", "outage": True}
    )
    status, body = await sim.call("GET", f"/zones/{zone_id}/healthchecks")
    assert status == 200, body
    (check,) = body["result"]
    assert (check["status"], bool(check["failure_reason"])) == ("unhealthy", True)


async def test_unknown_healthcheck_is_404(sim: SimHandle) -> None:
    """An unknown health check id answers Cloudflare's 404 envelope."""
    zone_id = await _zone_id(sim)
    status, body = await sim.call("GET", f"/zones/{zone_id}/healthchecks/{'0' * 32}")
    assert (status, body["success"]) == (404, False)
