"""flarewatch against blackbox_exporter + Prometheus + Alertmanager, side by side in one run.

Workload, stated (README.md next to this file has the how and why):

- one loopback HTTP server in a process of its own (``targets.py``, not measured) with
  ``--targets`` paths ``/t/0`` … ``/t/N-1``; on a schedule a group of ``--fault-share`` of them
  (10 %) answers 500 for ``--fault-seconds`` (40 s), then all answer 200 again for at least
  ``--gap`` (35 s) plus a random part of one interval, so each fault lands at a different
  phase of both sides' schedules; every fault window fails a different group;
- a Slack-like webhook receiver and the simulator (for flarewatch's start-up token check) in
  this process (not measured), noting when each message arrives;
- (a) ``flarewatch run``: one ``http`` probe per target every ``--interval`` (10 s), timeout
  ``--timeout`` (5 s), rule ``status == "crit"`` with ``for: 0s``, a route to its Slack notifier
  grouped by rule with ``group_wait`` / ``group_interval`` / ``repeat_interval`` 5 s / 10 s / 1 h;
- (b) ``prometheus-blackbox-exporter`` (``http_2xx``, the same timeout), ``prometheus``
  (each target scraped through ``/probe`` every interval, rules evaluated every interval,
  ``probe_success == 0`` with ``for: 0s``) and ``prometheus-alertmanager`` (no cluster, grouped
  by alertname, the same group timings, ``slack_configs`` to the receiver).

Both sides run at the same time, against the same server and the same faults, unpinned (each
process's CPU is its own in ``/proc`` whoever shares its core). After every process is ready
(flarewatch's ``/readyz``; Alertmanager's and Prometheus's ``/-/ready`` and a ``probe_success``
for every target in Prometheus) and ``--warmup`` seconds, a window of ``--seconds`` is measured:

- CPU: user + system time of each process (and of any child) over the window, from
  ``/proc/PID/stat``; per probe (requests each side made to the targets in the window) and
  as a share of one core; the stack's three summed;
- peak RSS: the larger of ``VmHWM`` and the highest ``VmRSS`` sampled every second, per
  process; the stack's summed;
- fault → FIRING: from the moment the server began failing a group (its own monotonic clock)
  to the first message at the receiver listing one of them as firing; fault end → RESOLVED:
  to the first message listing one of them as resolved or counting fewer firing; and how
  many of the failing targets each side reported firing (the largest firing count of a
  message in the window).

    .venv/bin/python benchmarks/vs_prometheus_stack/run.py [--targets N] [--seconds S]
        [--interval S] [--json] [--json-file PATH]

Exit code 0 when the run completed (whatever the figures), 2 on bad arguments or a missing
binary, 1 when a process failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import aiohttp
import yaml
from aiohttp import web

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.daemon_common import (  # noqa: E402
    CLK_TCK,
    free_port,
    machine,
    proc_stat,
    proc_status_kb,
)
from cfsim.server import SimServer  # noqa: E402

STACK = ("prometheus-blackbox-exporter", "prometheus", "prometheus-alertmanager")
FW_TARGET = re.compile(r"\bt-(\d+)\b")
AM_TARGET = re.compile(r"/t/(\d+)\b")
FIRING_COUNT = re.compile(r"FIRING:(\d+)")


class BenchError(Exception):
    """The run cannot go on (a process died, a deadline passed)."""


# --- configs -----------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """A duration both Prometheus and flarewatch read: whole milliseconds (``1500ms``)."""
    return f"{round(seconds * 1000)}ms"


def render(name: str, **values: object) -> str:
    """One of this directory's config templates with its ``$name`` placeholders filled in."""
    text = (HERE / name).read_text(encoding="utf-8")
    return Template(text).substitute({k: str(v) for k, v in values.items()})


@dataclass(frozen=True)
class Ports:
    """Where everything listens (all loopback, chosen at run time)."""

    targets: int
    receiver: int
    blackbox: int
    prometheus: int
    alertmanager: int
    alertmanager_cluster: int
    flarewatch: int


