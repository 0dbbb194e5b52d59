"""The Prometheus export's translator: each CEL construct, select, templates, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.promql import (
    Exports,
    Untranslatable,
    ValueMetric,
    alert_name,
    number,
    prom_duration,
    translate_rule,
)
from alerting.rules import Rule

EXPORTS = Exports(
    published={
        "kv": frozenset({"latency_p99_ms", "operations", "duration_ms", "attempts"}),
        "r2": frozenset({"bytes_used", "quota_bytes", "duration_ms"}),
        "pages": frozenset({"deployment_age_s", "latency_ms", "duration_ms"}),
        "http": frozenset({"latency_ms", "duration_ms"}),
    },
    metrics={
        "kv": {
            "latency_p99_ms": ValueMetric(
                "flarewatch_kv_latency_seconds", (("quantile", "0.99"),), 0.001
            ),
            "operations": ValueMetric("flarewatch_kv_window_operations"),
        },
        "r2": {
            "bytes_used": ValueMetric("flarewatch_r2_stored_bytes"),
            "quota_bytes": ValueMetric("flarewatch_r2_quota_bytes"),
        },
        "pages": {
            "deployment_age_s": ValueMetric("flarewatch_pages_deployment_age_seconds"),
            "latency_ms": ValueMetric("flarewatch_http_latency_seconds", (), 0.001),
        },
        "http": {"latency_ms": ValueMetric("flarewatch_http_latency_seconds", (), 0.001)},
    },
)


def rule(condition: str, **extra: Any) -> Rule:
    """A rule with ``condition`` and defaults for what a test does not care about."""
    return Rule.model_validate(
        {"name": "r", "condition": condition, "severity": "warning", "summary": "s", **extra}
    )


def cond(condition: str, **extra: Any) -> str:
    """The PromQL inside ``max by (probe) (...)`` of the translated rule."""
    expr = translate_rule(rule(condition, **extra), EXPORTS).expr
    return expr.split("max by (probe) (\n  ", 1)[1].rsplit("\n)", 1)[0]


def test_a_status_comparison_reads_the_one_hot_status_gauge() -> None:
    """status == "crit" holds where flarewatch_probe_status{status="crit"} is 1."""
    assert 'flarewatch_probe_status{status="crit"} == 1' == cond('status == "crit"')


def test_status_in_a_list_is_a_regex_matcher() -> None:
    """`in [...]` on a string variable becomes one anchored alternation."""
    assert 'flarewatch_probe_status{status=~"warn|crit"} == 1' == cond('status in ["warn", "crit"]')


def test_a_reason_comparison_reads_the_current_reason_gauge() -> None:
    """reason == "auth" needs the last run's reason, which only the reason gauge holds."""
    assert 'flarewatch_probe_failure_reason{reason="auth"} == 1' == cond('reason == "auth"')


def test_reason_unequal_also_holds_for_a_probe_without_a_reason() -> None:
    """CEL's null != "auth" is true: a succeeding probe must be in the result."""
    text = cond('reason != "auth"')
    assert 'flarewatch_probe_failure_reason{reason!="auth"} == 1' in text
    assert "flarewatch_probe_success unless on(probe) flarewatch_probe_failure_reason" in text


def test_a_threshold_is_compared_in_the_metrics_unit() -> None:
    """A value in ms exported in seconds is compared with the constant scaled by 0.001."""
    assert 'flarewatch_kv_latency_seconds{quantile="0.99"} > 0.2' == cond(
        "values.latency_p99_ms > 200.0", select={"types": ["kv"]}
    )


def test_a_constant_on_the_left_flips_the_operator() -> None:
    """100.0 <= values.operations is values.operations >= 100."""
    assert "flarewatch_kv_window_operations >= 100" == cond(
        "100.0 <= values.operations", select={"types": ["kv"]}
    )


def test_a_ratio_of_two_values_matches_on_probe() -> None:
    """Vector arithmetic pairs the two metrics by probe, whatever their other labels."""
    text = cond("values.bytes_used / values.quota_bytes >= 0.8", select={"types": ["r2"]})
    assert "(flarewatch_r2_stored_bytes / on(probe) flarewatch_r2_quota_bytes) >= 0.8" == text


