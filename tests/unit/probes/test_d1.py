"""The d1 probe's pure parts: the retry policy and loop on a fake clock, judging, settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import ValidationError

from cfapi.d1 import D1Meta, D1QueryResult
from cfapi.errors import (
    ApiError,
    AuthError,
    CloudflareError,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
)
from probes.base import Reason, Status
from probes.checks import Deadline, Unavailable
from probes.d1 import (
    PLAN_SIZE_LIMITS,
    Attempts,
    Backoff,
    D1Probe,
    D1Settings,
    Transient,
    judge_failure,
    judge_success,
    next_wait,
    with_retries,
)


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advance the clock instead of waiting."""
        self.slept.append(seconds)
        self.now += seconds


def scripted(*outcomes: CloudflareError | str) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """A call that raises or returns each outcome in turn; also returns a call counter."""
    calls = [0]

    async def call() -> str:
        outcome = outcomes[calls[0]]
        calls[0] += 1
        if isinstance(outcome, CloudflareError):
            raise outcome
        return outcome

    return call, calls


def settings(**overrides: Any) -> D1Settings:
    """Settings of a d1 probe on spacevision-db."""
    return D1Settings.model_validate(
        {"name": "db", "type": "d1", "database": "spacevision-db", **overrides}
    )


async def run_loop(
    call: Callable[[], Awaitable[str]],
    clock: FakeTime,
    *,
    policy: Backoff | None = None,
    seconds: float = 10.0,
    rand: float = 1.0,
    pause: float = 0.0,
) -> Attempts[str]:
    """The retry loop with a fake clock, a fixed random draw and an optional budget pause."""
    return await with_retries(
        call,
        policy=policy or Backoff(max_tries=4, base_s=0.5, cap_s=2.0),
        deadline=Deadline(seconds, clock),
        attempt_timeout_s=5.0,
        sleep=clock.sleep,
        rand=lambda: rand,
        pause_s=lambda: pause,
    )


def server_error() -> ServerError:
    """A 503 from Cloudflare."""
    return ServerError("server error", status=503)


@pytest.mark.parametrize(
    ("retry", "draw", "expected"),
    [
        (1, 1.0, 0.5),
        (2, 1.0, 1.0),
        (3, 1.0, 2.0),
        (4, 1.0, 2.0),
        (9, 1.0, 2.0),
        (3, 0.5, 1.0),
        (2, 0.0, 0.0),
    ],
)
def test_waits_grow_exponentially_with_full_jitter(
    retry: int, draw: float, expected: float
) -> None:
    """U(0,1)·min(cap, base·2^(n-1)): 0.5, 1, 2, 2… s at most, down to zero with the draw."""
    policy = Backoff(max_tries=10, base_s=0.5, cap_s=2.0)
    assert expected == next_wait(retry, None, 100.0, policy, lambda: draw)


def test_retry_after_is_honoured_exactly() -> None:
    """A server hint replaces the backoff curve and is not jittered."""
    assert 7.0 == next_wait(1, 7.0, 8.0, Backoff(), lambda: 0.1)


def test_a_wait_reaching_the_deadline_gives_up() -> None:
    """Rather than sleep into the deadline, the loop gives up now (None)."""
    assert next_wait(1, 5.0, 5.0, Backoff(), lambda: 1.0) is None
    assert next_wait(3, None, 0.9, Backoff(base_s=0.5, cap_s=2.0), lambda: 1.0) is None


async def test_transient_failures_are_retried_until_success() -> None:
    """Two 503s then an answer: three attempts, two jittered waits, slept on the fake clock."""
    clock = FakeTime()
    call, calls = scripted(server_error(), server_error(), "rows")
    outcome = await run_loop(call, clock, rand=0.5)
    assert "rows" == outcome.value
    assert 3 == outcome.attempts == calls[0]
    assert [0.25, 0.5] == outcome.waits == clock.slept
    assert not outcome.gave_up


@pytest.mark.parametrize(
    "error",
    [
        TransportError("no answer", timeout=True),
        TransportError("cannot connect"),
        RateLimited("rate limited", retry_after=1.0, status=429),
        ServerError("bad gateway", status=502),
    ],
)
async def test_every_transient_kind_is_retried(error: CloudflareError) -> None:
    """Timeouts, connection failures, 429 and 5xx are worth another attempt."""
    call, calls = scripted(error, "rows")
    outcome = await run_loop(call, FakeTime())
    assert ("rows", 2) == (outcome.value, calls[0])


