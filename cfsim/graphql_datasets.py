"""The GraphQL Analytics datasets the simulator serves: their fields and where rows come from.

Field names follow Cloudflare's schema as documented (cloudflare-docs metrics pages, the
Workers GraphQL tutorial) and as used by public exporters; units follow Cloudflare:
``cpuTime``/``wallTime`` in microseconds, ``duration`` in GB-seconds (wall time x 128 MB, [I]:
derived from published responses where ``durationP50 == wallTimeP50 / 1e6 * 0.125``),
``latencyMs``/``queryBatchTimeMs``/``queryDurationMs`` in milliseconds, sizes in bytes.

Rows come from three places, all turned into :class:`~cfsim.graphql_model.Record` here:
samples the simulator really served, background traffic (synthesised deterministically per
minute slice) and storage readings (current usage of buckets, databases and namespaces).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cfsim.analytics import BackgroundTraffic, Sample
from cfsim.graphql_model import SPREAD_MAX, SPREAD_MEAN, DimValue, Record, slices

DimType = Literal["string", "int"]
Scope = Literal["account", "zone"]

# Percentile suffixes and the quantile each one asks for.
LEVELS: Mapping[str, float] = {
    "P25": 0.25,
    "P50": 0.5,
    "P75": 0.75,
    "P90": 0.9,
    "P95": 0.95,
    "P99": 0.99,
    "P999": 0.999,
}

WORKER_MEMORY_GB = 0.125  # duration (GB-s) = wall seconds x 128 MB [I]

# Invocation statuses of Workers analytics (docs: workers/observability/metrics-and-analytics).
WORKER_STATUSES = frozenset(
    {"success", "clientDisconnected", "scriptThrewException", "exceededResources", "internalError"}
)
_STATUS_ALIASES = {
    "ok": "success",
    "error": "scriptThrewException",
    "exception": "scriptThrewException",
    "exceededCpu": "exceededResources",
    "exceededMemory": "exceededResources",
    "canceled": "clientDisconnected",
    "unknown": "internalError",
}


@dataclass(frozen=True)
class Measure:
    """A metric field: the record measure it reads and whether Cloudflare answers an integer."""

    source: str
    integer: bool = True


@dataclass(frozen=True)
class Quantile:
    """A quantile field: measure, level and integer-ness."""

    source: str
    q: float
    integer: bool = False


@dataclass(frozen=True)
class StorageReading:
    """Current usage of one stored thing (bucket, database, namespace)."""

    subject: str
    values: Mapping[str, int]
    storage_class: str = "Standard"


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its scope, fields, and how records are built for it."""

    name: str
    scope: Scope
    kind: str
    dimensions: Mapping[str, DimType]
    sums: Mapping[str, Measure] = field(default_factory=dict)
    avgs: Mapping[str, Measure] = field(default_factory=dict)
    maxes: Mapping[str, Measure] = field(default_factory=dict)
    quantiles: Mapping[str, Quantile] = field(default_factory=dict)
    has_count: bool = True
    storage: bool = False

    def blocks(self) -> Mapping[str, Mapping[str, object]]:
        """Metric blocks by name (``sum``, ``avg``, ``max``, ``quantiles``)."""
        return {"sum": self.sums, "avg": self.avgs, "max": self.maxes, "quantiles": self.quantiles}


def _quantiles(
    base: str, levels: Sequence[str], *, source: str | None = None, integer: bool = False
) -> dict[str, Quantile]:
    return {f"{base}{lvl}": Quantile(source or base, LEVELS[lvl], integer) for lvl in levels}


_INVOCATION_SUMS = {
    "requests": Measure("requests"),
    "errors": Measure("errors"),
    "subrequests": Measure("subrequests"),
    "clientDisconnects": Measure("clientDisconnects"),
    "cpuTimeUs": Measure("cpuTime"),
    "wallTime": Measure("wallTime"),
    "duration": Measure("duration", integer=False),
    "responseBodySize": Measure("responseBodySize"),
}
_INVOCATION_MAXES = {
    "cpuTime": Measure("cpuTime"),
    "wallTime": Measure("wallTime"),
    "duration": Measure("duration", integer=False),
    "responseBodySize": Measure("responseBodySize"),
}
_ALL_LEVELS = ("P25", "P50", "P75", "P90", "P99", "P999")
_INVOCATION_QUANTILES = {
    **_quantiles("cpuTime", _ALL_LEVELS, integer=True),
    **_quantiles("wallTime", _ALL_LEVELS, integer=True),
    **_quantiles("duration", _ALL_LEVELS),
    **_quantiles("responseBodySize", _ALL_LEVELS, integer=True),
}
_SAMPLE_INTERVAL = {"sampleInterval": Measure("", integer=False)}

