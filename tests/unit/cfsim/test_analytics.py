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


def test_index_reads_only_the_window_including_partial_edge_minutes() -> None:
    """The per-minute index answers exactly the samples in ``[start, end)``, also when the
    window starts and ends inside a minute."""
    analytics = Analytics()
    for ts in (59.0, 60.0, 61.5, 119.9, 120.0, 185.0, 250.0):
        analytics.record(Sample(ts=ts, kind="workers", subject="api"))
    analytics.record(Sample(ts=100.0, kind="kv", subject="ns"))
    found = [s.ts for s in analytics.index.between(("workers",), 61.0, 185.0)]
    assert [61.5, 119.9, 120.0] == found


def test_index_forgets_evicted_samples() -> None:
    """Samples falling off ``maxlen`` leave the index too, so queries agree with the store."""
    analytics = Analytics(maxlen=2)
    for ts in (10.0, 70.0, 130.0):
        analytics.record(Sample(ts=ts, kind="kv", subject="ns"))
    found = [s.ts for s in analytics.index.between(("kv",), 0.0, None)]
    assert ([70.0, 130.0], [1, 2]) == (found, analytics.index.minutes["kv"])


def test_index_keeps_minutes_ordered_when_time_goes_back() -> None:
    """A sample stamped earlier than the last (a test clock moved back) is still found."""
    analytics = Analytics()
    for ts in (600.0, 30.0, 300.0):
        analytics.record(Sample(ts=ts, kind="d1", subject="db"))
    found = [s.ts for s in analytics.index.between(("d1",), 0.0, 1000.0)]
    assert [30.0, 300.0, 600.0] == found


def test_window_is_read_from_the_index() -> None:
    """``window`` (used by the stores) gives the same samples as a scan of the store."""
    analytics = Analytics()
    for i in range(300):
        analytics.record(Sample(ts=i * 7.5, kind="r2" if i % 3 else "kv", subject="b"))
    scan = [s for s in analytics.samples if s.kind == "r2" and 100.0 <= s.ts < 1500.0]
    assert scan == analytics.window("r2", 100.0, 1500.0)
