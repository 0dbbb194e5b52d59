"""The ``notifiers:`` config: types, names, secrets that never show, and building."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerting.notifiers import (
    AlertmanagerNotifier,
    ConsoleNotifier,
    NotifierContext,
    PagerDutyNotifier,
    PeriodicNotifier,
    SlackNotifier,
    WebhookNotifier,
    build_notifiers,
    load_notifiers,
)

SLACK_URL = "https://hooks.slack.com/services/T0001/B0001/abcdefghijklmnopqrstuvwx"
KEY = "0123456789abcdef0123456789abcdef"
RAW = {
    "slack": {"type": "slack", "webhook_url": SLACK_URL},
    "oncall": {"type": "pagerduty", "routing_key": KEY},
    "hook": {"type": "webhook", "url": "https://hooks.example/in?token=s3cr3t-t0ken"},
    "am": {"type": "alertmanager", "urls": ["http://127.0.0.1:9093"]},
    "console": {"type": "console"},
}


def test_every_type_loads_and_builds() -> None:
    """One mapping of receiver name to settings gives one notifier each, of its type."""
    notifiers = build_notifiers(load_notifiers(RAW), NotifierContext())
    assert {
        "slack": SlackNotifier,
        "oncall": PagerDutyNotifier,
        "hook": WebhookNotifier,
        "am": AlertmanagerNotifier,
        "console": ConsoleNotifier,
    } == {name: type(n) for name, n in notifiers.items()}


def test_only_alertmanager_has_periodic_work() -> None:
    """The outbox ticks Alertmanager's resends; the others only send notifications."""
    notifiers = build_notifiers(load_notifiers(RAW), NotifierContext())
    assert {"am"} == {n for n, x in notifiers.items() if isinstance(x, PeriodicNotifier)}


def test_an_unknown_type_is_named() -> None:
    """``type: slak`` must say which types exist."""
    with pytest.raises(
        ValidationError, match="'slack', 'pagerduty', 'webhook', 'alertmanager', 'console'"
    ):
        load_notifiers({"x": {"type": "slak"}})


def test_an_unknown_key_is_refused() -> None:
    """A misspelt option must not be silently ignored."""
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        load_notifiers({"x": {"type": "pagerduty", "routing_key": KEY, "severty": {}}})


def test_a_missing_secret_is_an_error() -> None:
    """A notifier without its secret is a start-up error, not a silent no-op."""
    with pytest.raises(ValidationError, match="routing_key"):
        load_notifiers({"pd": {"type": "pagerduty"}})


def test_a_bad_receiver_name_is_refused() -> None:
    """Names become metric labels: short and plain."""
    with pytest.raises(ValueError, match="not a valid notifier name"):
        load_notifiers({"my slack!": RAW["slack"]})


def test_validation_errors_never_print_inputs() -> None:
    """Whatever is wrong, the error shows keys and reasons, never values (they may be
    secrets: a Slack webhook URL is one)."""
    bad = {
        "slack": {"type": "slack", "webhook_url": SLACK_URL, "max_alerts": "many"},
        "hook": {"type": "webhook", "url": 12345, "hmac_key": "tiny-s3cr3t"},
    }
    with pytest.raises(ValidationError) as raised:
        load_notifiers(bad)
    text = str(raised.value)
    assert "abcdefghijklmnop" not in text
    assert "tiny-s3cr3t" not in text
    assert "12345" not in text


def test_notifier_reprs_show_no_secret() -> None:
    """A notifier in a log line or a traceback shows its name only."""
    notifiers = build_notifiers(load_notifiers(RAW), NotifierContext())
    shown = " ".join(repr(n) for n in notifiers.values())
    for secret in ("abcdefghijklmnop", KEY, "s3cr3t-t0ken"):
        assert secret not in shown
