"""The daemon's footprint on the SpaceVision config: idle RSS, and start to ready.

Targets (issue 3): idle RSS under 60 MB; from process start to ``/readyz`` 200 under 1 s.

Workload, stated: ``flarewatch run -c config/demo.yaml`` (11 probes over every probe type,
10-30 s intervals) in a process of its own, against the demo's estate — the SpaceVision
simulator, its two nameservers and three resolvers — running in the benchmark's process, so
their memory is not counted. Each of ``--runs`` starts is timed from just before the process
is spawned to the first ``/readyz`` 200 (polled every 5 ms), with the time to the first HTTP
answer (serving) and the CPU time the daemon used to get to ready (less sensitive to
load than wall time) alongside; every probe must have run once for ready. On the last run the
daemon is then left alone for ``--idle`` seconds (probes keep running at their intervals)
and its RSS sampled every second: the figure is the RSS at the end, with the peak
(``VmHWM``).

For scale, the same interpreter's cost of importing the daemon alone (``--imports``) is
measured in fresh processes: it is the floor of both figures. ``--breakdown`` prints that
cost import by import (RSS and time after each step, in one fresh interpreter).

Bytecode: an installed flarewatch (``pip install``, the image) has its modules compiled at
install time. A checkout run with ``PYTHONDONTWRITEBYTECODE=1`` (as the development VM sets
it) would instead compile some 27,000 lines from source at every start — about 0.25 s and
1 MB that no installed daemon pays. So the daemon and the import measurements write and
read bytecode in a private cache (``PYTHONPYCACHEPREFIX`` under a temporary directory,
nothing written to the tree), filled by one untimed import and one untimed start first;
``--no-bytecode`` measures the compile-every-start case instead.

    .venv/bin/python benchmarks/daemon_footprint.py [--runs N] [--idle S] [--json]
    .venv/bin/python benchmarks/daemon_footprint.py --breakdown
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from daemon_common import ROOT, DaemonProcess, free_port, machine, wait_ready

from monitor.demo import Estate

IMPORTS = (
    "import re, time; t = time.perf_counter(); c = time.process_time(); "
    "from monitor.daemon import run_daemon; from probes.registry import default_registry; "
    "default_registry(); took = time.perf_counter() - t; cpu = time.process_time() - c; "
    "rss = int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1)); "
    "print(took, rss * 1024 / 1e6, cpu)"
)

PACKAGES = ("monitor", "probes", "alerting", "cfapi", "ops")
"""flarewatch's packages the daemon imports (compiled into the bytecode cache)."""

STEPS = (
    "asyncio",
    "aiohttp",
    "aiohttp.web",
    "pydantic",
    "prometheus_client",
    "monitor",
    "click",
    "yaml",
    "importlib.metadata",
    "sqlite3",
    "apscheduler.schedulers.asyncio",
    "cfapi",
    "alerting.rules",
    "alerting.notifiers",
    "alerting.remediation",
    "alerting.outbox",
    "monitor.config",
    "monitor.configload",
    "monitor.alerts",
    "monitor.capture",
    "monitor.logsink",
    "monitor.http",
    "monitor.daemon",
    "probes.registry:default_registry",
)
"""The daemon's imports in an order where each step adds one subsystem (``--breakdown``);
``monitor`` is structlog (the package imports it first, see monitor/__init__.py), and the
last step loads every probe type, as ``flarewatch run`` does before reading a config."""

BREAKDOWN = """
import importlib, json, re, sys, time
def rss():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\\s+(\\d+)", f.read()).group(1)) * 1024 / 1e6
rows = [("interpreter", rss(), time.process_time(), len(sys.modules))]
for step in sys.argv[1:]:
    name, _, call = step.partition(":")
    t = time.process_time()
    module = importlib.import_module(name)
    if call:
        getattr(module, call)()
    rows.append((step, rss(), time.process_time() - t, len(sys.modules)))
print(json.dumps(rows))
"""


