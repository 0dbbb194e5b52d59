"""``dns check``: is a zone served as the Cloudflare API describes it, and safely? (Req 5.7)

What the nameservers, the parent zone and the resolvers answered is gathered by
:mod:`ops.dnsobserve` into :class:`Observations`; this module judges it, purely:
:func:`assess` returns :class:`Finding` s, each with a severity and a fix. The checks follow
Zonemaster's catalogue where one exists (DELEGATION, CONSISTENCY, DNSSEC) plus what a
Cloudflare zone needs (proxied answers, CAA for the CA in use, dangling CNAMEs):

- **nameservers**: each answers the zone's SOA with authority (else unreachable or lame);
- **serials**: every nameserver serves the same SOA serial (RFC 1982 arithmetic);
- **delegation**: the parent's NS set equals the zone's own NS set (and, for a Cloudflare
  zone checked at its assigned nameservers, the names the API assigned); glue for
  in-zone nameservers points at them;
- **records**: every record the API holds is answered by every nameserver; proxied A, AAAA
  and CNAME records answer with Cloudflare's addresses, which is right and not flagged, but
  an origin address behind a proxied name is;
- **CNAME targets**: each resolves (a dangling CNAME invites subdomain takeover; behind the
  proxy it is Error 1016);
- **proxy sanity**: mixed proxied and DNS-only addresses on one name, DNS-only records that
  point at Cloudflare or reveal a proxied origin, proxied records to private addresses;
- **CAA**: present, and allowing the CA that issues the zone's certificates;
- **DNSSEC**: the parent's DS matches a DNSKEY the zone serves; signatures are not expired;
- **TTLs**: served TTLs match the API, address TTLs are not a day long, negative caching is
  not longer than a day.

Cloudflare anomalies that are not faults are whitelisted: proxied answers, TTL 300 for
"automatic", extra CAA records for the CAs Cloudflare issues from, ``AAAA 100::`` and
``192.0.2.0`` placeholders of originless (Workers) hostnames.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS

from cfapi.dns import DnsRecord
from probes.dns import api_value
from probes.propagation import serial_lt

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
PROXIABLE = frozenset({"A", "AAAA", "CNAME"})
AUTO_TTL_S = 300  # what Cloudflare serves for TTL 1 ("automatic") and for proxied records
DAY_S = 86_400
SIGNATURE_WARN_S = 3 * DAY_S

# Cloudflare's published ranges (www.cloudflare.com/ips-v4 and /ips-v6): proxied names answer
# with addresses from these.
CLOUDFLARE_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "173.245.48.0/20",
        "103.21.244.0/22",
        "103.22.200.0/22",
        "103.31.4.0/22",
        "141.101.64.0/18",
        "108.162.192.0/18",
        "190.93.240.0/20",
        "188.114.96.0/20",
        "197.234.240.0/22",
        "198.41.128.0/17",
        "162.158.0.0/15",
        "104.16.0.0/13",
        "104.24.0.0/14",
        "172.64.0.0/13",
        "131.0.72.0/22",
        "2400:cb00::/32",
        "2606:4700::/32",
        "2803:f800::/32",
        "2405:b500::/32",
        "2405:8100::/32",
        "2a06:98c0::/29",
        "2c0f:f248::/32",
    )
)
UNREACHABLE_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)
# CAs Cloudflare issues Universal and Advanced certificates from; when a zone has CAA records
# Cloudflare adds records for these itself, so extra CAA values naming them are expected.
CLOUDFLARE_CAS = ("letsencrypt.org", "pki.goog", "ssl.com", "digicert.com", "comodoca.com")


# ----------------------------------------------------------------------------- observations


@dataclass(frozen=True, slots=True)
class Rrset:
    """An answer: canonical values (empty: no data), their TTL, and whether the name exists."""

    values: frozenset[str]
    ttl: int | None = None
    nxdomain: bool = False


@dataclass(frozen=True, slots=True)
class Problem:
    """A question without a usable answer: ``kind`` (timeout, unreachable, refused, servfail,
    lame, rcode, malformed) and the detail to show."""

    kind: str
    detail: str


Seen = Rrset | Problem


@dataclass(frozen=True, slots=True, order=True)
class Question:
    """A name (absolute, lower-case, trailing dot) and a type."""

    name: str
    type: str

    def __str__(self) -> str:
        return f"{self.type} {self.name.removesuffix('.')}"


@dataclass(frozen=True)
class ServerReport:
    """What one authoritative nameserver answered.

    ``problem`` is set when its SOA could not be had (then nothing else was asked);
    ``negative_ttl`` is min(SOA TTL, SOA minimum), the time a "no such name" is cached;
    ``signature_expiry`` is the earliest RRSIG expiration seen (epoch seconds), if signed.
    """

    label: str
    address: str
    host: str
    problem: Problem | None = None
    serial: int | None = None
    negative_ttl: int | None = None
    ns: frozenset[str] = frozenset()
    dnskeys: frozenset[str] = frozenset()
    answers: Mapping[Question, Seen] = field(default_factory=dict)
    signature_expiry: float | None = None

    @property
    def usable(self) -> bool:
        """It answered its SOA with authority."""
        return self.problem is None


@dataclass(frozen=True)
class ParentReport:
    """What the parent zone's server said about the delegation.

    ``ns`` is the delegated NS names (empty with ``missing``: no delegation); ``glue`` the
    addresses the parent gives for each name; ``ds`` the DS records (RDATA text).
    """

    address: str
    problem: Problem | None = None
    missing: bool = False
    ns: frozenset[str] = frozenset()
    glue: Mapping[str, frozenset[str]] = field(default_factory=dict)
    ds: frozenset[str] = frozenset()
    ds_problem: Problem | None = None


TargetOutcome = Literal["resolves", "nxdomain", "nodata", "unverified"]


@dataclass(frozen=True, slots=True)
class TargetReport:
    """Whether a CNAME target resolves, and who said so."""

    target: str
    outcome: TargetOutcome
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Nameserver:
    """A nameserver to check: its label (its name when known) and where it listens."""

    label: str
    host: str
    port: int = 53
    name: str | None = None

    @property
    def address(self) -> str:
        """``host:port`` (``[v6]:port``)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Observations:
    """Everything a check judges, gathered at one time ``now``.

    ``assigned_ns`` are the nameservers the API assigned to the zone; they are compared with
    the delegation only when ``at_assigned`` (the check ran against them, not against
    nameservers given by hand). ``named`` maps nameserver names given by hand to the host
    they were given with, for the glue check. ``cas`` are the CAs the user says issue the
    zone's certificates (empty: any CA Cloudflare issues from).
    """

    zone: str
    now: float
    records: tuple[DnsRecord, ...]
    servers: tuple[ServerReport, ...]
    parent: ParentReport | None = None
    targets: Mapping[str, TargetReport] = field(default_factory=dict)
    assigned_ns: tuple[str, ...] = ()
    at_assigned: bool = False
    named: Mapping[str, str] = field(default_factory=dict)
    cas: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- findings


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong (or worth knowing): which check, how bad, about what, and the fix."""

    check: str
    severity: Severity
    subject: str
    message: str
    fix: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "check": self.check,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "fix": self.fix,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class Report:
    """The findings of one check, worst first, and what was looked at."""

    zone: str
    findings: tuple[Finding, ...]
    nameservers: tuple[str, ...]
    parent: str | None
    records: int
    questions: int
    targets: int

    def count(self, severity: Severity) -> int:
        """How many findings have ``severity``."""
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def exit_code(self) -> int:
        """0 without errors (warnings allowed), 1 with at least one error."""
        return 1 if self.count("error") else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the zone, counts by severity, what was checked, every finding."""
        return {
            "zone": self.zone,
            "ok": self.exit_code == 0,
            "summary": {s: self.count(s) for s in SEVERITIES},
            "checked": {
                "nameservers": list(self.nameservers),
                "parent": self.parent,
                "records": self.records,
                "questions": self.questions,
                "cname_targets": self.targets,
            },
            "findings": [f.to_dict() for f in self.findings],
        }


