"""``dns check`` against real knot nameservers, a parent zone and unbound, one planted fault
per test, each finding expected by hand."""

from __future__ import annotations

import json
from dataclasses import replace

from ops.dnscheck import Report
from ops.dnsobserve import find_parent
from probes.dnsquery import ServerAddress
from tests.dnsservers import Rr, ZoneData
from tests.integration.dnscheck.conftest import ZONE, Estate, finding, summary
from tests.integration.ops.test_cli_logs import cli_env, run_cli

STATUS = f"status.{ZONE}"


def without(zone_records: tuple[Rr, ...], name: str, rtype: str) -> tuple[Rr, ...]:
    """The records minus every ``rtype`` record of ``name`` (absolute, with the dot)."""
    return tuple(r for r in zone_records if not (r.name == name and r.type == rtype))


def replaced(zone_records: tuple[Rr, ...], old: Rr, new: Rr) -> tuple[Rr, ...]:
    """The records with ``old`` swapped for ``new``."""
    return tuple(new if r == old else r for r in zone_records)


def record(zone_records: tuple[Rr, ...], name: str, rtype: str) -> Rr:
    """The one ``rtype`` record of ``name``."""
    [found] = [r for r in zone_records if r.name == name and r.type == rtype]
    return found


async def healthy(estate: Estate) -> Report:
    """Serve the API's zone on ns1 and ns2, delegate to both, and check."""
    zone = estate.zone()
    await estate.serve(zone, zone)
    await estate.delegate()
    return await estate.check()


async def test_a_zone_served_as_the_api_says_has_no_findings(estate: Estate) -> None:
    """The baseline: proxied names answering Cloudflare addresses, auto TTLs and the
    flattened apex are Cloudflare's normal behaviour, not findings."""
    report = await healthy(estate)
    assert set() == summary(report)
    assert 0 == report.exit_code


async def test_a_lagging_nameserver_and_its_stale_record(estate: Estate) -> None:
    """ns2 missed the last change: an older serial and the old address of status."""
    current = estate.zone(serial=2040000007)
    old = record(current.records, f"{STATUS}.", "A")
    stale = replace(
        current,
        serial=2040000006,
        records=replaced(current.records, old, replace(old, rdata="203.0.113.9")),
    )
    await estate.serve(current, stale)
    await estate.delegate()
    report = await estate.check()
    assert {
        ("serial-mismatch", "warning", f"ns2.{ZONE}"),
        ("record-mismatch", "error", f"A {STATUS}"),
    } == summary(report)
    mismatch = finding(report, "record-mismatch")
    assert "serial 2040000006 is behind 2040000007" in mismatch.message
    assert (["203.0.113.9"], ["203.0.113.10"]) == (
        mismatch.details["answered"],
        mismatch.details["expected"],
    )
    assert 1 == report.exit_code


async def test_a_record_missing_on_one_nameserver(estate: Estate) -> None:
    """Same serial, but ns2 lacks the DMARC record: only ns2 is blamed."""
    zone = estate.zone()
    holed = replace(zone, records=without(zone.records, f"_dmarc.{ZONE}.", "TXT"))
    await estate.serve(zone, holed)
    await estate.delegate()
    report = await estate.check()
    assert {("record-missing", "error", f"TXT _dmarc.{ZONE}")} == summary(report)
    assert f"ns2.{ZONE}" == finding(report, "record-missing").details["server"]


async def test_dangling_cnames_inside_and_outside_the_zone(estate: Estate) -> None:
    """A CNAME to a name the zone lacks, and one to a pages.dev name that does not exist."""
    await estate.api(
        "POST", json={"type": "CNAME", "name": "docs", "content": f"nothing.{ZONE}", "ttl": 300}
    )
    await estate.api(
        "POST",
        json={"type": "CNAME", "name": "legacy", "content": "gone.pages.dev", "ttl": 300},
    )
    report = await healthy(estate)
    assert {
        ("cname-dangling", "error", f"nothing.{ZONE}"),
        ("cname-dangling", "error", "gone.pages.dev"),
    } == summary(report)


async def test_a_zone_without_caa_is_a_warning(estate: Estate) -> None:
    """No CAA: any CA may issue. A warning, so the exit code stays 0."""
    await estate.api("DELETE", f"/{estate.record_id(ZONE, 'CAA')}")
    report = await healthy(estate)
    assert {("caa-missing", "warning", ZONE)} == summary(report)
    assert 0 == report.exit_code


async def test_caa_that_forbids_the_ca_in_use(estate: Estate) -> None:
    """The zone allows only Let's Encrypt; certificates come from Google Trust Services."""
    zone = estate.zone()
    await estate.serve(zone, zone)
    await estate.delegate()
    report = await estate.check(cas=("pki.goog",))
    assert {("caa-forbids-ca", "error", ZONE)} == summary(report)
    assert "pki.goog" == finding(report, "caa-forbids-ca").details["ca"]