DATASETS: Mapping[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="workersInvocationsAdaptive",
            scope="account",
            kind="workers",
            dimensions={"scriptName": "string", "status": "string"},
            sums=_INVOCATION_SUMS,
            avgs=_SAMPLE_INTERVAL,
            maxes=_INVOCATION_MAXES,
            quantiles=_INVOCATION_QUANTILES,
            # [I] the Workers node counts with sum{requests}; no top-level count is documented.
            has_count=False,
        ),
        DatasetSpec(
            name="pagesFunctionsInvocationsAdaptiveGroups",
            scope="account",
            kind="pages",
            dimensions={"scriptName": "string", "status": "string"},
            sums=_INVOCATION_SUMS,
            avgs=_SAMPLE_INTERVAL,
            maxes=_INVOCATION_MAXES,
            quantiles=_INVOCATION_QUANTILES,
        ),
        DatasetSpec(
            name="kvOperationsAdaptiveGroups",
            scope="account",
            kind="kv",
            dimensions={"namespaceId": "string", "actionType": "string"},
            sums={"requests": Measure("requests"), "objectBytes": Measure("objectBytes")},
            avgs=_SAMPLE_INTERVAL,
            quantiles=_quantiles("latencyMs", _ALL_LEVELS),
        ),
        DatasetSpec(
            name="kvStorageAdaptiveGroups",
            scope="account",
            kind="kv",
            dimensions={"namespaceId": "string"},
            maxes={"keyCount": Measure("keyCount"), "byteCount": Measure("byteCount")},
            storage=True,
        ),
        DatasetSpec(
            name="r2OperationsAdaptiveGroups",
            scope="account",
            kind="r2",
            dimensions={
                "actionType": "string",
                "actionStatus": "string",
                "bucketName": "string",
                "objectName": "string",
                "responseStatusCode": "int",
                "storageClass": "string",
            },
            sums={
                "requests": Measure("requests"),
                "responseBytes": Measure("responseBytes"),
                "responseObjectSize": Measure("responseObjectSize"),
            },
            avgs=_SAMPLE_INTERVAL,
        ),
        DatasetSpec(
            name="r2StorageAdaptiveGroups",
            scope="account",
            kind="r2",
            dimensions={"bucketName": "string", "storageClass": "string"},
            maxes={
                "objectCount": Measure("objectCount"),
                "uploadCount": Measure("uploadCount"),
                "payloadSize": Measure("payloadSize"),
                "metadataSize": Measure("metadataSize"),
            },
            storage=True,
        ),
        DatasetSpec(
            name="d1AnalyticsAdaptiveGroups",
            scope="account",
            kind="d1",
            dimensions={"databaseId": "string"},
            sums={
                "readQueries": Measure("readQueries"),
                "writeQueries": Measure("writeQueries"),
                "rowsRead": Measure("rowsRead"),
                "rowsWritten": Measure("rowsWritten"),
                "queryBatchResponseBytes": Measure("queryBatchResponseBytes"),
            },
            avgs={
                "queryBatchTimeMs": Measure("queryBatchTimeMs", integer=False),
                "queryBatchResponseBytes": Measure("queryBatchResponseBytes", integer=False),
                "sampleInterval": Measure("", integer=False),
            },
            quantiles=_quantiles("queryBatchTimeMs", ("P50", "P90", "P99")),
        ),
        DatasetSpec(
            name="d1StorageAdaptiveGroups",
            scope="account",
            kind="d1",
            dimensions={"databaseId": "string"},
            maxes={"databaseSizeBytes": Measure("databaseSizeBytes")},
            storage=True,
        ),
        DatasetSpec(
            name="d1QueriesAdaptiveGroups",
            scope="account",
            kind="d1",
            dimensions={"databaseId": "string", "query": "string"},
            sums={
                "queryDurationMs": Measure("queryDurationMs", integer=False),
                "rowsRead": Measure("rowsRead"),
                "rowsWritten": Measure("rowsWritten"),
            },
            avgs={
                "queryDurationMs": Measure("queryDurationMs", integer=False),
                "rowsRead": Measure("rowsRead", integer=False),
                "rowsWritten": Measure("rowsWritten", integer=False),
            },
            quantiles=_quantiles("queryDurationMs", ("P50", "P95", "P99")),
        ),
        DatasetSpec(
            name="healthCheckEventsAdaptiveGroups",
            scope="zone",
            kind="healthcheck",
            dimensions={
                "healthCheckName": "string",
                "healthCheckId": "string",
                "healthStatus": "string",
                "failureReason": "string",
                "originIP": "string",
                "originResponseStatus": "int",
                "region": "string",
                "fqdn": "string",
            },
            avgs={"rttMs": Measure("rttMs", integer=False), **_SAMPLE_INTERVAL},
        ),
        DatasetSpec(
            name="loadBalancingRequestsAdaptiveGroups",
            scope="zone",
            kind="lb",
            dimensions={
                "lbName": "string",
                "selectedPoolName": "string",
                "selectedPoolId": "string",
                "selectedPoolHealthy": "int",
                "selectedOriginName": "string",
                "steeringPolicy": "string",
                "region": "string",
                "coloCode": "string",
                "proxied": "int",
            },
            avgs=_SAMPLE_INTERVAL,
        ),
        DatasetSpec(
            # What the zone's edge answered, per hostname, path and status (rows built by
            # cfsim.graphql_http). For a Worker route the time to first byte is the
            # invocation's wall time [I: origin timings are empty behind Workers].
            name="httpRequestsAdaptiveGroups",
            scope="zone",
            kind="http",
            dimensions={
                "clientRequestHTTPHost": "string",
                "clientRequestPath": "string",
                "edgeResponseStatus": "int",
            },
            sums={"edgeResponseBytes": Measure("edgeResponseBytes")},
            avgs={
                "edgeTimeToFirstByteMs": Measure("edgeTimeToFirstByteMs", integer=False),
                **_SAMPLE_INTERVAL,
            },
            quantiles=_quantiles("edgeTimeToFirstByteMs", ("P50", "P75", "P90", "P95", "P99")),
        ),
    )
}


