"""``perf``: how fast each Worker is, where its time goes, and why it is slow (Req 5.3, 5.5).

From GraphQL Analytics, per Worker: request rate, error ratio, CPU-time and wall-time
quantiles, and the time spent *waiting* (wall minus CPU: subrequests, KV, D1, R2, the
client). Per route (hostname and path, from the zones' HTTP request analytics): the slowest
paths. When waiting dominates, the Worker's bindings are matched with the analytics of what
they point at — KV reads and their latency, D1 query batches and theirs, R2 operations — to
estimate the milliseconds each adds per request and name the likely bottleneck; the log
store (tail events kept by ``logs tail --store`` or the daemon) adds the binding errors the
Worker hit, explained by :mod:`ops.errors_catalog`.

:func:`analyse` is pure (inputs in, report out); :func:`collect` is the shell that asks
Cloudflare and reads the store. Resources are named as people know them (the D1 database's
name, the KV namespace's title, the bucket), each with the binding the code uses. Estimates
are estimates: analytics count every operation on
a namespace or database (from any Worker, the API or a probe), so a resource several Workers
share is split between them by request volume, and the report says so.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from cfapi.client import CloudflareClient

BindingKind = Literal["kv", "d1", "r2", "service"]
WAIT_DOMINATES = 0.5  # waiting is the story when it is at least half the wall time
NAMED_SHARE = 0.25  # a binding is named as the bottleneck when it explains this much waiting
SLOW_BUCKET = 2.0  # a time bucket whose median is this many times the usual one is an outlier
SLOW_PATH = 3.0  # a path whose p99 is this many times the Worker's p50 is an outlier
TOP_PATHS = 5
MAX_WORKERS = 20  # Workers whose bindings are read (one API request each)
SERIES_WIDTH_S = 300
_BINDING_TYPES: Mapping[str, BindingKind] = {
    "kv_namespace": "kv",
    "d1": "d1",
    "r2_bucket": "r2",
    "service": "service",
}
_KIND_LABEL = {"kv": "KV", "d1": "D1", "r2": "R2", "service": "service"}


class PerfError(Exception):
    """The analysis cannot run: ``bad_input`` for a user mistake (unknown Worker)."""

    def __init__(self, message: str, *, bad_input: bool = False) -> None:
        super().__init__(message)
        self.bad_input = bad_input


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Quantiles:
    """Milliseconds at the 50th, 90th and 99th percentiles."""

    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0


@dataclass(frozen=True)
class WorkerTotals:
    """One Worker's invocations in the window (times in milliseconds)."""

    script: str
    requests: int
    errors: int = 0
    subrequests: int = 0
    cpu_ms_total: float = 0.0
    wall_ms_total: float = 0.0
    cpu: Quantiles = Quantiles()
    wall: Quantiles = Quantiles()
    statuses: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Bucket:
    """Five minutes of one Worker: requests, errors and typical times."""

    start: str
    requests: int
    errors: int
    wall_p50: float
    wall_p99: float


@dataclass(frozen=True, slots=True)
class Binding:
    """What a Worker is bound to (KV namespace id, D1 database id, R2 bucket, or a service):
    ``label`` names the resource for people, ``binding`` is the variable the code uses."""

    kind: BindingKind
    resource: str
    label: str
    binding: str = ""


@dataclass(frozen=True, slots=True)
class ResourceStats:
    """Operations on one KV namespace, D1 database or R2 bucket, and their latency (ms)."""

    kind: BindingKind
    resource: str
    operations: int
    latency_p50: float | None = None
    latency_p99: float | None = None
    errors: int = 0


@dataclass(frozen=True, slots=True)
class PathStats:
    """Requests to one hostname and path: count, 5xx answers, time to first byte (ms)."""

    host: str
    path: str
    requests: int
    errors: int = 0
    ttfb_avg: float = 0.0
    p50: float = 0.0
    p99: float = 0.0

    @property
    def route(self) -> str:
        """``host/path``."""
        return f"{self.host}{self.path}"


