"""The side-by-side benchmark against blackbox_exporter + Prometheus + Alertmanager still runs.

Tiny settings (10 targets probed every 2 s, one 6-second fault of 3 targets, an 18-second
window); the figures live in benchmarks/RESULTS.md. The three stack binaries must be
installed (``.ci/run`` installs them): without them the script exits 2 and this test fails.
"""

from __future__ import annotations

from tests.integration.test_benchmarks_smoke import run_script

SMOKE = (
    "--targets", "10", "--interval", "2", "--timeout", "1", "--group-wait", "1",
    "--group-interval", "2", "--fault-seconds", "6", "--fault-share", "0.3", "--gap", "8",
    "--lead", "1", "--seconds", "18", "--warmup", "2", "--seed", "7",
)  # fmt: skip


async def test_both_sides_notify_the_scheduled_fault() -> None:
    """One run starts both monitoring setups, fails 3 targets and hears FIRING and RESOLVED
    from each about them: the comparison in RESULTS.md is only worth something while both
    sides really do the job."""
    result = await run_script("vs_prometheus_stack/run.py", *SMOKE)
    assert 0 == result["errors"]
    assert [3] == [fault["targets"] for fault in result["faults"]]
    for side in ("flarewatch", "stack"):
        figures = result[side]
        assert [3] == figures["reported_of_failing"], side
        assert None not in figures["fire_s"] + figures["resolve_s"], side
        assert figures["probes"] > 0, side
        assert figures["peak_rss_mib"] > 0, side
    assert {"blackbox", "prometheus", "alertmanager"} == set(result["stack"]["per_process"])
    assert result["both_reported_every_failing_target"]
