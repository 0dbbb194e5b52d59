"""The ``d1`` probe: a D1 database answers a query, and its size against the plan's limit.

Each run sends ``query`` (``SELECT 1``) through the D1 query API. Transient failures — 5xx,
timeouts, dropped connections and 429 — are retried with exponential backoff and full jitter
by the ``backoff`` library (Requirement 2.5): ``min(backoff_cap, backoff_base·2ⁿ)·U(0, 1)``,
or exactly the server's ``Retry-After`` after a 429, and never past the probe's deadline.
Auth, not-found and SQL errors are not retried: trying again cannot fix them.

The query is a POST, which cfapi sends exactly once (only calls marked idempotent are retried
there), so the probe's attempts are the requests Cloudflare sees: retries never multiply.
D1 itself may retry a read-only statement inside one request; that is invisible here.

The database size comes from the query's own ``meta.size_after`` (no extra request), else
from GraphQL (``d1StorageAdaptiveGroups``), and is compared with ``size_limit``: by default
the plan's maximum database size, 10 GB on Workers Paid and 500 MB on Workers Free
(developers.cloudflare.com/d1/platform/limits). Reads and query batch latency over the
analytics window come from ``d1AnalyticsAdaptiveGroups`` through the shared hub.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import random
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar, cast

import backoff
from pydantic import Field, model_validator

from cfapi.d1 import D1QueryResult
from cfapi.errors import CloudflareError, NotFound, RateLimited
from probes.base import MetricSpec, Probe, ProbeContext, ProbeResult, ProbeSettings, Reason, Status
from probes.checks import (
    Deadline,
    Unavailable,
    analytics_row,
    describe,
    failure,
    human_bytes,
    paused,
    resolve,
    usable_time,
    usage,
)
from probes.units import ByteSize, Duration

PLAN_SIZE_LIMITS: Mapping[str, int] = {"paid": 10 * 10**9, "free": 500 * 10**6}
"""Maximum size of one D1 database per Workers plan (SI units, as Cloudflare states them)."""
DATABASE_KIND = "d1 database"

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class D1Settings(ProbeSettings):
    """Settings of a ``d1`` probe (see docs/probes/d1.md)."""

    database: str = Field(min_length=1, description="the database's name or uuid")
    query: str = Field(
        default="SELECT 1", min_length=1, description="a cheap read-only statement to run"
    )
    plan: Literal["paid", "free"] = Field(
        default="paid", description="Workers plan: sets the default size_limit"
    )
    size_limit: Annotated[ByteSize, Field(gt=0)] | None = Field(
        default=None, description="the size to compare with; default: the plan's maximum"
    )
    warn_ratio: float = Field(default=0.8, gt=0, le=1, description="share of size_limit: warn")
    crit_ratio: float = Field(default=0.95, gt=0, le=1, description="share of size_limit: crit")
    max_tries: int = Field(default=4, ge=1, le=20, description="attempts per run, first included")
    max_time: Duration | None = Field(
        default=None, gt=0, description="time for all attempts; capped by the probe's timeout"
    )
    attempt_timeout: Duration = Field(default=5.0, gt=0, description="time for one attempt")
    backoff_base: Duration = Field(default=0.25, ge=0, description="first backoff ceiling")
    backoff_cap: Duration = Field(default=2.0, ge=0, description="largest backoff ceiling")

    @model_validator(mode="after")
    def _consistent(self) -> D1Settings:
        if self.warn_ratio > self.crit_ratio:
            raise ValueError("warn_ratio must not be above crit_ratio")
        if self.backoff_base > self.backoff_cap:
            raise ValueError("backoff_base must not be above backoff_cap")
        if self.max_time is not None and self.timeout is not None and self.max_time > self.timeout:
            raise ValueError(
                f"max_time ({self.max_time:g} s) must fit in the probe's timeout "
                f"({self.timeout:g} s): raise timeout or lower max_time"
            )
        return self

    @property
    def limit_bytes(self) -> int:
        """``size_limit``, or the plan's maximum database size."""
        return self.size_limit if self.size_limit is not None else PLAN_SIZE_LIMITS[self.plan]


# ---------------------------------------------------------------------------------------------
# Retry policy (pure) and the backoff-driven loop


