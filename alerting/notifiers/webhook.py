"""A generic JSON webhook, in Alertmanager's webhook format (payload version ``"4"``).

Anything that takes Alertmanager webhooks takes flarewatch's: the body has ``version``,
``groupKey``, ``truncatedAlerts``, ``status``, ``receiver``, ``groupLabels``,
``commonLabels``, ``commonAnnotations``, ``externalURL`` and ``alerts`` (each with
``status``, ``labels`` — including ``alertname`` —, ``annotations``, ``startsAt``, ``endsAt``,
``generatorURL`` and ``fingerprint``). flarewatch adds fields receivers may ignore:
``groupId``, ``notificationId``, ``reminder``, and per alert ``values`` and ``flapping``.

Every request carries ``X-Flarewatch-Notification-Id`` (the same for every retry of a
notification: receivers deduplicate on it, which turns at-least-once into exactly-once). With
``hmac_key``, ``X-Flarewatch-Timestamp`` and ``X-Flarewatch-Signature: sha256=<hex>`` sign
``<timestamp>.<body>`` with HMAC-SHA256; :func:`verify_signature` is the receiving side. With
``bearer_token``, ``Authorization: Bearer …``. The URL, the key and the token are secrets.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from alerting.grouping import Notification
from alerting.lifecycle import Alert
from alerting.notifiers.base import (
    Delivery,
    HttpNotifier,
    NotifierContext,
    NotifierSettings,
    Secrets,
    check_http_url,
    iso_time,
    joined_link,
    json_bytes,
    notification_id,
    notification_status,
)

PAYLOAD_VERSION = "4"
ZERO_TIME = "0001-01-01T00:00:00Z"
"""Alertmanager's ``endsAt`` for an alert that has not ended."""
SIGNATURE_HEADER = "X-Flarewatch-Signature"
TIMESTAMP_HEADER = "X-Flarewatch-Timestamp"
ID_HEADER = "X-Flarewatch-Notification-Id"
MIN_KEY_LENGTH = 16


