"""Load balancers, pools, monitors and standalone health checks.

Origin health is simulated from faults: a fault with service ``api`` whose resource is a
pool's name or id (or an origin's name or address) that makes requests fail marks those
origins unhealthy, as Cloudflare's monitors would see them. A pool is healthy while at least
``minimum_origins`` of its enabled origins are. Health checks follow faults on their name.

Note: a fault naming a pool *id* also matches ``GET …/pools/{pool_id}`` requests themselves
(``pool_id`` is a fault-target path parameter), which then fail as the fault says; the pool
list still shows the pool unhealthy. Target the pool *name* to simulate a down origin
behind a working API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cfsim.context import state_of
from cfsim.envelope import not_found, ok, page_params, paginate, read_model
from cfsim.ids import iso, new_id
from cfsim.services import accounts

if TYPE_CHECKING:
    from cfsim.faults import Decision
    from cfsim.state import SimState

# Not-found codes of the load-balancing and health-check APIs are not documented [I].
CODE_LB_NOT_FOUND = 1002
CODE_HEALTHCHECK_NOT_FOUND = 1002
CODE_HEALTHCHECK_INVALID = 1002
FAULT_SERVICE = "api"
# A representative Cloudflare data center per check region, for pool health details.
REGION_POPS = {
    "WNAM": "Los Angeles, CA, US",
    "ENAM": "Ashburn, VA, US",
    "WEU": "Amsterdam, NL",
    "EEU": "Warsaw, PL",
    "NSAM": "Bogotá, CO",
    "SSAM": "São Paulo, BR",
    "OC": "Sydney, AU",
    "ME": "Dubai, AE",
    "NAF": "Cairo, EG",
    "SAF": "Johannesburg, ZA",
    "SAS": "Mumbai, IN",
    "IN": "Mumbai, IN",
    "SEAS": "Singapore, SG",
    "NEAS": "Tokyo, JP",
}
DEFAULT_REGIONS = ("WNAM", "ENAM", "WEU")


@dataclass(frozen=True)
class OriginHealth:
    """What a monitor would report about one origin."""

    healthy: bool
    failure_reason: str
    response_code: int
    rtt_ms: float


def origin_health(decision: Decision, base_rtt_ms: float) -> OriginHealth:
    """Health of an origin given the fault decision for it (pure)."""
    rtt = base_rtt_ms + decision.latency_s * 1000.0
    if decision.outage:
        return OriginHealth(False, "TCP connection failed: connection timed out", 0, 0.0)
    if decision.error_status is not None:
        reason = f"HTTP response code {decision.error_status} is not in the expected codes"
        return OriginHealth(False, reason, decision.error_status, rtt)
    if decision.exception or decision.rate_limit:
        return OriginHealth(False, "HTTP response code 429 is not in the expected codes", 429, rtt)
    return OriginHealth(True, "No failures", 200, rtt)


@dataclass
class LbStore:
    """Monitors and pools (account-level), load balancers and health checks (per zone)."""

    monitors: dict[str, dict[str, Any]] = field(default_factory=dict)
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    load_balancers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    healthchecks: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def aliases(self, value: str) -> tuple[str, ...]:
        """A pool, monitor, load balancer or health check id is also known by its name."""
        if value in self.pools:
            return (self.pools[value]["name"],)
        for table in (*self.load_balancers.values(), *self.healthchecks.values()):
            if value in table:
                return (table[value]["name"],)
        return ()

    def close(self) -> None:
        """Nothing is held open."""

    def pool(self, pool_id: str) -> dict[str, Any]:
        """A pool or the not-found error."""
        found = self.pools.get(pool_id)
        if found is None:
            raise not_found(CODE_LB_NOT_FOUND, "Pool not found")
        return found


def _origin_decision(state: SimState, pool: dict[str, Any], origin: dict[str, Any]) -> Decision:
    names = (pool["id"], pool["name"], origin["name"], origin["address"])
    return state.faults.steady(FAULT_SERVICE, names, state.clock())


def _pool_view(state: SimState, pool: dict[str, Any]) -> dict[str, Any]:
    """A pool as the API lists it, with ``healthy`` on the pool and each origin."""
    origins = []
    healthy_count = 0
    for index, origin in enumerate(pool["origins"]):
        health = origin_health(_origin_decision(state, pool, origin), 12.0 + index)
        enabled = origin["enabled"]
        healthy_count += 1 if (health.healthy and enabled) else 0
        origins.append(
            {**origin, "healthy": health.healthy, "failure_reason": health.failure_reason}
        )
    healthy = pool["enabled"] and healthy_count >= pool["minimum_origins"]
    return {**pool, "origins": origins, "healthy": healthy}


def _pool_health(state: SimState, pool: dict[str, Any]) -> dict[str, Any]:
    """The pool health details: per region, each origin as its monitor sees it."""
    regions = pool.get("check_regions") or list(DEFAULT_REGIONS)
    pop_health: dict[str, Any] = {}
    for region_index, region in enumerate(regions):
        origins = []
        healthy_count = 0
        for index, origin in enumerate(pool["origins"]):
            health = origin_health(
                _origin_decision(state, pool, origin), 10.0 + 7.5 * region_index + index
            )
            healthy_count += 1 if (health.healthy and origin["enabled"]) else 0
            origins.append(
                {
                    origin["address"]: {
                        "healthy": health.healthy,
                        "failure_reason": health.failure_reason,
                        "response_code": health.response_code,
                        "rtt": f"{health.rtt_ms:.1f}ms",
                    }
                }
            )
        pop_health[REGION_POPS.get(region, region)] = {
            "healthy": healthy_count >= pool["minimum_origins"],
            "origins": origins,
        }
    return {"pool_id": pool["id"], "pop_health": pop_health}


def _healthcheck_view(state: SimState, check: dict[str, Any]) -> dict[str, Any]:
    """A health check with ``status`` and ``failure_reason`` from the faults on its name."""
    if check["suspended"]:
        return {**check, "status": "suspended", "failure_reason": ""}
    decision = state.faults.steady(
        FAULT_SERVICE, (check["id"], check["name"], check["address"]), state.clock()
    )
    health = origin_health(decision, 10.0)
    return {
        **check,
        "status": "healthy" if health.healthy else "unhealthy",
        "failure_reason": "" if health.healthy else health.failure_reason,
    }


async def list_load_balancers(request: web.Request) -> web.Response:
    """GET /zones/{zone_id}/load_balancers."""
    state = state_of(request)
    zone = state.zones.get(request.match_info["zone_id"])
    items = list(state.lb.load_balancers.get(zone["id"], {}).values())
    return ok(items, result_info=_single_page(items))


async def get_load_balancer(request: web.Request) -> web.Response:
    """GET /zones/{zone_id}/load_balancers/{load_balancer_id}."""
    state = state_of(request)
    zone = state.zones.get(request.match_info["zone_id"])
    found = state.lb.load_balancers.get(zone["id"], {}).get(request.match_info["load_balancer_id"])
    if found is None:
        raise not_found(CODE_LB_NOT_FOUND, "Load balancer not found")
    return ok(found)


def _single_page(items: list[Any]) -> dict[str, int]:
    count = len(items)
    return {"page": 1, "per_page": max(count, 1), "count": count, "total_count": count}


async def list_pools(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/load_balancers/pools[?monitor=id]."""
    state = accounts.require_account(request)
    monitor = request.query.get("monitor")
    items = [
        _pool_view(state, p)
        for p in state.lb.pools.values()
        if monitor is None or p.get("monitor") == monitor
    ]
    return ok(items, result_info=_single_page(items))


