"""The ``dns`` probe: do the zone's nameservers and the world's resolvers answer what the API
holds, and how far has a change spread (Requirement 2.8)?

Each run reads the zone's records from the Cloudflare API (one ``dns_records`` list request),
then asks every authoritative nameserver for the zone's SOA serial and each watched record,
and every configured resolver for each watched record, all at once. What the answers mean is
decided by :mod:`probes.propagation` (pure); how a Cloudflare record maps to what DNS should
answer is :func:`expectations` here (pure); the sockets are :mod:`probes.dnsquery`.

One probe instance lives as long as its config entry and remembers the records it saw, so a
change is tracked from the run that first sees it until every resolver gives the new value
or ``propagation_deadline`` passes; meanwhile it asks to be run again every
``propagation_poll``. See docs/probes/dns.md.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar

import dns.rdatatype
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from cfapi.dns import DnsRecord
from cfapi.errors import AuthError, CloudflareError, NotFound, PermissionDenied
from probes.base import (
    LabelledSpec,
    MetricSpec,
    Probe,
    ProbeContext,
    ProbeResult,
    ProbeSettings,
    Reason,
    Series,
    Status,
    worst,
)
from probes.checks import Deadline, describe, failure, paused, reason_for, usable_time
from probes.dnsquery import (
    BadAnswer,
    QueryError,
    Reply,
    ServerAddress,
    ask,
    parse_value,
    read_answer,
    read_serial,
    txt_value,
)
from probes.propagation import (
    Assessment,
    Expected,
    Failure,
    Outcome,
    PropagationTracker,
    RecordKey,
    ServerState,
    ServerView,
    absent,
    span,
)
from probes.resources import Unresolved
from probes.units import Duration

AUTO_TTL_S = 300
"""What Cloudflare serves for a TTL of 1 ("automatic") and for every proxied record."""
ZONE_INFO_TTL_S = 3600.0
"""How long the zone's name and assigned nameservers are reused before asking the API again."""
PER_PAGE = 5000
"""Records per list request: one request for any zone but the largest."""
MAX_QUERIES_IN_FLIGHT = 64
PROXIABLE = frozenset({"A", "AAAA", "CNAME"})
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9\[][A-Za-z0-9_.:@\[\]-]{0,79}$")

FAILURE_REASONS: Mapping[str, Reason] = {
    "timeout": Reason.TIMEOUT,
    "unreachable": Reason.UNREACHABLE,
    "unresolved": Reason.UNREACHABLE,
    "refused": Reason.ASSERTION,
    "servfail": Reason.ASSERTION,
    "lame": Reason.ASSERTION,
    "rcode": Reason.ASSERTION,
    "malformed": Reason.ERROR,
}
"""The probe reason of a nameserver that does not answer usefully."""


class DnsServer(BaseModel):
    """A nameserver or resolver: the name it is reported under, and where it listens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        description="how messages and the metric label call it (unique within its list)"
    )
    address: str = Field(description="IP, IP:PORT, [IPv6]:PORT or a host name (port 53)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _SERVER_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a server name: use up to 80 letters, digits and . _ - : @ "
                "(it becomes a metric label)"
            )
        return value

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        ServerAddress.parse(value)
        return value

    @property
    def target(self) -> ServerAddress:
        """The parsed address."""
        return ServerAddress.parse(self.address)


def _server_entry(value: object) -> object:
    """A bare string is both the name and the address (``"192.0.2.53:5353"``)."""
    return {"name": value, "address": value} if isinstance(value, str) else value


ServerEntry = Annotated[DnsServer, BeforeValidator(_server_entry)]


class WatchedRecord(BaseModel):
    """A record to watch: a name (relative to the zone, ``@``, or absolute) and a type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="www, @, www.example.com or www.example.com.")
    type: str = Field(description="A, AAAA, CNAME, TXT, MX, CAA, SRV, NS…")

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        rtype = value.strip().upper()
        try:
            dns.rdatatype.from_text(rtype)
        except dns.rdatatype.UnknownRdatatype as err:
            raise ValueError(f"{value!r} is not a DNS record type (A, AAAA, CNAME, TXT…)") from err
        if rtype in ("SOA", "ANY", "AXFR", "IXFR"):
            raise ValueError(f"{rtype} cannot be watched: name a record type such as A or TXT")
        return rtype


