"""The ``dns`` probe's pure parts: settings, record names, what DNS should answer for the
API's records, and how an assessment becomes a result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from cfapi.dns import DnsRecord
from probes.base import Reason, Status
from probes.dns import DnsProbe, DnsSettings, WatchedRecord, evaluate, expectations, record_key
from probes.propagation import (
    Answer,
    Assessment,
    Expected,
    Failure,
    FailureKind,
    PropagationTracker,
    RecordKey,
    ServerView,
)
from probes.registry import BUILTIN, builtin_registry

ZONE = "spacevision.app"
STATUS = RecordKey(f"status.{ZONE}.", "A")
T0 = 1_800_000_000.0


def settings(**overrides: Any) -> DnsSettings:
    """Valid settings with ``overrides``."""
    config: dict[str, Any] = {"name": "dns", "type": "dns", "zone": ZONE}
    config.update(overrides)
    return DnsSettings.model_validate(config)


def record(**fields: Any) -> DnsRecord:
    """An API record as the list endpoint returns it."""
    base: dict[str, Any] = {"id": "0" * 32, "proxied": False, "ttl": 1}
    base.update(fields)
    base["name"] = base.get("name", ZONE)
    return DnsRecord.model_validate(base)


SEED = [
    record(type="CNAME", name=ZONE, content="spacevision-web.pages.dev", proxied=True),
    record(type="CNAME", name=f"www.{ZONE}", content="spacevision-web.pages.dev", proxied=True),
    record(type="AAAA", name=f"api.{ZONE}", content="100::", proxied=True),
    record(type="A", name=f"status.{ZONE}", content="203.0.113.10", ttl=300),
    record(type="MX", content="aspmx.l.google.com", priority=1, ttl=3600),
    record(type="MX", content="alt1.aspmx.l.google.com", priority=5, ttl=3600),
    record(type="TXT", content="v=spf1 include:_spf.google.com ~all", ttl=3600),
    record(
        type="CAA",
        content='0 issue "letsencrypt.org"',
        data={"flags": 0, "tag": "issue", "value": "letsencrypt.org"},
    ),
]


def test_the_probe_type_is_registered_and_publishes_the_rule_contract() -> None:
    """Rule packs read propagation_ratio, resolvers and resolvers_current (docs/rules.md);
    every value mapped to a metric must be declared."""
    assert "probes.dns:DnsProbe" == BUILTIN["dns"]
    assert DnsProbe is builtin_registry()["dns"]
    assert {"propagation_ratio", "resolvers", "resolvers_current"} <= DnsProbe.values
    assert set(DnsProbe.metrics) <= DnsProbe.values
    assert all(spec.name.startswith("dns_") for spec in DnsProbe.metrics.values())
    assert {"dns_soa_serial"} <= set(DnsProbe.labelled)


def test_defaults_are_documented_values() -> None:
    """30 min to propagate, a re-run every 15 s meanwhile, 2 s per DNS answer; every record
    of the zone; the zone's own nameservers; no resolvers."""
    s = settings()
    assert (1800.0, 15.0, 2.0) == (s.propagation_deadline, s.propagation_poll, s.query_timeout)
    assert s.records is None
    assert s.nameservers is None
    assert [] == s.resolvers


def test_servers_may_be_written_as_bare_addresses() -> None:
    """``resolvers: [1.1.1.1, "[2606:4700::1111]:53"]`` names each server by its address."""
    s = settings(
        resolvers=["1.1.1.1", "[2606:4700::1111]:53", {"name": "q9", "address": "9.9.9.9"}]
    )
    assert ["1.1.1.1", "[2606:4700::1111]:53", "q9"] == [r.name for r in s.resolvers]
    assert ("2606:4700::1111", 53) == (s.resolvers[1].target.host, s.resolvers[1].target.port)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"resolvers": ["1.1.1.1:99999"]}, "not a DNS server address"),
        ({"resolvers": ["not an address"]}, "not a DNS server address"),
        ({"resolvers": ["1.1.1.1", "1.1.1.1"]}, "resolver names must be unique; repeated: 1.1.1.1"),
        ({"nameservers": []}, "at least 1 item"),
        ({"records": [{"name": "www", "type": "BOGUS"}]}, "not a DNS record type"),
        ({"records": [{"name": "www", "type": "SOA"}]}, "SOA cannot be watched"),
        ({"records": [{"name": "www.example.com.", "type": "A"}]}, "not in zone spacevision.app"),
        ({"propagation_deadline": "soon"}, "not a duration"),
        ({"query_timeout": 0}, "greater than 0"),
        ({"resolver": ["1.1.1.1"]}, "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_say_what_to_write(overrides: dict[str, Any], message: str) -> None:
    """Each mistake is refused with a message naming the fix."""
    with pytest.raises(ValidationError, match=message):
        settings(**overrides)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("www", f"www.{ZONE}."),
        ("@", f"{ZONE}."),
        (ZONE, f"{ZONE}."),
        (f"www.{ZONE}", f"www.{ZONE}."),
        (f"WWW.{ZONE}.", f"www.{ZONE}."),
        ("a.b", f"a.b.{ZONE}."),
    ],
)
def test_record_names_are_relative_or_absolute(name: str, key: str) -> None:
    """``www``, ``@``, ``www.spacevision.app`` and ``www.spacevision.app.`` all work."""
    assert RecordKey(key, "A") == record_key(name, "a", ZONE)


