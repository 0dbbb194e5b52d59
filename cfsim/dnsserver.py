"""The simulator's DNS: Cloudflare's authoritative nameservers and caching public resolvers.

For the demo and drills, where no real nameserver runs, the simulator answers DNS on loopback:

- :class:`Nameserver` answers for every zone the simulator holds, from its live records (the
  same text as the BIND export, so a change through the API is answered at once, with the new
  SOA serial). Proxied A/AAAA records are answered with Cloudflare anycast addresses, as
  Cloudflare's nameservers do [V: proxied records resolve to Cloudflare IPs]; the exact
  addresses are made up from Cloudflare's published ranges [I].
- :class:`Resolver` is a caching recursive resolver in front of a nameserver: it keeps each
  answer for its TTL, so a changed record reaches it only when the old answer expires. Several
  resolvers with different cache ages make DNS propagation observable.

Both speak UDP only (answers fit: the simulated zones are small). Time is injectable.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

from cfsim.services.dns_zonefile import render_bind

if TYPE_CHECKING:
    from cfsim.state import SimState

PROXIED_A = ("104.21.48.1", "172.67.160.1")
PROXIED_AAAA = ("2606:4700:3030::6815:3001", "2606:4700:3036::ac43:a001")
PROXIED_TTL = 300


def _zone_text(zone: dict[str, Any], records: list[dict[str, Any]], serial: int) -> str:
    """The zone as BIND text, proxied address records replaced by anycast addresses."""
    plain = []
    for record in records:
        if record.get("proxied") and record["type"] in ("A", "AAAA", "CNAME"):
            continue
        plain.append(record)
    text = render_bind(zone["name"], zone["name_servers"], serial, plain, datetime.now(UTC))
    lines = [text]
    seen: set[str] = set()
    for record in records:
        if not (record.get("proxied") and record["type"] in ("A", "AAAA", "CNAME")):
            continue
        name = record["name"].rstrip(".") + "."
        if name in seen:
            continue
        seen.add(name)
        lines += [f"{name}\t{PROXIED_TTL}\tIN\tA\t{ip}" for ip in PROXIED_A]
        lines += [f"{name}\t{PROXIED_TTL}\tIN\tAAAA\t{ip}" for ip in PROXIED_AAAA]
    for ns in zone["name_servers"]:
        lines.append(f"{zone['name']}.\t86400\tIN\tNS\t{ns}.")
    return "\n".join(lines) + "\n"


class ZoneCache:
    """Parsed zones of the simulator, rebuilt when a zone's serial moves."""

    def __init__(self, state: SimState) -> None:
        self._state = state
        self._parsed: dict[str, tuple[int, dns.zone.Zone]] = {}

    def find(self, qname: dns.name.Name) -> dns.zone.Zone | None:
        """The zone holding ``qname`` (the longest matching zone name), parsed."""
        best: dict[str, Any] | None = None
        for zone in self._state.zones.zones.values():
            origin = dns.name.from_text(zone["name"])
            if qname.is_subdomain(origin) and (
                best is None or len(zone["name"]) > len(best["name"])
            ):
                best = zone
        if best is None:
            return None
        serial = self._state.dns.serial(best["id"])
        cached = self._parsed.get(best["id"])
        if cached is not None and cached[0] == serial:
            return cached[1]
        records = list(self._state.dns.zone_records(best["id"]).values())
        text = _zone_text(best, records, serial)
        parsed = dns.zone.from_text(
            text, origin=best["name"] + ".", relativize=False, check_origin=False
        )
        self._parsed[best["id"]] = (serial, parsed)
        return parsed