@dataclass(frozen=True)
class Evidence:
    """What stored tail events say about a Worker: error events and the binding errors in them.

    ``binding_errors`` counts (kind, what the catalogue calls it) pairs.
    """

    events: int = 0
    error_events: int = 0
    binding_errors: Mapping[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True)
class PerfInputs:
    """Everything :func:`analyse` reads, for the window ``[since, until)`` (epoch seconds)."""

    since: float
    until: float
    workers: tuple[WorkerTotals, ...]
    series: Mapping[str, tuple[Bucket, ...]] = field(default_factory=dict)
    bindings: Mapping[str, tuple[Binding, ...]] = field(default_factory=dict)
    resources: Mapping[tuple[str, str], ResourceStats] = field(default_factory=dict)
    paths: tuple[PathStats, ...] = ()
    hosts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    evidence: Mapping[str, Evidence] = field(default_factory=dict)


# ----------------------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class Contributor:
    """A binding's share of the waiting: operations per request, their latency, the estimate.

    ``estimated_ms`` is ``None`` when analytics report no latency for the resource (R2,
    service bindings); ``shared_with`` names other Workers bound to the same resource.
    """

    kind: BindingKind
    label: str
    resource: str
    per_request: float
    latency_ms: float | None
    estimated_ms: float | None
    errors: int = 0
    shared_with: tuple[str, ...] = ()
    binding: str = ""


@dataclass(frozen=True, slots=True)
class Outlier:
    """A time window or a path far slower (or more failing) than the Worker usually is."""

    kind: Literal["time", "path"]
    subject: str
    detail: str


@dataclass(frozen=True)
class WorkerPerf:
    """One Worker's performance and the answer to "why is it slow"."""

    script: str
    requests: int
    rate_per_s: float
    errors: int
    error_ratio: float
    subrequests_per_request: float
    cpu: Quantiles
    wall: Quantiles
    cpu_mean_ms: float
    wall_mean_ms: float
    wait_mean_ms: float
    wait_p50_ms: float
    wait_share: float
    waiting_dominates: bool
    contributors: tuple[Contributor, ...]
    bottleneck: str | None
    unexplained_ms: float | None
    verdict: str
    slow_paths: tuple[PathStats, ...]
    outliers: tuple[Outlier, ...]
    evidence: tuple[str, ...]
    statuses: Mapping[str, int]


@dataclass(frozen=True)
class PerfReport:
    """Every Worker with traffic in the window, busiest first, and paths nobody claimed."""

    since: float
    until: float
    workers: tuple[WorkerPerf, ...]
    other_paths: tuple[PathStats, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "since": iso(self.since),
            "until": iso(self.until),
            "workers": [_worker_dict(w) for w in self.workers],
            "other_paths": [_path_dict(p) for p in self.other_paths],
        }


def _path_dict(path: PathStats) -> dict[str, Any]:
    return {**asdict(path), "route": path.route}


def _worker_dict(worker: WorkerPerf) -> dict[str, Any]:
    data = asdict(worker)
    data["slow_paths"] = [_path_dict(p) for p in worker.slow_paths]
    data["statuses"] = dict(worker.statuses)
    return data


# ----------------------------------------------------------------------------- helpers


def iso(ts: float, *, up: bool = False) -> str:
    """A GraphQL ``Time`` value (whole seconds): ``2026-11-27T12:00:00Z``.

    ``up`` rounds up, for the end of a window, so the last fraction of a second is in it.
    """
    second = math.ceil(ts) if up else math.floor(ts)
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ms(value: float | None) -> str:
    """Milliseconds for people: ``0.4 ms``, ``40 ms``, ``1.2 s``."""
    if value is None:
        return "?"
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    if value >= 10:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


def _users(bindings: Mapping[str, Sequence[Binding]]) -> dict[tuple[str, str], list[str]]:
    users: dict[tuple[str, str], list[str]] = {}
    for script, items in bindings.items():
        for binding in items:
            users.setdefault((binding.kind, binding.resource), []).append(script)
    return users


