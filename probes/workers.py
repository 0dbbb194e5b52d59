"""The ``workers`` probe: a Worker script exists and serves, within its error and CPU budgets.

One run costs one REST call (the script's deployments: it exists, which version serves) plus
the HTTP checks of its URLs, plus its share of the one batched GraphQL query of
:class:`probes.analytics.AnalyticsHub` (requests, errors, CPU and wall time quantiles). The
script's settings (for its CPU limit) are read again only when a new deployment appears.
Reference: docs/probes/workers.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, TypeVar

from pydantic import Field, model_validator

from cfapi import (
    CloudflareError,
    GraphqlError,
    RateLimited,
    TransportError,
)
from cfapi.workers import Deployment
from probes.base import (
    MetricSpec,
    Probe,
    ProbeContext,
    ProbeEvent,
    ProbeResult,
    ProbeSettings,
    Reason,
    Status,
)
from probes.checks import reason_for
from probes.httpcheck import (
    DAY_S,
    HTTP_METRICS,
    Finding,
    HttpCheck,
    HttpCheckOptions,
    HttpOutcome,
    HttpUrl,
    assemble,
    check_http,
    combine,
    deadline_for,
    http_values,
    url_checks,
)
from probes.units import Duration

DEFAULT_CPU_LIMIT_S = 30.0
"""The CPU limit of a Worker without ``limits.cpu_ms`` on the Workers Paid plan (30 s since
March 2025); Workers Free allows 10 ms, which such users set as ``cpu_limit: 10ms``."""

T = TypeVar("T")


class ApiTimeout(Exception):
    """A Cloudflare API call did not finish within the probe's deadline."""


def api_reason(error: CloudflareError | ApiTimeout) -> Reason:
    """The failure reason for a Cloudflare API error, as every Cloudflare probe maps it."""
    return Reason.TIMEOUT if isinstance(error, ApiTimeout) else reason_for(error)


def api_problem(error: CloudflareError | ApiTimeout) -> str:
    """A short account of an API failure for messages (no URL path, ids or credentials)."""
    if isinstance(error, ApiTimeout):
        return str(error)
    if isinstance(error, RateLimited):
        if error.local:
            return "flarewatch's Cloudflare API budget is spent"
        wait = f", retry after {error.retry_after:g} s" if error.retry_after is not None else ""
        return f"rate limited by the Cloudflare API{wait}"
    if isinstance(error, TransportError):
        return (
            "the Cloudflare API did not answer in time"
            if error.timeout
            else "cannot reach the Cloudflare API"
        )
    if isinstance(error, GraphqlError):
        detail = "; ".join(e.message for e in error.graphql_errors) or error.summary
        return f"GraphQL: {detail}"
    status = f"HTTP {error.status}" if error.status is not None else error.summary
    detail = "; ".join(e.describe() for e in error.errors)
    return f"Cloudflare API {status}" + (f": {detail}" if detail else "")


async def within(call: Awaitable[T], timeout_s: float, what: str) -> T:
    """Await ``call`` for at most ``timeout_s``; past it raise :class:`ApiTimeout`."""
    try:
        async with asyncio.timeout(timeout_s):
            return await call
    except TimeoutError as err:
        raise ApiTimeout(f"{what} did not answer within {timeout_s:g} s") from err


