"""Evaluating rules: selection, verdict contents, undecided conditions and the cache."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import pytest

from alerting import lifecycle
from alerting.celengine import cel
from alerting.conditions import compile_condition, run_condition
from alerting.lifecycle import Alert, LifecycleSettings
from alerting.model import Observation, ProbeStatus, RuleVerdict
from alerting.rules import EvaluationCache, RuleError, RuleSet, evaluate, load_rules


def rule(**overrides: Any) -> dict[str, Any]:
    """A valid rule as parsed from YAML, with ``overrides`` applied (``None`` drops a key)."""
    raw: dict[str, Any] = {
        "name": "down",
        "condition": 'status == "crit"',
        "severity": "critical",
        "summary": "$probe is down",
    }
    raw.update(overrides)
    return {k: v for k, v in raw.items() if v is not None}


def obs(
    probe: str = "api",
    probe_type: str = "workers",
    status: ProbeStatus = "crit",
    at: float = 100.0,
    values: dict[str, float] | None = None,
    labels: dict[str, str] | None = None,
    reason: str | None = None,
    message: str = "",
) -> Observation:
    """An observation with defaults that the default rule finds active."""
    return Observation(
        probe=probe,
        probe_type=probe_type,
        status=status,
        at=at,
        values=values or {},
        labels=labels or {},
        message=message,
        reason=reason,
    )


def names(verdicts: Iterable[RuleVerdict]) -> list[tuple[str, str]]:
    """``(rule, probe)`` of each verdict, in order."""
    return [(v.rule, v.labels["probe"]) for v in verdicts]


@pytest.mark.parametrize(
    ("select", "observation", "selected"),
    [
        (None, obs(), True),
        ({"types": ["workers"]}, obs(), True),
        ({"types": ["kv", "r2"]}, obs(), False),
        ({"probes": ["api"]}, obs(), True),
        ({"probes": ["web"]}, obs(), False),
        ({"probes": ["api"], "types": ["kv"]}, obs(), False),
        ({"labels": ['env="prod"']}, obs(labels={"env": "prod"}), True),
        ({"labels": ['env="prod"']}, obs(labels={"env": "staging"}), False),
        ({"labels": ['env!="prod"']}, obs(labels={}), True),
        ({"labels": ['env=~"prod|staging"']}, obs(labels={"env": "staging"}), True),
        ({"labels": ['env=~"prod"']}, obs(labels={"env": "production"}), False),
        ({"labels": ['env!~"stag.*"']}, obs(labels={"env": "prod"}), True),
        ({"labels": ['probe=~"api-.*"']}, obs(probe="api-eu"), True),
        ({"labels": ['probe_type="kv"']}, obs(), False),
        ({"types": ["workers"], "labels": ['env="prod"']}, obs(labels={"env": "dev"}), False),
        (
            {"types": ["workers"], "labels": ['env="prod"', 'team="web"']},
            obs(labels={"env": "prod", "team": "web"}),
            True,
        ),
    ],
)
def test_selection(select: dict[str, Any] | None, observation: Observation, selected: bool) -> None:
    """A rule sees a probe only when every criterion of its selector holds."""
    rules = load_rules([rule(select=select)])
    assert selected == bool(evaluate(rules, [observation]))


def test_order_is_observation_then_rule() -> None:
    """Verdicts come per observation, and per rule in file order within it."""
    rules = load_rules(
        [
            rule(name="by_name", select={"probes": ["cache"]}),
            rule(name="by_type", select={"types": ["kv"]}),
            rule(name="everywhere"),
            rule(name="by_label", select={"labels": ['env="prod"']}),
        ]
    )
    observations = [
        obs(probe="api", labels={"env": "prod"}),
        obs(probe="cache", probe_type="kv"),
    ]
    expected = [
        ("everywhere", "api"),
        ("by_label", "api"),
        ("by_name", "cache"),
        ("by_type", "cache"),
        ("everywhere", "cache"),
    ]
    assert expected == names(evaluate(rules, observations))


def test_verdict_contents() -> None:
    """A verdict carries the rule, severity, labels, values, timers, annotations and time."""
    rules = load_rules(
        [
            rule(
                name="worker_errors",
                select={"types": ["workers"]},
                condition="values.error_ratio > 0.05",
                severity="warning",
                **{"for": "5m"},
                keep_firing_for="2m",
                labels={"team": "web", "env": "prod"},
                summary="Worker $probe: ${values.error_ratio:.1%}",
                description="${values.errors:.0f} errors ($reason) for ${labels.team}",
                runbook_url="https://example.com/runbook",
            )
        ]
    )
    observation = obs(
        status="warn",
        values={"error_ratio": 0.08, "errors": 8},
        labels={"env": "staging", "zone": "example.com", "probe": "spoofed"},
        reason="http_status",
        at=250.0,
    )
    expected = RuleVerdict(
        rule="worker_errors",
        severity="warning",
        labels={
            "env": "prod",
            "zone": "example.com",
            "team": "web",
            "probe": "api",
            "probe_type": "workers",
            "severity": "warning",
        },
        active=True,
        at=250.0,
        values={"error_ratio": 0.08, "errors": 8.0},
        annotations={
            "summary": "Worker api: 8.0%",
            "description": "8 errors (http_status) for web",
            "runbook_url": "https://example.com/runbook",
        },
        for_s=300.0,
        keep_firing_for_s=120.0,
    )
    assert [expected] == list(evaluate(rules, [observation]))


def test_values_are_doubles() -> None:
    """A probe publishing an int still gives the condition and the verdict a double."""
    rules = load_rules([rule(condition="values.n * 2.0 > 5.0")])
    (verdict,) = evaluate(rules, [obs(values={"n": 3})])
    assert (True, float) == (verdict.active, type(verdict.values["n"]))


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("values.x > 1.0", {"x": 2.0}, (True, (), None)),
        ("values.x > 1.0", {"x": 0.5}, (False, (), None)),
        ("values.x > 1.0 && values.y > 1.0", {}, (False, ("values.x", "values.y"), None)),
        ("values.x > 1.0", {"x": float("nan")}, (False, ("values.x",), None)),
        (
            "int(values.x) / int(values.y) > 1",
            {"x": 1.0, "y": 0.0},
            (False, (), "division by zero in CEL expression"),
        ),
    ],
)
def test_undecided_conditions_say_why(
    condition: str, values: dict[str, float], expected: tuple[bool, tuple[str, ...], str | None]
) -> None:
    """Missing values and CEL errors leave the verdict inactive and are reported in it."""
    rules = load_rules([rule(condition=condition)])
    (verdict,) = evaluate(rules, [obs(values=values)])
    assert expected == (verdict.active, verdict.missing, verdict.error)


def test_annotations_show_missing_values() -> None:
    """A template field the round lacks shows as <missing …> in the rendered annotation."""
    rules = load_rules([rule(summary="at ${values.error_ratio:.1%}")])
    (verdict,) = evaluate(rules, [obs()])
    assert {"summary": "at <missing values.error_ratio>"} == dict(verdict.annotations)


def test_shared_contexts_keep_probes_apart() -> None:
    """Rules reading only status, type and reason share contexts, never their answers."""
    rules = load_rules([rule(condition='status == "crit" && reason == "timeout"')])
    observations = [
        obs(probe="a", reason="timeout"),
        obs(probe="b", reason="auth"),
        obs(probe="c", status="ok"),
        obs(probe="d", reason="timeout"),
    ]
    verdicts = evaluate(rules, observations)
    assert [True, False, False, True] == [v.active for v in verdicts]


def round_of(at: float, error_ratio: float = 0.01) -> list[Observation]:
    """Two probes at time ``at``; ``web``'s error ratio is the parameter."""
    return [
        obs(probe="api", status="ok", at=at, values={"error_ratio": 0.01}),
        obs(probe="web", status="ok", at=at, values={"error_ratio": error_ratio}),
    ]


