"""Simulated D1 over HTTP: databases, query/raw, SQL errors, export, import and time travel."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from tests.conftest import SimHandle


class FakeClock:
    """A settable clock for ``state.clock``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _base(sim: SimHandle) -> str:
    return f"/accounts/{sim.account_id}/d1/database"


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _database_id(sim: SimHandle, name: str) -> str:
    status, body = await sim.call("GET", _base(sim), params={"name": name})
    assert status == 200, body
    return str(next(d["uuid"] for d in body["result"] if d["name"] == name))


async def _new_database(sim: SimHandle, name: str = "scratch") -> str:
    status, body = await sim.call("POST", _base(sim), json={"name": name})
    assert status == 200, body
    return str(body["result"]["uuid"])


async def _query(
    sim: SimHandle, db: str, sql: str, params: list[str] | None = None, *, raw: bool = False
) -> tuple[int, Any]:
    body: dict[str, Any] = {"sql": sql}
    if params is not None:
        body["params"] = params
    return await sim.call("POST", f"{_base(sim)}/{db}/{'raw' if raw else 'query'}", json=body)


async def _rows(sim: SimHandle, db: str, sql: str) -> list[dict[str, Any]]:
    status, body = await _query(sim, db, sql)
    assert status == 200, body
    return list(body["result"][0]["results"])


async def _export(sim: SimHandle, db: str) -> tuple[list[str], dict[str, Any]]:
    """Run the polling export to completion; return the statuses seen and the final result."""
    path = f"{_base(sim)}/{db}/export"
    status, body = await sim.call("POST", path, json={"output_format": "polling"})
    statuses = [body["result"]["status"]]
    for _ in range(10):
        if body["result"]["status"] != "active":
            break
        assert status == 202
        status, body = await sim.call(
            "POST",
            path,
            json={"output_format": "polling", "current_bookmark": body["result"]["at_bookmark"]},
        )
        statuses.append(body["result"]["status"])
    return statuses, body["result"]


async def _download(sim: SimHandle, url: str) -> str:
    async with sim.session.get(url) as resp:
        assert resp.status == 200
        return await resp.text()


async def _import(sim: SimHandle, db: str, sql: bytes) -> dict[str, Any]:
    """Run init, upload, ingest and poll; return the final import result."""
    path = f"{_base(sim)}/{db}/import"
    etag = hashlib.md5(sql, usedforsecurity=False).hexdigest()
    status, body = await sim.call("POST", path, json={"action": "init", "etag": etag})
    assert status == 200, body
    async with sim.session.put(body["result"]["upload_url"], data=sql) as resp:
        assert (resp.status, resp.headers["ETag"].strip('"')) == (200, etag)
    filename = body["result"]["filename"]
    status, body = await sim.call(
        "POST", path, json={"action": "ingest", "etag": etag, "filename": filename}
    )
    for _ in range(10):
        if body["result"].get("status") != "active":
            break
        status, body = await sim.call(
            "POST",
            path,
            json={"action": "poll", "current_bookmark": body["result"]["at_bookmark"]},
        )
    return dict(body["result"])


async def test_seeded_databases_are_listed(sim: SimHandle) -> None:
    """SpaceVision starts with its app database and its analytics database."""
    status, body = await sim.call("GET", _base(sim))
    assert status == 200
    assert sorted(d["name"] for d in body["result"]) == [
        "spacevision-analytics",
        "spacevision-db",
    ]


async def test_name_filter_narrows_the_listing(sim: SimHandle) -> None:
    """``?name=`` keeps databases whose name matches."""
    status, body = await sim.call("GET", _base(sim), params={"name": "analytics"})
    assert status == 200
    assert [d["name"] for d in body["result"]] == ["spacevision-analytics"]


async def test_database_details_report_tables_and_size(sim: SimHandle) -> None:
    """GET reports the version, the number of tables and a non-zero file size."""
    db = await _database_id(sim, "spacevision-db")
    status, body = await sim.call("GET", f"{_base(sim)}/{db}")
    assert status == 200
    result = body["result"]
    assert (result["version"], result["num_tables"], result["file_size"] > 0) == (
        "production",
        3,
        True,
    )


async def test_duplicate_database_name_is_refused(sim: SimHandle) -> None:
    """Database names are unique within the account."""
    status, body = await sim.call("POST", _base(sim), json={"name": "spacevision-db"})
    assert status == 400
    assert body["errors"] == [
        {"code": 7502, "message": "A database with that name already exists."}
    ]


async def test_invalid_database_name_is_refused(sim: SimHandle) -> None:
    """Names are lowercase letters, digits, '-' and '_'."""
    status, body = await sim.call("POST", _base(sim), json={"name": "Bad Name"})
    assert (status, body["errors"][0]["code"]) == (400, 7400)


