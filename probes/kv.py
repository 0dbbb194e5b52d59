"""The ``kv`` probe: a Workers KV namespace answers, and answers quickly.

Two views of one namespace:

- a **canary round trip** through the API: write a value unique to this run under the
  canary key, read it back (it must be equal), delete it, timing each step. It costs three
  API requests and three billed KV operations (one write, one read, one delete), so it runs
  at most every ``canary_interval`` (5 minutes by default) and again on every run while it
  fails; in between, the last round trip is reported with its age;
- **operation latency** from GraphQL Analytics (``kvOperationsAdaptiveGroups``): p50 and p99
  of every operation on the namespace over the analytics window, read from the shared
  :class:`~probes.analytics.AnalyticsHub` (no request of its own).

When a latency is over its warn threshold the probe writes one ``kv_latency_high`` log line
with every measurement of the run (Requirement 2.7), once per such run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field, model_validator

from cfapi.errors import CloudflareError, NotFound
from probes.base import (
    MetricSpec,
    Probe,
    ProbeContext,
    ProbeResult,
    ProbeSettings,
    Reason,
    Status,
    worst,
)
from probes.checks import (
    Deadline,
    Unavailable,
    analytics_row,
    describe,
    failure,
    level,
    paused,
    reason_for,
    resolve,
    usable_time,
)
from probes.units import Duration

CANARY_PREFIX = "__flarewatch_canary__/"
CANARY_TTL_S = 600
"""The canary value expires by itself if a run dies between its write and its delete."""
KEY_NOT_FOUND = 10009
"""Cloudflare's code for a missing key (a missing namespace is 10013)."""
NAMESPACE_KIND = "kv namespace"
STEPS = ("write", "read", "delete")


class KvSettings(ProbeSettings):
    """Settings of a ``kv`` probe (see docs/probes/kv.md)."""

    namespace: str = Field(min_length=1, description="the namespace's title or 32-hex id")
    canary: bool = Field(default=True, description="run the write/read/delete round trip")
    canary_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="the key the canary writes (default __flarewatch_canary__/<probe name>)",
    )
    canary_interval: Duration = Field(
        default=300.0, ge=0, description="least time between two canary round trips (0: every run)"
    )
    canary_warn: Duration = Field(default=2.0, gt=0, description="slowest canary step: warn")
    canary_crit: Duration = Field(default=5.0, gt=0, description="slowest canary step: crit")
    latency_warn: Duration = Field(default=0.2, gt=0, description="p99 operation latency: warn")
    latency_crit: Duration = Field(default=1.0, gt=0, description="p99 operation latency: crit")

    @model_validator(mode="after")
    def _consistent(self) -> KvSettings:
        if self.canary_key is not None and self.canary_key in (".", ".."):
            raise ValueError("canary_key cannot be '.' or '..' (KV refuses those key names)")
        if self.latency_warn > self.latency_crit:
            raise ValueError("latency_warn must not be above latency_crit")
        if self.canary_warn > self.canary_crit:
            raise ValueError("canary_warn must not be above canary_crit")
        return self

    @property
    def key(self) -> str:
        """The canary key in use."""
        return self.canary_key or CANARY_PREFIX + self.name


@dataclass(frozen=True, slots=True)
class Canary:
    """One canary round trip: the steps that finished (ms), and how it went."""

    finished_at: float
    steps: Mapping[str, float]
    status: Status
    reason: Reason | None = None
    message: str = ""

    @property
    def round_trip_ms(self) -> float:
        """Write + read + delete, in milliseconds."""
        return sum(self.steps.values())

    @property
    def slowest(self) -> tuple[str, float]:
        """The slowest finished step and its milliseconds (``("", 0)`` for none)."""
        return max(self.steps.items(), key=lambda kv: kv[1], default=("", 0.0))