@dataclass(frozen=True, slots=True)
class Backoff:
    """How the probe retries: attempts in all, and the full-jitter exponential curve."""

    max_tries: int = 4
    base_s: float = 0.25
    cap_s: float = 2.0


def next_wait(
    retry: int,
    hint_s: float | None,
    remaining_s: float,
    policy: Backoff,
    rand: Callable[[], float],
) -> float | None:
    """Seconds to wait before retry number ``retry`` (1-based), or ``None`` to give up.

    The server's hint (``Retry-After``) is honoured exactly; otherwise full jitter,
    ``U(0, 1)·min(cap, base·2^(retry-1))``. A wait that would reach the deadline gives up
    now, rather than sleep into a cancellation.
    """
    delay = (
        hint_s
        if hint_s is not None
        else rand() * min(policy.cap_s, policy.base_s * 2.0 ** (retry - 1))
    )
    if delay >= remaining_s:
        return None
    return delay


class Transient(Exception):
    """A failure worth another attempt: a transient :class:`CloudflareError`, or a timeout."""

    def __init__(self, error: CloudflareError | None, message: str, hint_s: float | None) -> None:
        super().__init__(message)
        self.error = error
        self.message = message
        self.hint_s = hint_s

    @property
    def rate_limited(self) -> bool:
        """Cloudflare answered 429."""
        return isinstance(self.error, RateLimited)


@dataclass
class Attempts(Generic[T]):
    """What one run's retry loop did: the value or the failure, attempts and waits."""

    value: T | None = None
    error: CloudflareError | None = None
    last_transient: Transient | None = None
    attempts: int = 0
    waits: list[float] = field(default_factory=list)
    latency_s: float = 0.0

    @property
    def gave_up(self) -> bool:
        """The last attempt failed transiently and no retry was left (in tries or time)."""
        return self.value is None and self.error is None and self.last_transient is not None


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    policy: Backoff,
    deadline: Deadline,
    attempt_timeout_s: float,
    sleep: Sleep,
    rand: Callable[[], float],
    pause_s: Callable[[], float] = lambda: 0.0,
) -> Attempts[T]:
    """Run ``call`` until it succeeds, fails for good, or the retries or the time run out.

    ``backoff.on_exception`` drives the loop (tries, give-up, hooks). Its own sleep cannot be
    injected, so the wait generator hands it 0 and the ``on_backoff`` hook sleeps with
    ``sleep``: tests run the policy on a fake clock. ``pause_s`` is how long the client's
    request budget is paused (a 429 without ``Retry-After`` pauses it; waiting less is
    pointless). Never raises :class:`CloudflareError`: the outcome is in the result.
    """
    outcome: Attempts[T] = Attempts()
    planned: list[float] = []

    def transient(error: CloudflareError | None, message: str, hint: float | None) -> Transient:
        outcome.last_transient = Transient(error, message, hint)
        return outcome.last_transient

    async def attempt() -> T:
        budget = min(attempt_timeout_s, deadline.remaining())
        if budget <= 0:
            # The last wait used up the time: give up with the failure that caused it.
            raise outcome.last_transient or transient(None, "no time left to try", None)
        outcome.attempts += 1
        started = deadline.timer()
        try:
            async with asyncio.timeout(budget):
                value = await call()
        except TimeoutError:
            raise transient(None, f"no answer within {budget:.1f} s", None) from None
        except RateLimited as err:
            if err.local:
                raise
            hint = max(err.retry_after or 0.0, pause_s()) or None
            raise transient(err, describe(err), hint) from None
        except CloudflareError as err:
            if err.transient:
                raise transient(err, describe(err), None) from None
            raise
        outcome.latency_s = deadline.timer() - started
        return value

    def waits() -> Generator[float, Transient | None, None]:
        failure = yield 0.0
        retry = 0
        while failure is not None:
            retry += 1
            delay = next_wait(retry, failure.hint_s, deadline.remaining(), policy, rand)
            if delay is None:
                return
            planned.append(delay)
            failure = yield 0.0

    async def wait(_: Mapping[str, object]) -> None:
        outcome.waits.append(planned[-1])
        await sleep(planned[-1])

    # backoff's stubs type the generator's send() as None; it really sends the exception.
    wait_gen = cast("Callable[..., Generator[float, None, None]]", waits)
    retrying = backoff.on_exception(
        wait_gen,
        Transient,
        max_tries=policy.max_tries,
        jitter=None,
        on_backoff=wait,
        logger=None,
    )(attempt)
    try:
        outcome.value = await retrying()
    except Transient:
        pass  # recorded in outcome.last_transient
    except CloudflareError as err:
        outcome.error = err
    return outcome