async def test_unknown_database_is_7404(sim: SimHandle) -> None:
    """A well-formed but unknown uuid answers D1's not-found error."""
    missing = "00000000-0000-4000-8000-000000000000"
    status, body = await sim.call("GET", f"{_base(sim)}/{missing}")
    assert status == 404
    assert body["errors"] == [
        {"code": 7404, "message": f"The database {missing} could not be found"}
    ]


async def test_malformed_database_id_is_7400(sim: SimHandle) -> None:
    """A database id that is not a uuid is a 400, as D1 answers it."""
    status, body = await sim.call("GET", f"{_base(sim)}/spacevision-db")
    assert (status, body["errors"][0]["code"]) == (400, 7400)


async def test_deleted_database_is_gone(sim: SimHandle) -> None:
    """DELETE removes the database; GET then answers 7404."""
    db = await _new_database(sim)
    status, body = await sim.call("DELETE", f"{_base(sim)}/{db}")
    assert (status, body["result"]) == (200, None)
    status, body = await sim.call("GET", f"{_base(sim)}/{db}")
    assert (status, body["errors"][0]["code"]) == (404, 7404)


async def test_query_returns_rows_as_objects(sim: SimHandle) -> None:
    """``/query`` answers each row as an object keyed by column."""
    db = await _database_id(sim, "spacevision-db")
    rows = await _rows(sim, db, "SELECT id, email, plan FROM users WHERE id = 1")
    assert rows == [{"id": 1, "email": "ada@spacevision.app", "plan": "team"}]


async def test_each_statement_gets_its_own_result(sim: SimHandle) -> None:
    """Statements separated by ';' answer one result each, in order."""
    db = await _database_id(sim, "spacevision-db")
    status, body = await _query(
        sim, db, "SELECT count(*) AS n FROM users; SELECT count(*) AS n FROM missions;"
    )
    assert status == 200
    assert [r["results"] for r in body["result"]] == [[{"n": 12}], [{"n": 8}]]


async def test_raw_answers_columns_and_row_arrays(sim: SimHandle) -> None:
    """``/raw`` answers column names once and rows as arrays."""
    db = await _database_id(sim, "spacevision-db")
    status, body = await _query(
        sim, db, "SELECT id, name FROM missions WHERE id <= 2 ORDER BY id", raw=True
    )
    assert status == 200
    assert body["result"][0]["results"] == {
        "columns": ["id", "name"],
        "rows": [[1, "Hubble"], [2, "JWST"]],
    }


async def test_params_are_bound_to_the_statement(sim: SimHandle) -> None:
    """``params`` bind to the ``?`` placeholders."""
    db = await _database_id(sim, "spacevision-db")
    status, body = await _query(
        sim, db, "SELECT name FROM missions WHERE agency = ? AND status = ?", ["ESA", "completed"]
    )
    assert (status, body["result"][0]["results"]) == (200, [{"name": "Rosetta"}])


async def test_sql_error_is_400_with_7500(sim: SimHandle) -> None:
    """A bad statement is answered as D1 answers it: SQLite's message and result code."""
    db = await _database_id(sim, "spacevision-db")
    status, body = await _query(sim, db, "SELECT * FROM astronauts")
    assert status == 400
    assert body["errors"] == [{"code": 7500, "message": "no such table: astronauts: SQLITE_ERROR"}]


async def test_constraint_violation_is_sqlite_constraint(sim: SimHandle) -> None:
    """A UNIQUE violation names the constraint and SQLITE_CONSTRAINT."""
    db = await _database_id(sim, "spacevision-db")
    status, body = await _query(
        sim,
        db,
        "INSERT INTO users (email, display_name, created_at) VALUES (?, ?, ?)",
        ["ada@spacevision.app", "Ada again", "2024-01-01T00:00:00Z"],
    )
    assert status == 400
    assert body["errors"][0]["message"] == (
        "UNIQUE constraint failed: users.email: SQLITE_CONSTRAINT"
    )


async def test_failed_batch_is_rolled_back(sim: SimHandle) -> None:
    """When one statement of a batch fails, the earlier ones are undone too."""
    db = await _database_id(sim, "spacevision-db")
    status, _ = await _query(sim, db, "DELETE FROM images; SELECT * FROM no_such_table;")
    assert status == 400
    assert await _rows(sim, db, "SELECT count(*) AS n FROM images") == [{"n": 32}]


