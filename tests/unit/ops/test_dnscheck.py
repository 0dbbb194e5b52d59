"""``dns check``'s judgement, without sockets: observations built by hand, findings expected."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import click
import pytest

from cfapi.dns import DnsRecord
from ops.cli_dns import format_report
from ops.dnscheck import (
    Expectation,
    Observations,
    ParentReport,
    Problem,
    Question,
    Report,
    Rrset,
    ServerReport,
    TargetReport,
    assess,
    cname_targets,
    ds_matches,
    expectations,
    is_cloudflare,
    newest,
    questions,
)
from ops.dnsobserve import parse_nameserver

ZONE = "example.com"
NOW = 1_795_000_000.0
EDGE = frozenset({"104.16.132.229"})
EDGE6 = frozenset({"2606:4700::6810:84e5"})
# RFC 4034 section 5.4 and RFC 4509 section 2.3: a DNSKEY and its SHA-1 and SHA-256 DS.
KEY_OWNER = "dskey.example.com"
DNSKEY = (
    "256 3 5 AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSd"
    "jMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw=="
)
DS = "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"
DS256 = "60485 5 2 D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4469DA50A"
NS = frozenset({"ns1.example.net.", "ns2.example.net."})


def rec(name: str, rtype: str, content: str | None = None, **fields: Any) -> DnsRecord:
    """An API record (``name`` relative to the zone, ``@`` for the apex)."""
    full = ZONE if name == "@" else f"{name}.{ZONE}"
    return DnsRecord(id=f"{rtype}-{name}", name=full, type=rtype, content=content, **fields)


RECORDS = (
    rec("www", "CNAME", "web.pages.dev", proxied=True, ttl=1),
    rec("status", "A", "203.0.113.10", proxied=False, ttl=300),
    rec("@", "MX", "mx.example.net", priority=10, ttl=3600),
    rec("@", "TXT", "v=spf1 -all", ttl=3600),
    rec("@", "CAA", data={"flags": 0, "tag": "issue", "value": "letsencrypt.org"}, ttl=3600),
    rec("@", "NS", "ns1.example.net", ttl=86400),
)


def answers_for(records: tuple[DnsRecord, ...], zone: str = ZONE) -> dict[Question, Rrset]:
    """What a healthy Cloudflare nameserver answers for ``records``."""
    answers: dict[Question, Rrset] = {}
    for question, exp in expectations(records, zone).items():
        edge = EDGE if question.type == "A" else EDGE6
        values = edge if exp.values is None else exp.values
        answers[question] = Rrset(values, min(exp.ttls))
    answers.setdefault(Question(f"{zone}.", "CAA"), Rrset(frozenset(), 3600))
    return answers


def server(label: str = "ns1", **fields: Any) -> ServerReport:
    """A healthy nameserver for RECORDS."""
    values: dict[str, Any] = {
        "label": label,
        "address": f"192.0.2.{1 if label == 'ns1' else 2}:53",
        "host": f"192.0.2.{1 if label == 'ns1' else 2}",
        "serial": 2040000001,
        "negative_ttl": 3600,
        "ns": NS,
        "answers": answers_for(RECORDS),
    }
    values.update(fields)
    return ServerReport(**values)


def obs(**fields: Any) -> Observations:
    """Observations of a healthy zone, with ``fields`` changed."""
    values: dict[str, Any] = {
        "zone": ZONE,
        "now": NOW,
        "records": RECORDS,
        "servers": (server("ns1"), server("ns2")),
        "parent": ParentReport("192.0.2.9:53", ns=NS),
        "targets": {"web.pages.dev.": TargetReport("web.pages.dev.", "resolves")},
    }
    values.update(fields)
    return Observations(**values)


def found(report: Report) -> set[tuple[str, str, str]]:
    """(check, severity, subject) of every finding."""
    return {(f.check, f.severity, f.subject) for f in report.findings}


def with_answer(srv: ServerReport, question: Question, answer: Rrset | Problem) -> ServerReport:
    """``srv`` answering ``question`` with ``answer``."""
    return replace(srv, answers={**srv.answers, question: answer})


# ----------------------------------------------------------------------------- expectations


def test_proxied_names_expect_any_cloudflare_address_for_a_and_aaaa() -> None:
    """A proxied CNAME is answered as Cloudflare's addresses, not as the CNAME."""
    exp = expectations(RECORDS, ZONE)
    www = f"www.{ZONE}."
    assert (None, True) == (exp[Question(www, "A")].values, exp[Question(www, "A")].proxied)
    assert Question(www, "AAAA") in exp
    assert Question(www, "CNAME") not in exp