def test_every_record_is_watched_by_default() -> None:
    """Without ``records``, each name and type the API holds is one watched record set."""
    watch = expectations(SEED, ZONE, None)
    assert 7 == len(watch.expected)
    assert () == watch.notes


def test_dns_only_records_expect_their_exact_values() -> None:
    """Values are compared in canonical form: absolute names, joined TXT strings."""
    expected = expectations(SEED, ZONE, None).expected
    assert Expected("A", frozenset({"203.0.113.10"}), 300) == expected[STATUS]
    assert frozenset({"1 aspmx.l.google.com.", "5 alt1.aspmx.l.google.com."}) == (
        expected[RecordKey(f"{ZONE}.", "MX")].values
    )
    assert frozenset({'"v=spf1 include:_spf.google.com ~all"'}) == (
        expected[RecordKey(f"{ZONE}.", "TXT")].values
    )
    assert frozenset({'0 issue "letsencrypt.org"'}) == expected[RecordKey(f"{ZONE}.", "CAA")].values


def test_proxied_records_expect_any_address() -> None:
    """Cloudflare answers a proxied record with its own addresses, and a proxied CNAME (or the
    flattened apex CNAME) as A records: any address is right, the origin never shows."""
    expected = expectations(SEED, ZONE, None).expected
    assert Expected("A", None, 300) == expected[RecordKey(f"www.{ZONE}.", "CNAME")]
    assert Expected("A", None, 300) == expected[RecordKey(f"{ZONE}.", "CNAME")]
    assert Expected("AAAA", None, 300) == expected[RecordKey(f"api.{ZONE}.", "AAAA")]


def test_quoted_and_unquoted_txt_content_mean_the_same() -> None:
    """Cloudflare's API has given TXT content both ways; a long value may be split."""
    plain = expectations([record(type="TXT", content="a" * 300)], ZONE, None)
    quoted = expectations([record(type="TXT", content=f'"{"a" * 255}" "{"a" * 45}"')], ZONE, None)
    assert plain.expected == quoted.expected


def test_a_watched_record_missing_from_the_api_must_not_exist() -> None:
    """Watching a name the API does not hold expects no answer, and says so."""
    watch = expectations(SEED, ZONE, [WatchedRecord(name="beta", type="A")])
    assert Expected("A", frozenset()) == watch.expected[RecordKey(f"beta.{ZONE}.", "A")]
    assert ("A beta.spacevision.app is not in the API: expecting no answer",) == watch.notes


def test_a_value_that_does_not_parse_is_watched_for_presence() -> None:
    """Better a weaker check than a crash on a record type flarewatch reads differently."""
    watch = expectations([record(type="A", name=f"odd.{ZONE}", content="not-an-ip")], ZONE, None)
    assert watch.expected[RecordKey(f"odd.{ZONE}.", "A")].values is None
    assert "watching for presence only" in watch.notes[0]


def test_changes_are_dated_by_modified_on() -> None:
    """The API's ``modified_on`` dates a change: the newest of the record set."""
    watch = expectations(
        [
            record(type="A", name=f"status.{ZONE}", content="192.0.2.1", modified_on=EARLY),
            record(type="A", name=f"status.{ZONE}", content="192.0.2.2", modified_on=LATE),
        ],
        ZONE,
        None,
    )
    assert datetime(2027, 1, 15, 8, 0, 30, tzinfo=UTC).timestamp() == watch.modified_at[STATUS]


EARLY, LATE = "2027-01-15T08:00:00Z", "2027-01-15T08:00:30.000000Z"


