"""The DNS lab itself: knot serves what the simulator holds, edits bump serials, unbound caches."""

from __future__ import annotations

from tests.dnsservers import DnsLab, Rr, ZoneData, ask, listening, poll
from tests.integration.dns.conftest import TTL_S, ZONE, SpaceVisionDns


async def test_knot_serves_the_simulators_zone(spacevision_dns: SpaceVisionDns) -> None:
    """Both nameservers answer the records of the BIND export with the export's serial, so the
    probe is tested against what the API really holds."""
    lab = spacevision_dns
    for server in lab.nameservers:
        assert lab.zone.serial == await server.serial(ZONE)
        reply = await ask(server.host, server.port, f"status.{ZONE}.", "A")
        assert ["203.0.113.10"] == [rd.to_text() for rd in reply.answer[0]]
        mx = await ask(server.host, server.port, f"{ZONE}.", "MX")
        assert {"1 aspmx.l.google.com.", "5 alt1.aspmx.l.google.com."} == {
            rd.to_text() for rd in mx.answer[0]
        }


async def test_proxied_records_answer_with_cloudflare_addresses(
    spacevision_dns: SpaceVisionDns,
) -> None:
    """A proxied record is served as Cloudflare serves it: its own addresses, not the origin."""
    values, _ = await spacevision_dns.r1.lookup(f"images.{ZONE}.", "A")
    assert "198.51.100.20" not in values
    assert values


async def test_a_live_edit_bumps_the_serial(spacevision_dns: SpaceVisionDns) -> None:
    """``set_rrset`` changes the answer at once and raises the SOA serial by one."""
    ns1 = spacevision_dns.ns1
    before = await ns1.serial(ZONE)
    after = await ns1.set_rrset(ZONE, "status", "A", ["203.0.113.11"], ttl=TTL_S)
    assert before + 1 == after
    reply = await ask(ns1.host, ns1.port, f"status.{ZONE}.", "A")
    assert ["203.0.113.11"] == [rd.to_text() for rd in reply.answer[0]]


async def test_resolver_serves_from_cache_until_the_ttl_runs_out(
    spacevision_dns: SpaceVisionDns,
) -> None:
    """unbound keeps the old answer for its TTL, then fetches the new one: real propagation."""
    lab = spacevision_dns
    assert (["203.0.113.10"], TTL_S) == await lab.r1.lookup(f"status.{ZONE}.", "A")
    for server in lab.nameservers:
        await server.set_rrset(ZONE, "status", "A", ["203.0.113.11"], ttl=TTL_S)
    values, _ = await lab.r1.lookup(f"status.{ZONE}.", "A")
    assert ["203.0.113.10"] == values

    async def updated() -> bool | None:
        found, _ = await lab.r1.lookup(f"status.{ZONE}.", "A")
        return True if found == ["203.0.113.11"] else None

    await poll(updated, timeout_s=TTL_S + 5)


async def test_a_flushed_resolver_asks_again(spacevision_dns: SpaceVisionDns) -> None:
    """Flushing one resolver's cache gives two cache states for the same zone."""
    lab = spacevision_dns
    await lab.r1.lookup(f"status.{ZONE}.", "A")
    await lab.r2.lookup(f"status.{ZONE}.", "A")
    await lab.ns1.set_rrset(ZONE, "status", "A", ["203.0.113.12"], ttl=TTL_S)
    await lab.ns2.set_rrset(ZONE, "status", "A", ["203.0.113.12"], ttl=TTL_S)
    await lab.r2.flush(ZONE)
    assert ["203.0.113.10"] == (await lab.r1.lookup(f"status.{ZONE}.", "A"))[0]
    assert ["203.0.113.12"] == (await lab.r2.lookup(f"status.{ZONE}.", "A"))[0]


async def test_a_stopped_server_is_gone_and_restarts(dns_lab: DnsLab) -> None:
    """Stopping by PID frees the server; ``restart`` serves again on the same address."""
    zone = ZoneData("example.test", (Rr("www", "A", "192.0.2.1", 60),))
    server = await dns_lab.knot([zone], name="solo")
    pid = server.pid
    assert pid is not None
    await server.stop()
    assert server.pid is None
    assert not await listening(server.host, server.port)
    await server.restart()
    assert zone.serial == await server.serial("example.test")


async def test_a_parent_zone_delegates_to_a_signed_child(dns_lab: DnsLab) -> None:
    """A signed child and a parent publishing its DS: what ``dns check`` will need."""
    child = ZoneData("spacevision.test", (Rr("www", "A", "192.0.2.1", 60),), dnssec=True)
    child_ns = await dns_lab.knot([child], name="child")
    ds = await child_ns.ds("spacevision.test")
    assert ds
    parent = ZoneData("test", nameservers=("a.nic",)).delegate(
        "spacevision.test", {"ns1.spacevision.test": child_ns.host}, ds=ds
    )
    parent_ns = await dns_lab.knot([parent], name="parent")
    referral = await ask(parent_ns.host, parent_ns.port, "www.spacevision.test.", "A")
    assert {"ns1.spacevision.test."} == {rd.to_text() for rd in referral.authority[0]}
    dnskey = await ask(child_ns.host, child_ns.port, "spacevision.test.", "DNSKEY")
    assert 2 == len(dnskey.answer[0])