def contributors(
    worker: WorkerTotals, inputs: PerfInputs, requests_by_worker: Mapping[str, int]
) -> list[Contributor]:
    """The Worker's bindings with their estimated milliseconds per request, largest first.

    A resource's operations are split between the Workers bound to it in proportion to
    their requests (analytics do not say which Worker made an operation).
    """
    users = _users(inputs.bindings)
    found: list[Contributor] = []
    for binding in inputs.bindings.get(worker.script, ()):
        if binding.kind == "service":
            continue
        stats = inputs.resources.get((binding.kind, binding.resource))
        if stats is None or worker.requests <= 0:
            continue
        sharers = sorted(set(users.get((binding.kind, binding.resource), [])) - {worker.script})
        volume = sum(requests_by_worker.get(s, 0) for s in [worker.script, *sharers])
        share = _ratio(worker.requests, volume) if volume else 1.0
        per_request = stats.operations * share / worker.requests
        latency = stats.latency_p50
        estimate = per_request * latency if latency is not None else None
        found.append(
            Contributor(
                kind=binding.kind,
                label=binding.label,
                resource=binding.resource,
                per_request=per_request,
                latency_ms=latency,
                estimated_ms=estimate,
                errors=round(stats.errors * share),
                shared_with=tuple(sharers),
                binding=binding.binding,
            )
        )
    found.sort(key=lambda c: (-(c.estimated_ms or 0.0), -c.per_request, c.label))
    return found


def _verdict(
    worker: WorkerTotals,
    wait_typical: float,
    wait_share: float,
    found: Sequence[Contributor],
) -> tuple[str, str | None, float | None]:
    """The one-sentence answer, the bottleneck named (if any), and the waiting left over.

    ``wait_typical`` is the median request's wait (wall p50 - CPU p50), the same statistic
    as the binding latencies it is compared with.
    """
    if worker.requests <= 0:
        return "no requests in the window", None, None
    cpu_share = 1.0 - wait_share
    if wait_share < WAIT_DOMINATES:
        return (
            f"CPU dominates ({cpu_share:.0%} of wall time, p99 CPU {ms(worker.cpu.p99)}): the "
            "Worker's own code is the cost — profile it (wrangler dev, DevTools CPU profile)",
            None,
            None,
        )
    explained = sum(c.estimated_ms or 0.0 for c in found)
    leftover = max(wait_typical - explained, 0.0)
    best = found[0] if found and found[0].estimated_ms is not None else None
    head = (
        f"waiting dominates ({wait_share:.0%} of wall time, ≈ {ms(wait_typical)} for a typical "
        "request)"
    )
    if best is not None and best.estimated_ms is not None and wait_typical > 0:
        share = min(best.estimated_ms / wait_typical, 1.0)
        if share >= NAMED_SHARE:
            name = f"{_KIND_LABEL[best.kind]} {best.label}"
            return (
                f"{head}: likely {name} — {best.per_request:.2f} operations/request × p50 "
                f"{ms(best.latency_ms)} ≈ {ms(best.estimated_ms)} ({share:.0%} of the waiting)",
                name,
                leftover,
            )
    subrequests = _ratio(worker.subrequests, worker.requests)
    suspects: list[tuple[str, str]] = []
    if subrequests > 0:
        suspects.append(("subrequests", f"{subrequests:.2f} subrequests/request (fetch)"))
    suspects += [
        (name, f"{name} ({c.per_request:.2f} operations/request)")
        for c in found
        if c.estimated_ms is None and c.per_request > 0
        for name in [f"{_KIND_LABEL[c.kind]} {c.label}"]
    ]
    if suspects:
        return (
            f"{head}: the bindings with known latency explain {ms(explained)}; likely "
            + " or ".join(text for _, text in suspects)
            + ", whose latency analytics do not report",
            suspects[0][0],
            leftover,
        )
    return (
        f"{head}, and neither bindings nor subrequests account for it: look for slow "
        "responses being streamed, waitUntil work or a slow client (check the stored events)",
        None,
        leftover,
    )


