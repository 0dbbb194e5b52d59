"""The simulator's nameserver and caching resolvers, over real UDP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from cfsim.dnsserver import PROXIED_A, Nameserver, Resolver
from tests.conftest import SimHandle


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def ns(sim: SimHandle) -> AsyncIterator[Nameserver]:
    """A nameserver for the simulator's zones."""
    server = Nameserver(sim.server.state)
    await server.start()
    yield server
    await server.stop()


async def _ask(address: str, name: str, rdtype: str) -> dns.message.Message:
    host, _, port = address.rpartition(":")
    query = dns.message.make_query(name, rdtype)
    return await dns.asyncquery.udp(query, host, port=int(port), timeout=2)


def _texts(response: dns.message.Message, rdtype: str) -> set[str]:
    wanted = dns.rdatatype.from_text(rdtype)
    return {rd.to_text() for rrset in response.answer if rrset.rdtype == wanted for rd in rrset}


async def _zone_id(sim: SimHandle) -> str:
    _, body = await sim.call("GET", "/zones", params={"name": "spacevision.app"})
    return str(body["result"][0]["id"])


async def test_api_changes_are_answered_at_once_with_a_new_serial(
    sim: SimHandle, ns: Nameserver
) -> None:
    """A record created through the API is authoritative immediately, under serial + 1."""
    before = await _ask(ns.address, "spacevision.app", "SOA")
    serial = before.answer[0][0].serial
    zone = await _zone_id(sim)
    status, _ = await sim.call(
        "POST",
        f"/zones/{zone}/dns_records",
        json={"type": "A", "name": "drill.spacevision.app", "content": "192.0.2.7", "ttl": 60},
    )
    assert 200 == status
    after = await _ask(ns.address, "spacevision.app", "SOA")
    assert serial + 1 == after.answer[0][0].serial
    assert {"192.0.2.7"} == _texts(await _ask(ns.address, "drill.spacevision.app", "A"), "A")


async def test_proxied_records_answer_with_cloudflare_addresses(ns: Nameserver) -> None:
    """A proxied hostname resolves to Cloudflare's anycast addresses, never the origin."""
    response = await _ask(ns.address, "api.spacevision.app", "A")
    assert set(PROXIED_A) == _texts(response, "A")
    assert response.flags & dns.flags.AA


async def test_unknown_names_and_foreign_zones(ns: Nameserver) -> None:
    """A missing name is NXDOMAIN with the SOA; a zone the account lacks is REFUSED."""
    missing = await _ask(ns.address, "nope.spacevision.app", "A")
    assert dns.rcode.NXDOMAIN == missing.rcode()
    assert dns.rdatatype.SOA == missing.authority[0].rdtype
    assert dns.rcode.REFUSED == (await _ask(ns.address, "example.com", "A")).rcode()


async def test_resolver_serves_the_old_answer_until_its_ttl_runs_out(
    sim: SimHandle, ns: Nameserver
) -> None:
    """Propagation is real: a cached answer outlives the change until its TTL expires."""
    zone = await _zone_id(sim)
    _, created = await sim.call(
        "POST",
        f"/zones/{zone}/dns_records",
        json={"type": "A", "name": "cdn.spacevision.app", "content": "192.0.2.1", "ttl": 120},
    )
    clock = _Clock()
    resolver = Resolver(ns.address, clock=clock)
    await resolver.start()
    try:
        assert {"192.0.2.1"} == _texts(
            await _ask(resolver.address, "cdn.spacevision.app", "A"), "A"
        )
        record = created["result"]
        await sim.call(
            "PATCH",
            f"/zones/{zone}/dns_records/{record['id']}",
            json={"type": "A", "name": record["name"], "content": "192.0.2.2"},
        )
        clock.now += 60
        cached = await _ask(resolver.address, "cdn.spacevision.app", "A")
        assert ({"192.0.2.1"}, 60) == (_texts(cached, "A"), cached.answer[0].ttl)
        clock.now += 61
        assert {"192.0.2.2"} == _texts(
            await _ask(resolver.address, "cdn.spacevision.app", "A"), "A"
        )
    finally:
        await resolver.stop()


async def test_resolver_without_upstream_says_servfail() -> None:
    """A resolver whose nameserver is gone answers SERVFAIL rather than nothing."""
    resolver = Resolver("127.0.0.1:9", timeout_s=0.2)
    await resolver.start()
    try:
        assert dns.rcode.SERVFAIL == (await _ask(resolver.address, "spacevision.app", "A")).rcode()
    finally:
        await resolver.stop()
