"""What cfapi adds per request, against a bare aiohttp GET of the same endpoint.

The simulator runs pinned to core 0; this process pins itself to core 1. Both sides verify
the token (``GET /user/tokens/verify``) one request at a time over the same keep-alive
``ClientSession`` (injected into the client), in interleaved rounds so drift hits both
equally. The bare side does what any caller must: send the auth header, read the body,
decode the JSON and check ``success``. The cfapi side adds the budget, retry wrapper,
rate-limit header parsing, envelope decoding, the pydantic model and a debug log call
(filtered out at INFO, as in production).

    .venv/bin/python benchmarks/client_overhead.py [--rounds R] [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator_throughput import raise_rate_limit, start_simulator, stop_simulator

from cfapi.budget import RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials

TARGET_RATIO = 1.3


async def bare_round(session: aiohttp.ClientSession, url: str, token: str, n: int) -> float:
    """Mean seconds per bare GET over ``n`` sequential requests."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    for _ in range(n):
        async with session.get(url, headers=headers) as resp:
            body = json.loads(await resp.read())
            if resp.status != 200 or body.get("success") is not True:
                raise RuntimeError(f"bare request failed: {resp.status}")
    return (time.perf_counter() - started) / n


async def client_round(client: CloudflareClient, n: int) -> float:
    """Mean seconds per ``client.accounts.verify_token()`` over ``n`` sequential calls."""
    started = time.perf_counter()
    for _ in range(n):
        await client.accounts.verify_token()
    return (time.perf_counter() - started) / n


async def measure(api: str, token: str, rounds: int, n: int) -> dict[str, Any]:
    """Interleave bare and cfapi rounds over one session; return medians and the ratio."""
    bare: list[float] = []
    cfapi: list[float] = []
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        # A budget as large as the simulator's lifted limit: measure the code, not throttling.
        budget = RequestBudget(limit=1_000_000_000, window_s=300.0, share=1.0)
        client = CloudflareClient(
            Credentials.bearer(token), base_url=api, session=session, budget=budget
        )
        await bare_round(session, api + "/user/tokens/verify", token, 200)
        await client_round(client, 200)
        for i in range(rounds):
            if i % 2 == 0:
                bare.append(await bare_round(session, api + "/user/tokens/verify", token, n))
                cfapi.append(await client_round(client, n))
            else:
                cfapi.append(await client_round(client, n))
                bare.append(await bare_round(session, api + "/user/tokens/verify", token, n))
        await client.aclose()
    bare_us = statistics.median(bare) * 1e6
    cfapi_us = statistics.median(cfapi) * 1e6
    return {
        "rounds": rounds,
        "requests_per_round": n,
        "bare_median_us": round(bare_us, 1),
        "cfapi_median_us": round(cfapi_us, 1),
        "overhead_us": round(cfapi_us - bare_us, 1),
        "ratio": round(cfapi_us / bare_us, 3),
        "target_ratio": TARGET_RATIO,
    }


def main() -> None:
    """Start the simulator on core 0, measure from core 1, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--requests", type=int, default=300, help="requests per round")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    os.sched_setaffinity(0, {1})
    token = secrets.token_urlsafe(30)[:40]
    proc, url = start_simulator(0, token)
    try:
        raise_rate_limit(url)
        result = asyncio.run(measure(url + "/client/v4", token, args.rounds, args.requests))
    finally:
        stop_simulator(proc)
    if args.json:
        print(json.dumps(result))
        return
    verdict = "within" if result["ratio"] <= TARGET_RATIO else "OVER"
    print(
        f"per request, median of {result['rounds']} interleaved rounds of "
        f"{result['requests_per_round']}: bare aiohttp {result['bare_median_us']} µs, "
        f"cfapi {result['cfapi_median_us']} µs (+{result['overhead_us']} µs), "
        f"ratio {result['ratio']} ({verdict} the {TARGET_RATIO}x target)"
    )


if __name__ == "__main__":
    main()