def worker_status(status: str) -> str:
    """Map a recorded outcome to one of Cloudflare's Workers invocation statuses."""
    if status in WORKER_STATUSES:
        return status
    return _STATUS_ALIASES.get(status, "scriptThrewException")


def r2_action_status(sample: Sample) -> str:
    """R2's ``actionStatus``: ``success``, ``userError`` or ``internalError``."""
    if sample.status in {"userError", "internalError"}:
        return sample.status
    if sample.http_status >= 500:
        return "internalError"
    if sample.http_status >= 400 or sample.status == "error":
        return "userError"
    return "success"


Wanted = frozenset[str]


def _dists(wanted: Wanted, measures: Mapping[str, float]) -> dict[str, dict[float, float]]:
    """Distributions of the measures a query asks quantiles of (the others cost nothing)."""
    return {name: {value: 1.0} for name, value in measures.items() if name in wanted}


def _invocation(sample: Sample, wanted: Wanted) -> list[Record]:
    status = worker_status(sample.status)
    failed = status not in {"success", "clientDisconnected"}
    cpu_us = round(sample.cpu_ms * 1000)
    wall_us = round(sample.duration_ms * 1000)
    gbs = sample.duration_ms / 1000 * WORKER_MEMORY_GB
    measures = {
        "cpuTime": float(cpu_us),
        "wallTime": float(wall_us),
        "duration": gbs,
        "responseBodySize": float(sample.bytes),
    }
    return [
        Record(
            ts=sample.ts,
            dims={"scriptName": sample.subject, "status": status},
            sums={
                "requests": 1.0,
                "errors": 1.0 if failed else 0.0,
                "subrequests": float(sample.subrequests),
                "clientDisconnects": 1.0 if status == "clientDisconnected" else 0.0,
                **measures,
            },
            maxes=dict(measures),
            dists=_dists(wanted, measures),
        )
    ]


