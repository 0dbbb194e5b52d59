"""Silences kept in ``state_dir``, and the rules for creating one from an API request.

The pure part (:func:`silence_from_request`, :func:`parse_time`) turns what a user sends to
``POST /api/v1/silences`` (or ``flarewatch silence add``) into an :class:`alerting.silences.
Silence`, listing every problem at once. :class:`SilenceStore` keeps them in
``silences.json``: each change is written to a temporary file, synced and renamed over the
old one before the caller hears it succeeded, so a crash never leaves half a file and a
silence the API acknowledged survives a restart. Expired silences are kept for
``retention`` (listed as ``expired``), then dropped.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from alerting.matchers import Matcher, parse_matcher_list
from alerting.rules import DurationError, parse_duration
from alerting.silences import (
    Silence,
    SilenceError,
    SilenceState,
    expire,
    from_record,
    state,
    to_record,
    validate_new,
)

FILE_NAME = "silences.json"
FORMAT_VERSION = 1
DEFAULT_RETENTION = 5 * 86400.0
"""Expired silences stay listed this long (Alertmanager keeps them five days too)."""
MAX_TEXT = 1000
"""Longest ``created_by`` / ``comment`` accepted (characters)."""

_REQUEST_KEYS = frozenset(
    {"matchers", "starts_at", "ends_at", "duration", "created_by", "comment", "id"}
)


class SilenceStoreError(Exception):
    """The silences file cannot be read or written; the message says what to do."""


def parse_time(value: object, what: str) -> float:
    """Epoch seconds from a number or an ISO 8601 time with a time zone
    (``2026-01-01T12:00:00Z``); ``ValueError`` naming ``what`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a time, not true/false")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{what} must be epoch seconds or an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{what}: {value!r} is not an ISO 8601 time (e.g. 2026-01-01T12:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"{what}: {value!r} has no time zone; add Z for UTC or +02:00")
    return parsed.timestamp()


def _text(data: Mapping[str, Any], key: str, problems: list[str], hint: str) -> str:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(f"{key} is required: {hint}")
        return ""
    if not isinstance(value, str):
        problems.append(f"{key} must be text")
        return ""
    if len(value) > MAX_TEXT:
        problems.append(f"{key} is longer than {MAX_TEXT} characters")
    return value.strip()


def silence_from_request(
    data: object, *, now: float, new_id: Callable[[], str] = lambda: str(uuid.uuid4())
) -> Silence:
    """A new silence from a request body; :class:`SilenceError` lists every problem.

    Keys: ``matchers`` (required), ``created_by`` and ``comment`` (required), ``starts_at``
    (default now), and ``ends_at`` or ``duration`` (``"2h"``; exactly one). Times are epoch
    seconds or ISO 8601 with a time zone. The silence must end in the future.
    """
    if not isinstance(data, Mapping):
        raise SilenceError(["the body must be a JSON object"])
    problems = [f"unknown key {key!r}" for key in sorted(set(data) - _REQUEST_KEYS)]
    if "id" in data:
        problems.append("id is chosen by flarewatch: leave it out (expire and re-create to edit)")
    matchers: tuple[Matcher, ...] = ()
    if "matchers" in data:
        matchers, matcher_problems = parse_matcher_list(data["matchers"])
        problems += matcher_problems
    if "matchers" not in data:
        problems.append("matchers is required, e.g. ['rule=\"probe_down\"', 'probe=\"api\"']")
    created_by = _text(data, "created_by", problems, "say who silences")
    comment = _text(data, "comment", problems, "say why (a change ticket, the deploy)")
    starts_at = now
    if data.get("starts_at") is not None:
        try:
            starts_at = parse_time(data["starts_at"], "starts_at")
        except ValueError as err:
            problems.append(str(err))
    ends_at: float | None = None
    has_end, has_duration = data.get("ends_at") is not None, data.get("duration") is not None
    if has_end and has_duration:
        problems.append("give ends_at or duration, not both")
    elif has_end:
        try:
            ends_at = parse_time(data["ends_at"], "ends_at")
        except ValueError as err:
            problems.append(str(err))
    elif has_duration:
        duration = data["duration"]
        try:
            if not isinstance(duration, str):
                raise DurationError("duration is text such as '2h' or '30m'")
            seconds = parse_duration(duration)
            if seconds <= 0:
                raise DurationError("duration must be longer than zero")
            ends_at = starts_at + seconds
        except DurationError as err:
            problems.append(f"duration: {err}")
    else:
        problems.append("ends_at or duration is required (e.g. duration: '2h')")
    if ends_at is not None and ends_at <= now:
        problems.append("ends_at is in the past: the silence would never mute anything")
    elif ends_at is not None and ends_at <= starts_at:
        problems.append("ends_at must be after starts_at")
    if problems:
        raise SilenceError(problems)
    assert ends_at is not None
    silence = Silence(
        id=new_id(),
        matchers=matchers,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by,
        comment=comment,
        created_at=now,
    )
    validate_new(silence, now)
    return silence


def silence_document(silence: Silence, now: float) -> dict[str, Any]:
    """The API's JSON form: the stored record plus its ``state`` at ``now``."""
    return {**to_record(silence), "state": state(silence, now).value}


def next_change(silences: Iterable[Silence], now: float) -> float | None:
    """The next time a silence starts or ends after ``now`` (when muting changes)."""
    times = [t for s in silences for t in (s.starts_at, s.ends_at) if t > now]
    return min(times, default=None)


class SilenceStore:
    """The daemon's silences, persisted in ``state_dir/silences.json`` (see the module
    docstring). Reads are from memory; :meth:`add` and :meth:`expire` return once the file
    is on disk."""

    def __init__(
        self,
        path: Path,
        silences: Iterable[Silence] = (),
        *,
        retention: float = DEFAULT_RETENTION,
        clock: Callable[[], float],
    ) -> None:
        self.path = path
        self.retention = retention
        self._clock = clock
        self._silences: dict[str, Silence] = {s.id: s for s in silences}
        self._lock = asyncio.Lock()

    @classmethod
    def open(
        cls,
        state_dir: Path,
        *,
        clock: Callable[[], float],
        retention: float = DEFAULT_RETENTION,
        on_skipped: Callable[[int], None] = lambda _: None,
    ) -> SilenceStore:
        """Read ``state_dir/silences.json`` (none yet: no silences).

        A record that cannot be read is skipped (``on_skipped`` is told how many); a file
        that is not a silences file at all raises :class:`SilenceStoreError`.
        """
        path = state_dir / FILE_NAME
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, retention=retention, clock=clock)
        except (OSError, UnicodeDecodeError) as err:
            raise SilenceStoreError(f"cannot read {path}: {err}") from None
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("silences"), list):
            raise SilenceStoreError(
                f"{path} is not a flarewatch silences file; move it away to start without silences"
            )
        if document.get("version") != FORMAT_VERSION:
            raise SilenceStoreError(
                f"{path} was written by another flarewatch (format {document.get('version')!r}, "
                f"this one reads {FORMAT_VERSION}); upgrade flarewatch or move the file away"
            )
        silences: list[Silence] = []
        skipped = 0
        for record in document["silences"]:
            try:
                silences.append(from_record(record))
            except (SilenceError, TypeError, AttributeError):
                skipped += 1
        if skipped:
            on_skipped(skipped)
        return cls(path, silences, retention=retention, clock=clock)

    def all(self) -> list[Silence]:
        """Every kept silence, oldest first."""
        return sorted(self._silences.values(), key=lambda s: (s.created_at, s.id))

    def get(self, silence_id: str) -> Silence | None:
        """The silence with this id, if kept."""
        return self._silences.get(silence_id)

    def active(self, now: float) -> list[Silence]:
        """The silences muting alerts at ``now``."""
        return [s for s in self.all() if state(s, now) is SilenceState.ACTIVE]

    async def add(self, silence: Silence) -> Silence:
        """Keep a new silence (durably) and return it."""
        async with self._lock:
            if silence.id in self._silences:
                raise SilenceError([f"a silence with id {silence.id!r} exists"])
            updated = {**self._silences, silence.id: silence}
            await self._write(updated)
            return silence

    async def expire(self, silence_id: str) -> Silence | None:
        """End a silence now (durably); ``None`` when no silence has that id. Expiring an
        expired silence changes nothing."""
        async with self._lock:
            current = self._silences.get(silence_id)
            if current is None:
                return None
            ended = expire(current, self._clock())
            if ended != current:
                await self._write({**self._silences, silence_id: ended})
            return ended

    async def _write(self, silences: Mapping[str, Silence]) -> None:
        now = self._clock()
        kept = {
            k: s
            for k, s in silences.items()
            if not (state(s, now) is SilenceState.EXPIRED and now - s.ends_at >= self.retention)
        }
        document = {
            "version": FORMAT_VERSION,
            "silences": [to_record(s) for s in sorted(kept.values(), key=lambda s: s.created_at)],
        }
        text = json.dumps(document, indent=1, sort_keys=True)
        await asyncio.to_thread(_replace_file, self.path, text)
        self._silences = dict(kept)


def _replace_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically and durably (temp file, fsync, rename, dir sync)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
