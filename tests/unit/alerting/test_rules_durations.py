"""Durations in rules (``for``, ``keep_firing_for``): what parses and what the errors say."""

from __future__ import annotations

import pytest

from alerting.rules import DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0.0),
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
    ],
)
def test_parses_seconds(text: str, expected: float) -> None:
    """Units ms, s, m, h, d and w combine from largest to smallest into seconds."""
    assert expected == parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "a duration cannot be empty: write, for example, '30s' or '5m'"),
        ("30", "'30' has no unit: write '30s' for seconds or '30m' for minutes"),
        ("5 m", "'5 m' has spaces: write '5m'"),
        (
            "5 min",
            "'5 min' has spaces, and without them: unknown unit 'min' in '5min';"
            " did you mean '5m'? (units: ms, s, m, h, d, w)",
        ),
        ("5min", "unknown unit 'min' in '5min'; did you mean '5m'? (units: ms, s, m, h, d, w)"),
        (
            "2hours",
            "unknown unit 'hours' in '2hours'; did you mean '2h'? (units: ms, s, m, h, d, w)",
        ),
        ("10x", "unknown unit 'x' in '10x' (units: ms, s, m, h, d, w)"),
        ("-5m", "'-5m' is negative: durations count forward from now"),
        ("1m1h", "'1m1h': units go from largest to smallest, each once (write '1h1m')"),
        ("1m1m", "'1m1m' repeats a unit: write each unit once"),
        (
            "abc",
            "'abc' is not a duration: write a number and a unit (ms, s, m, h, d, w),"
            " such as '30s', '5m' or '1h30m'",
        ),
        (
            "1h30",
            "'1h30' is not a duration: write a number and a unit (ms, s, m, h, d, w),"
            " such as '30s', '5m' or '1h30m'",
        ),
    ],
)
def test_errors_say_what_to_write(text: str, expected: str) -> None:
    """Each malformed duration is refused with a message that shows the fix."""
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert expected == str(caught.value)
