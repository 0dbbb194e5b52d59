"""The benchmark scripts still run end to end (tiny sizes; the figures live in RESULTS.md)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


async def run_script(name: str, *args: str) -> dict[str, Any]:
    """Run ``benchmarks/NAME --json ARGS`` and return the JSON it prints last."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH / name),
        "--json",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("script", "args", "keys"),
    [
        ("simulator_throughput.py", ("--requests", "300"), {"requests_per_s", "p50_ms", "errors"}),
        ("client_overhead.py", ("--rounds", "1", "--requests", "50"), {"ratio", "overhead_us"}),
        ("rule_evaluation.py", ("--rounds", "1", "--probes", "60"), {"scenarios", "target_ms"}),
        ("graphql_minutes.py", ("--subjects", "1", "--rps", "0.01", "--runs", "1"), {"rows"}),
    ],
)
async def test_benchmark_runs(script: str, args: tuple[str, ...], keys: set[str]) -> None:
    """Each benchmark completes without errors and reports its figures."""
    result = await run_script(script, *args)
    assert keys <= set(result)
    assert result.get("errors", 0) == 0