def _time_outliers(buckets: Sequence[Bucket], overall_errors: float) -> list[Outlier]:
    busy = [b for b in buckets if b.requests > 0]
    if len(busy) < 3:
        return []
    usual = statistics.median(b.wall_p50 for b in busy)
    found: list[Outlier] = []
    for bucket in busy:
        ratio = _ratio(bucket.errors, bucket.requests)
        slow = usual > 0 and bucket.wall_p50 >= SLOW_BUCKET * usual
        failing = bucket.errors >= 5 and ratio >= max(2 * overall_errors, overall_errors + 0.05)
        if not (slow or failing):
            continue
        parts = []
        if slow:
            parts.append(
                f"p50 wall {ms(bucket.wall_p50)} ({bucket.wall_p50 / usual:.1f}× the usual "
                f"{ms(usual)}), p99 {ms(bucket.wall_p99)}"
            )
        if failing:
            parts.append(f"errors {ratio:.1%} ({bucket.errors} of {bucket.requests})")
        found.append(Outlier("time", bucket.start, "; ".join(parts)))
    return found


def _path_outliers(paths: Sequence[PathStats], wall: Quantiles) -> list[Outlier]:
    if wall.p50 <= 0:
        return []
    return [
        Outlier(
            "path",
            p.route,
            f"p99 {ms(p.p99)} is {p.p99 / wall.p50:.1f}× the Worker's p50 wall time "
            f"({p.requests} requests)",
        )
        for p in paths
        if p.p99 >= SLOW_PATH * wall.p50
    ]


def _evidence_lines(evidence: Evidence | None) -> tuple[str, ...]:
    if evidence is None or not evidence.events:
        return ()
    lines = [f"{evidence.error_events} of {evidence.events} stored events are errors"]
    for (kind, title), count in sorted(
        evidence.binding_errors.items(), key=lambda item: (-item[1], item[0])
    ):
        lines.append(f"{count} × {_KIND_LABEL.get(kind, kind)}: {title}")
    return tuple(lines)


def analyse(inputs: PerfInputs) -> PerfReport:
    """Every Worker's numbers, bottleneck and outliers; paths of hosts no Worker claims."""
    window = max(inputs.until - inputs.since, 1.0)
    requests_by_worker = {w.script: w.requests for w in inputs.workers}
    claimed: set[str] = set()
    results: list[WorkerPerf] = []
    for worker in sorted(inputs.workers, key=lambda w: (-w.requests, w.script)):
        wall_mean = _ratio(worker.wall_ms_total, worker.requests)
        cpu_mean = _ratio(worker.cpu_ms_total, worker.requests)
        wait_mean = max(wall_mean - cpu_mean, 0.0)
        wait_share = _ratio(wait_mean, wall_mean)
        # Binding latencies are medians, so they are weighed against the median wait.
        wait_p50 = max(worker.wall.p50 - worker.cpu.p50, 0.0) if worker.wall.p50 else wait_mean
        found = contributors(worker, inputs, requests_by_worker)
        verdict, bottleneck, leftover = _verdict(worker, wait_p50, wait_share, found)
        hosts = inputs.hosts.get(worker.script, frozenset())
        claimed |= hosts
        mine = sorted((p for p in inputs.paths if p.host in hosts), key=lambda p: (-p.p99, p.route))
        error_ratio = _ratio(worker.errors, worker.requests)
        outliers = _time_outliers(inputs.series.get(worker.script, ()), error_ratio)
        outliers += _path_outliers(mine, worker.wall)
        results.append(
            WorkerPerf(
                script=worker.script,
                requests=worker.requests,
                rate_per_s=worker.requests / window,
                errors=worker.errors,
                error_ratio=error_ratio,
                subrequests_per_request=_ratio(worker.subrequests, worker.requests),
                cpu=worker.cpu,
                wall=worker.wall,
                cpu_mean_ms=cpu_mean,
                wall_mean_ms=wall_mean,
                wait_mean_ms=wait_mean,
                wait_p50_ms=wait_p50,
                wait_share=wait_share,
                waiting_dominates=worker.requests > 0 and wait_share >= WAIT_DOMINATES,
                contributors=tuple(found),
                bottleneck=bottleneck,
                unexplained_ms=leftover,
                verdict=verdict,
                slow_paths=tuple(mine[:TOP_PATHS]),
                outliers=tuple(outliers),
                evidence=_evidence_lines(inputs.evidence.get(worker.script)),
                statuses=dict(worker.statuses),
            )
        )
    others = sorted(
        (p for p in inputs.paths if p.host not in claimed), key=lambda p: (-p.p99, p.route)
    )
    return PerfReport(inputs.since, inputs.until, tuple(results), tuple(others[:TOP_PATHS]))