# ---------------------------------------------------------------------------------------------
# Judging a run (pure)


def judge_failure(settings: D1Settings, outcome: Attempts[Any], elapsed_s: float) -> ProbeResult:
    """The result of a run whose query never succeeded."""
    counts = {
        "attempts": float(outcome.attempts),
        "retries": float(max(0, outcome.attempts - 1)),
        "gave_up": 1.0 if outcome.gave_up else 0.0,
    }
    if outcome.error is not None:
        return failure(outcome.error, f"query on {settings.database}", values=counts)
    last = outcome.last_transient
    assert last is not None
    reason = Reason.RATE_LIMITED if last.rate_limited else Reason.UNREACHABLE
    tries = "attempt" if outcome.attempts == 1 else "attempts"
    return ProbeResult(
        status=Status.CRIT,
        reason=reason,
        message=f"query on {settings.database} failed after {outcome.attempts} {tries} in "
        f"{elapsed_s:.1f} s: {last.message}",
        values=counts,
    )


def judge_success(
    settings: D1Settings,
    *,
    attempts: int,
    latency_ms: float,
    result: D1QueryResult | None,
    storage: Mapping[str, float] | None,
    traffic: Mapping[str, float] | None,
    unavailable: Unavailable | None,
) -> ProbeResult:
    """The result of a run whose query answered: size against the limit, reads, latency."""
    values: dict[str, float] = {
        "attempts": float(attempts),
        "retries": float(attempts - 1),
        "gave_up": 0.0,
        "query_latency_ms": latency_ms,
        "size_limit_bytes": float(settings.limit_bytes),
    }
    meta = result.meta if result is not None else None
    size = meta.size_after if meta is not None else None
    if size is None and storage is not None:
        size = int(storage.get("max.databaseSizeBytes", 0)) or None
    if traffic is not None:
        for name, key in (
            ("rows_read", "sum.rowsRead"),
            ("read_queries", "sum.readQueries"),
            ("write_queries", "sum.writeQueries"),
            ("batch_time_p50_ms", "quantiles.queryBatchTimeMsP50"),
            ("batch_time_p99_ms", "quantiles.queryBatchTimeMsP99"),
        ):
            if key in traffic:
                values[name] = traffic[key]
    elif unavailable is None:
        values["rows_read"] = 0.0

    retried = f" after {attempts - 1} retries" if attempts > 1 else ""
    message = f"query answered in {latency_ms:.0f} ms{retried}"
    if result is not None and result.success is False:
        return ProbeResult(
            status=Status.CRIT,
            reason=Reason.ASSERTION,
            message=f"query on {settings.database} answered but reported failure",
            latency_ms=latency_ms,
            values=values,
        )
    if size is None:
        if unavailable is not None:
            return ProbeResult(
                status=Status.WARN,
                reason=unavailable.reason,
                message=f"{message}; size unknown: {unavailable.message}",
                latency_ms=latency_ms,
                values=values,
            )
        return ProbeResult(
            status=Status.OK,
            message=f"{message}; size not reported",
            latency_ms=latency_ms,
            values=values,
        )
    found = usage(size, settings.limit_bytes, settings.warn_ratio, settings.crit_ratio)
    values.update(size_bytes=float(size), size_ratio=found.ratio)
    message += f"; {human_bytes(size)} of {human_bytes(settings.limit_bytes)} ({found.ratio:.1%})"
    if found.status is not Status.OK:
        ratio = settings.crit_ratio if found.status is Status.CRIT else settings.warn_ratio
        message += f", over {ratio:.0%}"
    return ProbeResult(
        status=found.status,
        reason=Reason.CAPACITY if found.status is Status.CRIT else None,
        message=message,
        latency_ms=latency_ms,
        values=values,
    )


_COUNTS = ("attempts", "retries", "gave_up")