# ----------------------------------------------------------------------------- helpers


def fqdn(name: str) -> str:
    """``name`` lower-case and absolute, with the trailing dot."""
    text = name.strip().lower()
    return text if text.endswith(".") else text + "."


def short(name: str) -> str:
    """A name as messages show it: without the trailing dot."""
    return name.removesuffix(".") or "."


def in_zone(name: str, zone: str) -> bool:
    """Whether ``name`` is ``zone`` or below it."""
    n, z = fqdn(name), fqdn(zone)
    return n == z or n.endswith("." + z)


def is_cloudflare(address: str) -> bool:
    """Whether an address is in Cloudflare's published ranges."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in CLOUDFLARE_NETWORKS if net.version == ip.version)


def _private(address: str) -> bool:
    """An address only reachable inside a network (RFC 1918, ULA, loopback, link-local,
    shared CGNAT space): Cloudflare's edge cannot connect to it."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in UNREACHABLE_NETWORKS if net.version == ip.version)


def _proxied(record: DnsRecord) -> bool:
    return bool(record.proxied) and record.type.upper() in PROXIABLE


def expected_ttl(record: DnsRecord) -> int:
    """The TTL nameservers should serve for ``record``: 300 when proxied or automatic."""
    if _proxied(record) or record.ttl is None or int(record.ttl) == 1:
        return AUTO_TTL_S
    return int(record.ttl)