# ----------------------------------------------------------------------------- GraphQL


ACCOUNT_QUERY = """
query FlarewatchPerf($a: String!, $w: AccountWorkersInvocationsAdaptiveFilter_InputObject!,
    $t: AccountKvOperationsAdaptiveGroupsFilter_InputObject!) {
  viewer { accounts(filter: {accountTag: $a}) {
    scripts: workersInvocationsAdaptive(limit: 1000, filter: $w) {
      dimensions { scriptName }
      sum { requests errors subrequests cpuTimeUs wallTime }
      quantiles { cpuTimeP50 cpuTimeP90 cpuTimeP99 wallTimeP50 wallTimeP90 wallTimeP99 }
    }
    statuses: workersInvocationsAdaptive(limit: 5000, filter: $w) {
      dimensions { scriptName status } sum { requests }
    }
    series: workersInvocationsAdaptive(limit: 10000, filter: $w) {
      dimensions { scriptName datetimeFiveMinutes }
      sum { requests errors } quantiles { wallTimeP50 wallTimeP99 }
    }
    kv: kvOperationsAdaptiveGroups(limit: 1000, filter: $t) {
      dimensions { namespaceId } sum { requests } quantiles { latencyMsP50 latencyMsP99 }
    }
    d1: d1AnalyticsAdaptiveGroups(limit: 1000, filter: $t) {
      dimensions { databaseId } sum { readQueries writeQueries }
      quantiles { queryBatchTimeMsP50 queryBatchTimeMsP99 }
    }
    r2: r2OperationsAdaptiveGroups(limit: 5000, filter: $t) {
      dimensions { bucketName actionStatus } sum { requests }
    }
  } } }
"""

ZONES_QUERY = """
query FlarewatchPerfPaths($z: [String!]!, $f: ZoneHttpRequestsAdaptiveGroupsFilter_InputObject!) {
  viewer { zones(filter: {zoneTag_in: $z}) {
    paths: httpRequestsAdaptiveGroups(limit: 1000, filter: $f, orderBy: [count_DESC]) {
      count dimensions { clientRequestHTTPHost clientRequestPath }
      avg { edgeTimeToFirstByteMs } quantiles { edgeTimeToFirstByteMsP50 edgeTimeToFirstByteMsP99 }
    }
    failures: httpRequestsAdaptiveGroups(limit: 1000,
        filter: {AND: [$f, {edgeResponseStatus_geq: 500}]}) {
      count dimensions { clientRequestHTTPHost clientRequestPath }
    }
  } } }
"""


def account_variables(
    account_id: str, since: float, until: float, worker: str | None
) -> dict[str, Any]:
    """Variables of :data:`ACCOUNT_QUERY` (``worker`` narrows the Workers datasets)."""
    window = {"datetime_geq": iso(since), "datetime_lt": iso(until, up=True)}
    workers = {**window, "scriptName": worker} if worker else dict(window)
    return {"a": account_id, "w": workers, "t": window}


