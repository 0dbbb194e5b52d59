"""GraphQL Analytics over HTTP: real and background traffic, storage, limits, errors, faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tests.conftest import SimHandle

WORKERS_QUERY = """
query W($a: String!, $s: Time!, $e: Time) { viewer { accounts(filter: {accountTag: $a}) {
  workersInvocationsAdaptive(limit: 100, filter: {datetime_geq: $s, datetime_lt: $e}) {
    dimensions { scriptName status } sum { requests errors } quantiles { cpuTimeP50 } } } } }
"""


def iso(ts: float) -> str:
    """A Time value for GraphQL variables."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def graphql(sim: SimHandle, query: str, **variables: Any) -> tuple[int, dict[str, Any]]:
    """POST one query with the account id as ``$a``; return status and the decoded body."""
    body = {"query": query, "variables": {"a": sim.account_id, **variables}}
    status, answer = await sim.call("POST", "/graphql", json=body)
    return status, answer


def dataset(answer: dict[str, Any], name: str, scope: str = "accounts") -> list[dict[str, Any]]:
    """The rows of one dataset in a successful answer."""
    assert answer["errors"] is None, answer
    rows: list[dict[str, Any]] = answer["data"]["viewer"][scope][0][name]
    return rows


async def kv_namespace(sim: SimHandle, title: str) -> str:
    """Create a KV namespace and return its id."""
    status, body = await sim.call(
        "POST", f"/accounts/{sim.account_id}/storage/kv/namespaces", json={"title": title}
    )
    assert status == 200, body
    return str(body["result"]["id"])


async def test_background_traffic_shows_in_workers_analytics(sim: SimHandle) -> None:
    """Background traffic set through /__sim/traffic is counted per script and status."""
    await sim.control(
        "POST",
        "/__sim/traffic",
        json={"kind": "workers", "subject": "bg-worker", "rps": 2, "error_ratio": 0.5},
    )
    end = int(time.time()) // 60 * 60
    status, answer = await graphql(sim, WORKERS_QUERY, s=iso(end - 600), e=iso(end))
    expected = [
        {
            "dimensions": {"scriptName": "bg-worker", "status": outcome},
            "sum": {"requests": 600, "errors": errors},
            "quantiles": {"cpuTimeP50": 2000},
        }
        for outcome, errors in (("scriptThrewException", 600), ("success", 0))
    ]
    assert (200, expected) == (status, dataset(answer, "workersInvocationsAdaptive"))


async def test_kv_operations_count_real_requests(sim: SimHandle) -> None:
    """A KV write and two reads through the API show as one write and two reads."""
    ns = await kv_namespace(sim, "GRAPHQL-OPS")
    url = f"/accounts/{sim.account_id}/storage/kv/namespaces/{ns}/values/k"
    headers = {"Content-Type": "application/octet-stream"}
    await sim.call("PUT", url, data=b"v", headers=headers)
    for _ in range(2):
        async with sim.session.get(sim.api + url, headers=sim.auth) as resp:
            assert resp.status == 200
    query = """
    query K($a: String!, $ns: String!) { viewer { accounts(filter: {accountTag: $a}) {
      kvOperationsAdaptiveGroups(limit: 10, filter: {namespaceId: $ns}, orderBy: [actionType_ASC]) {
        dimensions { actionType } sum { requests } } } } }
    """
    _, answer = await graphql(sim, query, ns=ns)
    expected = [
        {"dimensions": {"actionType": "read"}, "sum": {"requests": 2}},
        {"dimensions": {"actionType": "write"}, "sum": {"requests": 1}},
    ]
    assert expected == dataset(answer, "kvOperationsAdaptiveGroups")