async def test_statement_over_100_kb_is_refused(sim: SimHandle) -> None:
    """D1 limits a statement to 100 KB."""
    db = await _new_database(sim)
    long_sql = "SELECT '" + "x" * 100_001 + "'"
    status, body = await _query(sim, db, long_sql)
    assert (status, body["errors"][0]["code"]) == (400, 7500)
    assert body["errors"][0]["message"].endswith("SQLITE_TOOBIG")


async def test_more_than_100_params_are_refused(sim: SimHandle) -> None:
    """D1 binds at most 100 parameters per query."""
    db = await _new_database(sim)
    placeholders = ", ".join("?" * 101)
    status, body = await _query(sim, db, f"SELECT {placeholders}", ["1"] * 101)
    assert (status, body["errors"][0]["message"]) == (400, "too many SQL variables: SQLITE_ERROR")


async def test_explicit_transactions_are_refused(sim: SimHandle) -> None:
    """D1 refuses BEGIN TRANSACTION; batches are already transactional."""
    db = await _new_database(sim)
    status, body = await _query(sim, db, "BEGIN TRANSACTION; SELECT 1; COMMIT;")
    assert status == 400
    assert body["errors"][0]["message"].endswith("SQLITE_AUTH")


async def test_write_meta_reports_changes(sim: SimHandle) -> None:
    """An UPDATE reports its changes, rows written and that the database changed."""
    db = await _database_id(sim, "spacevision-db")
    status, body = await _query(sim, db, "UPDATE users SET plan = 'pro' WHERE plan = 'free'")
    assert status == 200
    meta = body["result"][0]["meta"]
    assert (meta["changes"], meta["rows_written"], meta["changed_db"]) == (6, 6, True)


async def test_file_size_grows_with_data(sim: SimHandle) -> None:
    """Writing rows makes the reported database size grow."""
    db = await _new_database(sim)
    status, before = await sim.call("GET", f"{_base(sim)}/{db}")
    await _query(sim, db, "CREATE TABLE blobs (b TEXT)")
    for _ in range(5):
        await _query(sim, db, "INSERT INTO blobs VALUES (?)", ["x" * 20_000])
    status, after = await sim.call("GET", f"{_base(sim)}/{db}")
    assert status == 200
    assert after["result"]["file_size"] > before["result"]["file_size"] + 90_000


async def test_capacity_fault_overrides_reported_size(sim: SimHandle) -> None:
    """A capacity fault on a database (by name) changes the file size it reports."""
    db = await _database_id(sim, "spacevision-db")
    await sim.control(
        "POST",
        "/__sim/faults",
        json={"service": "d1", "resource": "spacevision-db", "capacity": {"bytes": 9_800_000_000}},
    )
    status, body = await sim.call("GET", f"{_base(sim)}/{db}")
    assert (status, body["result"]["file_size"]) == (200, 9_800_000_000)


async def test_export_polls_then_serves_a_dump_of_the_data(sim: SimHandle) -> None:
    """Export is active for two polls, then complete; its URL serves the seeded rows."""
    db = await _database_id(sim, "spacevision-db")
    statuses, result = await _export(sim, db)
    assert statuses == ["active", "active", "complete"]
    dump = await _download(sim, result["result"]["signed_url"])
    assert "CREATE TABLE users" in dump
    assert "'ada@spacevision.app','Ada Lovelace','team'" in dump
    assert dump.count('INSERT INTO "images" VALUES') == 32


async def test_import_applies_an_exported_dump(sim: SimHandle) -> None:
    """A dump exported from one database and imported into another recreates its rows."""
    source = await _database_id(sim, "spacevision-db")
    _, result = await _export(sim, source)
    dump = await _download(sim, result["result"]["signed_url"])
    target = await _new_database(sim, "restored-copy")
    final = await _import(sim, target, dump.encode())
    assert final["status"] == "complete"
    assert final["result"]["num_queries"] > 50
    assert await _rows(sim, target, "SELECT count(*) AS n FROM images") == [{"n": 32}]


async def test_import_with_wrong_etag_fails(sim: SimHandle) -> None:
    """Ingesting a file whose md5 is not the announced etag is an import error."""
    db = await _new_database(sim)
    path = f"{_base(sim)}/{db}/import"
    etag = hashlib.md5(b"SELECT 1;", usedforsecurity=False).hexdigest()
    status, body = await sim.call("POST", path, json={"action": "init", "etag": etag})
    async with sim.session.put(body["result"]["upload_url"], data=b"SELECT 2;") as resp:
        assert resp.status == 200
    status, body = await sim.call(
        "POST",
        path,
        json={"action": "ingest", "etag": etag, "filename": body["result"]["filename"]},
    )
    assert status == 200
    assert (body["result"]["success"], body["result"]["status"]) == (False, "error")


