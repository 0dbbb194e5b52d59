"""Inhibition: Alertmanager's inhibit rules over the lifecycle's alerts, and the built-in rules."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.inhibition import (
    InhibitRule,
    InhibitRuleError,
    default_inhibit_rules,
    inhibited,
)
from alerting.lifecycle import Alert
from alerting.matchers import parse_matchers
from alerting.model import AlertState, Severity, fingerprint


def _alert(
    rule: str,
    labels: dict[str, str],
    state: AlertState = AlertState.FIRING,
    firing_since: float = 100.0,
    severity: Severity = "critical",
) -> Alert:
    return Alert(
        fingerprint=fingerprint(rule, labels),
        rule=rule,
        severity=severity,
        labels=labels,
        state=state,
        active_since=firing_since,
        last_active_at=firing_since,
        last_seen=firing_since,
        firing_since=firing_since,
    )


def _rule(source: str, target: str, equal: tuple[str, ...] = ()) -> InhibitRule:
    return InhibitRule(parse_matchers(source), parse_matchers(target), equal)


DNS_DOWN = _alert(
    "probe_down", {"probe": "dns-example", "probe_type": "dns", "zone": "example.com"}
)
HTTP_SAME_ZONE = _alert("http_error", {"probe": "www", "probe_type": "http", "zone": "example.com"})
HTTP_OTHER_ZONE = _alert("http_error", {"probe": "shop", "probe_type": "http", "zone": "shop.dev"})
HTTP_NO_ZONE = _alert("http_error", {"probe": "status", "probe_type": "http"})
ZONE_RULE = _rule('rule="probe_down", probe_type="dns"', 'probe_type="http"', ("zone",))


def _names(result: dict[str, str], alerts: list[Alert]) -> dict[str, str]:
    """Readable form: probe label of target → probe label of source."""
    by_fp = {a.fingerprint: a.labels["probe"] for a in alerts}
    return {by_fp[target]: by_fp[source] for target, source in result.items()}


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        pytest.param(
            [DNS_DOWN, HTTP_SAME_ZONE, HTTP_OTHER_ZONE],
            {"www": "dns-example"},
            id="equal-labels-must-match",
        ),
        pytest.param(
            [DNS_DOWN, HTTP_NO_ZONE],
            {},
            id="a-missing-label-differs-from-a-present-one",
        ),
        pytest.param(
            [
                _alert("probe_down", {"probe": "dns-x", "probe_type": "dns"}),
                HTTP_NO_ZONE,
            ],
            {"status": "dns-x"},
            id="missing-equals-missing-as-in-alertmanager",
        ),
        pytest.param(
            [
                _alert(
                    "probe_down",
                    {"probe": "dns-example", "probe_type": "dns", "zone": "example.com"},
                    state=AlertState.PENDING,
                ),
                HTTP_SAME_ZONE,
            ],
            {},
            id="pending-source-does-not-inhibit",
        ),
        pytest.param(
            [
                _alert(
                    "probe_down",
                    {"probe": "dns-example", "probe_type": "dns", "zone": "example.com"},
                    state=AlertState.RESOLVED,
                ),
                HTTP_SAME_ZONE,
            ],
            {},
            id="resolved-source-does-not-inhibit",
        ),
        pytest.param(
            [
                DNS_DOWN,
                _alert(
                    "http_error",
                    {"probe": "www", "probe_type": "http", "zone": "example.com"},
                    state=AlertState.PENDING,
                ),
            ],
            {"www": "dns-example"},
            id="pending-target-is-inhibited",
        ),
        pytest.param(
            [
                DNS_DOWN,
                _alert(
                    "http_error",
                    {"probe": "www", "probe_type": "http", "zone": "example.com"},
                    state=AlertState.RESOLVED,
                ),
            ],
            {},
            id="resolved-target-is-not-inhibited-so-its-resolve-is-sent",
        ),
    ],
)
def test_inhibited_by_zone(alerts: list[Alert], expected: dict[str, str]) -> None:
    """Only a firing source mutes, only targets sharing the ``equal`` labels are muted, and
    resolves always go out."""
    assert expected == _names(inhibited(alerts, [ZONE_RULE]), alerts)


def test_alert_never_inhibits_itself() -> None:
    """An alert that matches both sides of a rule is not muted by itself."""
    rule = _rule('severity="critical"', 'severity="critical"')
    alone = [_alert("probe_down", {"probe": "kv"})]
    assert {} == inhibited(alone, [rule])


def test_alerts_matching_both_sides_do_not_mute_each_other() -> None:
    """Two alerts that each fit source and target would otherwise silence each other and
    nothing would be announced (Alertmanager excludes such sources)."""
    rule = _rule('reason="auth"', 'needs_api="true"')
    both = [
        _alert("probe_down", {"probe": "kv", "reason": "auth", "needs_api": "true"}),
        _alert("probe_down", {"probe": "r2", "reason": "auth", "needs_api": "true"}),
    ]
    assert {} == inhibited(both, [rule])


def test_two_sided_source_still_mutes_a_plain_target() -> None:
    """A source that also fits the target side still mutes targets that are only targets."""
    rule = _rule('reason="auth"', 'needs_api="true"')
    alerts = [
        _alert("probe_down", {"probe": "kv", "reason": "auth", "needs_api": "true"}),
        _alert("kv_latency_high", {"probe": "kv-read", "needs_api": "true"}),
    ]
    assert {"kv-read": "kv"} == _names(inhibited(alerts, [rule]), alerts)


def test_longest_firing_source_is_named() -> None:
    """With several sources, the one firing longest is reported, so the answer is the root
    cause and stable between rounds."""
    rule = _rule('rule="api_token_invalid"', 'needs_api="true"')
    alerts = [
        _alert("api_token_invalid", {"probe": "token-a"}, firing_since=200.0),
        _alert("api_token_invalid", {"probe": "token-b"}, firing_since=50.0),
        _alert("probe_down", {"probe": "workers", "needs_api": "true"}),
    ]
    assert {"workers": "token-b"} == _names(inhibited(alerts, [rule]), alerts)


def test_first_matching_rule_wins() -> None:
    """When rules disagree on the source, rule order decides."""
    first = _rule('probe="a"', 'probe="t"')
    second = _rule('probe="b"', 'probe="t"')
    alerts = [
        _alert("x", {"probe": "a"}, firing_since=500.0),
        _alert("x", {"probe": "b"}, firing_since=10.0),
        _alert("y", {"probe": "t"}),
    ]
    assert {"t": "a"} == _names(inhibited(alerts, [first, second]), alerts)


def test_rule_and_severity_can_be_matched() -> None:
    """``rule`` and ``severity`` are matchable like labels (Alertmanager's ``alertname``)."""
    rule = _rule('rule="probe_down", severity="critical"', 'rule="latency_high"')
    alerts = [_alert("probe_down", {"probe": "a"}), _alert("latency_high", {"probe": "b"})]
    assert {"b": "a"} == _names(inhibited(alerts, [rule]), alerts)


def test_inhibited_alert_still_inhibits() -> None:
    """Inhibition chains as in Alertmanager: a muted cause still mutes its own consequences."""
    rules = [_rule('probe="root"', 'probe="mid"'), _rule('probe="mid"', 'probe="leaf"')]
    alerts = [_alert("x", {"probe": p}) for p in ("root", "mid", "leaf")]
    assert {"mid": "root", "leaf": "mid"} == _names(inhibited(alerts, rules), alerts)


TOKEN_INVALID = _alert("api_token_invalid", {"probe": "cf-api", "probe_type": "api"})
WORKERS_DOWN = _alert(
    "probe_down", {"probe": "workers", "probe_type": "workers", "needs_api": "true"}
)
KV_SLOW = _alert("kv_latency_high", {"probe": "kv", "probe_type": "kv", "needs_api": "true"})
HTTP_DOWN = _alert("probe_down", {"probe": "www", "probe_type": "http", "zone": "example.com"})
ZONE_DNS_DOWN = _alert(
    "probe_down", {"probe": "dns-example", "probe_type": "dns", "zone": "example.com"}
)


def _ladder(rule: str, severity: Severity, probe: str) -> Alert:
    labels = {"probe": probe, "probe_type": "r2", "alert": "r2_quota", "severity": severity}
    return _alert(rule, labels, severity=severity)


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        pytest.param(
            [TOKEN_INVALID, WORKERS_DOWN, KV_SLOW, HTTP_DOWN],
            {"workers": "cf-api", "kv": "cf-api"},
            id="invalid-token-mutes-everything-needing-the-api",
        ),
        pytest.param(
            [WORKERS_DOWN, KV_SLOW],
            {},
            id="api-alerts-alone-are-not-muted",
        ),
        pytest.param(
            [ZONE_DNS_DOWN, HTTP_DOWN, KV_SLOW],
            {"www": "dns-example"},
            id="zone-dns-down-mutes-that-zones-http-alerts",
        ),
        pytest.param(
            [_alert("probe_down", {"probe": "dns", "probe_type": "dns"}), HTTP_NO_ZONE],
            {},
            id="dns-alert-without-zone-mutes-nothing",
        ),
        pytest.param(
            [
                _ladder("r2_quota_critical", "critical", "assets"),
                _ladder("r2_quota_warning", "warning", "assets"),
                _ladder("r2_quota_warning", "warning", "backups"),
            ],
            {"assets": "assets"},
            id="critical-mutes-the-warning-of-the-same-alert-and-probe",
        ),
        pytest.param(
            [
                _alert("probe_down", {"probe": "kv", "probe_type": "kv"}),
                _alert("kv_latency_high", {"probe": "kv", "probe_type": "kv"}, severity="warning"),
            ],
            {},
            id="critical-without-an-alert-label-mutes-no-warning",
        ),
    ],
)
def test_default_rules(alerts: list[Alert], expected: dict[str, str]) -> None:
    """The built-in rules do what docs/alerts.md promises for the two classic cascades."""
    assert expected == _names(inhibited(alerts, default_inhibit_rules()), alerts)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"target_matchers": ['a="1"']}, "source_matchers must be a list", id="no-src"),
        pytest.param(
            {"source_matchers": [], "target_matchers": ['a="1"']},
            "source_matchers is empty",
            id="empty-source",
        ),
        pytest.param(
            {"source_matchers": ['a="1"'], "target_matchers": []},
            "target_matchers is empty",
            id="empty-target",
        ),
        pytest.param(
            {"source_matchers": ["a=="], "target_matchers": ['a="1"']},
            r"source_matchers\[0\]: invalid matcher",
            id="bad-matcher",
        ),
        pytest.param(
            {"source_matchers": ['a="1"'], "target_matchers": ['b="1"'], "equal": ["bad-name"]},
            "invalid label name",
            id="bad-equal",
        ),
        pytest.param(
            {"source_matchers": ['a="1"'], "target_matchers": ['b="1"'], "equal": "zone"},
            "equal must be a list",
            id="equal-not-list",
        ),
        pytest.param(
            {"source_match": {"a": "1"}, "target_matchers": ['b="1"']},
            "unknown key",
            id="old-alertmanager-keys",
        ),
    ],
)
def test_bad_rule_config_is_refused(data: dict[str, Any], message: str) -> None:
    """Malformed inhibit rules are refused with the rule and key named."""
    with pytest.raises(InhibitRuleError, match=message):
        InhibitRule.from_config({"name": "r", **data})