def write_configs(
    tmp: Path, ports: Ports, sim: SimServer, args: argparse.Namespace
) -> dict[str, Path]:
    """Render every process's configuration into ``tmp``; their paths by process."""
    receiver = f"http://127.0.0.1:{ports.receiver}"
    timing = {
        "interval": duration(args.interval),
        "timeout": duration(args.timeout),
        "group_wait": duration(args.group_wait),
        "group_interval": duration(args.group_interval),
    }
    (tmp / "blackbox.yml").write_text(render("blackbox.yml", timeout=timing["timeout"]))
    # blackbox takes its deadline from the scrape's timeout minus 0.5 s (its
    # --timeout-offset), capped by the module's: a scrape timeout of timeout + 0.5 s
    # (at most the interval) leaves the module's timeout in force.
    scrape_timeout = duration(min(args.interval, args.timeout + 0.5))
    (tmp / "prometheus.yml").write_text(
        render(
            "prometheus.yml",
            interval=timing["interval"],
            scrape_timeout=scrape_timeout,
            alertmanager_port=ports.alertmanager,
            blackbox_port=ports.blackbox,
        )
    )
    shutil.copy(HERE / "rules.yml", tmp / "rules.yml")
    urls = [f"http://127.0.0.1:{ports.targets}/t/{i}" for i in range(args.targets)]
    (tmp / "targets.json").write_text(json.dumps([{"targets": urls}]))
    (tmp / "alertmanager.yml").write_text(
        render(
            "alertmanager.yml",
            group_wait=timing["group_wait"],
            group_interval=timing["group_interval"],
            receiver_url=f"{receiver}/am/hook",
        )
    )
    state = tmp / "flarewatch-state"
    state.mkdir()
    fw = yaml.safe_load(
        render(
            "flarewatch.yaml",
            account_id=sim.account_id,
            api_token=sim.token,
            api_base_url=sim.api_url,
            listen_port=ports.flarewatch,
            state_dir=state,
            receiver_url=f"{receiver}/fw/services/T0/B0/bench",
            **timing,
        )
    )
    fw["probes"] = [
        {"name": f"t-{i}", "type": "http", "url": url, "expected_status": "2xx"}
        for i, url in enumerate(urls)
    ]
    (tmp / "flarewatch.yaml").write_text(yaml.safe_dump(fw, sort_keys=False))
    return {name: tmp / name for name in ("blackbox.yml", "prometheus.yml", "alertmanager.yml")} | {
        "flarewatch.yaml": tmp / "flarewatch.yaml"
    }


# --- processes ---------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (by parent id)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parent = int(proc_stat(int(entry))[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _status_kb(pid: int, key: str) -> int:
    try:
        return proc_status_kb(pid, key)
    except OSError:  # the process has gone
        return 0


class Measured:
    """A process of the run with its log in a file; CPU and memory read from ``/proc``."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.peak_sampled_kb = 0

    def check_alive(self) -> None:
        """Fail with the end of the process's log when it has exited."""
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace").splitlines()[-15:]
            raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n" + "\n".join(tail))

    def tree(self) -> list[int]:
        """This process and its live children."""
        return [self.proc.pid, *descendants(self.proc.pid)]

    def cpu_seconds(self) -> float:
        """User + system time of the process, of its reaped children and of live children."""
        total = 0
        for index, pid in enumerate(self.tree()):
            try:
                fields = proc_stat(pid)
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
            if index == 0:
                total += int(fields[13]) + int(fields[14])
        return total / CLK_TCK

    def sample_rss(self) -> None:
        """Note the tree's resident memory now, keeping the highest."""
        now = sum(_status_kb(pid, "VmRSS") for pid in self.tree())
        self.peak_sampled_kb = max(self.peak_sampled_kb, now)

    def peak_rss_mib(self) -> float:
        """The highest resident memory of the tree: ``VmHWM`` summed, or the sampled peak."""
        hwm = sum(_status_kb(pid, "VmHWM") for pid in self.tree())
        return max(hwm, self.peak_sampled_kb) / 1024

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 15 s; the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


# --- receiver ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One Slack message as the receiver parsed it."""

    side: str
    at: float
    firing: frozenset[int]
    resolved: frozenset[int]
    firing_count: int