def zones_variables(
    zone_ids: Sequence[str], since: float, until: float, hosts: Iterable[str] = ()
) -> dict[str, Any]:
    """Variables of :data:`ZONES_QUERY` (``hosts`` narrows to those hostnames)."""
    flt: dict[str, Any] = {"datetime_geq": iso(since), "datetime_lt": iso(until, up=True)}
    chosen = sorted(set(hosts))
    if chosen:
        flt["clientRequestHTTPHost_in"] = chosen
    return {"z": list(zone_ids), "f": flt}


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _rows(data: Mapping[str, Any], scope: str, alias: str) -> list[Mapping[str, Any]]:
    viewer = data.get("viewer") or {}
    found: list[Mapping[str, Any]] = []
    for node in viewer.get(scope) or []:
        found += [r for r in node.get(alias) or [] if isinstance(r, Mapping)]
    return found


def parse_account(
    data: Mapping[str, Any],
) -> tuple[
    tuple[WorkerTotals, ...], dict[str, tuple[Bucket, ...]], dict[tuple[str, str], ResourceStats]
]:
    """Workers, their five-minute series and resource statistics from an account answer."""
    statuses: dict[str, Counter[str]] = {}
    for row in _rows(data, "accounts", "statuses"):
        dims = row.get("dimensions") or {}
        script = str(dims.get("scriptName", ""))
        statuses.setdefault(script, Counter())[str(dims.get("status", ""))] += int(
            _num((row.get("sum") or {}).get("requests"))
        )
    workers = []
    for row in _rows(data, "accounts", "scripts"):
        script = str((row.get("dimensions") or {}).get("scriptName", ""))
        total = row.get("sum") or {}
        q = row.get("quantiles") or {}
        workers.append(
            WorkerTotals(
                script=script,
                requests=int(_num(total.get("requests"))),
                errors=int(_num(total.get("errors"))),
                subrequests=int(_num(total.get("subrequests"))),
                cpu_ms_total=_num(total.get("cpuTimeUs")) / 1000,
                wall_ms_total=_num(total.get("wallTime")) / 1000,
                cpu=Quantiles(*(_num(q.get(f"cpuTimeP{p}")) / 1000 for p in (50, 90, 99))),
                wall=Quantiles(*(_num(q.get(f"wallTimeP{p}")) / 1000 for p in (50, 90, 99))),
                statuses=dict(statuses.get(script, Counter())),
            )
        )
    series: dict[str, list[Bucket]] = {}
    for row in _rows(data, "accounts", "series"):
        dims = row.get("dimensions") or {}
        total = row.get("sum") or {}
        q = row.get("quantiles") or {}
        series.setdefault(str(dims.get("scriptName", "")), []).append(
            Bucket(
                start=str(dims.get("datetimeFiveMinutes", "")),
                requests=int(_num(total.get("requests"))),
                errors=int(_num(total.get("errors"))),
                wall_p50=_num(q.get("wallTimeP50")) / 1000,
                wall_p99=_num(q.get("wallTimeP99")) / 1000,
            )
        )
    resources: dict[tuple[str, str], ResourceStats] = {}
    for row in _rows(data, "accounts", "kv"):
        ns = str((row.get("dimensions") or {}).get("namespaceId", ""))
        q = row.get("quantiles") or {}
        resources[("kv", ns)] = ResourceStats(
            "kv",
            ns,
            int(_num((row.get("sum") or {}).get("requests"))),
            _num(q.get("latencyMsP50")),
            _num(q.get("latencyMsP99")),
        )
    for row in _rows(data, "accounts", "d1"):
        db = str((row.get("dimensions") or {}).get("databaseId", ""))
        total = row.get("sum") or {}
        q = row.get("quantiles") or {}
        resources[("d1", db)] = ResourceStats(
            "d1",
            db,
            int(_num(total.get("readQueries")) + _num(total.get("writeQueries"))),
            _num(q.get("queryBatchTimeMsP50")),
            _num(q.get("queryBatchTimeMsP99")),
        )
    r2: dict[str, list[int]] = {}
    for row in _rows(data, "accounts", "r2"):
        dims = row.get("dimensions") or {}
        counts = r2.setdefault(str(dims.get("bucketName", "")), [0, 0])
        n = int(_num((row.get("sum") or {}).get("requests")))
        counts[0] += n
        if dims.get("actionStatus") not in (None, "success"):
            counts[1] += n
    for bucket, (operations, errors) in r2.items():
        resources[("r2", bucket)] = ResourceStats("r2", bucket, operations, errors=errors)
    return (
        tuple(workers),
        {k: tuple(sorted(v, key=lambda b: b.start)) for k, v in series.items()},
        resources,
    )


