"""The local log store: SQLite (WAL) with an FTS5 index over messages, exceptions and URLs.

Design, and why:

- **Time-ordered keys.** ``events.id`` is ``ts_ms << 20 | n``: the table is clustered by
  event time, so a time range is a range of the primary key, and every secondary index
  (which SQLite ends with the row id) is ordered by time within its key. ``n`` is assigned
  inside the write transaction (after the largest id already in that millisecond), so
  several writers (the daemon and a ``logs tail --store``) never collide.
- **Queries walk indexes newest-first and stop at ``limit``.** Level and service filters
  become one branch per (service, level) pair — an exact index prefix followed by the time
  range — merged with ``UNION ALL``; a text search is driven by FTS5, which returns matches
  in row-id (time) order inside the range. No query sorts or scans everything in its range.
- **Batched writes**: one ``executemany`` per batch inside ``BEGIN IMMEDIATE``.
- **Retention by age and size**: :func:`plan_retention` is pure (stats → what to delete);
  :meth:`LogStore.apply_retention` deletes in short chunks and returns freed pages to the
  file system (``auto_vacuum = INCREMENTAL``).
- The original event is kept deflate-compressed (``raw``) for ``--json``; the columns hold what
  queries, the formatter and traces need.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import sqlite3
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from ops.logevents import (
    KINDS,
    ConsoleLine,
    ExceptionInfo,
    GapRecord,
    Kind,
    Level,
    LogRow,
    TraceSource,
    url_path,
)

SCHEMA_VERSION = 1
SEQ_BITS = 20
SEQ_MASK = (1 << SEQ_BITS) - 1
DEFAULT_LIMIT = 100
TRACE_LIMIT = 10_000
DELETE_CHUNK = 5_000
DAY_S = 86_400.0

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    service TEXT NOT NULL,
    script TEXT NOT NULL,
    version TEXT,
    level INTEGER NOT NULL,
    outcome TEXT,
    method TEXT,
    url TEXT,
    path TEXT,
    status INTEGER,
    colo TEXT,
    ray_id TEXT,
    trace_id TEXT,
    duration_ms REAL,
    message TEXT NOT NULL,
    exc_name TEXT,
    exc_message TEXT,
    exc_stack TEXT,
    detail TEXT,
    raw BLOB
);
CREATE INDEX IF NOT EXISTS events_service_level ON events(service, level);
CREATE INDEX IF NOT EXISTS events_level ON events(level);
CREATE INDEX IF NOT EXISTS events_trace ON events(trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_ray ON events(ray_id) WHERE ray_id IS NOT NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(
    message, exc_name, exc_message, exc_stack, url, content='events', content_rowid='id'
);
CREATE TRIGGER IF NOT EXISTS events_ai AFTER INSERT ON events BEGIN
    INSERT INTO events_fts(rowid, message, exc_name, exc_message, exc_stack, url)
    VALUES (new.id, new.message, new.exc_name, new.exc_message, new.exc_stack, new.url);
END;
CREATE TRIGGER IF NOT EXISTS events_ad AFTER DELETE ON events BEGIN
    INSERT INTO events_fts(events_fts, rowid, message, exc_name, exc_message, exc_stack, url)
    VALUES ('delete', old.id, old.message, old.exc_name, old.exc_message, old.exc_stack, old.url);
END;
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS gaps_end ON gaps(end_ms);
"""

_INSERT = (
    "INSERT INTO events (id, ts_ms, kind, service, script, version, level, outcome, method, "
    "url, path, status, colo, ray_id, trace_id, duration_ms, message, exc_name, exc_message, "
    "exc_stack, detail, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "?, ?, ?)"
)
_COLUMNS = (
    "id, ts_ms, kind, service, script, version, level, outcome, method, url, status, colo, "
    "ray_id, trace_id, duration_ms, message, detail"
)
_E_COLUMNS = ", ".join("e." + c.strip() for c in _COLUMNS.split(","))