async def test_kv_storage_reports_usage_and_capacity_faults(sim: SimHandle) -> None:
    """kvStorageAdaptiveGroups reports the namespace's keys and bytes, or the capacity fault's."""
    ns = await kv_namespace(sim, "GRAPHQL-STORAGE")
    await sim.call(
        "PUT",
        f"/accounts/{sim.account_id}/storage/kv/namespaces/{ns}/values/key",
        data=b"12345",
        headers={"Content-Type": "application/octet-stream"},
    )
    query = """
    query S($a: String!, $ns: String!) { viewer { accounts(filter: {accountTag: $a}) {
      kvStorageAdaptiveGroups(limit: 1, filter: {namespaceId: $ns}) {
        max { keyCount byteCount } } } } }
    """
    _, before = await graphql(sim, query, ns=ns)
    await sim.control(
        "POST",
        "/__sim/faults",
        json={"service": "kv", "resource": ns, "capacity": {"bytes": 10**9, "objects": 7}},
    )
    _, after = await graphql(sim, query, ns=ns)
    expected = (
        [{"max": {"keyCount": 1, "byteCount": 8}}],
        [{"max": {"keyCount": 7, "byteCount": 10**9}}],
    )
    assert expected == (
        dataset(before, "kvStorageAdaptiveGroups"),
        dataset(after, "kvStorageAdaptiveGroups"),
    )


async def test_health_check_events_follow_origin_faults(sim: SimHandle) -> None:
    """An outage on the checked origin turns the seeded health check's events unhealthy."""
    _, zones = await sim.call("GET", "/zones")
    zone_id = zones["result"][0]["id"]
    await sim.control(
        "POST", "/__sim/faults", json={"service": "api", "resource": "api-origin", "outage": True}
    )
    query = """
    query H($z: String!, $s: Time!) { viewer { zones(filter: {zoneTag: $z}) {
      healthCheckEventsAdaptiveGroups(
        limit: 10, filter: {datetime_geq: $s}, orderBy: [region_ASC]
      ) {
        count dimensions { healthCheckName healthStatus region } } } } }
    """
    _, answer = await graphql(sim, query, z=zone_id, s=iso(time.time() - 600))
    expected = [
        {
            "count": 1,
            "dimensions": {
                "healthCheckName": "api-origin",
                "healthStatus": "unhealthy",
                "region": r,
            },
        }
        for r in ("ENAM", "WEU", "WNAM")
    ]
    assert expected == dataset(answer, "healthCheckEventsAdaptiveGroups", "zones")


async def test_load_balancer_requests_fail_over_to_backup_pool(sim: SimHandle) -> None:
    """With the primary pool's origins down, balancer traffic goes to the backup pool."""
    _, zones = await sim.call("GET", "/zones")
    zone_id = zones["result"][0]["id"]
    await sim.control(
        "POST", "/__sim/traffic", json={"kind": "lb", "subject": "lb.spacevision.app", "rps": 5}
    )
    await sim.control(
        "POST", "/__sim/faults", json={"service": "api", "resource": "api-primary", "outage": True}
    )
    query = """
    query L($z: String!, $s: Time!) { viewer { zones(filter: {zoneTag: $z}) {
      loadBalancingRequestsAdaptiveGroups(limit: 10, filter: {datetime_geq: $s}) {
        count dimensions { lbName selectedPoolName selectedOriginName } } } } }
    """
    start = int(time.time()) // 60 * 60 - 120
    _, answer = await graphql(sim, query, z=zone_id, s=iso(start))
    rows = dataset(answer, "loadBalancingRequestsAdaptiveGroups", "zones")
    expected = [("lb.spacevision.app", "api-backup", "api-backup-1")]
    assert expected == [tuple(r["dimensions"].values()) for r in rows]
    assert rows[0]["count"] >= 600


async def test_get_is_refused(sim: SimHandle) -> None:
    """The GraphQL endpoint only takes POST."""
    status, _ = await sim.call("GET", "/graphql")
    assert status == 405


async def test_parse_error_is_400_with_graphql_errors(sim: SimHandle) -> None:
    """A malformed document is HTTP 400 with data null and a timestamped error."""
    status, answer = await graphql(sim, "{ viewer { accounts(")
    assert (status, answer["data"]) == (400, None)
    assert answer["errors"][0]["message"].startswith("error parsing query")
    assert answer["errors"][0]["extensions"]["timestamp"].endswith("Z")


