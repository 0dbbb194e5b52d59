"""PagerDuty events: identity (dedup_key), actions, severity, size limits, config."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from alerting.notifiers.base import json_bytes
from alerting.notifiers.pagerduty import (
    MAX_EVENT_BYTES,
    MAX_SUMMARY,
    PagerDutyConfig,
    build_events,
)
from tests.unit.alerting.notifier_samples import alert, notification

KEY = "0123456789abcdef0123456789abcdef"


def test_each_firing_alert_triggers_with_its_fingerprint() -> None:
    """One PagerDuty alert per flarewatch alert: a new alert in a group is never hidden in an
    open incident (alertmanager#1587)."""
    first, second = alert("api"), alert("images")
    events = build_events(notification([first, second]), KEY)
    assert [("trigger", first.fingerprint), ("trigger", second.fingerprint)] == [
        (e["event_action"], e["dedup_key"]) for e in events
    ]


def test_a_resolved_alert_resolves_the_same_key() -> None:
    """The resolve must close exactly what the trigger opened, even after a restart: the key
    is derived from the alert, not stored."""
    fired = alert("api")
    ended = alert("api", firing=False)
    trigger = build_events(notification([fired]), KEY)[0]
    resolve = build_events(notification([], [ended]), KEY)[0]
    assert "resolve" == resolve["event_action"]
    assert trigger["dedup_key"] == resolve["dedup_key"]


def test_resolves_go_before_triggers() -> None:
    """Within one notification, closing first keeps the PagerDuty timeline readable."""
    events = build_events(notification([alert("a")], [alert("b", firing=False)]), KEY)
    assert ["resolve", "trigger"] == [e["event_action"] for e in events]


def test_group_mode_sends_one_event_per_group() -> None:
    """Alertmanager's behaviour on request: one incident per group, keyed by the group."""
    note = notification([alert("a", severity="warning"), alert("b", severity="critical")])
    events = build_events(note, KEY, mode="group")
    assert 1 == len(events)
    assert note.group_id == events[0]["dedup_key"]
    assert "critical" == events[0]["payload"]["severity"]
    assert events[0]["payload"]["summary"].startswith("[2 alerts] ")


def test_group_mode_resolves_when_nothing_fires() -> None:
    """The group incident closes once every alert in it has resolved."""
    note = notification([], [alert("a", firing=False)])
    assert [{"routing_key": KEY, "event_action": "resolve", "dedup_key": note.group_id}] == (
        build_events(note, KEY, mode="group")
    )


@pytest.mark.parametrize(
    ("severity", "expected"), [("critical", "critical"), ("warning", "warning"), ("info", "info")]
)
def test_severity_is_mapped(severity: str, expected: str) -> None:
    """PagerDuty urgency rules key on severity: it must not be fixed at critical (as in
    Gatus)."""
    event = build_events(notification([alert(severity=severity)]), KEY)[0]  # type: ignore[arg-type]
    assert expected == event["payload"]["severity"]


def test_a_custom_severity_map_applies() -> None:
    """Teams that page on ``error`` can map warning to it."""
    config = PagerDutyConfig.model_validate(
        {"type": "pagerduty", "routing_key": KEY, "severity": {"warning": "error"}}
    )
    event = build_events(notification([alert(severity="warning")]), KEY, severity=config.severity)[
        0
    ]
    assert "error" == event["payload"]["severity"]
    assert "critical" == config.severity["critical"]


def test_the_trigger_carries_details_and_links() -> None:
    """The incident shows values, labels, the runbook and the status page."""
    event = build_events(notification([alert()]), KEY, external_url="https://fw.example")[0]
    payload = event["payload"]
    assert "api" == payload["source"]
    assert "worker_error_ratio_critical" == payload["class"]
    assert "spacevision.app" == payload["group"]
    assert {"error_ratio": "0.057", "requests": "1000"} == payload["custom_details"]["values"]
    assert "needs_api" not in payload["custom_details"]["labels"]
    assert [
        {
            "href": "https://developers.cloudflare.com/workers/observability/errors/",
            "text": "Runbook",
        },
        {"href": "https://fw.example/", "text": "flarewatch status page"},
    ] == event["links"]
    assert "https://fw.example" == event["client_url"]


def test_the_summary_fits_1024_characters() -> None:
    """PagerDuty refuses longer summaries."""
    event = build_events(notification([alert(summary="s" * 5000)]), KEY)[0]
    assert len(event["payload"]["summary"]) <= MAX_SUMMARY


def test_a_huge_event_is_cut_below_512_kb() -> None:
    """An event over 512 KB is refused and the page lost: the description gives way."""
    event = build_events(notification([alert(description="d" * 800_000)]), KEY)[0]
    assert len(json_bytes(event)) <= MAX_EVENT_BYTES


def test_resolves_are_left_out_when_send_resolved_is_off() -> None:
    """Possible, though PagerDuty incidents then stay open (documented)."""
    assert [] == build_events(notification([], [alert(firing=False)]), KEY, send_resolved=False)


def test_a_routing_key_of_the_wrong_shape_is_refused_without_quoting_it() -> None:
    """A truncated key is a config error at start-up; the error must not print the key."""
    with pytest.raises(ValidationError, match="32-character integration key") as raised:
        PagerDutyConfig.model_validate({"type": "pagerduty", "routing_key": "short-secret-key"})
    assert "short-secret-key" not in str(raised.value)


def test_the_config_repr_hides_the_routing_key() -> None:
    """Nothing dumps the key by accident."""
    config = PagerDutyConfig.model_validate({"type": "pagerduty", "routing_key": KEY})
    assert KEY not in repr(config)
    assert KEY not in json.dumps(config.model_dump(mode="json"))
