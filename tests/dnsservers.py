"""Real DNS servers on loopback for tests: knot (authoritative) and unbound (resolver).

A :class:`DnsLab` starts and stops them::

    async with DnsLab() as lab:
        zone = cloudflare_zone("spacevision.app", records, ttl=3)
        ns1 = await lab.knot([zone], name="ns1")
        ns2 = await lab.knot([zone], name="ns2")
        r1 = await lab.unbound({"spacevision.app": [ns1, ns2]}, name="r1")
        await ns1.set_rrset("spacevision.app", "status", "A", ["203.0.113.11"], ttl=3)

- Every server listens on its own loopback address (127.0.0.2, .3, …) on a free port, so
  nameservers are told apart by address as in the real world; nothing listens anywhere else,
  and unbound is configured so that it can never ask a server off this machine (every name
  outside the zones it is given is refused, and the root is stubbed to a closed loopback port).
- Zones are :class:`ZoneData`: records in presentation format. :func:`cloudflare_zone` builds
  one the way Cloudflare's nameservers would answer the records the API holds (proxied
  records become Cloudflare addresses, TTL 1 becomes 300), from API records or from the
  BIND export; :func:`bind_records` reads that export.
- Live edits go through ``knotc zone-begin/zone-set/zone-unset/zone-commit`` and bump the
  serial (or set it); :meth:`KnotServer.replace` reloads a whole new zone file.
- A zone may be DNSSEC-signed by knot (``ZoneData(dnssec=True)``); :meth:`KnotServer.ds`
  gives the DS records a parent zone would publish. A parent zone is just another zone with NS
  and glue for the child (:meth:`ZoneData.delegate`).
- Servers are stopped by PID (SIGTERM, then SIGKILL) when the lab closes, and their
  temporary directory removed. :meth:`KnotServer.pause` (SIGSTOP) makes a server that
  accepts datagrams but never answers: a timeout, where a stopped server is unreachable.

This module is test support: it imports nothing from flarewatch, so the probe and the
servers it is tested against cannot share a mistake.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer

BINARIES = ("knotd", "knotc", "keymgr", "unbound", "unbound-control")
"""What the lab runs; :func:`missing_binaries` says which are not installed."""

CLOUDFLARE_EDGE_V4 = ("104.16.132.229", "104.16.133.229")
CLOUDFLARE_EDGE_V6 = ("2606:4700::6810:84e5", "2606:4700::6810:85e5")
"""Addresses in Cloudflare's published ranges, answered for proxied records."""
AUTO_TTL = 300
SOA_MAILBOX = "dns.cloudflare.com."
SOA_TIMERS = (10000, 2400, 604800, 3600)  # refresh, retry, expire, minimum: Cloudflare's
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

T = TypeVar("T")


def missing_binaries() -> list[str]:
    """The lab's programs that are not on ``PATH`` (or in /usr/sbin, where Debian puts them)."""
    return [name for name in BINARIES if _which(name) is None]


def _which(name: str) -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def _exe(name: str) -> str:
    found = _which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} is not installed (apt-get install knot knot-dnsutils unbound)"
        )
    return found


class DnsLabError(Exception):
    """A server did not start, or a control command failed; the message has its log."""


# --------------------------------------------------------------------------- zone content


@dataclass(frozen=True)
class Rr:
    """One resource record in presentation format.

    ``name`` is relative to the zone, ``@`` for the apex, or absolute with a trailing dot;
    ``rdata`` is as in a zone file (``10 mx.example.com.``, ``"v=spf1 -all"``).
    """

    name: str
    type: str
    rdata: str
    ttl: int = AUTO_TTL

    def owner(self, zone: str) -> str:
        """The absolute owner name."""
        return absolute(self.name, zone)

    def line(self, zone: str) -> str:
        """The zone-file line of this record."""
        return f"{self.owner(zone)}\t{self.ttl}\tIN\t{self.type.upper()}\t{self.rdata}"


def absolute(name: str, zone: str) -> str:
    """``name`` made absolute in ``zone`` (``@`` is the apex)."""
    zone = zone.rstrip(".")
    if name in ("@", ""):
        return zone + "."
    if name.endswith("."):
        return name
    if name == zone or name.endswith("." + zone):
        return name + "."
    return f"{name}.{zone}."