def test_dns_only_records_expect_their_canonical_values_and_ttls() -> None:
    """MX values carry the priority; names are absolute; TTL 1 means 300."""
    exp = expectations(RECORDS, ZONE)
    mx = exp[Question(f"{ZONE}.", "MX")]
    assert (frozenset({"10 mx.example.net."}), frozenset({3600})) == (mx.values, mx.ttls)
    assert frozenset({300}) == exp[Question(f"www.{ZONE}.", "A")].ttls


def test_the_apex_ns_records_are_cloudflares_and_not_compared() -> None:
    """Cloudflare serves its own NS records at the apex; the API's are not asked."""
    assert Question(f"{ZONE}.", "NS") not in expectations(RECORDS, ZONE)


def test_a_dns_only_apex_cname_is_flattened_to_any_address() -> None:
    """Cloudflare answers the target's addresses for a CNAME at the apex."""
    exp = expectations((rec("@", "CNAME", "web.pages.dev", proxied=False),), ZONE)
    apex = exp[Question(f"{ZONE}.", "A")]
    assert (None, False) == (apex.values, apex.proxied)


def test_txt_beside_a_proxied_address_is_compared_exactly() -> None:
    """Only addresses are proxied: a TXT at a proxied name keeps its value."""
    records = (rec("@", "A", "198.51.100.1", proxied=True), rec("@", "TXT", "hello"))
    txt = expectations(records, ZONE)[Question(f"{ZONE}.", "TXT")]
    assert isinstance(txt, Expectation)
    assert frozenset({'"hello"'}) == txt.values


def test_questions_always_include_the_apex_caa() -> None:
    """CAA is checked even when the API holds none."""
    assert Question(f"{ZONE}.", "CAA") in questions((rec("a", "A", "192.0.2.1"),), ZONE)


def test_cname_targets_list_their_sources() -> None:
    """A target is resolved once, whoever points at it."""
    records = (rec("a", "CNAME", "t.example.net"), rec("b", "CNAME", "T.example.net."))
    assert {"t.example.net.": (f"a.{ZONE}", f"b.{ZONE}")} == cname_targets(records, ZONE)


# ----------------------------------------------------------------------------- whole reports


def test_a_healthy_zone_has_no_findings() -> None:
    """The baseline every other test changes one thing in."""
    report = assess(obs())
    assert (set(), 0) == (found(report), report.exit_code)


def test_an_unreachable_nameserver_is_an_error_and_not_asked_more() -> None:
    """One finding for the server, not one per record it could not answer."""
    down = ServerReport("ns2", "192.0.2.2:53", "192.0.2.2", Problem("timeout", "no answer"))
    report = assess(obs(servers=(server("ns1"), down)))
    assert {("nameserver-unreachable", "error", "ns2")} == found(report)


def test_a_refusing_nameserver_is_lame() -> None:
    """REFUSED for its own zone means the server does not serve it."""
    lame = ServerReport("ns2", "192.0.2.2:53", "192.0.2.2", Problem("refused", "refused"))
    assert {("nameserver-lame", "error", "ns2")} == found(assess(obs(servers=(server(), lame))))


def test_a_zone_nobody_serves() -> None:
    """With every nameserver down, the zone does not resolve at all."""
    down = ServerReport("ns1", "192.0.2.1:53", "192.0.2.1", Problem("unreachable", "gone"))
    assert ("zone-unserved", "error", ZONE) in found(assess(obs(servers=(down,))))