# The original event is stored as raw deflate (4 KiB window) primed with this dictionary of
# what trace-v1 messages and probe records repeat: a typical 700-byte event becomes about
# 130 bytes in 5 µs, where plain zlib gives 470 bytes in 50-70 µs (its setup dominates at
# this size). The first byte of the blob names the format; never change a published one.
_RAW_FORMAT = b"\x01"
_RAW_WBITS = 12
_RAW_ZDICT = (
    b'{"probe":"","probe_type":"http","status":"ok","message":"","reason":null,'
    b'"latency_ms":null,"method":"GET","url":"https://","http_status":200,"traceparent":"00-",'
    b'"ray_id":""}{"outcome":"exception","scriptName":"","entrypoint":null,'
    b'"diagnosticsChannelEvents":[],'
    b'"exceptions":[{"name":"Error","message":"","timestamp":,"stack":"Error: \\n    at '
    b'handleRequest (index.js:1:1)\\n    at Object.fetch (index.js:1:1)"}],'
    b'"logs":[{"message":["",""],"level":"error","timestamp":}],"eventTimestamp":,'
    b'"event":{"request":{"url":"https://","method":"POST","headers":{"accept":"*/*",'
    b'"accept-encoding":"gzip, br","accept-language":"en-US,en;q=0.9","cf-connecting-ip":"",'
    b'"cf-ipcountry":"US","cf-ray":"","cf-visitor":"{\\"scheme\\":\\"https\\"}",'
    b'"connection":"Keep-Alive","content-length":"","content-type":"application/json",'
    b'"cookie":"REDACTED","authorization":"REDACTED","host":"","referer":"https://",'
    b'"traceparent":"00-","user-agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 '
    b'(KHTML, like Gecko) Chrome/ Safari/537.36","x-forwarded-proto":"https","x-real-ip":""},'
    b'"cf":{"colo":"","asn":13335,"asOrganization":"Cloudflare","country":"US","city":"",'
    b'"continent":"NA","region":"","regionCode":"","timezone":"America/",'
    b'"httpProtocol":"HTTP/2",'
    b'"tlsVersion":"TLSv1.3","tlsCipher":"AEAD-AES128-GCM-SHA256","clientTcpRtt":,'
    b'"requestPriority":"","latitude":"","longitude":"","postalCode":"","metroCode":"",'
    b'"clientAcceptEncoding":"gzip, deflate, br","edgeRequestKeepAliveStatus":1,'
    b'"verifiedBotCategory":""}},"response":{"status":200}},"scriptVersion":{"id":"",'
    b'"tag":"","message":""},"outcome":"ok","logs":[{"message":["GET /"],"level":"log",'
    b'"timestamp":}],"exceptions":[]'
)


class StoreError(Exception):
    """The log store cannot be opened, read or written (the message says why and what to do)."""


# ---------------------------------------------------------------- pure: keys, queries, retention


def id_range(since_ms: int, until_ms: int) -> tuple[int, int]:
    """The ``events.id`` range holding every event with ``since_ms <= ts_ms <= until_ms``."""
    return max(0, since_ms) << SEQ_BITS, (max(0, until_ms) << SEQ_BITS) | SEQ_MASK


def fts_phrase(text: str) -> str:
    """An FTS5 query for ``text``: its words in order, the last one as a prefix.

    ``"D1_ERROR: Network conn"`` finds "D1_ERROR: Network connection lost." — close to the
    substring match users expect from grep, but served by the index.
    """
    if not re.search(r"[^\W_]", text):
        raise ValueError(f"search text {text!r} has no letters or digits to look for")
    return '"' + text.replace('"', '""') + '"*'


def assign_ids(ts_values: Sequence[int], top_id: Callable[[int], int | None]) -> list[int]:
    """Ids for rows with timestamps ``ts_values`` (in that order), unique and time-ordered.

    ``top_id(ts_ms)`` is the largest id already stored in that millisecond. Ids of one
    millisecond follow it; a millisecond with more than 2**20 rows spills into the next
    one's ids, which then start after the spill.
    """
    counts = Counter(ts_values)
    next_id: dict[int, int] = {}
    running = -1
    for ts_ms in sorted(counts):
        base = max(0, ts_ms) << SEQ_BITS
        top = top_id(ts_ms)
        start = max(base, top + 1 if top is not None else base, running + 1)
        next_id[ts_ms] = start
        running = start + counts[ts_ms] - 1
    assigned: list[int] = []
    for ts_ms in ts_values:
        assigned.append(next_id[ts_ms])
        next_id[ts_ms] += 1
    return assigned


@dataclass(frozen=True, slots=True)
class LogQuery:
    """What ``logs query`` asks for: a time range and optional filters (``limit`` newest)."""

    since_ms: int
    until_ms: int
    min_level: Level | None = None
    services: tuple[str, ...] = ()
    kinds: tuple[Kind, ...] = ()
    search: str | None = None
    limit: int = DEFAULT_LIMIT

    def levels(self) -> tuple[Level, ...]:
        """The levels selected (empty: any level)."""
        if self.min_level is None or self.min_level <= min(Level):
            return ()
        return tuple(lv for lv in Level if lv >= self.min_level)


