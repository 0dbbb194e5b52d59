"""Cloudflare API requests the daemon spends on the SpaceVision estate, per 5 minutes.

Target (issue 3): under 300 requests per 5 minutes (a quarter of the API's 1,200) with the
SpaceVision seed probed every 30 s.

Workload, stated: ``config/demo.yaml`` (every probe type: 2 workers, pages, http, 2 kv, 2 r2,
d1, dns, api) with every probe's ``interval`` set to ``--interval`` (30 s) and everything
else as the demo has it (sessions-kv's canary at most every 20 s, so every run at 30 s),
run by ``flarewatch run`` in a process of its own against the demo's estate (the simulator
and its DNS servers) in the benchmark's process. Once the daemon is ready, the simulator's
request log is cleared (start-up costs — the token check, name lookups, the first round —
are reported apart) and the daemon runs for ``--minutes`` of real time (5 by default); the
requests under ``/client/v4`` in the log (``GET /__sim/requests``) are counted, by API group,
and scaled to 5 minutes. The edge requests of the HTTP checks are not API requests and are
not counted. Name lookups cached for 10 minutes fall outside a 5-minute window or inside it
depending on when it starts; a longer ``--minutes`` averages them in.

    .venv/bin/python benchmarks/daemon_api_budget.py [--minutes M] [--interval S] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from daemon_common import ROOT, DaemonProcess, free_port, machine, wait_ready, write_config

from cfapi.budget import group_for
from monitor.demo import Estate

API = "/client/v4"


def spacevision_config(interval_s: float) -> dict[str, Any]:
    """config/demo.yaml with every probe at ``interval_s`` (written elsewhere: its relative
    paths made absolute)."""
    config_dir = ROOT / "config"
    data: dict[str, Any] = yaml.safe_load((config_dir / "demo.yaml").read_text())
    alerting = data.get("alerting") or {}
    if "rule_files" in alerting:
        alerting["rule_files"] = [str(config_dir / f) for f in alerting["rule_files"]]
    data["defaults"] = {**data.get("defaults", {}), "interval": f"{interval_s:g}s"}
    for probe in data["probes"]:
        probe["interval"] = f"{interval_s:g}s"
    return data


async def requests_log(http: aiohttp.ClientSession, sim_url: str) -> list[dict[str, Any]]:
    """The simulator's API requests so far."""
    async with http.get(sim_url + "/__sim/requests", params={"limit": "100000"}) as resp:
        entries: list[dict[str, Any]] = (await resp.json())["result"]
    return [e for e in entries if e["path"].startswith(API + "/")]


def by_group(entries: list[dict[str, Any]]) -> dict[str, int]:
    """Requests per API group (as flarewatch's budget counts them)."""
    return dict(Counter(group_for(e["path"].removeprefix(API)) for e in entries).most_common())


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the daemon for ``--minutes`` after ready; count what the simulator served."""
    estate = await Estate.start()
    sim = estate.sim
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory(prefix="flarewatch-bench-") as tmp:
            path = write_config(Path(tmp) / "spacevision.yaml", spacevision_config(args.interval))
            env = estate.environ(listen=f"127.0.0.1:{port}", state_dir=tmp)
            daemon = DaemonProcess(path, env, pin=False)
            try:
                async with aiohttp.ClientSession() as http:
                    await wait_ready(http, base, daemon)
                    startup = await requests_log(http, sim.url)
                    async with http.delete(sim.url + "/__sim/requests") as resp:
                        assert resp.status == 200
                    await asyncio.sleep(args.minutes * 60)
                    daemon.check_alive()
                    window = await requests_log(http, sim.url)
                    async with http.get(base + "/api/v1/status") as resp:
                        status = await resp.json()
            finally:
                code = daemon.stop()
    finally:
        await estate.stop()
    per_5min = len(window) * 5 / args.minutes
    failed = [e for e in window if e["status"] >= 400]
    not_ok = [p["name"] for p in status["probes"] if p["status"] != "ok"]
    return {
        "config": "config/demo.yaml, every probe at " + f"{args.interval:g} s",
        "probes": len(status["probes"]),
        "minutes": args.minutes,
        "requests": len(window),
        "requests_per_5min": round(per_5min, 1),
        "share_of_api_limit": round(per_5min / 1200, 3),
        "by_group": by_group(window),
        "startup_requests": len(startup),
        "startup_by_group": by_group(startup),
        "failed_requests": len(failed),
        "probes_not_ok": not_ok,
        "exit_code": code,
        "errors": len(failed) + len(not_ok) + int(code != 0),
        "machine": machine(),
    }


def main() -> None:
    """Parse the arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=5.0, help="real minutes to count (default 5)"
    )
    parser.add_argument(
        "--interval", type=float, default=30.0, help="every probe's interval, s (default 30)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = asyncio.run(measure(args))
    result["targets_met"] = result["requests_per_5min"] < 300
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['config']}, {result['minutes']:g} min, machine {result['machine']}")
    for key, value in result.items():
        if key not in ("machine", "config"):
            print(f"  {key:20} {value}")


if __name__ == "__main__":
    main()