@dataclass(frozen=True)
class ZoneData:
    """A zone as a knot instance serves it.

    ``nameservers`` become the apex NS records (with their ``glue`` addresses, when given, as
    A records so names in the zone resolve without leaving it). The SOA's primary is the
    first nameserver.
    """

    name: str
    records: tuple[Rr, ...] = ()
    serial: int = 2040000001
    nameservers: tuple[str, ...] = ("ns1", "ns2")
    glue: Mapping[str, str] = field(default_factory=dict)
    soa_ttl: int = 3600
    negative_ttl: int = SOA_TIMERS[3]
    dnssec: bool = False

    @property
    def origin(self) -> str:
        """The zone's name, absolute."""
        return self.name.rstrip(".") + "."

    def soa(self, serial: int | None = None) -> str:
        """The SOA RDATA with ``serial`` (default: the zone's)."""
        primary = absolute(self.nameservers[0], self.name) if self.nameservers else self.origin
        refresh, retry, expire, _ = SOA_TIMERS
        number = self.serial if serial is None else serial
        return f"{primary} {SOA_MAILBOX} {number} {refresh} {retry} {expire} {self.negative_ttl}"

    def render(self) -> str:
        """The zone file."""
        lines = [
            f"$ORIGIN {self.origin}",
            f"@\t{self.soa_ttl}\tIN\tSOA\t{self.soa()}",
            *(f"@\t86400\tIN\tNS\t{absolute(ns, self.name)}" for ns in self.nameservers),
            *(
                Rr(host, "AAAA" if ":" in addr else "A", addr, 86400).line(self.name)
                for host, addr in sorted(self.glue.items())
            ),
            *(rr.line(self.name) for rr in self.records),
        ]
        return "\n".join(lines) + "\n"

    def with_records(self, records: Iterable[Rr], *, serial: int | None = None) -> ZoneData:
        """A copy holding ``records`` instead (and ``serial``, default: one more)."""
        return replace(
            self, records=tuple(records), serial=self.serial + 1 if serial is None else serial
        )

    def delegate(
        self,
        child: str,
        nameservers: Mapping[str, str | None],
        *,
        ds: Iterable[str] = (),
        ttl: int = 86400,
    ) -> ZoneData:
        """A copy that delegates ``child`` to ``nameservers`` (name → glue address or None),
        with DS records (RDATA text) when the child is signed."""
        added = [
            Rr(absolute(child, self.name), "NS", absolute(ns, self.name), ttl) for ns in nameservers
        ]
        added += [
            Rr(absolute(ns, self.name), "AAAA" if ":" in addr else "A", addr, ttl)
            for ns, addr in nameservers.items()
            if addr is not None
        ]
        added += [Rr(absolute(child, self.name), "DS", text, ttl) for text in ds]
        return replace(self, records=(*self.records, *added))


def _rdata_text(
    rtype: str, content: str, priority: Any = None, data: Mapping[str, Any] | None = None
) -> str:
    """Presentation RDATA of a Cloudflare API record."""
    if rtype in ("CNAME", "NS", "PTR"):
        return content.rstrip(".") + "."
    if rtype == "MX":
        return f"{int(priority or 0)} {content.rstrip('.')}."
    if rtype == "TXT":
        if content.startswith('"'):
            return content
        escaped = content.replace("\\", "\\\\").replace('"', '\\"')
        return " ".join(f'"{escaped[i : i + 255]}"' for i in range(0, max(len(escaped), 1), 255))
    if rtype == "CAA" and data:
        value = str(data["value"]).replace('"', '\\"')
        return f'{data["flags"]} {data["tag"]} "{value}"'
    if rtype == "SRV" and data:
        target = str(data["target"]).rstrip(".") + "."
        return f"{data['priority']} {data['weight']} {data['port']} {target}"
    return content