RULES: RuleSet = load_rules(
    [
        rule(),
        rule(name="errors", condition="values.error_ratio > 0.05", summary="${values.error_ratio}"),
    ]
)


def test_unchanged_observations_are_cached() -> None:
    """A probe unchanged but for its time reuses last round's results."""
    cache = EvaluationCache()
    evaluate(RULES, round_of(0.0), cache=cache)
    evaluate(RULES, round_of(15.0), cache=cache)
    assert (2, 2) == (cache.misses, cache.hits)


def test_changed_observations_are_re_evaluated() -> None:
    """A probe whose values changed is evaluated afresh, and its verdict follows."""
    cache = EvaluationCache()
    evaluate(RULES, round_of(0.0), cache=cache)
    verdicts = evaluate(RULES, round_of(15.0, error_ratio=0.2), cache=cache)
    expected = ((3, 1), [False, False, False, True])
    assert expected == ((cache.misses, cache.hits), [v.active for v in verdicts])


def test_cached_verdicts_equal_fresh_ones() -> None:
    """Over a sequence of rounds, verdicts are the same with a cache as without one."""
    cache = EvaluationCache()
    rounds = [
        (0.0, round_of(0.0)),
        (15.0, round_of(15.0)),
        (30.0, round_of(30.0, error_ratio=0.3)),
        (45.0, round_of(45.0, error_ratio=0.3)),
        (60.0, round_of(60.0)),
    ]
    cached = [list(evaluate(RULES, batch, cache)) for _, batch in rounds]
    fresh = [list(evaluate(RULES, batch)) for _, batch in rounds]
    assert fresh == cached


