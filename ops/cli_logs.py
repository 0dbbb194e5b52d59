"""``flarewatch logs``: live tails of Workers and Pages, the local log store, trace lookup.

Imported by ``monitor.cli`` at start-up, so this module stays cheap: the Cloudflare client,
aiohttp, SQLite and the formatters are imported inside the commands that use them.

Exit codes: 0 ok (a tail stopped with Ctrl-C or SIGTERM is ok), 1 the stream failed or a
trace has no events, 2 bad input (arguments, environment, unknown Worker or project).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ops.cli_common import BadInput, account_required, credentials_from_env, quiet_library_logs

if TYPE_CHECKING:
    from cfapi.client import CloudflareClient
    from cfapi.credentials import Credentials
    from ops.logevents import Level, LogRow, Notice, TraceConfig
    from ops.logstore import RetentionPolicy
    from ops.logstream import StreamFilters, Target

ENV_TOKEN = "CLOUDFLARE_API_TOKEN"  # noqa: S105  (a variable name)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class StreamFailed(click.ClickException):
    """The live stream could not run (e.g. the 10-tail limit): exit code 1."""

    exit_code = 1


# ---------------------------------------------------------------- pure helpers


def default_store_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/flarewatch/logs.db``, else ``~/.local/state/flarewatch/logs.db``."""
    source = os.environ if env is None else env
    state = source.get("XDG_STATE_HOME", "").strip()
    base = Path(state) if state and Path(state).is_absolute() else None
    if base is None:
        home = source.get("HOME", "").strip()
        base = (Path(home) if home else Path.home()) / ".local" / "state"
    return base / "flarewatch" / "logs.db"


def parse_age(text: str) -> float:
    """Seconds in ``1h``, ``90m``, ``1h30m``, ``2d``, ``1w``, ``500ms``."""
    value = text.strip().lower()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_S[match.group(2)]
        pos = match.end()
    if not value or pos != len(value):
        raise ValueError(
            f"{text!r} is not a duration: write a number and a unit (ms, s, m, h, d, w), "
            "e.g. 15m, 1h or 2d"
        )
    return total


def parse_when(text: str, now: float, tz: tzinfo | None = None) -> float:
    """Epoch seconds for ``--since``/``--until``: ``now``, a duration ago (``1h``), or a time.

    Times are ISO 8601 (``2026-11-27T12:00:00Z``, ``2026-11-27 12:00``, ``2026-11-27``);
    without an offset they are read in ``tz`` (``None``: the local time zone).
    """
    value = text.strip()
    if value.lower() == "now":
        return now
    if _DURATION.match(value.lower()):
        try:
            return now - parse_age(value)
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: write a duration ago (30m, 2h, 7d), 'now', or an "
            "ISO 8601 time such as 2026-11-27T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz) if tz is not None else moment.astimezone()
    return moment.timestamp()


def parse_size(text: str) -> int:
    """Bytes in ``500MB``, ``1GiB``, ``2048`` (SI and binary units)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?", text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a size: write e.g. 500MB or 1GiB")
    units = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
    units.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})
    return int(float(match.group(1)) * units[match.group(2) or "b"])


def retention_policy(retain: str, max_size: str) -> RetentionPolicy:
    """The store's retention from ``--retain`` and ``--max-size`` (``0``/``none``: no limit)."""
    from ops.logstore import RetentionPolicy

    age = None if retain.strip().lower() in ("0", "none") else parse_age(retain)
    size = None if max_size.strip().lower() in ("0", "none") else parse_size(max_size)
    return RetentionPolicy(max_age_s=age or None, max_bytes=size or None)


def _check(parse: Callable[[str], Any], value: str, option: str) -> Any:
    try:
        return parse(value)
    except ValueError as err:
        raise BadInput(f"{option}: {err}") from None


def _store_path(value: str | None) -> Path:
    return Path(value).expanduser() if value else default_store_path()


def _tz(utc: bool) -> tzinfo | None:
    from datetime import UTC

    return UTC if utc else None


# ---------------------------------------------------------------- the group


@click.group("logs")
def logs() -> None:
    """Live logs from Workers and Pages, and the logs flarewatch has stored."""


# ---------------------------------------------------------------- logs tail


