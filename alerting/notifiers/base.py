"""What every notifier shares: the protocol, the typed outcome of a delivery, error
classification, secret redaction, common config and the wording of alerts.

A notifier turns one grouped :class:`~alerting.grouping.Notification` into one or more requests
to a receiver (Slack, PagerDuty, a webhook, Alertmanager) and says how it went with a
:class:`Delivery`: delivered, retry (after ``N`` seconds if the receiver said so) or failed for
good. It never raises for a receiver's answer or a network fault, never sleeps on a long
``Retry-After`` (the outbox schedules the retry, persistently) and never lets a secret reach a
log line, an error text or a ``repr``. The outbox (:mod:`alerting.outbox`) owns retries,
ordering and persistence; a notifier owns one attempt. docs/notifiers.md is the user guide.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, SecretStr

from alerting.grouping import Notification
from alerting.lifecycle import Alert
from alerting.model import SEVERITIES, Severity
from alerting.rules import Duration
from cfapi.headers import parse_retry_after

# --- the outcome of one attempt --------------------------------------------------------


class Outcome(StrEnum):
    """How one delivery attempt ended."""

    DELIVERED = "delivered"
    """The receiver accepted the notification (or there was nothing to send)."""
    RETRY = "retry"
    """A transient failure: try again later (``retry_after`` seconds if the receiver said)."""
    FAILED = "failed"
    """The receiver will never accept this notification: dead-letter it."""


class Reason(StrEnum):
    """Why an attempt ended as it did: a bounded set, fit for metric labels and log keys."""

    OK = "ok"
    SKIPPED = "skipped"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    REJECTED = "rejected"
    """The receiver refused the credentials or the destination (401, 403, 404, 410): likely
    a configuration problem the operator can fix, so it is retried until the outbox gives up."""
    INVALID = "invalid"
    """The receiver refused this payload (400, 413, 422): it will never be accepted."""
    CLIENT_ERROR = "client_error"
    IO_ERROR = "io_error"
    """A local write failed (the console notifier's file)."""
    NOTIFIER_ERROR = "notifier_error"


@dataclass(frozen=True)
class Delivery:
    """The typed outcome of one attempt to deliver a notification.

    ``retry_after``: seconds the receiver asked to wait (``Retry-After``), for ``RETRY`` only;
    ``None`` lets the outbox's backoff decide. ``status``: the HTTP status when there was one.
    ``detail``: a short human text, free of secrets (notifiers redact it), for logs and the
    dead-letter record.
    """

    outcome: Outcome
    reason: Reason
    detail: str = ""
    retry_after: float | None = None
    status: int | None = None

    @classmethod
    def delivered(cls, detail: str = "", status: int | None = None) -> Delivery:
        """The receiver accepted it."""
        return cls(Outcome.DELIVERED, Reason.OK, detail, status=status)

    @classmethod
    def skipped(cls, detail: str) -> Delivery:
        """Nothing to send to this receiver (for example a resolve with ``send_resolved`` off);
        it counts as delivered."""
        return cls(Outcome.DELIVERED, Reason.SKIPPED, detail)

    @classmethod
    def retry(
        cls,
        reason: Reason,
        detail: str = "",
        *,
        after: float | None = None,
        status: int | None = None,
    ) -> Delivery:
        """A transient failure; ``after`` is the receiver's ``Retry-After`` when it sent one."""
        return cls(Outcome.RETRY, reason, detail, retry_after=after, status=status)

    @classmethod
    def failed(cls, reason: Reason, detail: str = "", *, status: int | None = None) -> Delivery:
        """A permanent failure: this notification can never be delivered."""
        return cls(Outcome.FAILED, reason, detail, status=status)

    @property
    def ok(self) -> bool:
        """Whether the notification is done with (delivered or skipped)."""
        return self.outcome is Outcome.DELIVERED


def classify_status(
    status: int, headers: Mapping[str, str], body: str = "", *, now: float | None = None
) -> Delivery:
    """What an HTTP answer means for a delivery (pure).

    ======================  =========  =============================================
    status                  outcome    why
    ======================  =========  =============================================
    2xx                     delivered
    429                     retry      rate limited; ``Retry-After`` honoured
    408, 425, 5xx           retry      the receiver is struggling: back off
    401, 403, 404, 407,     retry      credentials or destination refused: usually a
    410                                config mistake the operator can fix in time, so
                                       the notification is kept until the outbox gives up
    400, 413, 422, other    failed     this payload will never be accepted
    4xx
    ======================  =========  =============================================

    ``body`` (the receiver's answer, e.g. Slack's ``invalid_blocks``) goes into the detail,
    shortened; it is the receiver's text, never ours, so holds no secret of ours.
    """
    said = _short(body)
    detail = f"HTTP {status}" + (f": {said}" if said else "")
    if 200 <= status < 300:
        return Delivery.delivered(detail, status)
    if status == 429:
        wall = time.time() if now is None else now
        after = parse_retry_after(_header(headers, "Retry-After"), wall)
        return Delivery.retry(Reason.RATE_LIMITED, detail, after=after, status=status)
    if status in (408, 425) or status >= 500:
        wall = time.time() if now is None else now
        after = parse_retry_after(_header(headers, "Retry-After"), wall)
        return Delivery.retry(Reason.SERVER_ERROR, detail, after=after, status=status)
    if status in (401, 403, 404, 407, 410):
        return Delivery.retry(Reason.REJECTED, detail, status=status)
    if status in (400, 413, 422):
        return Delivery.failed(Reason.INVALID, detail, status=status)
    return Delivery.failed(Reason.CLIENT_ERROR, detail, status=status)


def classify_exception(error: BaseException) -> Delivery:
    """What a failure to get an answer means: timeouts and connection faults are retried.

    The detail names the exception type and its text; callers pass the result through
    :meth:`Secrets.redact` since library messages can hold a URL.
    """
    detail = f"{type(error).__name__}: {error}".rstrip(": ")
    if isinstance(error, TimeoutError | aiohttp.ServerTimeoutError):
        return Delivery.retry(Reason.TIMEOUT, detail)
    if isinstance(error, aiohttp.ClientError | OSError):
        return Delivery.retry(Reason.CONNECTION, detail)
    return Delivery.retry(Reason.NOTIFIER_ERROR, detail)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _short(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- secrets ---------------------------------------------------------------------------


class Secrets:
    """The secret values one notifier holds, to scrub them from any text it produces.

    Library errors sometimes quote the URL they failed on; for a Slack incoming webhook the
    URL *is* the credential. Every detail a notifier returns or logs goes through
    :meth:`redact`. Secrets shorter than 6 characters are not scrubbed (they would scrub
    ordinary words) — such values are refused by the config models anyway.
    """

    REDACTED = "***"

    def __init__(self, *values: SecretStr | None) -> None:
        plain = {v.get_secret_value() for v in values if v is not None}
        # Longest first, so a URL is scrubbed whole before a token inside it.
        self._values = sorted((v for v in plain if len(v) >= 6), key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every secret value (and its URL path, for URLs) replaced by ``***``."""
        for value in self._values:
            text = text.replace(value, self.REDACTED)
            parts = urlsplit(value) if "://" in value else None
            if parts is not None and len(parts.path) >= 6:
                text = text.replace(parts.path, "/" + self.REDACTED)
            if parts is not None and len(parts.query) >= 6:
                text = text.replace(parts.query, self.REDACTED)
        return text

    def __repr__(self) -> str:
        """Never the values."""
        return f"Secrets({len(self._values)} redacted)"


def url_host(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what may be shown of a secret URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def check_http_url(url: str, what: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host; else a ``ValueError`` that does
    not quote it (it may be a secret)."""
    try:
        parts = urlsplit(url.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise ValueError(f"{what} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError(f"{what} must be an absolute http:// or https:// URL with a host")
    return url.strip()


# --- the protocol ----------------------------------------------------------------------


@runtime_checkable
class Notifier(Protocol):
    """Delivers notifications to one receiver.

    ``send`` makes one attempt and reports it; it must not raise for anything the receiver or
    the network does. It may be called again with the same notification after a retry or a
    restart (at-least-once): receivers that can deduplicate are given stable keys.
    """

    name: str
    """The receiver's name in the config (routes name it in ``receivers``)."""

    async def send(self, notification: Notification) -> Delivery:
        """Try once to deliver ``notification`` and say how it went."""
        ...

    async def close(self) -> None:
        """Release connections; the notifier is not used afterwards."""
        ...


@runtime_checkable
class PeriodicNotifier(Notifier, Protocol):
    """A notifier that also has work of its own between notifications (Alertmanager resends
    its active alerts). The outbox's worker for the receiver calls :meth:`tick` when
    :meth:`next_tick` is due, between deliveries, so the receiver never sees two requests
    from flarewatch at once."""

    def next_tick(self) -> float | None:
        """The epoch time the next tick is due, or ``None`` when nothing needs doing."""
        ...

    async def tick(self) -> Delivery:
        """Do the periodic work once."""
        ...


class NotifierState(Protocol):
    """A small JSON document a notifier keeps across restarts (the outbox stores it).

    :meth:`save` is durable when it returns.
    """

    async def load(self) -> dict[str, Any]:
        """The document last saved, or ``{}``."""
        ...

    async def save(self, document: Mapping[str, Any]) -> None:
        """Replace the document."""
        ...


class MemoryState:
    """A :class:`NotifierState` that lives as long as the process (for tests and tools)."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {}

    async def load(self) -> dict[str, Any]:
        """A copy of the document."""
        return dict(self.document)

    async def save(self, document: Mapping[str, Any]) -> None:
        """Keep a copy of the document."""
        self.document = dict(document)


@dataclass(frozen=True)
class NotifierContext:
    """What the daemon gives every notifier besides its own config.

    ``external_url``: flarewatch's own base URL as users reach it (status page and API), for
    links in messages; ``None`` leaves the links out. ``clock``: epoch seconds (injected in
    tests). ``state``: persistent storage for notifiers that need it (the outbox's
    :meth:`~alerting.outbox.Outbox.state`); without it they keep state in memory only.
    """

    external_url: str | None = None
    clock: Callable[[], float] = time.time
    state: NotifierState | None = None
    session_factory: Callable[[aiohttp.ClientTimeout], aiohttp.ClientSession] | None = field(
        default=None, repr=False
    )
    """Builds the HTTP session (tests may route or instrument it); default: a plain
    :class:`aiohttp.ClientSession` with the notifier's timeout."""


class NotifierSettings(BaseModel):
    """What every notifier's config has. Input values never appear in validation errors
    (``hide_input_in_errors``): some of them are secrets."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    send_resolved: bool = True
    """Whether resolved alerts are sent (a notification with only resolves is skipped when
    off)."""
    timeout: Duration = 10.0
    """How long one request may take, in total."""


class HttpNotifier:
    """Shared plumbing for notifiers that speak HTTP with aiohttp: one session, created on
    first use inside the running loop, with the configured timeout; secrets to redact."""

    kind = "http"

    def __init__(
        self,
        name: str,
        settings: NotifierSettings,
        context: NotifierContext,
        secrets: Secrets,
    ) -> None:
        self.name = name
        self._settings = settings
        self._context = context
        self._secrets = secrets
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        """The receiver's name and kind, never its secrets."""
        return f"{type(self).__name__}(name={self.name!r})"

    def _now(self) -> float:
        return self._context.clock()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self._settings.timeout)
            factory = self._context.session_factory
            self._session = factory(timeout) if factory else aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def _guard(self, attempt: Callable[[], Awaitable[Delivery]]) -> Delivery:
        """Run one attempt, turning any exception into a retry, and scrub every detail."""
        try:
            delivery = await attempt()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the crash barrier: a notifier never raises
            delivery = classify_exception(error)
        if delivery.detail:
            return Delivery(
                delivery.outcome,
                delivery.reason,
                self._secrets.redact(delivery.detail),
                delivery.retry_after,
                delivery.status,
            )
        return delivery

    async def _post_json(
        self, url: str, payload: Any, headers: Mapping[str, str] | None = None
    ) -> Delivery:
        """POST ``payload`` as JSON and classify the answer."""
        return await self._post_body(url, json_bytes(payload), headers)

    async def _post_body(
        self, url: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> Delivery:
        """POST a JSON body (already encoded) and classify the answer."""
        sent = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
        async with self._http().post(url, data=body, headers=sent) as response:
            text = await response.text(errors="replace")
            return classify_status(response.status, dict(response.headers), text, now=self._now())


USER_AGENT = "flarewatch-notifier"


def json_bytes(payload: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# --- what a notification says ----------------------------------------------------------


def notification_id(notification: Notification) -> str:
    """A stable id for one notification (32 hex digits): the same across retries and
    restarts, different for every message of a group. Receivers that deduplicate use it."""
    material = f"{notification.group_key}\x00{notification.at!r}\x00{notification.reminder}"
    if notification.handover:  # a reload's handover and a flush of the group in one round
        material += "\x00handover"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def notification_status(notification: Notification) -> str:
    """``firing`` when any alert fires, else ``resolved`` (Alertmanager's group status)."""
    return "firing" if notification.firing else "resolved"


def severity_rank(severity: Severity) -> int:
    """0 for info, 1 for warning, 2 for critical: to find a group's worst."""
    return SEVERITIES.index(severity)


def alert_summary(alert: Alert) -> str:
    """The alert's one-line summary: its ``summary`` annotation, else rule and probe."""
    summary = alert.annotations.get("summary", "").strip()
    if summary:
        return summary
    probe = alert.labels.get("probe")
    return f"{alert.rule} on {probe}" if probe else alert.rule


HANDOVER_WORD = "no longer routed here after a configuration reload"
"""How a handover (:attr:`alerting.grouping.Notification.handover`) words its alerts."""


def resolved_word(alert: Alert, *, handover: bool = False) -> str:
    """How a resolved alert ended: ``resolved``, ``no data`` when its probe stopped
    reporting (reason ``stale``) — nobody saw it recover — or, in a reload's handover,
    :data:`HANDOVER_WORD` (the alert may still fire; other receivers hear of it now)."""
    if handover:
        return HANDOVER_WORD
    return "no data" if alert.resolved_reason == "stale" else "resolved"


def lists_nothing(notification: Notification) -> bool:
    """A handover that only closes a group for group-keyed receivers (no alert listed)."""
    return not notification.firing and not notification.resolved


EMPTY_HANDOVER = "a reload moved every alert of this group to another group of this receiver"
"""Why a notifier that keys by alert skips a handover that lists nothing."""


def firing_for(alert: Alert, now: float) -> float:
    """Seconds the alert has been firing (this cycle)."""
    since = alert.firing_since if alert.firing_since is not None else alert.active_since
    return max(0.0, now - since)


def display_labels(alert: Alert) -> dict[str, str]:
    """The labels worth showing a person: every label but ``needs_api`` (an inhibition
    marker), sorted; ``rule`` and ``severity`` are shown separately."""
    return {k: alert.labels[k] for k in sorted(alert.labels) if k != "needs_api"}


def silence_matchers(alert: Alert) -> str:
    """Matchers that silence exactly this alert (rule and probe, or rule and labels), in the
    syntax ``flarewatch silence add`` and ``/api/v1/silences`` accept."""
    labels = alert.labels
    keys = ["probe"] if "probe" in labels else sorted(k for k in labels if k != "needs_api")
    pairs = [f'rule="{_quote(alert.rule)}"'] + [f'{k}="{_quote(labels[k])}"' for k in keys]
    return ", ".join(pairs)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """A named value for people: integers without a fraction, others with 4 significant
    digits (``0.07123`` → ``0.07123``, ``1234.5678`` → ``1235``)."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def format_duration(seconds: float) -> str:
    """``45s``, ``12m``, ``3h 5m``, ``2d 4h``: the two largest units."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, total = divmod(total, size)
        if count or parts:
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    return " ".join(p for p in parts if not p.startswith("0")) or "0m"


def iso_time(epoch: float) -> str:
    """RFC 3339 in UTC with milliseconds (``2026-01-01T12:00:00.000Z``)."""
    stamp = datetime.fromtimestamp(epoch, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """``text`` cut to at most ``limit`` characters, ending with ``marker`` when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


def joined_link(base: str | None, path: str) -> str | None:
    """``base`` + ``path`` without a doubled slash, or ``None`` without a base."""
    if not base:
        return None
    return base.rstrip("/") + "/" + path.lstrip("/")
