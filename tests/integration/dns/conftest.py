"""Fixtures for tests against real DNS servers: knot nameservers and unbound resolvers.

``dns_lab`` starts nothing by itself: tests ask it for servers and it stops them all (by PID)
at teardown. ``spacevision_dns`` is the SpaceVision zone as the simulator holds it (read
through its BIND export), served by two knot nameservers, with two unbound resolvers in front.
Every test here is skipped, with the reason, when the binaries are not installed; CI installs
them (.ci/run).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from cfapi.budget import RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials
from tests.conftest import SimHandle
from tests.dnsservers import (
    DnsLab,
    KnotServer,
    UnboundResolver,
    ZoneData,
    cloudflare_zone,
    missing_binaries,
)
from tests.integration.probes.conftest import loopback_resolver, probe_ctx

__all__ = ["loopback_resolver", "probe_ctx"]

ZONE = "spacevision.app"
TTL_S = 2
"""The TTL every record is served with: short, so caches expire within a test."""


@pytest.fixture
async def dns_lab() -> AsyncIterator[DnsLab]:
    """A lab for knot and unbound servers on loopback, all stopped at teardown."""
    missing = missing_binaries()
    if missing:
        pytest.skip(
            f"DNS test servers not installed: {', '.join(missing)} "
            "(apt-get install knot knot-dnsutils unbound)"
        )
    async with DnsLab() as lab:
        yield lab


@dataclass
class SpaceVisionDns:
    """The simulator's spacevision.app served by knot and seen through unbound."""

    sim: SimHandle
    lab: DnsLab
    zone_id: str
    zone: ZoneData
    ns1: KnotServer
    ns2: KnotServer
    r1: UnboundResolver
    r2: UnboundResolver

    @property
    def nameservers(self) -> list[KnotServer]:
        """Both nameservers."""
        return [self.ns1, self.ns2]

    @property
    def resolvers(self) -> list[UnboundResolver]:
        """Both resolvers."""
        return [self.r1, self.r2]

    def probe_config(self, **overrides: Any) -> dict[str, Any]:
        """A ``dns`` probe entry for this lab (nameservers and resolvers by name)."""
        config: dict[str, Any] = {
            "name": "dns",
            "type": "dns",
            "zone": ZONE,
            "nameservers": [{"name": s.name, "address": s.address} for s in self.nameservers],
            "resolvers": [{"name": r.name, "address": r.address} for r in self.resolvers],
            "query_timeout": "1s",
        }
        config.update(overrides)
        return config

    async def record_id(self, name: str, rtype: str) -> str:
        """The API id of the record ``name`` (FQDN) of type ``rtype``."""
        status, body = await self.sim.call(
            "GET", f"/zones/{self.zone_id}/dns_records", params={"name": name, "type": rtype}
        )
        assert status == 200, body
        return str(body["result"][0]["id"])

    async def change_in_api(self, name: str, rtype: str, content: str) -> None:
        """Change a record's content through the API (as a user would)."""
        record_id = await self.record_id(name, rtype)
        status, body = await self.sim.call(
            "PATCH",
            f"/zones/{self.zone_id}/dns_records/{record_id}",
            json={"type": rtype, "name": name, "content": content},
        )
        assert status == 200, body

    async def change_on(
        self, servers: list[KnotServer], name: str, rtype: str, content: str
    ) -> list[int]:
        """Serve the new content on ``servers`` (a live zone edit); their new serials."""
        return [
            await server.set_rrset(ZONE, name + ".", rtype, [content], ttl=TTL_S)
            for server in servers
        ]


async def export_zone(sim: SimHandle) -> tuple[str, ZoneData]:
    """The zone id and the zone as the simulator's BIND export describes it."""
    async with CloudflareClient(
        Credentials.bearer(sim.token), base_url=sim.api, budget=RequestBudget()
    ) as cf:
        zone = await cf.zones.find(ZONE, account_id=sim.account_id)
        assert zone is not None
        bind = await cf.dns.export(zone.id)
    return zone.id, cloudflare_zone(ZONE, bind, ttl=TTL_S)


@pytest.fixture
async def spacevision_dns(sim: SimHandle, dns_lab: DnsLab) -> SpaceVisionDns:
    """spacevision.app from the simulator on two knot nameservers, two unbound resolvers."""
    zone_id, zone = await export_zone(sim)
    ns1, ns2 = await asyncio.gather(
        dns_lab.knot([zone], name="ns1"), dns_lab.knot([zone], name="ns2")
    )
    r1, r2 = await asyncio.gather(
        dns_lab.unbound({ZONE: [ns1, ns2]}, name="r1"),
        dns_lab.unbound({ZONE: [ns1, ns2]}, name="r2"),
    )
    return SpaceVisionDns(sim, dns_lab, zone_id, zone, ns1, ns2, r1, r2)
