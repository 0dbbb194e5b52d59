"""The daemon benchmarks still run end to end (tiny sizes; the figures live in RESULTS.md)."""

from __future__ import annotations

import pytest

from tests.integration.test_benchmarks_smoke import run_script


@pytest.mark.parametrize(
    ("script", "args", "keys"),
    [
        (
            "daemon_http_scale.py",
            ("--probes", "20", "--interval", "1", "--minutes", "0.05", "--warmup", "1", "--no-pin"),
            {"cpu_per_run_us", "cpu_pct_of_core", "rss_mb", "lag_p99_ms"},
        ),
        (
            "daemon_footprint.py",
            ("--runs", "1", "--idle", "1", "--imports", "1", "--no-pin"),
            {"start_to_ready_median_s", "rss_idle_mb", "imports_s"},
        ),
        (
            "daemon_api_budget.py",
            ("--minutes", "0.05", "--interval", "2"),
            {"requests_per_5min", "by_group", "startup_requests"},
        ),
    ],
)
async def test_daemon_benchmark_runs(script: str, args: tuple[str, ...], keys: set[str]) -> None:
    """Each benchmark starts the real daemon, measures it and reports its figures, error-free."""
    result = await run_script(script, *args)
    assert keys <= set(result)
    assert 0 == result["errors"]
    assert {"nproc", "cpu", "python"} <= set(result["machine"])
