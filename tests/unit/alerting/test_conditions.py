"""CEL conditions: what they read, what a load rejects, and how they evaluate."""

from __future__ import annotations

from typing import Any

import cel
import pytest

from alerting.conditions import (
    ACTIVE,
    INACTIVE,
    ConditionError,
    Outcome,
    check_condition,
    compile_condition,
    run_condition,
)

WORKERS = frozenset({"error_ratio", "requests", "errors", "duration_ms"})
TYPES = frozenset({"workers", "kv", "r2"})


def check(source: str, published: frozenset[str] | None = WORKERS) -> list[str]:
    """The load problems of ``source`` for a rule over the workers probe type."""
    return check_condition(
        compile_condition(source),
        known_values=published,
        values_of="probe type workers",
        known_types=TYPES,
    )


def run(source: str, **context: Any) -> Outcome:
    """Evaluate ``source`` against a context made of ``context``, as the engine would."""
    values = context.get("values", {})
    labels = context.get("labels", {})
    return run_condition(compile_condition(source), cel.Context(context), values, labels)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('status == "crit"', ({"status"}, set(), set(), False, False)),
        (
            "values.error_ratio > 0.05 && values.requests > 100.0",
            ({"values"}, {"error_ratio", "requests"}, set(), False, False),
        ),
        ('values["error_ratio"] > 0.05', ({"values"}, {"error_ratio"}, set(), False, False)),
        ("has(values.x) && values.y > 1.0", ({"values"}, {"x", "y"}, set(), False, False)),
        ('labels.env == "prod"', ({"labels"}, set(), {"env"}, False, False)),
        ('"env" in labels', ({"labels"}, set(), set(), False, True)),
        ("size(values) > 2", ({"values"}, set(), set(), True, False)),
        ("values.exists(k, values[k] > 100.0)", ({"values"}, set(), set(), True, False)),
        (
            'type(values.x) == double && type == "kv"',
            ({"type", "values"}, {"x"}, set(), False, False),
        ),
        (
            'probe.startsWith("api-") && reason == null',
            ({"probe", "reason"}, set(), set(), False, False),
        ),
    ],
)
def test_names_what_it_reads(
    source: str, expected: tuple[set[str], set[str], set[str], bool, bool]
) -> None:
    """The engine hands a condition only what it reads, so the reading must be exact."""
    condition = compile_condition(source)
    actual = (
        set(condition.variables),
        set(condition.value_names),
        set(condition.label_names),
        condition.reads_all_values,
        condition.reads_all_labels,
    )
    assert expected == actual


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('reason == "auth"', (("reason", "auth"),)),
        ('"auth" != reason', (("reason", "auth"),)),
        ('status in ["warn", "crit"]', (("status", "warn"), ("status", "crit"))),
        ("type == 'kv' || type == r\"r2\"", (("type", "kv"), ("type", "r2"))),
        ('probe == "api"', ()),
        ('reason.startsWith("a")', ()),
    ],
)
def test_finds_compared_literals(source: str, expected: tuple[tuple[str, str], ...]) -> None:
    """Literals compared with status, reason or type are found, to be checked at load."""
    assert expected == compile_condition(source).literals


def test_syntax_error_points_at_the_fault() -> None:
    """A syntax error keeps CEL's caret under the offending column."""
    with pytest.raises(ConditionError) as caught:
        compile_condition("values.x >")
    (problem,) = caught.value.problems
    assert "| values.x >\n| ..........^" == problem[problem.index("|") :]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("", ("the condition is empty",)),
        (
            'stauts == "ok"',
            (
                "unknown variable 'stauts'; did you mean 'status'?"
                " (variables: status, values, labels, probe, type, reason)",
            ),
        ),
        (
            "foo && bar",
            (
                "unknown variable 'bar' (variables: status, values, labels, probe, type, reason)",
                "unknown variable 'foo' (variables: status, values, labels, probe, type, reason)",
            ),
        ),
    ],
)
def test_unknown_variables_are_compile_errors(source: str, expected: tuple[str, ...]) -> None:
    """Only the six documented variables exist; every unknown one is named."""
    with pytest.raises(ConditionError) as caught:
        compile_condition(source)
    assert expected == caught.value.problems


