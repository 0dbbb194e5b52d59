"""The log store's pure core: retention planning, time-ordered ids, query shapes."""

from __future__ import annotations

import pytest

from ops.logevents import Level
from ops.logstore import (
    SEQ_BITS,
    LogQuery,
    RetentionPlan,
    RetentionPolicy,
    StoreStats,
    assign_ids,
    build_query,
    fts_phrase,
    id_range,
    plan_retention,
)

DAY_MS = 86_400_000
NOW = 100 * DAY_MS
GIB = 1 << 30


def stats(rows: int, oldest_days_ago: float, bytes_used: int) -> StoreStats:
    """Store statistics with the oldest row ``oldest_days_ago`` before NOW."""
    oldest = None if rows == 0 else int(NOW - oldest_days_ago * DAY_MS)
    return StoreStats(
        rows=rows, oldest_ms=oldest, newest_ms=NOW, bytes_used=bytes_used, file_bytes=bytes_used
    )


@pytest.mark.parametrize(
    ("policy", "store", "expected"),
    [
        (RetentionPolicy(), stats(0, 0, 0), RetentionPlan(None, 0, "empty")),
        (
            RetentionPolicy(max_age_s=7 * 86400, max_bytes=GIB),
            stats(1000, 3, GIB // 2),
            RetentionPlan(None, 0, "within limits"),
        ),
        (
            RetentionPolicy(max_age_s=7 * 86400, max_bytes=GIB),
            stats(1000, 9, GIB // 2),
            RetentionPlan(NOW - 7 * DAY_MS, 0, "older than 604800 s"),
        ),
        (
            RetentionPolicy(max_age_s=None, max_bytes=1000, low_water=0.9),
            stats(100, 30, 2000),
            RetentionPlan(None, 55, "2000 bytes used, limit 1000"),
        ),
        (
            RetentionPolicy(max_age_s=None, max_bytes=1000, low_water=1.0),
            stats(10, 30, 1001),
            RetentionPlan(None, 1, "1001 bytes used, limit 1000"),
        ),
        (
            RetentionPolicy(max_age_s=None, max_bytes=None),
            stats(10, 300, 10 * GIB),
            RetentionPlan(None, 0, "within limits"),
        ),
    ],
)
def test_retention_plan(
    policy: RetentionPolicy, store: StoreStats, expected: RetentionPlan
) -> None:
    """Age gives a cut-off, size a number of oldest rows down to the low-water mark."""
    assert expected == plan_retention(policy, store, NOW)


def test_age_is_cut_before_size_is_considered() -> None:
    """Old rows go first; the size is judged again on what remains (a second plan)."""
    policy = RetentionPolicy(max_age_s=86400, max_bytes=1000)
    first = plan_retention(policy, stats(100, 5, 5000), NOW)
    second = plan_retention(policy, stats(40, 0.5, 900), NOW)
    assert (first.cutoff_ms, first.drop_oldest, second.empty) == (NOW - DAY_MS, 0, True)


def test_size_plan_never_drops_more_than_every_row() -> None:
    """A tiny limit empties the store at most."""
    plan = plan_retention(RetentionPolicy(max_age_s=None, max_bytes=1), stats(7, 1, 10**9), NOW)
    assert 7 == plan.drop_oldest


@pytest.mark.parametrize(
    "kwargs", [{"max_age_s": 0}, {"max_bytes": -1}, {"low_water": 0}, {"low_water": 1.5}]
)
def test_bad_policies_are_refused(kwargs: dict[str, float]) -> None:
    """A policy that would delete everything (or nothing sensible) is an error, not a surprise."""
    with pytest.raises(ValueError, match="must be"):
        RetentionPolicy(**kwargs)  # type: ignore[arg-type]


def test_ids_are_time_ordered_and_unique() -> None:
    """Ids sort like event times, and rows of one millisecond get consecutive ids."""
    ids = assign_ids([5, 3, 5, 4, 3], lambda _ms: None)
    expected = [5 << SEQ_BITS, 3 << SEQ_BITS, (5 << SEQ_BITS) + 1, 4 << SEQ_BITS]
    assert [*expected, (3 << SEQ_BITS) + 1] == ids


def test_ids_follow_rows_already_stored() -> None:
    """A second writer in the same millisecond continues after the stored ids."""
    stored = {7: (7 << SEQ_BITS) + 41}
    assert [(7 << SEQ_BITS) + 42, (7 << SEQ_BITS) + 43] == assign_ids([7, 7], stored.get)


def test_ids_spill_into_the_next_millisecond_without_collision() -> None:
    """More rows in one millisecond than its id space push later ids along, still unique."""
    stored = {1: (1 << SEQ_BITS) + (1 << SEQ_BITS) - 1}  # millisecond 1 is full
    assert [2 << SEQ_BITS, (2 << SEQ_BITS) + 1] == assign_ids([1, 2], stored.get)


def test_id_range_covers_whole_milliseconds() -> None:
    """Both ends of a time range are inclusive."""
    lo, hi = id_range(10, 12)
    assert (lo, hi >> SEQ_BITS, (hi + 1) >> SEQ_BITS) == (10 << SEQ_BITS, 12, 13)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("D1_ERROR: Network", '"D1_ERROR: Network"*'),
        ('say "hi"', '"say ""hi"""*'),
        ("x", '"x"*'),
    ],
)
def test_search_text_is_one_quoted_phrase(text: str, expected: str) -> None:
    """User text cannot inject FTS5 syntax: it is one phrase, the last word a prefix."""
    assert expected == fts_phrase(text)