def test_values_of_different_scales_are_brought_to_one() -> None:
    """Seconds and milliseconds may not be compared raw: one side is rescaled."""
    text = cond("values.latency_ms > values.deployment_age_s", select={"types": ["pages"]})
    assert (
        "flarewatch_http_latency_seconds > on(probe) "
        "(flarewatch_pages_deployment_age_seconds * 0.001)"
    ) == text


def test_and_and_or_become_set_operations() -> None:
    """&& is `and on(probe)`, || is `or`, as CEL's truth tables over present values."""
    text = cond('values.operations > 1.0 && status == "ok"', select={"types": ["kv"]})
    assert text.startswith("(flarewatch_kv_window_operations > 1) and on(probe) ")
    text = cond('status == "crit" || reason == "auth"')
    assert " or (flarewatch_probe_failure_reason" in text


def test_a_negated_comparison_inverts_the_operator() -> None:
    """!(x > 1) is x <= 1: `unless` would fire for a probe without the value."""
    assert "flarewatch_kv_window_operations <= 1" == cond(
        "!(values.operations > 1.0)", select={"types": ["kv"]}
    )


def test_unequal_on_a_value_excludes_nan() -> None:
    """x != 1 as `< or >`: NaN != 1 holds in PromQL but is undecided in flarewatch."""
    assert "flarewatch_kv_window_operations < 1 or flarewatch_kv_window_operations > 1" == cond(
        "values.operations != 1.0", select={"types": ["kv"]}
    )


def test_type_and_probe_tests_use_their_labels() -> None:
    """type == and probe.startsWith select on the success gauge's labels."""
    assert 'flarewatch_probe_success{type="kv"}' == cond('type == "kv"')
    assert 'flarewatch_probe_success{probe=~"api-.*"}' == cond('probe.startsWith("api-")')


def test_a_label_test_joins_probe_info() -> None:
    """labels.env is on flarewatch_probe_info; != also requires the label (missing: undecided)."""
    assert 'flarewatch_probe_success and on(probe) flarewatch_probe_info{env="prod"}' == cond(
        'labels.env == "prod"'
    )
    assert 'flarewatch_probe_info{env!="prod", env!=""}' in cond('labels.env != "prod"')


def test_select_becomes_matchers_on_probe_info() -> None:
    """types, probes and label matchers all filter the info join that labels the alert."""
    expr = translate_rule(
        rule(
            'status == "crit"',
            select={"types": ["kv", "r2"], "probes": ["a.b"], "labels": ['env=~"prod|stag"']},
        ),
        EXPORTS,
    ).expr
    assert expr.startswith(
        'flarewatch_probe_info{probe_type=~"kv|r2", probe="a.b", env=~"prod|stag"}\n'
    )


def test_a_value_shared_by_types_reads_each_types_metric() -> None:
    """A rule without select reads duration_ms from the run-duration gauge for every type."""
    text = cond("values.duration_ms > 1000.0")
    assert "flarewatch_probe_last_run_duration_seconds > 1" == text


def test_a_value_without_a_gauge_is_refused() -> None:
    """attempts is a counter: its total is not the run's value, so no rule is emitted."""
    with pytest.raises(Untranslatable, match=r"values\.attempts of probe type 'kv'"):
        translate_rule(rule("values.attempts > 2.0", select={"types": ["kv"]}), EXPORTS)


@pytest.mark.parametrize(
    "condition",
    [
        'status == "crit" ? true : false',
        "int(values.operations) > 1",
        "values.operations % 2.0 == 0.0",
        "size(labels) > 0",
        'probe.matches("(?=x)")',
    ],
)
def test_constructs_outside_the_subset_are_refused(condition: str) -> None:
    """Never emit a wrong rule: anything without an exact translation raises."""
    with pytest.raises(Untranslatable):
        translate_rule(rule(condition, select={"types": ["kv"]}), EXPORTS)


def test_templates_become_go_templates_over_the_alerts_labels() -> None:
    """$probe and $type read the alert's labels; literal braces are escaped."""
    prom = translate_rule(rule('status == "crit"', summary="$probe ($type) {{x}} $$5"), EXPORTS)
    assert (
        '{{ $labels.probe }} ({{ $labels.probe_type }}) {{ "{{" }}x}} $5'
        == prom.annotations["summary"]
    )