def _unique(servers: Sequence[DnsServer], what: str) -> None:
    names = [s.name for s in servers]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what} names must be unique; repeated: {', '.join(repeated)}")


class DnsSettings(ProbeSettings):
    """Settings of a ``dns`` probe (see docs/probes/dns.md)."""

    zone: str = Field(min_length=1, description="the zone's name (example.com) or 32-hex id")
    records: list[WatchedRecord] | None = Field(
        default=None,
        min_length=1,
        description="the records to watch; none: every record the API holds for the zone",
    )
    nameservers: list[ServerEntry] | None = Field(
        default=None,
        min_length=1,
        description="authoritative servers to ask; none: the zone's assigned nameservers",
    )
    resolvers: list[ServerEntry] = Field(
        default_factory=list, description="recursive resolvers whose caches show propagation"
    )
    propagation_deadline: Duration = Field(
        default=1800.0, gt=0, description="how long a change may take to reach every resolver"
    )
    propagation_poll: Duration = Field(
        default=15.0, gt=0, description="how soon to run again while a change propagates"
    )
    query_timeout: Duration = Field(
        default=2.0, gt=0, description="how long to wait for one DNS answer"
    )

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return value.strip().lower().removesuffix(".")

    @model_validator(mode="after")
    def _consistent(self) -> DnsSettings:
        _unique(self.nameservers or [], "nameserver")
        _unique(self.resolvers, "resolver")
        if self.records is not None and not _HEX32.match(self.zone):
            for record in self.records:
                record_key(record.name, record.type, self.zone)
        return self


def record_key(name: str, rtype: str, zone: str) -> RecordKey:
    """The key of a watched record: ``name`` relative to ``zone``, ``@``, or absolute.

    A name ending in a dot is absolute; one equal to the zone or ending in ``.zone`` is taken
    as absolute too (``www.example.com``); anything else is relative (``www``). Raises
    ``ValueError`` for a name outside the zone.
    """
    zone = zone.lower().removesuffix(".")
    text = name.strip().lower()
    if text in ("@", ""):
        full = zone
    elif text.endswith("."):
        full = text.removesuffix(".")
    elif text == zone or text.endswith("." + zone):
        full = text
    else:
        full = f"{text}.{zone}"
    if full != zone and not full.endswith("." + zone):
        raise ValueError(f"record {name!r} is not in zone {zone}: give a name inside the zone")
    return RecordKey(full + ".", rtype.upper())


def _ttl(record: DnsRecord) -> int:
    if record.proxied or record.ttl is None or int(record.ttl) == 1:
        return AUTO_TTL_S
    return int(record.ttl)


def api_value(record: DnsRecord) -> str:
    """The canonical value of a Cloudflare record, as DNS answers carry it.

    Raises ``ValueError`` when the content does not parse as the record's type.
    """
    rtype = record.type.upper()
    content = record.content or ""
    data = record.data or {}
    if rtype in ("TXT", "SPF"):
        return txt_value(content)
    if rtype == "MX":
        return parse_value("MX", f"{record.priority or 0} {content}")
    if rtype == "CAA" and data:
        value = str(data["value"]).replace("\\", "\\\\").replace('"', '\\"')
        return parse_value("CAA", f'{data["flags"]} {data["tag"]} "{value}"')
    if rtype == "SRV" and data:
        return parse_value(
            "SRV", f"{data['priority']} {data['weight']} {data['port']} {data['target']}"
        )
    if rtype in ("URI",) and record.priority is not None:
        return parse_value(rtype, f"{record.priority} {content}")
    return parse_value(rtype, content)


