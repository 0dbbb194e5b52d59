"""PagerDuty Events API v2: a trigger for every firing alert, a resolve for every resolved one.

Incident identity is the ``dedup_key``. With ``dedup: alert`` (the default) it is the alert's
fingerprint — ``sha256(rule, sorted labels)``, stable for the life of the alert instance and
across restarts — so each alert instance is its own PagerDuty alert, a new alert joining a
group is never hidden inside an open incident (alertmanager#1587), and a resolve closes exactly
what its trigger opened, even when it is sent after a restart. With ``dedup: group`` the key is
the notification group's id (Alertmanager's behaviour): one PagerDuty alert per group,
resolved when the whole group is.

Re-sending is harmless by design, which is what makes the outbox's at-least-once delivery
safe here: a trigger for an open ``dedup_key`` only adds to its log, a resolve for a resolved
one is dropped by PagerDuty. Events already accepted for a notification are not sent again
when the same notification is retried in the same process (after a 429 halfway through a
large group, say).

The events URL is configurable so tests use a local receiver. ``routing_key`` (the
integration key) is a secret.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from alerting.grouping import Notification
from alerting.lifecycle import Alert
from alerting.model import Severity
from alerting.notifiers.base import (
    Delivery,
    HttpNotifier,
    NotifierContext,
    NotifierSettings,
    Secrets,
    alert_summary,
    check_http_url,
    display_labels,
    format_value,
    iso_time,
    joined_link,
    json_bytes,
    notification_id,
    severity_rank,
    silence_matchers,
    truncate,
)

DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
MAX_EVENT_BYTES = 512_000
PagerDutySeverity = Literal["critical", "error", "warning", "info"]

DEFAULT_SEVERITIES: Mapping[Severity, PagerDutySeverity] = {
    "critical": "critical",
    "warning": "warning",
    "info": "info",
}


class PagerDutyConfig(NotifierSettings):
    """A PagerDuty service, through an Events API v2 integration."""

    type: Literal["pagerduty"]
    routing_key: SecretStr
    """The integration key (32 characters) of the service's Events API v2 integration."""
    url: str = DEFAULT_EVENTS_URL
    """The Events API endpoint (a local receiver in tests; the EU one is
    ``https://events.eu.pagerduty.com/v2/enqueue``)."""
    dedup: Literal["alert", "group"] = "alert"
    """``alert``: one PagerDuty alert per flarewatch alert (fingerprint); ``group``: one per
    notification group."""
    severity: dict[Severity, PagerDutySeverity] = Field(
        default_factory=lambda: dict(DEFAULT_SEVERITIES)
    )
    """flarewatch severity → PagerDuty severity (the ones left out keep the default)."""
    source: str | None = None
    """``payload.source``; default: the alert's ``probe`` label, else ``flarewatch``."""

    @field_validator("routing_key")
    @classmethod
    def _key_shape(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if len(key) != 32 or not key.isalnum():
            raise ValueError(
                "routing_key must be the 32-character integration key of an Events API v2 "
                "integration (letters and digits)"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value, "url")

    @field_validator("severity")
    @classmethod
    def _complete(cls, value: dict[Severity, PagerDutySeverity]) -> dict[Severity, str]:
        return {**DEFAULT_SEVERITIES, **value}


# --- events (pure) -----------------------------------------------------------------------


def dedup_key(notification: Notification, alert: Alert, mode: str) -> str:
    """The incident identity: the alert's fingerprint, or the group's id."""
    return (notification.group_id if mode == "group" else alert.fingerprint)[:MAX_DEDUP_KEY]


def trigger_event(
    routing_key: str,
    key: str,
    alert: Alert,
    notification: Notification,
    *,
    severity: Mapping[Severity, str],
    source: str | None,
    external_url: str | None,
    count: int = 1,
) -> dict[str, Any]:
    """A ``trigger`` for one alert (``count`` > 1: the first of a group of that many)."""
    summary = alert_summary(alert)
    if count > 1:
        summary = f"[{count} alerts] {summary}"
    if alert.flapping:
        summary = f"[flapping] {summary}"
    labels = display_labels(alert)
    details: dict[str, Any] = {
        "description": alert.annotations.get("description", ""),
        "values": {k: format_value(v) for k, v in sorted(alert.values.items())},
        "labels": labels,
        "rule": alert.rule,
        "severity": alert.severity,
        "firing_since": iso_time(alert.firing_since) if alert.firing_since else None,
        "flapping": alert.flapping,
        "fingerprint": alert.fingerprint,
        "group": notification.group_key,
        "silence_with": silence_matchers(alert),
        "notification_id": notification_id(notification),
    }
    if count > 1:
        details["alerts_firing"] = count
    payload: dict[str, Any] = {
        "summary": truncate(summary, MAX_SUMMARY),
        "source": source or alert.labels.get("probe") or "flarewatch",
        "severity": severity.get(alert.severity, "error"),
        "timestamp": iso_time(alert.firing_since if alert.firing_since else notification.at),
        "component": alert.labels.get("probe", alert.rule),
        "group": labels.get("zone") or alert.labels.get("probe_type") or "flarewatch",
        "class": alert.rule,
        "custom_details": details,
    }
    links = []
    runbook = alert.annotations.get("runbook_url", "").strip()
    if runbook:
        links.append({"href": runbook, "text": "Runbook"})
    status = joined_link(external_url, "/")
    if status:
        links.append({"href": status, "text": "flarewatch status page"})
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": payload,
        "client": "flarewatch",
    }
    if links:
        event["links"] = links
    if external_url:
        event["client_url"] = external_url
    return _fit(event)


