"""What a tail stream yields: parsed ``trace-v1`` messages, gaps and sampling notices (pure).

Each WebSocket message is one JSON ``TailEventMessage`` [V: wrangler ``tail/printing.ts``]:
``outcome``, ``scriptName``, ``eventTimestamp`` (epoch ms), ``exceptions[]``, ``logs[]``
(``message`` is an array) and ``event``, whose shape says what triggered the invocation
(HTTP request, cron, alarm, email, queue, RPC, tail) — or an info event
``{message, type: "overload"|"overload-stop"}`` when the tail enters or leaves sampling mode.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

from cfapi.models import CfModel

EventKind = Literal[
    "request", "cron", "alarm", "email", "queue", "rpc", "tail", "info", "unknown", "none"
]
GapReason = Literal["reconnect", "renewal"]


def _ms_to_datetime(ms: float | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000.0, UTC)


class TailException(CfModel):
    """An exception thrown by the invocation."""

    name: str | None = None
    message: str | None = None
    timestamp: float | None = None
    stack: str | None = None


class TailLog(CfModel):
    """One ``console.*`` call: its level and arguments."""

    level: str | None = None
    message: list[Any] = Field(default_factory=list)
    timestamp: float | None = None

    @property
    def text(self) -> str:
        """The arguments joined the way a console prints them."""
        return " ".join(m if isinstance(m, str) else json.dumps(m) for m in self.message)


class TailRequest(CfModel):
    """The HTTP request that triggered a fetch invocation."""

    url: str | None = None
    method: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    cf: dict[str, Any] | None = None


class TailEvent(CfModel):
    """One invocation of a Worker (or Pages Function), as the tail reports it."""

    outcome: str | None = None
    script_name: str | None = Field(default=None, alias="scriptName")
    script_version: dict[str, Any] | None = Field(default=None, alias="scriptVersion")
    entrypoint: str | None = None
    event_timestamp: float | None = Field(default=None, alias="eventTimestamp")
    exceptions: list[TailException] = Field(default_factory=list)
    logs: list[TailLog] = Field(default_factory=list)
    event: dict[str, Any] | None = None

    @property
    def timestamp(self) -> datetime | None:
        """When the invocation started (UTC)."""
        return _ms_to_datetime(self.event_timestamp)

    @property
    def failed(self) -> bool:
        """Whether the invocation did not end ``ok``."""
        return self.outcome not in (None, "ok")

    @property
    def kind(self) -> EventKind:
        """What triggered the invocation, from the shape of ``event``."""
        return event_kind(self.event)

    @property
    def request(self) -> TailRequest | None:
        """The triggering HTTP request, for fetch invocations."""
        if self.event is None or not isinstance(self.event.get("request"), Mapping):
            return None
        return TailRequest.model_validate(self.event["request"])

    @property
    def status(self) -> int | None:
        """The response status, when the tail reports one."""
        response = (self.event or {}).get("response")
        status = response.get("status") if isinstance(response, Mapping) else None
        return status if isinstance(status, int) else None


@dataclass(frozen=True)
class TailGap:
    """Events may have been missed between ``start`` and ``end`` (UTC), and why."""

    start: datetime
    end: datetime
    reason: GapReason

    @property
    def seconds(self) -> float:
        """How long the gap lasted."""
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class TailSampling:
    """The tail entered (``active``) or left sampling mode: events are being dropped."""

    active: bool
    message: str
    at: datetime | None


TailItem = TailEvent | TailGap | TailSampling


def event_kind(event: Mapping[str, Any] | None) -> EventKind:
    """Classify an ``event`` object by its fields (wrangler's printing.ts does the same)."""
    if event is None:
        return "none"
    if "request" in event:
        return "request"
    if "cron" in event:
        return "cron"
    if "mailFrom" in event:
        return "email"
    if "queue" in event:
        return "queue"
    if "rpcMethod" in event:
        return "rpc"
    if "consumedEvents" in event:
        return "tail"
    if event.get("type") in ("overload", "overload-stop") and "message" in event:
        return "info"
    if "scheduledTime" in event:
        return "alarm"
    return "unknown"


class TailMessageError(ValueError):
    """A tail message that is not a ``TailEventMessage``."""


def parse_tail_message(data: str | bytes) -> TailEvent | TailSampling:
    """Parse one WebSocket message: an invocation, or a sampling-mode notice."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise TailMessageError(f"not JSON: {err}") from err
    if not isinstance(raw, Mapping):
        raise TailMessageError("not a JSON object")
    try:
        parsed = TailEvent.model_validate(raw)
    except ValidationError as err:
        raise TailMessageError(f"not a tail event: {err.error_count()} invalid fields") from err
    if parsed.kind == "info" and parsed.event is not None:
        return TailSampling(
            active=parsed.event.get("type") == "overload",
            message=str(parsed.event.get("message", "")),
            at=parsed.timestamp,
        )
    return parsed