@dataclass(frozen=True, slots=True)
class Watch:
    """What the API says about the watched records: expectations, change times, notes."""

    expected: dict[RecordKey, Expected]
    modified_at: dict[RecordKey, float]
    notes: tuple[str, ...]


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def expectations(
    records: Iterable[DnsRecord], zone: str, watched: Sequence[WatchedRecord] | None
) -> Watch:
    """What DNS should answer for each watched record, given the API's records (pure).

    - DNS-only records: the exact set of values the API holds for the name and type.
    - Proxied A/AAAA/CNAME records (and a CNAME at the apex, which Cloudflare flattens):
      Cloudflare answers with its own addresses, so any address is right; a proxied CNAME
      is asked as ``A``.
    - A watched record the API does not hold must not exist (a deletion propagates too).
    - A value that does not parse as its type is watched for presence only (noted).
    """
    zone = zone.lower().removesuffix(".")
    by_key: dict[RecordKey, list[DnsRecord]] = {}
    for record in records:
        key = RecordKey(record.name.lower().removesuffix(".") + ".", record.type.upper())
        by_key.setdefault(key, []).append(record)
    notes: list[str] = []
    if watched is None:
        keys = sorted(by_key)
    else:
        keys = list(dict.fromkeys(record_key(w.name, w.type, zone) for w in watched))
    expected: dict[RecordKey, Expected] = {}
    modified: dict[RecordKey, float] = {}
    for key in keys:
        held = by_key.get(key, [])
        if not held:
            expected[key] = absent(key.type)
            notes.append(f"{key} is not in the API: expecting no answer")
            continue
        times = [t for t in (_epoch(r.modified_on) for r in held) if t is not None]
        if times:
            modified[key] = max(times)
        ttl = max(_ttl(r) for r in held)
        flattened = key.type == "CNAME" and key.name == zone + "."
        if key.type in PROXIABLE and (flattened or any(r.proxied for r in held)):
            qtype = "AAAA" if key.type == "AAAA" else "A"
            expected[key] = Expected(qtype=qtype, values=None, ttl=ttl)
            continue
        values: set[str] = set()
        unparsed = False
        for record in held:
            try:
                values.add(api_value(record))
            except (ValueError, KeyError) as err:
                unparsed = True
                notes.append(f"{key}: {err}; watching for presence only")
        expected[key] = Expected(
            qtype=key.type, values=None if unparsed else frozenset(values), ttl=ttl
        )
    return Watch(expected, modified, tuple(notes))


def _server_problem(state: ServerState) -> str:
    parts: list[str] = []
    if state.behind:
        parts.append(f"serial {state.serial} is behind")
    if state.stale:
        keys = sorted(state.stale)
        shown = ", ".join(str(k) for k in keys[:3])
        more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
        parts.append(f"old answer for {shown}{more}")
    return "; ".join(parts)


