"""The GraphQL Analytics engine: query document + snapshot + now -> Cloudflare's answer."""

from __future__ import annotations

from typing import Any

import pytest

from cfsim.analytics import BackgroundTraffic, Sample
from cfsim.graphql_datasets import StorageReading
from cfsim.graphql_engine import AnalyticsSnapshot, run_query
from cfsim.graphql_model import Record, format_time

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
ACCOUNT = "a" * 32
ZONE = "z" * 32


def snapshot(**kwargs: Any) -> AnalyticsSnapshot:
    """A snapshot of the test account at NOW."""
    return AnalyticsSnapshot(now=NOW, account_id=ACCOUNT, zone_ids=frozenset({ZONE}), **kwargs)


def account_query(dataset: str, args: str, body: str) -> str:
    """An account-scoped query for one dataset."""
    return (
        f'{{ viewer {{ accounts(filter: {{accountTag: "{ACCOUNT}"}}) {{ '
        f"{dataset}({args}) {{ {body} }} }} }} }}"
    )


def rows(snap: AnalyticsSnapshot, dataset: str, args: str, body: str) -> list[dict[str, Any]]:
    """Run an account query that must succeed and return the dataset's rows."""
    status, answer = run_query(snap, {"query": account_query(dataset, args, body)})
    assert (status, answer["errors"]) == (200, None), answer
    result: list[dict[str, Any]] = answer["data"]["viewer"]["accounts"][0][dataset]
    return result


def error(snap: AnalyticsSnapshot, body: dict[str, Any]) -> tuple[int, str, Any]:
    """Run a query that must fail; return (status, message, path)."""
    status, answer = run_query(snap, body)
    assert answer["data"] is None
    err = answer["errors"][0]
    assert err["extensions"]["timestamp"] == "2023-11-14T22:13:20.000000Z"
    return status, err["message"], err["path"]


def since(seconds: float) -> str:
    """``datetime_geq`` bound ``seconds`` before NOW."""
    return format_time(NOW - seconds)


def worker(ts: float, script: str = "api", **kwargs: Any) -> Sample:
    """A Workers invocation sample."""
    return Sample(ts=ts, kind="workers", subject=script, **kwargs)


def test_workers_rows_grouped_by_script_and_status() -> None:
    """Invocations group by the requested dimensions; errors count failed statuses."""
    snap = snapshot(
        samples=[
            worker(NOW - 10),
            worker(NOW - 9),
            worker(NOW - 8, status="error"),
            worker(NOW - 7, "web", subrequests=3),
        ]
    )
    expected = [
        {"dimensions": {"scriptName": "api", "status": "scriptThrewException"},
         "sum": {"requests": 1, "errors": 1, "subrequests": 0}},
        {"dimensions": {"scriptName": "api", "status": "success"},
         "sum": {"requests": 2, "errors": 0, "subrequests": 0}},
        {"dimensions": {"scriptName": "web", "status": "success"},
         "sum": {"requests": 1, "errors": 0, "subrequests": 3}},
    ]  # fmt: skip
    actual = rows(
        snap,
        "workersInvocationsAdaptive",
        f'limit: 100, filter: {{datetime_geq: "{since(60)}"}}',
        "dimensions { scriptName status } sum { requests errors subrequests }",
    )
    assert expected == actual


def test_workers_quantiles_use_cloudflare_units() -> None:
    """cpuTime quantiles are in microseconds, duration in GB-seconds (wall time x 128 MB)."""
    snap = snapshot(
        samples=[worker(NOW - 5, cpu_ms=ms, duration_ms=ms * 10) for ms in (1, 2, 3, 4)]
    )
    expected = [
        {
            "quantiles": {
                "cpuTimeP50": 2000,
                "cpuTimeP99": 4000,
                "wallTimeP50": 20000,
                "durationP50": 0.0025,
            }
        }
    ]
    actual = rows(
        snap,
        "workersInvocationsAdaptive",
        "limit: 10",
        "quantiles { cpuTimeP50 cpuTimeP99 wallTimeP50 durationP50 }",
    )
    assert expected == actual


