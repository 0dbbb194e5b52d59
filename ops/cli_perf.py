"""``flarewatch perf``: per Worker and route, how fast, how often failing, and why slow.

Imported by ``monitor.cli`` at start-up; the analysis, the client and the store are imported
inside the command.

Exit codes: 0 the report was made, 1 Cloudflare could not be asked, 2 bad input (arguments,
credentials, an unknown Worker, an unreadable store).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

import click

from ops.cli_common import BadInput, account_required, credentials_from_env, quiet_library_logs

if TYPE_CHECKING:
    from pathlib import Path

    from cfapi.credentials import Credentials
    from ops.perf import Contributor, PathStats, PerfReport, Quantiles, WorkerPerf


class PerfFailed(click.ClickException):
    """Cloudflare could not be asked: exit code 1."""

    exit_code = 1


def _when(ts: float, tz: tzinfo | None) -> str:
    """A window edge: local time, or UTC with its name."""
    if tz is None:
        return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M %Z")


def _contributor(c: Contributor) -> str:
    from ops.perf import ms

    kind = {"kv": "KV", "d1": "D1", "r2": "R2", "service": "service"}[c.kind]
    head = f"    {kind} {c.label:<24} {c.per_request:6.2f}/request  "
    if c.latency_ms is None or c.estimated_ms is None:
        text = head + "latency not reported by analytics"
    else:
        text = head + f"p50 {ms(c.latency_ms):>8}  ≈ {ms(c.estimated_ms)}/request"
    notes = []
    if c.binding and c.binding != c.label:
        notes.append(f"binding {c.binding}")
    if c.errors:
        notes.append(f"{c.errors:,} failed operations")
    if c.shared_with:
        notes.append(f"shared with {', '.join(c.shared_with)}")
    return text + (f"  ({'; '.join(notes)})" if notes else "")


def _path(p: PathStats) -> str:
    from ops.perf import ms

    failing = p.errors / p.requests if p.requests else 0.0
    return (
        f"    {p.route:<44} {p.requests:>7,} requests  p50 {ms(p.p50):>8}  p99 {ms(p.p99):>8}"
        f"  5xx {failing:.1%}"
    )


def format_worker(worker: WorkerPerf) -> str:
    """One Worker's section of the report."""
    from ops.perf import ms

    def quantiles(label: str, q: Quantiles, mean: float) -> str:
        return (
            f"  {label:<5} p50 {ms(q.p50):>8}   p90 {ms(q.p90):>8}   p99 {ms(q.p99):>8}   "
            f"mean {ms(mean)}"
        )

    title = click.style(worker.script, bold=True)
    lines = [
        f"{title} — {worker.requests:,} requests ({worker.rate_per_s:.2f}/s), errors "
        f"{worker.error_ratio:.1%} ({worker.errors:,}), "
        f"{worker.subrequests_per_request:.2f} subrequests/request"
    ]
    if worker.requests:
        lines += [
            quantiles("CPU", worker.cpu, worker.cpu_mean_ms),
            quantiles("wall", worker.wall, worker.wall_mean_ms),
            f"  waiting (wall − CPU): {worker.wait_share:.0%} of wall time; "
            f"p50 ≈ {ms(worker.wait_p50_ms)}, mean {ms(worker.wait_mean_ms)}",
        ]
    colour = "yellow" if worker.waiting_dominates else None
    lines.append("  " + click.style("→ " + worker.verdict, fg=colour, bold=True))
    if worker.contributors:
        lines.append("  bindings (estimated time per request):")
        lines += [_contributor(c) for c in worker.contributors]
        if worker.unexplained_ms:
            lines.append(
                f"    {'not explained by bindings':<27} ≈ {ms(worker.unexplained_ms)} (of the "
                "median wait)"
            )
    if worker.slow_paths:
        lines.append("  slowest paths (time to first byte):")
        lines += [_path(p) for p in worker.slow_paths]
    if worker.outliers:
        lines.append("  outliers:")
        lines += [f"    {o.subject}  {o.detail}" for o in worker.outliers]
    if worker.evidence:
        lines.append("  stored events:")
        lines += [f"    {line}" for line in worker.evidence]
    if worker.statuses:
        statuses = sorted(worker.statuses.items(), key=lambda kv: (-kv[1], kv[0]))
        lines.append("  invocations: " + " · ".join(f"{k} {v:,}" for k, v in statuses))
    return "\n".join(lines)


