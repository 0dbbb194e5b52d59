"""The SQLite log store on disk: queries, traces, gaps, retention, concurrency, bad files."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from ops.logevents import ConsoleLine, ExceptionInfo, GapRecord, Level, LogRow
from ops.logstore import (
    LogQuery,
    LogStore,
    RetentionPolicy,
    StoreError,
    StoreWriter,
)

T0 = 1_795_000_000_000
MIN = 60_000


def event(
    minute: float,
    service: str = "api",
    level: Level = Level.INFO,
    *,
    kind: str = "worker",
    text: str = "GET /v1/stars",
    trace_id: str = "",
    ray_id: str = "",
    exception: str = "",
) -> LogRow:
    """One event ``minute`` minutes after T0."""
    return LogRow(
        ts_ms=int(T0 + minute * MIN),
        kind=kind,  # type: ignore[arg-type]
        service=service,
        level=level,
        method="GET",
        url=f"https://{service}.example/{text.split()[-1].lstrip('/')}",
        status=500 if level is Level.ERROR else 200,
        trace_id=trace_id,
        ray_id=ray_id,
        message=text,
        logs=(ConsoleLine("error" if level is Level.ERROR else "log", text),),
        exceptions=(ExceptionInfo("TypeError", exception, f"TypeError: {exception}\n at f"),)
        if exception
        else (),
        raw_json=json.dumps({"text": text}).encode(),
    )


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    """A store holding a small incident: api errors, a healthy site, a probe."""
    db = LogStore(tmp_path / "logs.db")
    db.add(
        [
            event(0, "api"),
            event(1, "api", Level.ERROR, text="D1_ERROR: Network connection lost."),
            event(2, "spacevision-web", kind="pages", text="GET /about"),
            event(3, "api", Level.WARN, text="GET /missing"),
            event(4, "api", Level.ERROR, text="Unhandled error", exception="x is undefined"),
            event(5, "api-health", Level.ERROR, kind="probe", text="HTTP 503"),
            event(60, "api"),
        ]
    )
    return db


def q(store: LogStore, **kwargs: object) -> list[str]:
    """Query the fixture's whole span and return ``service:message`` per row."""
    since = kwargs.pop("since", T0 / 1000)
    until = kwargs.pop("until", T0 / 1000 + 3600 * 2)
    found = store.query(since, until, **kwargs)  # type: ignore[arg-type]
    return [f"{r.service}:{r.message}" for r in found]


def test_time_range_is_inclusive_and_ordered(store: LogStore) -> None:
    """Events between since and until, oldest first."""
    expected = ["api:D1_ERROR: Network connection lost.", "spacevision-web:GET /about"]
    assert expected == q(store, since=(T0 + MIN) / 1000, until=(T0 + 2 * MIN) / 1000)


def test_level_is_a_minimum(store: LogStore) -> None:
    """--level warn shows warnings and errors of every component."""
    expected = [
        "api:D1_ERROR: Network connection lost.",
        "api:GET /missing",
        "api:Unhandled error",
        "api-health:HTTP 503",
    ]
    assert expected == q(store, level=Level.WARN)


def test_service_filter(store: LogStore) -> None:
    """--service picks components; several may be given."""
    expected = ["spacevision-web:GET /about", "api-health:HTTP 503"]
    assert expected == q(store, service=["spacevision-web", "api-health"])


def test_search_finds_messages_exceptions_and_urls(store: LogStore) -> None:
    """Text search covers console text, exception messages and the URL; the last word is a
    prefix."""
    by_log = q(store, search="network conn")
    by_exception = q(store, search="undefined")
    by_url = q(store, search="about", service="spacevision-web")
    assert (by_log, by_exception, by_url) == (
        ["api:D1_ERROR: Network connection lost."],
        ["api:Unhandled error"],
        ["spacevision-web:GET /about"],
    )


def test_filters_combine(store: LogStore) -> None:
    """Level, service, kind and search together narrow the answer."""
    found = store.query(
        T0 / 1000,
        T0 / 1000 + 7200,
        level=Level.ERROR,
        service="api",
        search="error",
        kinds=["worker"],
    )
    assert ["D1_ERROR: Network connection lost.", "Unhandled error"] == [r.message for r in found]


