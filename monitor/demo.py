"""``flarewatch demo``: the SpaceVision estate on loopback, monitored, with incidents on a timer.

One process runs everything a newcomer needs to see flarewatch work, and nothing leaves
loopback:

- the simulator with the SpaceVision seed (API, edge, ``/__sim`` controls) on a free port;
- the zone's two nameservers and three caching resolvers (:mod:`cfsim.dnsserver`), each on a
  free UDP port. The resolvers age their caches faster than real time (5, 10 and 20 times),
  so that a 300 s TTL runs out within a minute and a DNS change visibly reaches one
  resolver after another;
- the daemon, on ``config/demo.yaml`` with the environment it reads (:meth:`Estate.environ`);
- an incident player: background traffic for realistic analytics, then one scripted incident
  every few minutes, announced on the console, held, and cleared, so that probes go red and
  recover (:data:`INCIDENTS`, :func:`plan`).

The incidents are data (:class:`Incident`: steps against the simulator's controls and API)
and the timeline a pure function of them (:func:`plan`); :class:`Player` only carries them
out. SIGINT or SIGTERM stops everything (exit 0); SIGHUP reloads the daemon's config.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import click

from cfapi import CloudflareClient, CloudflareError, Credentials, RequestBudget
from cfsim.dnsserver import Nameserver, Resolver
from cfsim.server import SimServer
from monitor.app import secrets_of
from monitor.configload import ConfigError, load_config
from monitor.daemon import STOP_TIMEOUT_S, Daemon, Options, StartError
from monitor.logging import Redactor, configure_logging
from monitor.sdnotify import Notifier
from probes.registry import Registry, RegistryError, default_registry

DEFAULT_LISTEN = "127.0.0.1:9310"
DEFAULT_EVERY_S = 120.0
"""An incident starts every two minutes..."""
DEFAULT_LENGTH_S = 60.0
"""...and is held for one."""
RESOLVER_SPEEDS = (20.0, 10.0, 5.0)
"""How much faster than real time each demo resolver ages its cache."""
NAMESERVERS = 2
EXPIRY_MARGIN_S = 10.0
"""An incident's faults expire by themselves this long after it should have been cleared."""


class DemoError(Exception):
    """The demo cannot start; the message says why (exit code 2)."""


# --- the estate -------------------------------------------------------------------------


def find_demo_config(*, prefix: Path | None = None, checkout: Path | None = None) -> Path:
    """Where ``config/demo.yaml`` is.

    In a checkout (``pyproject.toml`` next to the ``monitor`` package, an editable install
    included) it is the checkout's own file, so that an edit shows at the next run. Installed
    from a wheel, it is the data file under ``sys.prefix/share/flarewatch/config``.
    """
    checkout = checkout if checkout is not None else Path(__file__).resolve().parents[1]
    prefix = prefix if prefix is not None else Path(sys.prefix)
    candidates = []
    if (checkout / "pyproject.toml").is_file():
        candidates.append(checkout / "config" / "demo.yaml")
    candidates.append(prefix / "share" / "flarewatch" / "config" / "demo.yaml")
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise DemoError(
        f"the demo configuration demo.yaml is missing (looked at {looked}); "
        "reinstall flarewatch, or run the demo from a checkout"
    )


def accelerated_clock(
    speed: float, base: Callable[[], float] = time.monotonic
) -> Callable[[], float]:
    """A monotonic clock running ``speed`` times faster than ``base``."""
    return lambda: base() * speed


