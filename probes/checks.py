"""Pure pieces the Cloudflare probes share: error → reason, thresholds, capacity, deadlines.

Every probe of a Cloudflare service turns the same :mod:`cfapi` errors into the same
:class:`~probes.base.Reason` (so ``auth`` means the same thing on a KV and a D1 probe), and
compares numbers against warn/crit thresholds the same way. Nothing here does I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from cfapi.errors import (
    ApiError,
    AuthError,
    CloudflareError,
    GraphqlError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
)
from probes.base import ProbeContext, ProbeResult, Reason, Status
from probes.resources import Unresolved


def reason_for(error: CloudflareError) -> Reason:
    """The probe reason a Cloudflare API failure stands for (docs/rules.md, "Failure reasons").

    A valid token without the needed permission is ``auth`` too: either way the token has to
    be fixed, and the ``api_token_invalid`` rule should say so.
    """
    if isinstance(error, AuthError | PermissionDenied):
        return Reason.AUTH
    if isinstance(error, NotFound):
        return Reason.NOT_FOUND
    if isinstance(error, RateLimited):
        return Reason.RATE_LIMITED
    if isinstance(error, TransportError):
        return Reason.TIMEOUT if error.timeout else Reason.UNREACHABLE
    if isinstance(error, ServerError | ApiError | GraphqlError):
        return Reason.API_ERROR
    return Reason.ERROR


def describe(error: CloudflareError) -> str:
    """A short, secret-free account of a failure for a probe message.

    ``HTTP 404: [10013] get: 'namespace not found'`` — the status and Cloudflare's own error
    codes and messages, without the request path (the probe says which step failed).
    """
    if isinstance(error, GraphqlError):
        detail = "; ".join(e.message for e in error.graphql_errors) or error.summary
    else:
        detail = "; ".join(e.describe() for e in error.errors) or error.summary
    text = f"HTTP {error.status}: {detail}" if error.status is not None else detail
    if isinstance(error, RateLimited):
        if error.local:
            text = "flarewatch's API request budget cannot serve it before the deadline"
        if error.retry_after is not None:
            text += f" (retry after {error.retry_after:g} s)"
    return text


def failure(
    error: CloudflareError,
    doing: str,
    *,
    status: Status = Status.CRIT,
    values: Mapping[str, float] | None = None,
) -> ProbeResult:
    """A failed run for ``error`` met while ``doing`` something (``"reading bucket uploads"``)."""
    return ProbeResult(
        status=status,
        reason=reason_for(error),
        message=f"{doing}: {describe(error)}",
        values=dict(values or {}),
    )


def level(value: float, warn: float, crit: float) -> Status:
    """``crit`` from ``crit`` up, ``warn`` from ``warn`` up, else ``ok`` (higher is worse)."""
    if value >= crit:
        return Status.CRIT
    if value >= warn:
        return Status.WARN
    return Status.OK


def level_below(value: float, warn: float, crit: float) -> Status:
    """``crit`` below ``crit``, ``warn`` below ``warn``, else ``ok`` (lower is worse)."""
    if value < crit:
        return Status.CRIT
    if value < warn:
        return Status.WARN
    return Status.OK


@dataclass(frozen=True, slots=True)
class Usage:
    """Storage used against a limit: the ratio and what it means."""

    used: float
    limit: float
    ratio: float
    status: Status


def usage(used: float, limit: float, warn_ratio: float, crit_ratio: float) -> Usage:
    """Compare ``used`` bytes with ``limit`` (``limit`` > 0); ratios are of the limit."""
    if limit <= 0:
        raise ValueError("a storage limit must be positive")
    ratio = used / limit
    return Usage(used, limit, ratio, level(ratio, warn_ratio, crit_ratio))


def human_bytes(n: float) -> str:
    """``3.4 GB``, ``512 MB``, ``18 B``: SI units, as Cloudflare states its limits."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def usable_time(timeout_s: float) -> float:
    """The part of a probe's timeout its own deadline may use.

    The runner cancels a probe at its timeout; a probe that stops a little earlier returns a
    result that says what went wrong (which step, how many attempts) instead of being cut off.
    The margin is a tenth of the timeout, at most half a second.
    """
    return max(0.0, timeout_s - min(0.5, timeout_s * 0.1))


@dataclass
class Deadline:
    """A point in time on an injected ``timer``, ``seconds`` after construction."""

    seconds: float
    timer: Callable[[], float]
    start: float = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.timer()

    def elapsed(self) -> float:
        """Seconds since the deadline was set."""
        return self.timer() - self.start

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.seconds - self.elapsed()


async def resolve(lookup: Awaitable[str], deadline: Deadline, what: str) -> str | ProbeResult:
    """The id ``lookup`` finds, or the failed result a probe returns when it cannot.

    ``what`` names the resource (``KV namespace 'SESSIONS'``). No such name is
    ``not_found``; an API failure keeps its reason; a lookup slower than the deadline is
    ``timeout`` rather than a run cut off by the runner.
    """
    try:
        async with asyncio.timeout(max(0.0, deadline.remaining())):
            return await lookup
    except Unresolved as err:
        return ProbeResult.failed(Reason.NOT_FOUND, str(err))
    except CloudflareError as err:
        return failure(err, f"looking up {what}")
    except TimeoutError:
        return ProbeResult.failed(
            Reason.TIMEOUT, f"looking up {what}: no answer within {deadline.seconds:.1f} s"
        )


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why numbers from GraphQL Analytics could not be read this run."""

    reason: Reason
    message: str


async def analytics_row(
    ctx: ProbeContext, dataset: str, key: str, deadline: Deadline
) -> tuple[Mapping[str, float] | None, Unavailable | None]:
    """One resource's row of ``dataset`` from the shared hub, within the deadline.

    ``(row, None)`` on success (``row`` is ``None`` when the resource has no data in the
    window); ``(None, Unavailable)`` when GraphQL failed or did not answer in time. The
    hub's refresh is shielded, so giving up here does not cancel it for other probes.
    """
    try:
        async with asyncio.timeout(max(0.0, deadline.remaining())):
            return await ctx.analytics.get(dataset, key), None
    except CloudflareError as err:
        return None, Unavailable(reason_for(err), describe(err))
    except TimeoutError:
        return None, Unavailable(Reason.TIMEOUT, "GraphQL Analytics did not answer in time")


def paused(ctx: ProbeContext, group: str, deadline: Deadline) -> ProbeResult | None:
    """A ``rate_limited`` result when the client's requests are paused past the deadline.

    After a 429 (or a response saying nothing is left) cfapi holds every request of the
    client back; a probe that would only wait for its own timeout says why at once instead
    of reporting a misleading ``timeout``.
    """
    budget = ctx.cf.budget
    wait = budget.paused_for(group, budget.clock())
    if wait <= 0 or wait < deadline.remaining():
        return None
    return ProbeResult.failed(
        Reason.RATE_LIMITED,
        f"Cloudflare API requests are paused for {wait:.0f} s more after a 429; "
        "not waiting past the probe's deadline",
    )