def test_cached_verdicts_take_the_new_time() -> None:
    """A verdict from cache still carries the new observation's time."""
    cache = EvaluationCache()
    evaluate(RULES, round_of(0.0), cache=cache)
    verdicts = evaluate(RULES, round_of(15.0), cache=cache)
    assert {15.0} == {v.at for v in verdicts}


def test_a_new_rule_set_empties_the_cache() -> None:
    """Results of old rules are never reused for new ones."""
    cache = EvaluationCache()
    evaluate(RULES, round_of(0.0), cache=cache)
    other = load_rules([rule(condition='status == "ok"')])
    verdicts = evaluate(other, round_of(15.0), cache=cache)
    assert ((4, 0), [True, True]) == ((cache.misses, cache.hits), [v.active for v in verdicts])


def test_probes_absent_from_a_round_are_forgotten() -> None:
    """The cache holds only the probes of the last round, so it cannot grow without bound."""
    cache = EvaluationCache()
    evaluate(RULES, round_of(0.0), cache=cache)
    evaluate(RULES, round_of(15.0)[:1], cache=cache)
    assert 1 == len(cache)


def test_a_message_change_is_a_change() -> None:
    """The probe's message shows in templates, so a new message re-renders."""
    rules = load_rules([rule(summary="$message")])
    cache = EvaluationCache()
    first = obs(message="503")
    evaluate(rules, [first], cache=cache)
    (verdict,) = evaluate(rules, [replace(first, message="502")], cache=cache)
    assert ("502", 2) == (verdict.annotations["summary"], cache.misses)


def test_a_label_change_re_selects() -> None:
    """A probe whose labels changed is selected afresh, so label matchers see the change."""
    rules = load_rules([rule(select={"labels": ['env="prod"']})])
    cache = EvaluationCache()
    evaluate(rules, [obs(labels={"env": "prod"})], cache=cache)
    verdicts = evaluate(rules, [obs(labels={"env": "dev"}, status="ok")], cache=cache)
    assert [] == list(verdicts)


def test_a_value_change_keeps_the_labels() -> None:
    """A re-evaluated probe with the same labels gets the same verdict labels as before."""
    rules = load_rules([rule(labels={"team": "web"})])
    cache = EvaluationCache()
    (first,) = evaluate(rules, [obs(values={"x": 1.0})], cache=cache)
    (second,) = evaluate(rules, [obs(values={"x": 2.0})], cache=cache)
    assert (first.labels, 2) == (second.labels, cache.misses)


def test_verdict_time_is_the_observation_time() -> None:
    """A probe that stopped reporting keeps its old time, so the lifecycle can see it is stale."""
    verdicts = evaluate(RULES, [obs(probe="api", at=10.0), obs(probe="web", at=99.0)])
    assert {"api": 10.0, "web": 99.0} == {v.labels["probe"]: v.at for v in verdicts}


