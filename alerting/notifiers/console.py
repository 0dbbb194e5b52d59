"""Console / file: notifications as text lines or JSON lines, for the demo and for tests.

``path`` unset writes to standard error; otherwise lines are appended to the file (created
mode 0600), flushed and synced before the delivery counts, so a JSON-lines file is a faithful
record of what was announced. ``format: json`` writes the webhook payload
(:func:`alerting.notifiers.webhook.build_payload`), one object per line; ``text`` writes what a
person reads in a terminal.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from typing import Literal

from alerting.grouping import Notification
from alerting.notifiers.base import (
    EMPTY_HANDOVER,
    Delivery,
    NotifierContext,
    NotifierSettings,
    Reason,
    alert_summary,
    display_labels,
    firing_for,
    format_duration,
    format_value,
    iso_time,
    lists_nothing,
    resolved_word,
)
from alerting.notifiers.slack import NO_DATA_EMOJI, RESOLVED_EMOJI, SEVERITY_EMOJI, build_message
from alerting.notifiers.webhook import build_payload


class ConsoleConfig(NotifierSettings):
    """Print notifications (standard error) or append them to a file."""

    type: Literal["console"]
    path: str | None = None
    """A file to append to; unset: standard error."""
    format: Literal["text", "json"] = "text"
    """``text`` for people, ``json`` for one webhook payload per line."""


def render_text(notification: Notification, *, now: float, receiver: str) -> str:
    """The notification as a few lines of text (pure)."""
    title = build_message(notification, now=now).text.splitlines()[0]
    lines = [f"{iso_time(notification.at)} [{receiver}] {title}"]
    for alert in notification.firing:
        state = f"{alert.severity}, firing for {format_duration(firing_for(alert, now))}"
        if alert.flapping:
            state += ", flapping"
        lines.append(f"  {SEVERITY_EMOJI[alert.severity]} {alert_summary(alert)} ({state})")
        lines.append("      " + _facts(alert.values, display_labels(alert)))
    for alert in notification.resolved:
        word = resolved_word(alert, handover=notification.handover)
        mark = NO_DATA_EMOJI if word == "no data" else RESOLVED_EMOJI
        lines.append(f"  {mark} {alert_summary(alert)} ({word})")
    return "\n".join(lines) + "\n"


def _facts(values: Mapping[str, float], labels: Mapping[str, str]) -> str:
    shown = [f"{k}={format_value(v)}" for k, v in sorted(values.items())]
    shown += [f"{k}={v}" for k, v in labels.items()]
    return " ".join(shown)


class ConsoleNotifier:
    """Writes each notification to standard error or appends it to a file."""

    kind = "console"

    def __init__(self, name: str, config: ConsoleConfig, context: NotifierContext) -> None:
        self.name = name
        self.config = config
        self._context = context

    def __repr__(self) -> str:
        """The receiver's name."""
        return f"ConsoleNotifier(name={self.name!r})"

    def render(self, notification: Notification) -> str:
        """The text written for ``notification``."""
        if self.config.format == "json":
            payload = build_payload(
                notification,
                receiver=self.name,
                external_url=self._context.external_url,
                send_resolved=self.config.send_resolved,
            )
            return json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n"
        return render_text(notification, now=self._context.clock(), receiver=self.name)

    async def send(self, notification: Notification) -> Delivery:
        """Write the notification once."""
        if not notification.firing and not self.config.send_resolved:
            return Delivery.skipped("only resolved alerts, and send_resolved is off")
        if lists_nothing(notification):
            return Delivery.skipped(EMPTY_HANDOVER)
        text = self.render(notification)
        if self.config.path is None:
            sys.stderr.write(text)
            sys.stderr.flush()
            return Delivery.delivered("written to standard error")
        try:
            await asyncio.to_thread(_append, self.config.path, text)
        except OSError as error:
            return Delivery.retry(Reason.IO_ERROR, f"{self.config.path}: {error.strerror}")
        return Delivery.delivered(f"appended to {self.config.path}")

    async def close(self) -> None:
        """Nothing to release."""


def _append(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