def judge_canary(
    steps: Mapping[str, float], warn_s: float, crit_s: float, finished_at: float
) -> Canary:
    """Rate a completed round trip by its slowest step (a step over ``crit_s``: assertion)."""
    name, ms = max(steps.items(), key=lambda kv: kv[1])
    status = level(ms / 1000.0, warn_s, crit_s)
    parts = ", ".join(f"{step} {steps[step]:.0f}" for step in STEPS if step in steps)
    message = f"canary round trip {sum(steps.values()):.0f} ms ({parts})"
    if status is not Status.OK:
        limit = crit_s if status is Status.CRIT else warn_s
        message += f", {name} over {limit * 1000:.0f} ms"
    reason = Reason.ASSERTION if status is Status.CRIT else None
    return Canary(finished_at, dict(steps), status, reason, message)


def canary_due(last: Canary | None, now: float, interval_s: float) -> bool:
    """Whether to run the canary now: first run, after a failed one, or ``interval_s`` on."""
    if last is None or last.status is Status.CRIT:
        return True
    return now - last.finished_at >= interval_s


@dataclass(frozen=True, slots=True)
class Verdict:
    """A run's result, and whether a latency was over its warn threshold (log it)."""

    result: ProbeResult
    latency_high: bool


def evaluate(
    settings: KvSettings,
    *,
    canary: Canary | None,
    canary_ran: bool,
    canary_age_s: float,
    operations: Mapping[str, float] | None,
    unavailable: Unavailable | None,
    window_s: float,
) -> Verdict:
    """Combine the canary and the analytics into one result (pure).

    Status is the worst of both; the reason is the canary's when it failed, else the
    analytics' (a p99 over ``latency_crit`` is an ``assertion``; analytics that cannot be read
    make the run ``warn`` with the reason they failed, since latency goes unchecked).
    """
    statuses: list[Status] = []
    reasons: list[Reason] = []
    messages: list[str] = []
    values: dict[str, float] = {}
    high = False

    if canary is not None:
        statuses.append(canary.status)
        if canary.reason is not None:
            reasons.append(canary.reason)
        messages.append(
            canary.message if canary_ran else f"{canary.message} ({canary_age_s:.0f} s ago)"
        )
        values["canary_ok"] = 0.0 if canary.status is Status.CRIT else 1.0
        values["canary_age_s"] = canary_age_s
        for step, ms in canary.steps.items():
            values[f"canary_{step}_ms"] = ms
        if len(canary.steps) == len(STEPS):
            values["canary_round_trip_ms"] = canary.round_trip_ms
        # A carried canary was logged when it ran; its numbers are not news.
        slow = canary.slowest[1] / 1000.0 >= settings.canary_warn
        high = canary_ran and (slow or canary.reason is Reason.TIMEOUT)

    minutes = f"{window_s / 60:g} min"
    if unavailable is not None:
        statuses.append(Status.WARN)
        reasons.append(unavailable.reason)
        messages.append(f"operation latency unavailable: {unavailable.message}")
    elif operations is None or not operations.get("sum.requests"):
        values["operations"] = 0.0
        messages.append(f"no operations in the last {minutes}")
    else:
        count = operations["sum.requests"]
        values["operations"] = count
        p50 = operations.get("quantiles.latencyMsP50")
        p99 = operations.get("quantiles.latencyMsP99")
        if p50 is not None:
            values["latency_p50_ms"] = p50
        if p99 is not None:
            values["latency_p99_ms"] = p99
            status = level(p99 / 1000.0, settings.latency_warn, settings.latency_crit)
            statuses.append(status)
            high = high or status is not Status.OK
            text = f"p99 {p99:.0f} ms"
            if p50 is not None:
                text = f"p50 {p50:.0f} ms, {text}"
            text += f" over {count:,.0f} operations in {minutes}"
            if status is not Status.OK:
                limit = settings.latency_crit if status is Status.CRIT else settings.latency_warn
                text += f", over {limit * 1000:.0f} ms"
            if status is Status.CRIT:
                reasons.append(Reason.ASSERTION)
            messages.append(text)

    status = worst(*statuses)
    result = ProbeResult(
        status=status,
        message="; ".join(messages),
        reason=reasons[0] if reasons and status is not Status.OK else None,
        latency_ms=canary.round_trip_ms if canary is not None and canary_ran else None,
        values=values,
    )
    return Verdict(result, high)


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