def resolve_event(routing_key: str, key: str) -> dict[str, Any]:
    """A ``resolve`` for a ``dedup_key``."""
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}


def _fit(event: dict[str, Any]) -> dict[str, Any]:
    """Keep the event under PagerDuty's 512 KB: the description goes first."""
    if len(json_bytes(event)) <= MAX_EVENT_BYTES:
        return event
    details = event["payload"]["custom_details"]
    details["description"] = truncate(details["description"], 10_000)
    if len(json_bytes(event)) > MAX_EVENT_BYTES:
        details["labels"] = {}
        details["values"] = {}
        details["description"] = truncate(details["description"], 1_000)
    return event


def build_events(
    notification: Notification,
    routing_key: str,
    *,
    mode: str = "alert",
    severity: Mapping[Severity, str] = DEFAULT_SEVERITIES,
    source: str | None = None,
    external_url: str | None = None,
    send_resolved: bool = True,
) -> list[dict[str, Any]]:
    """Every event a notification makes, resolves first (pure).

    ``alert`` mode: one trigger per firing alert, one resolve per resolved alert. ``group``
    mode: one trigger for the group while anything fires (its most severe alert speaks for
    it), else one resolve.
    """
    if mode == "group":
        key = notification.group_id[:MAX_DEDUP_KEY]
        if notification.firing:
            lead = max(notification.firing, key=lambda a: severity_rank(a.severity))
            return [
                trigger_event(
                    routing_key,
                    key,
                    lead,
                    notification,
                    severity=severity,
                    source=source,
                    external_url=external_url,
                    count=len(notification.firing),
                )
            ]
        return [resolve_event(routing_key, key)] if send_resolved else []
    events: list[dict[str, Any]] = []
    if send_resolved:
        events += [
            resolve_event(routing_key, dedup_key(notification, a, mode))
            for a in notification.resolved
        ]
    events += [
        trigger_event(
            routing_key,
            dedup_key(notification, a, mode),
            a,
            notification,
            severity=severity,
            source=source,
            external_url=external_url,
        )
        for a in notification.firing
    ]
    return events


def describe(event: Mapping[str, Any]) -> str:
    """``trigger 1f3a…`` — an event for logs, without its routing key."""
    return f"{event['event_action']} {str(event['dedup_key'])[:12]}"


# --- the notifier ------------------------------------------------------------------------


class PagerDutyNotifier(HttpNotifier):
    """Sends a notification's events to PagerDuty, one request per event, in order."""

    kind = "pagerduty"
    _REMEMBERED = 512

    def __init__(self, name: str, config: PagerDutyConfig, context: NotifierContext) -> None:
        super().__init__(name, config, context, Secrets(config.routing_key))
        self.config = config
        # notification id -> events already accepted (dedup_key and action), so a retry of
        # a half-sent notification does not send them again (bounded, in memory).
        self._accepted: OrderedDict[str, set[tuple[str, str]]] = OrderedDict()

    def events(self, notification: Notification) -> list[dict[str, Any]]:
        """The events this notifier sends for ``notification``."""
        return build_events(
            notification,
            self.config.routing_key.get_secret_value(),
            mode=self.config.dedup,
            severity=self.config.severity,
            source=self.config.source,
            external_url=self._context.external_url,
            send_resolved=self.config.send_resolved,
        )

    async def send(self, notification: Notification) -> Delivery:
        """Send every event of the notification not yet accepted; stop at the first failure."""
        return await self._guard(lambda: self._send(notification))

    async def _send(self, notification: Notification) -> Delivery:
        events = self.events(notification)
        if not events:
            if not notification.firing and not notification.resolved:
                return Delivery.skipped("no alert listed (a reload's handover of a group)")
            return Delivery.skipped("only resolved alerts, and send_resolved is off")
        nid = notification_id(notification)
        accepted = self._accepted.setdefault(nid, set())
        self._accepted.move_to_end(nid)
        while len(self._accepted) > self._REMEMBERED:
            self._accepted.popitem(last=False)
        sent = 0
        for event in events:
            identity = (str(event["dedup_key"]), str(event["event_action"]))
            if identity in accepted:
                continue
            delivery = await self._post_json(self.config.url, event)
            if not delivery.ok:
                return _with_detail(delivery, f"{describe(event)}: {delivery.detail}")
            accepted.add(identity)
            sent += 1
        self._accepted.pop(nid, None)
        return Delivery.delivered(f"{sent} event{'s' if sent != 1 else ''} accepted")


def _with_detail(delivery: Delivery, detail: str) -> Delivery:
    return Delivery(
        delivery.outcome, delivery.reason, detail, delivery.retry_after, delivery.status
    )
