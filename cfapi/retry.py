"""When and how long to retry: transient failures of idempotent requests only.

Transient means a timeout, a connection error, HTTP 429 or 5xx (:attr:`CloudflareError.transient`).
Auth and validation errors are never retried. A request is idempotent when its method is
(GET, HEAD, PUT, DELETE, OPTIONS) or the caller marks it so (e.g. a read-only D1 query).

The waits follow the server's hint when there is one (``Retry-After`` and friends, see
:mod:`cfapi.headers`), else capped exponential backoff with full jitter, ``min(cap, base·2ⁿ)``
as in the official SDK (0.5 s, capped at 8 s). The loop itself is the ``backoff`` library's;
this module supplies its wait generator and the counters that make retries observable.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from cfapi.errors import CloudflareError, RateLimited, ServerError, TransportError

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts in all, total time, and the backoff curve."""

    max_attempts: int = 4
    max_time_s: float = 60.0
    base_s: float = 0.5
    cap_s: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.max_time_s <= 0 or self.base_s < 0 or self.cap_s < 0:
            raise ValueError("max_time_s must be > 0 and base_s, cap_s >= 0")


def is_idempotent(method: str, marked: bool | None = None) -> bool:
    """Whether a request may be sent twice: the caller's mark, else the method's nature."""
    return marked if marked is not None else method.upper() in IDEMPOTENT_METHODS


def should_retry(error: CloudflareError, idempotent: bool) -> bool:
    """Retry only transient failures, and only of idempotent requests."""
    return idempotent and error.transient


def backoff_delay(retry: int, policy: RetryPolicy, rand: Callable[[], float]) -> float:
    """Full-jitter exponential delay before retry number ``retry`` (1-based)."""
    return rand() * min(policy.cap_s, policy.base_s * 2.0 ** (retry - 1))


def reason_of(error: CloudflareError) -> str:
    """A bounded label for why a request failed (for counters and logs)."""
    if isinstance(error, TransportError):
        return "timeout" if error.timeout else "connection"
    if isinstance(error, RateLimited):
        return "rate_limited"
    if isinstance(error, ServerError):
        return "server_error"
    return "other"


class Retryable(Exception):
    """Internal: a transient failure the backoff loop may retry, with its timing context."""

    def __init__(
        self, error: CloudflareError, *, hint_s: float | None, now: float, deadline: float
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.hint_s = hint_s
        self.now = now
        self.deadline = deadline


def retry_waits(
    *, policy: RetryPolicy, rand: Callable[[], float] = random.random
) -> Generator[float | None, Retryable | None, None]:
    """The ``backoff`` wait generator: server hint or jittered backoff, within the deadline.

    Stopping (``StopIteration``) makes ``backoff`` give up: done when the wait would end after
    the request's deadline, so a long ``Retry-After`` fails fast instead of hanging.
    """
    failure = yield None
    retry = 0
    while failure is not None:
        retry += 1
        delay = failure.hint_s if failure.hint_s is not None else backoff_delay(retry, policy, rand)
        if failure.now + delay > failure.deadline:
            return
        failure = yield delay


@dataclass(frozen=True)
class RetryEvent:
    """One retry or give-up, for callbacks (no secrets: method, path, group, reason)."""

    method: str
    path: str
    group: str
    attempt: int
    reason: str
    wait_s: float | None
    error: CloudflareError


@dataclass
class RetryStats:
    """Counters of attempts, retries and give-ups, plus optional callbacks for metrics."""

    on_retry: Callable[[RetryEvent], None] | None = None
    on_giveup: Callable[[RetryEvent], None] | None = None
    attempts: Counter[str] = field(default_factory=Counter)
    retries: Counter[tuple[str, str]] = field(default_factory=Counter)
    giveups: Counter[tuple[str, str]] = field(default_factory=Counter)

    def attempted(self, group: str) -> None:
        """Count one request sent."""
        self.attempts[group] += 1

    def retried(self, event: RetryEvent) -> None:
        """Count a retry (by group and reason) and tell the callback."""
        self.retries[(event.group, event.reason)] += 1
        if self.on_retry is not None:
            self.on_retry(event)

    def gave_up(self, event: RetryEvent) -> None:
        """Count a give-up (by group and reason) and tell the callback."""
        self.giveups[(event.group, event.reason)] += 1
        if self.on_giveup is not None:
            self.on_giveup(event)
