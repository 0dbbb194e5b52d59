"""Asking one DNS server one question, and reading its answer as comparable values.

dnspython builds and parses the messages; the UDP exchange is our own so that a server that
is not listening is told apart from one that is silent: the socket is *connected*, so the
ICMP "port unreachable" the kernel receives surfaces as ``ConnectionRefusedError``
(:attr:`QueryError.kind` ``unreachable``, at once) instead of a wait for the timeout. The
query is sent again once half the timeout has passed (one lost datagram is not an outage),
and a truncated answer is asked again over TCP.

Values are compared in a canonical text form (:func:`canonical_text`): names lower-cased and
absolute, addresses in their shortest form, and TXT strings joined, because where a TXT value
is split into 255-byte strings is not part of its meaning.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.SOA import SOA

from probes.propagation import Answer

QueryErrorKind = Literal["timeout", "unreachable", "malformed"]
EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 size: no IP fragmentation


class QueryError(Exception):
    """A question that got no usable answer: ``timeout``, ``unreachable`` or ``malformed``."""

    def __init__(self, kind: QueryErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind: QueryErrorKind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """Where a DNS server listens: an IP literal or a host name, and a port."""

    host: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> ServerAddress:
        """Read ``192.0.2.1``, ``192.0.2.1:5353``, ``2001:db8::1``, ``[2001:db8::1]:5353``,
        ``ns1.example.net`` or ``ns1.example.net:5353``.

        Raises ``ValueError`` with the accepted forms for anything else.
        """
        value = text.strip()
        host, port = value, 53
        if value.startswith("["):
            inner, sep, rest = value[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(_bad_address(text))
            host = inner
            if rest:
                port = _port(rest[1:], text)
        elif value.count(":") == 1:
            host, _, port_text = value.partition(":")
            port = _port(port_text, text)
        if not host or not (_is_ip(host) or _is_hostname(host)):
            raise ValueError(_bad_address(text))
        if value.startswith("[") and not _is_ip(host):
            raise ValueError(_bad_address(text))
        return cls(host=host, port=port)

    @property
    def is_ip(self) -> bool:
        """Whether :attr:`host` is an IP literal (else a name to resolve first)."""
        return _is_ip(self.host)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 53 else f"{host}:{self.port}"


def _bad_address(text: str) -> str:
    return (
        f"{text!r} is not a DNS server address: write an IP or a host name, optionally with a "
        "port, e.g. 192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:5353 or ns1.example.net"
    )


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(_bad_address(whole))
    return int(text)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_hostname(text: str) -> bool:
    labels = text.removesuffix(".").split(".")
    return (
        all(
            0 < len(label) < 64 and label.replace("-", "").replace("_", "").isalnum()
            for label in labels
        )
        and not text.replace(".", "").isdigit()
    )


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer and how long it took (milliseconds, from first send to receipt)."""

    message: dns.message.Message
    rtt_ms: float


class _Exchange(asyncio.DatagramProtocol):
    """One UDP question on a connected socket; resolves with the first matching answer."""

    def __init__(self, query: dns.message.Message) -> None:
        self.query = query
        self.answer: asyncio.Future[dns.message.Message] = (
            asyncio.get_running_loop().create_future()
        )

    def datagram_received(self, data: bytes, addr: object) -> None:
        try:
            message = dns.message.from_wire(data, ignore_trailing=True)
        except dns.exception.DNSException:
            return  # a stray or mangled datagram: keep waiting for the real answer
        if self.query.is_response(message) and not self.answer.done():
            self.answer.set_result(message)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc or ConnectionError("socket closed"))


def make_query(qname: str, qtype: str, *, recurse: bool) -> dns.message.Message:
    """A question with EDNS (1232-byte payload); RD set only when asking a resolver."""
    query = dns.message.make_query(qname, qtype, use_edns=0, payload=EDNS_PAYLOAD)
    if not recurse:
        query.flags &= ~dns.flags.RD
    return query


async def ask(
    server: ServerAddress, qname: str, qtype: str, *, recurse: bool, timeout_s: float
) -> Reply:
    """Ask ``server`` for ``qname``/``qtype`` and return its answer (any rcode).

    ``server.host`` must be an IP literal. Raises :class:`QueryError`.
    """
    query = make_query(qname, qtype, recurse=recurse)
    started = time.monotonic()
    deadline = started + timeout_s
    message = await _udp(server, query, timeout_s)
    if message.flags & dns.flags.TC:
        message = await _tcp(server, query, max(0.05, deadline - time.monotonic()))
    return Reply(message, (time.monotonic() - started) * 1000.0)


async def _udp(
    server: ServerAddress, query: dns.message.Message, timeout_s: float
) -> dns.message.Message:
    loop = asyncio.get_running_loop()
    wire = query.to_wire()
    try:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Exchange(query), remote_addr=(server.host, server.port)
        )
    except OSError as err:
        raise QueryError("unreachable", f"cannot send to {server}: {err.strerror or err}") from err
    try:
        transport.sendto(wire)
        done, _ = await asyncio.wait({protocol.answer}, timeout=timeout_s / 2)
        if not done:
            transport.sendto(wire)
            done, _ = await asyncio.wait({protocol.answer}, timeout=timeout_s / 2)
        if not done:
            raise QueryError("timeout", f"no answer from {server} within {timeout_s:.3g} s")
        return protocol.answer.result()
    except ConnectionRefusedError as err:
        raise QueryError("unreachable", f"nothing listens at {server} (port unreachable)") from err
    except OSError as err:
        raise QueryError("unreachable", f"{server}: {err.strerror or err}") from err
    finally:
        transport.close()
        if not protocol.answer.done():
            protocol.answer.cancel()


