"""Silences: validation, time windows, matching and expiry, on an injected clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alerting.matchers import parse_matchers
from alerting.silences import (
    Silence,
    SilenceError,
    SilenceState,
    active,
    expire,
    from_record,
    silenced_by,
    state,
    to_record,
    validate_new,
)


def _silence(
    matchers: str = 'probe="d1-main"',
    starts_at: float = 100.0,
    ends_at: float = 200.0,
    silence_id: str = "s1",
    created_by: str = "alice",
    comment: str = "D1 migration",
) -> Silence:
    return Silence(
        id=silence_id,
        matchers=parse_matchers(matchers),
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by,
        comment=comment,
        created_at=90.0,
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (99.0, SilenceState.PENDING),
        (100.0, SilenceState.ACTIVE),
        (199.0, SilenceState.ACTIVE),
        (200.0, SilenceState.EXPIRED),
        (500.0, SilenceState.EXPIRED),
    ],
)
def test_state_over_time(now: float, expected: SilenceState) -> None:
    """A silence is pending before its start, active from its start and over at its end
    (half-open window), so a maintenance window ends on time."""
    assert expected == state(_silence(), now)


@pytest.mark.parametrize(("now", "expected"), [(99.0, False), (150.0, True), (200.0, False)])
def test_active(now: float, expected: bool) -> None:
    """``active`` is true only inside the window."""
    assert expected == active(_silence(), now)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"matchers": ""}, "at least one matcher is required", id="no-matchers"),
        pytest.param(
            {"matchers": 'probe=~".*"'},
            "at least one matcher must not match the empty string",
            id="regex-matching-everything",
        ),
        pytest.param(
            {"matchers": 'env=~".*", zone=""'},
            "at least one matcher must not match the empty string",
            id="every-matcher-matches-empty",
        ),
        pytest.param(
            {"matchers": 'env!="prod"'},
            "would also match alerts without those labels",
            id="negative-matcher-alone",
        ),
        pytest.param({"ends_at": 99.0}, "ends_at is before starts_at", id="ends-before-start"),
        pytest.param({"created_by": " "}, "created_by is empty", id="no-author"),
        pytest.param({"comment": ""}, "comment is empty", id="no-comment"),
        pytest.param({"silence_id": ""}, "id is empty", id="no-id"),
    ],
)
def test_invalid_silence_is_refused(kwargs: dict[str, Any], message: str) -> None:
    """A silence that could mute everything, or lacks an author or reason, cannot exist
    (Alertmanager's rules; a negative matcher alone is refused too, as it would mute every
    alert lacking the label)."""
    with pytest.raises(SilenceError, match=message):
        _silence(**kwargs)


def test_every_problem_is_reported_at_once() -> None:
    """All problems come back together, so an API client fixes them in one go."""
    with pytest.raises(SilenceError) as caught:
        _silence(matchers="", ends_at=50.0, created_by="", comment="")
    assert 4 == len(caught.value.problems)


def test_negative_matcher_with_a_positive_one_is_accepted() -> None:
    """A negative matcher is fine next to one that pins the alerts down."""
    silence = _silence(matchers='service="kv", env!="prod"')
    assert 2 == len(silence.matchers)


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "now", "message"),
    [
        (100.0, 100.0, 50.0, "ends_at must be after starts_at"),
        (10.0, 40.0, 50.0, "ends_at is in the past"),
    ],
)
def test_new_silence_must_be_able_to_mute(
    starts_at: float, ends_at: float, now: float, message: str
) -> None:
    """Creating a silence that would never be active is refused."""
    with pytest.raises(SilenceError, match=message):
        validate_new(_silence(starts_at=starts_at, ends_at=ends_at), now)


def test_new_silence_in_the_future_is_accepted() -> None:
    """A scheduled maintenance window (starting later) is a valid new silence."""
    silence = _silence(starts_at=100.0, ends_at=200.0)
    validate_new(silence, 50.0)
    assert SilenceState.PENDING == state(silence, 50.0)


@pytest.mark.parametrize(
    ("labels", "now", "expected"),
    [
        pytest.param({"probe": "d1-main", "env": "prod"}, 150.0, ("s1", "s3"), id="both-match"),
        pytest.param({"probe": "kv-cache", "env": "prod"}, 150.0, ("s3",), id="one-matches"),
        pytest.param({"probe": "d1-main", "env": "prod"}, 250.0, ("s3",), id="one-expired"),
        pytest.param({"probe": "d1-main", "env": "prod"}, 50.0, (), id="none-started"),
        pytest.param({"probe": "d1-main"}, 150.0, ("s1",), id="missing-label"),
    ],
)
def test_silenced_by(labels: dict[str, str], now: float, expected: tuple[str, ...]) -> None:
    """An alert is muted by the active silences whose every matcher holds, listed in order."""
    silences = [
        _silence('probe="d1-main"', silence_id="s1"),
        _silence('probe="never"', silence_id="s2"),
        _silence('env="prod"', starts_at=100.0, ends_at=300.0, silence_id="s3"),
    ]
    assert expected == silenced_by(labels, silences, now)


@pytest.mark.parametrize(
    ("now", "expected_window"),
    [
        pytest.param(150.0, (100.0, 150.0), id="active-ends-now"),
        pytest.param(50.0, (50.0, 50.0), id="pending-never-starts"),
        pytest.param(300.0, (100.0, 200.0), id="expired-unchanged"),
    ],
)
def test_expire(now: float, expected_window: tuple[float, float]) -> None:
    """Expiring sets the end to now (a pending silence collapses to an empty window); an
    expired silence is left as it was, so expiring twice is harmless."""
    expired = expire(_silence(), now)
    assert (expected_window, SilenceState.EXPIRED) == (
        (expired.starts_at, expired.ends_at),
        state(expired, now),
    )


def test_record_round_trips_through_json() -> None:
    """Silences survive the store: ``to_record`` → JSON → ``from_record`` is the identity."""
    silence = _silence('probe="d1-main", service=~"kv|r2", env!="dev"')
    assert silence == from_record(json.loads(json.dumps(to_record(silence))))


def test_record_accepts_structured_matchers() -> None:
    """Matchers in Alertmanager's API form are read as well as text."""
    record = {
        **to_record(_silence()),
        "matchers": [{"name": "probe", "value": "d1-main", "isRegex": False}],
    }
    assert _silence() == from_record(record)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"matchers": "probe=x"}, "matchers must be a list", id="matchers-not-list"),
        pytest.param({"matchers": ["probe=="]}, r"matchers\[0\]: invalid matcher", id="bad-text"),
        pytest.param({"matchers": [3]}, r"matchers\[0\] must be text", id="bad-item"),
        pytest.param({"starts_at": "now"}, "starts_at must be a number", id="bad-time"),
        pytest.param({"ends_at": True}, "ends_at must be a number", id="bool-time"),
        pytest.param({"comment": None}, "comment must be a string", id="bad-text-field"),
        pytest.param({"extra": 1}, "unknown field 'extra'", id="unknown-field"),
        pytest.param({"comment": ""}, "comment is empty", id="invalid-silence"),
    ],
)
def test_bad_record_is_refused(change: dict[str, Any], message: str) -> None:
    """A malformed silence record is refused with the field named."""
    with pytest.raises(SilenceError, match=message):
        from_record({**to_record(_silence()), **change})


def test_record_missing_a_field_is_refused() -> None:
    """Every field is required in a record."""
    record = to_record(_silence())
    del record["created_by"]
    with pytest.raises(SilenceError, match="missing field 'created_by'"):
        from_record(record)
