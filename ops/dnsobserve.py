"""Asking the DNS what ``dns check`` judges: the zone's nameservers, its parent, resolvers.

The imperative shell of :mod:`ops.dnscheck`: :func:`observe` puts every question to every
nameserver at once (the zone's SOA first: a server that cannot answer it is not asked
more), asks the parent for the delegation and the DS records, and has resolvers resolve the
CNAME targets that lie outside the zone. The sockets are :mod:`probes.dnsquery`'s (connected
UDP, so an unreachable server is told apart from a silent one, with TCP after truncation).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
from dns.rdtypes.ANY.RRSIG import RRSIG
from dns.rdtypes.ANY.SOA import SOA

from cfapi.dns import DnsRecord
from ops.dnscheck import (
    Nameserver,
    Observations,
    ParentReport,
    Problem,
    Question,
    Rrset,
    Seen,
    ServerReport,
    TargetReport,
    cname_targets,
    fqdn,
    in_zone,
    questions,
    short,
)
from probes.dnsquery import (
    EDNS_PAYLOAD,
    BadAnswer,
    QueryError,
    ServerAddress,
    ask,
    canonical_text,
    read_answer,
    read_serial,
)

MAX_CHAIN = 8  # CNAME hops followed before giving up
PARALLEL_PER_SERVER = 16


@dataclass(frozen=True)
class CheckOptions:
    """How to run a check: the servers to ask and the CAs in use.

    ``nameservers`` are ``(name or None, address)`` pairs; empty means the nameservers the
    API assigned, found through the resolvers. ``resolvers`` empty means the system's
    (``/etc/resolv.conf``). ``parent`` ``None`` means the parent zone's first nameserver,
    found through the resolvers.
    """

    nameservers: tuple[tuple[str | None, ServerAddress], ...] = ()
    resolvers: tuple[ServerAddress, ...] = ()
    parent: ServerAddress | None = None
    cas: tuple[str, ...] = ()
    timeout_s: float = 2.0


def parse_nameserver(text: str) -> tuple[str | None, ServerAddress]:
    """Read ``ADDR`` or ``NAME=ADDR`` (``ns1.example.com=192.0.2.53:5353``).

    Raises ``ValueError`` with the accepted forms.
    """
    name, sep, address = text.strip().partition("=")
    if not sep:
        return None, ServerAddress.parse(text)
    if not name.strip() or not address.strip():
        raise ValueError(f"{text!r}: write ADDR or NAME=ADDR, e.g. ns1.example.com=192.0.2.53:5353")
    return fqdn(name), ServerAddress.parse(address)


def system_resolvers() -> tuple[ServerAddress, ...]:
    """The resolvers ``/etc/resolv.conf`` names (none when it cannot be read)."""
    try:
        config = dns.resolver.Resolver(configure=True)
    except (dns.exception.DNSException, OSError):
        return ()
    return tuple(ServerAddress(str(ns), 53) for ns in config.nameservers)


def _problem(err: QueryError | BadAnswer) -> Problem:
    return Problem(err.kind, err.detail)


def _at(ns: Nameserver) -> ServerAddress:
    return ServerAddress(ns.host, ns.port)


async def _query(
    server: ServerAddress, name: str, rtype: str, timeout_s: float, *, recurse: bool = False
) -> dns.message.Message:
    reply = await ask(server, name, rtype, recurse=recurse, timeout_s=timeout_s)
    return reply.message


async def _authoritative(server: ServerAddress, question: Question, timeout_s: float) -> Seen:
    try:
        message = await _query(server, question.name, question.type, timeout_s)
        answer = read_answer(message, question.name, question.type, authoritative=True)
    except (QueryError, BadAnswer) as err:
        return _problem(err)
    return Rrset(
        values=answer.values,
        ttl=answer.ttl,
        nxdomain=message.rcode() == dns.rcode.NXDOMAIN,
    )


async def _signature_expiry(server: ServerAddress, zone: str, timeout_s: float) -> float | None:
    """The earliest expiration of the RRSIGs over the zone's SOA (None: unsigned or unknown)."""
    query = dns.message.make_query(zone, "SOA", want_dnssec=True, payload=EDNS_PAYLOAD)
    query.flags &= ~dns.flags.RD
    try:
        message, _ = await dns.asyncquery.udp_with_fallback(
            query, server.host, timeout=timeout_s, port=server.port
        )
    except (dns.exception.DNSException, OSError):
        return None
    expiries = [
        float(rdata.expiration)
        for rrset in message.answer
        if rrset.rdtype == dns.rdatatype.RRSIG
        for rdata in rrset
        if isinstance(rdata, RRSIG)
    ]
    return min(expiries) if expiries else None