def evaluate(
    assessment: Assessment,
    *,
    now: float,
    records: int,
    latency_ms: float | None = None,
    notes: Sequence[str] = (),
    api_problem: tuple[Reason, str] | None = None,
    poll_s: float | None = None,
) -> ProbeResult:
    """Turn an assessment into the probe's result (pure).

    - ``crit``: a nameserver cannot be asked or does not answer usefully (reason ``timeout``,
      ``unreachable`` or ``assertion``), or still disagrees with the API after the deadline
      (``assertion``);
    - ``warn``: a change is propagating, a resolver is stale after the deadline, a resolver
      cannot be asked, or the API could not be read (compared with the last records read);
    - ``ok``: every server answers every watched record as the API holds it.
    """
    problems: list[tuple[Status, Reason | None, str]] = []
    overdue_for = (
        f", {span(now - assessment.overdue_since)} after the change"
        if assessment.overdue_since is not None
        else ""
    )
    for state in assessment.nameservers:
        broken = state.broken
        if broken is not None:
            problems.append(
                (
                    Status.CRIT,
                    FAILURE_REASONS[broken.kind],
                    f"nameserver {state.name}: {broken.detail}",
                )
            )
    for state in assessment.nameservers:
        if state.disagrees:
            text = f"nameserver {state.name}: {_server_problem(state)}"
            if assessment.overdue:
                problems.append((Status.CRIT, Reason.ASSERTION, text + overdue_for))
            else:
                problems.append((Status.WARN, None, text))
    if assessment.propagation is not None:
        progress = next(
            (e for e in assessment.events if e.kind == "dns_propagation_progress"), None
        )
        if progress is not None:
            problems.append((Status.WARN, None, f"propagating: {progress.message}"))
    for state in assessment.resolvers:
        broken = state.broken
        if broken is not None:
            problems.append((Status.WARN, None, f"resolver {state.name}: {broken.detail}"))
        elif state.disagrees and assessment.propagation is None:
            problems.append(
                (Status.WARN, None, f"resolver {state.name}: {_server_problem(state)}{overdue_for}")
            )
    if api_problem is not None:
        problems.append((Status.WARN, api_problem[0], api_problem[1]))

    ns = assessment.nameservers
    res = assessment.resolvers
    ns_current = sum(s.current for s in ns)
    res_current = sum(s.current for s in res)
    values: dict[str, float] = {
        "propagation_ratio": assessment.ratio,
        "resolvers": float(len(res)),
        "resolvers_current": float(res_current),
        "nameservers": float(len(ns)),
        "nameservers_current": float(ns_current),
        "records": float(records),
        "propagating": 1.0 if assessment.propagation is not None else 0.0,
        "propagation_age_s": (
            now - assessment.propagation.changed_at if assessment.propagation else 0.0
        ),
    }
    if assessment.serial_min is not None and assessment.serial_max is not None:
        values["soa_serial_min"] = float(assessment.serial_min)
        values["soa_serial_max"] = float(assessment.serial_max)
    series = [
        Series("dns_soa_serial", {"nameserver": s.name}, float(s.serial))
        for s in ns
        if s.serial is not None
    ]
    series += [
        Series("dns_nameserver_current", {"nameserver": s.name}, float(s.current)) for s in ns
    ]
    series += [Series("dns_resolver_current", {"resolver": s.name}, float(s.current)) for s in res]

    serial = (
        f"serial {assessment.serial_max}"
        if assessment.serial_min == assessment.serial_max
        else f"serials {assessment.serial_min}..{assessment.serial_max}"
    )
    summary = f"{ns_current}/{len(ns)} nameservers ({serial})"
    if res:
        summary += f" and {res_current}/{len(res)} resolvers"
    summary += f" answer {records} records as the API holds them"
    problems.sort(key=lambda p: -p[0].rank)
    status = worst(*(p[0] for p in problems))
    reasons = [(p[0] is not status, p[1]) for p in problems if p[1] is not None]
    reason: Reason | None = min(reasons, key=lambda r: r[0])[1] if reasons else None
    texts = [p[2] for p in problems[:5]]
    if len(problems) > 5:
        texts.append(f"and {len(problems) - 5} more")
    message = "; ".join([*texts, summary]) if texts else summary
    if notes:
        message += " (" + "; ".join(notes[:3]) + ")"
    return ProbeResult(
        status=status,
        message=message,
        reason=reason if status is not Status.OK else None,
        latency_ms=latency_ms,
        values=values,
        series=tuple(series),
        events=assessment.events,
        rerun_in_s=poll_s if assessment.propagation is not None else None,
    )


@dataclass(frozen=True, slots=True)
class _Zone:
    id: str
    name: str
    name_servers: tuple[str, ...]
    read_at: float