async def test_import_sql_error_leaves_the_database_unchanged(sim: SimHandle) -> None:
    """An import whose SQL fails reports the error and applies nothing."""
    db = await _new_database(sim)
    final = await _import(sim, db, b"CREATE TABLE t (a INTEGER);\nINSERT INTO nope VALUES (1);\n")
    assert (final["status"], final["error"]) == ("error", "no such table: nope: SQLITE_ERROR")
    status, _ = await _query(sim, db, "SELECT * FROM t")
    assert status == 400


async def test_bookmark_at_a_timestamp_is_the_one_in_force_then(sim: SimHandle) -> None:
    """GET bookmark?timestamp= answers the bookmark of the last write at or before it."""
    clock = FakeClock(float(int(sim.server.state.clock())))
    sim.server.state.clock = clock
    db = await _new_database(sim)
    await _query(sim, db, "CREATE TABLE t (a INTEGER)")
    status, body = await sim.call("GET", f"{_base(sim)}/{db}/time_travel/bookmark")
    first = body["result"]["bookmark"]
    written_at = clock.now
    clock.now += 120
    await _query(sim, db, "INSERT INTO t VALUES (1)")
    status, body = await sim.call(
        "GET",
        f"{_base(sim)}/{db}/time_travel/bookmark",
        params={"timestamp": _rfc3339(written_at + 60)},
    )
    assert (status, body["result"]["bookmark"]) == (200, first)


async def test_restore_to_a_bookmark_restores_the_content(sim: SimHandle) -> None:
    """Restoring to the bookmark before a DELETE brings the deleted rows back."""
    db = await _database_id(sim, "spacevision-db")
    status, body = await sim.call("GET", f"{_base(sim)}/{db}/time_travel/bookmark")
    before = body["result"]["bookmark"]
    await _query(sim, db, "DELETE FROM images WHERE mission_id = 3")
    assert await _rows(sim, db, "SELECT count(*) AS n FROM images") == [{"n": 28}]
    status, body = await sim.call(
        "POST", f"{_base(sim)}/{db}/time_travel/restore", params={"bookmark": before}
    )
    assert status == 200
    assert body["result"]["previous_bookmark"] != before
    assert await _rows(sim, db, "SELECT count(*) AS n FROM images") == [{"n": 32}]


async def test_restore_to_a_timestamp_restores_the_content(sim: SimHandle) -> None:
    """Restoring to a time before a write undoes that write."""
    clock = FakeClock(float(int(sim.server.state.clock())))
    sim.server.state.clock = clock
    db = await _new_database(sim)
    await _query(sim, db, "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);")
    checkpoint = clock.now
    clock.now += 300
    await _query(sim, db, "INSERT INTO t VALUES (2)")
    status, _ = await sim.call(
        "POST",
        f"{_base(sim)}/{db}/time_travel/restore",
        params={"timestamp": _rfc3339(checkpoint)},
    )
    assert status == 200
    assert await _rows(sim, db, "SELECT a FROM t") == [{"a": 1}]


async def test_eleventh_restore_in_ten_minutes_is_refused(sim: SimHandle) -> None:
    """D1 allows 10 restores per 10 minutes per database."""
    sim.server.state.clock = FakeClock(sim.server.state.clock())
    db = await _new_database(sim)
    status, body = await sim.call("GET", f"{_base(sim)}/{db}/time_travel/bookmark")
    assert status == 200
    bookmark = body["result"]["bookmark"]
    path = f"{_base(sim)}/{db}/time_travel/restore"
    statuses = [(await sim.call("POST", path, params={"bookmark": bookmark}))[0] for _ in range(11)]
    assert statuses == [200] * 10 + [429]


async def test_queries_are_recorded_for_analytics(sim: SimHandle) -> None:
    """Each statement becomes a d1 sample with its rows read and written."""
    db = await _new_database(sim)
    await _query(sim, db, "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1); SELECT * FROM t;")
    samples = [s for s in sim.server.state.analytics.samples if s.subject == db]
    assert [(s.kind, s.action, s.rows_written) for s in samples] == [
        ("d1", "write", 1),
        ("d1", "write", 1),
        ("d1", "read", 0),
    ]


async def test_export_url_expires_after_an_hour(sim: SimHandle) -> None:
    """The signed download URL is valid for one hour, like R2's presigned URLs."""
    clock = FakeClock(sim.server.state.clock())
    sim.server.state.clock = clock
    db = await _database_id(sim, "spacevision-analytics")
    _, result = await _export(sim, db)
    clock.now += 3601
    async with sim.session.get(result["result"]["signed_url"]) as resp:
        assert resp.status == 403