@dataclass
class Estate:
    """The simulated SpaceVision estate: the simulator, the zone's nameservers, resolvers."""

    sim: SimServer
    nameservers: list[Nameserver]
    resolvers: list[Resolver]

    @classmethod
    async def start(
        cls,
        *,
        host: str = "127.0.0.1",
        resolver_speeds: Sequence[float] = RESOLVER_SPEEDS,
    ) -> Estate:
        """Start the simulator, then the nameservers, then the resolvers in front of them."""
        sim = SimServer(seed="spacevision", host=host, port=0)
        estate = cls(sim, [], [])
        try:
            await sim.start()
            for _ in range(NAMESERVERS):
                nameserver = Nameserver(sim.state, host=host)
                await nameserver.start()
                estate.nameservers.append(nameserver)
            for index, speed in enumerate(resolver_speeds):
                upstream = estate.nameservers[index % NAMESERVERS].address
                resolver = Resolver(upstream, host=host, clock=accelerated_clock(speed))
                await resolver.start()
                estate.resolvers.append(resolver)
        except BaseException:
            await estate.stop()
            raise
        return estate

    @property
    def edge(self) -> str:
        """The simulator's ``host:port``, where the SpaceVision hostnames are connected."""
        return f"{self.sim.host}:{self.sim.port}"

    def environ(self, *, listen: str, state_dir: str) -> dict[str, str]:
        """The variables ``config/demo.yaml`` reads."""
        env = {
            "CLOUDFLARE_API_BASE_URL": self.sim.api_url,
            "CLOUDFLARE_API_TOKEN": self.sim.token,
            "CLOUDFLARE_ACCOUNT_ID": self.sim.account_id,
            "FLAREWATCH_DEMO_EDGE": self.edge,
            "FLAREWATCH_DEMO_LISTEN": listen,
            "FLAREWATCH_STATE_DIR": state_dir,
        }
        for index, nameserver in enumerate(self.nameservers):
            suffix = "" if index == 0 else f"_{index + 1}"
            env[f"FLAREWATCH_DEMO_NAMESERVER{suffix}"] = nameserver.address
        for index, resolver in enumerate(self.resolvers):
            env[f"FLAREWATCH_DEMO_RESOLVER_{index + 1}"] = resolver.address
        return env

    async def stop(self) -> None:
        """Stop the resolvers, the nameservers and the simulator (safe to call twice)."""
        for server in [*self.resolvers, *self.nameservers]:
            await server.stop()
        self.resolvers.clear()
        self.nameservers.clear()
        await self.sim.stop()


# --- the incidents: data ----------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A simulator fault (``POST /__sim/faults``) held while the incident lasts."""

    spec: Mapping[str, Any]


@dataclass(frozen=True)
class Traffic:
    """Background traffic for one subject (``POST /__sim/traffic``).

    ``subject`` is named as users know it: the Worker script, the KV namespace's title, the
    R2 bucket, the D1 database's name (the player looks up ids where the simulator wants
    them). In an incident it replaces the baseline for that subject until the incident is
    cleared.
    """

    kind: Literal["workers", "kv", "r2", "d1"]
    subject: str
    rps: float
    error_ratio: float = 0.0
    latency_ms: float = 8.0
    cpu_ms: float = 2.0
    duration_ms: float = 20.0


@dataclass(frozen=True)
class DnsFlip:
    """Change one DNS record through the API, from whichever of two values it holds to the
    other (so that every replay is a change)."""

    zone: str
    name: str
    type: str
    values: tuple[str, str]


@dataclass(frozen=True)
class EdgeLoad:
    """Real requests to a site at the simulator's edge while the incident lasts.

    Background traffic exists only in analytics; these reach the Worker, so its tail (the
    daemon's error capture, ``wrangler tail``) sees the invocations and their exceptions.
    """

    host: str
    path: str
    rps: float


Step = Fault | Traffic | DnsFlip | EdgeLoad


@dataclass(frozen=True)
class Incident:
    """One scripted incident.

    ``steps`` are applied when it starts; a *held* incident's faults are removed and its
    traffic set back to the baseline when it is cleared. A change that is not held (a DNS
    change) is left in place: it resolves itself as it propagates.
    """

    key: str
    title: str
    watch: str
    recovery: str
    probes: tuple[str, ...]
    steps: tuple[Step, ...]
    held: bool = True


BASELINE: tuple[Traffic, ...] = (
    Traffic("workers", "api", rps=6.0, error_ratio=0.002, cpu_ms=1.8, duration_ms=25.0),
    Traffic("workers", "image-processor", rps=0.5, cpu_ms=14.0, duration_ms=120.0),
    Traffic("kv", "SESSIONS", rps=20.0, latency_ms=4.0),
    Traffic("kv", "CONFIG", rps=50.0, latency_ms=2.0),
)
"""Steady traffic for the whole demo, so analytics have realistic volumes and ratios."""

