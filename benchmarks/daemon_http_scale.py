"""The daemon at scale: 1,000 ``http`` probes every 10 s against a local aiohttp server.

Targets (issue 3): under 25 % of one core, RSS under 100 MB, scheduler lag p99 under 100 ms.

Workload, stated: ``--probes`` probes of type ``http`` (default 1,000), each its own URL
``http://127.0.0.1:PORT/p/N`` on one aiohttp server in the benchmark's process (200, a
small HTML body, checked with ``body_contains``), every ``--interval`` (10 s), timeout 5 s.
The daemon is ``flarewatch run`` in a process of its own (pinned to a core of its own when
there are two), with the simulator in the benchmark's process answering its start-up token
check. After the daemon is ready and ``--warmup`` seconds more (so every probe is on its own
phase), the window of ``--minutes`` is measured:

- CPU: the daemon's user + system time over the window (``/proc/PID/stat``), per probe run
  and as a share of one core;
- RSS at the end of the window, and the peak (``VmHWM``);
- scheduler lag: the p50/p99 of ``flarewatch_scheduler_lag_seconds`` gained in the window
  (interpolated within its buckets, as ``histogram_quantile`` does), and runs skipped.

    .venv/bin/python benchmarks/daemon_http_scale.py [--probes N] [--interval S]
        [--minutes M] [--warmup S] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from daemon_common import (
    DaemonProcess,
    bucket_of,
    free_port,
    histogram_quantile,
    machine,
    scrape,
    wait_ready,
    write_config,
)

from cfsim.server import SimServer

PAGE = b"<!doctype html><title>ok</title><p>flarewatch benchmark target</p>\n"


async def target_server() -> tuple[web.AppRunner, int, list[int]]:
    """The probed site: every path answers 200 with a small page; requests are counted."""
    served = [0]

    async def page(_: web.Request) -> web.Response:
        served[0] += 1
        return web.Response(body=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    return runner, int(port), served


def config(
    sim: SimServer, target_port: int, listen: str, state_dir: str, args: Any
) -> dict[str, Any]:
    """``--probes`` http probes against the target, on the simulator's account."""
    width = len(str(args.probes))
    return {
        "cloudflare": {
            "account_id": sim.account_id,
            "api_token": "${BENCH_CF_TOKEN}",
            "api_base_url": sim.api_url,
        },
        "server": {"listen": listen},
        "state_dir": state_dir,
        "defaults": {"interval": f"{args.interval}s", "timeout": "5s"},
        "logging": {"level": "warning", "format": "json"},
        "probes": [
            {
                "name": f"site-{i:0{width}d}",
                "type": "http",
                "url": f"http://127.0.0.1:{target_port}/p/{i}",
                "body_contains": "benchmark target",
            }
            for i in range(args.probes)
        ],
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the daemon, wait for ready and the warm-up, measure the window."""
    sim = await SimServer(seed="empty").start()
    target, port, served = await target_server()
    listen_port = free_port()
    base = f"http://127.0.0.1:{listen_port}"
    with tempfile.TemporaryDirectory(prefix="flarewatch-bench-") as tmp:
        path = write_config(
            Path(tmp) / "flarewatch.yaml",
            config(sim, port, f"127.0.0.1:{listen_port}", tmp, args),
        )
        daemon = DaemonProcess(path, {"BENCH_CF_TOKEN": sim.token}, pin=not args.no_pin)
        try:
            async with aiohttp.ClientSession() as http:
                serving_s, ready_s = await wait_ready(http, base, daemon, timeout_s=120)
                await asyncio.sleep(args.warmup)
                daemon.check_alive()
                first = await scrape(http, base)
                cpu0, wall0, served0 = daemon.cpu_seconds(), time.monotonic(), served[0]
                await asyncio.sleep(args.minutes * 60)
                daemon.check_alive()
                cpu1, wall1, served1 = daemon.cpu_seconds(), time.monotonic(), served[0]
                rss, peak = daemon.rss_mb(), daemon.peak_rss_mb()
                last = await scrape(http, base)
                async with http.get(base + "/api/v1/status") as resp:
                    status = await resp.json()
        finally:
            code = daemon.stop()
            await target.cleanup()
            await sim.stop()
    wall = wall1 - wall0
    cpu = cpu1 - cpu0
    runs = last.runs - first.runs
    p50 = histogram_quantile(0.5, first.lag_buckets, last.lag_buckets)
    p99 = histogram_quantile(0.99, first.lag_buckets, last.lag_buckets)
    lag_count = last.lag_count - first.lag_count
    not_ok = sum(1 for p in status["probes"] if p["status"] != "ok")
    return {
        "probes": args.probes,
        "interval_s": args.interval,
        "window_s": round(wall, 1),
        "runs": runs,
        "runs_per_s": round(runs / wall, 1),
        "requests_served": served1 - served0,
        "cpu_s": round(cpu, 2),
        "cpu_per_run_us": round(cpu / runs * 1e6, 1) if runs else None,
        "cpu_pct_of_core": round(cpu / wall * 100, 1),
        "rss_mb": round(rss, 1),
        "peak_rss_mb": round(peak, 1),
        "lag_p50_ms": None if p50 is None else round(p50 * 1000, 2),
        "lag_p99_ms": None if p99 is None else round(p99 * 1000, 2),
        "lag_p99_bucket": None if p99 is None else bucket_of(p99, last.lag_buckets),
        "lag_mean_ms": round((last.lag_sum - first.lag_sum) / lag_count * 1000, 2)
        if lag_count
        else None,
        "skipped_runs": last.skipped - first.skipped,
        "probes_not_ok": not_ok,
        "start_to_serving_s": round(serving_s, 3),
        "start_to_ready_s": round(ready_s, 3),
        "pinned_core": daemon.core,
        "exit_code": code,
        "errors": int(not_ok > 0) + int(code != 0),
        "machine": machine(),
    }


def main() -> None:
    """Parse the arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=1000, help="http probes (default 1000)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument("--minutes", type=float, default=3.0, help="measured window (default 3)")
    parser.add_argument(
        "--warmup", type=float, default=15.0, help="seconds after ready before measuring"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the daemon to a core")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = asyncio.run(measure(args))
    targets = {
        "cpu_pct_of_core": (result["cpu_pct_of_core"], 25.0),
        "rss_mb": (result["rss_mb"], 100.0),
        "lag_p99_ms": (result["lag_p99_ms"], 100.0),
    }
    result["targets_met"] = all(v is not None and v < limit for v, limit in targets.values())
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['probes']} http probes every {result['interval_s']:g} s, "
        f"window {result['window_s']:g} s, machine {result['machine']}"
    )
    for key, value in result.items():
        if key != "machine":
            print(f"  {key:22} {value}")


if __name__ == "__main__":
    main()