def answer(zone: dns.zone.Zone | None, query: dns.message.Message) -> dns.message.Message:
    """An authoritative answer to ``query`` from ``zone`` (REFUSED outside every zone)."""
    response = dns.message.make_response(query)
    if zone is None or not query.question:
        response.set_rcode(dns.rcode.REFUSED)
        return response
    response.flags |= dns.flags.AA
    question = query.question[0]
    qname, rdtype = question.name, question.rdtype
    origin = zone.origin
    assert origin is not None  # from_text always sets it
    soa = zone.get_rrset(origin, dns.rdatatype.SOA)
    node = zone.get_node(qname)
    if node is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
        if soa is not None:
            response.authority.append(soa)
        return response
    cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
    if cname is not None and rdtype != dns.rdatatype.CNAME:
        response.answer.append(dns.rrset.from_rdata_list(qname, cname.ttl, list(cname)))
        target: dns.name.Name = cname[0].target
        found = zone.get_rrset(target, rdtype) if target.is_subdomain(origin) else None
        if found is not None:
            response.answer.append(found)
        return response
    found = zone.get_rrset(qname, rdtype)
    if found is not None:
        response.answer.append(found)
    elif soa is not None:
        response.authority.append(soa)
    return response


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, handle: Callable[[bytes, Any], None]) -> None:
        self._handle = handle
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._handle(data, addr)


class _UdpServer(abc.ABC):
    """A UDP DNS server on ``host:port`` (0 picks a free port)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._protocol: _Udp | None = None

    @property
    def address(self) -> str:
        """``host:port`` as probes configure it."""
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve."""
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: _Udp(self._received), local_addr=(self.host, self.port)
        )
        self._protocol = protocol
        assert protocol.transport is not None
        self.port = protocol.transport.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        """Stop serving."""
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None

    def _send(self, wire: bytes, addr: Any) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.sendto(wire, addr)

    @abc.abstractmethod
    def _received(self, data: bytes, addr: Any) -> None:
        """Handle one datagram from ``addr``."""


class Nameserver(_UdpServer):
    """One of the zone's authoritative nameservers, answering from the simulator's state."""

    def __init__(self, state: SimState, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self._zones = ZoneCache(state)
        self.queries = 0

    def _received(self, data: bytes, addr: Any) -> None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return
        self.queries += 1
        zone = self._zones.find(query.question[0].name) if query.question else None
        self._send(answer(zone, query).to_wire(), addr)


@dataclass
class _Cached:
    expires: float
    response: dns.message.Message = field(repr=False)


class Resolver(_UdpServer):
    """A caching resolver: answers from its cache until each answer's TTL runs out."""

    def __init__(
        self,
        upstream: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = 2.0,
    ) -> None:
        super().__init__(host, port)
        up_host, _, up_port = upstream.rpartition(":")
        self._upstream = (up_host, int(up_port))
        self._clock = clock
        self._timeout_s = timeout_s
        self._cache: dict[tuple[str, int], _Cached] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def flush(self) -> None:
        """Forget every cached answer."""
        self._cache.clear()

    def _received(self, data: bytes, addr: Any) -> None:
        task = asyncio.ensure_future(self._resolve(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, data: bytes, addr: Any) -> None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return
        if not query.question:
            return
        question = query.question[0]
        key = (question.name.to_text().lower(), int(question.rdtype))
        now = self._clock()
        cached = self._cache.get(key)
        if cached is None or cached.expires <= now:
            try:
                upstream = await dns.asyncquery.udp(
                    dns.message.make_query(question.name, question.rdtype),
                    self._upstream[0],
                    port=self._upstream[1],
                    timeout=self._timeout_s,
                )
            except (dns.exception.DNSException, OSError):
                response = dns.message.make_response(query)
                response.set_rcode(dns.rcode.SERVFAIL)
                self._send(response.to_wire(), addr)
                return
            ttls = [rrset.ttl for rrset in [*upstream.answer, *upstream.authority]]
            cached = _Cached(now + min(ttls, default=0), upstream)
            self._cache[key] = cached
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        response.set_rcode(cached.response.rcode())
        left = max(0, int(cached.expires - now))
        for section, source in (
            (response.answer, cached.response.answer),
            (response.authority, cached.response.authority),
        ):
            for rrset in source:
                section.append(dns.rrset.from_rdata_list(rrset.name, left, list(rrset)))
        self._send(response.to_wire(), addr)

    async def stop(self) -> None:
        """Stop serving and cancel lookups in flight."""
        for task in list(self._tasks):
            task.cancel()
        await super().stop()