INCIDENTS: tuple[Incident, ...] = (
    Incident(
        key="kv-latency",
        title="KV latency spike on SESSIONS",
        watch="watch sessions-kv go warn, and api-worker slow down: its /health reads SESSIONS",
        recovery="api-worker recovers at its next run, sessions-kv with its next canary "
        "(within 20 s)",
        probes=("sessions-kv", "api-worker"),
        steps=(
            Traffic("kv", "SESSIONS", rps=20.0, latency_ms=150.0),
            Fault({"service": "kv", "resource": "SESSIONS", "latency_ms": 900}),
        ),
    ),
    Incident(
        key="worker-errors",
        title="Worker error burst on api",
        watch="watch api-worker go crit",
        recovery="api-worker recovers at its next run (within 10 s)",
        probes=("api-worker",),
        steps=(
            Traffic("workers", "api", rps=6.0, error_ratio=0.12, cpu_ms=1.8, duration_ms=25.0),
            Fault(
                {
                    "service": "workers",
                    "resource": "api",
                    "exception": "TypeError: Cannot read properties of undefined "
                    "(reading 'userId')",
                    "error_ratio": 0.5,
                }
            ),
            EdgeLoad("api.spacevision.app", "/health", rps=0.5),
        ),
    ),
    Incident(
        key="r2-quota",
        title="R2 bucket uploads near its quota",
        watch="watch uploads-r2 go warn (9.4 GB of 10 GB)",
        recovery="uploads-r2 recovers at its next run (within 15 s)",
        probes=("uploads-r2",),
        steps=(
            Fault(
                {
                    "service": "r2",
                    "resource": "uploads",
                    "capacity": {"bytes": 9_400_000_000, "objects": 51_200},
                }
            ),
        ),
    ),
    Incident(
        key="dns-change",
        title="DNS change of status.spacevision.app",
        watch="watch dns go warn while the resolvers catch up, one after another",
        recovery="dns turns ok when the last resolver has the new answer (about a minute)",
        probes=("dns",),
        steps=(
            DnsFlip(
                "spacevision.app", "status.spacevision.app", "A", ("203.0.113.10", "203.0.113.11")
            ),
        ),
        held=False,
    ),
)
"""The scripted incidents, played in this order, round and round."""


def incidents_named(keys: Sequence[str]) -> tuple[Incident, ...]:
    """The incidents with these keys, in that order (all of them for none); ``ValueError``."""
    if not keys:
        return INCIDENTS
    by_key = {incident.key: incident for incident in INCIDENTS}
    unknown = [key for key in keys if key not in by_key]
    if unknown:
        raise ValueError(
            f"unknown incident {', '.join(map(repr, unknown))}; "
            f"the incidents are {', '.join(by_key)}"
        )
    return tuple(by_key[key] for key in keys)


