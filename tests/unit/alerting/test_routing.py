"""The route tree: loading, inheritance, defaults, Alertmanager's matching, config errors."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.routing import (
    RouteError,
    RouteTree,
    group_key,
    load_routes,
    match,
)

NOTIFIERS = frozenset({"slack", "pagerduty", "webhook"})

TREE: dict[str, Any] = {
    "receivers": ["slack"],
    "group_by": ["rule"],
    "group_wait": "10s",
    "routes": [
        {
            "matchers": ['severity="critical"'],
            "receivers": ["pagerduty", "slack"],
            "repeat_interval": "1h",
            "continue": True,
        },
        {
            "matchers": ['probe_type="dns"'],
            "group_by": ["zone"],
            "routes": [{"matchers": ['zone="internal.example"'], "receivers": ["webhook"]}],
        },
        {"matchers": ['probe_type=~"dns|http"'], "receivers": ["webhook"]},
        {"matchers": ['env="staging"'], "group_by": ["..."]},
    ],
}


def _tree(raw: dict[str, Any] = TREE) -> RouteTree:
    return load_routes(raw, known_notifiers=NOTIFIERS)


def _problems(raw: object) -> list[tuple[str, str]]:
    """``(path, message)`` of every problem loading ``raw`` reports."""
    with pytest.raises(RouteError) as caught:
        load_routes(raw, known_notifiers=NOTIFIERS, source="flarewatch.yaml")
    return [(p.path, p.message) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        pytest.param(
            {"probe_type": "workers", "severity": "warning"}, ["{}"], id="no-child-matches-root"
        ),
        pytest.param(
            {"probe_type": "dns", "severity": "warning", "zone": "example.com"},
            ['{}/{probe_type="dns"}'],
            id="first-match-stops-the-search",
        ),
        pytest.param(
            {"probe_type": "http", "severity": "warning"},
            ['{}/{probe_type=~"dns|http"}'],
            id="a-later-sibling-matches-when-earlier-ones-miss",
        ),
        pytest.param(
            {"probe_type": "dns", "severity": "critical", "zone": "example.com"},
            ['{}/{severity="critical"}', '{}/{probe_type="dns"}'],
            id="continue-goes-on-to-the-next-sibling",
        ),
        pytest.param(
            {"probe_type": "workers", "severity": "critical"},
            ['{}/{severity="critical"}'],
            id="continue-without-a-later-match-keeps-only-its-own",
        ),
        pytest.param(
            {"probe_type": "dns", "severity": "warning", "zone": "internal.example"},
            ['{}/{probe_type="dns"}/{zone="internal.example"}'],
            id="nested-the-deepest-matching-route-wins",
        ),
    ],
)
def test_match_follows_alertmanagers_first_match_unless_continue(
    labels: dict[str, str], expected: list[str]
) -> None:
    """Which routes an alert reaches decides who gets paged; the rule must be Alertmanager's,
    so trees copy over unchanged."""
    assert expected == [m.route.id for m in match(_tree(), labels)]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        pytest.param(
            {"probe_type": "dns", "severity": "warning", "zone": "internal.example"},
            (("webhook",), ("zone",), 10.0, 300.0, 14400.0),
            id="grandchild-inherits-group-by-from-its-parent-and-timers-from-the-root",
        ),
        pytest.param(
            {"probe_type": "workers", "severity": "critical"},
            (("pagerduty", "slack"), ("rule",), 10.0, 300.0, 3600.0),
            id="child-overrides-receivers-and-repeat-interval-and-keeps-the-rest",
        ),
        pytest.param(
            {"probe_type": "kv", "env": "staging"},
            (("slack",), ("...",), 10.0, 300.0, 14400.0),
            id="child-inherits-receivers",
        ),
    ],
)
def test_routes_inherit_what_they_leave_out(
    labels: dict[str, str], expected: tuple[object, ...]
) -> None:
    """A child that sets only what differs keeps configs short; everything else must come from
    its nearest ancestor that sets it."""
    route = match(_tree(), labels)[-1].route
    actual = (
        route.receivers,
        route.group_by,
        route.group_wait,
        route.group_interval,
        route.repeat_interval,
    )
    assert expected == actual


def test_the_root_takes_alertmanagers_default_timers() -> None:
    """Without timers a tree behaves as Alertmanager's would: 30 s, 5 m, 4 h, one group per
    route."""
    root = load_routes({"receivers": ["slack"]}, known_notifiers=NOTIFIERS).root
    expected = ((), 30.0, 300.0, 14400.0)
    actual = (root.group_by, root.group_wait, root.group_interval, root.repeat_interval)
    assert expected == actual


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        pytest.param(
            {"probe_type": "dns", "zone": "example.com", "severity": "warning"},
            '{}/{probe_type="dns"}:{zone="example.com"}',
            id="group-by-names-the-group",
        ),
        pytest.param(
            {"probe_type": "dns", "severity": "warning"},
            '{}/{probe_type="dns"}:{}',
            id="a-missing-group-label-is-left-out",
        ),
        pytest.param(
            {"env": "staging", "b": "2", "a": "1"},
            '{}/{env="staging"}:{a="1", b="2", env="staging"}',
            id="dots-group-by-every-label-sorted",
        ),
        pytest.param(
            {"rule": "probe_down", "severity": "warning"},
            '{}:{rule="probe_down"}',
            id="rule-can-be-grouped-on",
        ),
    ],
)
def test_the_group_key_is_the_route_and_its_group_labels(
    labels: dict[str, str], expected: str
) -> None:
    """The group key decides which alerts share a message, and must not depend on label order
    so it survives restarts."""
    assert expected == match(_tree(), labels)[-1].group_key


def test_group_key_escapes_quotes_in_values() -> None:
    """A quote in a label value must not let two different groups share a key."""
    assert '{}:{zone="a\\"b"}' == group_key("{}", {"zone": 'a"b'})


def test_siblings_with_the_same_matchers_get_distinct_ids() -> None:
    """Two routes with one id would merge their groups; the later twin is told apart by index."""
    raw = {
        "receivers": ["slack"],
        "routes": [
            {"matchers": ['env="prod"'], "continue": True},
            {"matchers": ['env="prod"'], "receivers": ["webhook"]},
        ],
    }
    expected = ['{}/{env="prod"}', '{}/{env="prod"}#1']
    assert expected == [m.route.id for m in match(_tree(raw), {"env": "prod"})]


def test_route_ids_survive_reordering_siblings() -> None:
    """Groups are keyed by route id; reordering routes in a reload must not orphan them."""
    first = {"matchers": ['env="prod"']}
    second = {"matchers": ['env="dev"']}
    before = _tree({"receivers": ["slack"], "routes": [first, second]})
    after = _tree({"receivers": ["slack"], "routes": [second, first]})
    assert sorted(r.id for r in before) == sorted(r.id for r in after)


def test_tree_finds_routes_by_id() -> None:
    """The grouping looks routes up by the id its groups store."""
    tree = _tree()
    expected = ("webhook",)
    found = tree.route('{}/{probe_type="dns"}/{zone="internal.example"}')
    assert found is not None
    assert expected == found.receivers
    assert tree.route("{}/{nope}") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            [],
            [("route", "a route is a mapping of keys (receivers, matchers, group_by, routes, …)")],
            id="not-a-mapping",
        ),
        pytest.param({}, [("route.receivers", "required")], id="root-needs-receivers"),
        pytest.param(
            {"receivers": ["slack"], "matchers": ['env="prod"']},
            [
                (
                    "route.matchers",
                    "the root route matches every alert: move these matchers to a child route",
                )
            ],
            id="root-has-no-matchers",
        ),
        pytest.param(
            {"receivers": ["slack"], "continue": True},
            [("route.continue", "the root route has no siblings to continue to")],
            id="root-does-not-continue",
        ),
        pytest.param(
            {"receivers": ["slak"]},
            [
                (
                    "route.receivers[0]",
                    "unknown notifier 'slak'; did you mean 'slack'? "
                    "(notifiers: pagerduty, slack, webhook)",
                )
            ],
            id="unknown-notifier-with-did-you-mean",
        ),
        pytest.param(
            {"receivers": ["slack"], "routes": [{"receivers": []}]},
            [
                (
                    "route.routes[0].receivers",
                    "a route needs at least one receiver: leave 'receivers' out to inherit them",
                )
            ],
            id="empty-receivers",
        ),
        pytest.param(
            {"receivers": ["slack", "slack"]},
            [("route.receivers", "receiver(s) listed twice: slack")],
            id="duplicate-receivers",
        ),
        pytest.param(
            {"receivers": ["slack"], "group_by": ["...", "zone"]},
            [("route.group_by", "'...' already means every label: write it alone")],
            id="dots-mixed-with-labels",
        ),
        pytest.param(
            {"receivers": ["slack"], "group_by": ["zone", "zone"]},
            [("route.group_by", "label(s) listed twice: zone")],
            id="duplicate-group-by",
        ),
        pytest.param(
            {"receivers": ["slack"], "group_by": ["1zone"]},
            [
                (
                    "route.group_by[0]",
                    "'1zone' is not a label name (letters, digits and '_', not starting with a"
                    " digit), nor '...' for every label",
                )
            ],
            id="bad-label-name",
        ),
        pytest.param(
            {"receivers": ["slack"], "group_interval": "0"},
            [("route.group_interval", "must be longer than zero")],
            id="zero-group-interval",
        ),
        pytest.param(
            {"receivers": ["slack"], "repeat_interval": 0},
            [("route.repeat_interval", "must be longer than zero")],
            id="zero-repeat-interval",
        ),
        pytest.param(
            {"receivers": ["slack"], "group_wait": "30 s"},
            [
                (
                    "route.group_wait",
                    "'30 s' is not a duration: write a number with a unit (ms, s, m, h, d, w),"
                    " e.g. 30s, 1m30s or 250ms; did you mean '30s'?",
                )
            ],
            id="durations-use-the-rule-parser",
        ),
        pytest.param(
            {"receivers": ["slack"], "routes": [{"matchers": ['env="prod']}]},
            [
                (
                    "route.routes[0].matchers[0]",
                    "invalid matcher 'env=\"prod': unterminated quoted value at column 5",
                )
            ],
            id="bad-matcher",
        ),
        pytest.param(
            {"receivers": ["slack"], "routes": [{"group_wiat": "1m"}]},
            [
                (
                    "route.routes[0].group_wiat",
                    "unknown key; did you mean 'group_wait'? (keys: matchers, receivers, "
                    "group_by, group_wait, group_interval, repeat_interval, continue, routes)",
                )
            ],
            id="unknown-key-with-did-you-mean",
        ),
    ],
)
def test_config_errors_name_the_key_path(raw: object, expected: list[tuple[str, str]]) -> None:
    """A bad route tree must say where and what, so the daemon can point at file:line."""
    assert expected == _problems(raw)


def test_every_config_error_is_reported_at_once() -> None:
    """Fixing one error per restart is slow; every problem in the tree comes in one report."""
    raw = {
        "routes": [
            {"receivers": ["pagerduty"], "routes": [{"receivers": ["sms"]}]},
            {"group_interval": "5x", "continue": "maybe"},
        ]
    }
    expected = [
        "route.receivers",
        "route.routes[0].routes[0].receivers[0]",
        "route.routes[1].group_interval",
        "route.routes[1].continue",
    ]
    assert expected == [path for path, _ in _problems(raw)]


def test_route_error_message_names_the_source_file() -> None:
    """The exception text is what an operator reads; it must name the file and path."""
    with pytest.raises(RouteError) as caught:
        load_routes({}, known_notifiers=NOTIFIERS, source="flarewatch.yaml")
    assert "1 problem in the routes:\n  flarewatch.yaml: route.receivers: required" == str(
        caught.value
    )
