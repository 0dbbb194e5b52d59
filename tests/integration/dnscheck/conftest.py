"""A SpaceVision DNS estate on loopback for ``dns check``: real knot and unbound servers.

The zone's records come from the simulator's API (what ``dns check`` compares with); the
tests build what each nameserver serves from them by hand, planting one fault at a time:

- ``ns1`` and ``ns2``: knot instances serving spacevision.app, each on its own loopback
  address, named in the zone's NS records with glue;
- ``parent``: knot serving ``app.``, delegating spacevision.app to ns1 and ns2 (with glue,
  and DS records when a test signs the zone);
- ``web``: knot serving ``pages.dev`` (where the Pages CNAMEs point), so CNAME targets
  outside the zone resolve through
- ``resolver``: unbound, which knows ``pages.dev`` and nothing else.

Skipped, with the reason, when knot or unbound is not installed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from cfapi.budget import RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials
from cfapi.dns import DnsRecord
from ops.dnscheck import Finding, Report, assess
from ops.dnsobserve import CheckOptions, observe
from probes.dnsquery import ServerAddress
from tests.conftest import SimHandle
from tests.dnsservers import (
    DnsLab,
    KnotServer,
    Rr,
    UnboundResolver,
    ZoneData,
    cloudflare_zone,
    free_endpoint,
)
from tests.integration.dns.conftest import dns_lab

__all__ = ["dns_lab"]

ZONE = "spacevision.app"
PAGES_TARGET_ADDRESS = "192.0.2.80"
TIMEOUT_S = 1.0


def summary(report: Report) -> set[tuple[str, str, str]]:
    """(check, severity, subject) of every finding: what the tests expect by hand."""
    return {(f.check, f.severity, f.subject) for f in report.findings}


def finding(report: Report, check: str) -> Finding:
    """The one finding of ``check``."""
    [found] = [f for f in report.findings if f.check == check]
    return found


@dataclass
class Estate:
    """The simulator's zone and the DNS servers a test starts for it."""

    sim: SimHandle
    lab: DnsLab
    cf: CloudflareClient
    zone_id: str
    hosts: dict[str, str]
    resolver: UnboundResolver
    records: list[DnsRecord] = field(default_factory=list)
    servers: dict[str, KnotServer] = field(default_factory=dict)
    parent: KnotServer | None = None

    async def refresh(self) -> list[DnsRecord]:
        """Read the zone's records from the API again."""
        self.records = [r async for r in self.cf.dns.list(self.zone_id)]
        return self.records

    async def api(self, method: str, path: str = "", **kwargs: Any) -> Any:
        """Change the zone through the API, as a user would; the new records are read back."""
        status, body = await self.sim.call(
            method, f"/zones/{self.zone_id}/dns_records{path}", **kwargs
        )
        assert status == 200, body
        await self.refresh()
        return body["result"]

    def record_id(self, name: str, rtype: str) -> str:
        """The API id of a record."""
        full = name if name.endswith(ZONE) else f"{name}.{ZONE}"
        return next(r.id for r in self.records if r.name == full and r.type == rtype)

    def zone(
        self,
        *,
        records: Sequence[DnsRecord] | None = None,
        serial: int = 2040000001,
        nameservers: Sequence[str] = ("ns1", "ns2"),
        **changes: Any,
    ) -> ZoneData:
        """spacevision.app as Cloudflare would serve the API's records (or ``records``)."""
        data = cloudflare_zone(
            ZONE,
            [r.model_dump() for r in (self.records if records is None else records)],
            serial=serial,
            nameservers=nameservers,
            glue={ns: self.hosts[ns] for ns in nameservers},
        )
        return replace(data, **changes)

    async def serve(self, ns1: ZoneData, ns2: ZoneData | None = None) -> None:
        """Start ns1 (and ns2) on their reserved addresses."""
        self.servers["ns1"] = await self.lab.knot([ns1], name="ns1", host=self.hosts["ns1"])
        if ns2 is not None:
            self.servers["ns2"] = await self.lab.knot([ns2], name="ns2", host=self.hosts["ns2"])

    async def delegate(
        self,
        nameservers: Mapping[str, str | None] | None = None,
        *,
        ds: Sequence[str] = (),
    ) -> KnotServer:
        """Start the parent, delegating the zone to ``nameservers`` (default: ns1, ns2)."""
        delegated = (
            {f"{name}.{ZONE}": self.hosts[name] for name in self.servers}
            if nameservers is None
            else nameservers
        )
        parent = ZoneData("app", nameservers=("a.nic",)).delegate(ZONE, delegated, ds=ds)
        self.parent = await self.lab.knot([parent], name="parent")
        return self.parent

    def options(self, **overrides: Any) -> CheckOptions:
        """Options naming the started servers, the resolver and the parent."""
        values: dict[str, Any] = {
            "nameservers": tuple(
                (f"{name}.{ZONE}.", ServerAddress(server.host, server.port))
                for name, server in self.servers.items()
            ),
            "resolvers": (ServerAddress(self.resolver.host, self.resolver.port),),
            "parent": (ServerAddress(self.parent.host, self.parent.port) if self.parent else None),
            "timeout_s": TIMEOUT_S,
        }
        values.update(overrides)
        return CheckOptions(**values)

    def cli_args(self, *extra: str) -> list[str]:
        """``flarewatch dns check`` arguments for the started servers."""
        args = ["dns", "check", ZONE, "--timeout", "1s"]
        for name, server in self.servers.items():
            args += ["--nameserver", f"{name}.{ZONE}={server.address}"]
        args += ["--resolver", self.resolver.address]
        if self.parent is not None:
            args += ["--parent", self.parent.address]
        return [*args, *extra]

    async def check(self, **overrides: Any) -> Report:
        """Observe the started servers and judge what they answered."""
        observations = await observe(ZONE, self.records, self.options(**overrides))
        return assess(observations)


@pytest.fixture
async def estate(sim: SimHandle, dns_lab: DnsLab) -> AsyncIterator[Estate]:
    """The zone from the simulator, addresses reserved for ns1 and ns2, pages.dev and a
    resolver running; each test starts the nameservers and the parent it needs."""
    web = await dns_lab.knot(
        [ZoneData("pages.dev", (Rr("spacevision-web", "A", PAGES_TARGET_ADDRESS, 300),))],
        name="web",
    )
    resolver = await dns_lab.unbound({"pages.dev": [web]}, name="resolver")
    hosts = {name: free_endpoint()[0] for name in ("ns1", "ns2")}
    async with CloudflareClient(
        Credentials.bearer(sim.token), base_url=sim.api, budget=RequestBudget()
    ) as cf:
        zone = await cf.zones.find(ZONE, account_id=sim.account_id)
        assert zone is not None
        estate = Estate(sim, dns_lab, cf, zone.id, hosts, resolver)
        await estate.refresh()
        yield estate
