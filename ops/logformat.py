"""How log rows, notices and traces look on a terminal and as JSON lines (pure).

Human output is one line per event — time, level, ``kind/service``, request (method, URL,
status), outcome when it is not ``ok``, latency, colo, ray id and trace id — followed by its
console lines and exceptions indented beneath it, stack frames one step further::

    12:00:01.234 ERROR worker/api GET https://api.spacevision.app/health 503 SJC ray …
        error  health check failed D1_ERROR: Network connection lost.
        Error: x is undefined
            at handleRequest (index.js:42:11)

Colour (ANSI, through click's ``style``) is on only when asked for; ``--json`` gives one
JSON object per line: ``{"type": "event", …}`` or ``{"type": "notice", …}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

import click

from ops.logevents import GapRecord, Level, LogRow, Notice

INDENT = "    "
_LEVEL_STYLE: dict[Level, dict[str, Any]] = {
    Level.DEBUG: {"dim": True},
    Level.INFO: {"fg": "green"},
    Level.WARN: {"fg": "yellow", "bold": True},
    Level.ERROR: {"fg": "red", "bold": True},
}
_CONSOLE_STYLE: dict[str, dict[str, Any]] = {
    "debug": {"dim": True},
    "warn": {"fg": "yellow"},
    "warning": {"fg": "yellow"},
    "error": {"fg": "red"},
}


def _style(text: str, color: bool, **styles: Any) -> str:
    return click.style(text, **styles) if color and styles else text


def format_time(ts_ms: int, tz: tzinfo | None = UTC, *, date: bool = True) -> str:
    """``2026-11-27 12:00:01.234`` (or only the time) in ``tz`` (``None``: local time)."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz or UTC)
    if tz is None:
        moment = moment.astimezone()
    text = moment.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")
    return f"{text}.{ts_ms % 1000:03d}"


def iso_time(ts_ms: int) -> str:
    """RFC 3339 UTC with milliseconds: ``2026-11-27T12:00:01.234Z``."""
    moment = datetime.fromtimestamp(ts_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ts_ms % 1000:03d}Z"


def format_ms(value: float) -> str:
    """A duration for people: ``850 µs``, ``12 ms``, ``1.25 s``."""
    if value < 1:
        return f"{value * 1000:.0f} µs"
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.2f} s"


def _status(status: int | None, color: bool) -> str:
    if status is None:
        return ""
    fg = "red" if status >= 500 else "yellow" if status >= 400 else "green"
    return _style(str(status), color, fg=fg)


def source_label(row: LogRow) -> str:
    """``worker/api``, ``pages/spacevision-web``, ``probe/api-health``."""
    return f"{row.kind}/{row.service}"


def headline(
    row: LogRow, *, color: bool = False, tz: tzinfo | None = UTC, date: bool = True
) -> str:
    """The event's one line: time, level, source, request, status, outcome, context."""
    level = _style(f"{row.level.label.upper():<5}", color, **_LEVEL_STYLE[row.level])
    parts = [
        format_time(row.ts_ms, tz, date=date),
        level,
        _style(source_label(row), color, fg="cyan"),
    ]
    if row.method or row.url:
        parts.append(" ".join(p for p in (row.method, row.url) if p))
    if row.status is not None:
        parts.append(_status(row.status, color))
    if row.outcome and row.outcome != "ok":
        parts.append(_style(row.outcome, color, fg="red" if row.level >= Level.ERROR else "yellow"))
    if row.duration_ms is not None:
        parts.append(format_ms(row.duration_ms))
    context = []
    if row.colo:
        context.append(row.colo)
    if row.ray_id:
        context.append(f"ray {row.ray_id}")
    if row.trace_id and row.trace_id != row.ray_id:
        context.append(f"trace {row.trace_id}")
    if context:
        parts.append(_style("  ".join(context), color, dim=True))
    if row.kind == "probe" and row.message:
        parts.append(row.message)
    return " ".join(p for p in parts if p)


def detail_lines(row: LogRow, *, color: bool = False) -> list[str]:
    """The console lines and exceptions under the headline, indented (stacks further)."""
    lines: list[str] = []
    for log in row.logs:
        label = _style(f"{log.level:<5}", color, **_CONSOLE_STYLE.get(log.level, {"dim": True}))
        text = log.text.replace("\n", "\n" + INDENT + " " * 7)
        lines.append(f"{INDENT}{label}  {text}")
    for exc in row.exceptions:
        lines.append(INDENT + _style(exc.title or "exception", color, fg="red", bold=True))
        stack = exc.stack.splitlines()
        if stack and stack[0].strip() == exc.title:
            stack = stack[1:]
        for frame in stack:
            lines.append(INDENT * 2 + _style(frame.strip(), color, dim=True))
    return lines


def format_row(
    row: LogRow, *, color: bool = False, tz: tzinfo | None = UTC, date: bool = True
) -> str:
    """The headline and its indented details, joined by newlines."""
    return "\n".join(
        [headline(row, color=color, tz=tz, date=date), *detail_lines(row, color=color)]
    )


