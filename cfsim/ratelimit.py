"""Cloudflare's API rate limit: a fixed window per token that blocks everything once spent.

Cloudflare allows 1,200 requests per 5 minutes per token; going over blocks *all* calls
until the window ends, with HTTP 429 and ``Retry-After``. Pure: the caller passes ``now``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class _Window:
    start: float
    used: int = 0
    blocked_until: float = 0.0


@dataclass
class RateLimiter:
    """A fixed-window request budget per credential."""

    limit: int = 1200
    window_s: float = 300.0
    _windows: dict[str, _Window] = field(default_factory=dict)

    def hit(self, key: str, now: float) -> tuple[bool, int, float]:
        """Count one request for ``key``.

        Returns ``(allowed, remaining, seconds_to_reset)``. Once the budget is spent the
        key is blocked until the window ends, as Cloudflare blocks all calls.
        """
        win = self._windows.get(key)
        if win is None or now >= win.start + self.window_s:
            win = _Window(start=now)
            self._windows[key] = win
        reset = max(0.0, win.start + self.window_s - now)
        if now < win.blocked_until:
            return False, 0, win.blocked_until - now
        if win.used >= self.limit:
            win.blocked_until = win.start + self.window_s
            return False, 0, reset
        win.used += 1
        return True, self.limit - win.used, reset

    def headers(self, remaining: int, reset_s: float) -> dict[str, str]:
        """Both header forms Cloudflare has documented: the IETF draft and ``x-ratelimit-*``."""
        t = math.ceil(reset_s)
        return {
            "Ratelimit": f'"default";r={remaining};t={t}',
            "Ratelimit-Policy": f'"default";q={self.limit};w={int(self.window_s)}',
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(t),
        }

    def reset(self) -> None:
        """Forget every window."""
        self._windows.clear()