async def observe_server(
    ns: Nameserver, zone: str, asked: Sequence[Question], timeout_s: float
) -> ServerReport:
    """Everything one nameserver says about the zone (only its SOA if that fails)."""
    address = _at(ns)
    apex = fqdn(zone)
    try:
        message = await _query(address, apex, "SOA", timeout_s)
        serial = read_serial(message, apex)
    except (QueryError, BadAnswer) as err:
        return ServerReport(ns.label, ns.address, ns.host, problem=_problem(err))
    negative = None
    for rrset in message.answer:
        for rdata in rrset:
            if isinstance(rdata, SOA):
                negative = min(rrset.ttl, int(rdata.minimum))
    limit = asyncio.Semaphore(PARALLEL_PER_SERVER)

    async def one(question: Question) -> Seen:
        async with limit:
            return await _authoritative(address, question, timeout_s)

    extra = [Question(apex, "NS"), Question(apex, "DNSKEY")]
    everything = [*asked, *extra]
    seen, expiry = await asyncio.gather(
        asyncio.gather(*(one(q) for q in everything)),
        _signature_expiry(address, apex, timeout_s),
    )
    answers = dict(zip(everything, seen, strict=True))
    ns_answer = answers.pop(extra[0])
    key_answer = answers.pop(extra[1])
    return ServerReport(
        label=ns.label,
        address=ns.address,
        host=ns.host,
        serial=serial,
        negative_ttl=negative,
        ns=ns_answer.values if isinstance(ns_answer, Rrset) else frozenset(),
        dnskeys=key_answer.values if isinstance(key_answer, Rrset) else frozenset(),
        answers=answers,
        signature_expiry=expiry,
    )


async def observe_parent(parent: ServerAddress, zone: str, timeout_s: float) -> ParentReport:
    """The delegation the parent's server gives for ``zone``: NS names, glue and DS."""
    apex = fqdn(zone)
    owner = dns.name.from_text(apex)
    where = str(parent)
    try:
        message = await _query(parent, apex, "NS", timeout_s)
    except QueryError as err:
        return ParentReport(where, problem=_problem(err))
    rcode = message.rcode()
    if rcode == dns.rcode.REFUSED:
        return ParentReport(where, problem=Problem("refused", "refused the question"))
    if rcode == dns.rcode.SERVFAIL:
        return ParentReport(where, problem=Problem("servfail", "answered SERVFAIL"))
    ns: set[str] = set()
    for rrset in (*message.answer, *message.authority):
        if rrset.rdtype == dns.rdatatype.NS and rrset.name == owner:
            ns.update(canonical_text(rd) for rd in rrset)
    glue: dict[str, frozenset[str]] = {}
    for rrset in message.additional:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            name = rrset.name.to_text().lower()
            glue[name] = glue.get(name, frozenset()) | {canonical_text(rd) for rd in rrset}
    if not ns:
        return ParentReport(where, missing=True)
    ds_problem: Problem | None = None
    ds: frozenset[str] = frozenset()
    try:
        ds_message = await _query(parent, apex, "DS", timeout_s)
        ds = read_answer(ds_message, apex, "DS", authoritative=True).values
    except (QueryError, BadAnswer) as err:
        ds_problem = _problem(err)
    return ParentReport(where, ns=frozenset(ns), glue=glue, ds=frozenset(ds), ds_problem=ds_problem)


