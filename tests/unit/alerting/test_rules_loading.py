"""Loading rules: the config model, and every problem reported at once with its key path."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.matchers import Matcher, MatchOp
from alerting.rules import (
    Rule,
    RuleError,
    RuleProblem,
    Selector,
    compile_rules,
    load_rule_packs,
    load_rules,
)

KNOWN = {
    "workers": frozenset({"error_ratio", "requests", "errors", "duration_ms"}),
    "kv": frozenset({"latency_p99_ms", "duration_ms"}),
}


def rule(**overrides: Any) -> dict[str, Any]:
    """A valid rule as parsed from YAML, with ``overrides`` applied (``None`` drops a key)."""
    raw: dict[str, Any] = {
        "name": "worker_errors",
        "select": {"types": ["workers"]},
        "condition": "values.error_ratio > 0.05",
        "for": "5m",
        "severity": "critical",
        "summary": "Worker $probe: ${values.error_ratio:.1%}",
    }
    raw.update(overrides)
    return {k: v for k, v in raw.items() if v is not None}


def problems(raw: object, **kwargs: Any) -> list[tuple[str, str | None, str]]:
    """``(path, rule, message)`` of every problem loading ``raw`` reports."""
    with pytest.raises(RuleError) as caught:
        load_rules(raw, **kwargs)
    return [(p.path, p.rule, p.message) for p in caught.value.problems]


def test_a_rule_parses_into_typed_config() -> None:
    """Durations become seconds, matchers are compiled, defaults fill the rest."""
    parsed = Rule.model_validate(
        rule(select={"types": ["workers"], "labels": ['env="prod"', "zone=~a.*"]})
    )
    expected: tuple[object, ...] = (
        Selector(
            types=("workers",),
            labels=(Matcher("env", MatchOp.EQUAL, "prod"), Matcher("zone", MatchOp.REGEX, "a.*")),
        ),
        300.0,
        0.0,
        {},
        "",
        None,
    )
    actual = (
        parsed.select,
        parsed.for_,
        parsed.keep_firing_for,
        parsed.labels,
        parsed.description,
        parsed.runbook_url,
    )
    assert expected == actual


def test_a_bare_zero_is_a_duration() -> None:
    """``for: 0`` in YAML is an int, and zero needs no unit."""
    assert 0.0 == Rule.model_validate(rule(**{"for": 0})).for_


def test_a_valid_list_loads_in_order() -> None:
    """A list of valid rules loads into a rule set that keeps their order."""
    rules = load_rules([rule(name="a"), rule(name="b")], known_values=KNOWN)
    assert ["a", "b"] == [r.name for r in rules]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"name": "Worker Errors"},
            [
                (
                    "rules[0].name",
                    "'Worker Errors' is not a rule name: lower-case letters and digits in"
                    " snake_case or kebab-case, starting with a letter, at most 128 characters",
                )
            ],
        ),
        ({"condition": None}, [("rules[0].condition", "required")]),
        (
            {"condition": "values.error_ratio >"},
            [
                (
                    "rules[0].condition",
                    "does not parse: 1:21: Syntax error: mismatched input '<EOF>' expecting"
                    " {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT,"
                    " NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}\n| values.error_ratio >\n"
                    "| ....................^",
                )
            ],
        ),
        (
            {"for": -30},
            [("rules[0].for", "a duration cannot be negative")],
        ),
        (
            {"keep_firing_for": "5 mins"},
            [
                (
                    "rules[0].keep_firing_for",
                    "'5 mins' is not a duration: write a number with a unit (ms, s, m, h, d, w),"
                    " e.g. 30s, 1m30s or 250ms; did you mean '5m'?",
                )
            ],
        ),
        (
            {"severity": "critcal"},
            [
                (
                    "rules[0].severity",
                    "Input should be 'info', 'warning' or 'critical'; did you mean 'critical'?",
                )
            ],
        ),
        (
            {"keep_firing": "5m"},
            [
                (
                    "rules[0].keep_firing",
                    "unknown key; did you mean 'keep_firing_for'? (keys: name, select,"
                    " condition, for, keep_firing_for, severity, labels, summary, description,"
                    " runbook_url)",
                )
            ],
        ),
        (
            {"select": {"type": ["workers"]}},
            [
                (
                    "rules[0].select.type",
                    "unknown key; did you mean 'types'? (keys: probes, types, labels)",
                )
            ],
        ),
        (
            {"select": {"types": ["workers"], "labels": ['env=~"("']}},
            [
                (
                    "rules[0].select.labels[0]",
                    "invalid matcher 'env=~\"(\"': invalid regular expression '(' for label"
                    " 'env': missing ), unterminated subpattern at position 0",
                )
            ],
        ),
        (
            {"labels": {"severity": "high", "team-name": "web"}},
            [
                (
                    "rules[0].labels",
                    "'team-name' is not a label name (letters, digits, underscores);"
                    " 'severity' is set on every verdict from the probe and rule;"
                    " choose another name",
                )
            ],
        ),
        ({"summary": "  "}, [("rules[0].summary", "the summary cannot be empty")]),
        (
            {"description": "costs $5"},
            [
                (
                    "rules[0].description",
                    "stray '$' at column 7: write $$ for a dollar sign, $field or ${field}"
                    " for a field",
                )
            ],
        ),
        (
            {"runbook_url": "wiki/errors"},
            [("rules[0].runbook_url", "'wiki/errors' is not an http(s) URL")],
        ),
        (
            {"select": {"types": ["worker"]}},
            [
                (
                    "rules[0].select.types[0]",
                    "unknown probe type 'worker'; did you mean 'workers'? (types: kv, workers)",
                )
            ],
        ),
        (
            {"condition": "values.latency_p99_ms > 200.0"},
            [
                (
                    "rules[0].condition",
                    "values.latency_p99_ms is not published by probe type workers"
                    " (published: duration_ms, error_ratio, errors, requests)",
                )
            ],
        ),
        (
            {"description": "${values.eror_ratio:.1%}"},
            [
                (
                    "rules[0].description",
                    "${values.eror_ratio} is not published by probe type workers;"
                    " did you mean 'values.error_ratio'?",
                )
            ],
        ),
    ],
)
def test_each_fault_names_its_key_path(
    overrides: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    """A fault is reported at the key that holds it, with a message saying what to do."""
    name = overrides.get("name", "worker_errors")
    assert [(path, name, message) for path, message in expected] == problems(
        [rule(**overrides)], known_values=KNOWN
    )


def test_all_problems_are_reported_at_once() -> None:
    """Every fault of every rule comes back in one error, in file order."""
    raw = [
        rule(name="a", condition="stauts == 1", severity="high"),
        rule(name="b"),
        rule(name="c", select={"types": ["kv"]}, summary="${values.error_ratio}"),
        "not a rule",
    ]
    expected = [
        (
            "rules[0].condition",
            "a",
            "unknown variable 'stauts'; did you mean 'status'?"
            " (variables: status, values, labels, probe, type, reason)",
        ),
        ("rules[0].severity", "a", "Input should be 'info', 'warning' or 'critical'"),
        (
            "rules[2].condition",
            "c",
            "values.error_ratio is not published by probe type kv"
            " (published: duration_ms, latency_p99_ms)",
        ),
        ("rules[2].summary", "c", "${values.error_ratio} is not published by probe type kv"),
        ("rules[3]", None, "a rule is a mapping of keys (name, select, condition, …)"),
    ]
    assert expected == problems(raw, known_values=KNOWN)


def test_an_invalid_rule_is_still_checked_against_the_registry() -> None:
    """A rule failing validation on one key still gets its probe types and values checked."""
    raw = [rule(severity="high", select={"types": ["kv"]}, condition="values.requests > 1.0")]
    expected = [
        ("rules[0].severity", "worker_errors", "Input should be 'info', 'warning' or 'critical'"),
        (
            "rules[0].condition",
            "worker_errors",
            "values.requests is not published by probe type kv"
            " (published: duration_ms, latency_p99_ms)",
        ),
        (
            "rules[0].summary",
            "worker_errors",
            "${values.error_ratio} is not published by probe type kv",
        ),
    ]
    assert expected == problems(raw, known_values=KNOWN)


def test_duplicate_names_point_at_the_first() -> None:
    """A name used twice is an error on the second, naming where the first is."""
    expected = [("rules[2].name", "a", "duplicate rule name (first at rules[0])")]
    assert expected == problems([rule(name="a"), rule(name="b"), rule(name="a")])


def test_values_are_checked_against_every_type_without_a_type() -> None:
    """A rule selecting no type may read any type's values, and only those."""
    raw = [rule(select=None, condition="values.latency_p99_ms > 1.0 || values.nope > 1.0")]
    expected = [
        (
            "rules[0].condition",
            "worker_errors",
            "values.nope is not published by any probe type (published: duration_ms,"
            " error_ratio, errors, latency_p99_ms, requests)",
        )
    ]
    assert expected == problems(raw, known_values=KNOWN)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, [("rules", None, "expected a list of rules, got nothing")]),
        ({"name": "x"}, [("rules", None, "expected a list of rules, got dict")]),
    ],
)
def test_the_list_itself_is_checked(
    raw: object, expected: list[tuple[str, str | None, str]]
) -> None:
    """Something other than a list of rules is one clear problem."""
    assert expected == problems(raw)


