"""The persistent outbox: every notification is written to SQLite before it is sent, and one
delivery worker per receiver sends it, retrying with backoff, until the receiver takes it.

Guarantee: **at-least-once, in order per alert group.** A notification enqueued (the call
returned) is delivered, or dead-lettered with a log line after ``max_age`` / ``max_attempts``
or when the receiver refuses it for good. It is removed only after the receiver accepted it, so
a crash between the send and that removal sends it again after the restart; the receivers
make a repeat harmless through stable keys (PagerDuty's ``dedup_key``, the webhook's
notification id, Alertmanager's label identity) — see docs/notifiers.md. Per receiver, the
notifications of one group (``Notification.group_key``) go out in the order they were
enqueued; different groups do not wait for each other. No caller ever waits on a receiver:
:meth:`Outbox.enqueue` is one short SQLite transaction.

The module is split as the rest of ``alerting``: the retry policy and the scheduling decisions
(:class:`RetryPolicy`, :func:`backoff_delay`, :func:`after_failure`) are pure functions of
their inputs; :class:`Outbox` is the imperative shell around them (SQLite on one thread, one
asyncio task per receiver, the clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import random
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerting.grouping import Notification
from alerting.notifiers.base import (
    Delivery,
    Notifier,
    NotifierState,
    Outcome,
    PeriodicNotifier,
    Reason,
    notification_id,
)
from alerting.records import RecordCodec
from alerting.rules import Duration
from alerting.sqlitefile import NewerSchema, open_private

log = structlog.get_logger("alerting.outbox")

DEFAULT_FILE_NAME = "outbox.sqlite3"
SCHEMA_VERSION = 1
RECORD_VERSION = 1
MAX_SLEEP = 60.0
"""The longest a worker sleeps before looking at its queue again."""
WORKER_ERROR_PAUSE = 5.0
"""Seconds a worker waits after an unexpected error (a full disk, a bug) before going on."""

T = TypeVar("T")


# --- pure: the retry policy --------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a notification again, and when to give up on it (seconds).

    The n-th failure waits ``initial_delay * multiplier ** (n - 1)``, capped at ``max_delay``,
    minus a random share of up to ``jitter`` of it (so receivers coming back are not hit by
    every flarewatch at once). A ``Retry-After`` from the receiver replaces the backoff (never
    less than ``initial_delay``). A notification is dead-lettered once it is ``max_age`` old, or
    after ``max_attempts`` failed attempts when that is set; the last attempt is made at
    ``max_age`` rather than skipped.
    """

    initial_delay: float = 1.0
    max_delay: float = 300.0
    multiplier: float = 2.0
    jitter: float = 0.2
    max_age: float = 24 * 3600.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.initial_delay <= 0:
            problems.append("initial_delay must be positive")
        if self.max_delay < self.initial_delay:
            problems.append("max_delay must be at least initial_delay")
        if self.multiplier < 1:
            problems.append("multiplier must be at least 1")
        if not 0 <= self.jitter < 1:
            problems.append("jitter must be at least 0 and below 1")
        if self.max_age <= 0:
            problems.append("max_age must be positive")
        if self.max_attempts is not None and self.max_attempts < 1:
            problems.append("max_attempts must be at least 1 (or None for no limit)")
        if problems:
            raise ValueError("invalid retry policy: " + "; ".join(problems))


class OutboxSettings(BaseModel):
    """The outbox as configured (``outbox:`` in YAML; durations as text, ``"5m"``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_pending: int = Field(default=10_000, ge=1)
    """Undelivered notifications kept per receiver; past it, the daemon merges each new
    notification into its group's undelivered one (nothing is lost: see :func:`coalesce`)."""
    initial_delay: Duration = 1.0
    """The wait after a first failed attempt."""
    max_delay: Duration = 300.0
    """The longest wait between attempts (a receiver's ``Retry-After`` may be longer)."""
    max_age: Duration = 24 * 3600.0
    """How long a notification is retried before it is dead-lettered."""
    max_attempts: int | None = Field(default=None, ge=1)
    """Failed attempts before dead-lettering; unset: only ``max_age`` limits."""
    dead_retention: Duration = 7 * 86400.0
    """How long dead letters are kept for inspection and :meth:`Outbox.revive`."""

    @model_validator(mode="after")
    def _coherent(self) -> OutboxSettings:
        self.policy()  # raises ValueError naming what is wrong
        return self

    def policy(self) -> RetryPolicy:
        """The retry policy these settings describe."""
        return RetryPolicy(
            initial_delay=self.initial_delay,
            max_delay=self.max_delay,
            max_age=self.max_age,
            max_attempts=self.max_attempts,
        )


def backoff_delay(policy: RetryPolicy, failures: int, rand: float) -> float:
    """The wait after the ``failures``-th failed attempt (1 for the first), given a random
    number in ``[0, 1)``."""
    exponent = min(max(failures, 1) - 1, 64)  # past 2**64 every delay is capped anyway
    base = min(policy.max_delay, policy.initial_delay * policy.multiplier**exponent)
    return base * (1.0 - policy.jitter * rand)


@dataclass(frozen=True)
class Retry:
    """Try again at ``at`` (epoch seconds)."""

    at: float