def bytecode_env(cache: str | None) -> dict[str, str]:
    """The environment that lets a fresh interpreter write and read compiled modules in the
    private cache ``cache`` (``None``, ``--no-bytecode``: the environment as it is)."""
    if cache is None:
        return {}
    # An empty PYTHONDONTWRITEBYTECODE counts as unset.
    return {"PYTHONPYCACHEPREFIX": cache, "PYTHONDONTWRITEBYTECODE": ""}


def _python(args: list[str], env: Mapping[str, str]) -> str:
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, **env},
    ).stdout


def import_cost(runs: int, env: Mapping[str, str]) -> dict[str, Any]:
    """Importing the daemon in a fresh interpreter: median wall time (with its range), CPU
    time and RSS."""
    times, rss, cpu = [], [], []
    if env:
        _python(["-c", IMPORTS], env)  # untimed: fills the bytecode cache
    for _ in range(runs):
        out = _python(["-c", IMPORTS], env).split()
        times.append(float(out[0]))
        rss.append(float(out[1]))
        cpu.append(float(out[2]))
    return {
        "imports_s": round(statistics.median(times), 3),
        "imports_s_range": [round(min(times), 3), round(max(times), 3)],
        "imports_cpu_s": round(statistics.median(cpu), 3),
        "imports_rss_mb": round(statistics.median(rss), 1),
    }