def test_background_traffic_is_rps_times_seconds_with_error_ratio() -> None:
    """One hour of 2 rps with 10 % errors is 7200 requests, 720 of them errors."""
    snap = snapshot(background=[BackgroundTraffic("workers", "bg", rps=2, error_ratio=0.1)])
    expected = [{"sum": {"requests": 7200, "errors": 720}}]
    actual = rows(
        snap,
        "workersInvocationsAdaptive",
        f'limit: 10, filter: {{datetime_geq: "{since(3600)}", datetime_lt: "{since(0)}"}}',
        "sum { requests errors }",
    )
    assert expected == actual


def test_background_totals_add_up_across_split_windows() -> None:
    """Synthesis is deterministic: two adjacent windows sum to the window that covers both."""
    snap = snapshot(background=[BackgroundTraffic("workers", "bg", rps=0.7, error_ratio=0.3)])

    def total(lo: float, hi: float) -> list[int]:
        answer = rows(
            snap,
            "workersInvocationsAdaptive",
            f'limit: 10, filter: {{datetime_geq: "{since(lo)}", datetime_lt: "{since(hi)}"}}',
            "sum { requests errors }",
        )
        return [answer[0]["sum"]["requests"], answer[0]["sum"]["errors"]]

    first, second, whole = total(5000, 1234), total(1234, 0), total(5000, 0)
    assert whole == [first[0] + second[0], first[1] + second[1]]


def test_background_quantiles_spread_around_configured_values() -> None:
    """Background CPU P50 is the configured value; the tail reaches 3x at P99."""
    snap = snapshot(background=[BackgroundTraffic("workers", "bg", rps=5, cpu_ms=2.0)])
    expected = [{"quantiles": {"cpuTimeP50": 2000, "cpuTimeP99": 6000}}]
    actual = rows(
        snap,
        "workersInvocationsAdaptive",
        f'limit: 10, filter: {{datetime_geq: "{since(600)}"}}',
        "quantiles { cpuTimeP50 cpuTimeP99 }",
    )
    assert expected == actual


@pytest.mark.parametrize(
    ("dimension", "expected"),
    [
        ("datetime", ["2023-11-14T21:59:59Z", "2023-11-14T22:00:10Z", "2023-11-14T22:13:00Z"]),
        ("datetimeMinute",
         ["2023-11-14T21:59:00Z", "2023-11-14T22:00:00Z", "2023-11-14T22:13:00Z"]),
        ("datetimeFiveMinutes",
         ["2023-11-14T21:55:00Z", "2023-11-14T22:00:00Z", "2023-11-14T22:10:00Z"]),
        ("datetimeHour", ["2023-11-14T21:00:00Z", "2023-11-14T22:00:00Z"]),
        ("date", ["2023-11-14"]),
    ],
)  # fmt: skip
def test_time_dimensions_truncate(dimension: str, expected: list[str]) -> None:
    """Time dimensions truncate to their width, as Cloudflare's do."""
    snap = snapshot(samples=[worker(NOW - 20), worker(NOW - 790), worker(NOW - 801)])
    actual = rows(
        snap,
        "workersInvocationsAdaptive",
        f"limit: 10, orderBy: [{dimension}_ASC]",
        f"dimensions {{ {dimension} }}",
    )
    assert expected == [r["dimensions"][dimension] for r in actual]


FILTER_CASES = [
    ('scriptName: "api"', 2),
    ('scriptName_neq: "api"', 2),
    ('scriptName_in: ["web", "cron"]', 2),
    ('scriptName_notin: ["web"]', 3),
    ('scriptName_like: "w%"', 1),
    (f'datetime_gt: "{since(30)}"', 3),
    (f'datetime_geq: "{since(30)}"', 4),
    (f'datetime_lt: "{since(20)}"', 1),
    (f'datetime_leq: "{since(20)}"', 2),
    ('status: "scriptThrewException"', 1),
    ('OR: [{scriptName: "web"}, {scriptName: "cron"}]', 2),
    ('AND: [{scriptName_neq: "web"}, {status: "success"}]', 2),
]