def test_serials_compare_in_rfc_1982_arithmetic() -> None:
    """After a wrap, 5 is newer than 4294967295: the old server is the one blamed."""
    report = assess(obs(servers=(server("ns1", serial=4294967295), server("ns2", serial=5))))
    assert {("serial-mismatch", "warning", "ns1")} == found(report)
    assert 5 == newest([4294967295, 5])


def test_a_stale_record_names_the_lagging_serial() -> None:
    """The mismatch says why: this server is behind."""
    question = Question(f"status.{ZONE}.", "A")
    ns2 = with_answer(
        server("ns2", serial=2040000000), question, Rrset(frozenset({"1.2.3.4"}), 300)
    )
    report = assess(obs(servers=(server("ns1"), ns2)))
    assert {
        ("serial-mismatch", "warning", "ns2"),
        ("record-mismatch", "error", f"A status.{ZONE}"),
    } == found(report)
    mismatch = next(f for f in report.findings if f.check == "record-mismatch")
    assert "its serial 2040000000 is behind 2040000001" in mismatch.message


def test_a_missing_record() -> None:
    """No data where the API holds a record."""
    question = Question(f"{ZONE}.", "TXT")
    ns2 = with_answer(server("ns2"), question, Rrset(frozenset(), 3600))
    assert {("record-missing", "error", f"TXT {ZONE}")} == found(
        assess(obs(servers=(server(), ns2)))
    )


def test_a_failed_question_is_reported_with_the_server() -> None:
    """SERVFAIL for one record, though the SOA was fine."""
    question = Question(f"{ZONE}.", "MX")
    ns1 = with_answer(server(), question, Problem("servfail", "answered SERVFAIL"))
    assert {("record-unanswered", "error", f"MX {ZONE}")} == found(
        assess(obs(servers=(ns1, server("ns2"))))
    )


def test_a_proxied_name_answering_an_origin_address() -> None:
    """The origin behind the proxy must never be what DNS answers."""
    question = Question(f"www.{ZONE}.", "A")
    ns1 = with_answer(server(), question, Rrset(frozenset({"198.51.100.7"}), 300))
    assert {("proxied-exposes-origin", "error", f"A www.{ZONE}")} == found(
        assess(obs(servers=(ns1, server("ns2"))))
    )


def test_a_proxied_name_answering_nothing() -> None:
    """Cloudflare answers both families for proxied names."""
    question = Question(f"www.{ZONE}.", "AAAA")
    ns1 = with_answer(server(), question, Rrset(frozenset(), 300))
    assert {("proxied-unanswered", "error", f"AAAA www.{ZONE}")} == found(
        assess(obs(servers=(ns1, server("ns2"))))
    )


def test_cloudflare_caa_records_beside_the_zones_are_expected() -> None:
    """Cloudflare adds CAA records for its own CAs; only other extras are mismatches."""
    question = Question(f"{ZONE}.", "CAA")
    mine = '0 issue "letsencrypt.org"'
    added = frozenset({mine, '0 issue "pki.goog"', '0 issuewild "ssl.com"'})
    ns1 = with_answer(server(), question, Rrset(added, 3600))
    assert set() == found(assess(obs(servers=(ns1, server("ns2")))))
    foreign = with_answer(server(), question, Rrset(frozenset({mine, '0 issue "x.test"'}), 3600))
    assert {("record-mismatch", "error", f"CAA {ZONE}")} == found(
        assess(obs(servers=(foreign, server("ns2"))))
    )


def test_ttl_served_differently_is_a_warning() -> None:
    """Caches keep what is served; the API's TTL is what was meant."""
    question = Question(f"status.{ZONE}.", "A")
    ns1 = with_answer(server(), question, Rrset(frozenset({"203.0.113.10"}), 5))
    report = assess(obs(servers=(ns1, server("ns2"))))
    assert {("ttl-mismatch", "warning", f"A status.{ZONE}")} == found(report)
    assert 0 == report.exit_code


def test_day_long_address_ttls_and_negative_caching() -> None:
    """A one-day TTL on an address and two days of negative caching are both warnings."""
    records = (*RECORDS, rec("old", "A", "192.0.2.5", ttl=86400))
    servers = (
        server("ns1", answers=answers_for(records), negative_ttl=172800),
        server("ns2", answers=answers_for(records)),
    )
    assert {
        ("ttl-high", "warning", f"A old.{ZONE}"),
        ("negative-ttl-high", "warning", "ns1"),
    } == found(assess(obs(records=records, servers=servers)))


