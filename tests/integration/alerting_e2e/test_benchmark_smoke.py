"""benchmarks/alert_latency.py still runs end to end (tiny sizes; figures in RESULTS.md)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "alert_latency.py"


async def test_the_alert_latency_benchmark_runs() -> None:
    """Two incidents with a 0.5 s probe interval: both fire and resolve, figures reported."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH),
        "--json",
        "--samples",
        "2",
        "--interval",
        "0.5",
        "--no-pin",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert 0 == proc.returncode, err.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert (2, 0) == (len(result["fire_samples_s"]), result["errors"])
    assert {"p50_s", "p95_s", "max_s"} == set(result["resolve"])


async def test_the_engine_round_benchmark_runs() -> None:
    """``--engine-rounds``: full engine rounds over 1,000 probes, figures reported."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH),
        "--json",
        "--engine-rounds",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert 0 == proc.returncode, err.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert {"median_ms", "max_ms", "alerts", "groups"} <= set(result)
