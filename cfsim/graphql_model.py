"""Rows of GraphQL Analytics datasets before grouping, and the arithmetic on them.

A :class:`Record` is one event (a sample the simulator served) or a bundle of identical
events (a slice of background traffic, a storage reading). Grouping merges records; the
merged group answers ``count``, ``sum``, ``avg``, ``max`` and ``quantiles`` blocks. Pure:
nothing here reads a clock or the simulator state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

DimValue = str | int

# Time dimensions of the adaptive datasets and the width, in seconds, they truncate to.
TIME_DIMENSIONS: Mapping[str, int] = {
    "datetime": 1,
    "datetimeMinute": 60,
    "datetimeFiveMinutes": 300,
    "datetimeFifteenMinutes": 900,
    "datetimeHalfOfHour": 1800,
    "datetimeHour": 3600,
    "date": 86400,
}

# Cloudflare keeps analytics for 31 days and refuses to look further back.
RETENTION_S = 2_678_400

# Synthetic traffic is never cut finer than a minute (adaptive data is sampled anyway).
MIN_SLICE_S = 60

# How synthetic timings spread around their typical value: (multiplier, share of events).
# The median is the typical value, P75 1.25x, P90 1.6x, P99 3x, P999 4.5x — a long tail
# like real request timings.
SPREAD: tuple[tuple[float, float], ...] = (
    (0.55, 0.10),
    (0.75, 0.20),
    (1.0, 0.25),
    (1.25, 0.20),
    (1.6, 0.15),
    (2.2, 0.08),
    (3.0, 0.015),
    (4.5, 0.004),
    (7.0, 0.001),
)
SPREAD_MEAN = sum(m * w for m, w in SPREAD)
SPREAD_MAX = max(m for m, _ in SPREAD)


@dataclass
class Record:
    """One event, or ``count`` identical events, of a dataset.

    ``dists`` maps a measure (``cpuTime``, ``latencyMs``…) to a weighted distribution
    ``{value: weight}``, so quantiles can be computed after any grouping; ``spread`` holds
    synthetic events compactly as ``{typical value: events}``, each spreading per
    :data:`SPREAD` when a quantile is asked for.
    """

    ts: float
    dims: dict[str, DimValue]
    count: float = 1.0
    sums: dict[str, float] = field(default_factory=dict)
    maxes: dict[str, float] = field(default_factory=dict)
    dists: dict[str, dict[float, float]] = field(default_factory=dict)
    spread: dict[str, dict[float, float]] = field(default_factory=dict)


@dataclass
class Group:
    """Records merged under one combination of dimension values."""

    key: tuple[DimValue, ...]
    dims: dict[str, DimValue]
    count: float = 0.0
    sums: dict[str, float] = field(default_factory=dict)
    maxes: dict[str, float] = field(default_factory=dict)
    dists: dict[str, dict[float, float]] = field(default_factory=dict)
    spread: dict[str, dict[float, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, key: tuple[DimValue, ...], dims: dict[str, DimValue], record: Record) -> Group:
        """A new group holding ``record``: the same as adding it to an empty group, with the
        record's mappings copied whole (most minute groups get a single record)."""
        return cls(
            key=key,
            dims=dims,
            count=record.count,
            sums=dict(record.sums),
            maxes=dict(record.maxes),
            dists={name: dict(dist) for name, dist in record.dists.items()},
            spread={name: dict(dist) for name, dist in record.spread.items()},
        )

    def add(self, record: Record) -> None:
        """Merge one record into the group."""
        self.count += record.count
        for name, value in record.sums.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        for name, value in record.maxes.items():
            self.maxes[name] = max(self.maxes.get(name, value), value)
        for mine, theirs in ((self.dists, record.dists), (self.spread, record.spread)):
            for name, dist in theirs.items():
                target = mine.setdefault(name, {})
                for value, weight in dist.items():
                    target[value] = target.get(value, 0.0) + weight

    def avg(self, source: str) -> float:
        """The mean of a summed measure over the group's events."""
        return self.sums.get(source, 0.0) / self.count if self.count else 0.0

    def quantile(self, source: str, q: float) -> float:
        """The ``q`` quantile (nearest rank on weights) of a measure; 0 without data."""
        dist = dict(self.dists.get(source, {}))
        for typical, events in self.spread.get(source, {}).items():
            for multiplier, share in SPREAD:
                value = round(typical * multiplier, 6)
                dist[value] = dist.get(value, 0.0) + events * share
        return quantile(dist, q)


def quantile(dist: Mapping[float, float], q: float) -> float:
    """Nearest-rank quantile of a weighted distribution ``{value: weight}``."""
    total = sum(dist.values())
    if total <= 0:
        return 0.0
    target = q * total - 1e-9 * total
    acc = 0.0
    values = sorted(dist)
    for value in values:
        acc += dist[value]
        if acc >= target:
            return value
    return values[-1]


def truncate(ts: float, width: int) -> float:
    """Truncate an epoch timestamp to a multiple of ``width`` seconds (UTC)."""
    return float(int(ts // width) * width)


def slices(start: float, end: float, width: int | None) -> list[tuple[float, float]]:
    """Split ``[start, end)`` into pieces aligned on multiples of ``width`` seconds.

    ``None`` keeps the window whole: a query that groups by no time dimension needs no
    finer pieces, which keeps a month of synthetic traffic cheap.
    """
    if end <= start:
        return []
    if width is None:
        return [(start, end)]
    pieces = []
    lo = truncate(start, width)
    while lo < end:
        pieces.append((max(lo, start), min(lo + width, end)))
        lo += width
    return pieces


def format_time(ts: float) -> str:
    """Render a timestamp as Cloudflare's ``Time`` scalar: ``2020-05-04T18:10:35Z``."""
    return datetime.fromtimestamp(int(ts // 1), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_date(ts: float) -> str:
    """Render a timestamp as Cloudflare's ``Date`` scalar: ``2020-05-04``."""
    return datetime.fromtimestamp(int(ts // 1), UTC).strftime("%Y-%m-%d")


def time_dimension(name: str, ts: float) -> str:
    """The value of a time dimension (``datetimeHour``, ``date``…) for an event at ``ts``."""
    start = truncate(ts, TIME_DIMENSIONS[name])
    return format_date(start) if name == "date" else format_time(start)


def parse_time(value: object) -> float:
    """Parse a ``Time`` (RFC 3339) or ``Date`` (``YYYY-MM-DD``) value to epoch seconds.

    Raises ``ValueError`` for anything else, including numbers.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"invalid time {value!r}")
    text = value.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    parsed = datetime.fromisoformat(text.replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