def parse_flarewatch(body: dict[str, Any]) -> tuple[frozenset[int], frozenset[int], int]:
    """Targets a flarewatch Slack message lists as firing and as resolved, and its count.

    Each alert is a section whose first line starts with its mark (🔴 firing at severity
    critical, ✅ resolved) and its summary (``t-N down``); the header says ``FIRING:n``
    (or, for a single alert, ``FIRING · summary``). A message lists at most ``max_alerts``
    alerts; the header counts all of them.
    """
    firing: set[int] = set()
    resolved: set[int] = set()
    title = ""
    for block in body.get("blocks") or []:
        text = str((block.get("text") or {}).get("text", ""))
        if block.get("type") == "header":
            title = text
        elif block.get("type") == "section":
            head = text.split("\n", 1)[0]
            found = {int(n) for n in FW_TARGET.findall(head)}
            if head.startswith("🔴"):
                firing |= found
            elif head.startswith("✅"):
                resolved |= found
    count = FIRING_COUNT.search(title)
    firing_count = int(count.group(1)) if count else (len(firing) if "FIRING" in title else 0)
    return frozenset(firing), frozenset(resolved), firing_count


def parse_alertmanager(body: dict[str, Any]) -> tuple[frozenset[int], frozenset[int], int]:
    """Targets an Alertmanager Slack message lists as firing and as resolved, and its count.

    ``alertmanager.yml``'s template: title ``[FIRING:n] ProbeDown``, text ``firing: URL …``
    and ``resolved: URL …`` lines.
    """
    firing: set[int] = set()
    resolved: set[int] = set()
    count = 0
    for attachment in body.get("attachments") or []:
        match = FIRING_COUNT.search(str(attachment.get("title", "")))
        if match:
            count = max(count, int(match.group(1)))
        for line in str(attachment.get("text", "")).splitlines():
            found = {int(n) for n in AM_TARGET.findall(line)}
            if line.startswith("firing:"):
                firing |= found
            elif line.startswith("resolved:"):
                resolved |= found
    return frozenset(firing), frozenset(resolved), count


