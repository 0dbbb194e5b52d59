"""The scheduler: the phased grid (pure), service limits, and APScheduler behaviour in a loop.

The behavioural tests use short real intervals and wait on events or poll with deadlines;
nothing sleeps to wait for something.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from monitor.scheduler import Job, ProbeScheduler, next_fire, service_limits


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.005)


@pytest.mark.parametrize(
    ("anchor", "interval", "previous", "now", "expected"),
    [
        (100.0, 10.0, None, 95.0, 100.0),  # before the anchor: the anchor
        (100.0, 10.0, None, 100.0, 100.0),  # at a grid point: that point
        (100.0, 10.0, None, 103.0, 110.0),  # between points: the next
        (100.0, 10.0, 120.0, 120.0, 130.0),  # after a grid run: one interval later
        (100.0, 10.0, 101.0, 101.0, 110.0),  # first run just after the anchor: keep the grid
        (100.0, 10.0, 106.0, 106.0, 120.0),  # early rerun late in a cycle: skip the close one
        (100.0, 10.0, 104.0, 104.0, 110.0),  # early rerun early in a cycle: the next point
        (100.0, 0.5, 100.0, 100.0, 100.5),  # sub-second intervals
    ],
)
def test_next_fire_stays_on_the_grid(
    anchor: float, interval: float, previous: float | None, now: float, expected: float
) -> None:
    """Runs land on anchor + k·interval (no drift) and never closer than half an interval."""
    assert expected == pytest.approx(next_fire(anchor, interval, previous, now))


def test_next_fire_does_not_drift_over_many_runs() -> None:
    """A thousand runs later the probe still fires on its grid."""
    t = 100.0
    for _ in range(1000):
        t = next_fire(100.0, 0.3, t, t)
    assert 100.0 + 1000 * 0.3 == pytest.approx(t)


def _job(name: str, service: str, interval: float, timeout: float = 1.0) -> Job:
    async def run() -> None:
        return None

    return Job(name, service, interval, timeout, run, key=name)


def test_service_limits_scale_with_the_worst_case_load() -> None:
    """A service gets enough slots to keep up if every run takes its timeout, within bounds."""
    jobs = [
        _job("a", "kv", 30.0, 10.0),
        *(_job(f"h{i}", "http", 10.0, 10.0) for i in range(100)),
        _job("d", "dns", 1.0, 5.0),
    ]
    assert {"kv": 4, "http": 64, "dns": 5} == service_limits(jobs, floor=4, ceiling=64)


@pytest.fixture
async def sched() -> AsyncIterator[ProbeScheduler]:
    """A started scheduler with a short start-up jitter, shut down after the test."""
    s = ProbeScheduler(startup_jitter_s=0.05, heartbeat_s=0.05)
    s.start()
    yield s
    await s.shutdown(1.0)


def counting(
    counts: dict[str, int], name: str, rerun: float | None = None
) -> Callable[[], Awaitable[float | None]]:
    """A job body that counts its runs."""

    async def run() -> float | None:
        counts[name] = counts.get(name, 0) + 1
        return rerun

    return run


async def test_every_probe_runs_once_soon_after_start(sched: ProbeScheduler) -> None:
    """All probes are scheduled at once: the first round ends quickly even at long intervals."""
    counts: dict[str, int] = {}
    sched.apply(
        [Job(f"p{i}", "svc", 60.0, 1.0, counting(counts, f"p{i}"), key=i) for i in range(20)]
    )
    await until(lambda: len(counts) == 20, timeout_s=3.0)
    assert {1} == set(counts.values())


async def test_a_probe_never_runs_twice_at_once(sched: ProbeScheduler) -> None:
    """A run still going when the next is due makes the scheduler skip, not overlap."""
    skipped: list[str] = []
    sched._on_skip = skipped.append
    active = 0
    most = 0
    release = asyncio.Event()
    runs = 0

    async def slow() -> None:
        nonlocal active, most, runs
        active += 1
        runs += 1
        most = max(most, active)
        await release.wait()
        active -= 1

    sched.apply([Job("slow", "svc", 0.02, 5.0, slow, key=1)])
    await until(lambda: len(skipped) >= 3)
    release.set()
    await until(lambda: runs >= 2)
    assert 1 == most
    assert {"max_instances"} == set(skipped)


async def test_a_hanging_service_does_not_starve_another(sched: ProbeScheduler) -> None:
    """Each service has its own slots: one stuck service leaves the others running."""
    sched.min_per_service = sched.max_per_service = 1
    counts: dict[str, int] = {}

    async def hang() -> None:
        await asyncio.Event().wait()

    jobs = [Job(f"stuck{i}", "stuck", 0.02, 5.0, hang, key=i) for i in range(3)]
    jobs.append(Job("fine", "healthy", 0.02, 5.0, counting(counts, "fine"), key="fine"))
    sched.apply(jobs)
    await until(lambda: counts.get("fine", 0) >= 5)


async def test_rerun_in_brings_the_next_run_forward(sched: ProbeScheduler) -> None:
    """A probe asking to rerun soon (DNS propagating) runs again long before its interval."""
    counts: dict[str, int] = {}
    sched.apply([Job("dns", "dns", 3600.0, 1.0, counting(counts, "dns", rerun=0.02), key=1)])
    await until(lambda: counts.get("dns", 0) >= 3)


async def test_apply_keeps_unchanged_schedules_and_restarts_changed_ones(
    sched: ProbeScheduler,
) -> None:
    """A reload keeps the timing of untouched probes, restarts changed ones, drops removed."""
    counts: dict[str, int] = {}
    sched.apply(
        [
            Job("same", "s", 3600.0, 1.0, counting(counts, "same"), key="v1"),
            Job("changed", "s", 3600.0, 1.0, counting(counts, "changed"), key="v1"),
            Job("removed", "s", 3600.0, 1.0, counting(counts, "removed"), key="v1"),
        ]
    )
    await until(lambda: len(counts) == 3)
    before = sched.next_run("same")
    restarted = sched.apply(
        [
            Job("same", "s", 3600.0, 1.0, counting(counts, "same"), key="v1"),
            Job("changed", "s", 3600.0, 1.0, counting(counts, "changed"), key="v2"),
        ]
    )
    assert {"changed"} == restarted
    assert ["same", "changed"] == sched.names()
    assert before == sched.next_run("same")
    assert sched.next_run("removed") is None
    await until(lambda: counts["changed"] == 2)
    assert (1, 1) == (counts["same"], counts["removed"])


async def test_apply_cancels_the_run_of_a_removed_probe(sched: ProbeScheduler) -> None:
    """A reload that removes a probe stops its run in progress; settle waits for that."""
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def hang() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    sched.apply([Job("h", "s", 3600.0, 1.0, hang, key=1)])
    await started.wait()
    sched.apply([])
    await sched.settle(1.0)
    assert cancelled.is_set()
    assert [] == sched.in_flight()


async def test_shutdown_cancels_runs_in_progress() -> None:
    """SIGTERM must not wait for a hanging probe: its run is cancelled."""
    s = ProbeScheduler(startup_jitter_s=0.01)
    s.start()
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    s.apply([Job("h", "s", 3600.0, 1.0, hang, key=1)])
    await started.wait()
    assert ["h"] == s.in_flight()
    await s.shutdown(1.0)
    assert ([], False) == (s.in_flight(), s.running)


async def test_lag_is_reported_for_every_run(sched: ProbeScheduler) -> None:
    """Each run reports how late it started against when it was due."""
    lags: list[float] = []
    sched._on_lag = lags.append
    counts: dict[str, int] = {}
    sched.apply([Job("p", "s", 0.05, 1.0, counting(counts, "p"), key=1)])
    await until(lambda: len(lags) >= 3)
    assert all(-0.01 <= lag < 5.0 for lag in lags)


async def test_a_failing_job_body_does_not_stop_the_schedule(sched: ProbeScheduler) -> None:
    """Recording bugs are caught and logged; the probe keeps being scheduled."""
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("recording failed")

    sched.apply([Job("b", "s", 0.02, 1.0, broken, key=1)])
    await until(lambda: calls >= 3)


async def test_alive_follows_the_heartbeat(sched: ProbeScheduler) -> None:
    """/healthz and the watchdog use this: alive while running, not after shutdown."""
    await until(lambda: (sched.heartbeat_age() or 1.0) < 0.2)
    assert sched.alive()
    await sched.shutdown(1.0)
    assert not sched.alive()


def test_duplicate_names_are_refused() -> None:
    """Probe names are unique; two jobs of one name is a caller bug."""
    s = ProbeScheduler()
    with pytest.raises(ValueError, match="unique"):
        s.apply([_job("a", "s", 1.0), _job("a", "s", 1.0)])


@pytest.mark.parametrize(("jobs", "window_s"), [(11, 0.055), (1000, 1.0)])
async def test_first_runs_spread_over_5_ms_per_probe_at_most_the_jitter(
    jobs: int, window_s: float
) -> None:
    """Eleven probes are all due within 0.055 s (ready fast); a thousand spread over 1 s."""
    s = ProbeScheduler(startup_jitter_s=1.0, rand=lambda: 1.0, wall=lambda: 1000.0)
    s.apply([Job(f"p{i}", "svc", 60.0, 1.0, counting({}, f"p{i}"), key=i) for i in range(jobs)])
    due = [job.next_run_time.timestamp() for job in s._scheduler.get_jobs()]
    assert [pytest.approx(1000.0 + window_s)] * jobs == due