@dataclass(frozen=True, slots=True)
class _Target:
    """A server to ask this run: its reported name and address, or why it cannot be."""

    name: str
    address: ServerAddress | None
    failure: Failure | None = None


class DnsProbe(Probe[DnsSettings]):
    """Nameservers and resolvers against the API's records, and propagation of changes."""

    type_name: ClassVar[str] = "dns"
    service: ClassVar[str] = "dns"
    settings_model: ClassVar[type[ProbeSettings]] = DnsSettings
    values: ClassVar[frozenset[str]] = frozenset(
        {
            "propagation_ratio",
            "resolvers",
            "resolvers_current",
            "nameservers",
            "nameservers_current",
            "records",
            "propagating",
            "propagation_age_s",
            "soa_serial_min",
            "soa_serial_max",
        }
    )
    metrics: ClassVar[Mapping[str, MetricSpec]] = {
        "propagation_ratio": MetricSpec(
            "dns_propagation_ratio",
            "Share of the checked resolvers (else nameservers) answering as the API holds",
        ),
        "resolvers": MetricSpec("dns_resolvers", "Resolvers checked"),
        "resolvers_current": MetricSpec(
            "dns_resolvers_current", "Resolvers answering every watched record as the API holds"
        ),
        "nameservers": MetricSpec("dns_nameservers", "Authoritative nameservers checked"),
        "nameservers_current": MetricSpec(
            "dns_nameservers_current",
            "Nameservers answering every watched record as the API holds, serial not behind",
        ),
        "records": MetricSpec("dns_records_watched", "Records the probe watches"),
        "propagating": MetricSpec(
            "dns_propagation_in_progress", "1 while a change is propagating, else 0"
        ),
        "propagation_age_s": MetricSpec(
            "dns_propagation_age_seconds", "Time since the change in flight (0: none)"
        ),
    }
    labelled: ClassVar[Mapping[str, LabelledSpec]] = {
        "dns_soa_serial": LabelledSpec(
            "dns_soa_serial", "SOA serial each nameserver answers", ("nameserver",)
        ),
        "dns_nameserver_current": LabelledSpec(
            "dns_nameserver_current",
            "1 when the nameserver answers every watched record as the API holds",
            ("nameserver",),
        ),
        "dns_resolver_current": LabelledSpec(
            "dns_resolver_current",
            "1 when the resolver answers every watched record as the API holds",
            ("resolver",),
        ),
    }

    def __init__(self, settings: DnsSettings) -> None:
        super().__init__(settings)
        self.tracker = PropagationTracker(settings.propagation_deadline)
        self._zone: _Zone | None = None
        self._last_watch: Watch | None = None

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Read the records from the API, ask every server, judge the answers."""
        s = self.settings
        loop = asyncio.get_running_loop()
        started = loop.time()
        budget_s = usable_time(ctx.timeout_s)
        try:
            zone = await self._zone_info(ctx)
        except Unresolved as err:
            return ProbeResult.failed(Reason.NOT_FOUND, str(err))
        except CloudflareError as err:
            return failure(err, f"reading zone {s.zone}")
        except ValueError as err:  # a watched record outside the zone given by id
            return ProbeResult.failed(Reason.ERROR, f"zone {s.zone}: {err}")
        held = paused(ctx, "dns", Deadline(budget_s - (loop.time() - started), loop.time))
        if held is not None and self._last_watch is None:
            return held
        if held is not None and self._last_watch is not None:
            # The servers need no API: while the client waits out a 429, compare them with
            # the records read before rather than time out asking for the list.
            watch = self._last_watch
            api_problem: tuple[Reason, str] | None = (
                Reason.RATE_LIMITED,
                f"{held.message}; compared with the records read before",
            )
        else:
            read = await self._read_watch(ctx, zone)
            if isinstance(read, ProbeResult):
                return read
            watch, api_problem = read
        watched = self.tracker.watch(watch.expected)
        timeout_s = max(0.1, min(s.query_timeout, budget_s - (loop.time() - started)))
        nameservers = await self._nameserver_targets(zone, timeout_s)
        resolvers = await _resolve_targets(s.resolvers, timeout_s)
        limit = asyncio.Semaphore(MAX_QUERIES_IN_FLIGHT)
        ns_results = asyncio.gather(
            *(_ask_nameserver(t, zone.name, watched, timeout_s, limit) for t in nameservers)
        )
        res_results = asyncio.gather(
            *(_ask_resolver(t, watched, timeout_s, limit) for t in resolvers)
        )
        ns_found, res_views = await asyncio.gather(ns_results, res_results)
        ns_views = [view for view, _ in ns_found]
        rtts = [rtt for _, rtt in ns_found if rtt is not None]
        now = ctx.clock()
        assessment = self.tracker.observe(
            now, watched, ns_views, res_views, modified_at=watch.modified_at
        )
        return evaluate(
            assessment,
            now=now,
            records=len(watched),
            latency_ms=max(rtts, default=None),
            notes=watch.notes,
            api_problem=api_problem,
            poll_s=s.propagation_poll,
        )

    async def _read_watch(
        self, ctx: ProbeContext, zone: _Zone
    ) -> tuple[Watch, tuple[Reason, str] | None] | ProbeResult:
        """The watched records from the API (one request), or the last ones with the problem.

        A failed read keeps comparing with the records read before, unless the zone is gone
        or the token refused (then the run fails with that reason).
        """
        s = self.settings
        try:
            records = [r async for r in ctx.cf.dns.list(zone.id, per_page=PER_PAGE)]
            watch = expectations(records, zone.name, s.records)
        except ValueError as err:
            return ProbeResult.failed(Reason.ERROR, f"zone {zone.name}: {err}")
        except CloudflareError as err:
            if isinstance(err, NotFound):
                self._zone = None
                ctx.resources.forget("zone", s.zone)
            if isinstance(err, NotFound | AuthError | PermissionDenied) or self._last_watch is None:
                return failure(err, f"reading the records of zone {zone.name}")
            problem = (
                reason_for(err),
                f"could not read the records from the API ({describe(err)}); compared with "
                "the records read before",
            )
            return self._last_watch, problem
        self._last_watch = watch
        return watch, None

    async def _zone_info(self, ctx: ProbeContext) -> _Zone:
        """The zone's id, name and assigned nameservers (cached for an hour)."""
        s = self.settings
        now = ctx.clock()
        if self._zone is not None and now - self._zone.read_at < ZONE_INFO_TTL_S:
            return self._zone
        zone_id = await ctx.resources.zone(s.zone)
        name, name_servers = s.zone, tuple[str, ...]()
        if _HEX32.match(s.zone) or s.nameservers is None:
            try:
                found = await ctx.cf.zones.get(zone_id)
            except NotFound:
                ctx.resources.forget("zone", s.zone)
                raise
            name = found.name.lower().removesuffix(".")
            name_servers = tuple(found.name_servers or ())
            if s.records is not None:
                for record in s.records:
                    record_key(record.name, record.type, name)
        self._zone = _Zone(zone_id, name, name_servers, now)
        return self._zone

    async def _nameserver_targets(self, zone: _Zone, timeout_s: float) -> list[_Target]:
        if self.settings.nameservers is not None:
            return await _resolve_targets(self.settings.nameservers, timeout_s)
        if not zone.name_servers:
            return [
                _Target(
                    zone.name,
                    None,
                    Failure("unresolved", "the API lists no nameservers for the zone"),
                )
            ]
        servers = [DnsServer(name=n, address=n) for n in zone.name_servers]
        return await _resolve_targets(servers, timeout_s)