@dataclass(frozen=True)
class GiveUp:
    """Stop trying: dead-letter the notification, saying why."""

    why: str


def after_failure(
    policy: RetryPolicy,
    *,
    failures: int,
    enqueued_at: float,
    now: float,
    retry_after: float | None,
    rand: float,
) -> Retry | GiveUp:
    """What to do after a retryable failure: when to try next, or give up.

    ``failures`` counts the failed attempts including this one; ``retry_after`` is the
    receiver's ``Retry-After`` (seconds) if it sent one.
    """
    if policy.max_attempts is not None and failures >= policy.max_attempts:
        return GiveUp(f"gave up after {failures} attempts (max_attempts)")
    deadline = enqueued_at + policy.max_age
    if now >= deadline:
        return GiveUp(f"gave up after {failures} attempts: older than max_age")
    if retry_after is not None:
        at = now + max(retry_after, policy.initial_delay)
        if at > deadline:
            return GiveUp(
                f"gave up after {failures} attempts: the receiver asked to wait "
                f"{retry_after:.0f}s, past max_age"
            )
        return Retry(at)
    return Retry(min(now + backoff_delay(policy, failures, rand), deadline))


# --- errors and records ------------------------------------------------------------------


class OutboxError(Exception):
    """The outbox cannot be opened or used (its file, its lock, its schema)."""


class OutboxFull(OutboxError):
    """Enqueueing would exceed ``max_pending`` undelivered notifications for a receiver."""

    def __init__(self, receivers: Mapping[str, int], limit: int) -> None:
        self.receivers = dict(receivers)
        self.limit = limit
        names = ", ".join(
            f"{name!r} ({count} pending)" for name, count in sorted(receivers.items())
        )
        super().__init__(
            f"outbox full for {names}: at most {limit} undelivered notifications per receiver. "
            "The receiver has been failing for long (see the notifier_failing log lines); fix "
            "it, or raise max_pending."
        )


@dataclass(frozen=True)
class Entry:
    """One notification in the outbox, for one receiver, without its payload.

    ``enqueued_at``/``next_attempt_at``/``dead_at`` are epoch seconds; ``failures`` counts
    failed attempts; ``last_error`` is the last failure's detail (redacted by the notifier).
    """

    id: int
    receiver: str
    group_key: str
    notification_id: str
    enqueued_at: float
    failures: int
    next_attempt_at: float
    last_error: str | None
    dead_at: float | None = None


_CODEC: RecordCodec[Notification] = RecordCodec("notification", Notification, RECORD_VERSION)


def notification_to_record(notification: Notification) -> dict[str, Any]:
    """A notification as JSON-safe data with a ``record_version`` (what the outbox stores)."""
    return _CODEC.dump(notification)


def notification_from_record(record: Mapping[str, Any]) -> Notification:
    """Read a stored notification; ``ValueError`` names a bad field or an unknown version."""
    return _CODEC.load(record)


def coalesce(older: Notification, newer: Notification) -> Notification | None:
    """One notification saying what ``older`` and then ``newer`` (of the same group) said
    together, or ``None`` when they cannot be merged (pure).

    A group's message lists every firing alert and the alerts resolved since the last one,
    so the newer message is the current truth, except for resolves only the older one
    carries: those are added to it (a page must still close). A firing alert of the older
    message the newer one does not list was muted since, and is left out as it is now. A
    handover and a plain message are not merged: they say different things about their
    resolved alerts.
    """
    if older.group_key != newer.group_key or older.handover != newer.handover:
        return None
    listed = {a.fingerprint for a in (*newer.firing, *newer.resolved)}
    carried = tuple(a for a in older.resolved if a.fingerprint not in listed)
    if not carried:
        return newer
    resolved = tuple(sorted((*newer.resolved, *carried), key=lambda a: a.fingerprint))
    common = {
        k: v
        for k, v in newer.common_labels.items()
        if all(a.match_labels.get(k) == v for a in carried)
    }
    if not newer.firing and not newer.resolved:
        common = {}
        for alert in carried:
            labels = alert.match_labels
            common = (
                dict(labels)
                if not common
                else {k: v for k, v in common.items() if labels.get(k) == v}
            )
    return replace(newer, resolved=resolved, common_labels=common, reminder=False)


# --- the store: every SQL statement, run on one thread -----------------------------------

