"""How many requests per second the simulator serves on one core.

The simulator runs in its own process pinned to core 0 (``flarewatch simulator`` through
``python -m monitor``); the load comes from a separate process pinned to core 1: aiohttp with
keep-alive connections, a fixed number of cheap authenticated GETs (``/user/tokens/verify``,
which goes through auth, the rate limiter, faults and the request log), bounded in time.
The simulator's rate limit is raised first so the run measures serving, not 429s.

    .venv/bin/python benchmarks/simulator_throughput.py [--requests N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PATH = "/client/v4/user/tokens/verify"


def start_simulator(core: int, token: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``flarewatch simulator`` pinned to ``core``; return it and its base URL."""
    cmd = ["taskset", "-c", str(core), sys.executable, "-m", "monitor", "simulator"]
    cmd += ["--port", "0", f"--token={token}"]  # "=": a token may start with "-"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "listening on " in line:
            url = line.split("listening on ", 1)[1].split()[0]
            # The rest of the banner is not needed; stop reading it so nothing blocks.
            return proc, url
    proc.kill()
    raise RuntimeError("the simulator did not start")


def stop_simulator(proc: subprocess.Popen[str]) -> None:
    """Stop the simulator cleanly (SIGTERM), or kill it."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def raise_rate_limit(url: str) -> None:
    """Lift the simulated 1,200-per-5-minutes limit so the benchmark is not throttled."""
    body = json.dumps({"rate_limit": 100_000_000, "rate_window_s": 300}).encode()
    request = urllib.request.Request(  # noqa: S310 - a local http:// URL we started
        url + "/__sim/config", data=body, method="PUT", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        resp.read()


async def load(
    url: str, token: str, requests: int, concurrency: int, max_seconds: float
) -> dict[str, Any]:
    """Send ``requests`` GETs over ``concurrency`` keep-alive connections; time them."""
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    latencies: list[float] = []
    errors = 0
    remaining = requests
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(min(200, requests)):  # warm up connections and the server
            async with session.get(url + PATH, headers=headers) as resp:
                await resp.read()
        deadline = time.perf_counter() + max_seconds

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                started = time.perf_counter()
                async with session.get(url + PATH, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "errors": errors,
        "concurrency": concurrency,
    }


def main() -> None:
    """Orchestrate: simulator on core 0, load on core 1, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--load-only", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_only:
        result = asyncio.run(
            load(args.load_only, args.token, args.requests, args.concurrency, args.max_seconds)
        )
        print(json.dumps(result))
        return
    token = secrets.token_urlsafe(30)[:40]
    proc, url = start_simulator(0, token)
    try:
        raise_rate_limit(url)
        cmd = ["taskset", "-c", "1", sys.executable, __file__, "--load-only", url]
        cmd += [f"--token={token}", "--requests", str(args.requests)]
        cmd += ["--concurrency", str(args.concurrency), "--max-seconds", str(args.max_seconds)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)  # noqa: S603
        result = json.loads(out.stdout)
    finally:
        stop_simulator(proc)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"simulator (1 core) served {result['requests']} GET {PATH} in {result['seconds']} s: "
        f"{result['requests_per_s']} req/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"{result['errors']} errors, {result['concurrency']} keep-alive connections"
    )


if __name__ == "__main__":
    main()
