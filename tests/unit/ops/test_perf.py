"""``perf``'s analysis without Cloudflare: analytics answers and inputs built by hand."""

from __future__ import annotations

from typing import Any

import click
import pytest

from ops.cli_perf import format_report
from ops.logevents import ExceptionInfo, Level, LogRow
from ops.perf import (
    Binding,
    Bucket,
    PathStats,
    PerfInputs,
    Quantiles,
    ResourceStats,
    WorkerTotals,
    account_variables,
    analyse,
    bindings_of,
    evidence_from_rows,
    iso,
    ms,
    named,
    parse_account,
    parse_paths,
    zones_variables,
)

T0 = 1_795_000_000.0
HOUR = 3600.0
API_BINDINGS = (
    Binding("kv", "ns-sessions", "SESSIONS", "SESSIONS"),
    Binding("d1", "db-1", "spacevision-db", "DB"),
    Binding("r2", "uploads", "uploads", "UPLOADS"),
)


def api(**fields: Any) -> WorkerTotals:
    """The api Worker: 3600 requests, 3 ms CPU, 250 ms wall (p50)."""
    values: dict[str, Any] = {
        "script": "api",
        "requests": 3600,
        "errors": 36,
        "cpu_ms_total": 3600 * 3.5,
        "wall_ms_total": 3600 * 300.0,
        "cpu": Quantiles(3.0, 5.0, 9.0),
        "wall": Quantiles(250.0, 400.0, 750.0),
    }
    values.update(fields)
    return WorkerTotals(**values)


def inputs(*workers: WorkerTotals, **fields: Any) -> PerfInputs:
    """An hour of the given Workers, api bound to SESSIONS, spacevision-db and uploads."""
    values: dict[str, Any] = {
        "since": T0,
        "until": T0 + HOUR,
        "workers": workers or (api(),),
        "bindings": {"api": API_BINDINGS},
        "resources": {
            ("kv", "ns-sessions"): ResourceStats("kv", "ns-sessions", 3600, 2.0, 6.0),
            ("d1", "db-1"): ResourceStats("d1", "db-1", 3600, 230.0, 690.0),
            ("r2", "uploads"): ResourceStats("r2", "uploads", 720, errors=7),
        },
    }
    values.update(fields)
    return PerfInputs(**values)


def test_rates_ratios_and_waiting() -> None:
    """Rate per second, error ratio, and waiting = wall - CPU (mean and median)."""
    [worker] = analyse(inputs()).workers
    assert (1.0, 0.01) == (worker.rate_per_s, worker.error_ratio)
    assert (296.5, 247.0) == (worker.wait_mean_ms, worker.wait_p50_ms)
    assert worker.waiting_dominates


def test_the_slowest_binding_is_named_with_its_numbers() -> None:
    """One D1 batch per request at 230 ms explains 93% of a 247 ms median wait."""
    [worker] = analyse(inputs()).workers
    assert "D1 spacevision-db" == worker.bottleneck
    assert "1.00 operations/request × p50 230 ms ≈ 230 ms (93% of the waiting)" in worker.verdict
    assert [("d1", 230.0), ("kv", 2.0), ("r2", None)] == [
        (c.kind, c.estimated_ms) for c in worker.contributors
    ]
    assert pytest.approx(15.0) == worker.unexplained_ms


def test_a_cpu_bound_worker() -> None:
    """When CPU is most of the wall time, bindings are not blamed."""
    busy = api(cpu_ms_total=3600 * 30.0, wall_ms_total=3600 * 35.0, cpu=Quantiles(30, 40, 80))
    [worker] = analyse(inputs(busy)).workers
    assert (False, None) == (worker.waiting_dominates, worker.bottleneck)
    assert worker.verdict.startswith("CPU dominates (86% of wall time, p99 CPU 80 ms)")


def test_subrequests_are_suspected_when_bindings_explain_little() -> None:
    """Fast bindings and 3 subrequests per request: the fetches (or R2, whose latency is not
    reported) are the likely wait, fetches first."""
    fast = {
        ("kv", "ns-sessions"): ResourceStats("kv", "ns-sessions", 3600, 2.0, 6.0),
        ("d1", "db-1"): ResourceStats("d1", "db-1", 3600, 4.0, 9.0),
        ("r2", "uploads"): ResourceStats("r2", "uploads", 360),
    }
    [worker] = analyse(inputs(api(subrequests=10800), resources=fast)).workers
    assert "subrequests" == worker.bottleneck
    assert "likely 3.00 subrequests/request (fetch) or R2 uploads" in worker.verdict