def parse_paths(data: Mapping[str, Any]) -> tuple[PathStats, ...]:
    """Per hostname and path: requests, 5xx answers and time to first byte."""
    failures: Counter[tuple[str, str]] = Counter()
    for row in _rows(data, "zones", "failures"):
        dims = row.get("dimensions") or {}
        key = (str(dims.get("clientRequestHTTPHost", "")), str(dims.get("clientRequestPath", "")))
        failures[key] += int(_num(row.get("count")))
    paths = []
    for row in _rows(data, "zones", "paths"):
        dims = row.get("dimensions") or {}
        key = (str(dims.get("clientRequestHTTPHost", "")), str(dims.get("clientRequestPath", "")))
        q = row.get("quantiles") or {}
        paths.append(
            PathStats(
                host=key[0],
                path=key[1] or "/",
                requests=int(_num(row.get("count"))),
                errors=failures.get(key, 0),
                ttfb_avg=_num((row.get("avg") or {}).get("edgeTimeToFirstByteMs")),
                p50=_num(q.get("edgeTimeToFirstByteMsP50")),
                p99=_num(q.get("edgeTimeToFirstByteMsP99")),
            )
        )
    return tuple(paths)


def bindings_of(raw: Iterable[Mapping[str, Any]]) -> tuple[Binding, ...]:
    """A Worker's KV, D1, R2 and service bindings from its settings."""
    found: list[Binding] = []
    for item in raw:
        kind = _BINDING_TYPES.get(str(item.get("type", "")))
        name = str(item.get("name", ""))
        if kind == "kv" and item.get("namespace_id"):
            found.append(Binding("kv", str(item["namespace_id"]), name, name))
        elif kind == "d1" and (item.get("id") or item.get("database_id")):
            db = str(item.get("id") or item.get("database_id"))
            found.append(Binding("d1", db, str(item.get("database_name") or db), name))
        elif kind == "r2" and item.get("bucket_name"):
            bucket = str(item["bucket_name"])
            found.append(Binding("r2", bucket, bucket, name))
        elif kind == "service":
            service = str(item.get("service", name))
            found.append(Binding("service", service, service, name))
    return tuple(found)


def named(
    bindings: Mapping[str, Sequence[Binding]],
    databases: Mapping[str, str],
    namespaces: Mapping[str, str],
) -> dict[str, tuple[Binding, ...]]:
    """Bindings labelled with their resources' names (D1 database, KV namespace title)."""
    names = {"d1": databases, "kv": namespaces}
    return {
        script: tuple(
            replace(b, label=names.get(b.kind, {}).get(b.resource, b.label)) for b in items
        )
        for script, items in bindings.items()
    }


# ----------------------------------------------------------------------------- stored events


def evidence_from_rows(rows: Iterable[Any]) -> tuple[dict[str, Evidence], dict[str, set[str]]]:
    """Per Worker: stored events, error events, binding errors the catalogue recognises; and
    the hostnames each Worker was seen serving (from the events' URLs)."""
    from urllib.parse import urlsplit

    from ops.errors_catalog import explain
    from ops.logevents import Level

    events: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    binding: dict[str, Counter[tuple[str, str]]] = {}
    hosts: dict[str, set[str]] = {}
    for row in rows:
        if getattr(row, "kind", "") != "worker":
            continue
        script = str(row.service)
        events[script] += 1
        host = urlsplit(str(row.url or "")).hostname
        if host:
            hosts.setdefault(script, set()).add(host.lower())
        if row.level < Level.ERROR and not row.exceptions:
            continue
        errors[script] += 1
        texts = [line for line in str(row.message or "").splitlines() if line.strip()]
        texts += [f"{e.name}: {e.message}" for e in row.exceptions]
        seen: set[tuple[str, str]] = set()
        for text in texts:
            for item in explain(text)[:1]:
                entry = item.entry
                if entry.service in ("kv", "d1", "r2"):
                    seen.add((entry.service, entry.title))
        for key in seen:
            binding.setdefault(script, Counter())[key] += 1
    evidence = {
        script: Evidence(events[script], errors[script], dict(binding.get(script, Counter())))
        for script in events
    }
    return evidence, hosts