def test_packs_report_problems_with_their_source() -> None:
    """Several pack files load together; names are unique across them, problems say where."""
    packs = [
        ("workers.yaml", {"rules": [rule(name="a")]}),
        ("kv.yaml", {"rules": [rule(name="a")], "extra": 1}),
        ("empty.yaml", None),
    ]
    with pytest.raises(RuleError) as caught:
        load_rule_packs(packs, known_values=KNOWN)
    expected = (
        RuleProblem(
            path="extra", message="unknown key: a pack holds only 'rules'", source="kv.yaml"
        ),
        RuleProblem(
            path="rules[0].name",
            message="duplicate rule name (first at workers.yaml: rules[0])",
            rule="a",
            source="kv.yaml",
        ),
        RuleProblem(
            path="rules",
            message="a rule pack is a mapping with a 'rules' list",
            source="empty.yaml",
        ),
    )
    assert expected == caught.value.problems


def test_compile_rules_checks_validated_models() -> None:
    """Rules validated inside a larger config model still get the whole-set checks."""
    models = [Rule.model_validate(rule(name="a")), Rule.model_validate(rule(name="a"))]
    with pytest.raises(RuleError) as caught:
        compile_rules(models, known_values=KNOWN, source="flarewatch.yaml", path="alerting.rules")
    expected = (
        "flarewatch.yaml: alerting.rules[1].name (rule a):"
        " duplicate rule name (first at alerting.rules[0])"
    )
    assert [expected] == [str(p) for p in caught.value.problems]


def test_error_message_lists_every_problem() -> None:
    """The exception's text is readable on its own: a count, then one line per problem."""
    with pytest.raises(RuleError) as caught:
        load_rules([rule(name="a", for_="x"), rule(name="b", severity="x")], source="r.yaml")
    expected = (
        "2 problems in the rules:\n"
        "  r.yaml: rules[0].for_ (rule a): unknown key; did you mean 'for'? (keys: name,"
        " select, condition, for, keep_firing_for, severity, labels, summary, description,"
        " runbook_url)\n"
        "  r.yaml: rules[1].severity (rule b): Input should be 'info', 'warning' or 'critical'"
    )
    assert expected == str(caught.value)
