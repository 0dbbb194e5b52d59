"""Silences: matchers plus a time window that mute matching alerts, with author and comment.

Alertmanager's model: a silence is *pending* before ``starts_at``, *active* from
``starts_at`` until ``ends_at`` (half-open: at ``ends_at`` it is over) and *expired* after;
expiring sets ``ends_at`` to now. A silence must name who made it and why, and at least one of
its matchers must not match the empty string, so a silence can never mute everything (or every
alert lacking some label). Silencing mutes notifications only; the alert keeps its lifecycle.
The daemon stores silences and serves ``/api/v1/silences``; everything here is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from alerting.matchers import Matcher, matches_all, parse_matcher_list


class SilenceError(ValueError):
    """A silence that cannot exist or cannot be created; lists every problem at once."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid silence: " + "; ".join(self.problems))


class SilenceState(StrEnum):
    """Where a silence is in time."""

    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Silence:
    """Mute alerts whose labels satisfy every matcher, from ``starts_at`` until ``ends_at``.

    Construction checks what must hold for any stored silence (an id, matchers that cannot
    match everything, an author, a comment, an end not before the start);
    :func:`validate_new` adds what a silence being created must also satisfy.
    """

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float

    def __post_init__(self) -> None:
        problems = []
        if not self.id.strip():
            problems.append("id is empty")
        if not self.matchers:
            problems.append("at least one matcher is required")
        elif all(m.matches_empty() for m in self.matchers):
            shown = ", ".join(str(m) for m in self.matchers)
            problems.append(
                f"matchers {shown} would also match alerts without those labels; at least one "
                "matcher must not match the empty string"
            )
        if self.ends_at < self.starts_at:
            problems.append("ends_at is before starts_at")
        if not self.created_by.strip():
            problems.append("created_by is empty: say who silenced")
        if not self.comment.strip():
            problems.append("comment is empty: say why")
        if problems:
            raise SilenceError(problems)


def validate_new(silence: Silence, now: float) -> None:
    """Refuse a silence being created that would never mute anything: its end must be after its
    start and in the future."""
    problems = []
    if silence.ends_at <= silence.starts_at:
        problems.append("ends_at must be after starts_at")
    if silence.ends_at <= now:
        problems.append("ends_at is in the past")
    if problems:
        raise SilenceError(problems)


def state(silence: Silence, now: float) -> SilenceState:
    """Pending before ``starts_at``, active until ``ends_at``, expired from then on."""
    if now < silence.starts_at:
        return SilenceState.PENDING
    if now < silence.ends_at:
        return SilenceState.ACTIVE
    return SilenceState.EXPIRED


def active(silence: Silence, now: float) -> bool:
    """Whether the silence mutes alerts at ``now``."""
    return state(silence, now) is SilenceState.ACTIVE


def silenced_by(
    alert_labels: Mapping[str, str], silences: Iterable[Silence], now: float
) -> tuple[str, ...]:
    """The ids of the active silences that mute an alert with these labels, in the given order.

    Pass :attr:`alerting.lifecycle.Alert.match_labels`, so ``rule`` and ``severity`` can be
    matched too.
    """
    return tuple(s.id for s in silences if active(s, now) and matches_all(s.matchers, alert_labels))


def expire(silence: Silence, now: float) -> Silence:
    """End the silence now. A pending silence becomes one that never started
    (``starts_at = ends_at = now``); an expired one is returned unchanged, so expiring twice is
    harmless."""
    current = state(silence, now)
    if current is SilenceState.EXPIRED:
        return silence
    if current is SilenceState.PENDING:
        return replace(silence, starts_at=now, ends_at=now)
    return replace(silence, ends_at=now)


def to_record(silence: Silence) -> dict[str, Any]:
    """JSON-safe data for the store and the API; matchers in their text form."""
    return {
        "id": silence.id,
        "matchers": [str(m) for m in silence.matchers],
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "created_by": silence.created_by,
        "comment": silence.comment,
        "created_at": silence.created_at,
    }


def from_record(record: Mapping[str, Any]) -> Silence:
    """Read a silence from :func:`to_record`'s form; matchers may be text or Alertmanager's
    structured form. Raises :class:`SilenceError` listing every problem."""
    expected = {"id", "matchers", "starts_at", "ends_at", "created_by", "comment", "created_at"}
    problems = [f"missing field {name!r}" for name in sorted(expected - record.keys())]
    problems += [f"unknown field {name!r}" for name in sorted(record.keys() - expected)]
    texts = {name: record.get(name) for name in ("id", "created_by", "comment")}
    problems += [f"{name} must be a string" for name, v in texts.items() if not isinstance(v, str)]
    times = {name: record.get(name) for name in ("starts_at", "ends_at", "created_at")}
    problems += [
        f"{name} must be a number (epoch seconds)"
        for name, v in times.items()
        if isinstance(v, bool) or not isinstance(v, int | float)
    ]
    matchers, matcher_problems = parse_matcher_list(record.get("matchers"), allow_text=False)
    problems += matcher_problems
    if problems:
        raise SilenceError(problems)
    return Silence(
        id=record["id"],
        matchers=matchers,
        starts_at=float(record["starts_at"]),
        ends_at=float(record["ends_at"]),
        created_by=record["created_by"],
        comment=record["comment"],
        created_at=float(record["created_at"]),
    )