def build_query(q: LogQuery) -> tuple[str, list[Any]]:
    """SQL and parameters for ``q`` (newest first), shaped so SQLite walks an index.

    Without a search: one branch per (service, level) pair — each an exact prefix of
    ``events_service_level`` or ``events_level`` followed by the time range, newest first,
    stopping at ``limit`` — merged by ``UNION ALL``. With a search, FTS5 drives: it yields
    matches newest first inside the range and the row filters apply as they come.
    """
    if q.limit < 1:
        raise ValueError("limit must be at least 1")
    lo, hi = id_range(q.since_ms, q.until_ms)
    levels = q.levels()
    kind_sql = ""
    kind_params: list[Any] = []
    if q.kinds:
        kind_sql = f" AND kind IN ({', '.join('?' * len(q.kinds))})"
        kind_params = list(q.kinds)
    if q.search is not None:
        sql = (
            f"SELECT {_E_COLUMNS} FROM events_fts"  # noqa: S608  (constants and placeholders)
            " CROSS JOIN events AS e ON e.id = events_fts.rowid "
            "WHERE events_fts MATCH ? AND events_fts.rowid BETWEEN ? AND ?"
        )
        params: list[Any] = [fts_phrase(q.search), lo, hi]
        if q.services:
            sql += f" AND e.service IN ({', '.join('?' * len(q.services))})"
            params += list(q.services)
        if levels:
            sql += f" AND e.level IN ({', '.join('?' * len(levels))})"
            params += [int(lv) for lv in levels]
        if kind_sql:
            sql += kind_sql.replace("kind", "e.kind")
            params += kind_params
        sql += " ORDER BY events_fts.rowid DESC LIMIT ?"
        return sql, [*params, q.limit]
    branch_levels: Sequence[Level | None] = levels or ([*Level] if q.services else [None])
    branch_services: Sequence[str | None] = q.services or [None]
    branches: list[str] = []
    params = []
    for service in branch_services:
        for level in branch_levels:
            where = "id BETWEEN ? AND ?"
            params += [lo, hi]
            if service is not None:
                where += " AND service = ?"
                params.append(service)
            if level is not None:
                where += " AND level = ?"
                params.append(int(level))
            where += kind_sql
            params += kind_params
            branches.append(
                f"SELECT {_COLUMNS} FROM events WHERE {where}"  # noqa: S608  (placeholders only)
                " ORDER BY id DESC LIMIT ?"
            )
            params.append(q.limit)
    if len(branches) == 1:
        return branches[0], params
    union = " UNION ALL ".join(f"SELECT * FROM ({b})" for b in branches)  # noqa: S608
    return f"{union} ORDER BY id DESC LIMIT ?", [*params, q.limit]


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Keep events at most ``max_age_s`` old and the store under ``max_bytes``.

    When the size limit is passed, the oldest events go until the store is back to
    ``low_water`` of the limit, so retention does not run again on the next batch.
    ``None`` switches a limit off.
    """

    max_age_s: float | None = 7 * DAY_S
    max_bytes: int | None = 1 << 30
    low_water: float = 0.9

    def __post_init__(self) -> None:
        if self.max_age_s is not None and self.max_age_s <= 0:
            raise ValueError("max_age_s must be positive")
        if self.max_bytes is not None and self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if not 0 < self.low_water <= 1:
            raise ValueError("low_water must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class StoreStats:
    """How much the store holds: rows, time span, bytes in use (pages not on the free list)."""

    rows: int
    oldest_ms: int | None
    newest_ms: int | None
    bytes_used: int
    file_bytes: int
    gaps: int = 0


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    """What to delete: events before ``cutoff_ms``, then the ``drop_oldest`` oldest left."""

    cutoff_ms: int | None
    drop_oldest: int
    reason: str

    @property
    def empty(self) -> bool:
        """Whether nothing needs deleting."""
        return self.cutoff_ms is None and self.drop_oldest == 0


def plan_retention(policy: RetentionPolicy, stats: StoreStats, now_ms: int) -> RetentionPlan:
    """Decide what retention deletes (pure).

    The age limit gives a cut-off time; the size limit a number of oldest rows, estimated
    from the average row size. Apply the age cut first and plan again for the size: the
    second plan then sees the rows the first one removed.
    """
    if stats.rows == 0:
        return RetentionPlan(None, 0, "empty")
    if policy.max_age_s is not None:
        cutoff = now_ms - int(policy.max_age_s * 1000)
        if stats.oldest_ms is not None and stats.oldest_ms < cutoff:
            return RetentionPlan(cutoff, 0, f"older than {policy.max_age_s:g} s")
    if policy.max_bytes is not None and stats.bytes_used > policy.max_bytes:
        target = policy.max_bytes * policy.low_water
        # The epsilon keeps float noise (100 * 0.55 = 55.000…01) from deleting one row more.
        share = (stats.bytes_used - target) / stats.bytes_used
        drop = min(stats.rows, max(1, math.ceil(stats.rows * share - 1e-9)))
        return RetentionPlan(None, drop, f"{stats.bytes_used} bytes used, limit {policy.max_bytes}")
    return RetentionPlan(None, 0, "within limits")


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What retention deleted."""

    deleted: int
    gaps_deleted: int
    bytes_before: int
    bytes_after: int