def checked_records(records: Iterable[DnsRecord], zone: str) -> list[DnsRecord]:
    """The API records a check compares: all but the apex NS and SOA (Cloudflare's own)."""
    apex = fqdn(zone)
    return [
        r
        for r in records
        if not (r.type.upper() in ("NS", "SOA") and fqdn(r.name) == apex) and in_zone(r.name, zone)
    ]


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a question should be answered with: exact values, or any Cloudflare address."""

    question: Question
    values: frozenset[str] | None
    ttls: frozenset[int]
    proxied: bool
    records: tuple[str, ...]


def proxied_names(records: Iterable[DnsRecord]) -> frozenset[str]:
    """Names with at least one proxied A, AAAA or CNAME record (Cloudflare proxies them all)."""
    return frozenset(fqdn(r.name) for r in records if _proxied(r))


def expectations(records: Sequence[DnsRecord], zone: str) -> dict[Question, Expectation]:
    """What every nameserver should answer, per question, for the API's records.

    A proxied name is asked for A and AAAA and must answer Cloudflare addresses. A DNS-only
    CNAME at the apex is flattened by Cloudflare to its target's addresses: any address is
    right. Records whose content does not parse are left out (the API holds them, but no
    DNS answer can be compared with them).
    """
    proxied = proxied_names(records)
    grouped: dict[Question, list[DnsRecord]] = {}
    for record in checked_records(records, zone):
        name, rtype = fqdn(record.name), record.type.upper()
        if name in proxied and rtype in PROXIABLE:
            for qtype in ("A", "AAAA"):
                grouped.setdefault(Question(name, qtype), []).append(record)
            continue
        if rtype == "CNAME" and name == fqdn(zone):
            grouped.setdefault(Question(name, "A"), []).append(record)
            continue
        grouped.setdefault(Question(name, rtype), []).append(record)
    result: dict[Question, Expectation] = {}
    for question, members in grouped.items():
        address = question.type in ("A", "AAAA")
        proxied_address = address and question.name in proxied
        any_address = proxied_address or (
            address
            and question.name == fqdn(zone)
            and any(r.type.upper() == "CNAME" for r in members)
        )
        values: frozenset[str] | None = None
        if not any_address:
            parsed = set()
            for record in members:
                try:
                    parsed.add(api_value(record))
                except ValueError:
                    continue
            if not parsed:
                continue
            values = frozenset(parsed)
        result[question] = Expectation(
            question=question,
            values=values,
            ttls=frozenset(expected_ttl(r) for r in members),
            proxied=proxied_address,
            records=tuple(sorted({f"{r.type.upper()} {short(fqdn(r.name))}" for r in members})),
        )
    return result


def questions(records: Sequence[DnsRecord], zone: str) -> list[Question]:
    """Every question to put to each nameserver: the records' plus the apex CAA."""
    asked = set(expectations(records, zone))
    asked.add(Question(fqdn(zone), "CAA"))
    return sorted(asked)


def cname_targets(records: Iterable[DnsRecord], zone: str) -> dict[str, tuple[str, ...]]:
    """CNAME target → the names pointing at it (proxied or not)."""
    targets: dict[str, list[str]] = {}
    for record in checked_records(records, zone):
        if record.type.upper() == "CNAME" and record.content:
            targets.setdefault(fqdn(record.content), []).append(short(fqdn(record.name)))
    return {t: tuple(sorted(set(names))) for t, names in targets.items()}


# ----------------------------------------------------------------------------- the checks


def _nameserver_findings(obs: Observations) -> list[Finding]:
    found: list[Finding] = []
    for server in obs.servers:
        if server.problem is None:
            continue
        lame = server.problem.kind in ("lame", "refused")
        found.append(
            Finding(
                check="nameserver-lame" if lame else "nameserver-unreachable",
                severity="error",
                subject=server.label,
                message=f"{server.label} ({server.address}) does not answer the zone's SOA: "
                f"{server.problem.detail}",
                fix=(
                    "The server does not serve the zone: add the zone to it, or remove it "
                    "from the NS records and the delegation."
                    if lame
                    else "Check that the server is running and reachable on port 53 (UDP and "
                    "TCP), or remove it from the NS records and the delegation."
                ),
                details={"address": server.address, "kind": server.problem.kind},
            )
        )
    if obs.servers and not any(s.usable for s in obs.servers):
        found.append(
            Finding(
                check="zone-unserved",
                severity="error",
                subject=short(fqdn(obs.zone)),
                message="no nameserver answered for the zone",
                fix="Until one does, the zone does not resolve anywhere.",
            )
        )
    return found


def newest(serials: Iterable[int]) -> int | None:
    """The newest serial in RFC 1982 order."""
    best: int | None = None
    for serial in serials:
        if best is None or serial_lt(best, serial):
            best = serial
    return best