@pytest.mark.parametrize(("expression", "expected"), FILTER_CASES)
def test_filter_operators(expression: str, expected: int) -> None:
    """Equality, _neq, _in, _notin, _like, time comparisons and AND/OR select rows."""
    snap = snapshot(
        samples=[
            worker(NOW - 30),
            worker(NOW - 20, status="error"),
            worker(NOW - 10, "web"),
            worker(NOW - 5, "cron"),
        ]
    )
    answer = rows(
        snap, "workersInvocationsAdaptive", f"limit: 10, filter: {{{expression}}}", "sum {requests}"
    )
    assert expected == sum(r["sum"]["requests"] for r in answer)


def test_order_by_metric_descending_then_limit() -> None:
    """orderBy on a sum sorts groups; limit keeps the first ones."""
    snap = snapshot(
        samples=[worker(NOW - i, s) for i, s in enumerate(["a", "b", "b", "c", "c", "c"], 1)]
    )
    expected = [
        {"dimensions": {"scriptName": "c"}, "sum": {"requests": 3}},
        {"dimensions": {"scriptName": "b"}, "sum": {"requests": 2}},
    ]
    actual = rows(
        snap,
        "workersInvocationsAdaptive",
        "limit: 2, orderBy: [sum_requests_DESC]",
        "dimensions { scriptName } sum { requests }",
    )
    assert expected == actual


def test_aliases_name_datasets_and_fields() -> None:
    """Aliases rename the dataset, blocks and fields in the answer."""
    snap = snapshot(samples=[worker(NOW - 1)])
    query = (
        f'query {{ viewer {{ accounts(filter: {{accountTag: "{ACCOUNT}"}}) {{ '
        "w: workersInvocationsAdaptive(limit: 1) { d: dimensions { s: scriptName } "
        "total: sum { n: requests } } } } }"
    )
    expected = {"viewer": {"accounts": [{"w": [{"d": {"s": "api"}, "total": {"n": 1}}]}]}}
    status, answer = run_query(snap, {"query": query})
    assert (200, expected) == (status, answer["data"])


def test_variables_and_fragments_resolve() -> None:
    """A whole filter passed as a variable and a named fragment both work."""
    snap = snapshot(samples=[worker(NOW - 1), worker(NOW - 2, "web")])
    query = """
        query Q($a: string!, $f: AccountWorkersInvocationsAdaptiveFilter_InputObject) {
          viewer { accounts(filter: {accountTag: $a}) {
            workersInvocationsAdaptive(limit: 10, filter: $f) { ...Counts } } } }
        fragment Counts on AccountWorkersInvocationsAdaptive {
          dimensions { scriptName } sum { requests } }
    """
    variables = {"a": ACCOUNT, "f": {"scriptName": "web"}}
    expected = [{"dimensions": {"scriptName": "web"}, "sum": {"requests": 1}}]
    status, answer = run_query(snap, {"query": query, "variables": variables})
    assert (200, expected) == (
        status,
        answer["data"]["viewer"]["accounts"][0]["workersInvocationsAdaptive"],
    )


def test_missing_required_variable_is_an_error() -> None:
    """A required variable that is not provided is refused before anything runs."""
    query = "query Q($a: String!) { viewer { accounts(filter: {accountTag: $a}) { accountTag } } }"
    expected = (400, 'Variable "$a" of required type "String!" was not provided.', None)
    assert expected == error(snapshot(), {"query": query})


def test_syntax_error_is_400() -> None:
    """A document graphql-core cannot parse is a 400 with data null."""
    status, message, _ = error(snapshot(), {"query": "{ viewer { "})
    expected = (400, True)
    assert expected == (status, message.startswith("error parsing query"))


