"""Traffic the simulated account has served, kept for GraphQL Analytics.

Stores record what actually happened (edge invocations, KV, R2 and D1 operations) and the
GraphQL service aggregates it into Cloudflare's datasets, adding configurable background
traffic so that dashboards and rules see realistic volumes.
"""

from __future__ import annotations

from collections import deque
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

    def record(self, sample: Sample) -> None:
        """Keep one served operation (the oldest fall off past ``maxlen``)."""
        if len(self.samples) >= self.maxlen:
            self.samples.popleft()
        self.samples.append(sample)

    def set_background(self, traffic: BackgroundTraffic) -> None:
        """Set (or replace, or with ``rps`` 0 remove) background traffic for one subject."""
        key = (traffic.kind, traffic.subject)
        if traffic.rps <= 0:
            self.background.pop(key, None)
        else:
            self.background[key] = traffic

    def window(self, kind: Kind, start: float, end: float) -> list[Sample]:
        """Samples of ``kind`` with ``start <= ts < end``."""
        return [s for s in self.samples if s.kind == kind and start <= s.ts < end]

    def clear(self) -> None:
        """Forget all samples and background traffic, and refill the query budget."""
        self.samples.clear()
        self.background.clear()
        self.budget.reset()