@dataclass
class Receiver:
    """A Slack-like webhook on loopback: ``/fw/…`` for flarewatch, ``/am/…`` for Alertmanager."""

    messages: list[Message] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_post("/{side:fw|am}/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening."""
        if self.runner is not None:
            await self.runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        side = "flarewatch" if request.match_info["side"] == "fw" else "stack"
        try:
            body = await request.json()
        except ValueError:
            self.bad.append(side)
            return web.Response(status=400, text="invalid_payload")
        parse = parse_flarewatch if side == "flarewatch" else parse_alertmanager
        firing, resolved, count = parse(body)
        self.messages.append(Message(side, arrived, firing, resolved, count))
        return web.Response(text="ok")


# --- schedule and figures ----------------------------------------------------------------


@dataclass
class Fault:
    """One fault window: which targets failed, and when (monotonic clock)."""

    targets: frozenset[int]
    start: float = 0.0
    end: float = 0.0


def plan(args: argparse.Namespace, rng: random.Random) -> list[tuple[float, list[int]]]:
    """Fault windows as (offset from the window's start, targets), each a new group."""
    size = max(1, round(args.targets * args.fault_share))
    out: list[tuple[float, list[int]]] = []
    offset = rng.uniform(args.lead, args.lead + args.interval)
    while offset + args.fault_seconds + args.gap <= args.seconds:
        first = (len(out) * size) % args.targets
        out.append((offset, [(first + k) % args.targets for k in range(size)]))
        offset += args.fault_seconds + args.gap + rng.uniform(0, args.interval)
    return out


def latencies(
    messages: list[Message], faults: list[Fault], side: str
) -> dict[str, list[float | None] | list[int]]:
    """Per fault: seconds to the first FIRING and RESOLVED about it, and targets reported.

    FIRING: the first message from the fault's start listing one of its targets as firing
    (both sides list firing alerts first). RESOLVED: the first message from the fault's end
    listing one of them as resolved, or whose firing count fell below the highest count of
    the fault (a flarewatch message shows 10 alerts, firing first, so with 10 or more still
    firing its resolved ones are only counted, not listed). One rule, one group, one fault
    at a time: a message's count is the fault's.
    """
    mine = sorted((m for m in messages if m.side == side), key=lambda m: m.at)
    fire: list[float | None] = []
    resolve: list[float | None] = []
    reported: list[int] = []
    for fault in faults:
        fired = next((m for m in mine if m.at >= fault.start and m.firing & fault.targets), None)
        fire.append(None if fired is None else fired.at - fault.start)
        during = [m for m in mine if fault.start <= m.at and m.firing & fault.targets]
        peak = max((m.firing_count for m in during if m.at <= fault.end), default=0)
        done = next(
            (
                m
                for m in mine
                if m.at >= fault.end and (m.resolved & fault.targets or m.firing_count < peak)
            ),
            None,
        )
        resolve.append(None if done is None else done.at - fault.end)
        named = set().union(*(m.firing & fault.targets for m in during)) if during else set()
        counted = max((m.firing_count for m in during if m.at <= fault.end + 1.0), default=0)
        reported.append(min(len(fault.targets), max(len(named), counted)))
    return {"fire_s": fire, "resolve_s": resolve, "reported": reported}


def timeline(messages: list[Message], origin: float) -> list[dict[str, Any]]:
    """Every message: side, seconds from ``origin``, firing count, targets listed."""
    return [
        {
            "side": m.side,
            "t": round(m.at - origin, 2),
            "firing_count": m.firing_count,
            "firing": sorted(m.firing),
            "resolved": sorted(m.resolved),
        }
        for m in sorted(messages, key=lambda m: m.at)
    ]


def spread(values: list[float | None]) -> dict[str, float | int | None]:
    """Median and range of the samples that arrived; how many did not."""
    got = [v for v in values if v is not None]
    if not got:
        return {"median": None, "min": None, "max": None, "missing": len(values)}
    return {
        "median": round(statistics.median(got), 2),
        "min": round(min(got), 2),
        "max": round(max(got), 2),
        "missing": len(values) - len(got),
    }


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """``ours / theirs`` to 3 decimals, or None without both."""
    if ours is None or not theirs:
        return None
    return round(ours / theirs, 3)


# --- the run -----------------------------------------------------------------------------


async def _poll(
    http: aiohttp.ClientSession,
    url: str,
    procs: list[Measured],
    deadline: float,
    ok: Any = None,
) -> None:
    """Poll ``url`` every 50 ms until it answers 200 (and ``ok(json)`` holds, if given)."""
    while True:
        for proc in procs:
            proc.check_alive()
        try:
            async with http.get(url) as resp:
                if resp.status == 200 and (ok is None or ok(await resp.json())):
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"{url} not ready in time")
        await asyncio.sleep(0.05)


def _every_target(count: int) -> Any:
    def ok(body: dict[str, Any]) -> bool:
        result = body.get("data", {}).get("result", [])
        return bool(result) and int(float(result[0]["value"][1])) >= count

    return ok