def test_unknown_dataset_names_its_path() -> None:
    """An unknown dataset is refused with the path to it."""
    expected = (400, 'unknown field "nopeAdaptiveGroups"', ["viewer", "accounts", "0", "x"])
    body = {"query": account_query("x: nopeAdaptiveGroups", "limit: 1", "count")}
    assert expected == error(snapshot(), body)


def test_unknown_metric_field_names_its_path() -> None:
    """A field a dataset does not have is refused with its full path."""
    expected = (
        400,
        'unknown field "bogus"',
        ["viewer", "accounts", "0", "kvOperationsAdaptiveGroups", "sum", "bogus"],
    )
    body = {"query": account_query("kvOperationsAdaptiveGroups", "limit: 1", "sum { bogus }")}
    assert expected == error(snapshot(), body)


def test_scalar_with_selection_is_refused() -> None:
    """Selecting into a scalar is one of Cloudflare's documented parse errors."""
    body = {"query": account_query("kvOperationsAdaptiveGroups", "limit: 1", "count { x }")}
    expected = (400, "scalar fields must have no selections")
    assert expected == error(snapshot(), body)[:2]


def test_data_older_than_31_days_is_refused() -> None:
    """Asking for data past retention gets Cloudflare's exact message."""
    body = {
        "query": account_query(
            "workersInvocationsAdaptive",
            f'limit: 1, filter: {{datetime_geq: "{since(32 * 86400)}"}}',
            "sum { requests }",
        )
    }
    expected = (
        400,
        "cannot request data older than 2678400s",
        ["viewer", "accounts", "0", "workersInvocationsAdaptive"],
    )
    assert expected == error(snapshot(), body)


@pytest.mark.parametrize("limit", [0, 10_001])
def test_limit_out_of_range_is_refused(limit: int) -> None:
    """limit must be 1..10000."""
    body = {"query": account_query("workersInvocationsAdaptive", f"limit: {limit}", "sum{errors}")}
    expected = (400, "limit must be positive number and not greater than 10000")
    assert expected == error(snapshot(), body)[:2]


def test_more_than_one_account_is_refused() -> None:
    """An account-scoped query may name only one account."""
    query = (
        f'{{ viewer {{ accounts(filter: {{accountTag_in: ["{ACCOUNT}", "{"b" * 32}"]}}) '
        "{ accountTag } } }"
    )
    expected = (400, "an account-scoped query can include only 1 account", ["viewer", "accounts"])
    assert expected == error(snapshot(), {"query": query})


def test_foreign_account_is_forbidden() -> None:
    """Another account's tag is a 403."""
    query = f'{{ viewer {{ accounts(filter: {{accountTag: "{"b" * 32}"}}) {{ accountTag }} }} }}'
    expected = (403, "not authorized for that account", ["viewer", "accounts"])
    assert expected == error(snapshot(), {"query": query})


def test_mutations_are_refused() -> None:
    """The Analytics API is read-only."""
    expected = (400, "mutation operations are not supported")
    assert expected == error(snapshot(), {"query": "mutation { viewer }"})[:2]


def test_storage_dataset_reports_current_reading() -> None:
    """Storage datasets report the readings given, filtered by bucket."""
    storage = {
        "r2StorageAdaptiveGroups": [
            StorageReading("media", {"objectCount": 3, "payloadSize": 300}),
            StorageReading("logs", {"objectCount": 1, "payloadSize": 10}),
        ]
    }
    expected = [
        {
            "dimensions": {"bucketName": "media", "datetime": "2023-11-14T22:13:20Z"},
            "max": {"objectCount": 3, "payloadSize": 300, "uploadCount": 0},
        }
    ]
    actual = rows(
        snapshot(storage=storage),
        "r2StorageAdaptiveGroups",
        f'limit: 10, filter: {{bucketName: "media", datetime_geq: "{since(3600)}"}}',
        "dimensions { bucketName datetime } max { objectCount payloadSize uploadCount }",
    )
    assert expected == actual