def _serial_findings(obs: Observations) -> list[Finding]:
    serials = {s.label: s.serial for s in obs.servers if s.usable and s.serial is not None}
    top = newest(serials.values())
    if top is None or len(set(serials.values())) <= 1:
        return []
    behind = {label: serial for label, serial in serials.items() if serial != top}
    return [
        Finding(
            check="serial-mismatch",
            severity="warning",
            subject=label,
            message=f"{label} serves SOA serial {serial}, older than {top} on "
            + ", ".join(sorted(k for k, v in serials.items() if v == top)),
            fix="The server has not loaded the latest zone: check zone transfers (NOTIFY, "
            "AXFR/IXFR allowed from the primary) and the server's log. Answers from it are "
            "stale until it catches up.",
            details={"serial": serial, "newest": top},
        )
        for label, serial in sorted(behind.items())
    ]


def _ns_consistency(obs: Observations) -> tuple[frozenset[str], list[Finding]]:
    sets = Counter(s.ns for s in obs.servers if s.usable and s.ns)
    if not sets:
        return frozenset(), []
    common, _ = sets.most_common(1)[0]
    found = [
        Finding(
            check="ns-inconsistent",
            severity="warning",
            subject=s.label,
            message=f"{s.label} answers the apex NS set {_names(s.ns)}; the others "
            f"{_names(common)}",
            fix="Every nameserver should serve the same NS records; reload the zone there.",
        )
        for s in obs.servers
        if s.usable and s.ns and s.ns != common
    ]
    return common, found


def _names(names: Iterable[str]) -> str:
    return ", ".join(sorted(short(n) for n in names)) or "none"


def _delegation_findings(obs: Observations, zone_ns: frozenset[str]) -> list[Finding]:
    parent = obs.parent
    zone = short(fqdn(obs.zone))
    if parent is None:
        return []
    if parent.problem is not None:
        return [
            Finding(
                check="parent-unreachable",
                severity="warning",
                subject=parent.address,
                message=f"the parent's server {parent.address} could not be asked "
                f"({parent.problem.detail}); the delegation and DS were not checked",
                fix="Give a reachable server of the parent zone with --parent.",
            )
        ]
    if parent.missing or not parent.ns:
        return [
            Finding(
                check="delegation-missing",
                severity="error",
                subject=zone,
                message=f"the parent ({parent.address}) does not delegate {zone}",
                fix="Set the zone's nameservers at the registrar (for a Cloudflare zone, the two "
                "nameservers shown in the dashboard's Overview).",
            )
        ]
    found: list[Finding] = []
    if zone_ns and parent.ns != zone_ns:
        found.append(
            Finding(
                check="delegation-mismatch",
                severity="error",
                subject=zone,
                message=f"the parent delegates to {_names(parent.ns)} but the zone's NS records "
                f"are {_names(zone_ns)}",
                fix="Make them agree: change the nameservers at the registrar (or the zone's NS "
                "records). Resolvers may use either set; a server only in one of them gets "
                "queries it cannot answer, or never gets any.",
                details={"parent": sorted(parent.ns), "zone": sorted(zone_ns)},
            )
        )
    if obs.at_assigned and obs.assigned_ns:
        assigned = frozenset(fqdn(n) for n in obs.assigned_ns)
        if parent.ns != assigned:
            found.append(
                Finding(
                    check="delegation-not-cloudflare",
                    severity="error",
                    subject=zone,
                    message=f"the parent delegates to {_names(parent.ns)}, not to the "
                    f"nameservers Cloudflare assigned ({_names(assigned)})",
                    fix="Replace the nameservers at the registrar with Cloudflare's; until "
                    "then the zone's records in Cloudflare are not what the world sees.",
                    details={"parent": sorted(parent.ns), "assigned": sorted(assigned)},
                )
            )
    for name, host in sorted(obs.named.items()):
        ns = fqdn(name)
        if ns not in parent.ns:
            found.append(
                Finding(
                    check="nameserver-not-delegated",
                    severity="warning",
                    subject=short(ns),
                    message=f"{short(ns)} is checked but the parent does not delegate to it",
                    fix="Add it at the registrar, or stop running it for this zone.",
                )
            )
        elif in_zone(ns, obs.zone):
            glue = parent.glue.get(ns, frozenset())
            if not glue:
                found.append(
                    Finding(
                        check="glue-missing",
                        severity="error",
                        subject=short(ns),
                        message=f"{short(ns)} is inside the zone but the parent gives no "
                        "address (glue) for it",
                        fix="Register the nameserver's address (glue) at the registrar; "
                        "without it resolvers cannot reach the zone.",
                    )
                )
            elif host not in glue:
                found.append(
                    Finding(
                        check="glue-mismatch",
                        severity="error",
                        subject=short(ns),
                        message=f"the parent's glue for {short(ns)} is {_names(glue)}, but it "
                        f"listens on {host}",
                        fix="Update the glue record at the registrar to the server's address.",
                        details={"glue": sorted(glue), "address": host},
                    )
                )
    return found