def _kv_operation(sample: Sample, wanted: Wanted) -> list[Record]:
    return [
        Record(
            ts=sample.ts,
            dims={"namespaceId": sample.subject, "actionType": sample.action or "read"},
            sums={"requests": 1.0, "objectBytes": float(sample.bytes)},
            dists=_dists(wanted, {"latencyMs": sample.duration_ms}),
        )
    ]


def _r2_operation(sample: Sample, wanted: Wanted) -> list[Record]:
    return [
        Record(
            ts=sample.ts,
            dims={
                "actionType": sample.action,
                "actionStatus": r2_action_status(sample),
                "bucketName": sample.subject,
                "objectName": sample.item,
                "responseStatusCode": sample.http_status,
                "storageClass": "Standard",
            },
            sums={
                "requests": 1.0,
                "responseBytes": float(sample.bytes),
                "responseObjectSize": float(sample.bytes),
            },
        )
    ]


def is_write(sample: Sample) -> bool:
    """Whether a D1 sample counts as a write query."""
    return sample.action == "write" or sample.rows_written > 0


def _d1_batch(sample: Sample, wanted: Wanted) -> list[Record]:
    write = is_write(sample)
    return [
        Record(
            ts=sample.ts,
            dims={"databaseId": sample.subject},
            sums={
                "readQueries": 0.0 if write else 1.0,
                "writeQueries": 1.0 if write else 0.0,
                "rowsRead": float(sample.rows_read),
                "rowsWritten": float(sample.rows_written),
                "queryBatchResponseBytes": float(sample.bytes),
                "queryBatchTimeMs": sample.duration_ms,
            },
            dists=_dists(wanted, {"queryBatchTimeMs": sample.duration_ms}),
        )
    ]


def _d1_query(sample: Sample, wanted: Wanted) -> list[Record]:
    return [
        Record(
            ts=sample.ts,
            dims={"databaseId": sample.subject, "query": sample.item},
            sums={
                "queryDurationMs": sample.duration_ms,
                "rowsRead": float(sample.rows_read),
                "rowsWritten": float(sample.rows_written),
            },
            dists=_dists(wanted, {"queryDurationMs": sample.duration_ms}),
        )
    ]


# Per dataset: (sample, measures whose quantiles are wanted) -> records.
SAMPLE_BUILDERS: Mapping[str, Callable[[Sample, Wanted], list[Record]]] = {
    "workersInvocationsAdaptive": _invocation,
    "pagesFunctionsInvocationsAdaptiveGroups": _invocation,
    "kvOperationsAdaptiveGroups": _kv_operation,
    "r2OperationsAdaptiveGroups": _r2_operation,
    "d1AnalyticsAdaptiveGroups": _d1_batch,
    "d1QueriesAdaptiveGroups": _d1_query,
}


def events_between(rate: float, start: float, end: float) -> int:
    """Events of a steady ``rate``/s stream in ``[start, end)``, additive across intervals.

    Event ``n`` happens at ``n / rate`` since the epoch, so any split of a window into
    slices adds up to the same total: the synthesis is deterministic and consistent.
    """
    if rate <= 0 or end <= start:
        return 0
    return int(rate * end) - int(rate * start)


def errors_between(traffic: BackgroundTraffic, start: float, end: float) -> int:
    """How many of the events in ``[start, end)`` failed (every ``1/error_ratio``-th one)."""
    first = int(traffic.rps * start)
    last = int(traffic.rps * end)
    return int(last * traffic.error_ratio) - int(first * traffic.error_ratio)


def _bundle(
    ts: float, dims: dict[str, DimValue], count: int, typical: Mapping[str, float]
) -> Record:
    """``count`` events whose measures spread around ``typical`` values."""
    return Record(
        ts=ts,
        dims=dims,
        count=float(count),
        sums={name: value * SPREAD_MEAN * count for name, value in typical.items()},
        maxes={name: value * SPREAD_MAX for name, value in typical.items()},
        spread={name: {value: float(count)} for name, value in typical.items()},
    )


