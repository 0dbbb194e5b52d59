"""Summary and description templates: substitution, number formats, missing fields, errors."""

from __future__ import annotations

import pytest

from alerting.templates import (
    TemplateError,
    TemplateFields,
    compile_template,
    format_number,
)

FIELDS = TemplateFields(
    probe="api",
    type="workers",
    status="crit",
    reason="http_status",
    message="503 from /healthz",
    rule="worker_error_ratio_critical",
    severity="critical",
    values={"error_ratio": 0.0734, "requests": 12345.0, "bytes_used": 8_600_000_000.0},
    labels={"env": "prod", "probe": "api"},
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain text", "plain text"),
        ("$probe is $status", "api is crit"),
        ("${probe}-${type}", "api-workers"),
        ("$rule ($severity): $reason", "worker_error_ratio_critical (critical): http_status"),
        ("$message", "503 from /healthz"),
        ("${labels.env}", "prod"),
        ("${values.requests}", "12345"),
        ("${values.error_ratio}", "0.0734"),
        ("costs $$5 at $probe", "costs $5 at api"),
        ("${probe:>6}|", "   api|"),
    ],
)
def test_renders_fields(template: str, expected: str) -> None:
    """Every documented field renders from the verdict's data, and $$ is a dollar sign."""
    assert expected == compile_template(template).render(FIELDS)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${values.error_ratio:.1%}", "7.3%"),
        ("${values.requests:,.0f}", "12,345"),
        ("${values.error_ratio:.3f}", "0.073"),
        ("${values.requests:>8.0f}", "   12345"),
        ("${values.bytes_used:bytes}", "8.6 GB"),
    ],
)
def test_formats_numbers(template: str, expected: str) -> None:
    """A format spec after the field name formats the value as Python's format() would."""
    assert expected == compile_template(template).render(FIELDS)


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        (3.0, "", "3"),
        (0.1 + 0.2, "", "0.3"),
        (1234.56789123, "", "1234.567891"),
        (-2.0, "", "-2"),
        (1e20, "", "1e+20"),
        (float("nan"), "", "nan"),
        (999.0, "bytes", "999 B"),
        (1500.0, "bytes", "1.5 kB"),
        (10e9, "bytes", "10.0 GB"),
        (-2_000_000.0, "bytes", "-2.0 MB"),
        (0.5, ".0%", "50%"),
    ],
)
def test_format_number(value: float, spec: str, expected: str) -> None:
    """Without a spec, whole numbers drop their .0 and others keep at most six decimals."""
    assert expected == format_number(value, spec)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${values.latency_ms} ms", "<missing values.latency_ms> ms"),
        ("${values.latency_ms:.1f}", "<missing values.latency_ms>"),
        ("team ${labels.team}", "team <missing labels.team>"),
    ],
)
def test_missing_fields_render_visibly(template: str, expected: str) -> None:
    """A value or label the round lacks shows as <missing …>, never as an empty string."""
    assert expected == compile_template(template).render(FIELDS)


def test_null_reason_renders_as_none() -> None:
    """A probe that succeeded has no reason; the template says so in a word."""
    fields = TemplateFields(
        probe="api",
        type="workers",
        status="ok",
        reason=None,
        message="",
        rule="r",
        severity="info",
        values={},
        labels={},
    )
    assert "reason: none" == compile_template("reason: $reason").render(fields)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "${valus.x}",
            "${valus.x}: unknown field 'valus'; did you mean 'values'? (fields: probe, type,"
            " status, reason, message, rule, severity, values.NAME, labels.NAME)",
        ),
        ("${values}", "${values}: values needs a name, as in ${values.NAME}"),
        ("$values", "$values: values needs a name, as in ${values.NAME}"),
        ("${probe.name}", "${probe.name}: probe has no fields; write ${probe}"),
        ("${values.x.y}", "${values.x.y}: not a field name (write ${values.NAME} or ${probe})"),
        (
            "costs $5",
            "stray '$' at column 7: write $$ for a dollar sign, $field or ${field} for a field",
        ),
        (
            "${values.x:d}",
            "${values.x:d}: format spec 'd' does not apply to a number:"
            " Unknown format code 'd' for object of type 'float'",
        ),
        (
            "${probe:.1%}",
            "${probe:.1%}: format spec '.1%' does not apply to text:"
            " Unknown format code '%' for object of type 'str'",
        ),
        ("${values.x:>999}", "${values.x:>999}: format spec '>999': width 999 is over 64"),
        ("${values.x:.50f}", "${values.x:.50f}: format spec '.50f': precision 50 is over 20"),
        (
            "${values.x:!r}",
            "${values.x:!r}: format spec '!r' is not of the form"
            " [[fill]align][sign][width][,][.precision][type]",
        ),
        ("${labels.env:bytes}", "${labels.env:bytes}: the bytes format applies to values only"),
    ],
)
def test_compile_errors(template: str, expected: str) -> None:
    """A bad placeholder is a compile error that says what to write instead."""
    with pytest.raises(TemplateError) as caught:
        compile_template(template)
    assert (expected,) == caught.value.problems


def test_every_problem_is_reported() -> None:
    """All faults of one template come back together, in order, not only the first."""
    with pytest.raises(TemplateError) as caught:
        compile_template("${nope} and ${values} and $")
    assert 3 == len(caught.value.problems)


def test_dunder_names_are_plain_keys() -> None:
    """A name such as __class__ is looked up as a key of values, never as an attribute."""
    expected = "<missing values.__class__>"
    assert expected == compile_template("${values.__class__}").render(FIELDS)


def test_indexing_is_not_a_placeholder() -> None:
    """Python's format syntax for items is refused, so a template can only name fields."""
    with pytest.raises(TemplateError) as caught:
        compile_template("${labels[0]}")
    expected = ("${labels[0]}: not a field name (write ${values.NAME} or ${probe})",)
    assert expected == caught.value.problems


@pytest.mark.parametrize(
    ("template", "values", "labels"),
    [
        ("$probe", set(), set()),
        ("${values.a} ${values.b:.1f} $$values.c", {"a", "b"}, set()),
        ("${labels.env} ${values.a}", {"a"}, {"env"}),
    ],
)
def test_names_the_fields_it_shows(template: str, values: set[str], labels: set[str]) -> None:
    """A template lists the values and labels it shows, for the loader to check."""
    compiled = compile_template(template)
    assert (values, labels) == (set(compiled.value_names), set(compiled.label_names))
