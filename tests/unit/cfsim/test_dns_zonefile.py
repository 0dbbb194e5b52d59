"""BIND zone files: rendering Cloudflare's export and parsing files to import."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cfsim.services.dns_zonefile import ZoneFileError, parse_bind, render_bind

ZONE = "example.com"
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _record(rtype: str, name: str, content: str, **extra: Any) -> dict[str, Any]:
    base = {"type": rtype, "name": name, "content": content, "ttl": 1, "proxied": False,
            "proxiable": rtype in ("A", "AAAA", "CNAME"), "comment": None, "tags": []}  # fmt: skip
    return {**base, **extra}


RECORDS = [
    _record("A", "www.example.com", "198.51.100.1", proxied=True, comment="web", tags=["t:1"]),
    _record("MX", "example.com", "mx.example.net", priority=10, ttl=3600),
    _record("TXT", "example.com", 'say "hi"'),
    _record("TXT", "long.example.com", "x" * 300),
    _record("CAA", "example.com", '0 issue "ca.example"'),
    _record(
        "SRV",
        "_sip._tcp.example.com",
        "5 5060 sip.example.net",
        priority=1,
        data={"priority": 1, "weight": 5, "port": 5060, "target": "sip.example.net"},
    ),
]


def test_export_starts_with_soa_and_cloudflare_ns() -> None:
    """The file opens with the SOA (serial included) and the zone's Cloudflare name servers."""
    text = render_bind(ZONE, ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"], 42, [], WHEN)
    assert (
        "example.com.\t3600\tIN\tSOA\tada.ns.cloudflare.com. dns.cloudflare.com. 42 "
        "10000 2400 604800 3600"
    ) in text
    assert "example.com.\t86400\tIN\tNS\tbob.ns.cloudflare.com." in text


@pytest.mark.parametrize(
    "line",
    [
        "www.example.com.\t1\tIN\tA\t198.51.100.1 ; web cf_tags=cf-proxied:true,t:1",
        "example.com.\t3600\tIN\tMX\t10 mx.example.net.",
        'example.com.\t1\tIN\tTXT\t"say \\"hi\\""',
        'example.com.\t1\tIN\tCAA\t0 issue "ca.example"',
        "_sip._tcp.example.com.\t1\tIN\tSRV\t1 5 5060 sip.example.net.",
    ],
)
def test_export_lines(line: str) -> None:
    """Each record type is written in presentation format, proxy state in cf_tags."""
    assert line in render_bind(ZONE, ["ada.ns.cloudflare.com"], 1, RECORDS, WHEN).splitlines()


def test_long_txt_is_split_into_255_character_strings() -> None:
    """TXT content over 255 characters becomes several quoted strings."""
    text = render_bind(ZONE, ["ada.ns.cloudflare.com"], 1, RECORDS, WHEN)
    assert f'"{"x" * 255}" "{"x" * 45}"' in text


def test_export_parses_back_to_the_same_fields() -> None:
    """parse_bind(render_bind(records)) gives back each record's fields (NS lines aside)."""
    text = render_bind(ZONE, ["ada.ns.cloudflare.com"], 1, RECORDS, WHEN)
    parsed = [p.fields for p in parse_bind(text, ZONE) if p.fields["type"] != "NS"]
    www = next(p for p in parsed if p["type"] == "A")
    txt = {p["content"] for p in parsed if p["type"] == "TXT"}
    srv = next(p for p in parsed if p["type"] == "SRV")
    assert (www["proxied"], www["comment"], www["tags"]) == (True, "web", ["t:1"])
    assert txt == {'say "hi"', "x" * 300}
    assert srv["data"] == {
        "priority": 1,
        "weight": 5,
        "port": 5060,
        "target": "sip.example.net.",
    }


def test_parse_handles_origin_ttl_parentheses_and_blank_owners() -> None:
    """$ORIGIN, $TTL (with units), multi-line parentheses and inherited owners all work."""
    text = """
$ORIGIN example.com.
$TTL 1h
@   IN SOA ns1 hostmaster ( 1 7200 3600
        1209600 3600 )
www     A   198.51.100.7
        AAAA 2001:db8::7   ; same owner
mail 300 IN MX 5 mx1
txt  IN  TXT ( "part one "
               "part two" )
"""
    fields = [p.fields for p in parse_bind(text, ZONE)]
    assert [(f["type"], f["name"], f["ttl"]) for f in fields] == [
        ("A", "www.example.com.", 3600),
        ("AAAA", "www.example.com.", 3600),
        ("MX", "mail.example.com.", 300),
        ("TXT", "txt.example.com.", 3600),
    ]
    assert (fields[1]["comment"], fields[2]["content"], fields[3]["content"]) == (
        "same owner",
        "mx1.example.com.",
        "part one part two",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("www 300 IN HINFO a b\n", "line 1: record type HINFO"),
        ("www 300 IN MX ten mx.\n", "line 1: MX preference"),
        ('www 300 IN TXT "open\n', "line 1: unterminated"),
        ("www 300 IN A ( 198.51.100.1\n", "unbalanced '('"),
        ("  300 IN A 198.51.100.1\n", "line 1: record without an owner"),
        ("$INCLUDE other.zone\n", "line 1: directive $INCLUDE"),
    ],
)
def test_unreadable_files_name_the_line(text: str, message: str) -> None:
    """Files that cannot be read raise ZoneFileError naming the line at fault."""
    with pytest.raises(ZoneFileError, match=message.replace("(", r"\(").replace("$", r"\$")):
        parse_bind(text, ZONE)