def _describe(values: Iterable[str]) -> str:
    items = sorted(values)
    return ", ".join(items) if items else "nothing"


def _record_findings(obs: Observations) -> list[Finding]:
    expected = expectations(obs.records, obs.zone)
    serials = {s.label: s.serial for s in obs.servers if s.usable}
    top = newest(v for v in serials.values() if v is not None)
    found: list[Finding] = []
    for question, exp in sorted(expected.items()):
        for server in obs.servers:
            if not server.usable:
                continue
            seen = server.answers.get(question)
            if seen is None:
                continue
            lag = serials.get(server.label)
            behind = (
                f" (its serial {lag} is behind {top})"
                if lag is not None and top is not None and lag != top
                else ""
            )
            if isinstance(seen, Problem):
                found.append(
                    Finding(
                        check="record-unanswered",
                        severity="error",
                        subject=str(question),
                        message=f"{server.label} does not answer {question}: {seen.detail}",
                        fix="The server fails some questions it should answer: check its log "
                        "and load.",
                        details={"server": server.label, "kind": seen.kind},
                    )
                )
                continue
            found += _compare(question, exp, seen, server.label, behind)
    return found


def _compare(
    question: Question, exp: Expectation, seen: Rrset, server: str, behind: str
) -> list[Finding]:
    subject = str(question)
    if exp.proxied:
        if not seen.values:
            return [
                Finding(
                    check="proxied-unanswered",
                    severity="error",
                    subject=subject,
                    message=f"{server} answers no {question.type} for the proxied name "
                    f"{short(question.name)}{behind}",
                    fix="A proxied name answers with Cloudflare's addresses from every "
                    "nameserver; reload the zone on this one.",
                    details={"server": server},
                )
            ]
        foreign = sorted(v for v in seen.values if not is_cloudflare(v))
        if foreign:
            return [
                Finding(
                    check="proxied-exposes-origin",
                    severity="error",
                    subject=subject,
                    message=f"{server} answers {', '.join(foreign)} for the proxied name "
                    f"{short(question.name)}: not Cloudflare addresses{behind}",
                    fix="Proxied names must answer Cloudflare's addresses; this server "
                    "serves the origin, which bypasses the proxy (and its protections). Check "
                    "which zone data it serves.",
                    details={"server": server, "answered": foreign},
                )
            ]
        return _ttl_mismatch(question, exp, seen, server)
    if exp.values is None:
        if seen.values:
            return []
        return [
            Finding(
                check="record-missing",
                severity="error",
                subject=subject,
                message=f"{server} answers no address for the flattened apex CNAME{behind}",
                fix="Check the CNAME's target: Cloudflare flattens it to the target's addresses.",
                details={"server": server},
            )
        ]
    if not seen.values:
        return [
            Finding(
                check="record-missing",
                severity="error",
                subject=subject,
                message=f"{server} has no {question} (the API holds "
                f"{_describe(exp.values)}){behind}",
                fix="The nameserver does not serve the record the API holds: it has not "
                "loaded the current zone.",
                details={"server": server, "expected": sorted(exp.values)},
            )
        ]
    if question.type == "CAA":
        extra = {v for v in seen.values - exp.values if not _cloudflare_caa(v)}
        different = bool(exp.values - seen.values or extra)
    else:
        different = seen.values != exp.values
    if different:
        return [
            Finding(
                check="record-mismatch",
                severity="error",
                subject=subject,
                message=f"{server} answers {_describe(seen.values)} for {question}; the API "
                f"holds {_describe(exp.values)}{behind}",
                fix="Clients asking this server get other data than the API holds: reload the "
                "zone there (or fix the record in Cloudflare if the API is wrong).",
                details={
                    "server": server,
                    "answered": sorted(seen.values),
                    "expected": sorted(exp.values),
                },
            )
        ]
    return _ttl_mismatch(question, exp, seen, server)


def _ttl_mismatch(question: Question, exp: Expectation, seen: Rrset, server: str) -> list[Finding]:
    if seen.ttl is None or not exp.ttls or seen.ttl in exp.ttls:
        return []
    want = "/".join(str(t) for t in sorted(exp.ttls))
    low = seen.ttl < 30
    return [
        Finding(
            check="ttl-mismatch",
            severity="warning",
            subject=str(question),
            message=f"{server} serves {question} with TTL {seen.ttl} s; the API says {want} s"
            + (" (very low: every resolver asks again almost every time)" if low else ""),
            fix="Reload the zone on that server; the TTL it serves is what caches keep.",
            details={"server": server, "ttl": seen.ttl, "expected": sorted(exp.ttls)},
        )
    ]


def _cloudflare_caa(value: str) -> bool:
    parts = value.split(" ", 2)
    if len(parts) != 3 or parts[1] not in ("issue", "issuewild"):
        return False
    domain = parts[2].strip('"').split(";")[0].strip().lower()
    return domain in CLOUDFLARE_CAS


