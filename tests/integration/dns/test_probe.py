"""The ``dns`` probe against real servers: knot nameservers and unbound resolvers on loopback,
serving spacevision.app as the simulator holds it."""

from __future__ import annotations

from typing import Any

from probes.base import ProbeContext, ProbeEvent, ProbeResult, Reason, Status
from probes.dns import DnsProbe, DnsSettings
from tests.conftest import SimHandle
from tests.dnsservers import Rr, ZoneData, poll
from tests.integration.dns.conftest import TTL_S, ZONE, SpaceVisionDns

STATUS = f"status.{ZONE}"
OLD, NEW = "203.0.113.10", "203.0.113.11"


def probe_for(lab: SpaceVisionDns, **overrides: Any) -> DnsProbe:
    """A probe on the lab's servers (every record of the zone unless ``records`` is given)."""
    return DnsProbe(DnsSettings.model_validate(lab.probe_config(**overrides)))


def kinds(result: ProbeResult) -> list[str]:
    """The kinds of the result's events, in order."""
    return [e.kind for e in result.events]


def event(result: ProbeResult, kind: str) -> ProbeEvent:
    """The result's event of ``kind``."""
    return next(e for e in result.events if e.kind == kind)


async def run_until(
    probe: DnsProbe, ctx: ProbeContext, kind: str, *, timeout_s: float
) -> tuple[ProbeResult, list[ProbeResult]]:
    """Run the probe (as the runner would on ``rerun_in_s``) until a result has ``kind``."""
    seen: list[ProbeResult] = []

    async def once() -> ProbeResult | None:
        result = await probe.run(ctx)
        seen.append(result)
        return result if kind in kinds(result) else None

    return await poll(once, timeout_s=timeout_s, interval_s=0.2), seen


async def test_a_consistent_zone_is_ok(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext
) -> None:
    """Every record of the zone, as the API holds it, answered alike by both nameservers and
    both resolvers: ok, ratio 1, one serial, and nothing propagating."""
    result = await probe_for(spacevision_dns).run(probe_ctx)
    assert Status.OK == result.status, result.message
    assert 1.0 == result.values["propagation_ratio"]
    assert (2.0, 2.0) == (result.values["resolvers"], result.values["resolvers_current"])
    assert (2.0, 2.0) == (result.values["nameservers"], result.values["nameservers_current"])
    assert 9.0 == result.values["records"]
    serial = float(spacevision_dns.zone.serial)
    assert (serial, serial) == (result.values["soa_serial_min"], result.values["soa_serial_max"])
    assert {("ns1", serial), ("ns2", serial)} == {
        (s.labels["nameserver"], s.value) for s in result.series if s.metric == "dns_soa_serial"
    }
    assert () == result.events
    assert result.rerun_in_s is None