async def test_data_older_than_retention_is_refused(sim: SimHandle) -> None:
    """Asking for 32 days back gets Cloudflare's retention error and its path."""
    status, answer = await graphql(
        sim, WORKERS_QUERY, s=iso(time.time() - 32 * 86400), e=iso(time.time())
    )
    expected = (
        400,
        "cannot request data older than 2678400s",
        ["viewer", "accounts", "0", "workersInvocationsAdaptive"],
    )
    assert expected == (status, answer["errors"][0]["message"], answer["errors"][0]["path"])


async def test_query_budget_is_300_per_five_minutes(sim: SimHandle) -> None:
    """The 301st query in five minutes is refused with 429 and Cloudflare's message."""
    query = "{ viewer { __typename } }"
    statuses = [(await graphql(sim, query))[0] for _ in range(300)]
    async with sim.session.post(
        sim.api + "/graphql", json={"query": query}, headers=sim.auth
    ) as resp:
        answer = await resp.json()
        retry_after = int(resp.headers["Retry-After"])
    expected = ({200}, 429, "rate limiter budget depleted, try again after 5 minutes")
    assert expected == (set(statuses), resp.status, answer["errors"][0]["message"])
    assert 0 < retry_after <= 300


async def test_graphql_outage_fault_fails_queries(sim: SimHandle) -> None:
    """A ``graphql`` outage fault makes the endpoint answer 503."""
    await sim.control("POST", "/__sim/faults", json={"service": "graphql", "outage": True})
    status, _ = await graphql(sim, "{ viewer { __typename } }")
    assert status == 503


async def test_edge_requests_show_in_workers_analytics(sim: SimHandle) -> None:
    """Requests the edge serves for a Worker route are counted for that script."""
    for _ in range(3):
        async with sim.session.get(sim.url + "/", headers={"Host": "api.spacevision.app"}):
            pass
    query = """
    query W($a: String!) { viewer { accounts(filter: {accountTag: $a}) {
      workersInvocationsAdaptive(limit: 10, filter: {scriptName: "api"}) {
        sum { requests } quantiles { cpuTimeP50 wallTimeP50 } } } } }
    """
    _, answer = await graphql(sim, query)
    rows = dataset(answer, "workersInvocationsAdaptive")
    assert [3] == [r["sum"]["requests"] for r in rows]
    assert rows[0]["quantiles"]["cpuTimeP50"] > 0
    assert rows[0]["quantiles"]["wallTimeP50"] >= rows[0]["quantiles"]["cpuTimeP50"]


R2_QUERY = """
query R($a: String!, $b: String!) { viewer { accounts(filter: {accountTag: $a}) {
  r2StorageAdaptiveGroups(limit: 1, filter: {bucketName: $b}, orderBy: [datetime_DESC]) {
    max { objectCount payloadSize uploadCount metadataSize } }
  r2OperationsAdaptiveGroups(limit: 10, filter: {bucketName: $b}) {
    dimensions { actionType actionStatus } sum { requests } } } } }
"""


async def test_r2_storage_follows_capacity_faults_and_operations_are_counted(
    sim: SimHandle,
) -> None:
    """A capacity fault sets the reported bucket usage; bucket API calls count as operations."""
    await sim.control(
        "POST",
        "/__sim/faults",
        json={
            "service": "r2",
            "resource": "backups",
            "capacity": {"bytes": 5 * 10**9, "objects": 42},
        },
    )
    status, _ = await sim.call("GET", f"/accounts/{sim.account_id}/r2/buckets/backups")
    assert status == 200
    _, answer = await graphql(sim, R2_QUERY, b="backups")
    expected = (
        [
            {
                "max": {
                    "objectCount": 42,
                    "payloadSize": 5 * 10**9,
                    "uploadCount": 0,
                    "metadataSize": 0,
                }
            }
        ],
        [
            {
                "dimensions": {"actionType": "GetBucket", "actionStatus": "success"},
                "sum": {"requests": 1},
            }
        ],
    )
    assert expected == (
        dataset(answer, "r2StorageAdaptiveGroups"),
        dataset(answer, "r2OperationsAdaptiveGroups"),
    )


