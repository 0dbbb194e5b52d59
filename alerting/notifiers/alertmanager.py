"""Alertmanager: ``POST /api/v2/alerts`` to one or more Alertmanagers, as Prometheus does.

For users who run an Alertmanager cluster (several flarewatch replicas, one deduplicated
stream of pages) or already route everything through one. flarewatch then acts as Prometheus:
each alert is sent with its labels (``alertname`` = the rule, ``severity``, the probe's
labels), annotations, ``startsAt`` and ``endsAt``, and Alertmanager groups, silences, inhibits
and notifies.

Alertmanager forgets an alert whose ``endsAt`` has passed, so a firing alert must be sent
again and again: every ``resend_interval`` (1 min) the notifier re-posts every alert it knows
as firing, with ``endsAt`` four intervals ahead (Prometheus's rule), and keeps re-posting a
resolved alert, with its real ``endsAt``, for ``resolved_resend_for`` (15 min) so an
Alertmanager that missed the resolve still learns it. What it knows is saved with the outbox
(:class:`~alerting.notifiers.base.NotifierState`), so a restart neither drops firing alerts
(Alertmanager would resolve them) nor forgets resolves. A request counts as delivered when at
least one Alertmanager accepted it; the periodic resend heals the others, as in Prometheus.

Route the alerts to this receiver with ``group_by: ["..."]`` and a short ``group_wait``:
grouping is Alertmanager's job here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from alerting.grouping import Notification
from alerting.lifecycle import Alert
from alerting.notifiers.base import (
    Delivery,
    HttpNotifier,
    NotifierContext,
    NotifierSettings,
    Outcome,
    Secrets,
    check_http_url,
    iso_time,
    url_host,
)
from alerting.notifiers.webhook import generator_url
from alerting.rules import Duration

ALERTS_PATH = "/api/v2/alerts"
VALIDITY_FACTOR = 4
"""A firing alert's ``endsAt`` is this many resend intervals ahead (Prometheus's rule)."""
STATE_VERSION = 1


class AlertmanagerConfig(NotifierSettings):
    """One Alertmanager, or the members of a cluster (each is sent every alert)."""

    type: Literal["alertmanager"]
    urls: tuple[str, ...] = Field(min_length=1)
    """Base URLs (``http://alertmanager:9093``); alerts go to ``<url>/api/v2/alerts``."""
    bearer_token: SecretStr | None = None
    """Sent as ``Authorization: Bearer …`` when Alertmanager sits behind a proxy that wants
    one."""
    resend_interval: Duration = 60.0
    """How often active alerts are sent again."""
    resolved_resend_for: Duration = 900.0
    """How long a resolved alert keeps being sent (with its ``endsAt``)."""
    forget_after: Duration = 90000.0
    """A firing alert no notification has mentioned for this long is no longer resent
    (Alertmanager then lets it expire). Keep it above the longest ``repeat_interval`` of the
    routes to this receiver: group reminders refresh it. Default 25 h."""

    @field_validator("urls")
    @classmethod
    def _urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        checked = []
        for index, url in enumerate(urls):
            check_http_url(url, f"urls[{index}]")
            if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
                raise ValueError(
                    f"urls[{index}] holds credentials: use bearer_token, so they stay secret"
                )
            checked.append(url.strip().rstrip("/"))
        if len(set(checked)) != len(checked):
            raise ValueError("an Alertmanager is listed twice")
        return tuple(checked)

    @field_validator("resend_interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than zero")
        return value


# --- what is sent (pure) -----------------------------------------------------------------


def am_labels(alert: Alert) -> dict[str, str]:
    """The alert's identity in Alertmanager: ``alertname`` (the rule), ``severity`` and its
    non-empty labels (an empty label is no label, as in Prometheus)."""
    labels = {k: v for k, v in alert.labels.items() if v != ""}
    return {**labels, "alertname": alert.rule, "severity": alert.severity}


def am_alert(alert: Alert, firing: bool, external_url: str | None) -> dict[str, Any]:
    """An alert as a ``postableAlert`` without ``endsAt`` (added when sent), and the epoch
    ``endsAt`` of a resolved one under ``_ends``."""
    started = alert.firing_since if alert.firing_since is not None else alert.active_since
    body: dict[str, Any] = {
        "labels": am_labels(alert),
        "annotations": {k: v for k, v in alert.annotations.items() if v},
        "startsAt": iso_time(started),
    }
    url = generator_url(alert, external_url)
    if url:
        body["generatorURL"] = url
    if not firing:
        body["_ends"] = alert.resolved_at if alert.resolved_at is not None else alert.last_seen
    return body


def postable(record: Mapping[str, Any], now: float, valid_for: float) -> dict[str, Any]:
    """A known alert as sent now: a firing one valid for ``valid_for`` more seconds, a
    resolved one ending when it ended."""
    body = {k: v for k, v in record["alert"].items() if k != "_ends"}
    ends = record["alert"].get("_ends")
    body["endsAt"] = iso_time(now + valid_for if ends is None else float(ends))
    return body


def remember(
    known: Mapping[str, Any], notification: Notification, external_url: str | None
) -> dict[str, Any]:
    """The known alerts after a notification (pure): its firing alerts are (still) firing,
    its resolved alerts resolved; a notification older than what is known about an alert
    does not move it back."""
    updated = dict(known)
    pairs = [(a, True) for a in notification.firing] + [(a, False) for a in notification.resolved]
    for alert, firing in pairs:
        previous = updated.get(alert.fingerprint)
        if previous is not None and float(previous["at"]) > notification.at:
            continue
        updated[alert.fingerprint] = {
            "alert": am_alert(alert, firing, external_url),
            "at": notification.at,
        }
    return updated


def prune(
    known: Mapping[str, Any], now: float, resolved_resend_for: float, forget_after: float
) -> dict[str, Any]:
    """Drop resolved alerts sent long enough, and firing ones nobody mentioned for too long."""
    kept = {}
    for fingerprint, record in known.items():
        ends = record["alert"].get("_ends")
        if ends is not None and now - float(ends) >= resolved_resend_for:
            continue
        if ends is None and now - float(record["at"]) >= forget_after:
            continue
        kept[fingerprint] = record
    return kept


def combine(results: Sequence[tuple[str, Delivery]]) -> Delivery:
    """One outcome for a request to every Alertmanager: delivered if any accepted it (the
    periodic resend reaches the others); otherwise a retry if any failure is transient."""
    accepted = [d for _, d in results if d.ok]
    problems = "; ".join(f"{host}: {d.detail}" for host, d in results if not d.ok)
    if accepted:
        detail = f"accepted by {len(accepted)} of {len(results)}"
        return Delivery.delivered(detail + (f" ({problems})" if problems else ""))
    retries = [d for _, d in results if d.outcome is Outcome.RETRY]
    chosen = retries[0] if retries else results[0][1]
    waits = [d.retry_after for d in retries if d.retry_after is not None]
    return Delivery(
        chosen.outcome,
        chosen.reason,
        problems,
        retry_after=min(waits) if waits else None,
        status=chosen.status,
    )


# --- the notifier ------------------------------------------------------------------------


class AlertmanagerNotifier(HttpNotifier):
    """Posts alerts to Alertmanager on every notification, and resends the active ones."""

    kind = "alertmanager"

    def __init__(self, name: str, config: AlertmanagerConfig, context: NotifierContext) -> None:
        super().__init__(name, config, context, Secrets(config.bearer_token))
        self.config = config
        self._known: dict[str, Any] | None = None
        self._next_tick: float | None = context.clock()  # the first tick loads saved alerts

    @property
    def valid_for(self) -> float:
        """How long a firing alert sent now stays valid in Alertmanager."""
        return VALIDITY_FACTOR * self.config.resend_interval

    async def _load(self) -> dict[str, Any]:
        if self._known is None:
            document = await self._context.state.load() if self._context.state else {}
            alerts = document.get("alerts") if document.get("version") == STATE_VERSION else None
            self._known = dict(alerts) if isinstance(alerts, dict) else {}
        return self._known

    async def _save(self, known: dict[str, Any]) -> None:
        self._known = known
        if self._context.state is not None:
            await self._context.state.save({"version": STATE_VERSION, "alerts": known})

    async def known_alerts(self) -> dict[str, Any]:
        """Fingerprint → what is known and resent (for inspection and tests)."""
        return dict(await self._load())

    def next_tick(self) -> float | None:
        """When active alerts are next resent; ``None`` while none are known."""
        return self._next_tick

    async def tick(self) -> Delivery:
        """Resend every known alert (and forget those no longer worth sending)."""
        return await self._guard(self._tick)

    async def _tick(self) -> Delivery:
        now = self._now()
        self._next_tick = now + self.config.resend_interval
        known = await self._load()
        kept = prune(known, now, self.config.resolved_resend_for, self.config.forget_after)
        if kept.keys() != known.keys():
            await self._save(kept)
        if not kept:
            self._next_tick = None
            return Delivery.skipped("no active alerts to resend")
        return await self._post_all([postable(r, now, self.valid_for) for r in kept.values()])

    async def send(self, notification: Notification) -> Delivery:
        """Remember the notification's alerts and post them to every Alertmanager."""
        return await self._guard(lambda: self._send(notification))

    async def _send(self, notification: Notification) -> Delivery:
        now = self._now()
        external = self._context.external_url
        known = remember(await self._load(), notification, external)
        resolved = notification.resolved
        if not self.config.send_resolved:
            # Not told, Alertmanager lets the alert expire at the endsAt it last got.
            for alert in resolved:
                known.pop(alert.fingerprint, None)
            resolved = ()
        await self._save(known)
        if self._next_tick is None:
            self._next_tick = now + self.config.resend_interval
        fingerprints = [a.fingerprint for a in (*notification.firing, *resolved)]
        alerts = [postable(known[fp], now, self.valid_for) for fp in fingerprints]
        if not alerts:
            if not notification.firing and not notification.resolved:
                return Delivery.skipped("no alert listed (a reload's handover of a group)")
            return Delivery.skipped("only resolved alerts, and send_resolved is off")
        return await self._post_all(alerts)

    async def _post_all(self, alerts: list[dict[str, Any]]) -> Delivery:
        headers = {}
        if self.config.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self.config.bearer_token.get_secret_value()}"

        async def post(url: str) -> tuple[str, Delivery]:
            delivery = await self._guard(
                lambda: self._post_json(url + ALERTS_PATH, alerts, headers)
            )
            return url_host(url), delivery

        results = await asyncio.gather(*(post(url) for url in self.config.urls))
        return combine(results)
