"""Run one probe: its deadline, the crash barrier, and the run's own duration.

:func:`run_probe` is the only place a probe's ``run`` is awaited. Whatever happens inside, it
returns a :class:`ProbeRun`: a probe that overruns its timeout becomes ``crit`` with reason
``timeout``; one that raises becomes ``unknown`` with reason ``error`` and ``crashed`` set
(the ``flarewatch_probe_crashes_total`` counter), so a buggy plugin never takes the daemon
down. Cancellation (shutdown, reload) is not a result: it propagates.

:class:`Runner` is the imperative shell around it: it hands every run to the metrics, the
status store and the log (state changes only).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.logging import log_run
from probes.base import Probe, ProbeContext, ProbeResult, Reason, Status

if TYPE_CHECKING:
    from monitor.metrics import DaemonMetrics
    from monitor.state import StatusStore

_MESSAGE_LIMIT = 300


@dataclass(frozen=True, slots=True)
class ScheduledProbe:
    """A configured probe ready to run: the instance, its context, interval and timeout."""

    probe: Probe[Any]
    ctx: ProbeContext
    interval_s: float
    timeout_s: float

    @property
    def name(self) -> str:
        """The probe's configured name."""
        return self.probe.name

    @property
    def type_name(self) -> str:
        """The probe's type (``workers``, ``kv``…)."""
        return self.probe.type_name

    @property
    def service(self) -> str:
        """The probe's concurrency group."""
        return self.probe.service


@dataclass(frozen=True, slots=True)
class ProbeRun:
    """One finished run: the result (``duration_ms`` added to its values) and how it went.

    ``started_at`` is wall-clock time (epoch seconds); ``duration_s`` is measured on a
    monotonic clock. ``error`` is the exception of a crashed run (for the log's traceback).
    """

    probe: str
    type: str
    service: str
    result: ProbeResult
    started_at: float
    duration_s: float
    crashed: bool = False
    timed_out: bool = False
    error: BaseException | None = None


def _describe(err: BaseException) -> str:
    text = str(err).strip()
    name = type(err).__name__
    message = f"the probe crashed: {name}: {text}" if text else f"the probe crashed: {name}"
    return message if len(message) <= _MESSAGE_LIMIT else message[: _MESSAGE_LIMIT - 1] + "…"


def _checked(result: object) -> ProbeResult:
    """The probe's result, with values as floats; anything else is the probe's bug."""
    if not isinstance(result, ProbeResult):
        raise TypeError(f"run() returned {type(result).__name__}, not a ProbeResult")
    return dataclasses.replace(
        result,
        status=Status(result.status),
        reason=None if result.reason is None else Reason(result.reason),
        values={str(k): float(v) for k, v in result.values.items()},
    )


async def run_probe(
    probe: Probe[Any],
    ctx: ProbeContext,
    *,
    timeout_s: float,
    clock: Callable[[], float] = time.perf_counter,
    wall: Callable[[], float] = time.time,
    scrub: Callable[[str], str] = str,
) -> ProbeRun:
    """Run ``probe`` once under ``timeout_s``; never raise except on cancellation.

    ``scrub`` cleans the result's message before it is stored (it removes secret values:
    the message reaches the status API and page).
    """
    started_at = wall()
    start = clock()
    crashed = timed_out = False
    error: BaseException | None = None
    try:
        async with asyncio.timeout(timeout_s) as deadline:
            raw = await probe.run(ctx)
        result = _checked(raw)
    except TimeoutError as err:
        if deadline.expired():
            timed_out = True
            result = ProbeResult.failed(
                Reason.TIMEOUT, f"no result within the {timeout_s:g} s timeout"
            )
        else:
            crashed, error = True, err
            result = ProbeResult.failed(Reason.ERROR, _describe(err), status=Status.UNKNOWN)
    except Exception as err:  # the crash barrier: a plugin's bug must not stop the daemon
        crashed, error = True, err
        result = ProbeResult.failed(Reason.ERROR, _describe(err), status=Status.UNKNOWN)
    duration_s = max(0.0, clock() - start)
    values = {**result.values, "duration_ms": duration_s * 1000.0}
    return ProbeRun(
        probe=probe.name,
        type=probe.type_name,
        service=probe.service,
        result=dataclasses.replace(result, message=scrub(result.message), values=values),
        started_at=started_at,
        duration_s=duration_s,
        crashed=crashed,
        timed_out=timed_out,
        error=error,
    )


class Runner:
    """Runs scheduled probes and records each run in the metrics, the store and the log."""

    def __init__(
        self,
        *,
        metrics: DaemonMetrics,
        state: StatusStore,
        scrub: Callable[[str], str] = str,
        clock: Callable[[], float] = time.perf_counter,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.state = state
        self._scrub = scrub
        self._clock = clock
        self._wall = wall

    async def run(self, item: ScheduledProbe) -> ProbeRun:
        """Run ``item`` once and record the run; returns it (``rerun_in_s`` included)."""
        run = await run_probe(
            item.probe,
            item.ctx,
            timeout_s=item.timeout_s,
            clock=self._clock,
            wall=self._wall,
            scrub=self._scrub,
        )
        self.record(run, item)
        return run

    def record(self, run: ProbeRun, item: ScheduledProbe) -> None:
        """Hand a finished run to the metrics, the status store and the log."""
        self.metrics.observe(run)
        # The store keeps the last run of every probe: not its exception, whose traceback
        # would keep the crashed run's frames (and everything they reference) alive.
        change = self.state.record(dataclasses.replace(run, error=None))
        if change is not None:
            log_run(item.ctx.log, run, change)