def format_notice(
    notice: Notice, *, color: bool = False, tz: tzinfo | None = UTC, date: bool = True
) -> str:
    """A notice line, marked so it cannot be mistaken for an event."""
    when = f"{format_time(notice.at_ms, tz, date=date)} " if notice.at_ms is not None else ""
    style: dict[str, Any] = {"fg": "magenta", "bold": True}
    if notice.kind in ("started", "sampling_stop", "switched"):
        style = {"fg": "blue"}
    return _style(f"-- {when}{notice.message}", color, **style)


def gap_notice(gap: GapRecord) -> Notice:
    """A stored gap as a notice (for ``logs query``)."""
    seconds = (gap.end_ms - gap.start_ms) / 1000
    return Notice(
        kind="gap",
        message=(
            f"gap: events of {gap.kind}/{gap.service} between {iso_time(gap.start_ms)} and "
            f"{iso_time(gap.end_ms)} ({seconds:.1f} s) may be missing ({gap.reason})"
        ),
        service=gap.service,
        source=gap.kind,
        at_ms=gap.start_ms,
        start_ms=gap.start_ms,
        end_ms=gap.end_ms,
        reason=gap.reason,
    )


def row_dict(row: LogRow) -> dict[str, Any]:
    """The ``--json`` object of an event (``event`` is the original, when kept)."""
    return {
        "type": "event",
        "time": iso_time(row.ts_ms),
        "ts_ms": row.ts_ms,
        "kind": row.kind,
        "service": row.service,
        "level": row.level.label,
        "script": row.script,
        "version": row.version or None,
        "outcome": row.outcome or None,
        "method": row.method or None,
        "url": row.url or None,
        "path": row.path or None,
        "status": row.status,
        "colo": row.colo or None,
        "ray_id": row.ray_id or None,
        "trace_id": row.trace_id or None,
        "trace_source": row.trace_source or None,
        "duration_ms": row.duration_ms,
        "message": row.message,
        "logs": [{"level": c.level, "message": c.text, "ts_ms": c.ts_ms} for c in row.logs],
        "exceptions": [
            {"name": e.name, "message": e.message, "stack": e.stack, "ts_ms": e.ts_ms}
            for e in row.exceptions
        ],
        "event": row.raw,
    }


def notice_dict(notice: Notice) -> dict[str, Any]:
    """The ``--json`` object of a notice."""
    return {
        "type": "notice",
        "notice": notice.kind,
        "message": notice.message,
        "service": notice.service or None,
        "kind": notice.source,
        "time": iso_time(notice.at_ms) if notice.at_ms is not None else None,
        "start": iso_time(notice.start_ms) if notice.start_ms is not None else None,
        "end": iso_time(notice.end_ms) if notice.end_ms is not None else None,
        "reason": notice.reason or None,
    }


def json_line(item: LogRow | Notice) -> str:
    """One compact JSON line for an event or a notice."""
    data = notice_dict(item) if isinstance(item, Notice) else row_dict(item)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def trace_summary(trace_id: str, rows: Sequence[LogRow]) -> str:
    """``trace <id>: 3 events from 3 sources over 212 ms (worker/api, …)``."""
    if not rows:
        return f"trace {trace_id}: no events"
    sources = list(dict.fromkeys(source_label(r) for r in rows))
    span = rows[-1].ts_ms - rows[0].ts_ms
    noun = "event" if len(rows) == 1 else "events"
    src = "source" if len(sources) == 1 else "sources"
    return (
        f"trace {trace_id}: {len(rows)} {noun} from {len(sources)} {src} over "
        f"{format_ms(span)} ({', '.join(sources)})"
    )


def format_trace(
    trace_id: str, rows: Sequence[LogRow], *, color: bool = False, tz: tzinfo | None = UTC
) -> str:
    """A trace: the summary, then each event with its offset from the first, in time order.

    Each line shows ``+offset``, level, source, request and status, and the event's own
    latency when known (a probe's measured latency, a Worker's wall time).
    """
    if not rows:
        return trace_summary(trace_id, rows)
    ordered = sorted(rows, key=lambda r: r.ts_ms)
    start = ordered[0].ts_ms
    width = max(len(source_label(r)) for r in ordered)
    lines = [trace_summary(trace_id, ordered), f"  started {format_time(start, tz)}"]
    for row in ordered:
        offset = f"+{format_ms(row.ts_ms - start) if row.ts_ms > start else '0 ms'}"
        level = _style(f"{row.level.label.upper():<5}", color, **_LEVEL_STYLE[row.level])
        label = _style(f"{source_label(row):<{width}}", color, fg="cyan")
        request = " ".join(p for p in (row.method, row.url) if p)
        status = _status(row.status, color)
        latency = f"latency {format_ms(row.duration_ms)}" if row.duration_ms is not None else ""
        outcome = row.outcome if row.outcome and row.outcome != "ok" else ""
        rest = " ".join(p for p in (request, status, outcome, latency) if p)
        lines.append(f"  {offset:>9}  {level} {label}  {rest}".rstrip())
        if row.kind == "probe" and row.message:
            lines.append(f"{' ' * 11}{INDENT}{row.message}")
        lines += [" " * 11 + line for line in detail_lines(row, color=color)]
    return "\n".join(lines)
