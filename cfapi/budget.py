"""One request budget for everything that talks to Cloudflare with the same credentials.

Cloudflare allows 1,200 requests per 5 minutes per token, counted across every client of the
token, and blocks *all* calls for the rest of the window once that is spent [V: docs
``fundamentals/api/reference/limits``]; GraphQL adds 300 queries per 5 minutes of its own.
flarewatch therefore keeps to a share of it (default half, leaving the rest to humans and
other tools) with a token bucket, and backs off as a whole when Cloudflare says 429 or
announces that nothing is left (``Ratelimit: ...;r=0;t=N``).

:class:`RequestBudget` is pure bookkeeping driven by an injected clock; :meth:`acquire` is the
only part that sleeps. :func:`shared_budget` hands every client of the same identity in this
process the same budget.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cfapi.errors import RateLimited
from cfapi.headers import LimitState

API_LIMIT = 1200
API_WINDOW_S = 300.0
GRAPHQL_LIMIT = 300
DEFAULT_SHARE = 0.5
# Cloudflare blocks for the rest of the 5-minute window; without a hint, wait that long.
DEFAULT_PAUSE_S = API_WINDOW_S
GLOBAL = "*"

# First path segment after /accounts/{id} or /zones/{id} → API group (metric label values).
_ACCOUNT_GROUPS = {
    "workers": "workers",
    "pages": "pages",
    "storage": "kv",
    "r2": "r2",
    "event_notifications": "r2",
    "d1": "d1",
    "load_balancers": "lb",
    "audit_logs": "audit",
    "logs": "audit",
    "tokens": "accounts",
}
_ZONE_GROUPS = {
    "dns_records": "dns",
    "load_balancers": "lb",
    "healthchecks": "healthchecks",
    "purge_cache": "zones",
}
GROUPS = frozenset(
    {"accounts", "zones", "other", "graphql", *_ACCOUNT_GROUPS.values(), *_ZONE_GROUPS.values()}
)


def group_for(path: str) -> str:
    """The API group a request path (relative to the v4 base) counts against."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if not parts:
        return "other"
    head = parts[0]
    if head == "graphql":
        return "graphql"
    if head == "zones":
        return _ZONE_GROUPS.get(parts[2], "zones") if len(parts) > 2 else "zones"
    if head == "accounts":
        return _ACCOUNT_GROUPS.get(parts[2], "other") if len(parts) > 2 else "accounts"
    if head in ("user", "memberships"):
        return "audit" if parts[-1] == "audit_logs" else "accounts"
    return "other"


@dataclass
class TokenBucket:
    """A token bucket that may go into debt: reservations queue fairly behind each other."""

    capacity: float
    rate: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, capacity: float, window_s: float, now: float) -> TokenBucket:
        """A bucket holding ``capacity`` tokens that refills ``capacity`` per ``window_s``."""
        return cls(capacity=capacity, rate=capacity / window_s, tokens=capacity, updated=now)

    def refill(self, now: float) -> None:
        """Add what has accrued since the last update."""
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until one more token would be available."""
        self.refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        """Reserve one token (the balance may go negative: later callers wait longer)."""
        self.refill(now)
        self.tokens -= 1

    def limit_to(self, remaining: int, now: float) -> None:
        """Never hold more tokens than the server says are left."""
        self.refill(now)
        self.tokens = min(self.tokens, float(remaining))


@dataclass(frozen=True)
class BudgetSnapshot:
    """The budget's state and counters, for metrics (all counters are totals)."""

    tokens: float
    capacity: float
    refill_per_s: float
    paused_for_s: float
    requests: dict[str, int]
    throttled: dict[str, int]
    throttled_seconds: float
    rate_limited: dict[str, int]
    refused: dict[str, int]
    pauses: int