# ---------------------------------------------------------------- row <-> columns


def _none_if_empty(value: str) -> str | None:
    return value or None


def _detail(row: LogRow) -> str | None:
    if not row.logs and not row.exceptions and not row.trace_source:
        return None
    return json.dumps(
        {
            "logs": [[c.level, c.text, c.ts_ms] for c in row.logs],
            "exceptions": [[e.name, e.message, e.stack, e.ts_ms] for e in row.exceptions],
            "trace_source": row.trace_source,
        },
        separators=(",", ":"),
    )


_PACKER = zlib.compressobj(1, zlib.DEFLATED, -_RAW_WBITS, 3, zdict=_RAW_ZDICT)


def _compress(raw_json: bytes | None) -> bytes | None:
    if raw_json is None:
        return None
    # Copying a primed compressor skips hashing the dictionary again for every event.
    packer = _PACKER.copy()
    return _RAW_FORMAT + packer.compress(raw_json) + packer.flush()


def _decompress(blob: bytes) -> bytes:
    if blob[:1] != _RAW_FORMAT:
        raise StoreError("a stored event has an unknown raw format")
    unpacker = zlib.decompressobj(-_RAW_WBITS, zdict=_RAW_ZDICT)
    return unpacker.decompress(blob[1:]) + unpacker.flush()


def row_values(row: LogRow, row_id: int) -> tuple[Any, ...]:
    """The ``INSERT`` parameters of one row."""
    first = row.exception
    return (
        row_id,
        row.ts_ms,
        row.kind,
        row.service,
        row.script,
        _none_if_empty(row.version),
        int(row.level),
        _none_if_empty(row.outcome),
        _none_if_empty(row.method),
        _none_if_empty(row.url),
        _none_if_empty(url_path(row.url)),
        row.status,
        _none_if_empty(row.colo),
        _none_if_empty(row.ray_id),
        _none_if_empty(row.trace_id),
        row.duration_ms,
        row.message,
        first.name if first else None,
        first.message if first else None,
        first.stack if first else None,
        _detail(row),
        _compress(row.raw_json),
    )


def _kind(value: str) -> Kind:
    for kind in KINDS:
        if value == kind:
            return kind
    return "worker"


def row_from_columns(values: Sequence[Any], raw: bytes | None = None) -> LogRow:
    """A :class:`LogRow` from the columns of ``_COLUMNS`` (and the compressed ``raw``)."""
    (
        _id,
        ts_ms,
        kind,
        service,
        script,
        version,
        level,
        outcome,
        method,
        url,
        status,
        colo,
        ray_id,
        trace_id,
        duration_ms,
        message,
        detail,
    ) = values
    logs: tuple[ConsoleLine, ...] = ()
    exceptions: tuple[ExceptionInfo, ...] = ()
    source = ""
    if detail:
        parsed = json.loads(detail)
        logs = tuple(ConsoleLine(str(lv), str(text), ts) for lv, text, ts in parsed["logs"])
        exceptions = tuple(
            ExceptionInfo(str(n), str(m), str(s), ts) for n, m, s, ts in parsed["exceptions"]
        )
        source = str(parsed.get("trace_source", ""))
    try:
        lvl = Level(level)
    except ValueError:
        lvl = Level.INFO
    return LogRow(
        ts_ms=int(ts_ms),
        kind=_kind(kind),
        service=service,
        level=lvl,
        script=script or "",
        version=version or "",
        outcome=outcome or "",
        method=method or "",
        url=url or "",
        status=status,
        colo=colo or "",
        ray_id=ray_id or "",
        trace_id=trace_id or "",
        trace_source=cast(TraceSource, source),
        duration_ms=duration_ms,
        message=message or "",
        logs=logs,
        exceptions=exceptions,
        raw_json=_decompress(raw) if raw is not None else None,
    )