def _addresses(message: dns.message.Message) -> frozenset[str]:
    return frozenset(
        canonical_text(rd)
        for rrset in message.answer
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
        for rd in rrset
    )


async def resolve_via(
    name: str, resolvers: Sequence[ServerAddress], timeout_s: float
) -> TargetReport:
    """Resolve ``name``'s addresses through the first resolver that answers."""
    if not resolvers:
        return TargetReport(name, "unverified", "no resolver to ask (give --resolver)")
    failures: list[str] = []
    for resolver in resolvers:
        outcome: TargetReport | None = None
        for rtype in ("A", "AAAA"):
            try:
                message = await _query(resolver, name, rtype, timeout_s, recurse=True)
            except QueryError as err:
                failures.append(f"{resolver}: {err.detail}")
                break
            rcode = message.rcode()
            if rcode == dns.rcode.NXDOMAIN:
                outcome = TargetReport(name, "nxdomain", f"{resolver} answers NXDOMAIN")
                break
            if rcode != dns.rcode.NOERROR:
                failures.append(f"{resolver}: {dns.rcode.to_text(rcode)}")
                break
            if _addresses(message):
                outcome = TargetReport(name, "resolves", f"via {resolver}")
                break
            outcome = TargetReport(name, "nodata", f"{resolver} answers no A or AAAA")
        if outcome is not None:
            return outcome
    return TargetReport(name, "unverified", "; ".join(failures))


async def resolve_in_zone(
    name: str,
    zone: str,
    server: ServerAddress,
    resolvers: Sequence[ServerAddress],
    timeout_s: float,
) -> TargetReport:
    """Resolve a name of the zone at its own nameserver, following CNAMEs (out of the zone
    through the resolvers)."""
    current = fqdn(name)
    for _ in range(MAX_CHAIN):
        if not in_zone(current, zone):
            return await resolve_via(current, resolvers, timeout_s)
        found: frozenset[str] = frozenset()
        for rtype in ("A", "AAAA"):
            seen = await _authoritative(server, Question(current, rtype), timeout_s)
            if isinstance(seen, Problem):
                return TargetReport(name, "unverified", f"{server} {seen.detail}")
            if seen.nxdomain:
                return TargetReport(
                    name, "nxdomain", f"{server} answers NXDOMAIN for {short(current)}"
                )
            found |= seen.values
        if found:
            return TargetReport(name, "resolves", f"at {server}")
        alias = await _authoritative(server, Question(current, "CNAME"), timeout_s)
        if isinstance(alias, Rrset) and alias.values:
            current = fqdn(next(iter(alias.values)))
            continue
        return TargetReport(name, "nodata", f"{server} has no A or AAAA for {short(current)}")
    return TargetReport(name, "unverified", f"more than {MAX_CHAIN} CNAMEs in a row")


async def find_parent(
    zone: str, resolvers: Sequence[ServerAddress], timeout_s: float
) -> ServerAddress:
    """A server of the zone's parent: the first nameserver of the nearest enclosing zone.

    Raises ``LookupError`` saying why none was found.
    """
    labels = fqdn(zone).split(".")[1:]
    for index in range(len(labels) - 1):
        candidate = ".".join(labels[index:]) or "."
        for resolver in resolvers:
            try:
                message = await _query(resolver, candidate, "NS", timeout_s, recurse=True)
            except QueryError:
                continue
            owner = dns.name.from_text(candidate)
            names = sorted(
                canonical_text(rd)
                for rrset in message.answer
                if rrset.rdtype == dns.rdatatype.NS and rrset.name == owner
                for rd in rrset
            )
            for ns_name in names:
                try:
                    return ServerAddress(await resolve_host(ns_name, [resolver], timeout_s), 53)
                except LookupError:
                    continue
            if names:
                break
    raise LookupError(
        f"could not find the nameservers of {short(fqdn(zone))}'s parent through "
        f"{', '.join(str(r) for r in resolvers) or 'no resolver'}: give one with --parent"
    )