@logs.command()
@click.option("--worker", "workers", multiple=True, metavar="NAME", help="A Worker to tail.")
@click.option(
    "--pages",
    "pages",
    multiple=True,
    metavar="PROJECT[@DEPLOYMENT]",
    help="A Pages project (follows its production deployment) or one deployment.",
)
@click.option("--all", "tail_all", is_flag=True, help="Every Worker and Pages project.")
@click.option(
    "--status",
    type=click.Choice(["ok", "error"]),
    help="error: failed, 5xx or console.error; ok: the rest.",
)
@click.option("--method", "methods", multiple=True, metavar="M", help="Only these methods.")
@click.option("--search", metavar="TEXT", help="Only events whose logs, errors or URL hold it.")
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="K[:V]",
    help="Only requests with header K (equal to V).",
)
@click.option("--sampling", type=float, metavar="R", help="Request only a share R of events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option(
    "--store",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[PATH]",
    help="Also keep events in the log store (default path when none is given).",
)
@click.option(
    "--retain", default="7d", show_default=True, metavar="AGE", help="Keep stored events this long."
)
@click.option(
    "--max-size", default="1GiB", show_default=True, metavar="SIZE", help="Store size limit."
)
@click.option(
    "--trace-header", "trace_headers", multiple=True, metavar="NAME", help="Trace id header."
)
@click.option(
    "--trace-field", "trace_fields", multiple=True, metavar="FIELD", help="Trace id log field."
)
@click.option("--utc", is_flag=True, help="Show times in UTC (default: local time).")
@click.option("--color/--no-color", default=None, help="Colour (default: when a terminal).")
def tail(
    workers: tuple[str, ...],
    pages: tuple[str, ...],
    tail_all: bool,
    status: str | None,
    methods: tuple[str, ...],
    search: str | None,
    headers: tuple[str, ...],
    sampling: float | None,
    as_json: bool,
    store: str | None,
    retain: str,
    max_size: str,
    trace_headers: tuple[str, ...],
    trace_fields: tuple[str, ...],
    utc: bool,
    color: bool | None,
) -> None:
    """Stream live logs from Workers and Pages deployments, merged, until Ctrl-C.

    Gaps (reconnects, renewals), Cloudflare's sampling mode and tails that had to be
    recreated are announced as notices; every tail is deleted on exit.
    """
    from ops.logevents import TraceConfig
    from ops.logstream import StreamFilters, Target, parse_header_filter

    if not (workers or pages or tail_all):
        raise BadInput("name what to tail: --worker NAME, --pages PROJECT, or --all")
    try:
        targets = [Target("worker", w) for w in workers] + [Target.pages(p) for p in pages]
        filters = StreamFilters(
            status="ok" if status == "ok" else "error" if status == "error" else None,
            methods=tuple(m.upper() for m in methods),
            search=search,
            headers=tuple(parse_header_filter(h) for h in headers),
            sampling=sampling,
        )
    except ValueError as err:
        raise BadInput(str(err)) from None
    policy = (
        _check(lambda _: retention_policy(retain, max_size), retain, "--retain/--max-size")
        if store is not None
        else None
    )
    credentials = credentials_from_env()
    account_id = account_required("the Workers and Pages")
    quiet_library_logs()
    run = _TailRun(
        credentials=credentials,
        account_id=account_id,
        targets=targets,
        tail_all=tail_all,
        filters=filters,
        trace=TraceConfig(headers=trace_headers, log_fields=trace_fields),
        as_json=as_json,
        store=_store_path(store) if store is not None else None,
        policy=policy,
        tz=_tz(utc),
        color=color,
    )
    sys.exit(_run_until_signal(run.main))