def _assess(
    *,
    ns: list[ServerView],
    resolvers: list[ServerView],
    previous: frozenset[str] | None = None,
    now: float = T0,
    deadline_s: float = 600.0,
) -> Assessment:
    """One observation after, optionally, a run that saw ``previous``."""
    tracker = PropagationTracker(deadline_s)
    expected = {STATUS: Expected("A", frozenset({"192.0.2.2"}), 300)}
    if previous is not None:
        before = {STATUS: Expected("A", previous, 300)}
        tracker.observe(now - 10, before, [ServerView("ns1", {STATUS: Answer(previous, 300)})], [])
    return tracker.observe(now, expected, ns, resolvers)


NEW = frozenset({"192.0.2.2"})
OLD = frozenset({"192.0.2.1"})


def view(name: str, values: frozenset[str], serial: int | None = None) -> ServerView:
    """A server answering ``status`` A with ``values``."""
    return ServerView(name, {STATUS: Answer(values, 300)}, serial=serial)


def test_all_agreeing_is_ok_with_a_summary() -> None:
    """Nothing to report: ok, with the counts and the serial in one line."""
    result = evaluate(
        _assess(ns=[view("ns1", NEW, 7), view("ns2", NEW, 7)], resolvers=[view("r1", NEW)]),
        now=T0,
        records=1,
        poll_s=5,
    )
    assert Status.OK == result.status
    assert result.reason is None
    assert (
        "2/2 nameservers (serial 7) and 1/1 resolvers answer 1 records as the API holds them"
        == result.message
    )
    assert result.rerun_in_s is None
    assert {"dns_soa_serial", "dns_nameserver_current", "dns_resolver_current"} == {
        s.metric for s in result.series
    }


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("timeout", Reason.TIMEOUT),
        ("unreachable", Reason.UNREACHABLE),
        ("unresolved", Reason.UNREACHABLE),
        ("refused", Reason.ASSERTION),
        ("lame", Reason.ASSERTION),
    ],
)
def test_a_nameserver_that_cannot_answer_is_crit(kind: FailureKind, reason: Reason) -> None:
    """A nameserver that cannot be asked is an outage of the zone: crit, with the reason."""
    down = ServerView("ns2", failure=Failure(kind, "detail"))
    result = evaluate(
        _assess(ns=[view("ns1", NEW, 7), down], resolvers=[view("r1", NEW)]),
        now=T0,
        records=1,
    )
    assert Status.CRIT == result.status
    assert reason == result.reason
    assert result.message.startswith("nameserver ns2: detail; ")


def test_a_change_in_flight_is_warn_and_asks_for_a_rerun() -> None:
    """While propagating: warn without a failure reason, the progress in the message, and
    ``rerun_in_s`` so the runner checks again soon."""
    result = evaluate(
        _assess(
            ns=[view("ns1", NEW, 8), view("ns2", OLD, 7)],
            resolvers=[view("r1", NEW), view("r2", OLD)],
            previous=OLD,
        ),
        now=T0,
        records=1,
        poll_s=5,
    )
    assert Status.WARN == result.status
    assert result.reason is None
    assert "nameserver ns2: serial 7 is behind; old answer for A status.spacevision.app" in (
        result.message
    )
    assert "propagating: 1/2 resolvers updated, 0 s since change, TTL 300 s" in result.message
    assert 5 == result.rerun_in_s
    assert 1.0 == result.values["propagating"]


def test_a_nameserver_still_behind_after_the_deadline_is_crit() -> None:
    """Cloudflare's nameservers update in seconds; one still behind at the deadline is broken."""
    tracker = PropagationTracker(60.0)
    expected = {STATUS: Expected("A", NEW, 300)}
    ns = [view("ns1", NEW, 8), view("ns2", OLD, 7)]
    tracker.observe(T0, expected, ns, [])
    assessment = tracker.observe(T0 + 61, expected, ns, [])
    result = evaluate(assessment, now=T0 + 61, records=1)
    assert Status.CRIT == result.status
    assert Reason.ASSERTION == result.reason
    assert (
        "nameserver ns2: serial 7 is behind; old answer for A status.spacevision.app, "
        "61 s after the change" in result.message
    )


def test_an_api_failure_is_reported_with_its_reason() -> None:
    """Checked against the last records read, but the API failure is not hidden."""
    result = evaluate(
        _assess(ns=[view("ns1", NEW, 7)], resolvers=[]),
        now=T0,
        records=1,
        api_problem=(Reason.RATE_LIMITED, "could not read the records from the API (429)"),
    )
    assert Status.WARN == result.status
    assert Reason.RATE_LIMITED == result.reason
    assert result.message.startswith("could not read the records from the API (429); ")