def breakdown(runs: int, env: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each step of :data:`STEPS`: RSS after it and what it added (median over ``runs``
    fresh interpreters), its CPU time (median, min, max; the first row: the interpreter's
    start) and the modules loaded so far."""
    if env:
        _python(["-c", BREAKDOWN, *STEPS], env)  # untimed: fills the bytecode cache
    samples = [json.loads(_python(["-c", BREAKDOWN, *STEPS], env)) for _ in range(runs)]
    rows = []
    previous_rss = 0.0
    for index, (step, *_rest) in enumerate(samples[0]):
        rss = statistics.median(s[index][1] for s in samples)
        took = [s[index][2] * 1000 for s in samples]
        rows.append(
            {
                "step": step,
                "rss_mb": round(rss, 1),
                "added_mb": round(rss - previous_rss, 1) if index else round(rss, 1),
                "ms": round(statistics.median(took), 1),
                "ms_min": round(min(took), 1),
                "ms_max": round(max(took), 1),
                "modules": samples[0][index][3],
            }
        )
        previous_rss = rss
    return rows


def print_breakdown(rows: list[dict[str, Any]]) -> None:
    """The ``--breakdown`` table, Markdown."""
    print("| step | RSS after | added | CPU ms (median, min–max) | modules |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['step']} | {row['rss_mb']} MB | +{row['added_mb']} MB | "
            f"{row['ms']} ({row['ms_min']}–{row['ms_max']}) | {row['modules']} |"
        )


async def one_start(
    estate: Estate, tmp: str, *, idle_s: float, pin: bool, extra_env: Mapping[str, str]
) -> dict[str, Any]:
    """Start the daemon on demo.yaml, time it to ready, optionally leave it idle; stop it."""
    port = free_port()
    env = {**estate.environ(listen=f"127.0.0.1:{port}", state_dir=tmp), **extra_env}
    daemon = DaemonProcess(ROOT / "config" / "demo.yaml", env, pin=pin)
    base = f"http://127.0.0.1:{port}"
    samples: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            serving_s, ready_s = await wait_ready(http, base, daemon)
            cpu_ready = daemon.cpu_seconds()
            rss_ready = daemon.rss_mb()
            deadline = time.monotonic() + idle_s
            while time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                daemon.check_alive()
                samples.append(daemon.rss_mb())
            async with http.get(base + "/api/v1/status") as resp:
                status = await resp.json()
            peak = daemon.peak_rss_mb()
    finally:
        code = daemon.stop()
    return {
        "serving_s": serving_s,
        "ready_s": ready_s,
        "cpu_to_ready_s": cpu_ready,
        "rss_ready_mb": rss_ready,
        "rss_idle_mb": samples[-1] if samples else rss_ready,
        "rss_idle_max_mb": max(samples) if samples else rss_ready,
        "peak_rss_mb": peak,
        "not_ok": [p["name"] for p in status["probes"] if p["status"] != "ok"],
        "exit_code": code,
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """``--runs`` timed starts, the last one followed by ``--idle`` seconds of sampling."""
    with tempfile.TemporaryDirectory(prefix="flarewatch-pycache-") as cache:
        env = bytecode_env(None if args.no_bytecode else cache)
        imports = import_cost(args.imports, env)  # first: nothing else running, unpinned
        estate = await Estate.start()
        runs = []
        try:
            if env:  # untimed: what the daemon imports once running goes into the cache too
                with tempfile.TemporaryDirectory(prefix="flarewatch-bench-") as tmp:
                    await one_start(estate, tmp, idle_s=0, pin=not args.no_pin, extra_env=env)
            for index in range(args.runs):
                last = index == args.runs - 1
                with tempfile.TemporaryDirectory(prefix="flarewatch-bench-") as tmp:
                    runs.append(
                        await one_start(
                            estate,
                            tmp,
                            idle_s=args.idle if last else 0,
                            pin=not args.no_pin,
                            extra_env=env,
                        )
                    )
        finally:
            await estate.stop()
    idle = runs[-1]
    ready = [r["ready_s"] for r in runs]
    return {
        "config": "config/demo.yaml",
        "runs": args.runs,
        "start_to_ready_s": [round(x, 3) for x in ready],
        "start_to_ready_median_s": round(statistics.median(ready), 3),
        "start_to_serving_median_s": round(statistics.median(r["serving_s"] for r in runs), 3),
        # CPU time (user + system, 10 ms ticks) the daemon used to get there: what the
        # start costs, much less sensitive than wall time to what else the machine runs.
        "cpu_to_ready_s": [round(r["cpu_to_ready_s"], 2) for r in runs],
        "idle_s": args.idle,
        "rss_at_ready_mb": round(idle["rss_ready_mb"], 1),
        "rss_idle_mb": round(idle["rss_idle_mb"], 1),
        "rss_idle_max_mb": round(idle["rss_idle_max_mb"], 1),
        "peak_rss_mb": round(idle["peak_rss_mb"], 1),
        **imports,
        "bytecode": "source compiled at every start" if args.no_bytecode else "compiled",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "probes_not_ok": sorted({name for r in runs for name in r["not_ok"]}),
        "errors": sum(1 for r in runs if r["exit_code"] != 0 or r["not_ok"]),
        "machine": machine(),
    }


def main() -> None:
    """Parse the arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed starts (default 5)")
    parser.add_argument(
        "--idle", type=float, default=120.0, help="seconds idle before reading RSS (default 120)"
    )
    parser.add_argument(
        "--imports", type=int, default=5, help="fresh interpreters timing the imports (default 5)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the daemon to a core")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="no compiled bytecode for flarewatch: every start compiles it from source",
    )
    parser.add_argument(
        "--breakdown",
        type=int,
        nargs="?",
        const=5,
        metavar="N",
        help="only print the import-by-import cost (median of N fresh interpreters, default 5)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.breakdown:
        with tempfile.TemporaryDirectory(prefix="flarewatch-pycache-") as cache:
            rows = breakdown(args.breakdown, bytecode_env(None if args.no_bytecode else cache))
        if args.json:
            print(json.dumps(rows))
        else:
            print_breakdown(rows)
        return
    result = asyncio.run(measure(args))
    result["targets_met"] = result["rss_idle_mb"] < 60 and result["start_to_ready_median_s"] < 1
    if args.json:
        print(json.dumps(result))
        return
    print(f"flarewatch run on {result['config']}, machine {result['machine']}")
    for key, value in result.items():
        if key not in ("machine", "config"):
            print(f"  {key:26} {value}")


if __name__ == "__main__":
    main()
