"""Arithmetic behind GraphQL Analytics: quantiles, time values, filter windows, synthesis."""

from __future__ import annotations

import pytest

from cfsim.analytics import BackgroundTraffic
from cfsim.graphql_datasets import DATASETS, background_records, events_between
from cfsim.graphql_filters import QueryError, compile_filter, time_bounds
from cfsim.graphql_model import parse_time, quantile, time_dimension

WORKERS = DATASETS["workersInvocationsAdaptive"]
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.25, 1.0), (0.5, 2.0), (0.75, 3.0), (0.99, 4.0), (0.999, 4.0)],
)
def test_quantile_is_nearest_rank(q: float, expected: float) -> None:
    """Quantiles use nearest rank, so every answer is a value that was observed."""
    assert expected == quantile({1.0: 1, 2.0: 1, 3.0: 1, 4.0: 1}, q)


def test_quantile_of_nothing_is_zero() -> None:
    """An empty distribution answers 0 rather than failing."""
    expected = 0.0
    assert expected == quantile({}, 0.5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-14T22:13:20Z", T0),
        ("2023-11-14T22:13:20.000Z", T0),
        ("2023-11-14T23:13:20+01:00", T0),
        ("2023-11-14", T0 - 80_000),
    ],
)
def test_parse_time_accepts_time_and_date(text: str, expected: float) -> None:
    """Time values in RFC 3339 forms and Date values parse to epoch seconds."""
    assert expected == parse_time(text)


@pytest.mark.parametrize("bad", ["yesterday", "", 1700000000])
def test_parse_time_rejects_other_values(bad: object) -> None:
    """Anything else is refused, not guessed."""
    with pytest.raises(ValueError, match=r"(?i)invalid"):
        parse_time(bad)


def test_time_dimension_formats() -> None:
    """Time dimensions render as Cloudflare's Time and Date scalars."""
    expected = ["2023-11-14T22:13:20Z", "2023-11-14T22:10:00Z", "2023-11-14"]
    actual = [time_dimension(n, T0 + 0.9) for n in ("datetime", "datetimeFiveMinutes", "date")]
    assert expected == actual


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"datetime_geq": "2023-11-14T22:00:00Z", "datetime_lt": "2023-11-14T23:00:00Z"},
         (T0 - 800, T0 + 2800)),
        ({"datetime_gt": "2023-11-14T22:00:00Z"}, (T0 - 799, None)),
        ({"date_geq": "2023-11-14", "date_leq": "2023-11-14"}, (T0 - 80_000, T0 + 6400)),
        ({"datetimeHour": "2023-11-14T22:00:00Z"}, (T0 - 800, T0 + 2800)),
        ({"AND": [{"datetime_geq": "2023-11-14T22:00:00Z"}]}, (T0 - 800, None)),
        ({"OR": [{"datetime_geq": "2023-11-14T22:00:00Z"}, {"scriptName": "x"}]}, (None, None)),
    ],
)  # fmt: skip
def test_time_bounds_from_filters(
    flt: dict[str, object], expected: tuple[float | None, float | None]
) -> None:
    """Only conditions that must hold narrow the window; leq on a date covers the whole day."""
    assert expected == time_bounds(compile_filter(WORKERS, flt, []))


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        ({"colour": "red"}, 'unknown field "colour"'),
        ({"scriptName_between": "a"}, 'unknown field "scriptName_between"'),
        ({"datetime_geq": "soon"}, 'error parsing args: "datetime_geq"'),
        ({"scriptName_in": "a"}, 'error parsing args: "scriptName_in" must be a list'),
    ],
)
def test_bad_filters_are_refused(flt: dict[str, object], message: str) -> None:
    """Unknown fields, operators and badly typed values are refused with a message."""
    with pytest.raises(QueryError, match=message):
        compile_filter(WORKERS, flt, ["viewer"])


def test_events_between_is_additive() -> None:
    """Counting events in slices gives the same total as counting the whole interval."""
    parts = sum(events_between(0.37, T0 + i, T0 + i + 7) for i in range(0, 700, 7))
    assert events_between(0.37, T0, T0 + 700) == parts


def test_background_records_are_minute_slices() -> None:
    """Background traffic is synthesised per minute, clipped to the window."""
    traffic = BackgroundTraffic("workers", "bg", rps=1.0)
    records = background_records("workersInvocationsAdaptive", traffic, T0, T0 + 130, 60)
    expected = [(T0, 40.0), (T0 + 40, 60.0), (T0 + 100, 30.0)]
    assert expected == [(r.ts, r.count) for r in records]
