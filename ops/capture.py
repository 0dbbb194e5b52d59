"""Error capture (Req 2.4, 5.2): tail a Worker for a bounded time and keep its first exceptions.

The daemon calls :func:`capture_exceptions` when a Worker's error rule fires, and attaches
the result (name, message, stack, request) to the alert's notification. The tail asks
Cloudflare only for failed invocations (``outcome`` exception / exceeded CPU / exceeded
memory), so a busy Worker does not push the tail into sampling mode, and it is deleted
when the capture ends — including when the calling task is cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cfapi.tail_events import TailEvent
from ops.logevents import ConsoleLine, LogRow, TraceConfig, normalise_tail_event

if TYPE_CHECKING:
    from cfapi.client import CloudflareClient

CAPTURE_OUTCOMES = ("exception", "exceededCpu", "exceededMemory")
_OUTCOME_TEXT = {
    "exceededCpu": "the invocation exceeded its CPU time limit",
    "exceededMemory": "the invocation exceeded its memory limit",
    "exception": "the invocation threw",
}


@dataclass(frozen=True, slots=True)
class CapturedException:
    """One exception a Worker threw, with the request that triggered it."""

    name: str
    message: str
    stack: str
    ts_ms: int
    script: str
    outcome: str
    method: str = ""
    url: str = ""
    status: int | None = None
    colo: str = ""
    ray_id: str = ""
    trace_id: str = ""
    logs: tuple[ConsoleLine, ...] = ()

    @property
    def title(self) -> str:
        """``TypeError: x is undefined``."""
        return f"{self.name}: {self.message}" if self.message else self.name

    @property
    def request(self) -> str:
        """``GET https://api.example.com/v1/x → 500`` (empty for non-HTTP invocations)."""
        text = " ".join(p for p in (self.method, self.url) if p)
        if self.status is not None:
            text = f"{text} → {self.status}" if text else str(self.status)
        return text

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form for notification payloads."""
        return {
            "name": self.name,
            "message": self.message,
            "stack": self.stack,
            "ts_ms": self.ts_ms,
            "script": self.script,
            "outcome": self.outcome,
            "request": {
                "method": self.method or None,
                "url": self.url or None,
                "status": self.status,
                "colo": self.colo or None,
                "ray_id": self.ray_id or None,
            },
            "trace_id": self.trace_id or None,
            "logs": [{"level": c.level, "message": c.text} for c in self.logs],
        }


def captured_from(row: LogRow) -> list[CapturedException]:
    """The exceptions of one failed invocation (pure).

    An invocation that failed without an exception object (exceeded CPU or memory) still
    yields one entry, named after its outcome.
    """
    common: dict[str, Any] = {
        "script": row.script or row.service,
        "outcome": row.outcome,
        "method": row.method,
        "url": row.url,
        "status": row.status,
        "colo": row.colo,
        "ray_id": row.ray_id,
        "trace_id": row.trace_id,
        "logs": row.logs,
    }
    if row.exceptions:
        return [
            CapturedException(
                name=e.name or "Error",
                message=e.message,
                stack=e.stack,
                ts_ms=e.ts_ms if e.ts_ms is not None else row.ts_ms,
                **common,
            )
            for e in row.exceptions
        ]
    if row.outcome and row.outcome != "ok":
        text = _OUTCOME_TEXT.get(row.outcome, f"the invocation ended with {row.outcome}")
        return [CapturedException(row.outcome, text, "", row.ts_ms, **common)]
    return []


async def capture_exceptions(
    cf: CloudflareClient,
    account_id: str,
    script: str,
    duration_s: float,
    limit: int,
    *,
    trace: TraceConfig | None = None,
    clock: Callable[[], float] = time.time,
) -> list[CapturedException]:
    """Tail ``script`` for at most ``duration_s`` and return its first ``limit`` exceptions.

    Returns early once ``limit`` are captured; an empty list means nothing failed in that
    time. Raises :class:`cfapi.errors.TailLimitReached` when the Worker already has 10
    tails, and other :class:`cfapi.errors.CloudflareError` when the tail cannot start. The
    tail is deleted on return, on error and on cancellation.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    found: list[CapturedException] = []
    stream = cf.tails.worker(account_id, script, [{"outcome": list(CAPTURE_OUTCOMES)}])
    async with stream:
        try:
            async with asyncio.timeout(duration_s):
                async for item in stream:
                    if not isinstance(item, TailEvent):
                        continue
                    row = normalise_tail_event(
                        item,
                        kind="worker",
                        service=script,
                        now_ms=int(clock() * 1000),
                        trace=trace,
                    )
                    found.extend(captured_from(row))
                    if len(found) >= limit:
                        break
        except TimeoutError:
            pass
    return found[:limit]
