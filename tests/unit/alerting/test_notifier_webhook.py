"""The webhook payload (Alertmanager's version 4) and its HMAC signature."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerting.notifiers.base import notification_id
from alerting.notifiers.webhook import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ZERO_TIME,
    WebhookConfig,
    build_payload,
    request_headers,
    sign,
    verify_signature,
)
from tests.unit.alerting.notifier_samples import T0, alert, notification

HMAC_KEY = "0123456789abcdef-hmac"


def test_the_payload_has_alertmanagers_fields() -> None:
    """Anything that consumes Alertmanager webhooks must take flarewatch's unchanged."""
    note = notification([alert("api")], [alert("www", firing=False)])
    payload = build_payload(note, receiver="hook", external_url="https://fw.example")
    assert {
        "version": "4",
        "groupKey": note.group_key,
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "hook",
        "groupLabels": {"zone": "spacevision.app"},
        "externalURL": "https://fw.example",
    }.items() <= payload.items()
    assert ["firing", "resolved"] == [a["status"] for a in payload["alerts"]]


def test_an_alert_carries_alertname_times_and_fingerprint() -> None:
    """Receivers key on alertname and fingerprint; ``endsAt`` is zero while firing."""
    firing = build_payload(notification([alert()]), receiver="hook")["alerts"][0]
    assert "worker_error_ratio_critical" == firing["labels"]["alertname"]
    assert "critical" == firing["labels"]["severity"]
    assert "2026-01-01T12:00:00.000Z" == firing["startsAt"]
    assert ZERO_TIME == firing["endsAt"]
    assert alert().fingerprint == firing["fingerprint"]
    assert {"error_ratio": 0.057, "requests": 1000.0} == firing["values"]


def test_a_resolved_alert_ends_when_it_resolved() -> None:
    """A resolved alert's ``endsAt`` is its resolution time, with the reason alongside."""
    ended = build_payload(notification([], [alert(firing=False)]), receiver="hook")
    assert "resolved" == ended["status"]
    assert "2026-01-01T12:10:00.000Z" == ended["alerts"][0]["endsAt"]
    assert "cleared" == ended["alerts"][0]["resolvedReason"]


def test_common_labels_and_annotations_are_shared_ones() -> None:
    """``commonLabels`` / ``commonAnnotations`` hold only what every alert has."""
    payload = build_payload(notification([alert("a"), alert("b")]), receiver="hook")
    assert "probe" not in payload["commonLabels"]
    assert "worker_error_ratio_critical" == payload["commonLabels"]["alertname"]
    assert "summary" not in payload["commonAnnotations"]
    assert "runbook_url" in payload["commonAnnotations"]


def test_max_alerts_truncates_and_counts() -> None:
    """As in Alertmanager: the rest are counted in ``truncatedAlerts``."""
    payload = build_payload(
        notification([alert(f"w{i}") for i in range(5)]), receiver="hook", max_alerts=2
    )
    assert (2, 3) == (len(payload["alerts"]), payload["truncatedAlerts"])


def test_the_signature_verifies() -> None:
    """A receiver holding the key accepts what flarewatch signed."""
    body = b'{"version":"4"}'
    headers = request_headers(
        notification([alert()]), body, now=T0, hmac_key=HMAC_KEY, bearer_token=None
    )
    assert verify_signature(
        HMAC_KEY, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=T0 + 5
    )


@pytest.mark.parametrize(
    ("key", "body", "now"),
    [
        ("another-key-0123456789", b'{"version":"4"}', T0),
        (HMAC_KEY, b'{"version":"5"}', T0),
        (HMAC_KEY, b'{"version":"4"}', T0 + 3600),
    ],
)
def test_a_forged_altered_or_replayed_request_fails_verification(
    key: str, body: bytes, now: float
) -> None:
    """Wrong key, changed body or an old timestamp (a replay) are all refused."""
    signature = sign(HMAC_KEY, str(int(T0)), b'{"version":"4"}')
    assert not verify_signature(key, body, str(int(T0)), signature, now=now)


def test_every_request_carries_the_notification_id() -> None:
    """Receivers deduplicate retries on it: at-least-once becomes exactly-once for them."""
    note = notification([alert()])
    headers = request_headers(note, b"{}", now=T0, hmac_key=None, bearer_token="t0k3n-value")
    assert notification_id(note) == headers[ID_HEADER]
    assert "Bearer t0k3n-value" == headers["Authorization"]
    assert SIGNATURE_HEADER not in headers


def test_a_short_hmac_key_is_refused() -> None:
    """A 4-character key signs nothing worth trusting."""
    with pytest.raises(ValidationError, match="at least 16 characters"):
        WebhookConfig.model_validate(
            {"type": "webhook", "url": "https://hooks.example/x", "hmac_key": "abcd"}
        )


def test_a_bad_url_is_refused_without_quoting_it() -> None:
    """Webhook URLs often hold a token; the error must not print it."""
    with pytest.raises(ValidationError) as raised:
        WebhookConfig.model_validate({"type": "webhook", "url": "not a url with tok3n-xyz"})
    assert "tok3n-xyz" not in str(raised.value)
