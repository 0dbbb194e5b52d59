"""Cloudflare's DNS record rules as pure functions: names, contents, proxying, conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from cfsim.services.dns_rules import (
    RecordError,
    build_filter,
    caa_data_from_content,
    check_conflicts,
    normalize_hostname,
    normalize_name,
    normalize_record,
    proxiable,
    sort_records,
)

ZONE = "example.com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("@", "example.com"),
        ("www", "www.example.com"),
        ("WWW.Example.COM", "www.example.com"),
        ("www.example.com.", "www.example.com"),
        ("a.b", "a.b.example.com"),
        ("*.dev", "*.dev.example.com"),
        ("_dmarc", "_dmarc.example.com"),
        ("bücher", "xn--bcher-kva.example.com"),
    ],
)
def test_names_normalise_to_fqdns_in_the_zone(raw: str, expected: str) -> None:
    """Apex, relative, absolute, wildcard and IDN names become one canonical FQDN."""
    assert normalize_name(raw, ZONE) == expected


@pytest.mark.parametrize(
    "raw", ["www.example.org.", "", "a..b", "-bad", "x" * 64, "a.*.b", "sp ace", "ex.am ple"]
)
def test_invalid_or_foreign_names_are_9000(raw: str) -> None:
    """Absolute names outside the zone and malformed names are refused with 9000."""
    with pytest.raises(RecordError) as caught:
        normalize_name(raw, ZONE)
    assert caught.value.code == 9000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Mail.Example.NET.", "mail.example.net"), ("192.0.2.1", None), ("bad host", None)],
)
def test_hostname_targets(raw: str, expected: str | None) -> None:
    """Hostname targets lose the trailing dot and case; addresses are not hostnames."""
    assert normalize_hostname(raw) == expected


@pytest.mark.parametrize(
    ("rtype", "content", "expected"),
    [
        ("A", "198.51.100.1", True),
        ("A", "192.0.2.1", True),
        ("A", "10.0.0.1", False),
        ("A", "127.0.0.1", False),
        ("AAAA", "100::", True),
        ("AAAA", "fd00::1", False),
        ("CNAME", "x.example.net", True),
        ("TXT", "hello", False),
    ],
)
def test_proxiable_targets(rtype: str, content: str, expected: bool) -> None:
    """Only A/AAAA/CNAME can be proxied, and not to private or local addresses."""
    assert proxiable(rtype, content) is expected


def _fields(**overrides: Any) -> dict[str, Any]:
    return {"type": "A", "name": "www", "content": "198.51.100.1", **overrides}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (_fields(content="1.2.3"), (9005, False)),
        (_fields(type="AAAA"), (9006, False)),
        (_fields(type="CNAME", content="198.51.100.1"), (9007, True)),
        (_fields(type="MX", content="mx.example.net"), (9100, True)),
        (_fields(type="MX", content="198.51.100.1", priority=1), (9009, False)),
        (_fields(ttl=59), (9021, True)),
        (_fields(ttl=86_401), (9021, True)),
        (_fields(ttl=120.5), (9021, True)),
        (_fields(type="TXT", content="x", proxied=True), (9004, True)),
        (_fields(content="192.168.1.1", proxied=True), (9003, False)),
        (_fields(type="SPF"), (9020, True)),
        (_fields(type="TLSA"), (1004, False)),
        (_fields(type="TXT", content="x" * 4081), (1004, False)),
        (_fields(type="CAA", content=None), (1004, False)),
        (_fields(tags=["bad tag"]), (1004, False)),
    ],
)
def test_invalid_records_raise_cloudflares_codes(
    fields: dict[str, Any], expected: tuple[int, bool]
) -> None:
    """Each invalid record raises the code Cloudflare answers, chained under 1004 or not."""
    with pytest.raises(RecordError) as caught:
        normalize_record(ZONE, fields)
    assert (caught.value.code, caught.value.chained) == expected


def test_valid_record_is_canonical() -> None:
    """A valid A record gets its FQDN, default TTL, proxiable flag and empty extras."""
    assert normalize_record(ZONE, _fields(content=" 198.51.100.1 ")) == {
        "type": "A",
        "name": "www.example.com",
        "content": "198.51.100.1",
        "ttl": 1,
        "proxied": False,
        "proxiable": True,
        "priority": None,
        "data": None,
        "comment": None,
        "tags": [],
        "settings": {},
    }


def test_proxied_records_use_automatic_ttl() -> None:
    """A proxied record's TTL is always 1 (automatic), whatever was asked."""
    assert normalize_record(ZONE, _fields(proxied=True, ttl=300))["ttl"] == 1