class WebhookConfig(NotifierSettings):
    """A JSON webhook receiver."""

    type: Literal["webhook"]
    url: SecretStr
    """Where to POST: a secret, since webhook URLs often carry a token."""
    hmac_key: SecretStr | None = None
    """Sign each request with HMAC-SHA256 (at least 16 characters)."""
    bearer_token: SecretStr | None = None
    """Send ``Authorization: Bearer <token>``."""
    max_alerts: int = Field(default=0, ge=0)
    """At most this many alerts per request (0: all); the rest are counted in
    ``truncatedAlerts``, as in Alertmanager."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        check_http_url(value.get_secret_value(), "url")
        return value

    @field_validator("hmac_key")
    @classmethod
    def _key_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_KEY_LENGTH:
            raise ValueError(f"hmac_key must be at least {MIN_KEY_LENGTH} characters")
        return value

    @field_validator("bearer_token")
    @classmethod
    def _token_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 8:
            raise ValueError("bearer_token must be at least 8 characters")
        return value


# --- the payload (pure) ------------------------------------------------------------------


def alert_labels(alert: Alert) -> dict[str, str]:
    """An alert's labels as Alertmanager has them: its labels, ``alertname`` (the rule),
    ``rule`` and ``severity``."""
    return {**alert.labels, "alertname": alert.rule, "rule": alert.rule, "severity": alert.severity}


def generator_url(alert: Alert, external_url: str | None) -> str:
    """Where the alert can be seen in flarewatch (the alerts API, filtered), or ``""``."""
    return joined_link(external_url, f"/api/v1/alerts?fingerprint={alert.fingerprint}") or ""


def alert_payload(
    alert: Alert, firing: bool, external_url: str | None, *, handover: bool = False
) -> dict[str, Any]:
    """One alert in Alertmanager's webhook shape, plus ``values``, ``flapping`` and
    ``resolvedReason`` (``cleared``, ``stale``, or ``rerouted`` in a reload's handover)."""
    started = alert.firing_since if alert.firing_since is not None else alert.active_since
    ended = ZERO_TIME
    if not firing:
        ended = iso_time(alert.resolved_at if alert.resolved_at is not None else alert.last_seen)
    return {
        "status": "firing" if firing else "resolved",
        "labels": alert_labels(alert),
        "annotations": dict(alert.annotations),
        "startsAt": iso_time(started),
        "endsAt": ended,
        "generatorURL": generator_url(alert, external_url),
        "fingerprint": alert.fingerprint,
        "values": dict(alert.values),
        "flapping": alert.flapping,
        "resolvedReason": None
        if firing
        else ("rerouted" if handover else (alert.resolved_reason or "cleared")),
    }


def build_payload(
    notification: Notification,
    *,
    receiver: str,
    external_url: str | None = None,
    max_alerts: int = 0,
    send_resolved: bool = True,
) -> dict[str, Any]:
    """The webhook body for a notification (pure)."""
    alerts = [alert_payload(a, True, external_url) for a in notification.firing]
    if send_resolved:
        alerts += [
            alert_payload(a, False, external_url, handover=notification.handover)
            for a in notification.resolved
        ]
    truncated = 0
    if max_alerts and len(alerts) > max_alerts:
        truncated = len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
    common_labels = dict(notification.common_labels)
    if "rule" in common_labels:
        common_labels["alertname"] = common_labels["rule"]
    return {
        "version": PAYLOAD_VERSION,
        "groupKey": notification.group_key,
        "truncatedAlerts": truncated,
        "status": notification_status(notification),
        "receiver": receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": common_labels,
        "commonAnnotations": _common_annotations(notification),
        "externalURL": external_url or "",
        "alerts": alerts,
        "groupId": notification.group_id,
        "notificationId": notification_id(notification),
        "reminder": notification.reminder,
        "handover": notification.handover,
    }


def _common_annotations(notification: Notification) -> dict[str, str]:
    common: dict[str, str] | None = None
    for alert in (*notification.firing, *notification.resolved):
        if common is None:
            common = dict(alert.annotations)
        else:
            common = {k: v for k, v in common.items() if alert.annotations.get(k) == v}
    return common or {}


def sign(key: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of
    ``<timestamp>.<body>``."""
    digest = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    key: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    now: float,
    tolerance: float = 300.0,
) -> bool:
    """What a receiver checks: the signature matches (compared in constant time) and the
    timestamp is within ``tolerance`` seconds of ``now`` (so a captured request cannot be
    replayed later)."""
    try:
        sent = float(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(key, timestamp, body), signature)


def request_headers(
    notification: Notification,
    body: bytes,
    *,
    now: float,
    hmac_key: str | None,
    bearer_token: str | None,
) -> dict[str, str]:
    """The headers of a webhook request (pure)."""
    headers = {ID_HEADER: notification_id(notification)}
    if hmac_key is not None:
        timestamp = str(int(now))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = sign(hmac_key, timestamp, body)
    if bearer_token is not None:
        headers["Authorization"] = f"Bearer {bearer_token}"
    return headers


# --- the notifier ------------------------------------------------------------------------


class WebhookNotifier(HttpNotifier):
    """POSTs each notification as Alertmanager-compatible JSON."""

    kind = "webhook"

    def __init__(self, name: str, config: WebhookConfig, context: NotifierContext) -> None:
        super().__init__(
            name, config, context, Secrets(config.url, config.hmac_key, config.bearer_token)
        )
        self.config = config

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The body this notifier sends for ``notification``."""
        return build_payload(
            notification,
            receiver=self.name,
            external_url=self._context.external_url,
            max_alerts=self.config.max_alerts,
            send_resolved=self.config.send_resolved,
        )

    async def send(self, notification: Notification) -> Delivery:
        """POST the notification once."""
        if not notification.firing and not self.config.send_resolved:
            return Delivery.skipped("only resolved alerts, and send_resolved is off")
        return await self._guard(lambda: self._send(notification))

    async def _send(self, notification: Notification) -> Delivery:
        body = json_bytes(self.payload(notification))
        headers = request_headers(
            notification,
            body,
            now=self._now(),
            hmac_key=_plain(self.config.hmac_key),
            bearer_token=_plain(self.config.bearer_token),
        )
        return await self._post_body(self.config.url.get_secret_value(), body, headers)


def _plain(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def parse_headers(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The timestamp and signature of a received request (case-insensitive), for
    :func:`verify_signature`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return lowered.get(TIMESTAMP_HEADER.lower()), lowered.get(SIGNATURE_HEADER.lower())