async def _resolve_targets(servers: Sequence[DnsServer], timeout_s: float) -> list[_Target]:
    """Each server's address, host names resolved through the system resolver."""
    return list(await asyncio.gather(*(_resolve(s, timeout_s) for s in servers)))


async def _resolve(server: DnsServer, timeout_s: float) -> _Target:
    target = server.target
    if target.is_ip:
        return _Target(server.name, target)
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(target.host, target.port, type=socket.SOCK_DGRAM), timeout_s
        )
    except (OSError, TimeoutError) as err:
        detail = f"cannot resolve {target.host}: {getattr(err, 'strerror', None) or 'timed out'}"
        return _Target(server.name, None, Failure("unresolved", detail))
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    if not infos:
        return _Target(server.name, None, Failure("unresolved", f"{target.host} has no address"))
    return _Target(server.name, ServerAddress(str(infos[0][4][0]), target.port))


async def _query(
    address: ServerAddress,
    qname: str,
    qtype: str,
    *,
    recurse: bool,
    timeout_s: float,
    limit: asyncio.Semaphore,
) -> Reply | Failure:
    async with limit:
        try:
            return await ask(address, qname, qtype, recurse=recurse, timeout_s=timeout_s)
        except QueryError as err:
            return Failure(err.kind, err.detail)