# ----------------------------------------------------------------------------- CAA


def _caa(value: str) -> tuple[DnsRecord, ...]:
    flags, tag, domain = value.split(" ", 2)
    data = {"flags": int(flags), "tag": tag, "value": domain.strip('"')}
    return (*RECORDS[:4], rec("@", "CAA", data=data, ttl=3600))


def test_no_caa_is_a_warning() -> None:
    """Any CA may issue: worth fixing, not an outage."""
    records = RECORDS[:4]
    servers = tuple(server(n, answers=answers_for(records)) for n in ("ns1", "ns2"))
    assert {("caa-missing", "warning", ZONE)} == found(
        assess(obs(records=records, servers=servers))
    )


@pytest.mark.parametrize(
    ("caa", "cas", "ok"),
    [
        ('0 issue "letsencrypt.org"', (), True),
        ('0 issue "letsencrypt.org"', ("letsencrypt.org",), True),
        ('0 issue "letsencrypt.org"', ("pki.goog",), False),
        ('0 issue ";"', (), False),
        ('0 iodef "mailto:sec@example.com"', ("pki.goog",), True),
        ('0 issue "example-ca.test"', (), False),
    ],
)
def test_caa_against_the_ca_in_use(caa: str, cas: tuple[str, ...], ok: bool) -> None:
    """issue ';' forbids every CA; without any issue property every CA may issue."""
    records = _caa(caa)
    servers = tuple(server(n, answers=answers_for(records)) for n in ("ns1", "ns2"))
    report = assess(obs(records=records, servers=servers, cas=cas))
    assert ok == (not any(f.check == "caa-forbids-ca" for f in report.findings))


# ----------------------------------------------------------------------------- CNAME targets


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("resolves", set()),
        ("nxdomain", {("cname-dangling", "error", "web.pages.dev")}),
        ("nodata", {("cname-target-no-address", "warning", "web.pages.dev")}),
        ("unverified", {("cname-target-unverified", "info", "web.pages.dev")}),
    ],
)
def test_cname_target_outcomes(outcome: str, expected: set[tuple[str, str, str]]) -> None:
    """Dangling is an error (takeover risk), no address a warning, unknown a note."""
    target = TargetReport("web.pages.dev.", outcome, "detail")  # type: ignore[arg-type]
    assert expected == found(assess(obs(targets={"web.pages.dev.": target})))


def test_a_dangling_target_behind_the_proxy_mentions_1016() -> None:
    """Proxied, the visitor sees Cloudflare's Origin DNS error."""
    target = TargetReport("web.pages.dev.", "nxdomain", "NXDOMAIN")
    report = assess(obs(targets={"web.pages.dev.": target}))
    assert "Error 1016" in report.findings[0].message


# ----------------------------------------------------------------------------- proxy sanity


def _with(*extra: DnsRecord) -> Observations:
    records = (*RECORDS, *extra)
    servers = tuple(server(n, answers=answers_for(records)) for n in ("ns1", "ns2"))
    return obs(records=records, servers=servers)


def test_mixed_proxied_and_dns_only_addresses_on_one_name() -> None:
    """Cloudflare proxies all of them; the API says otherwise."""
    report = assess(
        _with(rec("app", "A", "198.51.100.1", proxied=True), rec("app", "A", "198.51.100.2"))
    )
    assert ("proxy-mixed", "warning", f"app.{ZONE}") in found(report)


def test_a_dns_only_record_revealing_a_proxied_origin() -> None:
    """direct.example.com answers what app.example.com hides behind the proxy."""
    report = assess(
        _with(rec("app", "A", "198.51.100.1", proxied=True), rec("direct", "A", "198.51.100.1"))
    )
    assert {("origin-exposed", "warning", f"direct.{ZONE}")} == found(report)


