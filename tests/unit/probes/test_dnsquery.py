"""DNS answers read as comparable values, and server addresses as users write them.

Messages are built in memory; nothing here touches a socket.
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.flags
import dns.message
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from probes.dnsquery import (
    BadAnswer,
    ServerAddress,
    canonical_text,
    make_query,
    parse_value,
    read_answer,
    read_serial,
    txt_value,
)
from probes.propagation import Answer

ZONE = "example.com."
SOA = "ns1.example.com. dns.example.com. 2040000007 10000 2400 604800 60"


Row = tuple[str, str, int, list[str]]
"""An RRset to put in a reply: name, type, TTL, values."""


def reply(
    qname: str,
    qtype: str,
    *,
    answer: Sequence[Row] = (),
    authority: Sequence[Row] = (),
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR,
    aa: bool = True,
) -> dns.message.Message:
    """A response to ``qname``/``qtype`` with the given sections."""
    message = dns.message.make_response(make_query(qname, qtype, recurse=False))
    message.set_rcode(rcode)
    if aa:
        message.flags |= dns.flags.AA
    for section, rows in ((message.answer, answer), (message.authority, authority)):
        for name, rtype, ttl, values in rows:
            section.append(dns.rrset.from_text_list(name, ttl, "IN", rtype, values))
    return message


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("192.0.2.53", "192.0.2.53", 53),
        ("192.0.2.53:5353", "192.0.2.53", 5353),
        ("2001:db8::53", "2001:db8::53", 53),
        ("[2001:db8::53]:5353", "2001:db8::53", 5353),
        ("[2001:db8::53]", "2001:db8::53", 53),
        ("ns1.example.net", "ns1.example.net", 53),
        ("ns1.example.net:8053", "ns1.example.net", 8053),
    ],
)
def test_server_addresses_parse_in_every_usual_form(text: str, host: str, port: int) -> None:
    """IPv4, IPv6 (bracketed with a port), host names; port 53 unless given."""
    address = ServerAddress.parse(text)
    assert (host, port) == (address.host, address.port)


@pytest.mark.parametrize(
    "text", ["", "192.0.2.53:0", "192.0.2.53:65536", "[ns1.example.net]:53", "a b", "1.2.3"]
)
def test_bad_server_addresses_show_the_accepted_forms(text: str) -> None:
    """A typo is refused with examples of what works."""
    with pytest.raises(ValueError, match=r"e\.g\. 192\.0\.2\.53, 192\.0\.2\.53:5353"):
        ServerAddress.parse(text)


def test_server_addresses_print_as_written() -> None:
    """Messages show addresses the way users write them in the config."""
    assert "[2001:db8::53]:5353" == str(ServerAddress.parse("[2001:db8::53]:5353"))
    assert "192.0.2.53" == str(ServerAddress.parse("192.0.2.53:53"))


@pytest.mark.parametrize(
    ("rtype", "left", "right"),
    [
        ("CNAME", "Target.Example.COM.", "target.example.com."),
        ("AAAA", "2001:0db8:0000::0001", "2001:db8::1"),
        ("MX", "10 MX.example.com.", "10 mx.example.com."),
        ("TXT", '"abc" "def"', '"abcdef"'),
        ("CAA", '0 issue "letsencrypt.org"', '0 issue "letsencrypt.org"'),
    ],
)
def test_values_with_the_same_meaning_have_the_same_text(rtype: str, left: str, right: str) -> None:
    """Case of names, address spelling and TXT string splits never make a false change."""
    assert parse_value(rtype, left) == parse_value(rtype, right)


def test_names_in_api_content_are_taken_as_absolute() -> None:
    """Cloudflare writes ``spacevision-web.pages.dev`` without the final dot."""
    assert "spacevision-web.pages.dev." == parse_value("CNAME", "spacevision-web.pages.dev")


def test_txt_content_is_read_quoted_or_not() -> None:
    """Quotes, escapes and non-ASCII bytes survive the round trip."""
    assert '"v=spf1 -all"' == txt_value("v=spf1 -all")
    assert '"v=spf1 -all"' == txt_value('"v=spf1 -all"')
    assert '"say \\"hi\\""' == txt_value('say "hi"')
    assert '"caf\\195\\169"' == txt_value("café")


def test_a_bad_value_names_its_type() -> None:
    """An unparseable API value says which type and value."""
    with pytest.raises(ValueError, match="A value 'not-an-ip' does not parse"):
        parse_value("A", "not-an-ip")


def test_an_answer_gives_its_values_and_ttl() -> None:
    """The RRset of the asked name and type, in canonical text, with its TTL."""
    message = reply(
        "www.example.com.",
        "A",
        answer=[("www.example.com.", "A", 120, ["192.0.2.2", "192.0.2.1"])],
    )
    found = read_answer(message, "www.example.com.", "A", authoritative=True)
    assert Answer(frozenset({"192.0.2.1", "192.0.2.2"}), 120) == found


def test_a_negative_answer_carries_the_negative_ttl() -> None:
    """NXDOMAIN: no values, cached for min(SOA TTL, SOA minimum) — how long a resolver keeps
    saying "no such name" after the record is created."""
    message = reply(
        "new.example.com.",
        "A",
        rcode=dns.rcode.NXDOMAIN,
        authority=[(ZONE, "SOA", 3600, [SOA])],
    )
    assert Answer(frozenset(), 60) == read_answer(
        message, "new.example.com.", "A", authoritative=True
    )


def test_a_cname_is_not_an_address() -> None:
    """Asked for A, a CNAME alone answers no address of that name."""
    message = reply(
        "www.example.com.",
        "A",
        answer=[("www.example.com.", "CNAME", 300, ["web.example.net."])],
    )
    assert frozenset() == read_answer(message, "www.example.com.", "A", authoritative=True).values


@pytest.mark.parametrize(
    ("rcode", "kind"),
    [(dns.rcode.REFUSED, "refused"), (dns.rcode.SERVFAIL, "servfail"), (dns.rcode.NOTIMP, "rcode")],
)
def test_error_rcodes_are_bad_answers(rcode: dns.rcode.Rcode, kind: str) -> None:
    """REFUSED (the server does not serve the zone), SERVFAIL and others are failures."""
    with pytest.raises(BadAnswer) as caught:
        read_answer(
            reply("www.example.com.", "A", rcode=rcode),
            "www.example.com.",
            "A",
            authoritative=False,
        )
    assert kind == caught.value.kind


def test_a_nameserver_without_authority_is_lame() -> None:
    """An authoritative server must set AA; one that does not is a lame delegation."""
    message = reply("www.example.com.", "A", aa=False)
    with pytest.raises(BadAnswer, match="lame delegation"):
        read_answer(message, "www.example.com.", "A", authoritative=True)
    assert frozenset() == read_answer(message, "www.example.com.", "A", authoritative=False).values


def test_a_delegations_ns_records_come_from_the_referral() -> None:
    """NS records of a delegated subdomain are answered as a referral, without AA."""
    message = reply(
        "dev.example.com.",
        "NS",
        aa=False,
        authority=[("dev.example.com.", "NS", 3600, ["ns1.dev.example.net."])],
    )
    found = read_answer(message, "dev.example.com.", "NS", authoritative=True)
    assert Answer(frozenset({"ns1.dev.example.net."}), 3600) == found


def test_the_serial_is_read_from_the_soa() -> None:
    """The zone's SOA serial, or a bad answer when there is none."""
    message = reply(ZONE, "SOA", answer=[(ZONE, "SOA", 3600, [SOA])])
    assert 2040000007 == read_serial(message, ZONE)
    with pytest.raises(BadAnswer, match="no SOA record"):
        read_serial(reply(ZONE, "SOA"), ZONE)


def test_queries_to_nameservers_do_not_ask_for_recursion() -> None:
    """RD is set for resolvers only; both carry EDNS with a 1232-byte payload."""
    assert not make_query(ZONE, "SOA", recurse=False).flags & dns.flags.RD
    query = make_query(ZONE, "A", recurse=True)
    assert query.flags & dns.flags.RD
    assert 1232 == query.payload


def test_canonical_text_lowercases_names_inside_values() -> None:
    """RFC 4034 canonical form: names inside RDATA are compared case-insensitively."""
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.MX, "10 MAIL.Example.com.")
    assert "10 mail.example.com." == canonical_text(rdata)