def test_unexplained_waiting_is_not_blamed_on_anything() -> None:
    """No binding traffic, no subrequests: perf says what it cannot see."""
    [worker] = analyse(inputs(resources={})).workers
    assert worker.bottleneck is None
    assert "neither bindings nor subrequests account for it" in worker.verdict


def test_a_shared_resource_is_split_by_request_volume() -> None:
    """Two Workers on one database: each is charged its share of the batches."""
    images = WorkerTotals("images", 1200, wall=Quantiles(250, 300, 400), wall_ms_total=1200 * 250)
    bindings = {"api": API_BINDINGS, "images": (Binding("d1", "db-1", "spacevision-db", "DB"),)}
    report = analyse(inputs(api(), images, bindings=bindings))
    d1 = next(c for c in report.workers[0].contributors if c.kind == "d1")
    assert (0.75, ("images",)) == (d1.per_request, d1.shared_with)


def test_a_worker_without_requests() -> None:
    """Nothing to analyse, and it says so."""
    [worker] = analyse(inputs(api(requests=0, errors=0))).workers
    assert ("no requests in the window", 0.0) == (worker.verdict, worker.rate_per_s)


def test_slow_paths_belong_to_their_worker_and_outliers_are_flagged() -> None:
    """Paths of the Worker's hosts, slowest first; a p99 far above its p50 is an outlier."""
    paths = (
        PathStats("api.example.com", "/fast", 100, 0, 3.0, 2.0, 4.0),
        PathStats("api.example.com", "/report", 10, 2, 900.0, 800.0, 2400.0),
        PathStats("www.example.com", "/", 50, 0, 20.0, 15.0, 40.0),
    )
    report = analyse(inputs(paths=paths, hosts={"api": frozenset({"api.example.com"})}))
    worker = report.workers[0]
    assert ["/report", "/fast"] == [p.path for p in worker.slow_paths]
    assert [("path", "api.example.com/report")] == [(o.kind, o.subject) for o in worker.outliers]
    assert ["www.example.com/"] == [p.route for p in report.other_paths]


def test_time_buckets_slower_or_failing_are_outliers() -> None:
    """A five-minute window whose median doubled, or whose errors spiked, stands out."""
    usual = [Bucket(f"T{i}", 300, 3, 250.0, 700.0) for i in range(5)]
    spikes = [Bucket("slow", 300, 3, 900.0, 2000.0), Bucket("failing", 300, 90, 250.0, 700.0)]
    [worker] = analyse(inputs(series={"api": (*usual, *spikes)})).workers
    assert [("time", "slow"), ("time", "failing")] == [(o.kind, o.subject) for o in worker.outliers]
    assert "3.6× the usual 250 ms" in worker.outliers[0].detail
    assert "errors 30.0% (90 of 300)" in worker.outliers[1].detail


def test_the_json_form_carries_routes_and_statuses() -> None:
    """--json is the same report as data."""
    paths = (PathStats("api.example.com", "/x", 1, 0, 1.0, 1.0, 1.0),)
    data = analyse(
        inputs(api(statuses={"success": 3564}), paths=paths, hosts={"api": frozenset()})
    ).to_dict()
    assert ("2026-11-18T11:06:40Z", {"success": 3564}) == (
        data["since"],
        data["workers"][0]["statuses"],
    )
    assert "api.example.com/x" == data["other_paths"][0]["route"]


