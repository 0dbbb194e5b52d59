"""A real SQLite database behind each simulated D1 database.

Each database is an in-memory SQLite connection. A batch of statements runs in one
transaction and is rolled back whole if any statement fails, as a D1 batch is. Snapshots
(``serialize``) back time travel; dumps back export.

Row counts are estimates in the spirit of D1's: ``rows_written`` is SQLite's change count
(plus one for a schema change), and ``rows_read`` counts every row of each table the query
plan scans, or the rows returned or changed when it searches an index [I: D1 counts rows
read by the engine, which SQLite does not expose to Python].
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from cfsim.services.d1_sql import from_sqlite, quote_identifier

_PLAN_STEP = re.compile(r"^(SCAN|SEARCH) (\S+)")


@dataclass
class StatementResult:
    """What one statement did: its rows and D1's ``meta`` figures."""

    columns: list[str]
    rows: list[list[Any]]
    changes: int
    last_row_id: int
    changed_db: bool
    rows_read: int
    rows_written: int
    duration_ms: float
    size_after: int = 0

    def objects(self) -> list[dict[str, Any]]:
        """Rows as objects keyed by column name (``/query``)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _cell(value: Any) -> Any:
    # D1 answers BLOBs as arrays of byte values.
    return list(value) if isinstance(value, bytes) else value


@dataclass
class SqliteDatabase:
    """An in-memory SQLite database with D1's batch semantics."""

    conn: sqlite3.Connection = field(
        default_factory=lambda: sqlite3.connect(
            ":memory:", isolation_level=None, check_same_thread=False
        )
    )

    def __post_init__(self) -> None:
        # D1 enforces foreign keys by default.
        self.conn.execute("PRAGMA foreign_keys = ON")
        # Writing the header page makes even an empty database serialisable (snapshots).
        self.conn.execute("PRAGMA user_version = 0")

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def size(self) -> int:
        """Database size in bytes (pages in use times page size)."""
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        return int(pages) * int(page_size)

    def tables(self) -> list[str]:
        """Names of the user tables."""
        rows = self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE '_cf_%' ORDER BY name"
        ).fetchall()
        return [str(r[0]) for r in rows]

    def run_batch(self, statements: list[str], params: list[Any]) -> list[StatementResult]:
        """Run statements in one transaction; on error roll back and raise D1's answer."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            results = [self._run(sql, params if i == 0 else []) for i, sql in enumerate(statements)]
        except sqlite3.Error as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise from_sqlite(err) from err
        conn.execute("COMMIT")
        size = self.size()
        for result in results:
            result.size_after = size
        return results

    def _run(self, sql: str, params: list[Any]) -> StatementResult:
        conn = self.conn
        started = time.perf_counter()
        scanned, searched = self._plan(sql, params)
        changes_before = conn.total_changes
        schema_before = conn.execute("PRAGMA schema_version").fetchone()[0]
        cursor = conn.execute(sql, params)
        rows = [[_cell(v) for v in row] for row in cursor.fetchall()]
        columns = [d[0] for d in cursor.description] if cursor.description else []
        changes = conn.total_changes - changes_before
        schema_changed = conn.execute("PRAGMA schema_version").fetchone()[0] != schema_before
        touched = len(rows) + changes if searched else 0
        return StatementResult(
            columns=columns,
            rows=rows,
            changes=changes,
            last_row_id=cursor.lastrowid or 0,
            changed_db=changes > 0 or schema_changed,
            rows_read=max(scanned + touched, len(rows)),
            rows_written=changes + (1 if schema_changed else 0),
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    def _plan(self, sql: str, params: list[Any]) -> tuple[int, bool]:
        """Rows in the tables the plan scans, and whether it searches an index."""
        try:
            plan = self.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        except (sqlite3.Error, sqlite3.Warning):
            # The statement itself will fail (or is not plannable); let it tell why.
            return 0, False
        tables = set(self.tables())
        scanned = 0
        searched = False
        for step in plan:
            match = _PLAN_STEP.match(str(step[-1]))
            if match is None:
                continue
            kind, name = match.groups()
            if kind == "SEARCH":
                searched = True
            elif name in tables:
                # The name comes from sqlite_master and is quoted as an identifier.
                count_sql = f"SELECT count(*) FROM {quote_identifier(name)}"  # noqa: S608
                count = self.conn.execute(count_sql)
                scanned += int(count.fetchone()[0])
        return scanned, searched

    def load(self, statements: list[str], rows: list[tuple[str, list[tuple[object, ...]]]]) -> None:
        """Create a schema and bulk-insert rows with parameterised statements (seeding)."""
        self.run_batch(statements, [])
        conn = self.conn
        conn.execute("BEGIN")
        for sql, values in rows:
            conn.executemany(sql, values)
        conn.execute("COMMIT")

    def snapshot(self) -> bytes:
        """The whole database as bytes (for time travel)."""
        return self.conn.serialize()

    def restore(self, snapshot: bytes) -> None:
        """Replace the content with a snapshot taken by :meth:`snapshot`."""
        self.conn.deserialize(snapshot)
        self.conn.execute("PRAGMA foreign_keys = ON")

    def dump(
        self, *, no_data: bool = False, no_schema: bool = False, tables: list[str] | None = None
    ) -> str:
        """SQL text that recreates the database (D1 export's format, no transaction lines)."""
        wanted = set(tables or [])
        lines = ["PRAGMA defer_foreign_keys=TRUE;"]
        objects = self.conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' "
            "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 "
            "ELSE 3 END, rowid"
        ).fetchall()
        for kind, name, table, sql in objects:
            if wanted and table not in wanted:
                continue
            if kind == "table" and str(sql).upper().startswith("CREATE VIRTUAL"):
                continue
            if not no_schema:
                lines.append(f"{sql};")
            if kind == "table" and not no_data:
                lines.extend(self._inserts(str(name)))
        if not no_data and not wanted and self._has_sequence():
            lines.append('DELETE FROM "sqlite_sequence";')
            for name, seq in self.conn.execute("SELECT name, seq FROM sqlite_sequence"):
                lines.append(
                    f"INSERT INTO sqlite_sequence(name, seq) VALUES({_literal(name)}, {seq});"
                )
        return "\n".join(lines) + "\n"

    def _inserts(self, table: str) -> list[str]:
        columns = [str(r[1]) for r in self.conn.execute(f"PRAGMA table_info({_literal(table)})")]
        if not columns:
            return []
        # Names come from sqlite_master / table_info and are quoted as identifiers; the
        # row values are rendered by SQLite's own quote().
        values = "||','||".join(f"quote({quote_identifier(c)})" for c in columns)
        target = quote_identifier(table).replace("'", "''")
        query = (
            f"SELECT 'INSERT INTO {target} VALUES('||{values}||');' "  # noqa: S608
            f"FROM {quote_identifier(table)}"
        )
        return [str(row[0]) for row in self.conn.execute(query)]

    def _has_sequence(self) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
        ).fetchone()
        return row is not None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
