"""The simulator's rate limit: a fixed window per credential that blocks once spent."""

from __future__ import annotations

from cfsim.ratelimit import RateLimiter


def test_budget_counts_down_then_blocks_until_window_end() -> None:
    """Past the limit every call is refused until the window ends, then the budget is back."""
    limiter = RateLimiter(limit=2, window_s=60)
    assert limiter.hit("t", now=0) == (True, 1, 60)
    assert limiter.hit("t", now=10) == (True, 0, 50)
    assert limiter.hit("t", now=20) == (False, 0, 40)
    assert limiter.hit("t", now=59) == (False, 0, 1)
    assert limiter.hit("t", now=60) == (True, 1, 60)


def test_credentials_have_separate_budgets() -> None:
    """One token spending its budget does not block another."""
    limiter = RateLimiter(limit=1, window_s=60)
    assert limiter.hit("a", now=0)[0]
    assert not limiter.hit("a", now=1)[0]
    assert limiter.hit("b", now=1)[0]


def test_headers_carry_both_forms() -> None:
    """The IETF draft headers and the older x-ratelimit-* ones are both sent."""
    headers = RateLimiter(limit=1200, window_s=300).headers(remaining=50, reset_s=29.2)
    assert headers == {
        "Ratelimit": '"default";r=50;t=30',
        "Ratelimit-Policy": '"default";q=1200;w=300',
        "X-RateLimit-Limit": "1200",
        "X-RateLimit-Remaining": "50",
        "X-RateLimit-Reset": "30",
    }