def test_rules_may_not_set_the_rule_label() -> None:
    """``rule`` is reserved: silences and inhibit rules match on it."""
    with pytest.raises(RuleError, match="rule"):
        load_rules([rule(labels={"rule": "other"})])


def test_a_round_counts_every_verdict() -> None:
    """``len`` is the number of (rule, probe) pairs, whether or not any verdict was built."""
    verdicts = evaluate(RULES, round_of(0.0))
    assert (4, 4) == (len(verdicts), len(list(verdicts)))


def test_active_and_undecided_are_the_matching_verdicts() -> None:
    """``active()`` and ``undecided()`` hold exactly the verdicts iteration marks so."""
    rules = load_rules(
        [rule(), rule(name="errors", condition="values.error_ratio > 0.05", summary="x")]
    )
    observations = [
        obs(probe="a", values={"error_ratio": 0.2}),
        obs(probe="b", status="ok"),
        obs(probe="c", status="ok", values={"error_ratio": 0.01}),
    ]
    verdicts = evaluate(rules, observations)
    every = list(verdicts)
    expected = (
        [v for v in every if v.active],
        [v for v in every if v.missing or v.error is not None],
    )
    assert expected == (verdicts.active(), verdicts.undecided())


def test_relevant_verdicts_leave_out_what_names_no_alert() -> None:
    """Inactive verdicts about no watched (rule, probe) are not built for the lifecycle."""
    verdicts = evaluate(RULES, round_of(0.0, error_ratio=0.2))
    relevant = verdicts.relevant({("down", "api")})
    expected = [("down", "api"), ("errors", "web")]
    assert expected == names(relevant)


def _lifecycle_round(rng: random.Random, probes: list[str], at: float) -> list[Observation]:
    """A random round: flapping values, missing values, NaN, label changes, stale and
    duplicated probes."""
    round_: list[Observation] = []
    for probe in probes:
        if rng.random() < 0.1:
            continue  # the probe did not report
        values: dict[str, float] = {}
        if rng.random() < 0.9:
            values["error_ratio"] = rng.choice([0.0, 0.01, 0.2, float("nan")])
        observation = obs(
            probe=probe,
            status=rng.choice(["ok", "ok", "crit", "unknown"]),
            at=at - rng.choice([0.0, 0.0, 0.0, 1000.0]),
            values=values,
            labels={"env": rng.choice(["prod", "prod", "dev"])},
        )
        round_.append(observation)
        if rng.random() < 0.05:
            round_.append(replace(observation, at=observation.at - 5.0, status="crit"))
    return round_


def test_relevant_verdicts_advance_alerts_like_every_verdict() -> None:
    """Over many random rounds, the lifecycle given ``relevant()`` produces the same alerts
    and events as given every verdict, so leaving verdicts unbuilt changes nothing."""
    rules = load_rules(
        [
            rule(**{"for": "30s"}),
            rule(
                name="errors",
                condition="values.error_ratio > 0.05",
                summary="${values.error_ratio}",
                keep_firing_for="1m",
                select={"labels": ['env="prod"']},
            ),
            rule(name="unknown", condition='status == "unknown" || values.error_ratio > 0.1'),
        ]
    )
    settings = LifecycleSettings(flap_threshold=3, stale_after=60.0)
    rng = random.Random(11)
    probes = [f"p{i}" for i in range(12)]
    cache = EvaluationCache()
    alerts: dict[str, Alert] = {}
    for k in range(200):
        now = 15.0 * k
        verdicts = evaluate(rules, _lifecycle_round(rng, probes, now), cache)
        every = lifecycle.step(alerts, list(verdicts), now, settings)
        relevant = lifecycle.step(
            alerts, verdicts.relevant(lifecycle.watched(alerts)), now, settings
        )
        assert every == relevant
        alerts = every[0]