@pytest.mark.parametrize(
    "error",
    [
        AuthError("invalid credentials", status=403),
        NotFound("not found", status=404),
        ApiError("no such table", status=400),
        RateLimited("budget", local=True),
    ],
)
async def test_permanent_failures_are_not_retried(error: CloudflareError) -> None:
    """Auth, not-found, SQL errors and a local budget refusal end the run at once."""
    clock = FakeTime()
    call, calls = scripted(error, "rows")
    outcome = await run_loop(call, clock)
    assert (1, error, None) == (calls[0], outcome.error, outcome.value)
    assert [] == clock.slept
    assert not outcome.gave_up


async def test_max_tries_then_gives_up_with_the_last_error() -> None:
    """After max_tries transient failures the loop gives up and keeps the last failure."""
    last = ServerError("server error", status=504)
    call, calls = scripted(server_error(), server_error(), last, "never")
    outcome = await run_loop(call, FakeTime(), policy=Backoff(max_tries=3))
    assert 3 == outcome.attempts == calls[0]
    assert outcome.gave_up
    assert outcome.last_transient is not None
    assert last is outcome.last_transient.error


async def test_429_waits_for_retry_after() -> None:
    """A 429 with Retry-After: 3 waits exactly 3 s before the next attempt."""
    clock = FakeTime()
    call, _ = scripted(RateLimited("rate limited", retry_after=3.0, status=429), "rows")
    outcome = await run_loop(call, clock, rand=0.0)
    assert "rows" == outcome.value
    assert [3.0] == clock.slept


async def test_429_longer_than_the_deadline_gives_up_without_sleeping() -> None:
    """A Retry-After past the deadline ends the run now: one attempt, no sleep, gave up."""
    clock = FakeTime()
    call, calls = scripted(RateLimited("rate limited", retry_after=30.0, status=429), "rows")
    outcome = await run_loop(call, clock, seconds=10.0)
    assert (1, []) == (calls[0], clock.slept)
    assert outcome.gave_up
    assert outcome.last_transient is not None
    assert outcome.last_transient.rate_limited


async def test_429_without_a_hint_waits_for_the_budget_pause() -> None:
    """A 429 without Retry-After waits as long as the client's budget is paused."""
    clock = FakeTime()
    call, _ = scripted(RateLimited("rate limited", status=429), "rows")
    outcome = await run_loop(call, clock, pause=4.0)
    assert "rows" == outcome.value
    assert [4.0] == clock.slept


async def test_time_runs_out_before_the_tries() -> None:
    """With 20 tries but 2 s, the waits stop once the next would pass the deadline."""
    clock = FakeTime()
    call, calls = scripted(*[server_error()] * 20)
    outcome = await run_loop(
        call, clock, policy=Backoff(max_tries=20, base_s=0.5, cap_s=0.5), seconds=2.0
    )
    assert outcome.gave_up
    assert 4 == calls[0]
    assert clock.now < 2.0


def test_gave_up_on_503_is_unreachable_with_the_last_error() -> None:
    """Retries exhausted on a transient failure: crit unreachable, attempts and the error."""
    outcome: Attempts[object] = Attempts(attempts=4)
    outcome.last_transient = _transient(server_error())
    result = judge_failure(settings(), outcome, elapsed_s=3.2)
    assert (Status.CRIT, Reason.UNREACHABLE) == (result.status, result.reason)
    assert {"attempts": 4.0, "retries": 3.0, "gave_up": 1.0} == dict(result.values)
    assert "failed after 4 attempts in 3.2 s: HTTP 503" in result.message


def test_gave_up_on_429_is_rate_limited() -> None:
    """When the last failure was a 429, the reason says rate_limited, not unreachable."""
    outcome: Attempts[object] = Attempts(attempts=1)
    outcome.last_transient = _transient(RateLimited("rate limited", retry_after=30.0, status=429))
    assert Reason.RATE_LIMITED == judge_failure(settings(), outcome, 0.0).reason


def test_permanent_failure_keeps_its_reason() -> None:
    """A not-found database is not_found, with gave_up 0 (nothing was given up on)."""
    outcome: Attempts[object] = Attempts(attempts=1, error=NotFound("not found", status=404))
    result = judge_failure(settings(), outcome, 0.0)
    assert (Reason.NOT_FOUND, 0.0) == (result.reason, result.values["gave_up"])


def _transient(error: CloudflareError) -> Transient:
    """The loop's record of a transient ``error``."""
    return Transient(error, f"HTTP {error.status}", None)


def _answer(size: int | None) -> D1QueryResult:
    """A SELECT 1 answer whose meta reports ``size`` bytes."""
    return D1QueryResult(
        results=[{"1": 1}], success=True, meta=D1Meta(size_after=size, rows_read=1)
    )