def _background_slice(
    dataset: str, traffic: BackgroundTraffic, ts: float, total: int, errors: int
) -> list[Record]:
    ok = total - errors
    records: list[Record] = []
    if dataset in {"workersInvocationsAdaptive", "pagesFunctionsInvocationsAdaptiveGroups"}:
        timing = {
            "cpuTime": traffic.cpu_ms * 1000,
            "wallTime": traffic.duration_ms * 1000,
            "duration": traffic.duration_ms / 1000 * WORKER_MEMORY_GB,
        }
        for status, count in (("success", ok), ("scriptThrewException", errors)):
            if count:
                rec = _bundle(ts, {"scriptName": traffic.subject, "status": status}, count, timing)
                rec.sums.update(
                    requests=float(count),
                    errors=float(count if status != "success" else 0),
                    subrequests=0.0,
                    clientDisconnects=0.0,
                    responseBodySize=0.0,
                )
                records.append(rec)
    elif dataset == "kvOperationsAdaptiveGroups":
        rec = _bundle(
            ts,
            {"namespaceId": traffic.subject, "actionType": "read"},
            total,
            {"latencyMs": traffic.latency_ms},
        )
        rec.sums.update(requests=float(total), objectBytes=0.0)
        records.append(rec)
    elif dataset == "r2OperationsAdaptiveGroups":
        for status, code, count in (("success", 200, ok), ("internalError", 500, errors)):
            if count:
                dims: dict[str, DimValue] = {
                    "actionType": "GetObject",
                    "actionStatus": status,
                    "bucketName": traffic.subject,
                    "objectName": "",
                    "responseStatusCode": code,
                    "storageClass": "Standard",
                }
                records.append(
                    Record(
                        ts=ts,
                        dims=dims,
                        count=float(count),
                        sums={
                            "requests": float(count),
                            "responseBytes": 0.0,
                            "responseObjectSize": 0.0,
                        },
                    )
                )
    elif dataset == "d1AnalyticsAdaptiveGroups":
        # [I] background D1 traffic is modelled as single-row reads.
        rec = _bundle(
            ts, {"databaseId": traffic.subject}, total, {"queryBatchTimeMs": traffic.latency_ms}
        )
        rec.maxes.clear()
        rec.sums.update(
            readQueries=float(total),
            writeQueries=0.0,
            rowsRead=float(total),
            rowsWritten=0.0,
            queryBatchResponseBytes=0.0,
        )
        records.append(rec)
    elif dataset == "d1QueriesAdaptiveGroups":
        rec = _bundle(
            ts,
            {"databaseId": traffic.subject, "query": BACKGROUND_QUERY},
            total,
            {"queryDurationMs": traffic.latency_ms},
        )
        rec.maxes.clear()
        rec.sums.update(rowsRead=float(total), rowsWritten=0.0)
        records.append(rec)
    return records


BACKGROUND_QUERY = "SELECT 1 -- cfsim background traffic"


def background_records(
    dataset: str, traffic: BackgroundTraffic, start: float, end: float, width: int | None
) -> list[Record]:
    """Synthesise ``traffic`` over ``[start, end)`` as bundles of events, one per slice.

    Slices are ``width`` seconds (see :func:`~cfsim.graphql_model.slices`), each bundle
    stamped with the start of its clipped slice, so grouping by any time dimension at least
    ``width`` wide is exact; ``datetime`` groups show one row per minute, like sampled data.
    """
    records: list[Record] = []
    if dataset not in SAMPLE_BUILDERS:
        return records
    # A steady rate gives the same few (events, errors) pairs slice after slice: build each
    # pair's bundles once and stamp copies with the slice's time. The copies share their
    # mappings, which nothing changes after construction (grouping copies them).
    made: dict[tuple[int, int], list[Record]] = {}
    for lo, hi in slices(start, end, width):
        total = events_between(traffic.rps, lo, hi)
        if total:
            errors = min(total, errors_between(traffic, lo, hi))
            template = made.get((total, errors))
            if template is None:
                template = made[total, errors] = _background_slice(
                    dataset, traffic, lo, total, errors
                )
            records.extend(
                Record(lo, t.dims, t.count, t.sums, t.maxes, t.dists, t.spread) for t in template
            )
    return records


def storage_record(ts: float, spec: DatasetSpec, reading: StorageReading) -> Record:
    """One reading of current usage as a row of a storage dataset."""
    subject_dim = next(iter(spec.dimensions))
    dims: dict[str, DimValue] = {subject_dim: reading.subject}
    if "storageClass" in spec.dimensions:
        dims["storageClass"] = reading.storage_class
    return Record(
        ts=ts, dims=dims, maxes={name: float(value) for name, value in reading.values.items()}
    )