async def test_caa_allowing_no_cloudflare_ca(estate: Estate) -> None:
    """Without --ca, a CAA that allows none of Cloudflare's CAs blocks edge certificates."""
    await estate.api("DELETE", f"/{estate.record_id(ZONE, 'CAA')}")
    await estate.cf.dns.import_bind(
        estate.zone_id, f'{ZONE}. 3600 IN CAA 0 issue "example-ca.test"'
    )
    await estate.refresh()
    report = await healthy(estate)
    assert {("caa-forbids-ca", "error", ZONE)} == summary(report)


async def test_a_parent_delegating_elsewhere(estate: Estate) -> None:
    """The parent names ns3, which the zone does not list, and forgets ns2."""
    zone = estate.zone()
    await estate.serve(zone, zone)
    await estate.delegate({f"ns1.{ZONE}": estate.hosts["ns1"], f"ns3.{ZONE}": "127.0.0.1"})
    report = await estate.check()
    assert {
        ("delegation-mismatch", "error", ZONE),
        ("nameserver-not-delegated", "warning", f"ns2.{ZONE}"),
    } == summary(report)
    assert [f"ns1.{ZONE}.", f"ns3.{ZONE}."] == finding(report, "delegation-mismatch").details[
        "parent"
    ]


async def test_glue_pointing_at_the_wrong_address(estate: Estate) -> None:
    """The parent's glue for ns2 is an old address: resolvers cannot reach ns2."""
    zone = estate.zone()
    await estate.serve(zone, zone)
    await estate.delegate({f"ns1.{ZONE}": estate.hosts["ns1"], f"ns2.{ZONE}": "127.0.0.1"})
    report = await estate.check()
    assert {("glue-mismatch", "error", f"ns2.{ZONE}")} == summary(report)


async def test_no_delegation_at_all(estate: Estate) -> None:
    """The parent does not know the zone."""
    zone = estate.zone()
    await estate.serve(zone, zone)
    await estate.delegate({})
    report = await estate.check()
    assert {("delegation-missing", "error", ZONE)} == summary(report)


async def test_a_signed_zone_with_the_right_ds_is_clean(estate: Estate) -> None:
    """knot signs the zone; the parent publishes its DS: nothing to report."""
    signed = estate.zone(nameservers=("ns1",), dnssec=True)
    await estate.serve(signed)
    ds = await estate.servers["ns1"].ds(ZONE)
    await estate.delegate(ds=ds)
    report = await estate.check()
    assert set() == summary(report)


async def test_a_ds_that_matches_no_dnskey(estate: Estate) -> None:
    """The parent still has the DS of a key the zone no longer uses: the zone is bogus."""
    signed = estate.zone(nameservers=("ns1",), dnssec=True)
    await estate.serve(signed)
    [ds] = await estate.servers["ns1"].ds(ZONE)
    tag, algorithm, digest_type, digest = ds.split(maxsplit=3)
    wrong = f"{tag} {algorithm} {digest_type} {'0' * len(digest.replace(' ', ''))}"
    await estate.delegate(ds=[wrong])
    report = await estate.check()
    assert {("dnssec-ds-mismatch", "error", ZONE)} == summary(report)


async def test_a_ds_for_an_unsigned_zone(estate: Estate) -> None:
    """DNSSEC was turned off in the zone but the DS is still at the parent."""
    signed_elsewhere = estate.zone(nameservers=("ns1",), dnssec=True)
    await estate.serve(signed_elsewhere)
    ds = await estate.servers["ns1"].ds(ZONE)
    await estate.servers["ns1"].stop()
    estate.servers.clear()
    estate.lab.servers.remove(next(s for s in estate.lab.servers if s.name == "ns1"))
    await estate.serve(estate.zone(nameservers=("ns1",)))
    await estate.delegate(ds=ds)
    report = await estate.check()
    assert {("dnssec-ds-without-dnskey", "error", ZONE)} == summary(report)


async def test_a_signed_zone_without_ds_is_unsecured(estate: Estate) -> None:
    """Signed, but the chain of trust stops at the parent: a warning."""
    await estate.serve(estate.zone(nameservers=("ns1",), dnssec=True))
    await estate.delegate()
    report = await estate.check()
    assert {("dnssec-unsecured", "warning", ZONE)} == summary(report)


