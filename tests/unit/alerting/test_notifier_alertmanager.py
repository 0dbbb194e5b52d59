"""What is posted to Alertmanager, what is remembered and resent, and how answers combine."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerting.notifiers.alertmanager import (
    AlertmanagerConfig,
    am_alert,
    am_labels,
    combine,
    postable,
    prune,
    remember,
)
from alerting.notifiers.base import Delivery, Outcome, Reason
from tests.unit.alerting.notifier_samples import T0, alert, notification


def test_labels_are_alertname_severity_and_the_alerts_labels() -> None:
    """Alertmanager identifies an alert by its label set; ``alertname`` is the rule."""
    labels = am_labels(alert(labels={"env": ""}))
    assert "worker_error_ratio_critical" == labels["alertname"]
    assert "critical" == labels["severity"]
    assert "api" == labels["probe"]
    assert "env" not in labels  # an empty label is no label, as in Prometheus


def test_a_firing_alert_is_valid_for_four_resend_intervals() -> None:
    """Prometheus's rule: ``endsAt`` = now + 4 resend intervals, refreshed at each resend;
    if flarewatch dies, Alertmanager resolves the alert on its own a few minutes later."""
    known = remember({}, notification([alert()]), None)
    sent = postable(known[alert().fingerprint], T0 + 100, 240.0)
    assert "2026-01-01T12:05:40.000Z" == sent["endsAt"]
    assert "2026-01-01T12:00:00.000Z" == sent["startsAt"]


def test_a_resolved_alert_ends_when_it_resolved() -> None:
    """A resolve is an ``endsAt`` in the past: Alertmanager then sends its resolved message."""
    known = remember({}, notification([], [alert(firing=False)]), None)
    sent = postable(known[alert().fingerprint], T0 + 1000, 240.0)
    assert "2026-01-01T12:10:00.000Z" == sent["endsAt"]
    assert "_ends" not in sent


def test_the_generator_url_points_at_flarewatch() -> None:
    """Alertmanager's "Source" link leads back to the alert in flarewatch."""
    body = am_alert(alert(), True, "https://fw.example")
    assert body["generatorURL"].startswith("https://fw.example/api/v1/alerts?fingerprint=")


def test_an_older_notification_does_not_move_an_alert_back() -> None:
    """A delayed firing message (another group) must not undo a newer resolve."""
    resolved = remember({}, notification([], [alert(firing=False)], at=T0 + 700), None)
    again = remember(resolved, notification([alert()], at=T0 + 30), None)
    assert "_ends" in again[alert().fingerprint]["alert"]


def test_resolved_alerts_are_resent_for_a_while_then_forgotten() -> None:
    """An Alertmanager that missed the resolve learns it from the resends; after
    ``resolved_resend_for`` there is nothing more to say."""
    known = remember({}, notification([], [alert(firing=False)]), None)
    resolved_at = T0 + 600
    assert known == prune(known, resolved_at + 899, 900.0, 90_000.0)
    assert {} == prune(known, resolved_at + 900, 900.0, 90_000.0)


def test_a_firing_alert_nobody_mentions_is_eventually_forgotten() -> None:
    """A route change can drop an alert without a resolve; it must not be resent forever."""
    known = remember({}, notification([alert()], at=T0), None)
    assert known == prune(known, T0 + 3600, 900.0, 90_000.0)
    assert {} == prune(known, T0 + 90_000, 900.0, 90_000.0)


def test_one_accepting_alertmanager_is_enough() -> None:
    """As in Prometheus: the cluster shares alerts, and the resend heals the one that missed."""
    results = [
        ("http://am1", Delivery.delivered("HTTP 200")),
        ("http://am2", Delivery.retry(Reason.CONNECTION, "refused")),
    ]
    combined = combine(results)
    assert Outcome.DELIVERED == combined.outcome
    assert "http://am2: refused" in combined.detail


def test_nobody_accepting_is_a_retry_with_the_shortest_wait() -> None:
    """If no Alertmanager took it, try again when the first one said it could."""
    results = [
        ("http://am1", Delivery.retry(Reason.RATE_LIMITED, "429", after=30.0)),
        ("http://am2", Delivery.retry(Reason.RATE_LIMITED, "429", after=10.0)),
    ]
    assert (Outcome.RETRY, 10.0) == (combine(results).outcome, combine(results).retry_after)


def test_every_alertmanager_refusing_the_payload_is_a_failure() -> None:
    """A 400 from all of them will not change on retry."""
    results = [("http://am1", Delivery.failed(Reason.INVALID, "HTTP 400"))]
    assert Outcome.FAILED == combine(results).outcome


def test_credentials_in_a_url_are_refused() -> None:
    """``http://user:pass@am`` would put a secret where logs show it; use bearer_token."""
    with pytest.raises(ValidationError, match="holds credentials") as raised:
        AlertmanagerConfig.model_validate(
            {"type": "alertmanager", "urls": ["http://admin:hunter22@am:9093"]}
        )
    assert "hunter22" not in str(raised.value)


def test_urls_are_normalised_and_unique() -> None:
    """A trailing slash does not make a second Alertmanager."""
    with pytest.raises(ValidationError, match="listed twice"):
        AlertmanagerConfig.model_validate(
            {"type": "alertmanager", "urls": ["http://am:9093", "http://am:9093/"]}
        )