def _read(reply: Reply, key: RecordKey, expected: Expected, *, authoritative: bool) -> Outcome:
    try:
        return read_answer(reply.message, key.name, expected.qtype, authoritative=authoritative)
    except BadAnswer as err:
        return Failure(err.kind, f"{err.detail} for {expected.qtype} {key.name}")


async def _ask_nameserver(
    target: _Target,
    zone: str,
    watched: Mapping[RecordKey, Expected],
    timeout_s: float,
    limit: asyncio.Semaphore,
) -> tuple[ServerView, float | None]:
    """The SOA serial first (a server that cannot answer it is not asked more), then every
    watched record, without recursion; answers must be authoritative."""
    if target.address is None:
        return ServerView(target.name, failure=target.failure), None
    reply = await _query(
        target.address, zone + ".", "SOA", recurse=False, timeout_s=timeout_s, limit=limit
    )
    if isinstance(reply, Failure):
        return ServerView(target.name, failure=reply), None
    try:
        serial = read_serial(reply.message, zone + ".")
    except BadAnswer as err:
        return ServerView(target.name, failure=Failure(err.kind, f"{err.detail} ({zone})")), None
    answers = await _ask_all(target.address, watched, timeout_s, limit, recurse=False)
    return ServerView(target.name, answers=answers, serial=serial), float(reply.rtt_ms)


async def _ask_resolver(
    target: _Target,
    watched: Mapping[RecordKey, Expected],
    timeout_s: float,
    limit: asyncio.Semaphore,
) -> ServerView:
    """Every watched record, with recursion desired."""
    if target.address is None:
        return ServerView(target.name, failure=target.failure)
    answers = await _ask_all(target.address, watched, timeout_s, limit, recurse=True)
    failures = [o for o in answers.values() if isinstance(o, Failure)]
    if (
        failures
        and len(failures) == len(answers)
        and failures[0].kind in ("timeout", "unreachable")
    ):
        return ServerView(target.name, failure=failures[0])
    return ServerView(target.name, answers=answers)


async def _ask_all(
    address: ServerAddress,
    watched: Mapping[RecordKey, Expected],
    timeout_s: float,
    limit: asyncio.Semaphore,
    *,
    recurse: bool,
) -> dict[RecordKey, Outcome]:
    keys = sorted(watched)
    replies = await asyncio.gather(
        *(
            _query(
                address,
                key.name,
                watched[key].qtype,
                recurse=recurse,
                timeout_s=timeout_s,
                limit=limit,
            )
            for key in keys
        )
    )
    answers: dict[RecordKey, Outcome] = {}
    for key, reply in zip(keys, replies, strict=True):
        answers[key] = (
            reply
            if isinstance(reply, Failure)
            else _read(reply, key, watched[key], authoritative=not recurse)
        )
    return answers
