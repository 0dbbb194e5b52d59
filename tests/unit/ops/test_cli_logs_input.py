"""How ``flarewatch logs`` reads its input: durations, times, sizes, the default store path."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from ops.cli_logs import (
    default_store_path,
    parse_age,
    parse_size,
    parse_when,
    retention_policy,
)

NOW = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600.0), ("90m", 5400.0), ("1h30m", 5400.0), ("2d", 172800.0), ("1w", 604800.0)],
)
def test_ages(text: str, seconds: float) -> None:
    """Durations combine units the way people write them."""
    assert seconds == parse_age(text)


@pytest.mark.parametrize("text", ["", "1", "h", "1 hour", "1h 30m", "-1h"])
def test_bad_ages_explain_the_format(text: str) -> None:
    """Anything else names the units and gives examples."""
    with pytest.raises(ValueError, match="15m, 1h or 2d"):
        parse_age(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("1h", NOW - 3600),
        ("2026-11-18T10:00:00Z", NOW - 3600 - 400),
        ("2026-11-18T11:00:00+01:00", NOW - 3600 - 400),
        ("2026-11-18 10:00", NOW - 3600 - 400),
        ("2026-11-18", NOW - 11 * 3600 - 400),
    ],
)
def test_when(text: str, expected: float) -> None:
    """--since/--until take a duration ago, 'now', or an ISO time (naive ones in the given zone)."""
    assert expected == parse_when(text, NOW, UTC)


def test_bad_time_explains_the_choices() -> None:
    """A time that is neither says what is accepted."""
    with pytest.raises(ValueError, match="duration ago"):
        parse_when("yesterday", NOW, UTC)


@pytest.mark.parametrize(
    ("text", "size"), [("1GiB", 1 << 30), ("500MB", 500_000_000), ("2048", 2048), ("1.5kb", 1500)]
)
def test_sizes(text: str, size: int) -> None:
    """Store sizes take SI and binary units."""
    assert size == parse_size(text)


def test_retention_limits_can_be_switched_off() -> None:
    """``none`` (or 0) removes a limit instead of deleting everything."""
    policy = retention_policy("none", "0")
    assert (None, None) == (policy.max_age_s, policy.max_bytes)


def test_store_path_follows_xdg_state_home() -> None:
    """The store lives in the XDG state directory when one is set."""
    env = {"XDG_STATE_HOME": "/srv/state", "HOME": "/home/u"}
    assert Path("/srv/state/flarewatch/logs.db") == default_store_path(env)


@pytest.mark.parametrize("xdg", ["", "relative/dir"])
def test_store_path_falls_back_to_local_state(xdg: str) -> None:
    """Without a usable XDG_STATE_HOME (unset or relative, per the spec), ~/.local/state."""
    env = {"XDG_STATE_HOME": xdg, "HOME": "/home/u"}
    assert Path("/home/u/.local/state/flarewatch/logs.db") == default_store_path(env)