def parse_time(text: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 time as Cloudflare writes it (``None`` if unreadable)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def human_age(seconds: float) -> str:
    """``40 s``, ``12 min``, ``5 h``, ``7 d`` (rounded down)."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds // 60:.0f} min"
    if seconds < 2 * DAY_S:
        return f"{seconds // 3600:.0f} h"
    return f"{seconds // DAY_S:.0f} d"


def api_finding(
    error: CloudflareError | ApiTimeout, outcomes: Sequence[HttpOutcome], missing: str
) -> Finding:
    """How bad a failed API call is, given the URL checks of the same run.

    Not found is crit with ``missing`` as the message; a refused token is crit. Otherwise the
    resource's state is unknown: ``warn`` when every URL check passed (it serves; only
    visibility is lost), ``crit`` when none was configured or one failed.
    """
    reason = api_reason(error)
    if reason is Reason.NOT_FOUND:
        return Finding(Status.CRIT, reason, missing)
    text = f"deployment unknown: {api_problem(error)}"
    served = bool(outcomes) and all(o.status is Status.OK for o in outcomes)
    severe = reason is Reason.AUTH or not served
    return Finding(Status.CRIT if severe else Status.WARN, reason, text)


async def run_checks(
    ctx: ProbeContext, checks: Sequence[tuple[str, HttpCheckOptions]], timeout_s: float
) -> list[HttpOutcome]:
    """Run HTTP checks concurrently (each already bounded by ``timeout_s``)."""
    return list(
        await asyncio.gather(
            *(check_http(ctx.http, url, opts, timeout_s, now=ctx.clock) for url, opts in checks)
        )
    )


class WorkersSettings(ProbeSettings, HttpCheckOptions):
    """``type: workers``: the script, its URLs and the thresholds.

    The HTTP keys (``expected_status``, ``json``, ``latency_warn``…) apply to ``url`` and to
    the plain URLs of ``urls``; an item of ``urls`` written as a mapping is a check of its own.
    """

    script: str = Field(min_length=1, max_length=255)
    url: HttpUrl | None = None
    urls: tuple[HttpUrl | HttpCheck, ...] = ()
    cpu_limit: Duration | None = Field(default=None, gt=0)
    cpu_warn_ratio: float = Field(default=0.8, gt=0, le=1)
    error_ratio_warn: float = Field(default=0.02, ge=0, le=1)
    error_ratio_crit: float = Field(default=0.05, ge=0, le=1)
    min_requests: int = Field(default=100, ge=0)

    @model_validator(mode="after")
    def _ratios_in_order(self) -> WorkersSettings:
        if self.error_ratio_warn > self.error_ratio_crit:
            raise ValueError("error_ratio_warn must not be above error_ratio_crit")
        return self

    def checks(self) -> list[tuple[str, HttpCheckOptions]]:
        """Every HTTP check: ``url`` first, then ``urls`` in order."""
        return url_checks(self.url, self.urls, self)


@dataclass(frozen=True, slots=True)
class InvocationStats:
    """A Worker's invocations over the analytics window (times in ms)."""

    requests: float
    errors: float
    cpu_p50_ms: float | None = None
    cpu_p99_ms: float | None = None
    wall_p50_ms: float | None = None
    wall_p99_ms: float | None = None

    @property
    def error_ratio(self) -> float:
        """errors / requests, 0 without requests."""
        return self.errors / self.requests if self.requests > 0 else 0.0

    @classmethod
    def from_row(cls, row: Mapping[str, float] | None) -> InvocationStats:
        """From a flattened analytics row (CPU and wall time arrive in µs); ``None``: idle."""
        if row is None:
            return cls(requests=0.0, errors=0.0)

        def ms(key: str) -> float | None:
            value = row.get(key)
            return None if value is None else value / 1000.0

        return cls(
            requests=row.get("sum.requests", 0.0),
            errors=row.get("sum.errors", 0.0),
            cpu_p50_ms=ms("quantiles.cpuTimeP50"),
            cpu_p99_ms=ms("quantiles.cpuTimeP99"),
            wall_p50_ms=ms("quantiles.wallTimeP50"),
            wall_p99_ms=ms("quantiles.wallTimeP99"),
        )

    def values(self) -> dict[str, float]:
        """The value names of docs/rules.md (quantiles only when there was traffic)."""
        out = {"requests": self.requests, "errors": self.errors, "error_ratio": self.error_ratio}
        for name, value in (
            ("cpu_time_p50_ms", self.cpu_p50_ms),
            ("cpu_time_p99_ms", self.cpu_p99_ms),
            ("wall_time_p50_ms", self.wall_p50_ms),
            ("wall_time_p99_ms", self.wall_p99_ms),
        ):
            if value is not None:
                out[name] = value
        return out

    def summary(self, window_s: float) -> str:
        """``1200 requests in 5 min, 0.4 % errors, CPU p99 2.1 ms``."""
        noun = "request" if self.requests == 1 else "requests"
        text = f"{self.requests:.0f} {noun} in {human_age(window_s)}"
        if self.requests > 0:
            text += f", {self.error_ratio:.1%} errors"
        if self.cpu_p99_ms is not None:
            text += f", CPU p99 {self.cpu_p99_ms:.1f} ms"
        return text