def test_limit_keeps_the_newest(store: LogStore) -> None:
    """With more matches than the limit, the newest are returned (still oldest first)."""
    assert ["api-health:HTTP 503", "api:GET /v1/stars"] == q(store, limit=2)


def test_rows_round_trip_with_their_original_event(store: LogStore) -> None:
    """What goes in comes back: context, console lines, exceptions and (on request) raw JSON."""
    (row,) = store.query(T0 / 1000 + 240, T0 / 1000 + 240, with_raw=True)
    assert (row.exceptions[0].title, row.logs[0].level, row.status, row.raw, row.path) == (
        "TypeError: x is undefined",
        "error",
        500,
        {"text": "Unhandled error"},
        "/error",
    )


def test_trace_matches_trace_id_or_ray_id(tmp_path: Path) -> None:
    """A trace id finds its events; a ray id finds the event it belongs to as well."""
    with LogStore(tmp_path / "logs.db") as db:
        db.add(
            [
                event(2, "spacevision-web", kind="pages", trace_id="t1"),
                event(1, "api", trace_id="t1", ray_id="8a1b2c3d4e5f6789"),
                event(3, "api", trace_id="t2"),
            ]
        )
        by_trace = [r.service for r in db.trace("t1")]
        by_ray = [r.service for r in db.trace("8a1b2c3d4e5f6789")]
    assert (["api", "spacevision-web"], ["api"]) == (by_trace, by_ray)


def test_gaps_are_found_by_range_and_service(tmp_path: Path) -> None:
    """Stored gaps overlapping a range are returned, for the services asked about."""
    with LogStore(tmp_path / "logs.db") as db:
        db.add_gaps(
            [
                GapRecord("api", "worker", T0, T0 + 5000, "reconnect"),
                GapRecord("web", "pages", T0 + 10 * MIN, T0 + 11 * MIN, "renewal"),
            ]
        )
        api = db.gaps(T0 + 1000, T0 + 2000, ["api"])
        later = db.gaps(T0 + 9 * MIN, T0 + 20 * MIN)
    assert (["reconnect"], ["renewal"]) == ([g.reason for g in api], [g.reason for g in later])


def test_age_retention_deletes_old_events_and_gaps(tmp_path: Path) -> None:
    """Events and gaps older than the age limit are deleted, newer ones kept."""
    with LogStore(tmp_path / "logs.db") as db:
        db.add([event(0), event(30), event(90)])
        db.add_gaps([GapRecord("api", "worker", T0, T0 + 1000, "reconnect")])
        result = db.apply_retention(RetentionPolicy(max_age_s=3600, max_bytes=None), T0 + 120 * MIN)
        left = [r.ts_ms for r in db.query(0, 2e9)]
        stats = db.stats()
    assert (result.deleted, result.gaps_deleted, left, stats.gaps) == (
        2,
        1,
        [T0 + 90 * MIN],
        0,
    )


def test_size_retention_keeps_the_file_under_its_limit(tmp_path: Path) -> None:
    """Past the size limit the oldest events go and the file on disk shrinks below the limit."""
    path = tmp_path / "logs.db"
    with LogStore(path) as db:
        for batch in range(20):
            db.add(
                [
                    event(batch + i / 1000, text=f"GET /v1/item/{batch}/{i} " + "x" * 200)
                    for i in range(500)
                ]
            )
        before = db.stats()
        limit = before.bytes_used // 3
        result = db.apply_retention(RetentionPolicy(max_age_s=None, max_bytes=limit), T0)
        after = db.stats()
        newest = db.query(0, 2e9, limit=1)[0].ts_ms
    assert (after.bytes_used <= limit, after.file_bytes <= limit, result.deleted > 0) == (
        True,
        True,
        True,
    )
    assert (after.rows < before.rows, newest) == (True, before.newest_ms)


