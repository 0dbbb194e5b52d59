"""Durations in rules (``for``, ``keep_firing_for``) and the rest of the alerting config:
what parses and what the errors say."""

from __future__ import annotations

import pytest

from alerting.rules import DurationError, parse_duration

HINT = "write a number with a unit (ms, s, m, h, d, w), e.g. 30s, 1m30s or 250ms"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        (0, 0.0),
        ("0s", 0.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("500ms", 0.5),
        ("1m30s500ms", 90.5),
        ("2d", 172800.0),
        ("1w", 604800.0),
        (30, 30.0),
        (2.5, 2.5),
        (" 10S ", 10.0),
    ],
)
def test_parses_seconds(value: object, expected: float) -> None:
    """Units ms, s, m, h, d and w combine into seconds, and a bare number is seconds."""
    assert expected == parse_duration(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", f"'' is not a duration: {HINT}"),
        ("30", f"'30' is not a duration: {HINT}; for seconds write '30s'"),
        ("5 m", f"'5 m' is not a duration: {HINT}; did you mean '5m'?"),
        ("5 min", f"'5 min' is not a duration: {HINT}; did you mean '5m'?"),
        ("5min", f"'5min' is not a duration: {HINT}; did you mean '5m'?"),
        ("2hours", f"'2hours' is not a duration: {HINT}; did you mean '2h'?"),
        ("10x", f"'10x' is not a duration: {HINT}"),
        ("2 weeks", f"'2 weeks' is not a duration: {HINT}; did you mean '2w'?"),
        ("-5m", f"'-5m' is not a duration: {HINT}; durations cannot be negative"),
        ("abc", f"'abc' is not a duration: {HINT}"),
        ("1h30", f"'1h30' is not a duration: {HINT}; for seconds write '1h30s'"),
        (-1, "a duration cannot be negative"),
        (float("inf"), "inf is not a duration: write a number of seconds"),
        (True, "expected a duration such as 30s, 2m or 250ms, got a boolean"),
        ([1], "expected a duration such as 30s, 2m or 250ms, got list"),
    ],
)
def test_errors_say_what_to_write(value: object, expected: str) -> None:
    """Each malformed duration is refused with a message that shows the fix."""
    with pytest.raises(DurationError) as caught:
        parse_duration(value)
    assert expected == str(caught.value)
