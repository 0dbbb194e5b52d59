"""``flarewatch probe -c FILE [NAME…] [--json]``: run probes once and print what they found.

All the named probes (every enabled probe when none is named; a disabled probe runs when
named) run at once, each under its own timeout and the same crash barrier as in the daemon,
through the same clients: one Cloudflare client and request budget, ``http.connect_to``
honoured. Output is a table (probe, type, status, latency, message) or, with ``--json``, the
probe entries of the status document.

Exit codes: 0 when every probe is ``ok`` or ``warn`` — a warning still means the target
works, and it is the same line ``flarewatch_probe_success`` draws; 1 when any probe is
``crit`` or ``unknown``; 2 for a bad config file or an unknown probe name.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import structlog

from monitor.app import App, secrets_of
from monitor.config import Config
from monitor.configload import load_for_command
from monitor.logging import Redactor, configure_logging
from monitor.runner import ProbeRun, run_probe
from monitor.state import iso
from probes.base import Status
from probes.registry import Registry

log = structlog.get_logger("flarewatch")

_PASSING = frozenset({Status.OK, Status.WARN})


def select(config: Config, names: Sequence[str]) -> tuple[Config, list[str]]:
    """``config`` reduced to the probes named (all enabled ones when none), and unknown names.

    A named probe runs even when disabled: asking for it by name is explicit.
    """
    if not names:
        return config, []
    known = {p.name: p for p in config.probes}
    unknown = [n for n in names if n not in known]
    wanted = list(dict.fromkeys(n for n in names if n in known))
    probes = tuple(known[n].model_copy(update={"enabled": True}) for n in wanted)
    return config.model_copy(update={"probes": probes}), unknown


def exit_code(runs: Sequence[ProbeRun]) -> int:
    """0 when every run is ok or warn, else 1."""
    return 0 if all(r.result.status in _PASSING for r in runs) else 1


def _ms(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def table(runs: Sequence[ProbeRun]) -> str:
    """The runs as an aligned text table (messages on one line each)."""
    header = ("PROBE", "TYPE", "STATUS", "LATENCY", "DURATION", "MESSAGE")
    rows = [
        (
            r.probe,
            r.type,
            r.result.status.value.upper()
            + (f" ({r.result.reason.value})" if r.result.reason is not None else ""),
            _ms(r.result.latency_ms),
            _ms(r.duration_s * 1000.0),
            " ".join(r.result.message.split()),
        )
        for r in runs
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def as_document(runs: Sequence[ProbeRun]) -> dict[str, Any]:
    """The runs as JSON: ``ok`` and one entry per probe, shaped like the status document's."""
    return {
        "ok": exit_code(runs) == 0,
        "probes": [
            {
                "name": r.probe,
                "type": r.type,
                "service": r.service,
                "status": r.result.status.value,
                "reason": None if r.result.reason is None else r.result.reason.value,
                "message": r.result.message,
                "latency_ms": _finite(r.result.latency_ms),
                "duration_ms": round(r.duration_s * 1000.0, 3),
                "checked_at": iso(r.started_at),
                "values": {k: _finite(v) for k, v in r.result.values.items()},
                "events": [
                    {"kind": e.kind, "message": e.message, "fields": dict(e.fields)}
                    for e in r.result.events
                ],
            }
            for r in runs
        ],
    }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


async def run_once(config: Config, registry: Registry, redactor: Redactor) -> list[ProbeRun]:
    """Build the clients, run every enabled probe of ``config`` once, concurrently; close."""
    app = await App.build(config, registry, clock=time.time, log=log)
    try:
        return list(
            await asyncio.gather(
                *(
                    run_probe(
                        item.probe, item.ctx, timeout_s=item.timeout_s, scrub=redactor.scrub_text
                    )
                    for item in app.probes
                )
            )
        )
    finally:
        await app.aclose()


def probe_command(path: Path, names: Sequence[str], *, as_json: bool) -> int:
    """``flarewatch probe``: run, print, and return the exit code (see the module docstring)."""
    loaded = load_for_command(path)
    if loaded is None:
        return 2
    config, registry = loaded
    chosen, unknown = select(config, names)
    if unknown:
        known = ", ".join(p.name for p in config.probes) or "none"
        click.echo(
            f"flarewatch: no probe named {', '.join(map(repr, unknown))} in {path} "
            f"(probes: {known})",
            err=True,
        )
        return 2
    if not any(p.enabled for p in chosen.probes):
        click.echo(f"flarewatch: {path} has no enabled probes to run", err=True)
        return 2
    redactor = configure_logging(
        level="warning" if chosen.logging.level == "info" else chosen.logging.level,
        fmt=chosen.logging.format,
        redactor=Redactor(secrets_of(chosen)),
    )
    try:
        runs = asyncio.run(run_once(chosen, registry, redactor))
    except ValueError as err:
        click.echo(f"flarewatch: the configuration cannot be used: {err}", err=True)
        return 2
    if as_json:
        click.echo(json.dumps(as_document(runs), indent=2, allow_nan=False))
    else:
        click.echo(redactor.scrub_text(table(runs)))
    return exit_code(runs)