async def start_targets(count: int) -> tuple[asyncio.subprocess.Process, int]:
    """The target server's process and its port."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "targets.py"),
        "--targets",
        str(count),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if not line:
        raise BenchError("the target server did not start")
    return proc, int(json.loads(line)["port"])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start everything, measure the window, stop everything; the figures."""
    rng = random.Random(args.seed)
    schedule = plan(args, rng)
    sim = await SimServer(seed="empty").start()
    receiver = Receiver()
    await receiver.start()
    targets_proc, targets_port = await start_targets(args.targets)
    procs: dict[str, Measured] = {}
    tmp = Path(tempfile.mkdtemp(prefix="flarewatch-vs-stack-"))
    ports = Ports(
        targets_port,
        receiver.port,
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    )
    control = f"http://127.0.0.1:{targets_port}/__control"
    faults: list[Fault] = []
    try:
        paths = write_configs(tmp, ports, sim, args)
        clean = {
            k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "FLAREWATCH_"))
        }
        env = {**clean, "PYTHONUNBUFFERED": "1"}
        procs["blackbox"] = Measured(
            "blackbox_exporter",
            [
                "prometheus-blackbox-exporter",
                f"--config.file={paths['blackbox.yml']}",
                f"--web.listen-address=127.0.0.1:{ports.blackbox}",
            ],
            tmp / "blackbox.log",
            env,
        )
        procs["alertmanager"] = Measured(
            "alertmanager",
            [
                "prometheus-alertmanager",
                f"--config.file={paths['alertmanager.yml']}",
                f"--storage.path={tmp / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{ports.alertmanager}",
                "--cluster.listen-address=",
            ],
            tmp / "alertmanager.log",
            env,
        )
        procs["prometheus"] = Measured(
            "prometheus",
            [
                "prometheus",
                f"--config.file={paths['prometheus.yml']}",
                f"--storage.tsdb.path={tmp / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{ports.prometheus}",
            ],
            tmp / "prometheus.log",
            env,
        )
        procs["flarewatch"] = Measured(
            "flarewatch",
            [sys.executable, "-m", "monitor", "run", "-c", str(paths["flarewatch.yaml"])],
            tmp / "flarewatch.log",
            env,
        )
        started = time.monotonic()
        every = list(procs.values())
        async with aiohttp.ClientSession() as http:
            deadline = started + args.ready_timeout
            prom = f"http://127.0.0.1:{ports.prometheus}"
            await asyncio.gather(
                _poll(http, f"http://127.0.0.1:{ports.flarewatch}/readyz", every, deadline),
                _poll(http, f"http://127.0.0.1:{ports.blackbox}/metrics", every, deadline),
                _poll(http, f"http://127.0.0.1:{ports.alertmanager}/-/ready", every, deadline),
                _poll(
                    http,
                    f"{prom}/api/v1/query?query=count(probe_success)",
                    every,
                    deadline,
                    _every_target(args.targets),
                ),
            )
            ready_s = time.monotonic() - started
            await asyncio.sleep(args.warmup)
            cpu_start = {name: p.cpu_seconds() for name, p in procs.items()}
            async with http.get(control + "/counts") as resp:
                counts_start = await resp.json()
            window_start = time.monotonic()
            sampler = asyncio.create_task(_sample(every))
            try:
                for offset, group in schedule:
                    await _sleep_until(window_start + offset, every)
                    async with http.post(control + "/fail", json={"targets": group}) as resp:
                        fault = Fault(frozenset(group), start=(await resp.json())["at"])
                    faults.append(fault)
                    await _sleep_until(fault.start + args.fault_seconds, every)
                    async with http.post(control + "/fail", json={"targets": []}) as resp:
                        fault.end = (await resp.json())["at"]
                await _sleep_until(window_start + args.seconds, every)
            finally:
                sampler.cancel()
            window = time.monotonic() - window_start
            cpu_end = {name: p.cpu_seconds() for name, p in procs.items()}
            for proc in every:
                proc.sample_rss()
            peaks = {name: p.peak_rss_mib() for name, p in procs.items()}
            async with http.get(control + "/counts") as resp:
                counts_end = await resp.json()
    finally:
        codes = {name: p.stop() for name, p in procs.items()}
        targets_proc.terminate()
        await targets_proc.wait()
        await receiver.stop()
        await sim.stop()
        if args.keep:
            print(f"logs and configs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return figures(
        args,
        faults,
        receiver,
        window,
        ready_s,
        cpu_start,
        cpu_end,
        peaks,
        counts_start,
        counts_end,
        codes,
    )


async def _sample(procs: list[Measured]) -> None:
    while True:
        for proc in procs:
            proc.sample_rss()
        await asyncio.sleep(1.0)


async def _sleep_until(when: float, procs: list[Measured]) -> None:
    """Sleep until the monotonic time ``when``, checking every second that all still run."""
    while (left := when - time.monotonic()) > 0:
        for proc in procs:
            proc.check_alive()
        await asyncio.sleep(min(left, 1.0))