ACCOUNT_ANSWER: dict[str, Any] = {
    "viewer": {
        "accounts": [
            {
                "scripts": [
                    {
                        "dimensions": {"scriptName": "api"},
                        "sum": {
                            "requests": 10,
                            "errors": 1,
                            "subrequests": 5,
                            "cpuTimeUs": 30000,
                            "wallTime": 2500000,
                        },
                        "quantiles": {
                            "cpuTimeP50": 3000,
                            "cpuTimeP90": 4000,
                            "cpuTimeP99": 9000,
                            "wallTimeP50": 250000,
                            "wallTimeP90": 300000,
                            "wallTimeP99": 700000,
                        },
                    }
                ],
                "statuses": [
                    {
                        "dimensions": {"scriptName": "api", "status": "success"},
                        "sum": {"requests": 9},
                    },
                    {
                        "dimensions": {"scriptName": "api", "status": "scriptThrewException"},
                        "sum": {"requests": 1},
                    },
                ],
                "series": [
                    {
                        "dimensions": {"scriptName": "api", "datetimeFiveMinutes": "T1"},
                        "sum": {"requests": 10, "errors": 1},
                        "quantiles": {"wallTimeP50": 250000, "wallTimeP99": 700000},
                    }
                ],
                "kv": [
                    {
                        "dimensions": {"namespaceId": "ns"},
                        "sum": {"requests": 10},
                        "quantiles": {"latencyMsP50": 2, "latencyMsP99": 7},
                    }
                ],
                "d1": [
                    {
                        "dimensions": {"databaseId": "db"},
                        "sum": {"readQueries": 8, "writeQueries": 2},
                        "quantiles": {"queryBatchTimeMsP50": 230, "queryBatchTimeMsP99": 600},
                    }
                ],
                "r2": [
                    {
                        "dimensions": {"bucketName": "b", "actionStatus": "success"},
                        "sum": {"requests": 4},
                    },
                    {
                        "dimensions": {"bucketName": "b", "actionStatus": "internalError"},
                        "sum": {"requests": 1},
                    },
                ],
            }
        ]
    }
}


def test_account_answers_become_workers_series_and_resources() -> None:
    """Microseconds become milliseconds; D1 reads and writes add up; R2 failures count."""
    workers, series, resources = parse_account(ACCOUNT_ANSWER)
    [worker] = workers
    assert (10, 1, 5, 30.0, 2500.0) == (
        worker.requests,
        worker.errors,
        worker.subrequests,
        worker.cpu_ms_total,
        worker.wall_ms_total,
    )
    assert (Quantiles(3.0, 4.0, 9.0), Quantiles(250.0, 300.0, 700.0)) == (worker.cpu, worker.wall)
    assert {"success": 9, "scriptThrewException": 1} == worker.statuses
    assert (Bucket("T1", 10, 1, 250.0, 700.0),) == series["api"]
    assert ResourceStats("kv", "ns", 10, 2.0, 7.0) == resources[("kv", "ns")]
    assert ResourceStats("d1", "db", 10, 230.0, 600.0) == resources[("d1", "db")]
    assert ResourceStats("r2", "b", 5, errors=1) == resources[("r2", "b")]


def test_an_empty_answer_is_no_traffic() -> None:
    """Missing or null blocks are read as nothing, not as an error."""
    assert ((), {}, {}) == parse_account({"viewer": {"accounts": [{}]}})


def test_zone_answers_become_paths_with_their_failures() -> None:
    """Counts, 5xx failures and time to first byte per hostname and path."""
    answer = {
        "viewer": {
            "zones": [
                {
                    "paths": [
                        {
                            "count": 10,
                            "dimensions": {"clientRequestHTTPHost": "h", "clientRequestPath": "/a"},
                            "avg": {"edgeTimeToFirstByteMs": 12.5},
                            "quantiles": {
                                "edgeTimeToFirstByteMsP50": 10,
                                "edgeTimeToFirstByteMsP99": 40,
                            },
                        }
                    ],
                    "failures": [
                        {
                            "count": 3,
                            "dimensions": {"clientRequestHTTPHost": "h", "clientRequestPath": "/a"},
                        }
                    ],
                }
            ]
        }
    }
    assert (PathStats("h", "/a", 10, 3, 12.5, 10.0, 40.0),) == parse_paths(answer)


def test_bindings_are_read_from_worker_settings() -> None:
    """KV, D1 (id or database_id), R2 and service bindings; variables and secrets ignored."""
    raw = [
        {"type": "kv_namespace", "name": "SESSIONS", "namespace_id": "ns"},
        {"type": "d1", "name": "DB", "id": "db", "database_name": "main"},
        {"type": "d1", "name": "LOGS", "database_id": "db2"},
        {"type": "r2_bucket", "name": "UPLOADS", "bucket_name": "uploads"},
        {"type": "service", "name": "AUTH", "service": "auth"},
        {"type": "plain_text", "name": "ENVIRONMENT", "text": "prod"},
        {"type": "secret_text", "name": "JWT_SECRET"},
    ]
    assert (
        Binding("kv", "ns", "SESSIONS", "SESSIONS"),
        Binding("d1", "db", "main", "DB"),
        Binding("d1", "db2", "db2", "LOGS"),
        Binding("r2", "uploads", "uploads", "UPLOADS"),
        Binding("service", "auth", "auth", "AUTH"),
    ) == bindings_of(raw)