def test_zone_dataset_reads_its_zone_source() -> None:
    """Zone-scoped datasets ask the zone source for the window and count its records."""
    calls: list[tuple[str, float, float]] = []

    def source(zone: str, start: float, end: float, width: int | None) -> list[Record]:
        calls.append((zone, start, end))
        return [Record(ts=end - 1, dims={"lbName": "lb.example.com"}, count=4)]

    snap = snapshot(zone_sources={"loadBalancingRequestsAdaptiveGroups": source})
    query = (
        f'{{ viewer {{ zones(filter: {{zoneTag: "{ZONE}"}}) {{ zoneTag '
        f'loadBalancingRequestsAdaptiveGroups(limit: 5, filter: {{datetime_geq: "{since(60)}"}})'
        " { count dimensions { lbName } } } } }"
    )
    expected = {
        "viewer": {
            "zones": [
                {
                    "zoneTag": ZONE,
                    "loadBalancingRequestsAdaptiveGroups": [
                        {"count": 4, "dimensions": {"lbName": "lb.example.com"}}
                    ],
                }
            ]
        }
    }
    status, answer = run_query(snap, {"query": query})
    assert (200, expected, [(ZONE, NOW - 60, NOW)]) == (status, answer["data"], calls)


def test_unknown_zone_is_forbidden() -> None:
    """A zone the account does not have is refused like Cloudflare does."""
    query = '{ viewer { zones(filter: {zoneTag: "nope"}) { zoneTag } } }'
    expected = (403, "zones [nope] are not authorized")
    assert expected == error(snapshot(), {"query": query})[:2]


def test_kv_latency_quantiles_and_action_types() -> None:
    """KV operations group by action type with latency quantiles in milliseconds."""
    samples = [
        Sample(ts=NOW - i, kind="kv", subject="ns1", action=a, duration_ms=float(i))
        for i, a in enumerate(["read", "read", "read", "write"], 1)
    ]
    expected = [
        {"dimensions": {"actionType": "read"}, "sum": {"requests": 3},
         "quantiles": {"latencyMsP50": 2.0}},
        {"dimensions": {"actionType": "write"}, "sum": {"requests": 1},
         "quantiles": {"latencyMsP50": 4.0}},
    ]  # fmt: skip
    actual = rows(
        snapshot(samples=samples),
        "kvOperationsAdaptiveGroups",
        'limit: 10, filter: {namespaceId: "ns1"}',
        "dimensions { actionType } sum { requests } quantiles { latencyMsP50 }",
    )
    assert expected == actual


def test_d1_splits_reads_and_writes() -> None:
    """D1 batches that wrote rows count as write queries, the others as reads."""
    samples = [
        Sample(ts=NOW - 3, kind="d1", subject="db", rows_read=5, duration_ms=2.0),
        Sample(ts=NOW - 2, kind="d1", subject="db", rows_written=2, duration_ms=4.0),
        Sample(ts=NOW - 1, kind="d1", subject="db", action="write", duration_ms=6.0),
    ]
    expected = [
        {
            "sum": {"readQueries": 1, "writeQueries": 2, "rowsRead": 5, "rowsWritten": 2},
            "avg": {"queryBatchTimeMs": 4.0},
            "quantiles": {"queryBatchTimeMsP90": 6.0},
            "count": 3,
        }
    ]
    actual = rows(
        snapshot(samples=samples),
        "d1AnalyticsAdaptiveGroups",
        f'limit: 10, filter: {{date_geq: "{format_time(NOW)[:10]}"}}',
        "sum { readQueries writeQueries rowsRead rowsWritten } avg { queryBatchTimeMs } "
        "quantiles { queryBatchTimeMsP90 } count",
    )
    assert expected == actual