def _caa_issuers(values: Iterable[str]) -> list[str] | None:
    """The CA domains ``issue`` properties name (``None``: no ``issue`` at all, so any CA
    may issue; ``issue ";"`` names the empty domain, which allows none)."""
    issuers: list[str] = []
    seen = False
    for value in values:
        parts = value.split(" ", 2)
        if len(parts) == 3 and parts[1].lower() == "issue":
            seen = True
            issuers.append(parts[2].strip('"').split(";")[0].strip().lower())
    return issuers if seen else None


def _caa_allows(values: Iterable[str], ca: str) -> bool:
    issuers = _caa_issuers(values)
    return issuers is None or ca.lower() in issuers


def _caa_findings(obs: Observations) -> list[Finding]:
    apex = fqdn(obs.zone)
    question = Question(apex, "CAA")
    served: frozenset[str] | None = None
    for server in obs.servers:
        seen = server.answers.get(question)
        if server.usable and isinstance(seen, Rrset):
            served = seen.values
            break
    if served is None:
        api = [r for r in obs.records if r.type.upper() == "CAA" and fqdn(r.name) == apex]
        values = set()
        for record in api:
            try:
                values.add(api_value(record))
            except ValueError:
                continue
        served = frozenset(values)
    zone = short(apex)
    if not served:
        return [
            Finding(
                check="caa-missing",
                severity="warning",
                subject=zone,
                message=f"{zone} has no CAA record: any certificate authority may issue "
                "certificates for it",
                fix='Add CAA records for the CAs you use, e.g. 0 issue "letsencrypt.org" '
                "(Cloudflare then adds its own CAs' records itself).",
            )
        ]
    wanted = obs.cas or CLOUDFLARE_CAS
    allowed = [ca for ca in wanted if _caa_allows(served, ca)]
    if obs.cas:
        missing = [ca for ca in obs.cas if ca not in allowed]
        return [
            Finding(
                check="caa-forbids-ca",
                severity="error",
                subject=zone,
                message=f"the CAA records of {zone} ({_describe(served)}) do not allow {ca}, "
                "the CA in use",
                fix=f'Add 0 issue "{ca}" (and issuewild for wildcard certificates) or '
                "certificates from it can no longer be issued or renewed.",
                details={"ca": ca, "caa": sorted(served)},
            )
            for ca in missing
        ]
    if allowed:
        return []
    return [
        Finding(
            check="caa-forbids-ca",
            severity="error",
            subject=zone,
            message=f"the CAA records of {zone} ({_describe(served)}) allow none of the CAs "
            f"Cloudflare issues from ({', '.join(CLOUDFLARE_CAS)})",
            fix='Add 0 issue "letsencrypt.org" (or another of them), or give the CA you use '
            "with --ca; otherwise edge certificates cannot be renewed.",
            details={"caa": sorted(served)},
        )
    ]


def _target_findings(obs: Observations) -> list[Finding]:
    found: list[Finding] = []
    proxied = proxied_names(obs.records)
    for target, names in sorted(cname_targets(obs.records, obs.zone).items()):
        report = obs.targets.get(target)
        if report is None:
            continue
        sources = ", ".join(names)
        behind_proxy = any(fqdn(n) in proxied for n in names)
        if report.outcome == "nxdomain":
            found.append(
                Finding(
                    check="cname-dangling",
                    severity="error",
                    subject=short(target),
                    message=f"{sources} → {short(target)}, which does not exist ({report.detail})"
                    + ("; behind the proxy visitors get Error 1016" if behind_proxy else ""),
                    fix="Delete the CNAME or point it at a live name. A dangling CNAME lets "
                    "whoever registers the target serve content under your name.",
                    details={"names": list(names), "target": short(target)},
                )
            )
        elif report.outcome == "nodata":
            found.append(
                Finding(
                    check="cname-target-no-address",
                    severity="warning",
                    subject=short(target),
                    message=f"{sources} → {short(target)}, which exists but has no address "
                    f"({report.detail})",
                    fix="Give the target an A/AAAA record, or point the CNAME elsewhere.",
                    details={"names": list(names), "target": short(target)},
                )
            )
        elif report.outcome == "unverified":
            found.append(
                Finding(
                    check="cname-target-unverified",
                    severity="info",
                    subject=short(target),
                    message=f"could not tell whether {short(target)} (target of {sources}) "
                    f"resolves: {report.detail}",
                    fix="Give a working resolver with --resolver.",
                )
            )
    return found