def test_a_dns_only_record_pointing_at_cloudflare() -> None:
    """It was probably meant to be proxied."""
    report = assess(_with(rec("copy", "A", "104.16.132.229")))
    assert {("dns-only-cloudflare-address", "warning", f"copy.{ZONE}")} == found(report)


def test_a_proxied_record_to_a_private_address() -> None:
    """Cloudflare's edge cannot reach 10.0.0.5; 100:: is the documented originless value."""
    report = assess(
        _with(rec("lan", "A", "10.0.0.5", proxied=True), rec("api", "AAAA", "100::", proxied=True))
    )
    assert {("proxied-private-origin", "error", f"lan.{ZONE}")} == found(report)


def test_cloudflare_ranges() -> None:
    """Published ranges of both families; documentation addresses are not Cloudflare's."""
    assert is_cloudflare("104.16.132.229")
    assert is_cloudflare("2606:4700::6810:84e5")
    assert not is_cloudflare("198.51.100.20")
    assert not is_cloudflare("not-an-ip")


# ----------------------------------------------------------------------------- delegation


def test_no_delegation() -> None:
    """The parent does not know the zone."""
    report = assess(obs(parent=ParentReport("192.0.2.9:53", missing=True)))
    assert {("delegation-missing", "error", ZONE)} == found(report)


def test_parent_and_zone_disagree_on_nameservers() -> None:
    """Resolvers may pick either set."""
    parent = ParentReport("192.0.2.9:53", ns=frozenset({"ns1.example.net.", "ns9.example.net."}))
    assert {("delegation-mismatch", "error", ZONE)} == found(assess(obs(parent=parent)))


def test_checked_at_cloudflares_assigned_nameservers_the_delegation_must_name_them() -> None:
    """A zone added to Cloudflare but still delegated elsewhere."""
    report = assess(
        obs(at_assigned=True, assigned_ns=("ada.ns.cloudflare.com", "bob.ns.cloudflare.com"))
    )
    assert {("delegation-not-cloudflare", "error", ZONE)} == found(report)


def test_glue_for_in_zone_nameservers() -> None:
    """In-zone nameservers need glue, and it must point at them."""
    ns = frozenset({f"ns1.{ZONE}.", f"ns2.{ZONE}."})
    parent = ParentReport("192.0.2.9:53", ns=ns, glue={f"ns1.{ZONE}.": frozenset({"192.0.2.99"})})
    servers = (server("ns1", ns=ns), server("ns2", ns=ns))
    named = {f"ns1.{ZONE}.": "192.0.2.1", f"ns2.{ZONE}.": "192.0.2.2"}
    report = assess(obs(parent=parent, servers=servers, named=named))
    assert {
        ("glue-mismatch", "error", f"ns1.{ZONE}"),
        ("glue-missing", "error", f"ns2.{ZONE}"),
    } == found(report)


def test_an_unreachable_parent_is_a_warning() -> None:
    """The zone may be fine; the delegation just could not be seen."""
    parent = ParentReport("192.0.2.9:53", problem=Problem("timeout", "no answer"))
    assert {("parent-unreachable", "warning", "192.0.2.9:53")} == found(assess(obs(parent=parent)))


def test_nameservers_that_disagree_on_the_apex_ns_set() -> None:
    """The odd one out is named."""
    odd = server("ns2", ns=frozenset({"ns1.example.net."}))
    assert ("ns-inconsistent", "warning", "ns2") in found(assess(obs(servers=(server(), odd))))


# ----------------------------------------------------------------------------- DNSSEC


def test_ds_matches_the_rfc_4034_example() -> None:
    """The digest of the example key is the example DS; another digest is not."""
    assert ds_matches(KEY_OWNER, DS, [DNSKEY])
    assert ds_matches(KEY_OWNER, DS256, [DNSKEY])
    assert not ds_matches(KEY_OWNER, DS.replace("2BB1", "0000"), [DNSKEY])
    assert not ds_matches("other.example.com", DS, [DNSKEY])
    assert not ds_matches(KEY_OWNER, "not a ds", [DNSKEY])


