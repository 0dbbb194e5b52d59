"""One duration syntax across flarewatch: the rule parser and the probe parser agree.

``alerting`` may not import ``probes`` (dependency direction), so rules, routes, notifiers
and silences parse durations with :func:`alerting.rules.parse_duration` while probe
settings and the daemon's config use :func:`probes.units.parse_duration`. This table runs
through both: a user who learned the syntax in one part of the config can use it in all.
"""

from __future__ import annotations

import pytest

from alerting.rules import parse_duration as rule_duration
from probes.units import parse_duration as probe_duration

TABLE: list[object] = [
    "0",
    0,
    0.0,
    "0s",
    "30s",
    "5m",
    "1h",
    "1d",
    "1h30m",
    "1.5h",
    "250ms",
    "1m30s500ms",
    "30s1m",
    "1m1m",
    " 10S ",
    "5M",
    30,
    2.5,
    "",
    " ",
    "30",
    "1.5",
    "5 m",
    "1m 30s",
    "5min",
    "30 seconds",
    "2hours",
    "10x",
    "s",
    "1w",
    "2w3d",
    "2 weeks",
    "-5m",
    "-5",
    "abc",
    "1h30",
    -1,
    -0.5,
    float("nan"),
    float("inf"),
    True,
    False,
    None,
    [1],
    {"s": 1},
]


@pytest.mark.parametrize("value", TABLE, ids=repr)
def test_both_parsers_agree(value: object) -> None:
    """Both accept the same durations with the same seconds, and refuse the same ones;
    the rule parser's message starts with the probe parser's, so the hint is the same."""
    try:
        expected: float | str = probe_duration(value)
    except ValueError as err:
        expected = str(err)
    try:
        got: float | str = rule_duration(value)
    except ValueError as err:
        got = str(err)
    if isinstance(expected, str) and isinstance(got, str):
        assert got.startswith(expected)
    else:
        assert expected == got