def _proxy_findings(obs: Observations) -> list[Finding]:
    found: list[Finding] = []
    records = checked_records(obs.records, obs.zone)
    by_name: dict[str, list[DnsRecord]] = {}
    for record in records:
        if record.type.upper() in PROXIABLE:
            by_name.setdefault(fqdn(record.name), []).append(record)
    for name, members in sorted(by_name.items()):
        states = {bool(r.proxied) for r in members}
        if len(states) > 1:
            found.append(
                Finding(
                    check="proxy-mixed",
                    severity="warning",
                    subject=short(name),
                    message=f"{short(name)} has proxied and DNS-only address records; "
                    "Cloudflare proxies all of them",
                    fix="Make them all proxied or all DNS-only so the API says what is served.",
                )
            )
    origins = {
        (r.content or "").lower(): fqdn(r.name)
        for r in records
        if _proxied(r) and r.type.upper() in ("A", "AAAA")
    }
    for record in records:
        rtype, content = record.type.upper(), (record.content or "").lower()
        name = short(fqdn(record.name))
        if rtype not in ("A", "AAAA"):
            continue
        if _proxied(record) and _private(content):
            found.append(
                Finding(
                    check="proxied-private-origin",
                    severity="error",
                    subject=name,
                    message=f"{name} is proxied to {content}, an address Cloudflare cannot "
                    "reach (visitors get 522/523)",
                    fix="Point it at the origin's public address, use a Cloudflare Tunnel, or "
                    "100:: for a Worker-only (originless) hostname.",
                )
            )
        if not record.proxied:
            if is_cloudflare(content):
                found.append(
                    Finding(
                        check="dns-only-cloudflare-address",
                        severity="warning",
                        subject=name,
                        message=f"{name} is DNS-only but points at {content}, a Cloudflare address",
                        fix="Proxy the record and point it at the origin instead; Cloudflare "
                        "addresses change and serve only proxied hostnames.",
                    )
                )
            origin_of = origins.get(content)
            if origin_of is not None and origin_of != fqdn(record.name):
                found.append(
                    Finding(
                        check="origin-exposed",
                        severity="warning",
                        subject=name,
                        message=f"DNS-only {name} answers {content}, the origin behind proxied "
                        f"{short(origin_of)}",
                        fix="Anyone can reach the origin directly and bypass the proxy: proxy "
                        "this record too, or move the origin and allow only Cloudflare's "
                        "ranges.",
                    )
                )
    return found


def _parse_ds(text: str) -> DS | None:
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DS, text)
    except (dns.exception.DNSException, ValueError):
        return None
    return rdata if isinstance(rdata, DS) else None


def _parse_dnskey(text: str) -> DNSKEY | None:
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DNSKEY, text)
    except (dns.exception.DNSException, ValueError):
        return None
    return rdata if isinstance(rdata, DNSKEY) else None


def ds_matches(zone: str, ds_text: str, dnskeys: Iterable[str]) -> bool:
    """Whether a DS record is the digest of one of the zone's DNSKEYs."""
    ds = _parse_ds(ds_text)
    if ds is None:
        return False
    owner = dns.name.from_text(fqdn(zone))
    for key_text in dnskeys:
        key = _parse_dnskey(key_text)
        if key is None or key.algorithm != ds.algorithm:
            continue
        if dns.dnssec.key_id(key) != ds.key_tag:
            continue
        try:
            # validating=True: a published SHA-1 DS must be checked, though no longer made.
            digest = dns.dnssec.make_ds(owner, key, ds.digest_type, validating=True)
        except (dns.exception.DNSException, ValueError):
            continue
        if digest.digest == ds.digest:
            return True
    return False


