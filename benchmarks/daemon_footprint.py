"""The daemon's footprint on the SpaceVision config: idle RSS, and start to ready.

Targets (issue 3): idle RSS under 60 MB; from process start to ``/readyz`` 200 under 1 s.

Workload, stated: ``flarewatch run -c config/demo.yaml`` (11 probes over every probe type,
10-30 s intervals) in a process of its own, against the demo's estate — the SpaceVision
simulator, its two nameservers and three resolvers — running in the benchmark's process, so
their memory is not counted. Each of ``--runs`` starts is timed from just before the process
is spawned to the first ``/readyz`` 200 (polled every 5 ms), with the time to the first HTTP
answer (serving) alongside; every probe must have run once for ready. On the last run the
daemon is then left alone for ``--idle`` seconds (probes keep running at their intervals)
and its RSS sampled every second: the figure is the RSS at the end, with the peak
(``VmHWM``).

For scale, the same interpreter's cost of importing the daemon alone (``--imports``) is
measured in fresh processes: it is the floor of both figures.

    .venv/bin/python benchmarks/daemon_footprint.py [--runs N] [--idle S] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp
from daemon_common import ROOT, DaemonProcess, free_port, machine, wait_ready

from monitor.demo import Estate

IMPORTS = (
    "import re, time; t = time.perf_counter(); "
    "from monitor.daemon import run_daemon; from probes.registry import default_registry; "
    "default_registry(); took = time.perf_counter() - t; "
    "rss = int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1)); "
    "print(took, rss * 1024 / 1e6)"
)


def import_cost(runs: int) -> tuple[float, float]:
    """Median seconds and RSS (MB) of importing the daemon in a fresh interpreter."""
    times, rss = [], []
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout.split()
        times.append(float(out[0]))
        rss.append(float(out[1]))
    return statistics.median(times), statistics.median(rss)


async def one_start(estate: Estate, tmp: str, *, idle_s: float, pin: bool) -> dict[str, Any]:
    """Start the daemon on demo.yaml, time it to ready, optionally leave it idle; stop it."""
    port = free_port()
    env = estate.environ(listen=f"127.0.0.1:{port}", state_dir=tmp)
    daemon = DaemonProcess(ROOT / "config" / "demo.yaml", env, pin=pin)
    base = f"http://127.0.0.1:{port}"
    samples: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            serving_s, ready_s = await wait_ready(http, base, daemon)
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
        "rss_ready_mb": rss_ready,
        "rss_idle_mb": samples[-1] if samples else rss_ready,
        "rss_idle_max_mb": max(samples) if samples else rss_ready,
        "peak_rss_mb": peak,
        "not_ok": [p["name"] for p in status["probes"] if p["status"] != "ok"],
        "exit_code": code,
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """``--runs`` timed starts, the last one followed by ``--idle`` seconds of sampling."""
    imports_s, imports_mb = import_cost(args.imports)  # first: nothing else running, unpinned
    estate = await Estate.start()
    runs = []
    try:
        for index in range(args.runs):
            last = index == args.runs - 1
            with tempfile.TemporaryDirectory(prefix="flarewatch-bench-") as tmp:
                runs.append(
                    await one_start(
                        estate, tmp, idle_s=args.idle if last else 0, pin=not args.no_pin
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
        "idle_s": args.idle,
        "rss_at_ready_mb": round(idle["rss_ready_mb"], 1),
        "rss_idle_mb": round(idle["rss_idle_mb"], 1),
        "rss_idle_max_mb": round(idle["rss_idle_max_mb"], 1),
        "peak_rss_mb": round(idle["peak_rss_mb"], 1),
        "imports_s": round(imports_s, 3),
        "imports_rss_mb": round(imports_mb, 1),
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
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
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