def _run_until_signal(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run ``main`` until it returns, or until SIGINT/SIGTERM (then exit 0 after cleanup)."""
    import asyncio
    import contextlib
    import signal

    async def runner() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        stopped = False

        def stop() -> None:
            nonlocal stopped
            if not stopped:
                stopped = True
                task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop)
        try:
            return await main()
        except asyncio.CancelledError:
            if stopped:
                return 0
            raise
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)

    return asyncio.run(runner())


@dataclass
class _TailRun:
    """One ``logs tail`` run: the client, the stream, the output and the store."""

    credentials: Credentials
    account_id: str
    targets: list[Target]
    tail_all: bool
    filters: StreamFilters
    trace: TraceConfig
    as_json: bool
    store: Path | None
    policy: RetentionPolicy | None
    tz: tzinfo | None
    color: bool | None

    async def _all_targets(self, cf: CloudflareClient) -> list[Target]:
        from ops.logstream import Target

        scripts = await cf.workers.list_scripts(self.account_id)
        found = [Target("worker", s.id) for s in scripts if s.id]
        async for project in cf.pages.projects(self.account_id):
            if project.canonical_deployment is not None:
                found.append(Target("pages", project.name))
        return found

    def _out(self, text: str, *, err: bool = False) -> None:
        click.echo(text, err=err, color=self.color)
        (sys.stderr if err else sys.stdout).flush()

    def _show(self, item: LogRow | Notice) -> None:
        from ops.logevents import Notice
        from ops.logformat import format_notice, format_row, json_line

        if self.as_json:
            self._out(json_line(item))
        elif isinstance(item, Notice):
            self._out(format_notice(item, color=True, tz=self.tz, date=False), err=True)
        else:
            self._out(format_row(item, color=True, tz=self.tz, date=False))

    async def main(self) -> int:
        """Stream until stopped; 1 when every source has stopped on its own."""
        import contextlib

        from cfapi.client import CloudflareClient
        from cfapi.errors import AuthError, CloudflareError, PermissionDenied
        from ops.logevents import Notice
        from ops.logstore import StoreError, StoreWriter
        from ops.logstream import LogStream, LogStreamError, gap_record

        async with CloudflareClient(self.credentials) as cf:
            targets = list(self.targets)
            if self.tail_all:
                try:
                    targets += await self._all_targets(cf)
                except (AuthError, PermissionDenied) as err:
                    raise BadInput(f"the API token was refused: {err}") from None
                except CloudflareError as err:
                    raise StreamFailed(f"cannot list Workers and Pages projects: {err}") from None
                if not targets:
                    raise BadInput("the account has no Workers or Pages projects to tail")
            writer = StoreWriter(self.store, policy=self.policy) if self.store else None
            async with contextlib.AsyncExitStack() as stack:
                if writer is not None:
                    try:
                        await stack.enter_async_context(writer)
                    except StoreError as err:
                        raise BadInput(str(err)) from None
                    self._out(f"-- storing events in {self.store}", err=True)
                stream = LogStream(cf, self.account_id, targets, self.filters, trace=self.trace)
                try:
                    await stack.enter_async_context(stream)
                except LogStreamError as err:
                    if err.bad_input:
                        raise BadInput(str(err)) from None
                    raise StreamFailed(str(err)) from None
                try:
                    async for item in stream:
                        self._show(item)
                        if writer is None:
                            continue
                        if isinstance(item, Notice):
                            gap = gap_record(item)
                            if gap is not None:
                                writer.add_gap(gap)
                        else:
                            writer.add(item)
                except BrokenPipeError:
                    # The reader went away (`| head`): point stdout at /dev/null so the final
                    # flush does not fail again, then clean up and exit quietly.
                    with contextlib.suppress(OSError):
                        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                    return 0
                except StoreError as err:
                    raise StreamFailed(f"the log store failed: {err}") from None
            return 1


# ---------------------------------------------------------------- logs query


@logs.command()
@click.option(
    "--since",
    default="1h",
    show_default=True,
    metavar="WHEN",
    help="Start: a duration ago (30m, 2d) or an ISO time.",
)
@click.option(
    "--until",
    default="now",
    show_default=True,
    metavar="WHEN",
    help="End: 'now', a duration ago or an ISO time.",
)
@click.option(
    "--level",
    type=click.Choice(["debug", "info", "warn", "error"]),
    help="Minimum severity.",
)
@click.option(
    "--service", "services", multiple=True, metavar="NAME", help="A Worker, Pages project or probe."
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(["worker", "pages", "probe"]),
    help="Only events from this kind of source.",
)
@click.option("--search", metavar="TEXT", help="Words in messages, exceptions or URLs.")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Show the newest N matching events.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--store", metavar="PATH", help="The log store (default: the state directory).")
@click.option("--utc", is_flag=True, help="Read and show times in UTC (default: local).")
@click.option("--color/--no-color", default=None, help="Colour (default: when a terminal).")
def query(
    since: str,
    until: str,
    level: str | None,
    services: tuple[str, ...],
    kinds: tuple[str, ...],
    search: str | None,
    limit: int,
    as_json: bool,
    store: str | None,
    utc: bool,
    color: bool | None,
) -> None:
    """Show stored events by time range, severity, component and text (newest LIMIT)."""
    import time

    from ops.logevents import KINDS, Level, Notice
    from ops.logformat import format_notice, format_row, gap_notice, json_line
    from ops.logstore import LogQuery, LogStore, StoreError, fts_phrase

    tz = _tz(utc)
    now = time.time()
    start = _check(lambda v: parse_when(v, now, tz), since, "--since")
    end = _check(lambda v: parse_when(v, now, tz), until, "--until")
    if start > end:
        raise BadInput("--since is after --until: the range is empty")
    if search is not None:
        _check(fts_phrase, search, "--search")
    min_level: Level | None = Level.parse(level) if level else None
    q = LogQuery(
        since_ms=int(start * 1000),
        until_ms=int(end * 1000),
        min_level=min_level,
        services=services,
        kinds=tuple(k for k in KINDS if k in kinds),
        search=search,
        limit=limit + 1,
    )
    try:
        with LogStore(_store_path(store), create=False) as db:
            rows = db.search(q, with_raw=as_json)
            more = len(rows) > limit
            rows = rows[-limit:]
            shown_from = rows[0].ts_ms if more and rows else q.since_ms
            gaps = db.gaps(shown_from, q.until_ms, services)
    except StoreError as err:
        raise BadInput(str(err)) from None
    items: list[tuple[int, int, LogRow | Notice]] = [(r.ts_ms, 1, r) for r in rows]
    items += [(g.start_ms, 0, gap_notice(g)) for g in gaps]
    items.sort(key=lambda t: (t[0], t[1]))
    for _ts, _order, item in items:
        if as_json:
            click.echo(json_line(item))
        elif isinstance(item, Notice):
            click.echo(format_notice(item, color=True, tz=tz), color=color)
        else:
            click.echo(format_row(item, color=True, tz=tz), color=color)
    if not rows:
        click.echo("-- no stored events match", err=True)
    elif more:
        click.echo(
            f"-- showing the newest {limit} matching events; more match: narrow the range or "
            "raise --limit",
            err=True,
        )


# ---------------------------------------------------------------- logs trace


@logs.command()
@click.argument("trace_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="The trace as one JSON object.")
@click.option("--store", metavar="PATH", help="The log store (default: the state directory).")
@click.option("--utc", is_flag=True, help="Show times in UTC (default: local time).")
@click.option("--color/--no-color", default=None, help="Colour (default: when a terminal).")
def trace(trace_id: str, as_json: bool, store: str | None, utc: bool, color: bool | None) -> None:
    """Every stored event of one trace (traceparent, trace id, ray id), across services.

    ID may be a W3C traceparent, its 32-hex trace id, a cf-ray (with or without -COLO), or
    the value of the header or log field the application uses as its request id.
    """
    import json

    from ops.logevents import normalise_trace_query
    from ops.logformat import format_trace, row_dict, source_label
    from ops.logstore import LogStore, StoreError

    key = normalise_trace_query(trace_id)
    if not key:
        raise BadInput("the trace id is empty")
    try:
        with LogStore(_store_path(store), create=False) as db:
            rows = db.trace(key, with_raw=as_json)
    except StoreError as err:
        raise BadInput(str(err)) from None
    if as_json:
        document = {
            "trace_id": key,
            "events": [row_dict(r) for r in rows],
            "sources": list(dict.fromkeys(source_label(r) for r in rows)),
            "span_ms": rows[-1].ts_ms - rows[0].ts_ms if rows else None,
        }
        click.echo(json.dumps(document, ensure_ascii=False, default=str))
    else:
        click.echo(format_trace(key, rows, color=True, tz=_tz(utc)), color=color)
    if not rows:
        click.echo(f"-- no stored events carry trace id {key}", err=True)
        sys.exit(1)