def cloudflare_zone(
    zone: str,
    records: Iterable[Mapping[str, Any]] | str,
    *,
    serial: int | None = None,
    ttl: int | None = None,
    nameservers: Sequence[str] = ("ns1", "ns2"),
    glue: Mapping[str, str] | None = None,
    edge_v4: Sequence[str] = CLOUDFLARE_EDGE_V4,
    edge_v6: Sequence[str] = CLOUDFLARE_EDGE_V6,
    negative_ttl: int | None = None,
) -> ZoneData:
    """What Cloudflare's nameservers serve for ``records``.

    ``records`` are API records (dicts as the API answers, or models with ``model_dump``) or
    the zone's BIND export (:func:`bind_records` reads it; its SOA serial is kept unless
    ``serial`` is given). As Cloudflare does: a proxied A, AAAA or CNAME answers with
    Cloudflare's addresses (``edge_v4`` and ``edge_v6``, both families) and TTL 300; a
    DNS-only record with TTL 1 ("automatic") has TTL 300; a CNAME at the apex is flattened
    to the addresses (only proxied ones can be flattened here: the lab cannot resolve the
    target). The zone's NS records are replaced by ``nameservers`` (in-zone names, with
    ``glue``). ``ttl`` serves every record with that TTL instead (small TTLs keep tests fast).
    """
    if isinstance(records, str):
        found_serial, api_records = bind_records(records, zone)
        serial = serial if serial is not None else found_serial
    else:
        api_records = [dict(r.model_dump() if hasattr(r, "model_dump") else r) for r in records]
    apex = zone.rstrip(".").lower()
    out: list[Rr] = []
    proxied_names: set[str] = set()
    for record in api_records:
        rtype = str(record["type"]).upper()
        name = str(record["name"]).rstrip(".").lower()
        if rtype == "NS" and name == apex:
            continue
        record_ttl = int(record.get("ttl") or 1)
        served_ttl = ttl if ttl is not None else (AUTO_TTL if record_ttl == 1 else record_ttl)
        if record.get("proxied") and rtype in ("A", "AAAA", "CNAME"):
            proxied_names.add(name)
            continue
        if rtype == "CNAME" and name == apex:
            raise ValueError(
                "a DNS-only CNAME at the apex is flattened to its target's addresses, which the "
                "lab cannot resolve: pass the addresses as A/AAAA records instead"
            )
        rdata = _rdata_text(
            rtype, str(record.get("content") or ""), record.get("priority"), record.get("data")
        )
        out.append(Rr(name + ".", rtype, rdata, served_ttl))
    edge_ttl = ttl if ttl is not None else AUTO_TTL
    for name in sorted(proxied_names):
        out += [Rr(name + ".", "A", addr, edge_ttl) for addr in edge_v4]
        out += [Rr(name + ".", "AAAA", addr, edge_ttl) for addr in edge_v6]
    return ZoneData(
        name=apex,
        records=tuple(out),
        serial=serial if serial is not None else ZoneData.serial,
        nameservers=tuple(nameservers),
        glue=dict(glue or {}),
        negative_ttl=negative_ttl if negative_ttl is not None else (ttl or SOA_TIMERS[3]),
    )


_CF_TAGS = re.compile(r"cf_tags=(\S*)")


def _split_comment(line: str) -> tuple[str, str]:
    quoted = escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            return line[:index], line[index + 1 :]
    return line, ""


def bind_records(text: str, zone: str) -> tuple[int | None, list[dict[str, Any]]]:
    """The SOA serial and the records of a Cloudflare BIND export, as API-like dicts.

    Handles the export's layout (one record per line, absolute names, ``; cf_tags=...``
    comments carrying ``cf-proxied``); not a general zone-file reader.
    """
    origin = dns.name.from_text(zone.rstrip(".") + ".")
    serial: int | None = None
    out: list[dict[str, Any]] = []
    for raw in text.splitlines():
        data, comment = _split_comment(raw)
        if not data.strip() or data.lstrip().startswith("$"):
            continue
        tok = dns.tokenizer.Tokenizer(data)
        owner = tok.get_name(origin)
        ttl = tok.get_int()
        klass = tok.get_string()
        if klass.upper() != "IN":
            raise ValueError(f"unexpected class {klass} in {raw!r}")
        rtype = tok.get_string().upper()
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN, dns.rdatatype.from_text(rtype), tok, origin=origin, relativize=False
        )
        if rtype == "SOA":
            serial = int(getattr(rdata, "serial"))  # noqa: B009 - typed as Rdata
            continue
        tags = _CF_TAGS.search(comment)
        proxied = bool(tags and "cf-proxied:true" in tags.group(1).split(","))
        record: dict[str, Any] = {
            "type": rtype,
            "name": owner.to_text(omit_final_dot=True),
            "ttl": ttl,
            "proxied": proxied,
        }
        text_rdata = rdata.to_text()
        if rtype == "MX":
            priority, _, exchange = text_rdata.partition(" ")
            record.update(priority=int(priority), content=exchange.rstrip("."))
        elif rtype in ("CNAME", "NS", "PTR"):
            record["content"] = text_rdata.rstrip(".")
        elif rtype == "CAA":
            flags, tag, value = text_rdata.split(" ", 2)
            record["data"] = {"flags": int(flags), "tag": tag, "value": value.strip('"')}
        elif rtype == "TXT":
            record["content"] = text_rdata
        else:
            record["content"] = text_rdata
        out.append(record)
    return serial, out


