"""Rate-limit header parsing: Retry-After, retry-after-ms, Ratelimit and x-ratelimit-*."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from multidict import CIMultiDict

from cfapi.headers import (
    LimitState,
    limit_state,
    parse_ratelimit,
    parse_retry_after,
    parse_retry_after_ms,
    parse_x_ratelimit,
    retry_delay,
)

NOW = 1_800_000_000.0


def _http_date(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts, UTC), usegmt=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (" 2 ", 2.0),
        ("0.5", 0.5),
        (_http_date(NOW + 120), 120.0),
        (_http_date(NOW - 60), 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("-5", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_retry_after_reads_seconds_or_http_date(value: str | None, expected: float | None) -> None:
    """Retry-After is delta-seconds or an HTTP-date; junk is ignored, never raised."""
    assert expected == parse_retry_after(value, NOW)


@pytest.mark.parametrize(
    ("value", "expected"), [("1500", 1.5), ("0", 0.0), ("x", None), (None, None), ("-1", None)]
)
def test_retry_after_ms_is_milliseconds(value: str | None, expected: float | None) -> None:
    """retry-after-ms (the SDK's header) is converted to seconds."""
    assert expected == parse_retry_after_ms(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"default";r=50;t=30', LimitState(50, 30.0)),
        ('"default";r=0;t=7', LimitState(0, 7.0)),
        ('"default";t=30;r=5', LimitState(5, 30.0)),
        ('"burst";r=9;t=1, "default";r=2;t=60', LimitState(2, 60.0)),
        ('"default";r=3', LimitState(3, 0.0)),
        ('"default";t=30', None),
        ('"default";r=x;t=30', None),
        ("", None),
        (None, None),
    ],
)
def test_ratelimit_header_gives_remaining_and_reset(
    value: str | None, expected: LimitState | None
) -> None:
    """The IETF-draft Ratelimit header yields the most constrained (remaining, reset) item."""
    assert expected == parse_ratelimit(value)


@pytest.mark.parametrize(
    ("remaining", "reset", "expected"),
    [
        ("10", "30", LimitState(10, 30.0)),
        ("0", str(int(NOW + 45)), LimitState(0, 45.0)),
        ("0", None, LimitState(0, 0.0)),
        (None, "30", None),
        ("many", "30", None),
        ("5", "later", LimitState(5, 0.0)),
    ],
)
def test_x_ratelimit_reset_is_delay_or_epoch(
    remaining: str | None, reset: str | None, expected: LimitState | None
) -> None:
    """X-RateLimit-Reset is read as a delay, or as an epoch time when it looks like one."""
    assert expected == parse_x_ratelimit(remaining, reset, NOW)


def test_limit_state_prefers_the_draft_header() -> None:
    """With both header families present, the newer Ratelimit header wins."""
    headers = CIMultiDict(
        {"Ratelimit": '"default";r=4;t=10', "X-RateLimit-Remaining": "99", "X-RateLimit-Reset": "1"}
    )
    assert LimitState(4, 10.0) == limit_state(headers, NOW)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"Retry-After": "9", "Ratelimit": '"default";r=0;t=30'}, 9.0),
        ({"Ratelimit": '"default";r=0;t=30'}, 30.0),
        ({"Ratelimit": '"default";r=3;t=30'}, None),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "12"}, 12.0),
        ({}, None),
    ],
)
def test_retry_delay_uses_the_most_explicit_hint(
    headers: dict[str, str], expected: float | None
) -> None:
    """retry-after-ms, then Retry-After, then an exhausted window's reset time."""
    assert expected == retry_delay(CIMultiDict(headers), NOW)
