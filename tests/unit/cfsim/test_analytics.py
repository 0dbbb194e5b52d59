"""The analytics store: samples, background traffic and the GraphQL query budget."""

from __future__ import annotations

from cfsim.analytics import Analytics, BackgroundTraffic, Sample


def test_record_keeps_newest_samples_within_maxlen() -> None:
    """Past maxlen the oldest samples fall off."""
    analytics = Analytics(maxlen=2)
    for ts in (1.0, 2.0, 3.0):
        analytics.record(Sample(ts=ts, kind="kv", subject="ns"))
    expected = [2.0, 3.0]
    assert expected == [s.ts for s in analytics.samples]


def test_background_with_zero_rps_is_removed() -> None:
    """Setting rps to 0 removes a subject's background traffic."""
    analytics = Analytics()
    analytics.set_background(BackgroundTraffic("workers", "api", rps=5))
    analytics.set_background(BackgroundTraffic("workers", "api", rps=0))
    expected: dict[tuple[str, str], BackgroundTraffic] = {}
    assert expected == analytics.background


def test_graphql_budget_is_300_per_five_minutes() -> None:
    """The 301st query within five minutes is refused; the next window allows it again."""
    analytics = Analytics()
    allowed = [analytics.budget.hit("token", 100.0)[0] for _ in range(301)]
    expected = (300, False, True)
    assert expected == (sum(allowed), allowed[-1], analytics.budget.hit("token", 400.0)[0])


def test_clear_refills_the_budget() -> None:
    """A simulator reset forgets samples, background traffic and spent budget."""
    analytics = Analytics()
    analytics.record(Sample(ts=1.0, kind="d1", subject="db"))
    for _ in range(300):
        analytics.budget.hit("token", 1.0)
    analytics.clear()
    expected = (0, True)
    assert expected == (len(analytics.samples), analytics.budget.hit("token", 2.0)[0])