@pytest.mark.parametrize(
    ("http_status", "expected"),
    [(200, "success"), (404, "userError"), (503, "internalError")],
)
def test_r2_action_status_follows_http_status(http_status: int, expected: str) -> None:
    """R2 operations report success, userError or internalError."""
    samples = [
        Sample(ts=NOW - 1, kind="r2", subject="b", action="GetObject", http_status=http_status)
    ]
    actual = rows(
        snapshot(samples=samples),
        "r2OperationsAdaptiveGroups",
        "limit: 1",
        "dimensions { actionStatus }",
    )
    assert [{"dimensions": {"actionStatus": expected}}] == actual


@pytest.mark.parametrize(
    ("zone_filter", "expected"),
    [
        ("", ["y" * 32, ZONE]),
        ('(filter: {zoneTag_gt: "x"})', ["y" * 32, ZONE]),
        ('(filter: {zoneTag_gt: "x"}, limit: 1)', ["y" * 32]),
        (f'(filter: {{zoneTag_gt: "{"y" * 32}"}})', [ZONE]),
        (f'(filter: {{zoneTag_in: ["{ZONE}"]}})', [ZONE]),
    ],
)
def test_zone_scope_forms(zone_filter: str, expected: list[str]) -> None:
    """Zones are named by tag, list or ``_gt`` (sorted, with limit); no filter means all."""
    snap = AnalyticsSnapshot(now=NOW, account_id=ACCOUNT, zone_ids=frozenset({ZONE, "y" * 32}))
    status, answer = run_query(
        snap, {"query": f"{{ viewer {{ zones{zone_filter} {{ zoneTag }} }} }}"}
    )
    assert (200, expected) == (status, [z["zoneTag"] for z in answer["data"]["viewer"]["zones"]])


def test_account_scope_needs_a_filter() -> None:
    """An account-scoped query must name its account."""
    status, message, _ = error(snapshot(), {"query": "{ viewer { accounts { accountTag } } }"})
    expected = (400, True)
    assert expected == (status, message.startswith("error parsing args: the filter must be"))


def test_indexed_samples_answer_like_a_scan_of_every_sample() -> None:
    """The per-minute index is only a faster way to the same answer: a query grouped by
    minute, hour and status over samples spread across hours gives identical rows."""
    from cfsim.analytics import Analytics

    analytics = Analytics()
    for i in range(2_000):
        analytics.record(
            worker(
                NOW - 7200 + i * 3.3,
                "api" if i % 4 else "image-processor",
                status="success" if i % 9 else "scriptThrewException",
                cpu_ms=1.0 + i % 7,
                duration_ms=3.0 + i % 11,
            )
        )
    args = f'limit: 10000, filter: {{datetime_geq: "{since(5000)}", datetime_lt: "{since(61)}"}}'
    body = (
        "dimensions { scriptName status datetimeMinute datetimeHour } "
        "sum { requests errors } quantiles { cpuTimeP50 cpuTimeP99 }"
    )
    scanned = rows(
        snapshot(samples=tuple(analytics.samples)), "workersInvocationsAdaptive", args, body
    )
    indexed = rows(snapshot(index=analytics.index), "workersInvocationsAdaptive", args, body)
    assert (scanned, len(scanned) > 100) == (indexed, True)


def test_background_minute_rows_keep_their_totals() -> None:
    """Minute rows of steady background traffic (bundles reused slice after slice) still add
    up to rps x seconds requests, with every ``1/error_ratio``-th one an error."""
    traffic = BackgroundTraffic("workers", "api", rps=2.0, error_ratio=0.1)
    args = f'limit: 10000, filter: {{datetime_geq: "{since(3600)}", datetime_lt: "{since(0)}"}}'
    body = "dimensions { datetimeMinute } sum { requests errors }"
    found = rows(snapshot(background=(traffic,)), "workersInvocationsAdaptive", args, body)
    totals = (sum(r["sum"]["requests"] for r in found), sum(r["sum"]["errors"] for r in found))
    # NOW is 20 s into a minute: the hour touches 61 minutes, the first and last partly.
    assert (len(found), totals) == (61, (7200, 720))