# ---------------------------------------------------------------- the store (blocking I/O)


class LogStore:
    """A log store file. Blocking: use it from one thread (:class:`StoreWriter` for asyncio).

    ``create=False`` refuses to create a missing store (``logs query`` on a wrong path must
    say so, not answer "no events" from a fresh empty file).
    """

    def __init__(self, path: str | Path, *, create: bool = True, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StoreError(
                f"no log store at {self.path}: record one with `flarewatch logs tail --store` "
                "or pass --store PATH"
            )
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open the log store {self.path}: {err}") from err
        try:
            self._setup(create)
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise StoreError(
                f"{self.path} is not a flarewatch log store ({err}); pass another --store PATH"
            ) from err
        except StoreError:
            self._db.close()
            raise

    def _setup(self, create: bool) -> None:
        db = self._db
        db.execute("PRAGMA busy_timeout = 10000")
        fresh = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        if fresh and not create:
            raise StoreError(f"{self.path} is empty, not a flarewatch log store")
        if fresh:
            # Must precede the first table: lets retention hand freed pages back to the disk.
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        if fresh:
            db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        try:
            found = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError as err:
            raise StoreError(f"{self.path} is not a flarewatch log store ({err})") from err
        if found is None or found[0] != str(SCHEMA_VERSION):
            version = found[0] if found else "none"
            raise StoreError(
                f"{self.path} has log store schema {version}; this flarewatch reads schema "
                f"{SCHEMA_VERSION}. Use a new --store PATH."
            )

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        self._db.close()

    def __enter__(self) -> LogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LogStore({str(self.path)!r})"

    # -- writing

    def _top_id(self, ts_ms: int) -> int | None:
        base = max(0, ts_ms) << SEQ_BITS
        found = self._db.execute(
            "SELECT max(id) FROM events WHERE id BETWEEN ? AND ?", (base, base | SEQ_MASK)
        ).fetchone()
        return cast("int | None", found[0])

    def add(self, rows: Sequence[LogRow]) -> int:
        """Store ``rows`` in one transaction; return how many were written."""
        if not rows:
            return 0
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ids = assign_ids([r.ts_ms for r in rows], self._top_id)
                self._db.executemany(
                    _INSERT, [row_values(r, i) for r, i in zip(rows, ids, strict=True)]
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as err:
            raise StoreError(f"cannot write to the log store {self.path}: {err}") from err
        return len(rows)

    def add_gaps(self, gaps: Iterable[GapRecord]) -> None:
        """Record intervals in which events may be missing."""
        values = [(g.service, g.kind, g.start_ms, g.end_ms, g.reason) for g in gaps]
        if not values:
            return
        try:
            with self._transaction():
                self._db.executemany(
                    "INSERT INTO gaps (service, kind, start_ms, end_ms, reason) "
                    "VALUES (?, ?, ?, ?, ?)",
                    values,
                )
        except sqlite3.Error as err:
            raise StoreError(f"cannot write to the log store {self.path}: {err}") from err

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reading

    def _read(self, sql: str, params: Sequence[Any], with_raw: bool) -> list[LogRow]:
        try:
            found = self._db.execute(sql, params).fetchall()
            raws: dict[int, bytes | None] = {}
            if with_raw and found:
                ids = [r[0] for r in found]
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ", ".join("?" * len(chunk))
                    raws.update(
                        self._db.execute(
                            f"SELECT id, raw FROM events WHERE id IN ({marks})",  # noqa: S608
                            chunk,
                        ).fetchall()
                    )
        except sqlite3.Error as err:
            raise StoreError(f"cannot read the log store {self.path}: {err}") from err
        return [row_from_columns(r, raws.get(r[0])) for r in found]

    def search(self, q: LogQuery, *, with_raw: bool = False) -> list[LogRow]:
        """The newest ``q.limit`` events matching ``q``, in time order (oldest first)."""
        sql, params = build_query(q)
        rows = self._read(sql, params, with_raw)
        rows.reverse()
        return rows

    def query(
        self,
        since: float,
        until: float,
        level: Level | None = None,
        service: str | Sequence[str] | None = None,
        search: str | None = None,
        limit: int = DEFAULT_LIMIT,
        *,
        kinds: Sequence[Kind] = (),
        with_raw: bool = False,
    ) -> list[LogRow]:
        """Events between ``since`` and ``until`` (epoch seconds), filtered, oldest first.

        ``level`` is a minimum; ``service`` one name or several; ``search`` words in order
        (the last one a prefix) in messages, exceptions and URLs; the newest ``limit`` win.
        """
        services = (service,) if isinstance(service, str) else tuple(service or ())
        q = LogQuery(
            since_ms=int(since * 1000),
            until_ms=int(until * 1000),
            min_level=level,
            services=services,
            kinds=tuple(kinds),
            search=search,
            limit=limit,
        )
        return self.search(q, with_raw=with_raw)

    def trace(self, trace_id: str, *, with_raw: bool = False) -> list[LogRow]:
        """Every event whose trace id or ray id is ``trace_id``, in time order."""
        sql = (
            f"SELECT {_COLUMNS} FROM events"  # noqa: S608  (a constant column list)
            " WHERE trace_id = ? OR ray_id = ? ORDER BY id LIMIT ?"
        )
        return self._read(sql, (trace_id, trace_id, TRACE_LIMIT), with_raw)

    def gaps(self, since_ms: int, until_ms: int, services: Sequence[str] = ()) -> list[GapRecord]:
        """Recorded gaps overlapping the range (of ``services``, when given), oldest first."""
        sql = "SELECT service, kind, start_ms, end_ms, reason FROM gaps WHERE end_ms >= ? "
        sql += "AND start_ms <= ?"
        params: list[Any] = [since_ms, until_ms]
        if services:
            sql += f" AND service IN ({', '.join('?' * len(services))})"
            params += list(services)
        try:
            found = self._db.execute(sql + " ORDER BY start_ms", params).fetchall()
        except sqlite3.Error as err:
            raise StoreError(f"cannot read the log store {self.path}: {err}") from err
        return [GapRecord(s, _kind(k), a, b, r) for s, k, a, b, r in found]

    def stats(self) -> StoreStats:
        """Rows, time span and bytes in use."""
        db = self._db
        try:
            rows = db.execute("SELECT count(*) FROM events").fetchone()[0]
            oldest = db.execute("SELECT ts_ms FROM events ORDER BY id LIMIT 1").fetchone()
            newest = db.execute("SELECT ts_ms FROM events ORDER BY id DESC LIMIT 1").fetchone()
            gaps = db.execute("SELECT count(*) FROM gaps").fetchone()[0]
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
        except sqlite3.Error as err:
            raise StoreError(f"cannot read the log store {self.path}: {err}") from err
        return StoreStats(
            rows=rows,
            oldest_ms=oldest[0] if oldest else None,
            newest_ms=newest[0] if newest else None,
            bytes_used=(pages - free) * page_size,
            file_bytes=pages * page_size,
            gaps=gaps,
        )

    # -- retention

    def _delete_below(self, top_id: int) -> int:
        """Delete events with ``id < top_id`` in short transactions; return how many."""
        deleted = 0
        while True:
            with self._transaction():
                cur = self._db.execute(
                    "DELETE FROM events WHERE id IN "
                    "(SELECT id FROM events WHERE id < ? ORDER BY id LIMIT ?)",
                    (top_id, DELETE_CHUNK),
                )
            deleted += cur.rowcount
            if cur.rowcount < DELETE_CHUNK:
                return deleted

    def apply_retention(self, policy: RetentionPolicy, now_ms: int) -> RetentionResult:
        """Delete what :func:`plan_retention` says, then release the freed pages."""
        before = self.stats()
        stats = before
        deleted = gaps_deleted = 0
        try:
            for _ in range(4):
                plan = plan_retention(policy, stats, now_ms)
                if plan.empty:
                    break
                if plan.cutoff_ms is not None:
                    deleted += self._delete_below(id_range(plan.cutoff_ms, plan.cutoff_ms)[0])
                    with self._transaction():
                        cur = self._db.execute(
                            "DELETE FROM gaps WHERE end_ms < ?", (plan.cutoff_ms,)
                        )
                    gaps_deleted += cur.rowcount
                if plan.drop_oldest:
                    edge = self._db.execute(
                        "SELECT id FROM events ORDER BY id LIMIT 1 OFFSET ?",
                        (plan.drop_oldest,),
                    ).fetchone()
                    top = edge[0] if edge else (1 << 62)
                    deleted += self._delete_below(top)
                    oldest = self._db.execute(
                        "SELECT ts_ms FROM events ORDER BY id LIMIT 1"
                    ).fetchone()
                    with self._transaction():
                        cur = self._db.execute(
                            "DELETE FROM gaps WHERE end_ms < ?",
                            (oldest[0] if oldest else 1 << 62,),
                        )
                    gaps_deleted += cur.rowcount
                    # FTS5 only marks deleted rows until segments merge: merge now, or the
                    # size would not drop and the next round would delete again.
                    self._db.execute("INSERT INTO events_fts(events_fts) VALUES ('optimize')")
                stats = self.stats()
            if deleted or gaps_deleted:
                # executescript steps the pragma to the end; execute() frees one page.
                self._db.executescript("PRAGMA incremental_vacuum;")
        except sqlite3.Error as err:
            raise StoreError(f"log store retention failed on {self.path}: {err}") from err
        after = self.stats()
        return RetentionResult(deleted, gaps_deleted, before.bytes_used, after.bytes_used)

    def explain(self, q: LogQuery) -> list[str]:
        """SQLite's plan for ``q`` (what the benchmark and tests check: no full scans)."""
        sql, params = build_query(q)
        return [r[3] for r in self._db.execute("EXPLAIN QUERY PLAN " + sql, params)]


# ---------------------------------------------------------------- asyncio writer


class StoreWriter:
    """Feeds a :class:`LogStore` from asyncio code in batches; SQLite runs on one thread.

    ``add`` never blocks: rows are buffered and written every ``flush_interval_s`` or as
    soon as ``batch_size`` are waiting. Retention runs at open and every
    ``retention_interval_s``. A write failure is kept and raised by the next ``add``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        policy: RetentionPolicy | None = None,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
        retention_interval_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.policy = policy or RetentionPolicy()
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retention_interval_s = retention_interval_s
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flarewatch-logs")
        self._store: LogStore | None = None
        self._rows: list[LogRow] = []
        self._gaps: list[GapRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_retention = 0.0
        self.written = 0
        self.deleted = 0
        self.error: BaseException | None = None

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def open(self) -> None:
        """Open (or create) the store, apply retention, start the flusher."""
        self._store = await self._run(lambda: LogStore(self.path))
        await self._retention()
        self._task = asyncio.create_task(self._flusher(), name="flarewatch-logstore-flusher")

    async def __aenter__(self) -> StoreWriter:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def add(self, row: LogRow) -> None:
        """Queue one row."""
        if self.error is not None:
            raise StoreError(str(self.error)) from self.error
        self._rows.append(row)
        if len(self._rows) >= self.batch_size:
            self._wake.set()

    def add_gap(self, gap: GapRecord) -> None:
        """Queue one gap record."""
        self._gaps.append(gap)
        self._wake.set()

    async def flush(self) -> int:
        """Write what is queued now; return how many rows."""
        store = self._store
        if store is None:
            raise StoreError("the log store writer is not open")
        rows, self._rows = self._rows, []
        gaps, self._gaps = self._gaps, []
        if gaps:
            await self._run(lambda: store.add_gaps(gaps))
        if not rows:
            return 0
        written = await self._run(lambda: store.add(rows))
        self.written += written
        return written

    async def _retention(self) -> None:
        store = self._store
        assert store is not None
        now_ms = int(self._clock() * 1000)
        result = await self._run(lambda: store.apply_retention(self.policy, now_ms))
        self.deleted += result.deleted
        self._next_retention = self._clock() + self.retention_interval_s

    async def _flusher(self) -> None:
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.flush_interval_s):
                        await self._wake.wait()
                self._wake.clear()
                await self.flush()
                if self._clock() >= self._next_retention:
                    await self._retention()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self.error = err

    async def aclose(self) -> None:
        """Write what is left, stop the flusher and close the store."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            if self._store is not None and self.error is None:
                await self.flush()
        finally:
            store, self._store = self._store, None
            if store is not None:
                await self._run(store.close)
            self._executor.shutdown(wait=True)