async def get_pool(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/load_balancers/pools/{pool_id}."""
    state = accounts.require_account(request)
    return ok(_pool_view(state, state.lb.pool(request.match_info["pool_id"])))


async def get_pool_health(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/load_balancers/pools/{pool_id}/health."""
    state = accounts.require_account(request)
    return ok(_pool_health(state, state.lb.pool(request.match_info["pool_id"])))


async def list_monitors(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/load_balancers/monitors."""
    state = accounts.require_account(request)
    items = list(state.lb.monitors.values())
    return ok(items, result_info=_single_page(items))


async def get_monitor(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/load_balancers/monitors/{monitor_id}."""
    state = accounts.require_account(request)
    found = state.lb.monitors.get(request.match_info["monitor_id"])
    if found is None:
        raise not_found(CODE_LB_NOT_FOUND, "Monitor not found")
    return ok(found)


CheckRegion = Literal[
    "WNAM", "ENAM", "WEU", "EEU", "NSAM", "SSAM", "OC", "ME", "NAF", "SAF", "IN", "SEAS", "NEAS",
    "ALL_REGIONS",
]  # fmt: skip


class HttpConfig(BaseModel):
    """HTTP(S) settings of a health check."""

    model_config = ConfigDict(extra="forbid", strict=True)

    allow_insecure: bool = False
    expected_body: str = ""
    expected_codes: list[str] | None = None
    follow_redirects: bool = False
    header: dict[str, list[str]] | None = None
    method: Literal["GET", "HEAD"] = "GET"
    path: str = "/"
    port: int = Field(default=80, ge=0, le=65_535)


class TcpConfig(BaseModel):
    """TCP settings of a health check."""

    model_config = ConfigDict(extra="forbid", strict=True)

    method: Literal["connection_established"] = "connection_established"
    port: int = Field(default=80, ge=0, le=65_535)


class HealthcheckBody(BaseModel):
    """``POST /zones/{zone_id}/healthchecks`` (the schema's ``query_healthcheck``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$", min_length=1, max_length=255)
    address: str = Field(min_length=1, max_length=255)
    type: Literal["HTTP", "HTTPS", "TCP"] = "HTTP"
    description: str = ""
    check_regions: list[CheckRegion] | None = None
    consecutive_fails: int = Field(default=1, ge=1)
    consecutive_successes: int = Field(default=1, ge=1)
    interval: int = Field(default=60, ge=1)
    retries: int = Field(default=2, ge=0)
    timeout: int = Field(default=5, ge=1)
    suspended: bool = False
    http_config: HttpConfig | None = None
    tcp_config: TcpConfig | None = None


def new_healthcheck(body: HealthcheckBody, now: str) -> dict[str, Any]:
    """The stored health check for a create body (HTTP settings only on HTTP(S) checks)."""
    is_tcp = body.type == "TCP"
    http = None if is_tcp else (body.http_config or HttpConfig()).model_dump()
    if http is not None and http["expected_codes"] is None:
        http["expected_codes"] = ["200"]
    tcp = (body.tcp_config or TcpConfig()).model_dump() if is_tcp else None
    return {
        "id": new_id(),
        "name": body.name,
        "description": body.description,
        "address": body.address,
        "type": body.type,
        "check_regions": body.check_regions,
        "consecutive_fails": body.consecutive_fails,
        "consecutive_successes": body.consecutive_successes,
        "interval": body.interval,
        "retries": body.retries,
        "timeout": body.timeout,
        "suspended": body.suspended,
        "http_config": http,
        "tcp_config": tcp,
        "created_on": now,
        "modified_on": now,
    }


async def list_healthchecks(request: web.Request) -> web.Response:
    """GET /zones/{zone_id}/healthchecks (page/per_page, 5..1000)."""
    state = state_of(request)
    zone = state.zones.get(request.match_info["zone_id"])
    page, per_page = page_params(request, default_per_page=25, min_per_page=5, max_per_page=1000)
    checks = [
        _healthcheck_view(state, c) for c in state.lb.healthchecks.get(zone["id"], {}).values()
    ]
    items, info = paginate(checks, page, per_page)
    return ok(items, result_info=info)


async def create_healthcheck(request: web.Request) -> web.Response:
    """POST /zones/{zone_id}/healthchecks."""
    state = state_of(request)
    zone = state.zones.get(request.match_info["zone_id"])
    body = await read_model(request, HealthcheckBody, code=CODE_HEALTHCHECK_INVALID)
    check = new_healthcheck(body, iso())
    state.lb.healthchecks.setdefault(zone["id"], {})[check["id"]] = check
    state.accounts.audit(state, "create", "healthcheck", check["id"])
    return ok(_healthcheck_view(state, check))


async def get_healthcheck(request: web.Request) -> web.Response:
    """GET /zones/{zone_id}/healthchecks/{healthcheck_id}."""
    state = state_of(request)
    zone = state.zones.get(request.match_info["zone_id"])
    found = state.lb.healthchecks.get(zone["id"], {}).get(request.match_info["healthcheck_id"])
    if found is None:
        raise not_found(CODE_HEALTHCHECK_NOT_FOUND, "Health check not found")
    return ok(_healthcheck_view(state, found))


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the load-balancing and health-check endpoints."""
    zone = f"{prefix}/zones/{{zone_id}}"
    account = f"{prefix}/accounts/{{account_id}}/load_balancers"
    app.router.add_get(f"{zone}/load_balancers", list_load_balancers)
    app.router.add_get(f"{zone}/load_balancers/{{load_balancer_id}}", get_load_balancer)
    app.router.add_get(f"{account}/pools", list_pools)
    app.router.add_get(f"{account}/pools/{{pool_id}}", get_pool)
    app.router.add_get(f"{account}/pools/{{pool_id}}/health", get_pool_health)
    app.router.add_get(f"{account}/monitors", list_monitors)
    app.router.add_get(f"{account}/monitors/{{monitor_id}}", get_monitor)
    app.router.add_get(f"{zone}/healthchecks", list_healthchecks)
    app.router.add_post(f"{zone}/healthchecks", create_healthcheck)
    app.router.add_get(f"{zone}/healthchecks/{{healthcheck_id}}", get_healthcheck)


def _pool(
    name: str, description: str, monitor_id: str, origins: list[tuple[str, str]]
) -> dict[str, Any]:
    now = iso()
    return {
        "id": new_id(),
        "name": name,
        "description": description,
        "enabled": True,
        "minimum_origins": 1,
        "monitor": monitor_id,
        "check_regions": list(DEFAULT_REGIONS),
        "notification_email": "ops@spacevision.app",
        "origin_steering": {"policy": "random"},
        "load_shedding": {
            "default_percent": 0,
            "default_policy": "random",
            "session_percent": 0,
            "session_policy": "hash",
        },
        "origins": [
            {
                "name": origin_name,
                "address": address,
                "enabled": True,
                "weight": 1,
                "header": {"Host": ["api.spacevision.app"]},
            }
            for origin_name, address in origins
        ],
        "created_on": now,
        "modified_on": now,
    }


def seed(state: SimState) -> None:
    """One monitor, primary and backup pools for the API, ``lb.spacevision.app``, one check."""
    now = iso()
    monitor_id = new_id()
    monitor: dict[str, Any] = {
        "id": monitor_id,
        "type": "https",
        "description": "api /health",
        "method": "GET",
        "path": "/health",
        "header": {"Host": ["api.spacevision.app"]},
        "port": 443,
        "timeout": 5,
        "retries": 2,
        "interval": 60,
        "expected_codes": "200",
        "expected_body": "ok",
        "follow_redirects": False,
        "allow_insecure": False,
        "consecutive_up": 2,
        "consecutive_down": 2,
        "probe_zone": "",
        "created_on": now,
        "modified_on": now,
    }
    state.lb.monitors[monitor_id] = monitor
    primary = _pool(
        "api-primary",
        "API origins (primary, us-east)",
        monitor_id,
        [("api-origin-1", "203.0.113.21"), ("api-origin-2", "203.0.113.22")],
    )
    backup = _pool(
        "api-backup",
        "API origins (backup, eu-west)",
        monitor_id,
        [("api-backup-1", "198.51.100.31")],
    )
    for pool in (primary, backup):
        state.lb.pools[pool["id"]] = pool
    zone = state.zones.by_name("spacevision.app")
    if zone is None:
        return
    balancer = {
        "id": new_id(),
        "name": "lb.spacevision.app",
        "description": "API failover: primary, then backup",
        "enabled": True,
        "proxied": True,
        "ttl": 30,
        "default_pools": [primary["id"], backup["id"]],
        "fallback_pool": backup["id"],
        "region_pools": {},
        "country_pools": {},
        "pop_pools": {},
        "steering_policy": "off",
        "session_affinity": "none",
        "session_affinity_attributes": {"samesite": "Auto", "secure": "Auto"},
        "adaptive_routing": {"failover_across_pools": False},
        "location_strategy": {"mode": "pop", "prefer_ecs": "proximity"},
        "random_steering": {"default_weight": 1},
        "rules": [],
        "created_on": now,
        "modified_on": now,
    }
    state.lb.load_balancers.setdefault(zone["id"], {})[balancer["id"]] = balancer
    check = new_healthcheck(
        HealthcheckBody(
            name="api-origin",
            address="api.spacevision.app",
            type="HTTPS",
            description="API /health from three regions",
            check_regions=["WNAM", "ENAM", "WEU"],
            http_config=HttpConfig(
                path="/health",
                port=443,
                expected_codes=["200"],
                header={"Host": ["api.spacevision.app"]},
            ),
        ),
        now,
    )
    state.lb.healthchecks.setdefault(zone["id"], {})[check["id"]] = check
