"""Load balancers, pools (and their health), monitors and zone health checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from cfapi.models import CfModel
from cfapi.pagination import pages
from cfapi.service import Service, segment


class Origin(CfModel):
    """An origin of a pool."""

    name: str | None = None
    address: str | None = None
    enabled: bool | None = None
    weight: float | None = None


class Pool(CfModel):
    """A load-balancer pool."""

    id: str
    name: str | None = None
    enabled: bool | None = None
    minimum_origins: int | None = None
    monitor: str | None = None
    origins: list[Origin] | None = None
    notification_email: str | None = None
    created_on: str | None = None
    modified_on: str | None = None


class PoolHealth(CfModel):
    """A pool's health as seen from each Cloudflare PoP."""

    pool_id: str | None = None
    pop_health: dict[str, Any] | None = None


class Monitor(CfModel):
    """A health monitor used by pools."""

    id: str
    type: str | None = None
    description: str | None = None
    method: str | None = None
    path: str | None = None
    interval: int | None = None
    timeout: int | None = None
    retries: int | None = None
    expected_codes: str | None = None


class LoadBalancer(CfModel):
    """A load balancer of a zone."""

    id: str
    name: str | None = None
    enabled: bool | None = None
    proxied: bool | None = None
    default_pools: list[str] | None = None
    fallback_pool: Any = None
    steering_policy: str | None = None


class HealthCheck(CfModel):
    """A zone health check and its latest status (``unknown|healthy|unhealthy|suspended``)."""

    id: str
    name: str | None = None
    address: str | None = None
    type: str | None = None
    status: str | None = None
    failure_reason: str | None = None
    suspended: bool | None = None
    interval: int | None = None
    check_regions: list[str] | None = None
    http_config: dict[str, Any] | None = None
    tcp_config: dict[str, Any] | None = None


class LoadBalancingApi(Service):
    """Load-balancing pools, monitors and load balancers; zone health checks."""

    def _lb(self, account_id: str) -> str:
        return f"/accounts/{segment(account_id)}/load_balancers"

    async def pools(self, account_id: str, *, monitor: str | None = None) -> list[Pool]:
        """The account's pools (optionally those using ``monitor``)."""
        return await self._list(self._lb(account_id) + "/pools", Pool, params={"monitor": monitor})

    async def pool(self, account_id: str, pool_id: str) -> Pool:
        """One pool."""
        return await self._result("GET", f"{self._lb(account_id)}/pools/{segment(pool_id)}", Pool)

    async def pool_health(self, account_id: str, pool_id: str) -> PoolHealth:
        """A pool's health per PoP and origin."""
        path = f"{self._lb(account_id)}/pools/{segment(pool_id)}/health"
        return await self._result("GET", path, PoolHealth)

    async def monitors(self, account_id: str) -> list[Monitor]:
        """The account's monitors."""
        return await self._list(self._lb(account_id) + "/monitors", Monitor)

    async def monitor(self, account_id: str, monitor_id: str) -> Monitor:
        """One monitor."""
        path = f"{self._lb(account_id)}/monitors/{segment(monitor_id)}"
        return await self._result("GET", path, Monitor)

    async def load_balancers(self, zone_id: str) -> list[LoadBalancer]:
        """The zone's load balancers."""
        return await self._list(f"/zones/{segment(zone_id)}/load_balancers", LoadBalancer)

    async def load_balancer(self, zone_id: str, load_balancer_id: str) -> LoadBalancer:
        """One load balancer."""
        path = f"/zones/{segment(zone_id)}/load_balancers/{segment(load_balancer_id)}"
        return await self._result("GET", path, LoadBalancer)

    def healthchecks(self, zone_id: str, *, per_page: int = 100) -> AsyncIterator[HealthCheck]:
        """The zone's health checks."""
        fetch = self._fetcher(f"/zones/{segment(zone_id)}/healthchecks")
        return pages(fetch, HealthCheck.parse, per_page=per_page)

    async def healthcheck(self, zone_id: str, healthcheck_id: str) -> HealthCheck:
        """One health check with its status."""
        path = f"/zones/{segment(zone_id)}/healthchecks/{segment(healthcheck_id)}"
        return await self._result("GET", path, HealthCheck)

    async def create_healthcheck(self, zone_id: str, check: Mapping[str, Any]) -> HealthCheck:
        """Create a health check (``name`` and ``address`` at least)."""
        path = f"/zones/{segment(zone_id)}/healthchecks"
        return await self._result("POST", path, HealthCheck, json=dict(check))