def _dnssec_findings(obs: Observations) -> list[Finding]:
    zone = short(fqdn(obs.zone))
    usable = [s for s in obs.servers if s.usable]
    key_sets = Counter(s.dnskeys for s in usable)
    keys = key_sets.most_common(1)[0][0] if key_sets else frozenset()
    found: list[Finding] = []
    if len(key_sets) > 1:
        found += [
            Finding(
                check="dnssec-dnskey-inconsistent",
                severity="warning",
                subject=s.label,
                message=f"{s.label} serves other DNSKEYs than the rest",
                fix="Every nameserver must serve the same signed zone (one signer, transferred "
                "to the others).",
            )
            for s in usable
            if s.dnskeys != keys
        ]
    parent = obs.parent
    ds = parent.ds if parent is not None and parent.problem is None else frozenset()
    if parent is not None and parent.problem is None and parent.ds_problem is not None:
        found.append(
            Finding(
                check="dnssec-ds-unknown",
                severity="warning",
                subject=zone,
                message=f"the parent did not answer the DS question: {parent.ds_problem.detail}",
                fix="Check the parent server given with --parent.",
            )
        )
    if ds and not keys:
        found.append(
            Finding(
                check="dnssec-ds-without-dnskey",
                severity="error",
                subject=zone,
                message=f"the parent publishes a DS for {zone} but the zone serves no DNSKEY",
                fix="Validating resolvers now fail (SERVFAIL) for the whole zone: remove the DS "
                "at the registrar, or turn DNSSEC back on for the zone.",
                details={"ds": sorted(ds)},
            )
        )
    elif ds:
        matching = sorted(d for d in ds if ds_matches(obs.zone, d, keys))
        if not matching:
            found.append(
                Finding(
                    check="dnssec-ds-mismatch",
                    severity="error",
                    subject=zone,
                    message=f"no DS at the parent matches a DNSKEY of {zone}: validating "
                    "resolvers treat the zone as bogus",
                    fix="Replace the DS at the registrar with the zone's current one (Cloudflare "
                    "shows it under DNS > Settings > DNSSEC).",
                    details={"ds": sorted(ds), "dnskeys": len(keys)},
                )
            )
        elif len(matching) < len(ds):
            found.append(
                Finding(
                    check="dnssec-ds-stale",
                    severity="warning",
                    subject=zone,
                    message=f"{len(ds) - len(matching)} of the parent's {len(ds)} DS records "
                    "match no DNSKEY",
                    fix="Remove the DS records of retired keys at the registrar.",
                    details={"stale": sorted(set(ds) - set(matching))},
                )
            )
    elif keys and parent is not None and parent.problem is None:
        found.append(
            Finding(
                check="dnssec-unsecured",
                severity="warning",
                subject=zone,
                message=f"{zone} is signed but the parent has no DS for it: DNSSEC protects "
                "nothing yet",
                fix="Add the DS record at the registrar (Cloudflare shows it under DNS > "
                "Settings > DNSSEC).",
            )
        )
    for server in usable:
        expiry = server.signature_expiry
        if expiry is None:
            continue
        if expiry <= obs.now:
            found.append(
                Finding(
                    check="dnssec-signature-expired",
                    severity="error",
                    subject=server.label,
                    message=f"{server.label} serves signatures that expired "
                    f"{_ago(obs.now - expiry)} ago",
                    fix="The signer has stopped re-signing: validating resolvers fail for the "
                    "zone. Restart signing or turn DNSSEC off (and remove the DS first).",
                )
            )
        elif expiry - obs.now < SIGNATURE_WARN_S:
            found.append(
                Finding(
                    check="dnssec-signature-expiring",
                    severity="warning",
                    subject=server.label,
                    message=f"{server.label} serves signatures that expire in "
                    f"{_ago(expiry - obs.now)}",
                    fix="Check that the signer re-signs the zone.",
                )
            )
    return found


def _ago(seconds: float) -> str:
    if seconds >= DAY_S:
        return f"{seconds / DAY_S:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{max(seconds, 0) / 60:.0f} min"


def _ttl_findings(obs: Observations) -> list[Finding]:
    found: list[Finding] = []
    for record in checked_records(obs.records, obs.zone):
        ttl = expected_ttl(record)
        if record.type.upper() in PROXIABLE and not _proxied(record) and ttl >= DAY_S:
            name = short(fqdn(record.name))
            found.append(
                Finding(
                    check="ttl-high",
                    severity="warning",
                    subject=f"{record.type.upper()} {name}",
                    message=f"{record.type.upper()} {name} has a TTL of {ttl} s: a change takes "
                    "up to a day to reach everyone",
                    fix="Use 300-3600 s for addresses (lower it a day before a migration).",
                )
            )
    for server in obs.servers:
        if server.usable and server.negative_ttl is not None and server.negative_ttl > DAY_S:
            found.append(
                Finding(
                    check="negative-ttl-high",
                    severity="warning",
                    subject=server.label,
                    message=f"{server.label}'s SOA makes resolvers cache 'no such name' for "
                    f"{server.negative_ttl} s",
                    fix="Keep the SOA minimum (and SOA TTL) at a day or less (Cloudflare uses "
                    "3600 s): a newly added name stays invisible for that long where it was "
                    "asked before.",
                )
            )
    return found


def assess(obs: Observations) -> Report:
    """Judge ``obs``: every finding, errors first, then warnings, then information."""
    zone_ns, ns_findings = _ns_consistency(obs)
    findings = [
        *_nameserver_findings(obs),
        *_serial_findings(obs),
        *ns_findings,
        *_delegation_findings(obs, zone_ns),
        *_record_findings(obs),
        *_target_findings(obs),
        *_proxy_findings(obs),
        *_caa_findings(obs),
        *_dnssec_findings(obs),
        *_ttl_findings(obs),
    ]
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: order[f.severity])
    return Report(
        zone=short(fqdn(obs.zone)),
        findings=tuple(findings),
        nameservers=tuple(f"{s.label} ({s.address})" for s in obs.servers),
        parent=obs.parent.address if obs.parent is not None else None,
        records=len(checked_records(obs.records, obs.zone)),
        questions=len(questions(obs.records, obs.zone)) * len(obs.servers),
        targets=len(obs.targets),
    )