def analytics_findings(
    stats: InvocationStats, settings: WorkersSettings, cpu_limit_ms: float
) -> list[Finding]:
    """Thresholds on the analytics numbers (pure)."""
    findings: list[Finding] = []
    ratio = stats.error_ratio
    if stats.requests >= max(settings.min_requests, 1):
        for status, limit in (
            (Status.CRIT, settings.error_ratio_crit),
            (Status.WARN, settings.error_ratio_warn),
        ):
            if ratio >= limit:
                findings.append(
                    Finding(
                        status,
                        Reason.ASSERTION,
                        f"error ratio {ratio:.1%} ≥ {limit:.1%} "
                        f"({stats.errors:.0f} of {stats.requests:.0f} requests)",
                    )
                )
                break
    if stats.cpu_p99_ms is not None and stats.cpu_p99_ms >= settings.cpu_warn_ratio * cpu_limit_ms:
        findings.append(
            Finding(
                Status.WARN,
                Reason.ASSERTION,
                f"CPU p99 {stats.cpu_p99_ms:.1f} ms is {stats.cpu_p99_ms / cpu_limit_ms:.0%} "
                f"of the {cpu_limit_ms:g} ms limit",
            )
        )
    return findings


def describe_deployment(deployment: Deployment, now: float) -> str:
    """``version 55ab846d, deployed 7 d ago`` (a split names every version's share)."""
    versions = deployment.versions
    if len(versions) == 1:
        text = f"version {versions[0].version_id[:8]}"
    else:
        text = "versions " + ", ".join(f"{v.version_id[:8]} {v.percentage:g} %" for v in versions)
    created = parse_time(deployment.created_on)
    if created is not None:
        text += f", deployed {human_age(now - created)} ago"
    return text


def _version_split(deployment: Deployment) -> str:
    return ", ".join(
        v.version_id[:8] if v.percentage == 100 else f"{v.version_id[:8]} {v.percentage:g} %"
        for v in deployment.versions
    )


def deployment_change(
    before: Deployment | None, after: Deployment, script: str
) -> ProbeEvent | None:
    """A ``workers_deployment_changed`` event when a new deployment serves (not on first sight).

    Deploys explain incidents: the event puts "what changed" beside the error burst.
    """
    if before is None or before.id == after.id:
        return None
    old, new = _version_split(before), _version_split(after)
    message = f"Worker {script} now serves {new} (was {old})"
    if after.message:
        message += f": {after.message}"
    return ProbeEvent(
        kind="workers_deployment_changed",
        message=message,
        fields={"deployment_id": after.id or "", "versions": new, "previous_versions": old},
    )