async def test_ttl_extremes(estate: Estate) -> None:
    """A day-long address TTL in the API, a 5 s TTL served by ns2, and ns1's SOA caching
    negative answers for two days."""
    await estate.api(
        "PATCH",
        f"/{estate.record_id(STATUS, 'A')}",
        json={"type": "A", "name": STATUS, "content": "203.0.113.10", "ttl": 86400},
    )
    zone = estate.zone()
    old = record(zone.records, f"{STATUS}.", "A")
    short_lived = replace(zone, records=replaced(zone.records, old, replace(old, ttl=5)))
    await estate.serve(replace(zone, negative_ttl=172800, soa_ttl=172800), short_lived)
    await estate.delegate()
    report = await estate.check()
    assert {
        ("ttl-high", "warning", f"A {STATUS}"),
        ("ttl-mismatch", "warning", f"A {STATUS}"),
        ("negative-ttl-high", "warning", f"ns1.{ZONE}"),
    } == summary(report)
    assert "very low" in finding(report, "ttl-mismatch").message


async def test_a_nameserver_serving_the_origin_of_a_proxied_name(estate: Estate) -> None:
    """ns2 answers the image origin's own address for the proxied images name."""
    zone = estate.zone()
    name = f"images.{ZONE}."
    leaked = tuple(r for r in zone.records if not (r.name == name and r.type in ("A", "AAAA")))
    leaked += (Rr(name, "A", "198.51.100.20", 300),)
    await estate.serve(zone, replace(zone, records=leaked))
    await estate.delegate()
    report = await estate.check()
    assert {
        ("proxied-exposes-origin", "error", f"A images.{ZONE}"),
        ("proxied-unanswered", "error", f"AAAA images.{ZONE}"),
    } == summary(report)


async def test_a_stopped_nameserver_and_a_lame_one(estate: Estate) -> None:
    """ns1 is down; ns2 runs but does not serve the zone (it answers REFUSED)."""
    zone = estate.zone()
    await estate.serve(zone, replace(zone, name="other.test"))
    await estate.servers["ns1"].stop()
    await estate.delegate()
    report = await estate.check()
    assert {
        ("nameserver-unreachable", "error", f"ns1.{ZONE}"),
        ("nameserver-lame", "error", f"ns2.{ZONE}"),
        ("zone-unserved", "error", ZONE),
    } == summary(report)


async def test_the_command_passes_a_clean_zone_and_fails_a_broken_one(
    estate: Estate, tmp_path: object
) -> None:
    """The CI contract: exit 0 and a JSON report when clean, 1 with the findings when not."""
    from pathlib import Path

    env = cli_env(estate.sim, Path(str(tmp_path)))
    zone = estate.zone()
    holed = replace(zone, records=without(zone.records, f"{STATUS}.", "A"))
    await estate.serve(zone, zone)
    await estate.delegate()
    code, out, err = await run_cli(env, *estate.cli_args("--json"))
    assert (0, "") == (code, err)
    document = json.loads(out)
    assert (True, {"error": 0, "warning": 0, "info": 0}) == (document["ok"], document["summary"])
    await estate.servers["ns2"].replace(holed)
    code, out, _ = await run_cli(env, *estate.cli_args())
    assert 1 == code
    assert f"dns check {ZONE}: FAILED" in out
    assert f"record-missing               A {STATUS}" in out


async def test_the_command_refuses_bad_input_with_exit_2(estate: Estate, tmp_path: object) -> None:
    """A zone the account lacks, or a malformed address, is bad input: exit 2, no traceback."""
    from pathlib import Path

    env = cli_env(estate.sim, Path(str(tmp_path)))
    code, _, err = await run_cli(env, "dns", "check", "unknown.example", "--timeout", "1s")
    assert 2 == code
    assert "no zone 'unknown.example'" in err
    code, _, err = await run_cli(env, "dns", "check", ZONE, "--nameserver", "not an address")
    assert 2 == code
    assert "is not a DNS server address" in err
    assert "Traceback" not in err


async def test_the_parent_is_found_through_a_resolver(estate: Estate) -> None:
    """Without --parent: the enclosing zone's nameserver is looked up (NS, then its address)."""
    parent = await estate.lab.knot(
        [
            ZoneData("app", nameservers=("a.nic",), glue={"a.nic": "127.0.0.1"}).delegate(
                ZONE, {f"ns1.{ZONE}": estate.hosts["ns1"]}
            )
        ],
        name="parent",
    )
    resolver = await estate.lab.unbound({"app": [parent]}, name="app-resolver")
    found = await find_parent(ZONE, [ServerAddress(resolver.host, resolver.port)], 1.0)
    assert ServerAddress("127.0.0.1", 53) == found


async def test_no_parent_found_is_reported_not_raised(estate: Estate) -> None:
    """A resolver that knows nothing of the parent: the check says so and goes on."""
    zone = estate.zone()
    await estate.serve(zone, zone)
    report = await estate.check(parent=None)
    [parent] = report.findings
    assert ("parent-unreachable", "warning") == (parent.check, parent.severity)
    assert "give one with --parent" in parent.message
