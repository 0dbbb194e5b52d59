"""When probes run: APScheduler's ``AsyncIOScheduler`` with a phase per probe.

- **Start-up**: every probe is scheduled at once; each first run comes within 5 ms per
  probe, at most ``startup_jitter_s`` and its interval, so the first round completes quickly
  (0.055 s for eleven probes) without a thousand probes firing at the same instant.
- **Steady state**: each probe runs on its own grid ``anchor + k·interval`` with a random
  phase, so a thousand probes at 10 s spread over the 10 s instead of bunching where they
  started (:class:`PhasedInterval`). The grid never drifts, and runs never come closer than
  half an interval except when a probe asks (``ProbeResult.rerun_in_s``).
- **Never two runs of one probe at once** (``max_instances=1``; a run still going when the
  next is due skips it, counted as ``max_instances``), missed runs coalesced into one, and a
  run later than a whole interval dropped (``missed``): the next one is due anyway.
- **Bounded concurrency per service**: a semaphore per ``Probe.service``, so a slow or
  hanging service holds only its own slots and never starves the others
  (:func:`service_limits` sizes them).
- **Lag**: how late each run started against when it was due (``on_lag``), and a heartbeat
  job whose age says whether the scheduler is alive (``/healthz``, the systemd watchdog).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

log = structlog.get_logger("flarewatch.scheduler")

HEARTBEAT_ID = "__heartbeat__"
"""The heartbeat job's id (probe names cannot start with ``_``)."""

JITTER_PER_JOB_S = 0.005
"""Start-up spread per scheduled probe (the window is capped by ``startup_jitter_s``).

About 2.5 times the CPU a probe run costs (1.9 ms, benchmarks/RESULTS.md), so the first
round keeps the event loop less than half busy while it lasts as little as it can."""


def next_fire(anchor: float, interval: float, previous: float | None, now: float) -> float:
    """The next run time on the grid ``anchor + k·interval`` (all times in epoch seconds).

    Without a previous run: the first grid point at or after ``now``. After a run at
    ``previous`` (a grid point, or any time when a probe asked to rerun early): the first
    grid point more than half an interval later, so runs never bunch up.
    """
    if previous is None:
        return anchor + math.ceil((now - anchor) / interval) * interval
    after = previous + interval / 2.0
    return anchor + (math.floor((after - anchor) / interval) + 1) * interval


class PhasedInterval(BaseTrigger):  # type: ignore[misc]
    """An APScheduler trigger firing on :func:`next_fire`'s grid (no drift, no bunching)."""

    __slots__ = ("anchor", "interval")

    def __init__(self, interval_s: float, anchor: float) -> None:
        self.interval = interval_s
        self.anchor = anchor

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        """APScheduler's hook: the next fire time after ``previous_fire_time``."""
        previous = None if previous_fire_time is None else previous_fire_time.timestamp()
        return datetime.fromtimestamp(
            next_fire(self.anchor, self.interval, previous, now.timestamp()), UTC
        )

    def __str__(self) -> str:
        return f"every {self.interval:g}s"


@dataclass(frozen=True)
class Job:
    """What to run: a name, its service (concurrency group), interval and coroutine.

    ``run`` returns the ``rerun_in_s`` the probe asked for (``None``: keep the interval).
    Two jobs with the same ``key`` are the same schedule: :meth:`ProbeScheduler.apply` keeps
    its timing and only swaps ``run``.
    """

    name: str
    service: str
    interval_s: float
    timeout_s: float
    run: Callable[[], Awaitable[float | None]]
    key: Hashable


def service_limits(jobs: Iterable[Job], *, floor: int, ceiling: int) -> dict[str, int]:
    """How many runs of each service may go at once.

    Enough that a service keeps up even when every run takes its whole timeout (the sum of
    ``timeout / interval`` over its jobs), at least ``floor`` and at most ``ceiling``. The
    isolation between services comes from each having its own limit.
    """
    need: dict[str, float] = {}
    for job in jobs:
        need[job.service] = need.get(job.service, 0.0) + job.timeout_s / job.interval_s
    return {svc: min(ceiling, max(floor, math.ceil(n))) for svc, n in need.items()}


