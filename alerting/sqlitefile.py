"""Private SQLite stores (the outbox, the alert state): how they are opened, in one place.

Each store is a file only its owner can read (created 0600), in WAL mode with
``synchronous=FULL`` (a write is on disk when it returns, even across a power cut), at a
schema version kept in ``PRAGMA user_version``. A file a newer flarewatch wrote is refused
rather than misread.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


class NewerSchema(Exception):
    """The file was written by a newer flarewatch; the message says what to do."""


def open_private(
    path: Path,
    schema: str,
    version: int,
    *,
    label: str,
    timeout_s: float = 5.0,
    check_same_thread: bool = True,
) -> sqlite3.Connection:
    """Open (creating if needed) the store at ``path`` and apply ``schema`` at ``version``.

    ``label`` names the version in the refusal (``"outbox schema"``). Raises
    :class:`NewerSchema`, ``sqlite3.DatabaseError`` (not a readable database) or ``OSError``
    (cannot create it); the connection is closed whenever it raises.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # private from the start
    os.close(fd)
    db = sqlite3.connect(
        path, isolation_level=None, timeout=timeout_s, check_same_thread=check_same_thread
    )
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        found = db.execute("PRAGMA user_version").fetchone()[0]
        if found > version:
            raise NewerSchema(
                f"{path} was written by a newer flarewatch ({label} {found}, this one reads "
                f"{version}); upgrade flarewatch or move the file away"
            )
        db.executescript(schema)
        db.execute(f"PRAGMA user_version={version}")
    except BaseException:
        db.close()
        raise
    return db