def test_macro_variables_are_not_unknown() -> None:
    """The k of values.exists(k, …) is bound by the macro, not a context variable."""
    assert {"values"} == set(compile_condition("values.all(k, values[k] >= 0.0)").variables)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("values.error_ratio > 0.05 && values.requests > 100.0", []),
        ('status == "crit" && reason == "timeout"', []),
        (
            "!has(values.x) || values.x > 1.0",
            [
                "values.x is not published by probe type workers"
                " (published: duration_ms, error_ratio, errors,"
                " requests)"
            ],
        ),
        (
            "values.eror_ratio > 0.05",
            [
                "values.eror_ratio is not published by probe type workers; did you mean"
                " 'values.error_ratio'? (published: duration_ms, error_ratio, errors, requests)"
            ],
        ),
        (
            'status == "critical"',
            [
                "status is never 'critical'; did you mean 'crit'?"
                " (statuses: ok, warn, crit, unknown)"
            ],
        ),
        (
            'reason == "unreachabel"',
            [
                "reason is never 'unreachabel'; did you mean 'unreachable'? (reasons: api_error,"
                " assertion, auth, capacity, error, http_status, not_found, rate_limited,"
                " timeout, tls, unreachable)"
            ],
        ),
        (
            'type == "worker"',
            ["type is never 'worker'; did you mean 'workers'? (probe types: kv, r2, workers)"],
        ),
        (
            "values.errors * 2 > 10.0",
            [
                "fails: Unsupported operation: float * int. (values are doubles and CEL does"
                " not mix int and double in arithmetic: write 2.0 rather than 2, or convert"
                " with double(...))"
            ],
        ),
        (
            'reason.startsWith("rate")',
            [
                "fails when reason is null: Undefined variable or function: 'startsWith'."
                " (reason is null when the probe succeeded: test reason != null first)"
            ],
        ),
        ("values.requests", ["returns a double (1.0), not a bool"]),
        (
            'status == "ok" ? 1 : false',
            ["returns an int (1), not a bool when status is 'ok'"],
        ),
    ],
)
def test_load_checks(source: str, expected: list[str]) -> None:
    """A load rejects unpublished values, impossible literals, type errors and non-bools."""
    assert expected == check(source)


def test_values_unchecked_without_a_registry() -> None:
    """Without known value names, any name passes (the rule may be loaded before probes)."""
    assert [] == check("values.anything > 1.0", published=None)


def test_every_status_is_tried_for_the_type_check() -> None:
    """A non-bool hiding behind one status is still found."""
    assert ["returns a string ('x'), not a bool when status is 'crit'"] == check(
        'status == "crit" ? "x" : false'
    )


@pytest.mark.parametrize(
    ("source", "context", "expected"),
    [
        ('status == "crit"', {"status": "crit"}, ACTIVE),
        ('status == "crit"', {"status": "ok"}, INACTIVE),
        ("values.x > 100", {"values": {"x": 150.5}}, ACTIVE),
        ("values.x > 100.0", {"values": {"x": 99.5}}, INACTIVE),
        ("values.n == 3", {"values": {"n": 3.0}}, ACTIVE),
        ("values.n * 2.0 > 5.0", {"values": {"n": 3.0}}, ACTIVE),
        ('"env" in labels && labels.env == "prod"', {"labels": {"env": "prod"}}, ACTIVE),
        ('"prod" in labels && labels.env == "prod"', {"labels": {"env": "prod"}}, INACTIVE),
        ("reason == null", {"reason": None}, ACTIVE),
        ('reason == "auth"', {"reason": "auth"}, ACTIVE),
        ("!has(values.x) || values.x > 1.0", {"values": {}}, ACTIVE),
        ("values.x > 1.0 || true", {"values": {}}, ACTIVE),
        (
            "values.x > 1.0 && values.y > 1.0",
            {"values": {"y": 2.0}},
            Outcome(active=False, missing=("values.x",)),
        ),
        (
            'labels.zone == "a"',
            {"labels": {}},
            Outcome(active=False, missing=("labels.zone",)),
        ),
        (
            "values.a / values.b >= 0.8",
            {"values": {"a": 0.0, "b": 0.0}},
            Outcome(
                active=False,
                error="No such overload: the operation is not defined for the given operand types.",
            ),
        ),
        ("values.a / values.b >= 0.8", {"values": {"a": 1.0, "b": 0.0}}, ACTIVE),
        (
            "values.n * 2 > 1.0",
            {"values": {"n": 3.0}},
            Outcome(active=False, error="Unsupported operation: float * int."),
        ),
        (
            "int(values.n) / int(values.z) > 1",
            {"values": {"n": 3.0, "z": 0.0}},
            Outcome(active=False, error="division by zero in CEL expression"),
        ),
        (
            'status == "ok" ? 1 : false',
            {"status": "ok"},
            Outcome(active=False, error="the condition returned an int (1), not a bool"),
        ),
    ],
)
def test_run_outcomes(source: str, context: dict[str, Any], expected: Outcome) -> None:
    """Evaluation never raises: missing data and CEL errors make the condition false, said why."""
    assert expected == run(source, **context)


def test_nan_counts_as_missing() -> None:
    """A NaN value cannot be compared in CEL, so it is reported as not published."""
    condition = compile_condition("values.x > 1.0")
    outcome = run_condition(condition, cel.Context({"values": {}}), {"x": float("nan")}, {})
    assert Outcome(active=False, missing=("values.x",)) == outcome


def test_dynamic_read_names_the_missing_key() -> None:
    """When the name is computed, the missing key still comes back, as values.<key>."""
    outcome = run('values[probe + "_ms"] > 1.0', values={}, probe="latency")
    assert Outcome(active=False, missing=("values.latency_ms",)) == outcome