async def test_one_run_reads_the_api_once(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """The API budget is shared by every probe: a run costs one dns_records request (plus
    the zone lookup on the first run only)."""
    probe = probe_for(spacevision_dns)
    await probe.run(probe_ctx)
    await sim.control("DELETE", "/__sim/requests")
    await probe.run(probe_ctx)
    log = await sim.control("GET", "/__sim/requests")
    assert 1 == len(log), log
    assert log[0]["path"].endswith("/dns_records")


async def test_a_change_propagates_as_resolver_caches_expire(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext
) -> None:
    """Req 2.8: a record changed in the API and on the nameservers is tracked run by run — one
    resolver updated at once (its cache was empty), the other once its cached answer expires
    — until every resolver has it, and the probe asks to be run again meanwhile."""
    lab = spacevision_dns
    probe = probe_for(lab, records=[{"name": "status", "type": "A"}], propagation_poll="1s")
    assert Status.OK == (await probe.run(probe_ctx)).status  # both resolvers cache OLD
    await lab.change_in_api(STATUS, "A", NEW)
    await lab.change_on(lab.nameservers, STATUS, "A", NEW)
    await lab.r2.flush(ZONE)

    first = await probe.run(probe_ctx)
    assert ["dns_change_detected", "dns_propagation_progress"] == kinds(first)
    assert f"A {STATUS} {OLD} → {NEW}" in event(first, "dns_change_detected").message
    progress = event(first, "dns_propagation_progress")
    assert progress.message.startswith("1/2 resolvers updated, ")
    assert progress.message.endswith(f"since change, TTL {TTL_S} s")
    assert "r1" == progress.fields["waiting_for"]
    assert Status.WARN == first.status
    assert 0.5 == first.values["propagation_ratio"]
    assert 1.0 == first.values["propagating"]
    assert 1.0 == first.rerun_in_s

    done, _ = await run_until(probe, probe_ctx, "dns_propagation_complete", timeout_s=TTL_S + 5)
    assert event(done, "dns_propagation_complete").message.startswith("2/2 resolvers updated")
    assert Status.OK == done.status, done.message
    assert 1.0 == done.values["propagation_ratio"]
    assert done.rerun_in_s is None
    assert () == (await probe.run(probe_ctx)).events


async def test_a_deleted_record_propagates_until_resolvers_forget_it(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """A deletion is a change too: resolvers holding the old address are stale until their
    cache expires and they answer that the name is gone."""
    lab = spacevision_dns
    probe = probe_for(lab, propagation_poll="1s")
    assert Status.OK == (await probe.run(probe_ctx)).status
    record_id = await lab.record_id(STATUS, "A")
    status, body = await sim.call("DELETE", f"/zones/{lab.zone_id}/dns_records/{record_id}")
    assert 200 == status, body
    for server in lab.nameservers:
        await server.set_rrset(ZONE, STATUS + ".", "A", [])

    first = await probe.run(probe_ctx)
    assert f"A {STATUS} {OLD} → none" in event(first, "dns_change_detected").message
    assert "dns_propagation_progress" in kinds(first)
    done, _ = await run_until(probe, probe_ctx, "dns_propagation_complete", timeout_s=TTL_S + 5)
    assert Status.OK == done.status, done.message
    assert 9.0 == done.values["records"]  # watched as gone until it is gone everywhere
    assert 8.0 == (await probe.run(probe_ctx)).values["records"]


async def test_a_lagging_nameserver_is_named_then_crit_past_the_deadline(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext
) -> None:
    """One nameserver keeps the old zone: warn while within the deadline, naming it and its
    serial; past the deadline a timeout event, crit with reason ``assertion``."""
    lab = spacevision_dns
    probe = probe_for(lab, propagation_deadline="1500ms", propagation_poll="200ms")
    await probe.run(probe_ctx)
    await lab.change_in_api(STATUS, "A", NEW)
    [new_serial] = await lab.change_on([lab.ns1], STATUS, "A", NEW)

    first = await probe.run(probe_ctx)
    assert Status.WARN == first.status
    assert f"nameserver ns2: serial {lab.zone.serial} is behind" in first.message
    assert 1.0 == first.values["nameservers_current"]
    assert (float(lab.zone.serial), float(new_serial)) == (
        first.values["soa_serial_min"],
        first.values["soa_serial_max"],
    )
    assert "ns2" == event(first, "dns_propagation_progress").fields["nameservers_behind"]

    timed_out, _ = await run_until(probe, probe_ctx, "dns_propagation_timeout", timeout_s=10)
    assert Status.CRIT == timed_out.status
    assert Reason.ASSERTION == timed_out.reason
    assert "nameserver ns2" in timed_out.message
    later = await probe.run(probe_ctx)
    assert Status.CRIT == later.status
    assert () == later.events  # the same disagreement does not start another propagation


async def test_a_stopped_nameserver_is_unreachable(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext
) -> None:
    """A nameserver that is not listening: crit, reason ``unreachable``, named — at once,
    not after the query timeout."""
    await spacevision_dns.ns2.stop()
    result = await probe_for(spacevision_dns, query_timeout="5s").run(probe_ctx)
    assert Status.CRIT == result.status
    assert Reason.UNREACHABLE == result.reason
    assert "nameserver ns2:" in result.message
    assert "port unreachable" in result.message
    assert 1.0 == result.values["nameservers_current"]
    assert 1.0 == result.values["propagation_ratio"]  # the resolvers still get answers


async def test_a_silent_nameserver_times_out(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext
) -> None:
    """A nameserver that takes the question and never answers: crit, reason ``timeout``."""
    spacevision_dns.ns2.pause()
    result = await probe_for(
        spacevision_dns, records=[{"name": "status", "type": "A"}], query_timeout="300ms"
    ).run(probe_ctx)
    spacevision_dns.ns2.resume()
    assert Status.CRIT == result.status
    assert Reason.TIMEOUT == result.reason
    assert "nameserver ns2: no answer" in result.message


async def test_a_resolver_that_clamps_ttls_makes_propagation_time_out(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext
) -> None:
    """A resolver that keeps answers longer than their TTL (cache-min-ttl) still has the old
    address at the deadline: a timeout event naming it, and warn (resolvers are not ours)."""
    lab = spacevision_dns
    sticky = await lab.lab.unbound({ZONE: lab.nameservers}, name="sticky", cache_min_ttl=3600)
    config = lab.probe_config(
        records=[{"name": STATUS, "type": "A"}],
        propagation_deadline="1s",
        propagation_poll="200ms",
    )
    config["resolvers"] = [*config["resolvers"], {"name": "sticky", "address": sticky.address}]
    probe = DnsProbe(DnsSettings.model_validate(config))
    await probe.run(probe_ctx)
    await lab.change_in_api(STATUS, "A", NEW)
    await lab.change_on(lab.nameservers, STATUS, "A", NEW)
    for resolver in lab.resolvers:
        await resolver.flush(ZONE)

    timed_out, seen = await run_until(probe, probe_ctx, "dns_propagation_timeout", timeout_s=10)
    assert all(r.status is Status.WARN for r in seen)
    message = event(timed_out, "dns_propagation_timeout").message
    assert message.startswith("2/3 resolvers updated")
    assert message.endswith("still waiting for sticky")
    assert "resolver sticky: old answer for A status.spacevision.app" in timed_out.message
    assert 2 / 3 == timed_out.values["propagation_ratio"]


async def test_an_api_outage_keeps_checking_against_the_last_records(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """When the API fails, the servers are still checked against the records read before:
    warn with the API's reason, not a blind crit."""
    probe = probe_for(spacevision_dns)
    assert Status.OK == (await probe.run(probe_ctx)).status
    await sim.control("POST", "/__sim/faults", json={"service": "dns", "outage": True})
    result = await probe.run(probe_ctx)
    assert Status.WARN == result.status
    assert Reason.API_ERROR == result.reason
    assert "could not read the records from the API" in result.message
    assert 2.0 == result.values["nameservers_current"]


async def test_a_paused_api_keeps_checking_the_servers_without_waiting(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """While the client waits out a 429, the servers (which need no API) are still checked
    against the records read before, at once: warn rate_limited, not a run-long timeout."""
    probe = probe_for(spacevision_dns)
    assert Status.OK == (await probe.run(probe_ctx)).status
    budget = probe_ctx.cf.budget
    budget.pause("dns", 600.0, budget.clock())
    await sim.control("DELETE", "/__sim/requests")
    result = await probe.run(probe_ctx)
    assert (Status.WARN, Reason.RATE_LIMITED) == (result.status, result.reason)
    assert "compared with the records read before" in result.message
    assert 2.0 == result.values["nameservers_current"]
    assert [] == await sim.control("GET", "/__sim/requests")


async def test_a_paused_api_on_the_first_run_is_rate_limited(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """With nothing read yet and the client paused past the deadline: rate_limited at once."""
    probe = probe_for(spacevision_dns)
    await probe_ctx.resources.zone(ZONE)
    budget = probe_ctx.cf.budget
    budget.pause("dns", 600.0, budget.clock())
    result = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.RATE_LIMITED) == (result.status, result.reason)


async def test_an_api_outage_on_the_first_run_is_crit(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """With no records read yet there is nothing to compare with: crit, reason from the API."""
    await sim.control("POST", "/__sim/faults", json={"service": "dns", "outage": True})
    result = await probe_for(spacevision_dns).run(probe_ctx)
    assert Status.CRIT == result.status
    assert Reason.API_ERROR == result.reason


async def test_a_nameserver_that_does_not_serve_the_zone_is_crit(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext
) -> None:
    """A listed nameserver that refuses the zone (a lame delegation): crit, ``assertion``."""
    other = await spacevision_dns.lab.knot([ZoneData("example.test")], name="other")
    config = spacevision_dns.probe_config()
    config["nameservers"] = [*config["nameservers"], {"name": "other", "address": other.address}]
    result = await DnsProbe(DnsSettings.model_validate(config)).run(probe_ctx)
    assert Status.CRIT == result.status
    assert Reason.ASSERTION == result.reason
    assert "nameserver other: refused the question" in result.message


async def test_nameservers_may_be_given_by_host_name(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext
) -> None:
    """``address: localhost:PORT`` is resolved through the system resolver (here /etc/hosts)."""
    local = await spacevision_dns.lab.knot([spacevision_dns.zone], name="local", host="127.0.0.1")
    probe = probe_for(
        spacevision_dns, nameservers=[{"name": "local", "address": f"localhost:{local.port}"}]
    )
    result = await probe.run(probe_ctx)
    assert Status.OK == result.status, result.message
    assert 1.0 == result.values["nameservers_current"]


async def test_a_large_answer_is_fetched_over_tcp(
    spacevision_dns: SpaceVisionDns, probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """A TXT record bigger than a 1232-byte datagram comes back truncated over UDP; the probe
    asks again over TCP and compares the whole value (split into 255-byte strings)."""
    lab = spacevision_dns
    content = "k=" + "x" * 1498
    status, body = await sim.call(
        "POST",
        f"/zones/{lab.zone_id}/dns_records",
        json={"type": "TXT", "name": f"big.{ZONE}", "content": content, "ttl": 60},
    )
    assert 200 == status, body
    chunks = " ".join(f'"{content[i : i + 255]}"' for i in range(0, len(content), 255))
    for server in lab.nameservers:
        await server.edit(ZONE, add=[Rr("big", "TXT", chunks, TTL_S)])
    result = await probe_for(lab, records=[{"name": "big", "type": "TXT"}]).run(probe_ctx)
    assert Status.OK == result.status, result.message