def format_report(report: PerfReport, tz: tzinfo | None = None) -> str:
    """The whole report: the window, then each Worker, then paths no Worker claimed."""
    busy = [w for w in report.workers if w.requests]
    hours = (report.until - report.since) / 3600
    span = f"{hours:.1f} h" if hours >= 1 else f"{(report.until - report.since) / 60:.0f} min"
    lines = [
        f"flarewatch perf — {_when(report.since, tz)} → {_when(report.until, tz)} ({span}), "
        f"{len(busy)} Worker{'s' if len(busy) != 1 else ''} with traffic",
    ]
    for worker in report.workers:
        lines += ["", format_worker(worker)]
    if report.other_paths:
        lines += ["", "slowest paths of hosts not matched to a Worker:"]
        lines += [_path(p) for p in report.other_paths]
    return "\n".join(lines)


@click.command("perf")
@click.option("--worker", metavar="NAME", help="Only this Worker.")
@click.option(
    "--since", default="1h", show_default=True, help="Start: a duration ago (1h, 2d) or a time."
)
@click.option("--until", default="now", show_default=True, help="End: a duration ago or a time.")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="HOST",
    help="A hostname the Worker serves, for its paths (default: learned from stored events).",
)
@click.option("--store", metavar="PATH", help="The log store (default: the state directory).")
@click.option("--no-store", is_flag=True, help="Do not read stored events.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--utc", is_flag=True, help="Read and show times in UTC (default: local).")
def perf(
    worker: str | None,
    since: str,
    until: str,
    hosts: tuple[str, ...],
    store: str | None,
    no_store: bool,
    as_json: bool,
    utc: bool,
) -> None:
    """Why is it slow? Rates, errors, CPU and wall time, waiting and its likely cause.

    For every Worker with traffic (or --worker NAME): request rate, error ratio, CPU and
    wall-time p50/p90/p99, the time spent waiting (wall - CPU) and, when waiting dominates,
    the binding (KV, D1, R2) or subrequests most likely behind it, with the numbers; the
    slowest paths and outlying five-minute windows.
    """
    import asyncio
    from pathlib import Path

    from ops.cli_logs import default_store_path, parse_when

    tz = UTC if utc else None
    now = time.time()
    try:
        start = parse_when(since, now, tz)
        end = parse_when(until, now, tz)
    except ValueError as err:
        raise BadInput(str(err)) from None
    if start >= end:
        raise BadInput("--since is not before --until: the window is empty")
    if end - start > 31 * 86400:
        raise BadInput("analytics keep 31 days: choose a --since within them")
    if hosts and worker is None:
        raise BadInput("--host says which hostnames a Worker serves: give --worker too")
    credentials = credentials_from_env()
    account_id = account_required("the Workers")
    store_path = None if no_store else (Path(store).expanduser() if store else default_store_path())
    quiet_library_logs()
    report = asyncio.run(_run(credentials, account_id, start, end, worker, hosts, store_path))
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        click.echo(format_report(report, tz))
    sys.stdout.flush()


async def _run(
    credentials: Credentials,
    account_id: str,
    start: float,
    end: float,
    worker: str | None,
    hosts: tuple[str, ...],
    store: Path | None,
) -> PerfReport:
    from cfapi.client import CloudflareClient
    from cfapi.errors import AuthError, CloudflareError, PermissionDenied
    from ops.perf import PerfError, analyse, collect

    async with CloudflareClient(credentials) as cf:
        try:
            inputs = await collect(
                cf, account_id, start, end, worker=worker, hosts=hosts, store=store
            )
        except PerfError as err:
            if err.bad_input:
                raise BadInput(str(err)) from None
            raise PerfFailed(str(err)) from None
        except (AuthError, PermissionDenied) as err:
            raise BadInput(f"the API token was refused (it needs Analytics:Read): {err}") from None
        except CloudflareError as err:
            raise PerfFailed(f"Cloudflare could not be asked: {err}") from None
    return analyse(inputs)