def test_two_writers_in_the_same_millisecond_do_not_collide(tmp_path: Path) -> None:
    """The daemon and a `logs tail --store` may write the same file at the same moment."""
    path = tmp_path / "logs.db"
    with LogStore(path) as first, LogStore(path) as second:
        first.add([event(0, "a"), event(0, "a")])
        second.add([event(0, "b"), event(0, "b")])
        first.add([event(0, "a")])
        services = sorted(r.service for r in first.query(0, 2e9))
    assert ["a", "a", "a", "b", "b"] == services


@pytest.mark.parametrize(
    "query",
    [
        LogQuery(T0, T0 + 3_600_000),
        LogQuery(T0, T0 + 3_600_000, min_level=Level.ERROR),
        LogQuery(T0, T0 + 3_600_000, min_level=Level.WARN, services=("api", "web")),
        LogQuery(T0, T0 + 3_600_000, services=("api",)),
        LogQuery(T0, T0 + 3_600_000, search="error", services=("api",)),
    ],
)
def test_queries_use_indexes_not_table_scans(store: LogStore, query: LogQuery) -> None:
    """Every query shape is an index or key range search: no full scan of the events."""
    plan = store.explain(query)
    scans = [step for step in plan if step.startswith("SCAN events") and "VIRTUAL" not in step]
    assert ([], True) == (
        scans,
        any(step.startswith(("SEARCH", "SCAN events_fts")) for step in plan),
    )


def test_missing_store_is_not_created_for_reading(tmp_path: Path) -> None:
    """Querying a wrong path says there is no store, instead of answering from a new empty one."""
    with pytest.raises(StoreError, match="no log store at"):
        LogStore(tmp_path / "nope.db", create=False)
    assert not (tmp_path / "nope.db").exists()


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    """Pointing --store at some other file fails clearly and leaves it alone."""
    other = tmp_path / "notes.txt"
    other.write_text("not a database, just notes\n" * 100)
    with pytest.raises(StoreError, match="not a flarewatch log store"):
        LogStore(other, create=False)
    assert other.read_text().startswith("not a database")


def test_another_schema_version_is_refused(tmp_path: Path) -> None:
    """A store written by another flarewatch version is not misread."""
    path = tmp_path / "logs.db"
    LogStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    raw.close()
    with pytest.raises(StoreError, match="schema 99"):
        LogStore(path)


async def test_writer_batches_and_flushes_on_close(tmp_path: Path) -> None:
    """Rows added from asyncio code are all in the file once the writer closes."""
    path = tmp_path / "logs.db"
    async with StoreWriter(path, batch_size=3, flush_interval_s=30) as writer:
        for i in range(7):
            writer.add(event(i))
        writer.add_gap(GapRecord("api", "worker", T0, T0 + 1, "reconnect"))
    with LogStore(path, create=False) as db:
        stats = db.stats()
    assert (writer.written, stats.rows, stats.gaps) == (7, 7, 1)


async def test_writer_applies_retention_when_it_opens(tmp_path: Path) -> None:
    """A store reopened after a week keeps only what the policy allows."""
    path = tmp_path / "logs.db"
    with LogStore(path) as db:
        db.add([event(0), event(2 * 24 * 60)])
    policy = RetentionPolicy(max_age_s=86400, max_bytes=None)
    async with StoreWriter(path, policy=policy, clock=lambda: (T0 + 2 * 86_400_000) / 1000) as w:
        pass
    with LogStore(path, create=False) as db:
        rows = db.stats().rows
    assert (w.deleted, rows) == (1, 1)


async def test_writer_failure_is_reported_on_the_next_add(tmp_path: Path) -> None:
    """If the store breaks underneath (here: its table is dropped), the writer says so."""
    path = tmp_path / "logs.db"
    writer = StoreWriter(path, batch_size=1, flush_interval_s=0.01)
    await writer.open()
    try:
        with sqlite3.connect(path) as raw:
            raw.execute("DROP TABLE events")
        raw.close()
        writer.add(event(0))
        async with asyncio.timeout(10):
            while True:
                if writer.error is not None:
                    break
                await asyncio.sleep(0.01)
        with pytest.raises(StoreError, match="cannot write"):
            writer.add(event(1))
    finally:
        await writer.aclose()
