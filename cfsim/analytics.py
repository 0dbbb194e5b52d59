"""Traffic the simulated account has served, kept for GraphQL Analytics.

Stores record what actually happened (edge invocations, KV, R2 and D1 operations) and the
GraphQL service aggregates it into Cloudflare's datasets, adding configurable background
traffic so that dashboards and rules see realistic volumes.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from cfsim.ratelimit import RateLimiter

# GraphQL Analytics' own budget: 300 queries per 5 minutes per user or token, on top of the
# API-wide limit (developers.cloudflare.com/analytics/graphql-api/limits).
GRAPHQL_QUERIES_PER_WINDOW = 300
GRAPHQL_WINDOW_S = 300.0

# ``lb``: requests through a load balancer (subject: its name), for loadBalancingRequests.
Kind = Literal["workers", "pages", "kv", "r2", "d1", "lb"]


@dataclass(frozen=True)
class Sample:
    """One operation the simulator served.

    ``subject`` is the Worker script name, Pages Functions script name, KV namespace id, R2
    bucket name or D1 database id; ``action`` the operation (``read``, ``write``,
    ``PutObject``…); ``status`` ``success`` / ``error`` style outcome; times in ms; ``item``
    what the operation touched, when it matters to analytics (the R2 object key, the D1 SQL
    statement, an edge request's URL path); ``host`` the hostname an edge request was sent
    to (for the zone's HTTP request analytics).
    """

    ts: float
    kind: Kind
    subject: str
    action: str = ""
    status: str = "success"
    http_status: int = 200
    duration_ms: float = 0.0
    cpu_ms: float = 0.0
    rows_read: int = 0
    rows_written: int = 0
    bytes: int = 0
    subrequests: int = 0
    item: str = ""
    host: str = ""


@dataclass(frozen=True)
class BackgroundTraffic:
    """Steady synthetic traffic for one subject, added to what was really served."""

    kind: Kind
    subject: str
    rps: float
    error_ratio: float = 0.0
    cpu_ms: float = 2.0
    duration_ms: float = 20.0
    latency_ms: float = 8.0


BUCKET_S = 60


@dataclass
class SampleIndex:
    """Samples pre-bucketed per kind and per minute, so a query over a time range touches the
    minutes in that range (and their samples), never every sample kept.

    ``buckets[kind][minute]`` holds the samples of that epoch minute in arrival order;
    ``minutes[kind]`` is the sorted list of non-empty minutes.
    """

    buckets: dict[str, dict[int, deque[Sample]]] = field(default_factory=dict)
    minutes: dict[str, list[int]] = field(default_factory=dict)

    def add(self, sample: Sample) -> None:
        """Index one sample."""
        minute = int(sample.ts // BUCKET_S)
        by_minute = self.buckets.setdefault(sample.kind, {})
        bucket = by_minute.get(minute)
        if bucket is None:
            bucket = by_minute[minute] = deque()
            keys = self.minutes.setdefault(sample.kind, [])
            if not keys or keys[-1] < minute:
                keys.append(minute)  # the usual case: time moves forward
            else:
                insort(keys, minute)
        bucket.append(sample)

    def remove(self, sample: Sample) -> None:
        """Forget one sample (the oldest, normally: the front of its bucket)."""
        minute = int(sample.ts // BUCKET_S)
        by_minute = self.buckets.get(sample.kind, {})
        bucket = by_minute.get(minute)
        if bucket is None:
            return
        if bucket and bucket[0] is sample:
            bucket.popleft()
        else:
            bucket.remove(sample)
        if not bucket:
            del by_minute[minute]
            keys = self.minutes[sample.kind]
            del keys[bisect_left(keys, minute)]

    def between(self, kinds: Iterable[str], start: float, end: float | None) -> Iterator[Sample]:
        """Samples of ``kinds`` with ``start <= ts < end`` (``end`` None: no upper bound)."""
        first = int(start // BUCKET_S)
        last = None if end is None else int(end // BUCKET_S)
        for kind in kinds:
            keys = self.minutes.get(kind)
            if not keys:
                continue
            by_minute = self.buckets[kind]
            for i in range(bisect_left(keys, first), len(keys)):
                minute = keys[i]
                if last is not None and minute > last:
                    break
                bucket = by_minute[minute]
                if minute in (first, last):
                    # A partly covered minute at either edge: look at each sample.
                    yield from (s for s in bucket if start <= s.ts and (end is None or s.ts < end))
                else:
                    yield from bucket

    def clear(self) -> None:
        """Forget every sample."""
        self.buckets.clear()
        self.minutes.clear()


def _graphql_budget() -> RateLimiter:
    return RateLimiter(limit=GRAPHQL_QUERIES_PER_WINDOW, window_s=GRAPHQL_WINDOW_S)


@dataclass
class Analytics:
    """A bounded record of served operations plus background traffic settings.

    ``budget`` is the per-credential GraphQL query budget that reads them.
    """

    maxlen: int = 200_000
    samples: deque[Sample] = field(default_factory=deque)
    background: dict[tuple[str, str], BackgroundTraffic] = field(default_factory=dict)
    budget: RateLimiter = field(default_factory=_graphql_budget)
    index: SampleIndex = field(default_factory=SampleIndex)

    def record(self, sample: Sample) -> None:
        """Keep one served operation (the oldest fall off past ``maxlen``)."""
        if len(self.samples) >= self.maxlen:
            self.index.remove(self.samples.popleft())
        self.samples.append(sample)
        self.index.add(sample)

    def set_background(self, traffic: BackgroundTraffic) -> None:
        """Set (or replace, or with ``rps`` 0 remove) background traffic for one subject."""
        key = (traffic.kind, traffic.subject)
        if traffic.rps <= 0:
            self.background.pop(key, None)
        else:
            self.background[key] = traffic

    def window(self, kind: Kind, start: float, end: float) -> list[Sample]:
        """Samples of ``kind`` with ``start <= ts < end``."""
        return list(self.index.between((kind,), start, end))

    def clear(self) -> None:
        """Forget all samples and background traffic, and refill the query budget."""
        self.samples.clear()
        self.index.clear()
        self.background.clear()
        self.budget.reset()