def figures(
    args: argparse.Namespace,
    faults: list[Fault],
    receiver: Receiver,
    window: float,
    ready_s: float,
    cpu_start: dict[str, float],
    cpu_end: dict[str, float],
    peaks: dict[str, float],
    counts_start: dict[str, int],
    counts_end: dict[str, int],
    codes: dict[str, int],
) -> dict[str, Any]:
    """The result document."""
    cpu = {name: cpu_end[name] - cpu_start[name] for name in cpu_end}
    probes = {side: counts_end[side] - counts_start[side] for side in ("flarewatch", "blackbox")}
    stack_cpu = cpu["blackbox"] + cpu["prometheus"] + cpu["alertmanager"]
    stack_rss = peaks["blackbox"] + peaks["prometheus"] + peaks["alertmanager"]

    def side(cpu_s: float, probes_n: int, rss: float, name: str) -> dict[str, Any]:
        lat = latencies(receiver.messages, faults, name)
        return {
            "cpu_s": round(cpu_s, 2),
            "probes": probes_n,
            "cpu_us_per_probe": round(cpu_s / probes_n * 1e6) if probes_n else None,
            "cpu_pct_of_core": round(cpu_s / window * 100, 2),
            "peak_rss_mib": round(rss, 1),
            "fire_s": [None if v is None else round(v, 2) for v in lat["fire_s"]],
            "resolve_s": [None if v is None else round(v, 2) for v in lat["resolve_s"]],
            "fire": spread(lat["fire_s"]),  # type: ignore[arg-type]
            "resolve": spread(lat["resolve_s"]),  # type: ignore[arg-type]
            "reported_of_failing": lat["reported"],
            "messages": sum(1 for m in receiver.messages if m.side == name),
        }

    fw = side(cpu["flarewatch"], probes["flarewatch"], peaks["flarewatch"], "flarewatch")
    stack = side(stack_cpu, probes["blackbox"], stack_rss, "stack")
    stack["per_process"] = {
        name: {
            "cpu_s": round(cpu[name], 2),
            "cpu_us_per_probe": round(cpu[name] / probes["blackbox"] * 1e6)
            if probes["blackbox"]
            else None,
            "peak_rss_mib": round(peaks[name], 1),
        }
        for name in ("blackbox", "prometheus", "alertmanager")
    }
    failing = [len(f.targets) for f in faults]
    all_seen = all(
        fw["reported_of_failing"][k] == failing[k] and stack["reported_of_failing"][k] == failing[k]
        for k in range(len(faults))
    )
    notified = all(v is not None for v in fw["fire_s"] + stack["fire_s"])
    clean_exit = all(code in (0, -15) for code in codes.values())
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "machine": machine(),
        "load_average": [round(v, 2) for v in load],
        "targets": args.targets,
        "interval_s": args.interval,
        "timeout_s": args.timeout,
        "group_wait_s": args.group_wait,
        "group_interval_s": args.group_interval,
        "window_s": round(window, 1),
        "ready_s": round(ready_s, 2),
        "faults": [
            {"targets": len(f.targets), "seconds": round(f.end - f.start, 1)} for f in faults
        ],
        "mode": "simultaneous, unpinned",
        "connections": "new connection per probe on both sides (blackbox dials each probe; "
        "flarewatch's http check sends Connection: close)",
        "flarewatch": fw,
        "stack": stack,
        "ratios_flarewatch_over_stack": {
            "cpu": ratio(fw["cpu_s"], stack["cpu_s"]),
            "cpu_per_probe": ratio(fw["cpu_us_per_probe"], stack["cpu_us_per_probe"]),
            "peak_rss": ratio(fw["peak_rss_mib"], stack["peak_rss_mib"]),
            "fire_median": ratio(fw["fire"]["median"], stack["fire"]["median"]),
            "resolve_median": ratio(fw["resolve"]["median"], stack["resolve"]["median"]),
        },
        "both_notified": notified,
        "both_reported_every_failing_target": all_seen,
        "messages": timeline(receiver.messages, faults[0].start if faults else 0.0),
        "bad_messages": len(receiver.bad),
        "exit_codes": codes,
        "errors": int(not notified) + int(not clean_exit) + len(receiver.bad),
    }


# --- command line ------------------------------------------------------------------------