def test_a_percent_value_queries_its_metric_times_100() -> None:
    """${values.x:.1%} multiplies in the query and formats with printf, as Python would."""
    prom = translate_rule(
        rule('status == "crit"', select={"types": ["kv"]}, summary="${values.latency_p99_ms:.1%}"),
        EXPORTS,
    )
    assert (
        '{{ with query (printf `flarewatch_kv_latency_seconds{probe=%q,quantile="0.99"} '
        '* 100000` $labels.probe) }}{{ . | first | value | printf "%.1f%%" }}'
        "{{ else }}<missing values.latency_p99_ms>{{ end }}"
    ) == prom.annotations["summary"]


def test_bytes_use_decimal_units() -> None:
    """:bytes is decimal (8.6 GB) as Cloudflare shows sizes: humanize, not humanize1024."""
    prom = translate_rule(
        rule(
            "values.bytes_used > 0.0",
            select={"types": ["r2"]},
            summary="${values.bytes_used:bytes}",
        ),
        EXPORTS,
    )
    assert "| humanize }}B{{ else }}" in prom.annotations["summary"]


def test_a_template_value_without_a_gauge_shows_missing_and_is_noted() -> None:
    """The rule still exports; the number shows as flarewatch shows an absent value."""
    prom = translate_rule(
        rule(
            'reason == "auth"', select={"types": ["kv"]}, summary="${values.attempts:.0f} $message"
        ),
        EXPORTS,
    )
    assert "<missing values.attempts>" == prom.annotations["summary"]
    assert any("values.attempts" in n for n in prom.notes)
    assert any("$message" in n for n in prom.notes)


def test_severity_and_rule_labels_are_static() -> None:
    """Rule labels and severity are the Prometheus rule's labels; $severity is literal text."""
    prom = translate_rule(
        rule('status == "crit"', labels={"alert": "x"}, summary="$severity ${labels.alert}"),
        EXPORTS,
    )
    assert {"alert": "x", "severity": "warning"} == prom.labels
    assert "warning x" == prom.annotations["summary"]


def test_durations_use_prometheus_units() -> None:
    """for and keep_firing_for are written as Prometheus durations; zero is left out."""
    assert ("1m30s", None, "500ms") == (prom_duration(90), prom_duration(0), prom_duration(0.5))
    prom = translate_rule(
        rule('status == "crit"', **{"for": "1h", "keep_firing_for": "2m"}), EXPORTS
    )
    assert ("1h", "2m") == (prom.for_, prom.keep_firing_for)


def test_alert_names_replace_dashes() -> None:
    """Prometheus alert names are [a-zA-Z_][a-zA-Z0-9_]*: kebab-case rule names convert."""
    assert "probe_down_now" == alert_name("probe-down-now")


def test_numbers_are_written_without_float_noise() -> None:
    """0.8 * 0.001 is written 0.0008, infinities as PromQL spells them."""
    assert ("0.0008", "+Inf", "-Inf") == (
        number(0.8 * 0.001),
        number(float("inf")),
        number(-float("inf")),
    )


@pytest.mark.parametrize(
    ("spec", "printf"),
    [
        (".2f", '"%.2f"'),
        (">8.1f", '"%8.1f"'),
        ("<8.1f", '"%-8.1f"'),
        (".3e", '"%.3e"'),
        ("g", '"%.6g"'),
        (",.0f", '"%.0f"'),
    ],
)
def test_format_specs_map_to_printf(spec: str, printf: str) -> None:
    """Python format specs become the printf verb that shows the same digits."""
    prom = translate_rule(
        rule(
            'status == "crit"',
            select={"types": ["kv"]},
            summary="${values.operations:" + spec + "}",
        ),
        EXPORTS,
    )
    assert f"| printf {printf} }}}}" in prom.annotations["summary"]


def test_a_spec_without_a_printf_equivalent_is_refused() -> None:
    """Centring has no printf form: the rule is skipped rather than shown differently."""
    with pytest.raises(Untranslatable, match="no printf equivalent"):
        translate_rule(
            rule('status == "crit"', select={"types": ["kv"]}, summary="${values.operations:^9}"),
            EXPORTS,
        )