class ProbeScheduler:
    """Runs :class:`Job` s on their intervals (see the module docstring)."""

    def __init__(
        self,
        *,
        min_per_service: int = 4,
        max_per_service: int = 64,
        startup_jitter_s: float = 1.0,
        heartbeat_s: float = 1.0,
        on_lag: Callable[[float], None] | None = None,
        on_skip: Callable[[str], None] | None = None,
        rand: Callable[[], float] = random.random,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= min_per_service <= max_per_service:
            raise ValueError("need 1 <= min_per_service <= max_per_service")
        self.min_per_service = min_per_service
        self.max_per_service = max_per_service
        self.limits: dict[str, int] = {}
        self.startup_jitter_s = startup_jitter_s
        self._jitter_window_s = startup_jitter_s
        self.heartbeat_s = heartbeat_s
        self._on_lag = on_lag
        self._on_skip = on_skip
        self._rand = rand
        self._wall = wall
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)
        self._scheduler.add_listener(
            self._skipped_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED
        )
        self._jobs: dict[str, Job] = {}
        self._due: dict[str, float] = {}
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._cancelling: set[asyncio.Task[Any]] = set()
        self._semaphores: dict[str, tuple[int, asyncio.Semaphore]] = {}
        self._last_beat: float | None = None
        self._started = False
        self._stopped = False

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start scheduling (call inside the running event loop)."""
        loop = asyncio.get_running_loop()
        self._last_beat = loop.time()
        self._scheduler.add_job(
            self._beat,
            "interval",
            seconds=self.heartbeat_s,
            id=HEARTBEAT_ID,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self._scheduler.start()
        self._started = True

    async def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop scheduling, cancel runs in progress and wait for them (at most ``timeout_s``)."""
        if self._stopped:
            return
        self._stopped = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await self._cancel(list(self._running), timeout_s)

    @property
    def running(self) -> bool:
        """Whether the scheduler has been started and not shut down."""
        return self._started and not self._stopped and bool(self._scheduler.running)

    def heartbeat_age(self) -> float | None:
        """Seconds since the heartbeat job last ran (``None`` before :meth:`start`)."""
        if self._last_beat is None:
            return None
        return max(0.0, asyncio.get_running_loop().time() - self._last_beat)

    def alive(self, max_age_s: float | None = None) -> bool:
        """Running, and the heartbeat ran within ``max_age_s`` (default: 5 heartbeats, ≥ 5 s)."""
        limit = max_age_s if max_age_s is not None else max(5.0, 5 * self.heartbeat_s)
        age = self.heartbeat_age()
        return self.running and age is not None and age <= limit

    async def _beat(self) -> None:
        self._last_beat = asyncio.get_running_loop().time()

    # --- jobs --------------------------------------------------------------------------

    def apply(self, jobs: Sequence[Job]) -> set[str]:
        """Schedule exactly ``jobs``; returns the names whose schedule was (re)started.

        A job whose ``key`` is unchanged keeps its timing; a new or changed one runs within
        the start-up jitter; a removed one stops. Runs in progress of changed or removed
        jobs are cancelled; :meth:`settle` waits until they have ended.
        """
        wanted = {job.name: job for job in jobs}
        if len(wanted) != len(jobs):
            raise ValueError("job names must be unique")
        self.limits = service_limits(jobs, floor=self.min_per_service, ceiling=self.max_per_service)
        restarted: set[str] = set()
        stale: list[str] = []
        for name in list(self._jobs):
            if name not in wanted:
                del self._jobs[name]
                with contextlib.suppress(Exception):
                    self._scheduler.remove_job(name)
                stale.append(name)
        now = self._wall()
        # Spread first runs over 5 ms per job (at most ``startup_jitter_s``): a thousand
        # probes do not fire at one instant, and eleven are all done within about 0.06 s.
        self._jitter_window_s = min(self.startup_jitter_s, JITTER_PER_JOB_S * len(jobs))
        for job in jobs:
            old = self._jobs.get(job.name)
            self._jobs[job.name] = job
            if old is not None and old.key == job.key:
                continue
            if old is not None:
                with contextlib.suppress(Exception):
                    self._scheduler.remove_job(job.name)
                stale.append(job.name)
            self._add(job, now)
            restarted.add(job.name)
        for name in stale:
            task = self._running.get(name)
            if task is not None and not task.done():
                task.cancel()
                self._cancelling.add(task)
        return restarted

    def _add(self, job: Job, now: float) -> None:
        interval = job.interval_s
        anchor = now + self._rand() * interval
        self._scheduler.add_job(
            self._fire,
            PhasedInterval(interval, anchor),
            args=[job.name],
            id=job.name,
            name=job.name,
            next_run_time=self._first_run(interval, now),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, math.ceil(interval)),
            replace_existing=True,
        )

    def _first_run(self, interval_s: float, now: float) -> datetime:
        return datetime.fromtimestamp(
            now + self._rand() * min(self._jitter_window_s, interval_s), UTC
        )

    def names(self) -> list[str]:
        """The scheduled job names."""
        return list(self._jobs)

    def in_flight(self) -> list[str]:
        """Names of jobs running right now."""
        return [name for name, task in self._running.items() if not task.done()]

    def next_run(self, name: str) -> float | None:
        """When ``name`` runs next (epoch seconds), if scheduled."""
        job = self._scheduler.get_job(name)
        if job is None or job.next_run_time is None:
            return None
        return float(job.next_run_time.timestamp())

    async def settle(self, timeout_s: float = 5.0) -> None:
        """Wait (at most ``timeout_s``) for the runs :meth:`apply` cancelled to end."""
        pending = [t for t in self._cancelling if not t.done()]
        self._cancelling.clear()
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)

    async def _cancel(self, names: Collection[str], timeout_s: float) -> None:
        tasks = [t for n in names if (t := self._running.get(n)) is not None and not t.done()]
        tasks.extend(t for t in self._cancelling if not t.done())
        self._cancelling.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    def _semaphore(self, service: str) -> asyncio.Semaphore:
        limit = self.limits.get(service, self.min_per_service)
        held = self._semaphores.get(service)
        if held is None or held[0] != limit:
            # A new limit gets a new semaphore; runs holding the old one release it.
            held = self._semaphores[service] = (limit, asyncio.Semaphore(limit))
        return held[1]

    async def _fire(self, name: str) -> None:
        """One scheduled run of ``name`` (APScheduler's job function)."""
        task = asyncio.current_task()
        assert task is not None
        self._running[name] = task
        due = self._due.pop(name, None)
        try:
            if due is not None and self._on_lag is not None:
                self._on_lag(self._wall() - due)
            job = self._jobs.get(name)
            if job is None:
                return
            async with self._semaphore(job.service):
                rerun_in_s = await job.run()
            if rerun_in_s is not None and rerun_in_s > 0:
                self._rerun(name, rerun_in_s)
        except asyncio.CancelledError:
            # Cancelled by a shutdown or reload: not an error, and APScheduler must not log
            # it as one.
            return
        except Exception:  # the runner is the crash barrier; this guards the recording
            log.exception("probe_job_failed", probe=name)
        finally:
            if self._running.get(name) is task:
                del self._running[name]

    def _rerun(self, name: str, rerun_in_s: float) -> None:
        job = self._scheduler.get_job(name)
        if job is None or job.next_run_time is None:
            return
        at = datetime.fromtimestamp(self._wall(), UTC) + timedelta(seconds=rerun_in_s)
        if at < job.next_run_time:
            self._scheduler.modify_job(name, next_run_time=at)

    def _submitted(self, event: JobSubmissionEvent) -> None:
        if event.job_id != HEARTBEAT_ID and event.scheduled_run_times:
            self._due[event.job_id] = event.scheduled_run_times[-1].timestamp()

    def _skipped_event(self, event: JobEvent) -> None:
        if event.job_id == HEARTBEAT_ID or self._on_skip is None:
            return
        self._on_skip("max_instances" if event.code == EVENT_JOB_MAX_INSTANCES else "missed")