def test_resources_are_named_as_people_know_them() -> None:
    """A D1 id becomes its database name, a namespace id its title."""
    renamed = named(
        {"api": (Binding("d1", "db2", "db2", "LOGS"), Binding("kv", "ns", "SESSIONS", "S"))},
        databases={"db2": "logs-db"},
        namespaces={"ns": "sessions-prod"},
    )
    assert ["logs-db", "sessions-prod"] == [b.label for b in renamed["api"]]


def row(level: Level, message: str = "", **fields: Any) -> LogRow:
    """A stored Worker event."""
    return LogRow(
        ts_ms=int(T0 * 1000), kind="worker", service="api", level=level, message=message, **fields
    )


def test_stored_events_give_binding_errors_and_hostnames() -> None:
    """Error events are explained by the catalogue; URLs say which hosts a Worker serves."""
    rows = [
        row(Level.INFO, url="https://api.example.com/ok"),
        row(Level.ERROR, "health check failed\nD1_ERROR: Network connection lost."),
        row(Level.ERROR, "D1_ERROR: Network connection lost.", url="https://API.example.com/h"),
        row(
            Level.ERROR,
            exceptions=(ExceptionInfo("Error", "KV PUT failed: 429 Too Many Requests"),),
        ),
        LogRow(ts_ms=0, kind="probe", service="api", level=Level.ERROR, message="D1_ERROR: x"),
    ]
    evidence, hosts = evidence_from_rows(rows)
    assert {"api": {"api.example.com"}} == hosts
    assert (4, 3) == (evidence["api"].events, evidence["api"].error_events)
    assert {
        ("d1", "D1_ERROR: Network connection lost."): 2,
        ("kv", "KV PUT failed: 429 Too Many Requests"): 1,
    } == dict(evidence["api"].binding_errors)


def test_stored_evidence_appears_in_the_worker_section() -> None:
    """The text names how many events were errors and which binding errors they hold."""
    evidence, _ = evidence_from_rows([row(Level.ERROR, "D1_ERROR: Network connection lost.")])
    [worker] = analyse(inputs(evidence=evidence)).workers
    assert (
        "1 of 1 stored events are errors",
        "1 × D1: D1_ERROR: Network connection lost.",
    ) == worker.evidence


def test_query_variables_cover_the_window_in_whole_seconds() -> None:
    """The end is rounded up so the last fraction of a second is included."""
    variables = account_variables("acc", T0 + 0.4, T0 + 10.2, "api")
    assert {
        "a": "acc",
        "w": {"datetime_geq": iso(T0), "datetime_lt": iso(T0 + 11), "scriptName": "api"},
        "t": {"datetime_geq": iso(T0), "datetime_lt": iso(T0 + 11)},
    } == variables
    zones = zones_variables(["z1"], T0, T0 + 60, ["b.example.com", "a.example.com"])
    assert ["a.example.com", "b.example.com"] == zones["f"]["clientRequestHTTPHost_in"]
    assert "clientRequestHTTPHost_in" not in zones_variables(["z1"], T0, T0 + 60)["f"]


@pytest.mark.parametrize(
    ("value", "text"), [(None, "?"), (0.42, "0.4 ms"), (42.4, "42 ms"), (1234.0, "1.2 s")]
)
def test_milliseconds_for_people(value: float | None, text: str) -> None:
    """Short, with the unit that fits."""
    assert text == ms(value)


def test_the_text_report() -> None:
    """The window, each Worker's numbers, its verdict and bindings."""
    text = click.unstyle(format_report(analyse(inputs()), tz=None))
    lines = text.splitlines()
    assert lines[0].startswith("flarewatch perf — ")
    assert "1 Worker with traffic" in lines[0]
    assert "api — 3,600 requests (1.00/s), errors 1.0% (36), 0.00 subrequests/request" in text
    assert "→ waiting dominates (99% of wall time" in text
    assert "D1 spacevision-db" in text
    assert "(binding DB)" in text
    assert "latency not reported by analytics" in text