def table(result: dict[str, Any]) -> str:
    """The figures as a text table."""
    fw, st = result["flarewatch"], result["stack"]
    ratios = result["ratios_flarewatch_over_stack"]

    def lat(s: dict[str, Any]) -> str:
        if s["median"] is None:
            return "none"
        miss = f", {s['missing']} missing" if s["missing"] else ""
        return f"{s['median']:.1f} ({s['min']:.1f}–{s['max']:.1f}){miss}"

    rows = [
        ("CPU seconds in the window", f"{fw['cpu_s']:.2f}", f"{st['cpu_s']:.2f}", ratios["cpu"]),
        ("probes in the window", fw["probes"], st["probes"], None),
        (
            "CPU µs per probe",
            fw["cpu_us_per_probe"],
            st["cpu_us_per_probe"],
            ratios["cpu_per_probe"],
        ),
        ("share of one core, %", fw["cpu_pct_of_core"], st["cpu_pct_of_core"], None),
        ("peak RSS, MiB", fw["peak_rss_mib"], st["peak_rss_mib"], ratios["peak_rss"]),
        (
            "fault → FIRING, s: median (range)",
            lat(fw["fire"]),
            lat(st["fire"]),
            ratios["fire_median"],
        ),
        (
            "fault end → RESOLVED, s",
            lat(fw["resolve"]),
            lat(st["resolve"]),
            ratios["resolve_median"],
        ),
        (
            "failing targets reported",
            fw["reported_of_failing"],
            st["reported_of_failing"],
            None,
        ),
    ]
    out = [
        f"{result['targets']} targets every {result['interval_s']:g} s, window "
        f"{result['window_s']:g} s, {len(result['faults'])} faults, {result['mode']}, load "
        f"{result['load_average']}",
        f"{'':36} {'flarewatch':>22} {'the stack':>22} {'ratio':>7}",
    ]
    for name, ours, theirs, r in rows:
        out.append(f"{name:36} {ours!s:>22} {theirs!s:>22} {'' if r is None else r:>7}")
    for name, per in st["per_process"].items():
        out.append(
            f"  stack: {name:12} CPU {per['cpu_s']:.2f} s, {per['cpu_us_per_probe']} µs/probe, "
            f"peak RSS {per['peak_rss_mib']} MiB"
        )
    out.append(f"fire samples s: flarewatch {fw['fire_s']}  stack {st['fire_s']}")
    out.append(f"resolve samples s: flarewatch {fw['resolve_s']}  stack {st['resolve_s']}")
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=200, help="targets (default 200)")
    parser.add_argument("--seconds", type=float, default=270.0, help="measured window (270)")
    parser.add_argument("--interval", type=float, default=10.0, help="probe/scrape/eval (10)")
    parser.add_argument("--timeout", type=float, default=5.0, help="probe timeout (5)")
    parser.add_argument("--group-wait", type=float, default=5.0, help="seconds (5)")
    parser.add_argument("--group-interval", type=float, default=10.0, help="seconds (10)")
    parser.add_argument("--fault-seconds", type=float, default=40.0, help="per fault (40)")
    parser.add_argument("--fault-share", type=float, default=0.1, help="targets failing (0.1)")
    parser.add_argument("--gap", type=float, default=35.0, help="least quiet after a fault (35)")
    parser.add_argument("--lead", type=float, default=5.0, help="least quiet before the first")
    parser.add_argument("--warmup", type=float, default=10.0, help="after ready (10)")
    parser.add_argument("--ready-timeout", type=float, default=90.0, help="seconds (90)")
    parser.add_argument("--seed", type=int, default=None, help="fault phases (random)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--json-file", type=Path, help="also write the result to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs)")
    args = parser.parse_args(argv)
    problems = []
    if args.targets < 1:
        problems.append("--targets must be at least 1")
    if not 0 < args.fault_share <= 1:
        problems.append("--fault-share must be in (0, 1]")
    if args.interval <= 0 or args.timeout <= 0 or args.timeout > args.interval:
        problems.append("--interval and --timeout must be positive, timeout <= interval")
    if args.lead + args.interval + args.fault_seconds + args.gap > args.seconds:
        problems.append(
            "--seconds leaves no room for a fault window: it must be at least --lead + "
            "--interval + --fault-seconds + --gap (the first fault starts up to one interval "
            "after --lead)"
        )
    missing = [name for name in STACK if shutil.which(name) is None]
    if missing:
        problems.append(
            f"not installed: {', '.join(missing)} (apt-get install {' '.join(missing)})"
        )
    if problems:
        parser.exit(2, "error: " + "; ".join(problems) + "\n")
    return args


def main() -> int:
    """Parse the arguments, run, print."""
    args = parse_args()
    try:
        result = asyncio.run(run(args))
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json_file:
        args.json_file.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