# --- the timeline: pure -----------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """When incidents come: one every ``every_s``, each held for ``length_s``, the first a
    quarter of ``every_s`` after the daemon is ready (an all-green estate first)."""

    every_s: float = DEFAULT_EVERY_S
    length_s: float = DEFAULT_LENGTH_S

    def __post_init__(self) -> None:
        if self.every_s <= 0 or self.length_s <= 0:
            raise ValueError("the time between incidents and their length must be more than 0")
        if self.length_s >= self.every_s:
            raise ValueError(
                f"an incident held for {human_s(self.length_s)} would run into the next one, "
                f"due {human_s(self.every_s)} after it starts; hold it for less"
            )

    @property
    def lead_s(self) -> float:
        """From ready to the first incident."""
        return self.every_s / 4


@dataclass(frozen=True)
class Cue:
    """Something the player does ``at_s`` seconds after the daemon became ready."""

    at_s: float
    number: int
    incident: Incident
    phase: Literal["start", "clear"]


def plan(incidents: Sequence[Incident], timing: Timing) -> Iterator[Cue]:
    """The endless timeline: each incident in turn starts, and is cleared ``length_s`` later."""
    if not incidents:
        return
    for n in itertools.count():
        incident = incidents[n % len(incidents)]
        start = timing.lead_s + n * timing.every_s
        yield Cue(start, n + 1, incident, "start")
        yield Cue(start + timing.length_s, n + 1, incident, "clear")


def human_s(seconds: float) -> str:
    """``2.5 s``, ``60 s``, ``90 s``, ``2 min``, ``2 min 30 s``, ``2 h``, ``2 h 30 min``."""
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 120:
        return f"{whole} s"
    if whole < 7200:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, rest = divmod(whole // 60, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")


def start_line(cue: Cue, timing: Timing, note: str | None = None) -> str:
    """``incident 1: KV latency spike on SESSIONS for 60 s — watch sessions-kv go warn``."""
    incident = cue.incident
    held = f" for {human_s(timing.length_s)}" if incident.held else ""
    detail = f" ({note})" if note else ""
    return f"incident {cue.number}: {incident.title}{detail}{held} — {incident.watch}"


def clear_line(cue: Cue) -> str:
    """``cleared: KV latency spike on SESSIONS — sessions-kv recovers …``."""
    incident = cue.incident
    verb = "cleared" if incident.held else "over"
    return f"{verb}: {incident.title} — {incident.recovery}"


# --- the player: carries the incidents out -----------------------------------------------


class Player:
    """Applies incidents to a running simulator through its controls and its API."""

    def __init__(
        self,
        sim_url: str,
        cf: CloudflareClient,
        account_id: str,
        http: aiohttp.ClientSession,
        *,
        say: Callable[[str], None],
        baseline: Sequence[Traffic] = BASELINE,
    ) -> None:
        self._sim = sim_url.rstrip("/")
        self._cf = cf
        self._account = account_id
        self._http = http
        self._say = say
        self._baseline = {(t.kind, t.subject): t for t in baseline}
        self._ids: dict[tuple[str, str], str] = {}
        self._faults: dict[str, list[str]] = {}
        self._loads: dict[str, list[asyncio.Task[None]]] = {}

    async def set_baseline(self) -> None:
        """Start the steady background traffic."""
        for traffic in self._baseline.values():
            await self._traffic(traffic)

    async def start(self, incident: Incident, hold_s: float | None = None) -> str | None:
        """Apply an incident's steps; a note on what changed (the DNS values), if any.

        With ``hold_s``, faults also expire by themselves a little after it, should clearing
        them fail.
        """
        notes = []
        faults = self._faults.setdefault(incident.key, [])
        for step in incident.steps:
            if isinstance(step, Fault):
                spec = dict(step.spec)
                if hold_s is not None:
                    spec.setdefault("duration_s", hold_s + EXPIRY_MARGIN_S)
                faults.append(await self._fault(Fault(spec)))
            elif isinstance(step, Traffic):
                await self._traffic(step)
            elif isinstance(step, EdgeLoad):
                task = asyncio.ensure_future(self._load(step))
                self._loads.setdefault(incident.key, []).append(task)
            else:
                notes.append(await self._flip(step))
        return "; ".join(notes) or None

    async def clear(self, incident: Incident) -> None:
        """Remove a held incident's faults and put its subjects' traffic back to the baseline."""
        await _cancel(self._loads.pop(incident.key, []))
        for fault_id in self._faults.pop(incident.key, []):
            async with self._http.delete(f"{self._sim}/__sim/faults/{fault_id}") as resp:
                if resp.status not in (200, 404):  # 404: it had expired by itself
                    raise DemoError(f"the simulator refused to clear {fault_id}: {resp.status}")
        if not incident.held:
            return
        for step in incident.steps:
            if isinstance(step, Traffic):
                key = (step.kind, step.subject)
                await self._traffic(self._baseline.get(key, Traffic(step.kind, step.subject, 0.0)))

    async def play(self, cues: Iterator[Cue], timing: Timing, origin: float) -> None:
        """Carry out ``cues``, each at ``origin + at_s`` (monotonic); runs until cancelled.

        A step that fails is reported on the console and the timeline goes on.
        """
        try:
            await self._play(cues, timing, origin)
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop the edge requests of incidents in progress."""
        loads = [task for tasks in self._loads.values() for task in tasks]
        self._loads.clear()
        await _cancel(loads)

    async def _play(self, cues: Iterator[Cue], timing: Timing, origin: float) -> None:
        for cue in cues:
            delay = origin + cue.at_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                if cue.phase == "start":
                    note = await self.start(cue.incident, timing.length_s)
                    self._say(start_line(cue, timing, note))
                else:
                    await self.clear(cue.incident)
                    self._say(clear_line(cue))
            except (CloudflareError, aiohttp.ClientError, TimeoutError, DemoError) as err:
                self._say(f"incident {cue.number} ({cue.incident.key}): {cue.phase} failed: {err}")

    async def _load(self, load: EdgeLoad) -> None:
        """Request ``load.path`` from its host at the edge, ``load.rps`` times a second."""
        url = f"{self._sim}{load.path}"
        period = 1.0 / load.rps
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self._http.get(url, headers={"Host": load.host}) as resp:
                    await resp.read()
            await asyncio.sleep(period)

    async def _control(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        async with self._http.post(f"{self._sim}/__sim/{path}", json=dict(body)) as resp:
            answer: dict[str, Any] = await resp.json()
            if resp.status >= 300:
                raise DemoError(f"the simulator refused {path}: {answer.get('errors')}")
            result: dict[str, Any] = answer.get("result") or {}
            return result

    async def _fault(self, fault: Fault) -> str:
        return str((await self._control("faults", fault.spec))["id"])

    async def _traffic(self, traffic: Traffic) -> None:
        body = {
            "kind": traffic.kind,
            "subject": await self._subject(traffic.kind, traffic.subject),
            "rps": traffic.rps,
            "error_ratio": traffic.error_ratio,
            "latency_ms": traffic.latency_ms,
            "cpu_ms": traffic.cpu_ms,
            "duration_ms": traffic.duration_ms,
        }
        await self._control("traffic", body)

    async def _subject(self, kind: str, name: str) -> str:
        """What the simulator's analytics call a subject: namespace and database ids."""
        if kind not in ("kv", "d1"):
            return name
        key = (kind, name)
        if key not in self._ids:
            found: str | None = None
            if kind == "kv":
                async for namespace in self._cf.kv.namespaces(self._account):
                    if namespace.title == name:
                        found = namespace.id
                        break
            else:
                async for database in self._cf.d1.databases(self._account, name=name):
                    if database.name == name:
                        found = database.uuid
                        break
            if found is None:
                raise DemoError(f"no {kind} resource called {name!r} in the simulated account")
            self._ids[key] = found
        return self._ids[key]

    async def _flip(self, flip: DnsFlip) -> str:
        zone = await self._cf.zones.find(flip.zone)
        if zone is None:
            raise DemoError(f"no zone {flip.zone} in the simulated account")
        async for record in self._cf.dns.list(zone.id, type=flip.type, name=flip.name):
            old = record.content or ""
            new = flip.values[1] if old == flip.values[0] else flip.values[0]
            await self._cf.dns.patch(
                zone.id, record.id, {"type": record.type, "name": record.name, "content": new}
            )
            return f"{flip.type} {old} → {new}"
        raise DemoError(f"no {flip.type} record {flip.name} in the zone {flip.zone}")


async def _cancel(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)


# --- the command ------------------------------------------------------------------------


@dataclass
class Demo:
    """``flarewatch demo``: start, show, play, stop (see the module docstring)."""

    listen: str = DEFAULT_LISTEN
    timing: Timing = field(default_factory=Timing)
    incidents: tuple[Incident, ...] = INCIDENTS
    config_path: Path | None = None
    out: Callable[[str], None] = click.echo
    estate: Estate | None = None
    daemon: Daemon | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _resources: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    def say(self, text: str) -> None:
        """One console line, with the local time."""
        self.out(f"[{time.strftime('%H:%M:%S')}] {text}")
        sys.stdout.flush()

    def request_stop(self) -> None:
        """Stop (the signal handlers call this)."""
        self._stop.set()

    async def run(self) -> int:
        """Run until SIGINT/SIGTERM; the exit code (0, or 2 when the demo cannot start)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        try:
            starting = asyncio.ensure_future(self._start())
            stopping = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                starting.cancel()
            try:
                await starting
            except asyncio.CancelledError:
                pass
            except (DemoError, StartError) as err:
                stopping.cancel()
                click.echo(f"flarewatch demo: {err}", err=True)
                if isinstance(err, StartError) and "cannot listen" in str(err):
                    click.echo(
                        "flarewatch demo: serve elsewhere with --listen HOST:PORT "
                        "(127.0.0.1:0 picks a free port)",
                        err=True,
                    )
                return 2
            else:
                await stopping
            return 0
        finally:
            await self._shutdown()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    async def _start(self) -> None:
        path = self.config_path or find_demo_config()
        try:
            registry = default_registry()
        except (RegistryError, ImportError) as err:
            raise DemoError(f"the probe types cannot be loaded: {err}") from None
        self.estate = await Estate.start()
        state_dir = self._resources.enter_context(
            tempfile.TemporaryDirectory(prefix="flarewatch-demo-")
        )
        os.environ.update(self.estate.environ(listen=self.listen, state_dir=state_dir))
        daemon = self._daemon(path, registry)
        self.daemon = daemon
        await daemon.start()
        self._banner(path, daemon, self.estate)
        self._spawn(self._play(daemon, self.estate))

    def _daemon(self, path: Path, registry: Registry) -> Daemon:
        def load() -> Any:
            return load_config(path, registry=registry, environ=os.environ)

        try:
            config = load()
        except ConfigError as err:
            raise DemoError(f"{path} cannot be used:\n{err.report()}") from None
        redactor = configure_logging(
            level=config.logging.level,
            fmt=config.logging.format,
            redactor=Redactor(secrets_of(config)),
        )
        return Daemon(
            config,
            registry=registry,
            loader=load,
            source=str(path),
            options=Options(manage_logging=True),
            notifier=Notifier.from_env(),
            redactor=redactor,
        )

    def _banner(self, path: Path, daemon: Daemon, estate: Estate) -> None:
        sim = estate.sim
        out = self.out
        out("flarewatch demo: the SpaceVision estate, simulated on loopback and monitored")
        out("")
        out(f"  status page : {daemon.url}/")
        out(f"  metrics     : {daemon.url}/metrics")
        out(f"  status JSON : {daemon.url}/api/v1/status")
        out(f"  simulator   : {sim.url}  (API {sim.api_url}, controls {sim.url}/__sim/)")
        out(f"  API token   : {sim.token}  (the simulator's; account {sim.account_id})")
        out(
            "  DNS         : nameservers "
            + ", ".join(ns.address for ns in estate.nameservers)
            + "; resolvers "
            + ", ".join(r.address for r in estate.resolvers)
        )
        out(f"  config      : {path} ({len(daemon.config.probes)} probes)")
        out(f"  state       : {daemon.config.state_dir} (alerts, the log store; deleted on exit)")
        out("")
        names = ", ".join(incident.title for incident in self.incidents)
        out(
            f"Incidents: one every {human_s(self.timing.every_s)}, the first "
            f"{human_s(self.timing.lead_s)} after every probe has run: {names}."
        )
        out("Break something yourself: docs/demo.md. Press Ctrl-C to stop.")
        sys.stdout.flush()

    async def _play(self, daemon: Daemon, estate: Estate) -> None:
        cf = await self._resources.enter_async_context(
            CloudflareClient(
                Credentials.bearer(estate.sim.token),
                base_url=estate.sim.api_url,
                budget=RequestBudget(share=0.05),
            )
        )
        http = await self._resources.enter_async_context(aiohttp.ClientSession())
        player = Player(estate.sim.url, cf, estate.sim.account_id, http, say=self.say)
        await player.set_baseline()
        await daemon.wait_ready()
        statuses = [s for s in daemon.state.statuses().values() if s is not None]
        failing = sum(1 for s in statuses if s.value not in ("ok", "warn"))
        self.say(f"ready: every probe has run once ({len(statuses)} probes, {failing} failing)")
        await player.play(plan(self.incidents, self.timing), self.timing, time.monotonic())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.say(f"the incident player stopped: {task.exception()}")

    def _reload(self) -> None:
        if self.daemon is not None:
            self._spawn(self.daemon.reload("signal"))

    async def _shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        if self.daemon is not None:
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await self.daemon.stop()
            except TimeoutError:
                click.echo("flarewatch demo: the daemon did not stop in time", err=True)
        await self._resources.aclose()
        if self.estate is not None:
            await self.estate.stop()
        if self.daemon is not None:
            self.say("stopped")


def run_demo(
    listen: str = DEFAULT_LISTEN,
    *,
    timing: Timing | None = None,
    incidents: Sequence[str] = (),
) -> int:
    """``flarewatch demo``: the exit code (0 stopped by a signal, 2 cannot start)."""
    chosen = incidents_named(incidents)
    demo = Demo(listen=listen, timing=timing or Timing(), incidents=chosen)
    return asyncio.run(demo.run())
