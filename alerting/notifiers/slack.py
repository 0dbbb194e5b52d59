"""Slack: a Block Kit message per notification, through slack-sdk.

Two ways in, both slack-sdk's asyncio clients:

- an **incoming webhook** (``webhook_url``), with :class:`AsyncWebhookClient`. The URL is
  the credential: it is a secret, shown nowhere.
- a **bot token** and a channel, with :class:`AsyncWebClient` and ``chat.postMessage``.

The message (:func:`build_message`) has a header (``🔴 FIRING:3 · zone=spacevision.app``,
``🔁 STILL FIRING``, ``✅ RESOLVED``, ``⚪ NO DATA``), then per alert its severity, summary,
description, values, how long it has fired or how it ended, the runbook link and the
matchers that silence it, and a footer with the status page; the top-level ``text`` is the
plain fallback Slack shows in notifications. It stays inside Slack's limits: at most 50
blocks, 150 characters per header, 3,000 per section and about 12,000 in all, cutting with a
visible "…and N more".

A 429 whose ``Retry-After`` is short (``inline_retry_max``, 5 s) is retried in place by
slack-sdk's rate-limit retry handler; a longer one goes back to the outbox, which waits it out
without holding anything up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from alerting.grouping import Notification
from alerting.lifecycle import Alert
from alerting.model import Severity
from alerting.notifiers.base import (
    EMPTY_HANDOVER,
    Delivery,
    HttpNotifier,
    NotifierContext,
    NotifierSettings,
    Reason,
    Secrets,
    alert_summary,
    check_http_url,
    classify_status,
    display_labels,
    firing_for,
    format_duration,
    format_value,
    iso_time,
    joined_link,
    lists_nothing,
    notification_id,
    resolved_word,
    severity_rank,
    silence_matchers,
    truncate,
)
from alerting.rules import Duration

if TYPE_CHECKING:
    from slack_sdk.http_retry.async_handler import AsyncRetryHandler
    from slack_sdk.web.async_client import AsyncWebClient
    from slack_sdk.webhook.async_client import AsyncWebhookClient

HANDOVER_EMOJI = "\u21aa\ufe0f"
"""Marks alerts a reload no longer routes to this receiver."""

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_CONTEXT_ELEMENT = 2000
MAX_TEXT = 3000
MESSAGE_BUDGET = 12_000
"""Characters of block text per message: Slack refuses some messages well under 50 blocks
of 3,000 (``msg_blocks_too_long`` at about 13,200)."""

SEVERITY_EMOJI: Mapping[Severity, str] = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
RESOLVED_EMOJI = "✅"
NO_DATA_EMOJI = "⚪"
REMINDER_EMOJI = "🔁"
FLAPPING_EMOJI = "〰️"

DELAY_NOTE_AFTER = 60.0
"""A message sent this much later than the engine decided says so."""

# Slack Web API errors (``ok: false``) worth another try later, and those that are a
# configuration problem the operator can fix (kept until the outbox gives up); any other
# error (invalid_blocks, msg_too_long, …) means this message will never be accepted.
TRANSIENT_API_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)
CONFIG_API_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "access_denied",
        "restricted_action",
        "org_login_required",
        "ekm_access_denied",
        "team_access_not_granted",
    }
)


class SlackConfig(NotifierSettings):
    """A Slack receiver: ``webhook_url``, or ``bot_token`` and ``channel``."""

    type: Literal["slack"]
    webhook_url: SecretStr | None = None
    """An incoming webhook URL (``https://hooks.slack.com/services/…``): a secret."""
    bot_token: SecretStr | None = None
    """A bot token (``xoxb-…``) with ``chat:write``, used with ``channel``."""
    channel: str | None = None
    """The channel id or name the bot posts to (the bot must be a member)."""
    api_url: str = "https://slack.com/api/"
    """The Web API base URL (for a local test receiver)."""
    max_alerts: int = Field(default=10, ge=1, le=15)
    """Alerts shown in full per message; the rest are counted ("…and 4 more")."""
    inline_retry_max: Duration = 5.0
    """A 429 asking to wait at most this long is retried at once by slack-sdk; longer waits
    are left to the outbox."""

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_http_url(value.get_secret_value(), "webhook_url")
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 10:
            raise ValueError("bot_token is too short to be a Slack token (xoxb-…)")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_is_url(cls, value: str) -> str:
        return check_http_url(value, "api_url")

    @model_validator(mode="after")
    def _one_way_in(self) -> SlackConfig:
        if (self.webhook_url is None) == (self.bot_token is None):
            raise ValueError("give either webhook_url, or bot_token and channel (not both)")
        if self.bot_token is not None and not (self.channel or "").strip():
            raise ValueError("bot_token needs a channel to post to")
        if self.webhook_url is not None and self.channel is not None:
            raise ValueError(
                "channel goes with bot_token; an incoming webhook posts to its own channel"
            )
        return self


# --- the message (pure) ------------------------------------------------------------------


@dataclass(frozen=True)
class SlackMessage:
    """What is posted: the plain ``text`` fallback and the Block Kit ``blocks``."""

    text: str
    blocks: tuple[dict[str, Any], ...]

    def body(self) -> dict[str, Any]:
        """The JSON body for an incoming webhook or ``chat.postMessage``."""
        return {
            "text": self.text,
            "blocks": list(self.blocks),
            "unfurl_links": False,
            "unfurl_media": False,
        }


def escape(text: str) -> str:
    """Text made safe for Slack mrkdwn: ``&``, ``<`` and ``>`` escaped, as Slack requires."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A mrkdwn link; characters that would end it early are percent-encoded."""
    safe = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")
    return f"<{safe}|{escape(label)}>"


def build_message(
    notification: Notification,
    *,
    now: float,
    external_url: str | None = None,
    max_alerts: int = 10,
    send_resolved: bool = True,
) -> SlackMessage:
    """The Slack message for a notification (pure)."""
    firing = notification.firing
    resolved = notification.resolved if send_resolved else ()
    shown: list[tuple[Alert, bool]] = [(a, True) for a in firing] + [(a, False) for a in resolved]
    hidden = max(0, len(shown) - max_alerts)
    shown = shown[:max_alerts]
    title = _title(notification, firing, resolved, now)
    header = {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}}
    blocks: list[dict[str, Any]] = [header]
    per_alert = min(MAX_SECTION, MESSAGE_BUDGET // max(1, len(shown)))
    for index, (alert, is_firing) in enumerate(shown):
        if index:
            blocks.append({"type": "divider"})
        blocks.append(
            _section(_alert_text(alert, is_firing, now, per_alert, notification.handover))
        )
        blocks.append(_context(_alert_context(alert)))
    if hidden:
        more = f"…and {hidden} more alert{'s' if hidden != 1 else ''}"
        status = joined_link(external_url, "/")
        blocks.append(_section(f"_{more}" + (f": {link(status, 'see all')}_" if status else "_")))
    footer = _footer(notification, now, external_url)
    blocks.append(_context(footer))
    return SlackMessage(text=_fallback(title, shown, hidden), blocks=tuple(blocks[:MAX_BLOCKS]))


def _title(
    notification: Notification, firing: Sequence[Alert], resolved: Sequence[Alert], now: float
) -> str:
    if firing:
        worst = max((a.severity for a in firing), key=severity_rank)
        if notification.reminder:
            longest = max(firing_for(a, now) for a in firing)
            word = f"{REMINDER_EMOJI} STILL FIRING for {format_duration(longest)}"
        else:
            word = f"{SEVERITY_EMOJI[worst]} FIRING"
        count = len(firing)
    elif resolved and notification.handover:
        word, count = f"{HANDOVER_EMOJI} NO LONGER ROUTED HERE", len(resolved)
    elif resolved and all(a.resolved_reason == "stale" for a in resolved):
        word, count = f"{NO_DATA_EMOJI} NO DATA", len(resolved)
    else:
        word, count = f"{RESOLVED_EMOJI} RESOLVED", len(resolved)
    listed = list(firing) or list(resolved)
    if len(listed) == 1:
        subject = alert_summary(listed[0])
    else:
        labels = notification.group_labels or {
            k: v for k, v in notification.common_labels.items() if k == "rule"
        }
        subject = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "alerts"
        word += f":{count}"
    return truncate(f"{word} · {subject}", MAX_HEADER)


def _alert_text(
    alert: Alert, is_firing: bool, now: float, limit: int, handover: bool = False
) -> str:
    if is_firing:
        mark = SEVERITY_EMOJI[alert.severity]
        state = f"firing for {format_duration(firing_for(alert, now))}"
    elif handover:
        mark = HANDOVER_EMOJI
        state = resolved_word(alert, handover=True) + " (other receivers hear of it now)"
    else:
        word = resolved_word(alert)
        mark = NO_DATA_EMOJI if word == "no data" else RESOLVED_EMOJI
        state = (
            "no data: its probe stopped reporting, nobody saw it recover"
            if word == "no data"
            else "resolved"
        )
        if alert.resolved_at is not None and alert.firing_since is not None:
            state += f" after {format_duration(alert.resolved_at - alert.firing_since)}"
    head = f"{mark} *{escape(alert_summary(alert))}*"
    facts = [f"*{alert.severity}*", state]
    if alert.flapping:
        facts.append(f"{FLAPPING_EMOJI} flapping: notifications are held until it settles")
    lines = [head, " · ".join(facts)]
    if alert.values:
        shown = " · ".join(
            f"{escape(k)} `{format_value(v)}`" for k, v in sorted(alert.values.items())
        )
        lines.append(f"*Values:* {shown}")
    runbook = alert.annotations.get("runbook_url", "").strip()
    if runbook:
        lines.append(link(runbook, "📖 Runbook"))
    description = alert.annotations.get("description", "").strip()
    fixed = "\n".join(lines)
    if description:
        room = limit - len(fixed) - 1
        if room > 20:
            lines.insert(2, truncate(escape(description), room))
    return truncate("\n".join(lines), limit)


def _alert_context(alert: Alert) -> str:
    labels = " ".join(f"`{escape(k)}={escape(v)}`" for k, v in display_labels(alert).items())
    silence = f"🔕 silence: `{escape(silence_matchers(alert))}`"
    text = f"rule `{escape(alert.rule)}` {labels} · {silence}"
    return truncate(text, MAX_CONTEXT_ELEMENT)


def _footer(notification: Notification, now: float, external_url: str | None) -> str:
    parts = ["flarewatch"]
    status = joined_link(external_url, "/")
    if status:
        parts.append(link(status, "status page"))
    parts.append(
        f"group `{notification.group_id[:12]}` · id `{notification_id(notification)[:12]}`"
    )
    parts.append(f"decided {iso_time(notification.at)}")
    late = now - notification.at
    if late >= DELAY_NOTE_AFTER:
        parts.append(f"⏱ delivered {format_duration(late)} late")
    return truncate(" · ".join(parts), MAX_CONTEXT_ELEMENT)


def _fallback(title: str, shown: Sequence[tuple[Alert, bool]], hidden: int) -> str:
    lines = [title]
    lines += [f"• {alert_summary(a)}" for a, _ in shown]
    if hidden:
        lines.append(f"…and {hidden} more")
    return truncate("\n".join(lines), MAX_TEXT)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


# --- the Web API's answers (pure) --------------------------------------------------------


def classify_api_error(status: int, error: str, headers: Mapping[str, str], now: float) -> Delivery:
    """What a failed ``chat.postMessage`` means: Slack's ``error`` code decides, the HTTP
    status (429, 5xx) first."""
    detail = f"HTTP {status}: {error}" if error else f"HTTP {status}"
    if status == 429 or status >= 500:
        return classify_status(status, headers, error, now=now)
    if error in TRANSIENT_API_ERRORS:
        return Delivery.retry(Reason.SERVER_ERROR, detail, status=status)
    if error in CONFIG_API_ERRORS:
        return Delivery.retry(Reason.REJECTED, detail, status=status)
    return Delivery.failed(Reason.INVALID, detail, status=status)


class _RedactingFilter(logging.Filter):
    """Scrubs secrets from slack-sdk's log records before any handler sees them."""

    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._secrets.redact(record.getMessage())
        record.args = None
        return True


# --- the notifier ------------------------------------------------------------------------


class SlackNotifier(HttpNotifier):
    """Posts each notification to Slack (incoming webhook or ``chat.postMessage``)."""

    kind = "slack"

    def __init__(self, name: str, config: SlackConfig, context: NotifierContext) -> None:
        super().__init__(name, config, context, Secrets(config.webhook_url, config.bot_token))
        self.config = config
        # slack-sdk logs request URLs at debug level, and an incoming webhook's URL is its
        # secret: give it a logger of its own that never goes below INFO and scrubs secrets.
        self._sdk_logger = logging.getLogger(f"alerting.notifiers.slack.sdk.{name}")
        self._sdk_logger.setLevel(logging.INFO)
        self._sdk_logger.filters = [_RedactingFilter(self._secrets)]
        self._webhook: AsyncWebhookClient | None = None
        self._web: AsyncWebClient | None = None

    def _handlers(self) -> list[AsyncRetryHandler]:
        from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler

        from alerting.notifiers.slack_client import ShortRateLimitRetry

        return [
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            ShortRateLimitRetry(self.config.inline_retry_max),
        ]

    def _webhook_client(self) -> AsyncWebhookClient:
        from slack_sdk.webhook.async_client import AsyncWebhookClient

        session = self._http()
        if self._webhook is None or self._webhook.session is not session:
            assert self.config.webhook_url is not None
            self._webhook = AsyncWebhookClient(
                self.config.webhook_url.get_secret_value(),
                timeout=int(self.config.timeout),
                session=session,
                logger=self._sdk_logger,
                retry_handlers=self._handlers(),
                user_agent_prefix="flarewatch",
            )
        return self._webhook

    def _web_client(self) -> AsyncWebClient:
        from slack_sdk.web.async_client import AsyncWebClient

        session = self._http()
        if self._web is None or self._web.session is not session:
            assert self.config.bot_token is not None
            self._web = AsyncWebClient(
                token=self.config.bot_token.get_secret_value(),
                base_url=self.config.api_url,
                timeout=int(self.config.timeout),
                session=session,
                logger=self._sdk_logger,
                retry_handlers=self._handlers(),
                user_agent_prefix="flarewatch",
            )
        return self._web

    def message(self, notification: Notification) -> SlackMessage:
        """The message this notifier would post for ``notification`` now."""
        return build_message(
            notification,
            now=self._now(),
            external_url=self._context.external_url,
            max_alerts=self.config.max_alerts,
            send_resolved=self.config.send_resolved,
        )

    async def send(self, notification: Notification) -> Delivery:
        """Post the notification's message once."""
        if not notification.firing and not self.config.send_resolved:
            return Delivery.skipped("only resolved alerts, and send_resolved is off")
        if lists_nothing(notification):
            return Delivery.skipped(EMPTY_HANDOVER)
        body = self.message(notification).body()
        if self.config.webhook_url is not None:
            return await self._guard(lambda: self._post_webhook(body))
        return await self._guard(lambda: self._post_message(body))

    async def _post_webhook(self, body: dict[str, Any]) -> Delivery:
        response = await self._webhook_client().send_dict(body)
        return classify_status(
            response.status_code, dict(response.headers), response.body or "", now=self._now()
        )

    async def _post_message(self, body: dict[str, Any]) -> Delivery:
        from slack_sdk.errors import SlackApiError

        assert self.config.channel is not None
        try:
            response = await self._web_client().chat_postMessage(
                channel=self.config.channel,
                text=body["text"],
                blocks=body["blocks"],
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as error:
            # Usually a SlackResponse; for an undecodable body slack-sdk passes the raw
            # aiohttp response instead, hence the defensive reads.
            answer = error.response
            status = getattr(answer, "status_code", None) or getattr(answer, "status", None) or 0
            data = getattr(answer, "data", None)
            code = str(data.get("error", "")) if isinstance(data, dict) else "unreadable answer"
            raw_headers = getattr(answer, "headers", None) or {}
            headers = {str(k): str(v) for k, v in dict(raw_headers).items()}
            return classify_api_error(int(status), code, headers, self._now())
        return Delivery.delivered(f"HTTP {response.status_code}", response.status_code)