@dataclass
class RequestBudget:
    """The shared request budget: token buckets, a shared pause and per-group counters."""

    limit: int = API_LIMIT
    window_s: float = API_WINDOW_S
    share: float = DEFAULT_SHARE
    graphql_limit: int = GRAPHQL_LIMIT
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    default_pause_s: float = DEFAULT_PAUSE_S
    _buckets: dict[str, TokenBucket] = field(init=False)
    _paused_until: dict[str, float] = field(init=False, default_factory=dict)
    _requests: Counter[str] = field(init=False, default_factory=Counter)
    _throttled: Counter[str] = field(init=False, default_factory=Counter)
    _throttled_seconds: float = field(init=False, default=0.0)
    _rate_limited: Counter[str] = field(init=False, default_factory=Counter)
    _refused: Counter[str] = field(init=False, default_factory=Counter)
    _pauses: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError(f"share must be in (0, 1], got {self.share}")
        if self.limit < 1 or self.window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        now = self.clock()
        self._buckets = {
            GLOBAL: TokenBucket.full(
                float(max(1, math.floor(self.limit * self.share))), self.window_s, now
            ),
            "graphql": TokenBucket.full(
                float(max(1, math.floor(self.graphql_limit * self.share))), self.window_s, now
            ),
        }

    def _pause_scope(self, group: str) -> str:
        # GraphQL has its own limit; its 429 says nothing about the REST budget.
        return group if group == "graphql" else GLOBAL

    def paused_for(self, group: str, now: float) -> float:
        """Seconds left of a pause that applies to ``group`` (0 when not paused)."""
        paused = self._paused_until
        if not paused:
            return 0.0
        until = max(paused.get(GLOBAL, 0.0), paused.get(group, 0.0))
        return max(0.0, until - now)

    def _wait(self, group: str, now: float) -> float:
        """Seconds until ``group`` may send: pauses and every bucket it draws from."""
        wait = max(self.paused_for(group, now), self._buckets[GLOBAL].wait(now))
        own = self._buckets.get(group)
        return wait if own is None else max(wait, own.wait(now))

    def reserve(self, group: str, now: float, deadline: float | None = None) -> float | None:
        """Reserve a request for ``group``; return how long to wait before sending it.

        Returns ``None`` (reserving nothing) when the wait would end after ``deadline``.
        """
        wait = self._wait(group, now)
        if deadline is not None and now + wait > deadline:
            self._refused[group] += 1
            return None
        self._buckets[GLOBAL].take(now)
        own = self._buckets.get(group)
        if own is not None:
            own.take(now)
        self._requests[group] += 1
        if wait > 0:
            self._throttled[group] += 1
            self._throttled_seconds += wait
        return wait

    def pause(self, group: str, seconds: float, now: float) -> bool:
        """Hold back every request of the pause's scope for ``seconds``; True if newly paused."""
        scope = self._pause_scope(group)
        was_paused = self._paused_until.get(scope, 0.0) > now
        self._paused_until[scope] = max(self._paused_until.get(scope, 0.0), now + seconds)
        if not was_paused:
            self._pauses += 1
        return not was_paused

    def rate_limited(self, group: str, retry_after: float | None, now: float) -> bool:
        """Cloudflare answered 429: count it and pause the scope; True if newly paused."""
        self._rate_limited[group] += 1
        seconds = retry_after if retry_after is not None else self.default_pause_s
        return self.pause(group, seconds, now)

    def observe(self, group: str, state: LimitState, now: float) -> bool:
        """Learn from the server's window headers; True if that started a pause.

        The server counts every client of the token, so its ``remaining`` caps our tokens;
        ``remaining == 0`` means the next request would be refused until the reset.
        """
        self._buckets[self._pause_scope(group)].limit_to(state.remaining, now)
        if state.remaining == 0 and state.reset_s > 0:
            return self.pause(group, state.reset_s, now)
        return False

    def snapshot(self) -> BudgetSnapshot:
        """Current tokens, capacity and counters of the global bucket."""
        now = self.clock()
        bucket = self._buckets[GLOBAL]
        bucket.refill(now)
        return BudgetSnapshot(
            tokens=bucket.tokens,
            capacity=bucket.capacity,
            refill_per_s=bucket.rate,
            paused_for_s=self.paused_for(GLOBAL, now),
            requests=dict(self._requests),
            throttled=dict(self._throttled),
            throttled_seconds=self._throttled_seconds,
            rate_limited=dict(self._rate_limited),
            refused=dict(self._refused),
            pauses=self._pauses,
        )

    async def acquire(self, group: str, deadline: float | None = None) -> None:
        """Wait for permission to send one request of ``group``.

        Raises :class:`RateLimited` (``local=True``) at once, rather than hanging, when the
        wait would end after ``deadline`` (a time on this budget's clock).
        """
        now = self.clock()
        wait = self.reserve(group, now, deadline)
        while True:
            if wait is None:
                raise RateLimited(
                    "request budget exhausted before the deadline",
                    retry_after=self._refusal_delay(group, now),
                    local=True,
                )
            if wait <= 0:
                return
            await self.sleep(wait)
            # A 429 seen by another request while we slept pauses us too.
            now = self.clock()
            wait = self.paused_for(group, now)
            if wait > 0 and deadline is not None and now + wait > deadline:
                self._refused[group] += 1
                wait = None

    def _refusal_delay(self, group: str, now: float) -> float:
        return self._wait(group, now)


_SHARED: dict[str, RequestBudget] = {}
_SHARED_LOCK = threading.Lock()


def identity_key(base_url: str, secret: str) -> str:
    """A non-reversible key for (API, credentials): the budget belongs to the token."""
    digest = hashlib.sha256(f"{base_url}\0{secret}".encode()).hexdigest()
    return digest[:32]


def shared_budget(key: str, factory: Callable[[], RequestBudget] = RequestBudget) -> RequestBudget:
    """The process-wide budget for ``key`` (see :func:`identity_key`), created on first use."""
    with _SHARED_LOCK:
        budget = _SHARED.get(key)
        if budget is None:
            budget = _SHARED[key] = factory()
        return budget
