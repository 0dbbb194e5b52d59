"""SQL text handling for simulated D1: statement splitting, D1's limits and error wording.

Pure functions, no database: the engine (:mod:`cfsim.services.d1_engine`) runs what these
produce.

D1 answers SQL failures as HTTP 400 with code 7500 and the SQLite message followed by the
primary result code name, e.g. ``no such table: users: SQLITE_ERROR`` or
``UNIQUE constraint failed: users.email: SQLITE_CONSTRAINT`` [V: many real wrangler logs
quoted in public repositories, e.g. ``duplicate column name: …: SQLITE_ERROR [code: 7500]``,
``incomplete input: SQLITE_ERROR [code: 7500]``].
"""

from __future__ import annotations

import re
import sqlite3

from cfsim.envelope import CfHttpError

CODE_SQL_ERROR = 7500
MAX_STATEMENT_BYTES = 100_000
MAX_BOUND_PARAMS = 100

# D1 runs on SQLite inside a Durable Object, which refuses SQL-level transactions and
# attached databases; the wording is the Durable Object storage API's [I].
_TRANSACTION = re.compile(r"^(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)
_ATTACH = re.compile(r"^(ATTACH|DETACH)\b", re.IGNORECASE)
TRANSACTION_MESSAGE = (
    "To execute a transaction, please use the state.storage.transaction() or "
    "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT "
    "statements. The JavaScript API is safer because it will automatically roll back on "
    "exceptions, and because it interacts correctly with Durable Objects' automatic atomic "
    "write coalescing."
)

_PRIMARY_CODES = {
    1: "SQLITE_ERROR",
    2: "SQLITE_INTERNAL",
    4: "SQLITE_ABORT",
    5: "SQLITE_BUSY",
    7: "SQLITE_NOMEM",
    8: "SQLITE_READONLY",
    9: "SQLITE_INTERRUPT",
    11: "SQLITE_CORRUPT",
    13: "SQLITE_FULL",
    18: "SQLITE_TOOBIG",
    19: "SQLITE_CONSTRAINT",
    20: "SQLITE_MISMATCH",
    21: "SQLITE_MISUSE",
    23: "SQLITE_AUTH",
    25: "SQLITE_RANGE",
}


def strip_leading_comments(sql: str) -> str:
    """``sql`` without the whitespace and comments before its first token."""
    text = sql.lstrip()
    while text.startswith(("--", "/*")):
        if text.startswith("--"):
            newline = text.find("\n")
            text = "" if newline < 0 else text[newline + 1 :]
        else:
            end = text.find("*/")
            text = "" if end < 0 else text[end + 2 :]
        text = text.lstrip()
    return text


def split_statements(sql: str) -> list[str]:
    """Split a batch on ``;`` the way SQLite reads it.

    Semicolons inside strings, comments and trigger bodies do not end a statement (SQLite's
    own ``sqlite3_complete`` decides). Empty statements and bare comments are dropped; a final
    statement without ``;`` is kept, so an unfinished one reaches SQLite and fails there
    with ``incomplete input``.
    """
    statements: list[str] = []
    buffer = ""
    *pieces, tail = sql.split(";")
    for piece in pieces:
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            _keep(statements, buffer)
            buffer = ""
    _keep(statements, buffer + tail)
    return statements


def _keep(statements: list[str], text: str) -> None:
    body = strip_leading_comments(text)
    if body and body != ";":
        statements.append(text.strip())


def check_batch(statements: list[str], params: list[object]) -> None:
    """Apply D1's limits before anything runs: 100 KB statements, 100 bound parameters."""
    if not statements:
        raise sql_error("No SQL statements detected.", "SQLITE_ERROR")
    for statement in statements:
        size = len(statement.encode())
        if size > MAX_STATEMENT_BYTES:
            raise sql_error(
                f"statement too long ({size} bytes, limit {MAX_STATEMENT_BYTES})", "SQLITE_TOOBIG"
            )
        head = strip_leading_comments(statement)
        if _TRANSACTION.match(head):
            raise sql_error(TRANSACTION_MESSAGE, "SQLITE_AUTH")
        if _ATTACH.match(head):
            raise sql_error("not authorized", "SQLITE_AUTH")
    if len(params) > MAX_BOUND_PARAMS:
        raise sql_error("too many SQL variables", "SQLITE_ERROR")
    if params and len(statements) > 1:
        raise sql_error(
            "A query with bound parameters must contain a single statement", "SQLITE_ERROR"
        )


def sql_error(message: str, code_name: str) -> CfHttpError:
    """D1's 400 for a failed statement: ``<message>: <SQLITE_PRIMARY_CODE>``."""
    return CfHttpError(400, CODE_SQL_ERROR, f"{message}: {code_name}")


def from_sqlite(err: sqlite3.Error) -> CfHttpError:
    """Translate an error raised by SQLite into D1's answer."""
    code = getattr(err, "sqlite_errorcode", None)
    if isinstance(err, sqlite3.ProgrammingError) and code is None:
        # Python's own binding check; D1 words it as SQLite's range error [I].
        return sql_error("Wrong number of parameter bindings for SQL query.", "SQLITE_RANGE")
    name = _PRIMARY_CODES.get((code or 1) & 0xFF, "SQLITE_ERROR")
    return sql_error(str(err), name)


def quote_identifier(name: str) -> str:
    """Quote a table or column name for SQL text."""
    return '"' + name.replace('"', '""') + '"'
