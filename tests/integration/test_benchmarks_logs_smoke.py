"""The log benchmarks still run end to end (tiny sizes; the figures live in RESULTS.md)."""

from __future__ import annotations

import pytest

from tests.integration.test_benchmarks_smoke import run_script


@pytest.mark.parametrize(
    ("script", "args", "keys"),
    [
        (
            "log_ingest.py",
            ("--events", "600", "--runs", "1"),
            {"events_per_s", "cpu_us_per_event", "store_per_s", "db_bytes_per_event"},
        ),
        (
            "log_query.py",
            ("--events", "3000", "--repeat", "2"),
            {"p95_ms", "shapes", "target_ms", "cli_process_ms"},
        ),
    ],
)
async def test_log_benchmark_runs(script: str, args: tuple[str, ...], keys: set[str]) -> None:
    """Each log benchmark completes without errors and reports its figures."""
    result = await run_script(script, *args)
    assert (keys <= set(result), result.get("errors", 0)) == (True, 0)