class KvProbe(Probe[KvSettings]):
    """Canary round trip and operation latency of one KV namespace."""

    type_name: ClassVar[str] = "kv"
    service: ClassVar[str] = "kv"
    settings_model: ClassVar[type[ProbeSettings]] = KvSettings
    analytics: ClassVar[frozenset[str]] = frozenset({"kv_operations"})
    values: ClassVar[frozenset[str]] = frozenset(
        {
            "latency_p50_ms",
            "latency_p99_ms",
            "operations",
            "canary_write_ms",
            "canary_read_ms",
            "canary_delete_ms",
            "canary_round_trip_ms",
            "canary_ok",
            "canary_age_s",
        }
    )
    metrics: ClassVar[Mapping[str, MetricSpec]] = {
        "latency_p50_ms": MetricSpec(
            "kv_latency_seconds",
            "KV operation latency quantile over the analytics window (GraphQL)",
            {"quantile": "0.5"},
            scale=0.001,
        ),
        "latency_p99_ms": MetricSpec(
            "kv_latency_seconds",
            "KV operation latency quantile over the analytics window (GraphQL)",
            {"quantile": "0.99"},
            scale=0.001,
        ),
        "operations": MetricSpec(
            "kv_window_operations", "KV operations on the namespace in the analytics window"
        ),
        **{
            f"canary_{step}_ms": MetricSpec(
                "kv_canary_latency_seconds",
                "Latency of the last canary round trip through the API, per step",
                {"step": step},
                scale=0.001,
            )
            for step in (*STEPS, "round_trip")
        },
        "canary_ok": MetricSpec(
            "kv_canary_success", "1 if the last canary round trip succeeded, else 0"
        ),
        "canary_age_s": MetricSpec(
            "kv_canary_age_seconds", "Seconds since the last canary round trip finished"
        ),
    }

    def __init__(
        self, settings: KvSettings, *, timer: Callable[[], float] = time.perf_counter
    ) -> None:
        super().__init__(settings)
        self._timer = timer
        self._canary: Canary | None = None

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Resolve the namespace, maybe run the canary, read the analytics, judge."""
        s = self.settings
        deadline = Deadline(usable_time(ctx.timeout_s), self._timer)
        ctx.analytics.want(*self.analytics)  # one GraphQL refresh covers them all
        due = s.canary and canary_due(self._canary, self._timer(), s.canary_interval)
        if due or not s.canary:
            held = paused(ctx, "kv", deadline)
            if held is not None:
                return held
        namespace_id = await resolve(
            ctx.resources.kv_namespace(s.namespace), deadline, f"KV namespace {s.namespace!r}"
        )
        if isinstance(namespace_id, ProbeResult):
            return namespace_id

        ran = False
        if due:
            self._canary = await self._round_trip(ctx, namespace_id, deadline)
            ran = True
        elif not s.canary:
            missing = await self._check_exists(ctx, namespace_id, deadline)
            if missing is not None:
                return missing

        operations, unavailable = await analytics_row(ctx, "kv_operations", namespace_id, deadline)

        canary = self._canary if s.canary else None
        verdict = evaluate(
            s,
            canary=canary,
            canary_ran=ran,
            canary_age_s=0.0
            if canary is None or ran
            else max(0.0, self._timer() - canary.finished_at),
            operations=operations,
            unavailable=unavailable,
            window_s=ctx.analytics.window_s,
        )
        if verdict.latency_high:
            ctx.log.warning("kv_latency_high", **self._measurements(verdict.result, namespace_id))
        return verdict.result

    def _measurements(self, result: ProbeResult, namespace_id: str) -> dict[str, Any]:
        """The fields of the ``kv_latency_high`` line: every number, no secrets."""
        s = self.settings
        fields: dict[str, Any] = {
            "probe": self.name,
            "namespace": s.namespace,
            "namespace_id": namespace_id,
            "status": str(result.status),
            "latency_warn_ms": _ms(s.latency_warn),
            "canary_warn_ms": _ms(s.canary_warn),
        }
        fields.update({name: round(value, 3) for name, value in sorted(result.values.items())})
        return fields

    async def _check_exists(
        self, ctx: ProbeContext, namespace_id: str, deadline: Deadline
    ) -> ProbeResult | None:
        """Without the canary, one GET proves the namespace still exists."""
        s = self.settings
        try:
            async with asyncio.timeout(max(0.0, deadline.remaining())):
                await ctx.cf.kv.namespace(ctx.account_id, namespace_id)
        except TimeoutError:
            return ProbeResult.failed(
                Reason.TIMEOUT,
                f"reading KV namespace {s.namespace!r}: no answer within {deadline.seconds:.1f} s",
            )
        except NotFound as err:
            ctx.resources.forget(NAMESPACE_KIND, s.namespace)
            return failure(err, f"KV namespace {s.namespace!r} is gone")
        except CloudflareError as err:
            return failure(err, f"reading KV namespace {s.namespace!r}")
        return None

    async def _round_trip(self, ctx: ProbeContext, namespace_id: str, deadline: Deadline) -> Canary:
        """Write a fresh value, read it back, delete it; time each step."""
        s = self.settings
        kv, account, key = ctx.cf.kv, ctx.account_id, s.key
        value = f"{self.name} {uuid.uuid4().hex}"
        steps: dict[str, float] = {}
        step = STEPS[0]
        try:
            async with asyncio.timeout(max(0.0, deadline.remaining())):
                started = self._timer()
                await kv.put(account, namespace_id, key, value, expiration_ttl=CANARY_TTL_S)
                steps[step] = _ms(self._timer() - started)

                step = "read"
                started = self._timer()
                read = await kv.get(account, namespace_id, key)
                steps[step] = _ms(self._timer() - started)

                step = "delete"
                started = self._timer()
                await kv.delete(account, namespace_id, key)
                steps[step] = _ms(self._timer() - started)
        except TimeoutError:
            return self._failed(
                steps,
                Reason.TIMEOUT,
                f"canary {step} did not finish within the probe's {deadline.seconds:.1f} s",
            )
        except NotFound as err:
            if step == "read" and KEY_NOT_FOUND in err.codes:
                await self._clean_up(ctx, namespace_id, deadline)
                return self._failed(
                    steps,
                    Reason.ASSERTION,
                    f"canary value not readable after its write: {describe(err)}",
                )
            ctx.resources.forget(NAMESPACE_KIND, s.namespace)
            return self._failed(steps, Reason.NOT_FOUND, f"canary {step}: {describe(err)}")
        except CloudflareError as err:
            if step == "read":
                await self._clean_up(ctx, namespace_id, deadline)
            return self._failed(steps, reason_for(err), f"canary {step}: {describe(err)}")

        if read != value.encode():
            return self._failed(
                steps,
                Reason.ASSERTION,
                f"canary read back {len(read)} bytes that differ from the {len(value)} written",
            )
        return judge_canary(steps, s.canary_warn, s.canary_crit, self._timer())

    async def _clean_up(self, ctx: ProbeContext, namespace_id: str, deadline: Deadline) -> None:
        """Best effort: delete the canary key after a failed read (its TTL is the fallback)."""
        remaining = deadline.remaining()
        if remaining <= 0:
            return
        try:
            async with asyncio.timeout(remaining):
                await ctx.cf.kv.delete(ctx.account_id, namespace_id, self.settings.key)
        except (TimeoutError, CloudflareError):
            return

    def _failed(self, steps: Mapping[str, float], reason: Reason, message: str) -> Canary:
        return Canary(self._timer(), dict(steps), Status.CRIT, reason, message)