def test_caa_content_comes_from_data() -> None:
    """CAA content is rendered from data, and parsed back from presentation form."""
    data = {"flags": 0, "tag": "issue", "value": "letsencrypt.org"}
    record = normalize_record(ZONE, {"type": "CAA", "name": "@", "data": data})
    assert (record["content"], caa_data_from_content(record["content"])) == (
        '0 issue "letsencrypt.org"',
        data,
    )


def test_srv_priority_and_content_come_from_data() -> None:
    """SRV priority moves to the record; content is 'weight port target'."""
    data = {"priority": 10, "weight": 5, "port": 5060, "target": "sip.example.net."}
    record = normalize_record(ZONE, {"type": "SRV", "name": "_sip._tcp", "data": data})
    assert (record["priority"], record["content"]) == (10, "5 5060 sip.example.net")


def _stored(rtype: str, name: str, content: str, rid: str = "r1") -> dict[str, Any]:
    return {"id": rid, "type": rtype, "name": name, "content": content, "priority": None}


@pytest.mark.parametrize(
    ("existing", "candidate", "code"),
    [
        (_stored("A", "w.example.com", "198.51.100.1"), ("CNAME", "x.example.net"), 81053),
        (_stored("CNAME", "w.example.com", "x.example.net"), ("CNAME", "y.example.net"), 81053),
        (_stored("CNAME", "w.example.com", "x.example.net"), ("AAAA", "100::"), 81054),
        (_stored("TXT", "w.example.com", "same"), ("TXT", "same"), 81057),
        (_stored("NS", "w.example.com", "ns1.example.net"), ("TXT", "t"), 1004),
    ],
)
def test_conflicting_records_are_refused(
    existing: dict[str, Any], candidate: tuple[str, str], code: int
) -> None:
    """CNAME exclusivity, NS exclusivity and identical records raise Cloudflare's codes."""
    new = {"type": candidate[0], "name": "w.example.com", "content": candidate[1]}
    with pytest.raises(RecordError) as caught:
        check_conflicts([existing], new, None)
    assert caught.value.code == code


def test_cname_may_share_its_name_with_mail_records() -> None:
    """A flattened apex CNAME coexists with MX and TXT, as Cloudflare allows."""
    existing = [_stored("MX", ZONE, "mx.example.net"), _stored("TXT", ZONE, "v=spf1 -all", "r2")]
    check_conflicts(existing, {"type": "CNAME", "name": ZONE, "content": "x.example.net"}, None)


def test_a_record_does_not_conflict_with_itself() -> None:
    """Updating a record excludes it from the conflict check."""
    existing = [_stored("A", "w.example.com", "198.51.100.1")]
    same = {"type": "A", "name": "w.example.com", "content": "198.51.100.1", "priority": None}
    check_conflicts(existing, same, "r1")


RECORDS = [
    {"type": "A", "name": "a.example.com", "content": "198.51.100.1", "proxied": True, "ttl": 1,
     "comment": "web", "tags": ["team:web"]},
    {"type": "TXT", "name": "b.example.com", "content": "hello", "proxied": False, "ttl": 300,
     "comment": None, "tags": []},
    {"type": "MX", "name": "example.com", "content": "mx.example.net", "proxied": False,
     "ttl": 3600, "comment": None, "tags": ["team:mail"]},
]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["a.example.com", "b.example.com", "example.com"]),
        ({"type": "TXT"}, ["b.example.com"]),
        ({"proxied": "true"}, ["a.example.com"]),
        ({"comment.absent": ""}, ["b.example.com", "example.com"]),
        ({"tag.startswith": "team:ma"}, ["example.com"]),
        ({"tag": "team:web", "type": "MX", "match": "any"}, ["a.example.com", "example.com"]),
        ({"tag.present": "team", "tag_match": "all", "type": "A"}, ["a.example.com"]),
        ({"search": "HELLO"}, ["b.example.com"]),
        ({"content.endswith": ".net"}, ["example.com"]),
    ],
)
def test_filters(query: dict[str, str], expected: list[str]) -> None:
    """List filters select as documented; 'match' combines them, tags combine by tag_match."""
    check = build_filter(query, ZONE)
    assert [r["name"] for r in RECORDS if check(r)] == expected


def test_invalid_filter_value_is_refused() -> None:
    """An unknown record type in the filter is a validation error."""
    with pytest.raises(RecordError):
        build_filter({"type": "BOGUS"}, ZONE)


def test_sort_by_ttl_descending() -> None:
    """order=ttl&direction=desc puts the longest TTL first."""
    assert [r["ttl"] for r in sort_records(RECORDS, "ttl", "desc")] == [3600, 300, 1]