def read_store(
    path: Path, since: float, until: float, scripts: Sequence[str], limit: int = 20_000
) -> tuple[dict[str, Evidence], dict[str, set[str]]]:
    """Evidence and hostnames from the log store (nothing when it does not exist)."""
    from ops.logstore import LogStore, StoreError

    if not path.exists():
        return {}, {}
    try:
        with LogStore(path, create=False) as store:
            rows = store.query(since, until, service=list(scripts), limit=limit, kinds=("worker",))
    except StoreError as err:
        raise PerfError(str(err), bad_input=True) from err
    return evidence_from_rows(rows)


# ----------------------------------------------------------------------------- collection


async def collect(
    cf: CloudflareClient,
    account_id: str,
    since: float,
    until: float,
    *,
    worker: str | None = None,
    hosts: Sequence[str] = (),
    store: Path | None = None,
) -> PerfInputs:
    """Ask Cloudflare (two GraphQL queries, the scripts list, settings of the busiest
    Workers, the zones) and read the store; raise :class:`PerfError` for an unknown Worker."""
    scripts = [s.id for s in await cf.workers.list_scripts(account_id) if s.id]
    if worker is not None and worker not in scripts:
        known = ", ".join(sorted(scripts)) or "none"
        raise PerfError(
            f"no Worker named {worker!r} in the account (Workers: {known})", bad_input=True
        )
    data = await cf.graphql.query(
        ACCOUNT_QUERY, account_variables(account_id, since, until, worker)
    )
    workers, series, resources = parse_account(data)
    if worker is not None and not any(w.script == worker for w in workers):
        workers = (*workers, WorkerTotals(worker, 0))
    busiest = [w.script for w in sorted(workers, key=lambda w: -w.requests) if w.script in scripts]
    bindings: dict[str, tuple[Binding, ...]] = {}
    for script in busiest[:MAX_WORKERS]:
        settings = await cf.workers.settings(account_id, script)
        bindings[script] = bindings_of(settings.bindings or [])
    kinds = {b.kind for items in bindings.values() for b in items}
    databases = (
        {db.uuid: db.name async for db in cf.d1.databases(account_id) if db.name}
        if "d1" in kinds
        else {}
    )
    namespaces = (
        {ns.id: ns.title async for ns in cf.kv.namespaces(account_id)} if "kv" in kinds else {}
    )
    bindings = named(bindings, databases, namespaces)
    evidence: dict[str, Evidence] = {}
    seen_hosts: dict[str, set[str]] = {}
    if store is not None:
        evidence, seen_hosts = read_store(store, since, until, [w.script for w in workers])
    attributed = {script: frozenset(h) for script, h in seen_hosts.items()}
    if worker is not None and hosts:
        attributed[worker] = frozenset(h.lower() for h in hosts)
    zone_ids = [z.id async for z in cf.zones.list(account_id=account_id)]
    wanted = attributed.get(worker, frozenset()) if worker is not None else frozenset()
    paths: list[PathStats] = []
    for start in range(0, len(zone_ids), 10):
        answer = await cf.graphql.query(
            ZONES_QUERY, zones_variables(zone_ids[start : start + 10], since, until, wanted)
        )
        paths += parse_paths(answer)
    return PerfInputs(
        since=since,
        until=until,
        workers=workers,
        series=series,
        bindings=bindings,
        resources=resources,
        paths=tuple(paths),
        hosts=attributed,
        evidence=evidence,
    )