class WorkersProbe(Probe[WorkersSettings]):
    """Checks one Worker: deployed, answering, and healthy by Cloudflare's own numbers."""

    type_name: ClassVar[str] = "workers"
    service: ClassVar[str] = "workers"
    settings_model: ClassVar[type[ProbeSettings]] = WorkersSettings
    analytics: ClassVar[frozenset[str]] = frozenset({"workers"})
    values: ClassVar[frozenset[str]] = frozenset(
        {
            "requests",
            "errors",
            "error_ratio",
            "cpu_time_p50_ms",
            "cpu_time_p99_ms",
            "cpu_limit_ms",
            "wall_time_p50_ms",
            "wall_time_p99_ms",
            "deployment_age_s",
            "status_code",
            "latency_ms",
            "tls_expiry_days",
            "checks_failed",
        }
    )
    metrics: ClassVar[Mapping[str, MetricSpec]] = {
        "requests": MetricSpec(
            "workers_requests", "Requests to the Worker in the analytics window"
        ),
        "errors": MetricSpec("workers_errors", "Failed requests in the analytics window"),
        "error_ratio": MetricSpec(
            "workers_error_ratio", "Share of the Worker's requests that failed (0-1)"
        ),
        "cpu_time_p50_ms": MetricSpec(
            "workers_cpu_time_seconds",
            "CPU time per request by quantile",
            labels={"quantile": "0.5"},
            scale=0.001,
        ),
        "cpu_time_p99_ms": MetricSpec(
            "workers_cpu_time_seconds",
            "CPU time per request by quantile",
            labels={"quantile": "0.99"},
            scale=0.001,
        ),
        "wall_time_p50_ms": MetricSpec(
            "workers_wall_time_seconds",
            "Wall time per request by quantile",
            labels={"quantile": "0.5"},
            scale=0.001,
        ),
        "wall_time_p99_ms": MetricSpec(
            "workers_wall_time_seconds",
            "Wall time per request by quantile",
            labels={"quantile": "0.99"},
            scale=0.001,
        ),
        "cpu_limit_ms": MetricSpec(
            "workers_cpu_limit_seconds", "The Worker's CPU time limit", scale=0.001
        ),
        "deployment_age_s": MetricSpec(
            "workers_deployment_age_seconds", "Time since the current deployment"
        ),
        **HTTP_METRICS,
    }

    def __init__(self, settings: WorkersSettings) -> None:
        super().__init__(settings)
        self._checks = settings.checks()
        # (deployment id, limits.cpu_ms or None): settings are re-read on a new deployment.
        self._limit_seen: tuple[str, float | None] | None = None
        self._serving: Deployment | None = None  # the deployment seen last run

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """One deployments call, the URL checks and the analytics, concurrently."""
        timeout_s = deadline_for(ctx.timeout_s)
        deployment_task = self._deployment(ctx, timeout_s)
        stats_task = self._stats(ctx, timeout_s)
        deployment, stats, outcomes = await asyncio.gather(
            deployment_task, stats_task, run_checks(ctx, self._checks, timeout_s)
        )
        now = ctx.clock()
        cpu_limit_ms = self.cpu_limit_ms
        values: dict[str, float] = {"cpu_limit_ms": cpu_limit_ms}
        root: list[Finding] = []  # a deleted script or a refused token explains failing URLs
        other: list[Finding] = []
        parts: list[str] = []

        if outcomes:
            parts.append(combine(outcomes)[2])
            values.update(http_values(outcomes))
        events: tuple[ProbeEvent, ...] = ()
        if isinstance(deployment, Deployment):
            change = deployment_change(self._serving, deployment, self.settings.script)
            events = () if change is None else (change,)
            self._serving = deployment
            parts.append(describe_deployment(deployment, now))
            created = parse_time(deployment.created_on)
            if created is not None:
                values["deployment_age_s"] = max(0.0, now - created)
        elif deployment is None:
            other.append(Finding(Status.WARN, Reason.ASSERTION, "no active deployment"))
        else:
            missing = f"Worker {self.settings.script!r} not found in the account"
            finding = api_finding(deployment, outcomes, missing)
            (root if finding.reason in (Reason.NOT_FOUND, Reason.AUTH) else other).append(finding)

        if isinstance(stats, InvocationStats):
            parts.append(stats.summary(ctx.analytics.window_s))
            values.update(stats.values())
            other += analytics_findings(stats, self.settings, cpu_limit_ms)
        else:
            text = f"analytics unavailable ({api_problem(stats)})"
            other.append(Finding(Status.WARN, api_reason(stats), text))

        return assemble(root, outcomes, parts, other, values, events)

    async def _deployment(
        self, ctx: ProbeContext, timeout_s: float
    ) -> Deployment | CloudflareError | ApiTimeout | None:
        """The current deployment (newest first in the list), or the error."""
        script = self.settings.script
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            deployments = await within(
                ctx.cf.workers.deployments(ctx.account_id, script), timeout_s, "Cloudflare API"
            )
        except (CloudflareError, ApiTimeout) as err:
            return err
        current = deployments[0] if deployments else None
        left_s = timeout_s - (loop.time() - started)
        if current is not None and self.settings.cpu_limit is None and left_s > 0:
            await self._refresh_limit(ctx, current, left_s)
        return current

    async def _refresh_limit(
        self, ctx: ProbeContext, deployment: Deployment, timeout_s: float
    ) -> None:
        """Re-read ``limits.cpu_ms`` when the deployment changed; keep the old one on failure."""
        key = deployment.id or ""
        if self._limit_seen is not None and self._limit_seen[0] == key:
            return
        try:
            settings = await within(
                ctx.cf.workers.settings(ctx.account_id, self.settings.script),
                timeout_s,
                "Cloudflare API",
            )
        except (CloudflareError, ApiTimeout):
            return  # the default stands in; the next run asks again
        cpu_ms = (settings.limits or {}).get("cpu_ms")
        limit = float(cpu_ms) if isinstance(cpu_ms, int | float) and cpu_ms > 0 else None
        self._limit_seen = (key, limit)

    @property
    def cpu_limit_ms(self) -> float:
        """The configured ``cpu_limit``, else the script's ``limits.cpu_ms``, else 30 s."""
        if self.settings.cpu_limit is not None:
            return self.settings.cpu_limit * 1000.0
        if self._limit_seen is not None and self._limit_seen[1] is not None:
            return self._limit_seen[1]
        return DEFAULT_CPU_LIMIT_S * 1000.0

    async def _stats(
        self, ctx: ProbeContext, timeout_s: float
    ) -> InvocationStats | CloudflareError | ApiTimeout:
        try:
            row = await within(
                ctx.analytics.get("workers", self.settings.script), timeout_s, "GraphQL Analytics"
            )
        except (CloudflareError, ApiTimeout) as err:
            return err
        return InvocationStats.from_row(row)