async def _tcp(
    server: ServerAddress, query: dns.message.Message, timeout_s: float
) -> dns.message.Message:
    import dns.asyncquery  # the TCP retry of a truncated answer: rare, so loaded on first use

    try:
        return await dns.asyncquery.tcp(query, server.host, timeout=timeout_s, port=server.port)
    except dns.exception.Timeout as err:
        detail = f"no TCP answer from {server} within {timeout_s:.3g} s"
        raise QueryError("timeout", detail) from err
    except OSError as err:
        raise QueryError("unreachable", f"TCP to {server}: {err.strerror or err}") from err
    except dns.exception.DNSException as err:
        raise QueryError("malformed", f"bad TCP answer from {server}: {err}") from err


def _escape(data: bytes) -> str:
    out: list[str] = []
    for byte in data:
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


_TXT_TYPES = frozenset({dns.rdatatype.TXT, dns.rdatatype.SPF})


def canonical_text(rdata: dns.rdata.Rdata) -> str:
    """One record value in a form where equal meaning means equal text.

    Names lower-cased and absolute (the RFC 4034 canonical form), TXT strings joined into one
    quoted string.
    """
    if rdata.rdtype in _TXT_TYPES:
        strings: Iterable[bytes] = getattr(rdata, "strings", ())
        return _escape(b"".join(strings))
    wire = rdata.to_digestable(dns.name.root)
    return dns.rdata.from_wire(rdata.rdclass, rdata.rdtype, wire, 0, len(wire)).to_text()


def parse_value(rdtype: str, text: str) -> str:
    """The canonical text of a value written in presentation format (names may be relative to
    the root, as Cloudflare's API writes them). Raises ``ValueError`` if it does not parse."""
    try:
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text, origin=dns.name.root
        )
    except (dns.exception.DNSException, ValueError) as err:
        raise ValueError(f"{rdtype} value {text!r} does not parse: {err}") from err
    return canonical_text(rdata)


def txt_value(content: str) -> str:
    """The canonical text of a TXT value given as Cloudflare content (quoted or not)."""
    stripped = content.strip()
    if len(stripped) >= 2 and stripped.startswith('"') and stripped.endswith('"'):
        try:
            return parse_value("TXT", stripped)
        except ValueError:
            pass
    return _escape(content.encode("utf-8"))


class BadAnswer(Exception):
    """An answer that does not answer: an error rcode, or not authoritative when it must be."""

    def __init__(self, kind: Literal["refused", "servfail", "lame", "rcode"], detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def read_answer(
    message: dns.message.Message, qname: str, qtype: str, *, authoritative: bool
) -> Answer:
    """The values ``message`` gives for ``qname``/``qtype`` (raises :class:`BadAnswer`)."""
    rcode = message.rcode()
    if rcode == dns.rcode.REFUSED:
        raise BadAnswer("refused", "refused the question")
    if rcode == dns.rcode.SERVFAIL:
        raise BadAnswer("servfail", "answered SERVFAIL")
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise BadAnswer("rcode", f"answered {dns.rcode.to_text(rcode)}")
    name = dns.name.from_text(qname)
    rdtype = dns.rdatatype.from_text(qtype)
    if authoritative and not message.flags & dns.flags.AA:
        # A delegation's NS records come back as a referral, not an authoritative answer.
        for rrset in message.authority:
            if rrset.rdtype == dns.rdatatype.NS and rrset.name == name and rdtype == rrset.rdtype:
                return Answer(frozenset(canonical_text(rd) for rd in rrset), rrset.ttl)
        raise BadAnswer("lame", "answered without authority (lame delegation)")
    if rcode == dns.rcode.NOERROR:
        for rrset in message.answer:
            if rrset.name == name and rrset.rdtype == rdtype:
                return Answer(frozenset(canonical_text(rd) for rd in rrset), rrset.ttl)
    return Answer(frozenset(), _negative_ttl(message))


def _negative_ttl(message: dns.message.Message) -> int | None:
    for rrset in message.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            for rdata in rrset:
                if isinstance(rdata, SOA):
                    return min(rrset.ttl, int(rdata.minimum))
    return None


def read_serial(message: dns.message.Message, zone: str) -> int:
    """The SOA serial in an authoritative answer for the zone apex (raises :class:`BadAnswer`)."""
    read_answer(message, zone, "SOA", authoritative=True)
    name = dns.name.from_text(zone)
    for rrset in message.answer:
        if rrset.name == name and rrset.rdtype == dns.rdatatype.SOA:
            for rdata in rrset:
                if isinstance(rdata, SOA):
                    return int(rdata.serial)
    raise BadAnswer("lame", f"has no SOA record for {zone}")