FLAT_CONDITIONS = [
    "values.x > 1.0",
    "values.x > 1.0 && values.y >= 0.5 * values.x",
    "values.y > 0.0 && values.x / values.y >= 0.8",
    "values.x > 1.0 || true",
    "values.x > 1.0 || values.y > 1.0",
    'has(values.x) && values.x > 1.0 || status == "crit"',
    'values["x"] > 1.0',
    "size(values) > 1",
    "int(values.x) / int(values.y) > 1",
    'labels.env == "prod" && values.x > 1.0',
    'status == "crit" && values.x > 1.0',
    'reason == "timeout"',
    "values.x > 1.0 ? values.y > 0.0 : values.x < 0.5",
]


def _reference(
    condition: str, observation: Observation
) -> tuple[bool, tuple[str, ...], str | None]:
    """What the condition's own program says on a plain map of the observation's values."""
    compiled = compile_condition(condition)
    values = {k: float(v) for k, v in observation.values.items()}
    context = cel.Context(
        {
            "values": {k: v for k, v in values.items() if v == v},
            "labels": dict(observation.labels),
            "status": observation.status,
            "reason": observation.reason,
            "probe": observation.probe,
            "type": observation.probe_type,
        }
    )
    outcome = run_condition(compiled, context, values, observation.labels)
    return (outcome.active, outcome.missing, outcome.error)


@pytest.mark.parametrize(
    "conditions",
    [
        [c for c in FLAT_CONDITIONS if compile_condition(c).flat is not None],
        FLAT_CONDITIONS,
    ],
    ids=["flat", "mixed"],
)
def test_flat_contexts_decide_like_the_map(conditions: list[str]) -> None:
    """Conditions run on values as variables (the fast path, taken when every rule a probe
    meets allows it) give the verdict the condition's own program gives on a map of values,
    present, missing, NaN or dividing by zero."""
    rules = load_rules(
        [rule(name=f"c{i}", condition=c, summary="x") for i, c in enumerate(conditions)]
    )
    rng = random.Random(5)
    observations = []
    for i in range(300):
        values: dict[str, float] = {}
        for name in ("x", "y"):
            if rng.random() < 0.8:
                values[name] = rng.choice([0.0, 0.5, 1.0, 2.0, 3.0, float("nan")])
        observations.append(
            obs(
                probe=f"p{i}",
                status=rng.choice(["ok", "crit"]),
                values=values,
                labels={"env": rng.choice(["prod", "dev"])},
                reason=rng.choice([None, "timeout"]),
            )
        )
    got = [(v.active, v.missing, v.error) for v in evaluate(rules, observations)]
    expected = [_reference(c, o) for o in observations for c in conditions]
    assert expected == got


@pytest.mark.parametrize(
    ("condition", "flat"),
    [
        (
            "values.a > 1.0 && values.b / values.a >= 0.8",
            "values__a > 1.0 && values__b / values__a >= 0.8",
        ),
        ('values . a > "values.b".size()', 'values__a > "values.b".size()'),
        ('status == "crit"', 'status == "crit"'),
        ("has(values.a) && values.a > 1.0", None),
        ('values["a"] > 1.0', None),
        ("size(values) > 1", None),
        ("values.exists(k, values[k] > 1.0)", None),
    ],
)
def test_flat_programs_read_values_as_variables(condition: str, flat: str | None) -> None:
    """``values.X`` becomes the variable ``values__X`` (outside strings), and a condition
    that reads the map any other way keeps only its own program."""
    compiled = compile_condition(condition).flat
    assert flat == (compiled.source if compiled is not None else None)


def test_verdicts_are_complete_dataclasses() -> None:
    """Verdicts are built without ``RuleVerdict.__init__`` (for speed); built fresh or copied
    from a cached round, each still has every field and equals a verdict built by keyword."""
    rules = load_rules([rule()])
    cache = EvaluationCache()
    fresh = evaluate(rules, [obs(at=1.0)], cache).active()[0]
    copied = evaluate(rules, [obs(at=2.0)], cache).active()[0]
    names = {f.name for f in dataclasses.fields(RuleVerdict)}
    built = [fresh, copied]
    by_keyword = [RuleVerdict(**{n: getattr(v, n) for n in names}) for v in built]
    assert ([names, names], by_keyword) == ([set(vars(v)) for v in built], built)
