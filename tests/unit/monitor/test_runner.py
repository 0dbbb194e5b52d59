"""The runner: deadline, crash barrier and the run's own duration (probes without I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import pytest

from monitor.runner import run_probe
from probes.base import Probe, ProbeContext, ProbeResult, ProbeSettings, Reason, Status
from tests.unit.monitor.helpers import fake_context


class FnProbe(Probe[ProbeSettings]):
    """A probe whose run is the coroutine function given to it."""

    type_name: ClassVar[str] = "fn"
    service: ClassVar[str] = "fnsvc"
    settings_model: ClassVar[type[ProbeSettings]] = ProbeSettings

    def __init__(self, fn: Callable[[], Awaitable[Any]]) -> None:
        super().__init__(ProbeSettings(name="fn-probe", type="fn"))
        self._fn = fn

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Whatever the function returns (or raises)."""
        result: ProbeResult = await self._fn()
        return result


def ticking(*times: float) -> Callable[[], float]:
    """A clock returning ``times`` in turn."""
    it = iter(times)
    return lambda: next(it)


async def test_a_result_gets_the_run_duration_added() -> None:
    """Every type publishes ``duration_ms`` (docs/rules.md): the runner measures it."""

    async def ok() -> ProbeResult:
        return ProbeResult(Status.OK, "fine", latency_ms=3.0, values={"x": 2})

    run = await run_probe(
        FnProbe(ok), fake_context(), timeout_s=1.0, clock=ticking(10.0, 10.25), wall=lambda: 5.0
    )
    assert (Status.OK, {"x": 2.0, "duration_ms": 250.0}) == (run.result.status, run.result.values)
    assert (5.0, 0.25, False, False) == (run.started_at, run.duration_s, run.crashed, run.timed_out)
    assert ("fn-probe", "fn", "fnsvc") == (run.probe, run.type, run.service)


async def test_an_exception_becomes_an_unknown_result() -> None:
    """A plugin's bug must not kill the daemon: it is reported as unknown with reason error."""

    async def boom() -> ProbeResult:
        raise KeyError("missing-thing")

    run = await run_probe(FnProbe(boom), fake_context(), timeout_s=1.0)
    assert (Status.UNKNOWN, Reason.ERROR, True) == (
        run.result.status,
        run.result.reason,
        run.crashed,
    )
    assert "the probe crashed: KeyError: 'missing-thing'" == run.result.message
    assert isinstance(run.error, KeyError)
    assert "duration_ms" in run.result.values


async def test_a_hanging_probe_hits_its_timeout() -> None:
    """A probe that never answers is crit with reason timeout, after its own deadline."""

    async def hang() -> ProbeResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    run = await run_probe(FnProbe(hang), fake_context(), timeout_s=0.01)
    assert (Status.CRIT, Reason.TIMEOUT, True, False) == (
        run.result.status,
        run.result.reason,
        run.timed_out,
        run.crashed,
    )
    assert "no result within the 0.01 s timeout" == run.result.message


async def test_a_timeout_error_raised_by_the_probe_itself_is_a_crash() -> None:
    """Only the runner's own deadline means 'timeout'; an escaped TimeoutError is a bug."""

    async def own_timeout() -> ProbeResult:
        raise TimeoutError("library timeout escaped")

    run = await run_probe(FnProbe(own_timeout), fake_context(), timeout_s=5.0)
    assert (Status.UNKNOWN, True, False) == (run.result.status, run.crashed, run.timed_out)


async def test_a_wrong_return_type_is_a_crash() -> None:
    """A probe that returns something other than a ProbeResult is caught, not recorded."""

    async def wrong() -> Any:
        return {"status": "ok"}

    run = await run_probe(FnProbe(wrong), fake_context(), timeout_s=1.0)
    assert run.crashed
    assert "returned dict, not a ProbeResult" in run.result.message


async def test_cancellation_is_not_a_result() -> None:
    """Shutdown and reload cancel runs; that must propagate, not become a crash."""
    started = asyncio.Event()

    async def hang() -> ProbeResult:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    task = asyncio.ensure_future(run_probe(FnProbe(hang), fake_context(), timeout_s=10.0))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_crash_message_is_scrubbed_of_secrets() -> None:
    """An exception quoting a token must not put the token in the status API."""

    async def leak() -> ProbeResult:
        raise RuntimeError("request with token sekrit-token-123 failed")

    run = await run_probe(
        FnProbe(leak),
        fake_context(),
        timeout_s=1.0,
        scrub=lambda text: text.replace("sekrit-token-123", "[redacted]"),
    )
    assert "sekrit-token-123" not in run.result.message
    assert "[redacted]" in run.result.message


async def test_long_crash_messages_are_cut() -> None:
    """A huge exception text must not bloat every status document."""

    async def verbose() -> ProbeResult:
        raise RuntimeError("x" * 5000)

    run = await run_probe(FnProbe(verbose), fake_context(), timeout_s=1.0)
    assert len(run.result.message) <= 300