# --------------------------------------------------------------------------- addresses


_NEXT_HOST = itertools.count(2 + os.getpid() % 200)


def _bindable(host: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def free_endpoint(host: str | None = None) -> tuple[str, int]:
    """A loopback address of its own (127.0.0.2 … .254, or ``host``) and a port free for UDP
    and TCP."""
    for _ in range(500):
        candidate = host or f"127.0.0.{2 + next(_NEXT_HOST) % 253}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((candidate, 0))
            except OSError:
                continue
            port = int(probe.getsockname()[1])
        if _bindable(candidate, port):
            return candidate, port
    raise DnsLabError("no free loopback address and port")


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (answers ICMP unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- processes


async def _run(*argv: str, timeout_s: float = 10.0) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        raise DnsLabError(f"{' '.join(argv)} did not finish in {timeout_s:g} s") from None
    text = out.decode("utf-8", "replace")
    errors = "\n".join(
        line
        for line in err.decode("utf-8", "replace").splitlines()
        if "database storage" not in line
    )
    if proc.returncode != 0 or "error:" in errors:
        raise DnsLabError(f"{' '.join(argv[1:])} failed ({proc.returncode}): {errors or text}")
    return text


async def poll(
    check: Callable[[], Awaitable[T | None]], *, timeout_s: float, interval_s: float = 0.05
) -> T:
    """Call ``check`` until it returns something other than ``None``; fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout_s:g} s")
        await asyncio.sleep(interval_s)


async def ask(
    host: str, port: int, qname: str, qtype: str, *, recurse: bool = False, timeout_s: float = 1.0
) -> dns.message.Message:
    """One question to one server (UDP)."""
    query = dns.message.make_query(qname, qtype)
    if not recurse:
        query.flags &= ~dns.flags.RD
    return await dns.asyncquery.udp(query, host, timeout=timeout_s, port=port)


async def listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at ``host:port`` (knot and unbound do)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    await writer.wait_closed()
    return True


class _Process:
    """A server process we started, its directory and its log."""

    def __init__(self, label: str, workdir: Path) -> None:
        self.label = label
        self.workdir = workdir
        self.log_path = workdir / "server.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.paused = False

    @property
    def pid(self) -> int | None:
        """The PID while running."""
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    def log(self) -> str:
        """The server's output so far (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    async def spawn(self, *argv: str) -> None:
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
            )

    def exited(self) -> bool:
        return self.proc is not None and self.proc.returncode is not None

    async def stop(self) -> None:
        """SIGTERM by PID, SIGKILL if still running after a few seconds; idempotent."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        if self.paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
            self.paused = False
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()

    def pause(self) -> None:
        """SIGSTOP: the socket stays open, nothing answers."""
        if self.proc is not None and self.proc.returncode is None:
            os.kill(self.proc.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        if self.proc is not None and self.proc.returncode is None and self.paused:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.paused = False


# --------------------------------------------------------------------------- knot


class KnotServer:
    """One knotd serving some zones on its own loopback address and port."""

    def __init__(
        self, name: str, zones: Sequence[ZoneData], workdir: Path, *, host: str | None = None
    ) -> None:
        self.name = name
        self.zones = {z.name.rstrip(".").lower(): z for z in zones}
        self.workdir = workdir
        self.host, self.port = free_endpoint(host)
        self._process = _Process(f"knot {name}", workdir)
        self.config = workdir / "knot.conf"

    @property
    def address(self) -> str:
        """``HOST:PORT`` as flarewatch's config takes it."""
        return f"{self.host}:{self.port}"

    @property
    def at(self) -> str:
        """``HOST@PORT`` as knot and unbound write it."""
        return f"{self.host}@{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's PID while running."""
        return self._process.pid

    def _write(self) -> None:
        storage = self.workdir / "db"
        storage.mkdir(exist_ok=True)
        zones_conf = []
        for zone in self.zones.values():
            (self.workdir / f"{zone.name}.zone").write_text(zone.render())
            entry = f"  - domain: {zone.origin}\n    file: {self.workdir}/{zone.name}.zone\n"
            if zone.dnssec:
                entry += "    dnssec-signing: on\n    dnssec-policy: lab\n"
            zones_conf.append(entry)
        self.config.write_text(
            f"""server:
    rundir: "{self.workdir}"
    listen: {self.at}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{storage}"
log:
  - target: stderr
    any: info
policy:
  - id: lab
    algorithm: ecdsap256sha256
    ksk-lifetime: 0
    zsk-lifetime: 0
    nsec3: off
template:
  - id: default
    storage: "{self.workdir}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
{"".join(zones_conf)}"""
        )

    async def start(self) -> KnotServer:
        """Write the config and zones, start knotd, wait until every zone answers."""
        self._write()
        await self._process.spawn(_exe("knotd"), "-c", str(self.config))
        try:
            await self._serving()
        except TimeoutError as err:
            await self._process.stop()
            raise DnsLabError(f"knot {self.name} did not start:\n{self._process.log()}") from err
        return self

    async def _serving(self) -> None:
        """Wait until every zone answers its SOA."""
        for zone in self.zones:
            await poll(functools.partial(self._soa_or_none, zone), timeout_s=START_TIMEOUT_S)

    async def _soa_or_none(self, zone: str) -> int | None:
        if self._process.exited():
            raise DnsLabError(f"knot {self.name} exited:\n{self._process.log()}")
        try:
            return await self.serial(zone, timeout_s=0.2)
        except (dns.exception.DNSException, OSError, LookupError):
            return None

    async def stop(self) -> None:
        """Stop knotd (by PID); the port then answers ICMP unreachable."""
        await self._process.stop()

    async def restart(self) -> None:
        """Start again on the same address and port, from the zone files as last written."""
        await self._process.stop()
        await self._process.spawn(_exe("knotd"), "-c", str(self.config))
        await self._serving()

    def pause(self) -> None:
        """Freeze knotd (SIGSTOP): questions time out."""
        self._process.pause()

    def resume(self) -> None:
        """Unfreeze after :meth:`pause`."""
        self._process.resume()

    def log(self) -> str:
        """knotd's output so far."""
        return self._process.log()

    async def knotc(self, *args: str) -> str:
        """Run one ``knotc`` command against this server (blocking until done)."""
        return await _run(_exe("knotc"), "-b", "-c", str(self.config), *args)

    async def serial(self, zone: str, *, timeout_s: float = 1.0) -> int:
        """The SOA serial the server answers for ``zone``."""
        reply = await ask(self.host, self.port, absolute("@", zone), "SOA", timeout_s=timeout_s)
        for rrset in reply.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(getattr(rrset[0], "serial"))  # noqa: B009 - typed as Rdata
        raise LookupError(f"knot {self.name} gave no SOA for {zone}")

    async def edit(
        self,
        zone: str,
        *,
        remove: Iterable[tuple[str, str] | tuple[str, str, str]] = (),
        add: Iterable[Rr] = (),
        serial: int | None = None,
    ) -> int:
        """One transaction: remove ``(name, type)`` RRsets or ``(name, type, rdata)`` records,
        add ``add``; knot bumps the serial (or sets ``serial``). Returns the new serial."""
        key = zone.rstrip(".").lower()
        await self.knotc("zone-begin", key)
        try:
            for item in remove:
                await self.knotc("zone-unset", key, absolute(item[0], key), *item[1:])
            for rr in add:
                await self.knotc("zone-set", key, rr.owner(key), str(rr.ttl), rr.type, rr.rdata)
            if serial is not None:
                soa_ttl = self.zones[key].soa_ttl
                await self.knotc(
                    "zone-set", key, "@", str(soa_ttl), "SOA", self.zones[key].soa(serial)
                )
            await self.knotc("zone-commit", key)
        except DnsLabError:
            with contextlib.suppress(DnsLabError):
                await self.knotc("zone-abort", key)
            raise
        return await self.serial(key)

    async def set_rrset(
        self, zone: str, name: str, rtype: str, values: Sequence[str], *, ttl: int = AUTO_TTL
    ) -> int:
        """Replace the ``name``/``rtype`` RRset by ``values`` (none: delete it); new serial."""
        add = [Rr(name, rtype, value, ttl) for value in values]
        remove = [(name, rtype)] if await self._has(zone, name, rtype) else []
        return await self.edit(zone, remove=remove, add=add)

    async def _has(self, zone: str, name: str, rtype: str) -> bool:
        reply = await ask(self.host, self.port, absolute(name, zone), rtype)
        target = dns.name.from_text(absolute(name, zone))
        return any(
            r.name == target and r.rdtype == dns.rdatatype.from_text(rtype) for r in reply.answer
        )

    async def replace(self, zone: ZoneData) -> int:
        """Serve ``zone`` instead of the zone of that name, reloaded from a new zone file."""
        key = zone.name.rstrip(".").lower()
        if key not in self.zones:
            raise KeyError(f"knot {self.name} does not serve {key}")
        self.zones[key] = zone
        (self.workdir / f"{zone.name}.zone").write_text(zone.render())
        await self.knotc("zone-reload", key)
        return await poll(lambda: self._serial_is(key, zone.serial), timeout_s=START_TIMEOUT_S)

    async def _serial_is(self, zone: str, serial: int) -> int | None:
        found = await self.serial(zone)
        return found if found == serial or self.zones[zone].dnssec else None

    async def ds(self, zone: str) -> list[str]:
        """The DS RDATA (SHA-256) of a signed zone's KSK, for the parent."""
        out = await _run(_exe("keymgr"), "-c", str(self.config), absolute("@", zone), "ds")
        found = []
        for line in out.splitlines():
            parts = line.split()
            if "DS" in parts and parts[parts.index("DS") + 3] == "2":
                found.append(" ".join(parts[parts.index("DS") + 1 :]))
        return found


# --------------------------------------------------------------------------- unbound


Mode = Literal["stub", "forward"]


class UnboundResolver:
    """One unbound resolver that knows only the zones it is given (stub or forward)."""

    def __init__(
        self,
        name: str,
        zones: Mapping[str, Sequence[KnotServer | str]],
        workdir: Path,
        *,
        mode: Mode = "stub",
        cache_min_ttl: int = 0,
        cache_max_ttl: int = 86400,
        cache_max_negative_ttl: int = 3600,
    ) -> None:
        self.name = name
        self.zones = {zone.rstrip(".").lower(): list(targets) for zone, targets in zones.items()}
        self.workdir = workdir
        self.mode = mode
        self.cache_min_ttl = cache_min_ttl
        self.cache_max_ttl = cache_max_ttl
        self.cache_max_negative_ttl = cache_max_negative_ttl
        self.host, self.port = free_endpoint()
        self._process = _Process(f"unbound {name}", workdir)
        self.config = workdir / "unbound.conf"

    @property
    def address(self) -> str:
        """``HOST:PORT`` as flarewatch's config takes it."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The resolver's PID while running."""
        return self._process.pid

    def _write(self) -> None:
        blackhole = closed_port()
        local = "".join(f'    local-zone: "{zone}." transparent\n' for zone in self.zones)
        upstream = ""
        for zone, targets in self.zones.items():
            kind = "stub" if self.mode == "stub" else "forward"
            addrs = "".join(
                f"    {kind}-addr: {t.at if isinstance(t, KnotServer) else t}\n" for t in targets
            )
            upstream += f'{kind}-zone:\n    name: "{zone}."\n{addrs}'
        self.config.write_text(
            f"""server:
    interface: {self.host}@{self.port}
    port: {self.port}
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{self.workdir}"
    pidfile: "{self.workdir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    do-ip6: no
    so-reuseport: no
    outgoing-range: 64
    outgoing-interface: 127.0.0.1
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    qname-minimisation: no
    minimal-responses: yes
    prefetch: no
    serve-expired: no
    target-fetch-policy: "0 0 0 0 0"
    infra-host-ttl: 1
    cache-min-ttl: {self.cache_min_ttl}
    cache-max-ttl: {self.cache_max_ttl}
    cache-max-negative-ttl: {self.cache_max_negative_ttl}
    local-zone: "." refuse
{local}stub-zone:
    name: "."
    stub-addr: 127.0.0.1@{blackhole}
{upstream}remote-control:
    control-enable: yes
    control-interface: "{self.workdir}/control.sock"
    control-use-cert: no
"""
        )

    async def start(self) -> UnboundResolver:
        """Write the config, start unbound, wait until its control channel answers."""
        self._write()
        await self._process.spawn(_exe("unbound"), "-d", "-c", str(self.config))
        try:
            await poll(self._up, timeout_s=START_TIMEOUT_S)
        except TimeoutError as err:
            await self._process.stop()
            raise DnsLabError(f"unbound {self.name} did not start:\n{self._process.log()}") from err
        return self

    async def _up(self) -> bool | None:
        if self._process.exited():
            raise DnsLabError(f"unbound {self.name} exited:\n{self._process.log()}")
        try:
            await self.control("status")
        except DnsLabError:
            return None
        return True

    async def stop(self) -> None:
        """Stop unbound (by PID)."""
        await self._process.stop()

    def pause(self) -> None:
        """Freeze unbound (SIGSTOP): questions time out."""
        self._process.pause()

    def resume(self) -> None:
        """Unfreeze after :meth:`pause`."""
        self._process.resume()

    def log(self) -> str:
        """unbound's output so far."""
        return self._process.log()

    async def control(self, *args: str) -> str:
        """One ``unbound-control`` command."""
        return await _run(_exe("unbound-control"), "-c", str(self.config), *args)

    async def flush(self, zone: str | None = None) -> None:
        """Empty the cache (of ``zone`` and below, or everything)."""
        if zone is None:
            await self.control("flush_zone", ".")
            await self.control("flush_infra", "all")
        else:
            await self.control("flush_zone", absolute("@", zone))

    async def lookup(
        self, name: str, rtype: str, *, timeout_s: float = 2.0
    ) -> tuple[list[str], int | None]:
        """Ask the resolver (recursion desired): the answer's values and TTL (filling its cache)."""
        reply = await ask(self.host, self.port, name, rtype, recurse=True, timeout_s=timeout_s)
        target = dns.name.from_text(name)
        for rrset in reply.answer:
            if rrset.name == target and rrset.rdtype == dns.rdatatype.from_text(rtype):
                return sorted(rd.to_text() for rd in rrset), rrset.ttl
        return [], None


# --------------------------------------------------------------------------- the lab


class DnsLab:
    """Starts servers in one temporary directory and stops them all on exit."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fw-dns-"))
        self.servers: list[KnotServer | UnboundResolver] = []
        self._count = itertools.count()

    def _dir(self, name: str) -> Path:
        path = self.root / f"{next(self._count)}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}"
        path.mkdir()
        return path

    async def knot(
        self, zones: Sequence[ZoneData], *, name: str = "ns", host: str | None = None
    ) -> KnotServer:
        """Start a knot instance serving ``zones`` (on its own address, or ``host``)."""
        server = KnotServer(name, zones, self._dir(name), host=host)
        self.servers.append(server)
        return await server.start()

    async def unbound(
        self,
        zones: Mapping[str, Sequence[KnotServer | str]],
        *,
        name: str = "resolver",
        mode: Mode = "stub",
        **options: int,
    ) -> UnboundResolver:
        """Start an unbound resolver for ``zones`` (zone → its servers; stub or forward)."""
        resolver = UnboundResolver(name, zones, self._dir(name), mode=mode, **options)
        self.servers.append(resolver)
        return await resolver.start()

    async def aclose(self) -> None:
        """Stop every server (by PID) and remove the directory."""
        errors = []
        for server in reversed(self.servers):
            try:
                await server.stop()
            except Exception as err:  # keep stopping the others
                errors.append(err)
        shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise errors[0]

    async def __aenter__(self) -> DnsLab:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