def _signed(ds: frozenset[str], keys: frozenset[str] = frozenset({DNSKEY}), **srv: Any) -> Report:
    servers = (server("ns1", dnskeys=keys, **srv), server("ns2", dnskeys=keys, **srv))
    return assess(obs(zone=KEY_OWNER, servers=servers, parent=ParentReport("p:53", ns=NS, ds=ds)))


def test_a_matching_ds() -> None:
    """Signed and secured: nothing to report about DNSSEC."""
    assert not [f for f in _signed(frozenset({DS})).findings if f.check.startswith("dnssec")]


def test_dnssec_faults() -> None:
    """Mismatch and DS-without-DNSKEY break resolution; stale DS and no DS are warnings."""
    checks = [
        {f.check for f in r.findings if f.check.startswith("dnssec")}
        for r in (
            _signed(frozenset({DS.replace("2BB1", "0000")})),
            _signed(frozenset({DS}), keys=frozenset()),
            _signed(frozenset({DS, DS.replace("2BB1", "0000")})),
            _signed(frozenset()),
        )
    ]
    assert [
        {"dnssec-ds-mismatch"},
        {"dnssec-ds-without-dnskey"},
        {"dnssec-ds-stale"},
        {"dnssec-unsecured"},
    ] == checks


def test_signature_expiry() -> None:
    """Expired signatures fail validation; nearly expired ones warn."""
    expired = _signed(frozenset({DS}), signature_expiry=NOW - 60)
    soon = _signed(frozenset({DS}), signature_expiry=NOW + 3600)
    assert "dnssec-signature-expired" in {f.check for f in expired.findings}
    assert "dnssec-signature-expiring" in {f.check for f in soon.findings}


def test_nameservers_with_different_dnskeys() -> None:
    """Two signers: resolvers get signatures the other keys cannot verify."""
    servers = (server("ns1", dnskeys=frozenset({DNSKEY})), server("ns2", dnskeys=frozenset()))
    report = assess(obs(servers=servers, parent=None))
    assert ("dnssec-dnskey-inconsistent", "warning", "ns2") in found(report)


# ----------------------------------------------------------------------------- reports


def test_errors_come_first_and_set_the_exit_code() -> None:
    """Worst first; an error makes the check fail for CI, warnings alone do not."""
    question = Question(f"{ZONE}.", "TXT")
    ns2 = with_answer(server("ns2", serial=2040000000), question, Rrset(frozenset(), 3600))
    report = assess(obs(servers=(server(), ns2)))
    assert ["error", "warning"] == [f.severity for f in report.findings]
    assert 1 == report.exit_code
    data = report.to_dict()
    assert ({"error": 1, "warning": 1, "info": 0}, False) == (data["summary"], data["ok"])


def test_the_text_report_names_what_was_checked() -> None:
    """The header says the verdict and the scope; each finding has its fix."""
    question = Question(f"{ZONE}.", "TXT")
    ns2 = with_answer(server("ns2"), question, Rrset(frozenset(), 3600))
    text = click.unstyle(format_report(assess(obs(servers=(server(), ns2)))))
    assert text.startswith(f"dns check {ZONE}: FAILED — 1 error, 0 warnings, 0 notes")
    assert "fix: The nameserver does not serve the record" in text


@pytest.mark.parametrize(
    ("text", "name", "address"),
    [
        ("192.0.2.53", None, "192.0.2.53"),
        ("ns1.example.com=192.0.2.53:5353", "ns1.example.com.", "192.0.2.53:5353"),
        ("NS1.Example.com.=[2001:db8::53]:5353", "ns1.example.com.", "[2001:db8::53]:5353"),
    ],
)
def test_nameserver_arguments(text: str, name: str | None, address: str) -> None:
    """ADDR or NAME=ADDR; the name is what the delegation and glue are checked against."""
    parsed_name, parsed = parse_nameserver(text)
    assert (name, address) == (parsed_name, str(parsed))


@pytest.mark.parametrize("text", ["=192.0.2.1", "ns1=", "not an address"])
def test_bad_nameserver_arguments(text: str) -> None:
    """Bad input names the accepted forms."""
    with pytest.raises(ValueError, match=r"192\.0\.2\.53"):
        parse_nameserver(text)