async def resolve_host(host: str, resolvers: Sequence[ServerAddress], timeout_s: float) -> str:
    """The first address of a host name, through the resolvers (raises ``LookupError``)."""
    for resolver in resolvers:
        for rtype in ("A", "AAAA"):
            try:
                message = await _query(resolver, fqdn(host), rtype, timeout_s, recurse=True)
            except QueryError:
                break
            addresses = sorted(_addresses(message))
            if addresses:
                return addresses[0]
    raise LookupError(f"{host} does not resolve through {', '.join(map(str, resolvers))}")


async def nameservers_for(
    options: CheckOptions, assigned: Sequence[str], resolvers: Sequence[ServerAddress]
) -> tuple[list[Nameserver], dict[str, str], list[ServerReport]]:
    """The nameservers to check, the names given for them, and reports for those whose own
    name did not resolve."""
    given: list[tuple[str | None, ServerAddress]] = list(options.nameservers) or [
        (fqdn(name), ServerAddress(name.removesuffix("."), 53)) for name in assigned
    ]
    servers: list[Nameserver] = []
    named: dict[str, str] = {}
    failed: list[ServerReport] = []
    for name, address in given:
        host = address.host
        if not address.is_ip:
            try:
                host = await resolve_host(address.host, resolvers, options.timeout_s)
            except LookupError as err:
                label = short(name) if name else str(address)
                failed.append(
                    ServerReport(label, str(address), address.host, Problem("unresolved", str(err)))
                )
                continue
        where = ServerAddress(host, address.port)
        label = short(name) if name else str(where)
        servers.append(Nameserver(label, host, address.port, name))
        if name:
            named[name] = host
    return servers, named, failed


async def observe(
    zone: str,
    records: Sequence[DnsRecord],
    options: CheckOptions,
    *,
    assigned_ns: Sequence[str] = (),
    now: float | None = None,
) -> Observations:
    """Ask everything a check needs, concurrently, and return it as :class:`Observations`."""
    resolvers = list(options.resolvers) or list(system_resolvers())
    timeout = options.timeout_s
    servers, named, failed = await nameservers_for(options, assigned_ns, resolvers)
    asked = questions(records, zone)
    parent_task: asyncio.Task[ParentReport] = asyncio.create_task(
        _parent(options, zone, resolvers, timeout)
    )
    try:
        reports = await asyncio.gather(
            *(observe_server(ns, zone, asked, timeout) for ns in servers)
        )
    finally:
        parent = await parent_task
    usable = [ns for ns, r in zip(servers, reports, strict=True) if r.usable]
    targets: dict[str, TargetReport] = {}
    pending = list(cname_targets(records, zone))
    if pending:
        first = _at(usable[0]) if usable else None

        async def target(name: str) -> TargetReport:
            if in_zone(name, zone):
                if first is None:
                    return TargetReport(name, "unverified", "no nameserver of the zone answered")
                return await resolve_in_zone(name, zone, first, resolvers, timeout)
            return await resolve_via(name, resolvers, timeout)

        results = await asyncio.gather(*(target(t) for t in pending))
        targets = dict(zip(pending, results, strict=True))
    return Observations(
        zone=zone,
        now=time.time() if now is None else now,
        records=tuple(records),
        servers=(*failed, *reports),
        parent=parent,
        targets=targets,
        assigned_ns=tuple(assigned_ns),
        at_assigned=not options.nameservers,
        named=named,
        cas=options.cas,
    )


async def _parent(
    options: CheckOptions, zone: str, resolvers: Sequence[ServerAddress], timeout_s: float
) -> ParentReport:
    parent = options.parent
    if parent is None:
        try:
            parent = await find_parent(zone, resolvers, timeout_s)
        except LookupError as err:
            return ParentReport("(not found)", problem=Problem("unresolved", str(err)))
    return await observe_parent(parent, zone, timeout_s)
