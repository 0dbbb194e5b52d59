"""D1 SQL text rules: statement splitting, limits and error wording (pure)."""

from __future__ import annotations

import sqlite3

import pytest

from cfsim.envelope import CfHttpError
from cfsim.services.d1_sql import check_batch, from_sqlite, split_statements

TRIGGER = (
    "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES (1); "
    "INSERT INTO b VALUES (2); END;"
)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", ["SELECT 1"]),
        ("SELECT 1; SELECT 2;", ["SELECT 1;", "SELECT 2;"]),
        ("SELECT 'a;b'; SELECT 2", ["SELECT 'a;b';", "SELECT 2"]),
        ("-- only a comment\n;\n  ; SELECT 1;", ["SELECT 1;"]),
        ("SELECT 1; -- trailing comment", ["SELECT 1;"]),
        (f"{TRIGGER} SELECT 3;", [TRIGGER, "SELECT 3;"]),
        ("/* a; b */ SELECT 1;", ["/* a; b */ SELECT 1;"]),
    ],
)
def test_split_statements_follows_sqlite(sql: str, expected: list[str]) -> None:
    """Semicolons in strings, comments and trigger bodies do not split statements."""
    assert expected == split_statements(sql)


def test_unfinished_statement_is_kept_whole() -> None:
    """An unterminated trigger reaches SQLite as one statement (and fails there)."""
    sql = "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1;"
    assert [sql] == split_statements(sql)


@pytest.mark.parametrize(
    ("statements", "params", "message"),
    [
        ([], [], "No SQL statements detected.: SQLITE_ERROR"),
        (["SELECT ?", "SELECT 2"], ["1"], None),
        (["SELECT ?"], ["1"] * 101, "too many SQL variables: SQLITE_ERROR"),
        (["BEGIN TRANSACTION"], [], None),
        (["ATTACH DATABASE 'x' AS y"], [], "not authorized: SQLITE_AUTH"),
        (["SELECT '" + "x" * 100_000 + "'"], [], None),
    ],
)
def test_check_batch_refuses_what_d1_refuses(
    statements: list[str], params: list[object], message: str | None
) -> None:
    """Empty batches, too many parameters, transactions and oversized statements fail."""
    with pytest.raises(CfHttpError) as err:
        check_batch(statements, params)
    assert (400, 7500) == (err.value.status, err.value.errors[0]["code"])
    if message is not None:
        assert message == err.value.errors[0]["message"]


def test_check_batch_accepts_100_parameters() -> None:
    """100 bound parameters is the limit itself."""
    check_batch(["SELECT " + ", ".join("?" * 100)], ["1"] * 100)


def _error(sql: str) -> sqlite3.Error:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE u (email TEXT UNIQUE)")
    conn.execute("INSERT INTO u VALUES ('a')")
    try:
        conn.execute(sql)
    except sqlite3.Error as err:
        return err
    finally:
        conn.close()
    raise AssertionError(f"{sql!r} did not fail")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM nope", "no such table: nope: SQLITE_ERROR"),
        ("INSERT INTO u VALUES ('a')", "UNIQUE constraint failed: u.email: SQLITE_CONSTRAINT"),
        ("SELEC 1", 'near "SELEC": syntax error: SQLITE_ERROR'),
    ],
)
def test_sqlite_errors_are_worded_like_d1(sql: str, message: str) -> None:
    """D1 appends the primary result code name to SQLite's message."""
    err = from_sqlite(_error(sql))
    assert (400, 7500, message) == (err.status, err.errors[0]["code"], err.errors[0]["message"])