_Row = tuple[str, str, str, str, float, float]
"""receiver, group key, notification id, payload, enqueued at, first attempt at."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver TEXT NOT NULL,
    group_key TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    dead_at REAL,
    dead_reason TEXT
);
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (receiver, dead_at, group_key, id);
CREATE INDEX IF NOT EXISTS outbox_dead ON outbox (dead_at) WHERE dead_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS notifier_state (
    receiver TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""

# Queries are assembled from these constants and fixed clauses only; every value is a
# parameter (hence the S608 waivers below).
_ENTRY_COLUMNS = (
    "id, receiver, group_key, notification_id, enqueued_at, failures, next_attempt_at, "
    "last_error, dead_at"
)


class _Store:
    """The SQLite side. Every method is one transaction and runs on the outbox's own thread
    (the connection is created there and never leaves it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None

    def open(self) -> dict[str, int]:
        """Open (creating if needed) and migrate; the pending count per receiver."""
        unreadable = (
            f"{self.path} is not a readable outbox ({{}}); move it away to start with an "
            "empty outbox (undelivered notifications in it would be lost)"
        )
        try:
            db = open_private(
                self.path, _SCHEMA, SCHEMA_VERSION, label="outbox schema", timeout_s=10.0
            )
        except NewerSchema as error:
            raise OutboxError(str(error)) from None
        except sqlite3.DatabaseError as error:
            raise OutboxError(unreadable.format(error)) from None
        self.db = db
        try:
            rows = db.execute(
                "SELECT receiver, COUNT(*) FROM outbox WHERE dead_at IS NULL GROUP BY receiver"
            ).fetchall()
        except sqlite3.DatabaseError as error:
            db.close()
            self.db = None
            raise OutboxError(unreadable.format(error)) from None
        return {str(r): int(n) for r, n in rows}

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    @property
    def _db(self) -> sqlite3.Connection:
        if self.db is None:
            raise OutboxError("the outbox is closed")
        return self.db

    def insert(self, rows: Sequence[_Row]) -> list[int]:
        """Insert the rows in one transaction; their ids."""
        return self.insert_coalescing(rows, ())[0]

    def insert_coalescing(
        self, rows: Sequence[_Row], over: Collection[str]
    ) -> tuple[list[int], list[str]]:
        """Insert the rows in one transaction; a row for a receiver in ``over`` (past
        ``max_pending``) is merged into that receiver's newest undelivered entry of the same
        group instead, when there is one and :func:`coalesce` can merge them. The ids (the
        merged-into entry's for a merged row) and the receivers of the merged rows."""
        db = self._db
        ids: list[int] = []
        merged: list[str] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for receiver, group_key, nid, payload, now, due in rows:
                target = (
                    self._merge_target(receiver, group_key, payload) if receiver in over else None
                )
                if target is not None:
                    entry_id, text, new_nid = target
                    db.execute(
                        "UPDATE outbox SET payload = ?, notification_id = ?, enqueued_at = ? "
                        "WHERE id = ?",
                        (text, new_nid, now, entry_id),
                    )
                    ids.append(entry_id)
                    merged.append(receiver)
                    continue
                cursor = db.execute(
                    "INSERT INTO outbox (receiver, group_key, notification_id, payload, "
                    "enqueued_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (receiver, group_key, nid, payload, now, due),
                )
                ids.append(int(cursor.lastrowid or 0))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return ids, merged

    def amend(
        self, ids: Sequence[int], change: Callable[[Notification], Notification], now: float
    ) -> list[str]:
        """Rewrite the entries still held back (next attempt after ``now``, never tried)
        with ``change`` and make them due now, in one transaction; the receivers of those
        rewritten. Entries already due, sent or dead are left alone."""
        db = self._db
        receivers: list[str] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for entry_id in ids:
                row = db.execute(
                    "SELECT receiver, payload FROM outbox WHERE id = ? AND dead_at IS NULL "
                    "AND failures = 0 AND next_attempt_at > ?",
                    (entry_id, now),
                ).fetchone()
                if row is None:
                    continue
                try:
                    changed = change(notification_from_record(json.loads(row[1])))
                except ValueError:
                    continue  # unreadable: its worker dead-letters it with the reason
                db.execute(
                    "UPDATE outbox SET payload = ?, notification_id = ?, next_attempt_at = ? "
                    "WHERE id = ?",
                    (
                        json.dumps(notification_to_record(changed), separators=(",", ":")),
                        notification_id(changed),
                        now,
                        entry_id,
                    ),
                )
                receivers.append(str(row[0]))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return receivers

    def _merge_target(
        self, receiver: str, group_key: str, payload: str
    ) -> tuple[int, str, str] | None:
        row = self._db.execute(
            "SELECT id, payload FROM outbox WHERE receiver = ? AND group_key = ? "
            "AND dead_at IS NULL ORDER BY id DESC LIMIT 1",
            (receiver, group_key),
        ).fetchone()
        if row is None:
            return None
        try:
            older = notification_from_record(json.loads(row[1]))
        except ValueError:
            return None  # an unreadable record is dead-lettered by its worker, not merged
        both = coalesce(older, notification_from_record(json.loads(payload)))
        if both is None:
            return None
        text = json.dumps(notification_to_record(both), separators=(",", ":"))
        return int(row[0]), text, notification_id(both)

    def next_due(self, receiver: str) -> Entry | None:
        """The head of each group (its oldest pending entry); the one due first. (The
        heads come from one covering-index scan: about 3.5 ms at 10,000 pending.)"""
        row = self._db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM outbox WHERE id IN ("  # noqa: S608
            "  SELECT MIN(id) FROM outbox WHERE receiver = ? AND dead_at IS NULL "
            "  GROUP BY group_key) "
            "ORDER BY next_attempt_at, id LIMIT 1",
            (receiver,),
        ).fetchone()
        return _entry(row) if row else None

    def payload(self, entry_id: int) -> str | None:
        row = self._db.execute("SELECT payload FROM outbox WHERE id = ?", (entry_id,)).fetchone()
        return str(row[0]) if row else None

    def ack(self, entry_id: int, nid: str) -> bool:
        """Remove a delivered entry, unless a newer notification was merged into it while it
        was being sent (``nid`` is what was sent): then it stays, to be sent merged."""
        cursor = self._db.execute(
            "DELETE FROM outbox WHERE id = ? AND notification_id = ? AND dead_at IS NULL",
            (entry_id, nid),
        )
        return cursor.rowcount > 0

    def reschedule(self, entry_id: int, failures: int, at: float, error: str) -> None:
        self._db.execute(
            "UPDATE outbox SET failures = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
            (failures, at, error, entry_id),
        )

    def kill(
        self, entry_id: int, nid: str, failures: int, now: float, error: str, why: str
    ) -> bool:
        """Dead-letter an entry, unless a newer notification was merged into it meanwhile
        (then it is retried as merged)."""
        cursor = self._db.execute(
            "UPDATE outbox SET failures = ?, last_error = ?, dead_at = ?, dead_reason = ? "
            "WHERE id = ? AND notification_id = ? AND dead_at IS NULL",
            (failures, error, now, why, entry_id, nid),
        )
        return cursor.rowcount > 0

    def prune_dead(self, before: float) -> int:
        cursor = self._db.execute(
            "DELETE FROM outbox WHERE dead_at IS NOT NULL AND dead_at < ?", (before,)
        )
        return cursor.rowcount

    def entries(self, receiver: str | None, dead: bool) -> list[Entry]:
        where = "dead_at IS NOT NULL" if dead else "dead_at IS NULL"
        params: tuple[str, ...] = ()
        if receiver is not None:
            where += " AND receiver = ?"
            params = (receiver,)
        rows = self._db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM outbox WHERE {where} ORDER BY id",  # noqa: S608
            params,
        ).fetchall()
        return [_entry(r) for r in rows]

    def revive(self, ids: Sequence[int] | None, receiver: str | None, now: float) -> dict[str, int]:
        """Put dead entries back in the queue as new (failures and age reset)."""
        db = self._db
        where = "dead_at IS NOT NULL"
        params: list[Any] = []
        if ids is not None:
            where += f" AND id IN ({', '.join('?' for _ in ids)})"
            params += list(ids)
        if receiver is not None:
            where += " AND receiver = ?"
            params.append(receiver)
        db.execute("BEGIN IMMEDIATE")
        try:
            counts = db.execute(
                f"SELECT receiver, COUNT(*) FROM outbox WHERE {where} GROUP BY receiver",  # noqa: S608
                params,
            ).fetchall()
            db.execute(
                "UPDATE outbox SET dead_at = NULL, dead_reason = NULL, failures = 0, "  # noqa: S608
                f"enqueued_at = ?, next_attempt_at = ? WHERE {where}",
                [now, now, *params],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return {str(r): int(n) for r, n in counts}

    def load_state(self, receiver: str) -> str | None:
        row = self._db.execute(
            "SELECT document FROM notifier_state WHERE receiver = ?", (receiver,)
        ).fetchone()
        return str(row[0]) if row else None

    def save_state(self, receiver: str, document: str, now: float) -> None:
        self._db.execute(
            "INSERT INTO notifier_state (receiver, document, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (receiver) DO UPDATE SET document = excluded.document, "
            "updated_at = excluded.updated_at",
            (receiver, document, now),
        )


def _entry(row: Sequence[Any]) -> Entry:
    return Entry(
        id=int(row[0]),
        receiver=str(row[1]),
        group_key=str(row[2]),
        notification_id=str(row[3]),
        enqueued_at=float(row[4]),
        failures=int(row[5]),
        next_attempt_at=float(row[6]),
        last_error=None if row[7] is None else str(row[7]),
        dead_at=None if row[8] is None else float(row[8]),
    )


def _open_files(path: Path, prune_before: float) -> tuple[_Store, int, dict[str, int]]:
    """Take the lock and open the database (on the outbox's thread)."""
    file = path / DEFAULT_FILE_NAME if path.is_dir() else path
    try:
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_fd = os.open(f"{file}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise OutboxError(f"cannot create the outbox at {file}: {error.strerror}") from None
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(lock_fd)
        raise OutboxError(
            f"{file} is in use by another flarewatch process; two daemons must not share a "
            "state_dir"
        ) from None
    store = _Store(file)
    try:
        depth = store.open()
        store.prune_dead(prune_before)
    except BaseException:
        store.close()
        os.close(lock_fd)
        raise
    return store, lock_fd, depth


# --- metrics -----------------------------------------------------------------------------


class OutboxMetrics:
    """The outbox's Prometheus metrics, registered in the given registry.

    ``flarewatch_notifications_total{notifier,outcome}`` counts delivery attempts by outcome
    (``delivered``, ``retry``, ``failed``) and ``flarewatch_notifications_dead_lettered_total``
    the notifications given up on; ``flarewatch_notification_latency_seconds{notifier}`` is the
    time from the engine deciding to notify to the receiver accepting;
    ``flarewatch_outbox_depth{notifier}`` the undelivered notifications;
    ``flarewatch_notifications_coalesced_total{notifier}`` the notifications merged into an
    undelivered one because the receiver's queue was full;
    ``flarewatch_notifications_unconfigured_total{notifier}`` those queued for a receiver no
    notifier is configured for.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "flarewatch_notifications",
            "Notification delivery attempts, by notifier and outcome.",
            ["notifier", "outcome"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "flarewatch_notifications_dead_lettered",
            "Notifications given up on (dead-lettered), by notifier.",
            ["notifier"],
            registry=registry,
        )
        self.latency = Histogram(
            "flarewatch_notification_latency_seconds",
            "Time from the engine deciding to notify to the receiver accepting.",
            ["notifier"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=registry,
        )
        self.coalesced = Counter(
            "flarewatch_notifications_coalesced",
            "Notifications merged into an undelivered one of their group because the "
            "receiver's queue was full (max_pending), by notifier.",
            ["notifier"],
            registry=registry,
        )
        self.unconfigured = Counter(
            "flarewatch_notifications_unconfigured",
            "Notifications queued for a receiver no notifier is configured for (kept until "
            "one is), by notifier.",
            ["notifier"],
            registry=registry,
        )
        self.depth = Gauge(
            "flarewatch_outbox_depth",
            "Undelivered notifications in the outbox, by notifier.",
            ["notifier"],
            registry=registry,
        )


# --- the outbox --------------------------------------------------------------------------


class _StoredState:
    """A notifier's persistent document, kept in the outbox's database."""

    def __init__(self, outbox: Outbox, receiver: str) -> None:
        self._outbox = outbox
        self._receiver = receiver

    async def load(self) -> dict[str, Any]:
        text = await self._outbox._call(self._outbox._store.load_state, self._receiver)
        if text is None:
            return {}
        document = json.loads(text)
        return document if isinstance(document, dict) else {}

    async def save(self, document: Mapping[str, Any]) -> None:
        text = json.dumps(document, separators=(",", ":"), sort_keys=True)
        await self._outbox._call(
            self._outbox._store.save_state, self._receiver, text, self._outbox._clock()
        )


@dataclass
class _Health:
    """A receiver's run of failures, for edge-triggered logging and pausing."""

    failing_since: float | None = None
    failed_attempts: int = 0
    paused_until: float = 0.0


class Outbox:
    """A persistent, bounded queue of notifications per receiver, and the workers that
    deliver them.

    Open with :meth:`open` (one process at a time: a lock file refuses a second), enqueue with
    :meth:`enqueue` / :meth:`enqueue_many` / :meth:`fanout`, deliver with :meth:`run` (until
    :meth:`stop`), and :meth:`close` at the end. ``clock`` gives epoch seconds; ``rand`` the
    jitter's random numbers.
    """

    def __init__(
        self,
        store: _Store,
        lock_fd: int,
        executor: ThreadPoolExecutor,
        depth: dict[str, int],
        *,
        policy: RetryPolicy,
        max_pending: int,
        dead_retention: float,
        clock: Callable[[], float],
        rand: Callable[[], float],
        metrics: OutboxMetrics | None,
    ) -> None:
        self._store = store
        self._lock_fd: int | None = lock_fd
        self._executor = executor
        self._depth = depth
        self.policy = policy
        self.max_pending = max_pending
        self.dead_retention = dead_retention
        self._clock = clock
        self._rand = rand
        self._metrics = metrics
        self._wakes: dict[str, asyncio.Event] = {}
        self._health: dict[str, _Health] = {}
        self._stopping = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._receivers: frozenset[str] | None = None
        for receiver, count in depth.items():
            self._set_depth(receiver, count)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._store.path

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        policy: RetryPolicy | None = None,
        max_pending: int = 10_000,
        dead_retention: float = 7 * 86400.0,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        registry: CollectorRegistry | None = None,
    ) -> Outbox:
        """Open the outbox at ``path`` (a directory gets ``outbox.sqlite3`` inside it).

        Creates the file (mode 0600) and its directory (0700) if needed. Raises
        :class:`OutboxError` when another process has it open, when it was written by a newer
        flarewatch, or when it is not a database.
        """
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        loop = asyncio.get_running_loop()
        try:
            store, lock_fd, depth = await loop.run_in_executor(
                executor, _open_files, Path(path), clock() - dead_retention
            )
        except BaseException:
            executor.shutdown(wait=True)
            raise
        return cls(
            store,
            lock_fd,
            executor,
            depth,
            policy=policy or RetryPolicy(),
            max_pending=max_pending,
            dead_retention=dead_retention,
            clock=clock,
            rand=rand,
            metrics=OutboxMetrics(registry) if registry is not None else None,
        )

    async def close(self) -> None:
        """Stop the workers if running, close the database and release the lock."""
        await self.stop()
        if self._lock_fd is None:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._store.close)
        self._executor.shutdown(wait=True)
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = None

    async def __aenter__(self) -> Outbox:
        """Use as ``async with await Outbox.open(path) as outbox``."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close."""
        await self.close()

    def __repr__(self) -> str:
        """The file and the pending counts."""
        return f"Outbox({str(self.path)!r}, pending={dict(sorted(self._depth.items()))})"

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._lock_fd is None:
            raise OutboxError("the outbox is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    # --- enqueueing ---------------------------------------------------------------------

    async def enqueue(self, receiver: str, notification: Notification) -> int:
        """Store one notification for ``receiver``; returns its entry id.

        One SQLite transaction; when it returns, the notification survives a crash. Raises
        :class:`OutboxFull` when the receiver already has ``max_pending`` undelivered.
        """
        (entry_id,) = await self.enqueue_many([(receiver, notification)])
        return entry_id

    async def fanout(self, notifications: Iterable[Notification]) -> list[int]:
        """Store each notification once for every receiver it names, in one transaction."""
        return await self.enqueue_many((r, n) for n in notifications for r in n.receivers)

    async def enqueue_many(
        self,
        items: Iterable[tuple[str, Notification]],
        *,
        coalesce: bool = False,
        not_before: Sequence[float | None] | None = None,
    ) -> list[int]:
        """Store several notifications atomically (all or none), in order; returns the ids.

        When a receiver would go past ``max_pending``: without ``coalesce``, raises
        :class:`OutboxFull` (storing nothing); with it, each of that receiver's notifications
        is merged into its newest undelivered entry of the same group (:func:`coalesce`:
        the group's current truth plus the resolves not yet delivered), counted in
        ``flarewatch_notifications_coalesced_total`` and logged; one whose group has no
        entry to merge into is stored anyway, so nothing is lost and the queue holds at most
        ``max_pending`` plus one entry per group. (The daemon coalesces.)

        ``not_before`` (one per item, ``None`` for now) holds an entry back until then: it is
        stored now (durable) and its group's later entries wait behind it; :meth:`amend`
        rewrites it and releases it earlier. A merged item keeps its target's schedule.
        """
        now = self._clock()
        rows: list[_Row] = []
        adding: dict[str, int] = {}
        for index, (receiver, notification) in enumerate(items):
            if not receiver:
                raise ValueError("a notification needs a receiver name")
            payload = json.dumps(notification_to_record(notification), separators=(",", ":"))
            nid = notification_id(notification)
            held = None if not_before is None else not_before[index]
            due = now if held is None else max(now, held)
            rows.append((receiver, notification.group_key, nid, payload, now, due))
            adding[receiver] = adding.get(receiver, 0) + 1
        full = {
            r: self._depth.get(r, 0)
            for r, n in adding.items()
            if self._depth.get(r, 0) + n > self.max_pending
        }
        if full and not coalesce:
            raise OutboxFull(full, self.max_pending)
        if not rows:
            return []
        # Count the rows before the insert is awaited, so concurrent enqueues cannot both
        # pass the bound; give the count back if the insert fails.
        for receiver, count in adding.items():
            self._set_depth(receiver, self._depth.get(receiver, 0) + count)
        try:
            if full:
                ids, merged = await self._call(self._store.insert_coalescing, rows, set(full))
            else:
                ids, merged = await self._call(self._store.insert, rows), []
        except BaseException:
            for receiver, count in adding.items():
                self._set_depth(receiver, self._depth.get(receiver, 0) - count)
            raise
        self._count_merged(merged)
        self._count_unconfigured(adding)
        for receiver in adding:
            wake = self._wakes.get(receiver)
            if wake is not None:
                wake.set()
        return ids

    def _count_merged(self, merged: Sequence[str]) -> None:
        if not merged:
            return
        counts: dict[str, int] = {}
        for receiver in merged:
            counts[receiver] = counts.get(receiver, 0) + 1
        for receiver, count in sorted(counts.items()):
            self._set_depth(receiver, self._depth.get(receiver, 0) - count)
            if self._metrics is not None:
                self._metrics.coalesced.labels(receiver).inc(count)
            log.warning(
                "notifications_coalesced",
                receiver=receiver,
                notifications=count,
                pending=self._depth.get(receiver, 0),
                max_pending=self.max_pending,
                hint="the receiver has been failing for long (see notifier_failing); each "
                "group's newest message waits, with every resolve not yet delivered",
            )

    def _count_unconfigured(self, adding: Mapping[str, int]) -> None:
        if self._receivers is None:
            return
        for receiver, count in sorted(adding.items()):
            if receiver in self._receivers:
                continue
            if self._metrics is not None:
                self._metrics.unconfigured.labels(receiver).inc(count)
            log.error(
                "notifications_for_unconfigured_receiver",
                receiver=receiver,
                notifications=count,
                hint="kept in the outbox until a notifier of that name is configured again; "
                "a reload removed it, so close what it had opened by hand, or configure it "
                "again to deliver them",
            )

    async def amend(
        self, ids: Sequence[int], change: Callable[[Notification], Notification]
    ) -> int:
        """Rewrite the entries ``ids`` that are still held back (``not_before``) with
        ``change`` (pure; it runs on the outbox's thread) and release them now; how many
        were. One already released or sent is left as it is."""
        if not ids:
            return 0
        receivers = await self._call(self._store.amend, list(ids), change, self._clock())
        for receiver in set(receivers):
            wake = self._wakes.get(receiver)
            if wake is not None:
                wake.set()
        return len(receivers)

    # --- inspection ---------------------------------------------------------------------

    def depth(self) -> dict[str, int]:
        """Undelivered notifications per receiver (receivers with none are left out)."""
        return {r: n for r, n in sorted(self._depth.items()) if n}

    async def pending(self, receiver: str | None = None) -> list[Entry]:
        """The undelivered entries (of one receiver, or all), oldest first."""
        return await self._call(self._store.entries, receiver, False)

    async def dead_letters(self, receiver: str | None = None) -> list[Entry]:
        """The entries given up on and still kept (``dead_retention``), oldest first."""
        return await self._call(self._store.entries, receiver, True)

    async def revive(self, ids: Sequence[int] | None = None, *, receiver: str | None = None) -> int:
        """Queue dead-lettered entries again as if new (all, those ``ids``, or a receiver's):
        after fixing a receiver's config, nothing given up on need be lost. Returns how many."""
        if ids is not None and not ids:
            return 0
        counts = await self._call(self._store.revive, ids, receiver, self._clock())
        for name, count in counts.items():
            self._set_depth(name, self._depth.get(name, 0) + count)
            wake = self._wakes.get(name)
            if wake is not None:
                wake.set()
        return sum(counts.values())

    def state(self, receiver: str) -> NotifierState:
        """Persistent state for the notifier of ``receiver`` (a
        :class:`~alerting.notifiers.base.NotifierState`)."""
        return _StoredState(self, receiver)

    # --- delivering ---------------------------------------------------------------------

    def start(self, notifiers: Mapping[str, Notifier]) -> None:
        """Start delivering to these notifiers (keyed by receiver name), in background
        tasks, until :meth:`stop`; :meth:`wait` waits for them to end.

        One worker per receiver: it sends the due head of each group in turn, never two
        requests at once to one receiver. Entries for receivers not given here stay queued
        (logged once); they go out when a later start includes that receiver again. The
        workers exist when this returns, so a :meth:`stop` right after it cannot be missed.
        """
        if self._workers:
            raise RuntimeError("the outbox is already delivering: stop it first")
        if self._lock_fd is None:
            raise OutboxError("the outbox is closed")
        self._stopping.clear()
        self._receivers = frozenset(notifiers)
        for receiver, count in self.depth().items():
            if receiver not in notifiers:
                log.warning(
                    "outbox_receiver_not_configured",
                    receiver=receiver,
                    pending=count,
                    hint="kept until a notifier of that name is configured again",
                )
        self._wakes = {name: asyncio.Event() for name in notifiers}
        self._workers = [
            asyncio.create_task(self._work(name, notifier), name=f"outbox:{name}")
            for name, notifier in notifiers.items()
        ]

    async def wait(self) -> None:
        """Wait until the workers started by :meth:`start` have ended (after :meth:`stop`)."""
        workers = list(self._workers)
        try:
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            if self._workers == workers:
                self._workers = []
                self._wakes = {}

    async def run(self, notifiers: Mapping[str, Notifier]) -> None:
        """:meth:`start`, then :meth:`wait`: deliver until :meth:`stop` (for a task group)."""
        self.start(notifiers)
        await self.wait()

    async def stop(self, grace: float = 5.0) -> None:
        """Ask the workers to finish; a send still running after ``grace`` seconds is cut
        short (its notification stays queued and is sent again next time)."""
        if not self._workers:
            return
        self._stopping.set()
        for wake in self._wakes.values():
            wake.set()
        workers = list(self._workers)
        _, running = await asyncio.wait(workers, timeout=grace)
        for task in running:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if self._workers == workers:
            self._workers = []
            self._wakes = {}

    async def _work(self, receiver: str, notifier: Notifier) -> None:
        wake = self._wakes[receiver]
        health = self._health.setdefault(receiver, _Health())
        periodic = notifier if isinstance(notifier, PeriodicNotifier) else None
        while not self._stopping.is_set():
            wake.clear()
            try:
                deadline = await self._step(receiver, notifier, periodic, health)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the worker's crash barrier: log, pause, carry on
                log.error(
                    "outbox_worker_error",
                    receiver=receiver,
                    error_type=type(error).__name__,
                    error=str(error),
                )
                deadline = self._clock() + WORKER_ERROR_PAUSE
            if deadline is None or deadline > self._clock():
                await self._sleep(wake, deadline)

    async def _sleep(self, wake: asyncio.Event, deadline: float | None) -> None:
        # Capped, so a wall clock stepped backwards delays delivery by a minute at most.
        timeout = None if deadline is None else min(MAX_SLEEP, max(0.0, deadline - self._clock()))
        # asyncio.timeout, not wait_for (which can swallow a cancel on Python 3.11).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await wake.wait()

    async def _step(
        self,
        receiver: str,
        notifier: Notifier,
        periodic: PeriodicNotifier | None,
        health: _Health,
    ) -> float | None:
        """Do what is due now; return when something is next due (``None``: only a wake)."""
        now = self._clock()
        if health.paused_until > now:
            return health.paused_until
        tick_at = periodic.next_tick() if periodic is not None else None
        if periodic is not None and tick_at is not None and tick_at <= now:
            delivery = await periodic.tick()
            self._record_health(receiver, health, delivery, None, now)
            return now
        entry = await self._call(self._store.next_due, receiver)
        if entry is None or entry.next_attempt_at > now:
            candidates = [tick_at, None if entry is None else entry.next_attempt_at]
            return min((t for t in candidates if t is not None), default=None)
        await self._deliver(receiver, notifier, entry, health)
        return now

    async def _deliver(
        self, receiver: str, notifier: Notifier, entry: Entry, health: _Health
    ) -> None:
        payload = await self._call(self._store.payload, entry.id)
        if payload is None:  # revived or acked elsewhere meanwhile: nothing to do
            return
        try:
            notification = notification_from_record(json.loads(payload))
        except ValueError as error:
            await self._dead_letter(
                entry, entry.failures, "unreadable record", f"cannot read the record: {error}"
            )
            return
        try:
            delivery = await notifier.send(notification)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a notifier bug must not kill its worker
            delivery = Delivery.retry(Reason.NOTIFIER_ERROR, type(error).__name__)
        now = self._clock()
        if self._metrics is not None:
            self._metrics.attempts.labels(receiver, delivery.outcome.value).inc()
        if delivery.outcome is Outcome.DELIVERED:
            if await self._call(self._store.ack, entry.id, notification_id(notification)):
                self._set_depth(receiver, self._depth.get(receiver, 0) - 1)
            if self._metrics is not None:
                self._metrics.latency.labels(receiver).observe(max(0.0, now - notification.at))
            log.debug(
                "notification_delivered",
                receiver=receiver,
                group_key=entry.group_key,
                notification_id=entry.notification_id,
                failures=entry.failures,
                reason=delivery.reason.value,
            )
            self._record_health(receiver, health, delivery, entry, now)
            return
        failures = entry.failures + 1
        problem = _error_text(delivery)
        if delivery.outcome is Outcome.FAILED:
            await self._dead_letter(
                entry, failures, "refused by the receiver", problem, notification_id(notification)
            )
            return
        decision = after_failure(
            self.policy,
            failures=failures,
            enqueued_at=entry.enqueued_at,
            now=now,
            retry_after=delivery.retry_after,
            rand=self._rand(),
        )
        if isinstance(decision, GiveUp):
            await self._dead_letter(
                entry, failures, decision.why, problem, notification_id(notification)
            )
            return
        await self._call(self._store.reschedule, entry.id, failures, decision.at, problem)
        self._record_health(receiver, health, delivery, entry, now, retry_at=decision.at)

    async def _dead_letter(
        self, entry: Entry, failures: int, why: str, error: str, nid: str | None = None
    ) -> None:
        now = self._clock()
        sent = entry.notification_id if nid is None else nid
        if not await self._call(self._store.kill, entry.id, sent, failures, now, error, why):
            # Merged with a newer notification meanwhile (or handled elsewhere): the merged
            # one gets its own attempts.
            await self._call(self._store.reschedule, entry.id, failures, now, error)
            return
        self._set_depth(entry.receiver, self._depth.get(entry.receiver, 0) - 1)
        if self._metrics is not None:
            self._metrics.dead_lettered.labels(entry.receiver).inc()
        log.error(
            "notification_dead_lettered",
            receiver=entry.receiver,
            group_key=entry.group_key,
            notification_id=entry.notification_id,
            entry_id=entry.id,
            attempts=failures,
            age_s=round(now - entry.enqueued_at, 1),
            why=why,
            error=error,
        )
        await self._call(self._store.prune_dead, now - self.dead_retention)

    def _record_health(
        self,
        receiver: str,
        health: _Health,
        delivery: Delivery,
        entry: Entry | None,
        now: float,
        *,
        retry_at: float | None = None,
    ) -> None:
        """Log once when a receiver starts failing and once when it recovers; pause a
        failing receiver until its retry is due."""
        if delivery.outcome is Outcome.DELIVERED:
            if health.failing_since is not None:
                log.info(
                    "notifier_recovered",
                    receiver=receiver,
                    failed_attempts=health.failed_attempts,
                    down_for_s=round(now - health.failing_since, 1),
                )
            health.failing_since = None
            health.failed_attempts = 0
            health.paused_until = 0.0
            return
        if delivery.outcome is not Outcome.RETRY:
            return
        health.failed_attempts += 1
        if retry_at is not None and delivery.reason is not Reason.NOTIFIER_ERROR:
            health.paused_until = retry_at
        if health.failing_since is None:
            health.failing_since = now
            log.warning(
                "notifier_failing",
                receiver=receiver,
                reason=delivery.reason.value,
                status=delivery.status,
                error=delivery.detail,
                retry_in_s=None if retry_at is None else round(retry_at - now, 1),
                group_key=None if entry is None else entry.group_key,
            )

    def _set_depth(self, receiver: str, count: int) -> None:
        self._depth[receiver] = max(0, count)
        if self._metrics is not None:
            self._metrics.depth.labels(receiver).set(self._depth[receiver])


def _error_text(delivery: Delivery) -> str:
    return (
        f"{delivery.reason.value}: {delivery.detail}" if delivery.detail else delivery.reason.value
    )