@pytest.mark.parametrize(
    ("size", "status", "reason"),
    [
        (1_000_000, Status.OK, None),
        (8_000_000_000, Status.WARN, None),
        (9_500_000_000, Status.CRIT, Reason.CAPACITY),
    ],
)
def test_size_is_judged_against_the_limit(size: int, status: Status, reason: Reason | None) -> None:
    """80 % of the limit warns; 95 % is crit capacity."""
    result = judge_success(
        settings(),
        attempts=1,
        latency_ms=5.0,
        result=_answer(size),
        storage=None,
        traffic=None,
        unavailable=None,
    )
    assert (status, reason) == (result.status, result.reason)
    assert size / 10e9 == pytest.approx(result.values["size_ratio"])


def test_size_falls_back_to_storage_analytics() -> None:
    """Without meta.size_after the size comes from d1StorageAdaptiveGroups."""
    result = judge_success(
        settings(),
        attempts=1,
        latency_ms=5.0,
        result=_answer(None),
        storage={"max.databaseSizeBytes": 2e9},
        traffic=None,
        unavailable=None,
    )
    assert 2e9 == result.values["size_bytes"]


def test_unknown_size_with_analytics_down_warns() -> None:
    """No size anywhere because GraphQL failed: warn with GraphQL's reason."""
    result = judge_success(
        settings(),
        attempts=2,
        latency_ms=5.0,
        result=_answer(None),
        storage=None,
        traffic=None,
        unavailable=Unavailable(Reason.API_ERROR, "HTTP 500: boom"),
    )
    assert (Status.WARN, Reason.API_ERROR) == (result.status, result.reason)
    assert (2.0, 1.0) == (result.values["attempts"], result.values["retries"])


def test_traffic_values_come_from_d1_analytics() -> None:
    """rows_read, query counts and batch time quantiles are published from the window."""
    traffic = {
        "sum.rowsRead": 1200.0,
        "sum.readQueries": 40.0,
        "sum.writeQueries": 2.0,
        "quantiles.queryBatchTimeMsP50": 0.4,
        "quantiles.queryBatchTimeMsP99": 3.1,
    }
    result = judge_success(
        settings(),
        attempts=1,
        latency_ms=5.0,
        result=_answer(10),
        storage=None,
        traffic=traffic,
        unavailable=None,
    )
    assert {
        "rows_read": 1200.0,
        "read_queries": 40.0,
        "write_queries": 2.0,
        "batch_time_p50_ms": 0.4,
        "batch_time_p99_ms": 3.1,
    }.items() <= dict(result.values).items()


def test_a_failed_statement_is_an_assertion() -> None:
    """An answer whose success flag is false fails the check on the answer."""
    answer = D1QueryResult(results=[], success=False, meta=None)
    result = judge_success(
        settings(),
        attempts=1,
        latency_ms=5.0,
        result=answer,
        storage=None,
        traffic=None,
        unavailable=None,
    )
    assert (Status.CRIT, Reason.ASSERTION) == (result.status, result.reason)


@pytest.mark.parametrize(("plan", "limit"), [("paid", 10 * 10**9), ("free", 500 * 10**6)])
def test_plan_sets_the_default_size_limit(plan: str, limit: int) -> None:
    """Workers Paid allows 10 GB per database, Workers Free 500 MB."""
    assert limit == settings(plan=plan).limit_bytes == PLAN_SIZE_LIMITS[plan]


def test_size_limit_overrides_the_plan() -> None:
    """An explicit size_limit wins over the plan's."""
    assert 2 * 2**30 == settings(plan="free", size_limit="2GiB").limit_bytes


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"warn_ratio": 0.9, "crit_ratio": 0.8}, "warn_ratio must not be above crit_ratio"),
        ({"backoff_base": "3s", "backoff_cap": "1s"}, "backoff_base must not be above"),
        ({"timeout": "5s", "max_time": "10s"}, "must fit in the probe's timeout"),
        ({"max_tries": 0}, "greater than or equal to 1"),
        ({"plan": "enterprise"}, "'paid' or 'free'"),
        ({"size_limit": "ten"}, "not a size"),
    ],
)
def test_bad_settings_are_refused_with_a_hint(overrides: dict[str, Any], message: str) -> None:
    """Inconsistent settings fail config validation with a message that says what to fix."""
    with pytest.raises(ValidationError, match=message):
        settings(**overrides)


def test_probe_declares_its_values_and_counters() -> None:
    """Rules read attempts/size values; retries and give-ups are exported as counters."""
    assert {"size_bytes", "size_limit_bytes", "attempts", "rows_read"} <= D1Probe.values
    assert "counter" == D1Probe.metrics["retries"].kind
    assert "d1_retries_total" == D1Probe.metrics["retries"].name
    assert "d1_giveups_total" == D1Probe.metrics["gave_up"].name
    assert set(D1Probe.metrics) <= D1Probe.values