async def d1_database(sim: SimHandle, name: str) -> str:
    """The id of a seeded D1 database."""
    status, body = await sim.call("GET", f"/accounts/{sim.account_id}/d1/database")
    assert status == 200, body
    return str(next(d["uuid"] for d in body["result"] if d["name"] == name))


async def test_d1_queries_are_counted_by_kind_and_statement(sim: SimHandle) -> None:
    """D1 queries through the API show as read/write queries and per statement."""
    db = await d1_database(sim, "spacevision-db")
    url = f"/accounts/{sim.account_id}/d1/database/{db}/query"
    for sql in ("SELECT 1", "SELECT 1", "CREATE TABLE graphql_probe (x INTEGER)"):
        status, body = await sim.call("POST", url, json={"sql": sql})
        assert status == 200, body
    query = """
    query D($a: String!, $db: String!) { viewer { accounts(filter: {accountTag: $a}) {
      d1AnalyticsAdaptiveGroups(limit: 10, filter: {databaseId: $db}) {
        sum { readQueries writeQueries } }
      d1QueriesAdaptiveGroups(limit: 10, filter: {databaseId: $db}, orderBy: [count_DESC]) {
        count dimensions { query } }
      d1StorageAdaptiveGroups(limit: 1, filter: {databaseId: $db}) {
        max { databaseSizeBytes } } } } }
    """
    _, answer = await graphql(sim, query, db=db)
    expected = (
        [{"sum": {"readQueries": 2, "writeQueries": 1}}],
        [
            {"count": 2, "dimensions": {"query": "SELECT 1"}},
            {"count": 1, "dimensions": {"query": "CREATE TABLE graphql_probe (x INTEGER)"}},
        ],
    )
    assert expected == (
        dataset(answer, "d1AnalyticsAdaptiveGroups"),
        dataset(answer, "d1QueriesAdaptiveGroups"),
    )
    assert dataset(answer, "d1StorageAdaptiveGroups")[0]["max"]["databaseSizeBytes"] > 0


async def test_pages_requests_show_in_pages_functions_analytics(sim: SimHandle) -> None:
    """Requests to a Pages site count under its production Functions script."""
    for _ in range(2):
        async with sim.session.get(sim.url + "/", headers={"Host": "spacevision-web.pages.dev"}):
            pass
    query = """
    query P($a: String!) { viewer { accounts(filter: {accountTag: $a}) {
      pagesFunctionsInvocationsAdaptiveGroups(limit: 10) {
        count dimensions { scriptName status } sum { requests errors } } } } }
    """
    _, answer = await graphql(sim, query)
    rows = dataset(answer, "pagesFunctionsInvocationsAdaptiveGroups")
    expected = [(2, "success", {"requests": 2, "errors": 0})]
    assert expected == [(r["count"], r["dimensions"]["status"], r["sum"]) for r in rows]
    assert rows[0]["dimensions"]["scriptName"].startswith("pages-worker--")
    assert rows[0]["dimensions"]["scriptName"].endswith("-production")


async def test_d1_storage_follows_capacity_faults(sim: SimHandle) -> None:
    """A capacity fault on a database (by name) sets the size D1 storage analytics report."""
    db = await d1_database(sim, "spacevision-analytics")
    await sim.control(
        "POST",
        "/__sim/faults",
        json={
            "service": "d1",
            "resource": "spacevision-analytics",
            "capacity": {"bytes": 475_000_000},
        },
    )
    query = """
    query S($a: String!, $db: String!) { viewer { accounts(filter: {accountTag: $a}) {
      d1StorageAdaptiveGroups(limit: 1, filter: {databaseId: $db}) {
        dimensions { databaseId } max { databaseSizeBytes } } } } }
    """
    _, answer = await graphql(sim, query, db=db)
    expected = [{"dimensions": {"databaseId": db}, "max": {"databaseSizeBytes": 475_000_000}}]
    assert expected == dataset(answer, "d1StorageAdaptiveGroups")
