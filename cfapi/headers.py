"""Reading Cloudflare's rate-limit hints from response headers (pure functions).

Cloudflare has documented two header families: the IETF draft ``Ratelimit: "default";r=50;t=30``
(r = requests remaining, t = seconds until the window resets; sent on every answer since
2025-09) and the older ``X-RateLimit-Limit/-Remaining/-Reset``. On 429 it adds
``Retry-After`` (seconds, or an HTTP-date per RFC 9110). The official SDK also honours
``retry-after-ms``. Every parser here accepts junk and answers ``None`` rather than raising:
a malformed hint must never fail a request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

# An x-ratelimit-reset larger than this is an epoch timestamp, not a delay. [I: Cloudflare
# documents a delay; other APIs (GitHub) send epoch seconds, so accept both.]
_EPOCH_THRESHOLD = 1_000_000_000


@dataclass(frozen=True)
class LimitState:
    """What the server says about the rate-limit window: remaining requests and reset delay."""

    remaining: int
    reset_s: float


def _finite_nonneg(value: float) -> float | None:
    return value if math.isfinite(value) and value >= 0 else None


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return _finite_nonneg(float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive result means "-0000"
        return None
    return max(0.0, when.timestamp() - now_wall)


def parse_retry_after_ms(value: str | None) -> float | None:
    """Seconds to wait from a ``retry-after-ms`` value (milliseconds)."""
    if value is None:
        return None
    try:
        ms = float(value.strip())
    except ValueError:
        return None
    seconds = _finite_nonneg(ms)
    return None if seconds is None else seconds / 1000.0


_R = re.compile(r";\s*r=(\d+)")
_T = re.compile(r";\s*t=(\d+(?:\.\d+)?)")


def parse_ratelimit(value: str | None) -> LimitState | None:
    """Read ``Ratelimit: "default";r=50;t=30`` (the most constrained item if several)."""
    if not value:
        return None
    best: LimitState | None = None
    for item in value.split(","):
        remaining = _R.search(item)
        if remaining is None:
            continue
        reset = _T.search(item)
        state = LimitState(
            remaining=int(remaining.group(1)), reset_s=float(reset.group(1)) if reset else 0.0
        )
        if best is None or state.remaining < best.remaining:
            best = state
    return best


def parse_x_ratelimit(
    remaining: str | None, reset: str | None, now_wall: float
) -> LimitState | None:
    """Read ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (a delay or an epoch time)."""
    if remaining is None:
        return None
    try:
        left = int(remaining.strip())
    except ValueError:
        return None
    if left < 0:
        return None
    reset_s = 0.0
    if reset is not None:
        try:
            raw = float(reset.strip())
        except ValueError:
            raw = 0.0
        if math.isfinite(raw) and raw > 0:
            reset_s = max(0.0, raw - now_wall) if raw > _EPOCH_THRESHOLD else raw
    return LimitState(remaining=left, reset_s=reset_s)


def limit_state(headers: Mapping[str, str], now_wall: float) -> LimitState | None:
    """The window state from whichever header family the answer carries (draft form first)."""
    state = parse_ratelimit(headers.get("Ratelimit"))
    if state is not None:
        return state
    return parse_x_ratelimit(
        headers.get("X-RateLimit-Remaining"), headers.get("X-RateLimit-Reset"), now_wall
    )


def retry_delay(headers: Mapping[str, str], now_wall: float) -> float | None:
    """How long the server asks us to wait, from the most explicit hint present.

    Order, as the official SDK reads them: ``retry-after-ms``, ``Retry-After``; then the
    window headers when they say nothing is left (``r=0``: wait for the reset).
    """
    delay = parse_retry_after_ms(headers.get("retry-after-ms"))
    if delay is not None:
        return delay
    delay = parse_retry_after(headers.get("Retry-After"), now_wall)
    if delay is not None:
        return delay
    state = limit_state(headers, now_wall)
    if state is not None and state.remaining == 0 and state.reset_s > 0:
        return state.reset_s
    return None