def test_search_without_words_is_refused() -> None:
    """Punctuation alone finds nothing in a word index: say so instead of returning nothing."""
    with pytest.raises(ValueError, match="no letters or digits"):
        fts_phrase(":: --")


def test_plain_range_query_walks_the_primary_key() -> None:
    """A time range alone is one newest-first primary-key range with a limit."""
    sql, params = build_query(LogQuery(since_ms=1, until_ms=2, limit=5))
    assert ("UNION" in sql, sql.endswith("ORDER BY id DESC LIMIT ?"), params[-1]) == (
        False,
        True,
        5,
    )


def test_level_and_service_query_has_one_branch_per_pair() -> None:
    """--level warn over two services: two times two exact index prefixes, merged newest first."""
    q = LogQuery(1, 2, min_level=Level.WARN, services=("api", "web"), limit=10)
    sql, params = build_query(q)
    assert (sql.count("SELECT * FROM ("), sql.count("level = ?"), params[-1]) == (4, 4, 10)


def test_service_only_query_branches_over_every_level() -> None:
    """A service alone still uses the (service, level) index: one branch per level."""
    sql, _ = build_query(LogQuery(1, 2, services=("api",)))
    assert len(Level) == sql.count("service = ? AND level = ?")


def test_debug_level_means_no_level_filter() -> None:
    """--level debug is everything."""
    sql, _ = build_query(LogQuery(1, 2, min_level=Level.DEBUG))
    assert "level = ?" not in sql


def test_search_query_is_driven_by_the_text_index() -> None:
    """With a search, FTS5 leads and the filters apply to its rows (never the reverse)."""
    q = LogQuery(1, 2, min_level=Level.ERROR, services=("api",), kinds=("worker",), search="x")
    sql, params = build_query(q)
    actual = (
        "FROM events_fts CROSS JOIN events" in sql,
        params[:2],
        ["e.service IN (?)" in sql, "e.level IN (?)" in sql, "e.kind IN (?)" in sql],
    )
    assert (True, ['"x"*', 1 << SEQ_BITS], [True, True, True]) == actual


def test_limit_must_be_positive() -> None:
    """A zero limit is a mistake, not an empty answer."""
    with pytest.raises(ValueError, match="limit"):
        build_query(LogQuery(1, 2, limit=0))