class D1Probe(Probe[D1Settings]):
    """A query with retries, and the size of one D1 database."""

    type_name: ClassVar[str] = "d1"
    service: ClassVar[str] = "d1"
    settings_model: ClassVar[type[ProbeSettings]] = D1Settings
    analytics: ClassVar[frozenset[str]] = frozenset({"d1_analytics", "d1_storage"})
    values: ClassVar[frozenset[str]] = frozenset(
        {
            "size_bytes",
            "size_limit_bytes",
            "size_ratio",
            "attempts",
            "retries",
            "gave_up",
            "query_latency_ms",
            "rows_read",
            "read_queries",
            "write_queries",
            "batch_time_p50_ms",
            "batch_time_p99_ms",
        }
    )
    metrics: ClassVar[Mapping[str, MetricSpec]] = {
        "size_bytes": MetricSpec("d1_size_bytes", "Size of the D1 database"),
        "size_limit_bytes": MetricSpec(
            "d1_size_limit_bytes", "The size the database is compared with (plan maximum)"
        ),
        "size_ratio": MetricSpec("d1_size_ratio", "Database size / its size limit"),
        "query_latency_ms": MetricSpec(
            "d1_query_latency_seconds",
            "Latency of the probe's query through the API (successful attempt)",
            scale=0.001,
        ),
        "attempts": MetricSpec(
            "d1_query_attempts_total", "Query attempts the probe made", kind="counter"
        ),
        "retries": MetricSpec(
            "d1_retries_total", "Query retries after transient failures", kind="counter"
        ),
        "gave_up": MetricSpec(
            "d1_giveups_total", "Runs that gave up after their retries", kind="counter"
        ),
        "rows_read": MetricSpec(
            "d1_window_rows_read", "Rows read from the database in the analytics window"
        ),
        "batch_time_p50_ms": MetricSpec(
            "d1_batch_latency_seconds",
            "Query batch time quantile over the analytics window (GraphQL)",
            {"quantile": "0.5"},
            scale=0.001,
        ),
        "batch_time_p99_ms": MetricSpec(
            "d1_batch_latency_seconds",
            "Query batch time quantile over the analytics window (GraphQL)",
            {"quantile": "0.99"},
            scale=0.001,
        ),
    }

    def __init__(
        self,
        settings: D1Settings,
        *,
        timer: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(settings)
        self._timer = timer
        self._sleep = sleep
        self._rand = rand

    def policy(self) -> Backoff:
        """The retry policy from the settings."""
        s = self.settings
        return Backoff(max_tries=s.max_tries, base_s=s.backoff_base, cap_s=s.backoff_cap)

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Resolve the database, query it with retries, read its size and traffic."""
        s = self.settings
        allowed = usable_time(ctx.timeout_s)
        deadline = Deadline(min(allowed, s.max_time or allowed), self._timer)
        ctx.analytics.want(*self.analytics)  # one GraphQL refresh covers them all
        held = paused(ctx, "d1", deadline)
        if held is not None:
            return dataclasses.replace(
                held, values={"attempts": 0.0, "retries": 0.0, "gave_up": 0.0}
            )
        database_id = await resolve(
            ctx.resources.d1_database(s.database), deadline, f"D1 database {s.database!r}"
        )
        if isinstance(database_id, ProbeResult):
            return database_id

        budget = ctx.cf.budget
        query = functools.partial(
            ctx.cf.d1.query, ctx.account_id, database_id, s.query, read_only=False
        )
        outcome = await with_retries(
            query,
            policy=self.policy(),
            deadline=deadline,
            attempt_timeout_s=s.attempt_timeout,
            sleep=self._sleep,
            rand=self._rand,
            pause_s=lambda: budget.paused_for("d1", budget.clock()),
        )
        if outcome.value is None:
            if isinstance(outcome.error, NotFound):
                ctx.resources.forget(DATABASE_KIND, s.database)
            return judge_failure(s, outcome, deadline.elapsed())

        traffic, unavailable = await analytics_row(ctx, "d1_analytics", database_id, deadline)
        storage = None
        if unavailable is None:
            storage, unavailable = await analytics_row(ctx, "d1_storage", database_id, deadline)
        return judge_success(
            s,
            attempts=outcome.attempts,
            latency_ms=round(outcome.latency_s * 1000.0, 3),
            result=outcome.value[0] if outcome.value else None,
            storage=storage,
            traffic=traffic,
            unavailable=unavailable,
        )
