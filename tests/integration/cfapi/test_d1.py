"""D1 through the client: databases, queries, export and import flows, Time Travel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import structlog

from cfapi.budget import RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials
from cfapi.d1 import D1Database
from cfapi.errors import ApiError, NotFound, ServerError
from cfapi.retry import RetryPolicy, RetryStats
from tests.conftest import SimHandle
from tests.integration.cfapi.conftest import sim_requests


async def _db(
    client: CloudflareClient, account_id: str, name: str = "spacevision-db"
) -> D1Database:
    found = [d async for d in client.d1.databases(account_id, name=name)]
    return found[0]


async def test_databases_are_listed_created_and_deleted(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """Databases are listed, created, fetched and deleted."""
    created = await client.d1.create_database(sim.account_id, "probe-db", location_hint="weur")
    fetched = await client.d1.database(sim.account_id, created.uuid)
    names = sorted([d.name or "" async for d in client.d1.databases(sim.account_id)])
    await client.d1.delete_database(sim.account_id, created.uuid)
    with pytest.raises(NotFound):
        await client.d1.database(sim.account_id, created.uuid)
    assert (fetched.name, names) == (
        "probe-db",
        ["probe-db", "spacevision-analytics", "spacevision-db"],
    )


async def test_query_returns_rows_as_objects(sim: SimHandle, client: CloudflareClient) -> None:
    """One result per statement, rows as objects, with meta."""
    db = await _db(client, sim.account_id)
    results = await client.d1.query(
        sim.account_id, db.uuid, "SELECT email FROM users WHERE plan = ? ORDER BY id", ["team"]
    )
    assert [r["email"] for r in results[0].results] == [
        "ada@spacevision.app",
        "grace@spacevision.app",
    ]
    assert results[0].meta is not None


async def test_raw_returns_columns_and_rows(sim: SimHandle, client: CloudflareClient) -> None:
    """/raw gives column names and rows as arrays."""
    db = await _db(client, sim.account_id)
    results = await client.d1.raw(sim.account_id, db.uuid, "SELECT 1 AS one, 'x' AS two")
    assert (results[0].results.columns, results[0].results.rows) == (["one", "two"], [[1, "x"]])


async def test_bad_sql_is_an_api_error(sim: SimHandle, client: CloudflareClient) -> None:
    """A SQL error is a 4xx ApiError carrying D1's message, not retried."""
    db = await _db(client, sim.account_id)
    with pytest.raises(ApiError) as caught:
        await client.d1.query(sim.account_id, db.uuid, "SELECT * FROM nowhere")
    assert "nowhere" in str(caught.value)


async def test_read_only_query_is_retried_but_a_write_is_not(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """SELECT 1 marked read-only is retried through a 503; an unmarked POST is not."""
    db = await _db(client, sim.account_id)
    path = f"/accounts/{sim.account_id}/d1/database/{db.uuid}/query"
    await sim.control("POST", "/__sim/faults", json={"service": "d1", "error_status": 503})
    with pytest.raises(ServerError):
        await client.d1.query(sim.account_id, db.uuid, "SELECT 1", read_only=True)
    retried = await sim_requests(sim, path)
    with pytest.raises(ServerError):
        await client.d1.query(sim.account_id, db.uuid, "SELECT 1")
    assert (retried, await sim_requests(sim, path) - retried) == (4, 1)


async def test_transient_failure_of_a_read_only_query_recovers(sim: SimHandle) -> None:
    """A flaky D1 (half the calls fail) still answers a read-only probe within the retries."""
    stats = RetryStats()
    policy = RetryPolicy(max_attempts=20, max_time_s=10.0, base_s=0.01, cap_s=0.02)
    await sim.control(
        "POST",
        "/__sim/faults",
        json={"service": "d1", "error_status": 503, "error_ratio": 0.5},
    )
    async with CloudflareClient(
        Credentials.bearer(sim.token),
        base_url=sim.api,
        retry=policy,
        budget=RequestBudget(),
        stats=stats,
    ) as cf:
        db = await _db(cf, sim.account_id)
        results = await cf.d1.query(sim.account_id, db.uuid, "SELECT 1 AS ok", read_only=True)
    assert results[0].results == [{"ok": 1}]


async def test_export_polls_then_downloads_the_dump(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """The export is polled to completion and its signed URL downloaded without auth."""
    db = await _db(client, sim.account_id)
    with structlog.testing.capture_logs() as events:
        export = await client.d1.export(sim.account_id, db.uuid, poll_interval_s=0)
    log = await sim.control("GET", "/__sim/requests")
    downloads = [r for r in log if "d1-export" in r["path"]]
    assert b"CREATE TABLE users" in export.sql
    assert export.filename.endswith(".sql")
    assert [r["headers"].get("Authorization") for r in downloads] == [None]
    assert [e for e in events if "d1-export" in repr(e)] == []  # the signed URL stays secret


async def test_import_uploads_checks_and_ingests(sim: SimHandle, client: CloudflareClient) -> None:
    """init, MD5-checked upload, ingest and polling bring the rows in."""
    db = await client.d1.create_database(sim.account_id, "import-target")
    sql = (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\nINSERT INTO t (v) VALUES ('a'), ('b');\n"
    )
    result = await client.d1.import_sql(sim.account_id, db.uuid, sql, poll_interval_s=0)
    rows = await client.d1.query(sim.account_id, db.uuid, "SELECT v FROM t ORDER BY id")
    assert ([r["v"] for r in rows[0].results], result.num_queries) == (["a", "b"], 2)


async def test_time_travel_restores_an_earlier_state(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """A bookmark taken before a change restores the database to before it."""
    db = await _db(client, sim.account_id)
    before = await client.d1.bookmark(sim.account_id, db.uuid)
    await client.d1.query(sim.account_id, db.uuid, "DELETE FROM images")
    restored = await client.d1.restore(sim.account_id, db.uuid, bookmark=before)
    rows = await client.d1.query(sim.account_id, db.uuid, "SELECT COUNT(*) AS n FROM images")
    assert (restored.bookmark is not None, rows[0].results[0]["n"] > 0) == (True, True)


async def test_bookmark_for_a_timestamp(sim: SimHandle, client: CloudflareClient) -> None:
    """A bookmark can be asked for a point in time (RFC 3339)."""
    db = await _db(client, sim.account_id)
    now = datetime.now(UTC).isoformat()
    assert await client.d1.bookmark(sim.account_id, db.uuid, timestamp=now)
