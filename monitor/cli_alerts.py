"""``flarewatch alerts`` and ``flarewatch silence add|list|expire``: talk to a running daemon.

They use the daemon's HTTP API (``--url``, default ``$FLAREWATCH_URL`` or
``http://127.0.0.1:9310``): ``GET /api/v1/alerts`` and ``/api/v1/silences`` need nothing;
creating and expiring silences need the admin token, read from ``--token-file`` or
``$FLAREWATCH_ADMIN_TOKEN`` (never from an argument, which ``ps`` would show).

Exit codes: 0 done; 1 the daemon could not be reached or failed (5xx, alerting not
configured); 2 bad input (arguments, a missing or refused token, a silence the daemon
rejected), with the reason and no traceback.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import click

from alerting.matchers import parse_matcher_list
from alerting.rules import DurationError, parse_duration
from monitor.silencestore import parse_time
from ops.cli_common import BadInput

DEFAULT_URL = "http://127.0.0.1:9310"
URL_VARIABLE = "FLAREWATCH_URL"
TOKEN_VARIABLE = "FLAREWATCH_ADMIN_TOKEN"  # noqa: S105 (a variable name, not a secret)
TIMEOUT_S = 10.0


class Failed(click.ClickException):
    """The daemon could not be reached or could not answer: exit code 1."""

    exit_code = 1


@dataclass(frozen=True)
class Answer:
    """An API answer: HTTP status and decoded JSON body."""

    status: int
    body: Any


def _url_option(function: Any) -> Any:
    return click.option(
        "--url",
        envvar=URL_VARIABLE,
        default=DEFAULT_URL,
        show_default=True,
        help=f"The daemon's base URL (or ${URL_VARIABLE}).",
    )(function)


def _token_option(function: Any) -> Any:
    return click.option(
        "--token-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"A file holding the admin token (default: ${TOKEN_VARIABLE}).",
    )(function)


def _json_option(function: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(function)


def read_token(token_file: Path | None, environ: Mapping[str, str]) -> str:
    """The admin token from ``token_file`` or the environment; :class:`BadInput` if none."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise BadInput(f"cannot read the token file {token_file}: {err.strerror}") from None
        if not token:
            raise BadInput(f"the token file {token_file} is empty")
        return token
    token = environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise BadInput(
            f"this needs the daemon's admin token: give --token-file PATH or set {TOKEN_VARIABLE}"
        )
    return token


async def _request(
    method: str, url: str, path: str, *, token: str | None = None, body: Any = None
) -> Answer:
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, url.rstrip("/") + path, headers=headers, json=body) as resp,
        ):
            text = await resp.text()
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        why = "no answer within 10 s" if isinstance(err, TimeoutError) else str(err) or repr(err)
        raise Failed(
            f"cannot reach flarewatch at {url}: {why}; is the daemon running? (--url or "
            f"${URL_VARIABLE})"
        ) from None
    try:
        decoded = json.loads(text) if text else None
    except ValueError:
        raise Failed(f"{url} answered {resp.status} without JSON: is it flarewatch?") from None
    return Answer(resp.status, decoded)


def call(method: str, url: str, path: str, *, token: str | None = None, body: Any = None) -> Any:
    """Call the API and return the JSON body of a 2xx answer; anything else becomes the
    matching exit code with the daemon's reason."""
    if not url.startswith(("http://", "https://")):
        raise BadInput(f"--url must be an http:// or https:// URL, not {url!r}")
    answer = asyncio.run(_request(method, url, path, token=token, body=body))
    if 200 <= answer.status < 300:
        return answer.body
    body_map = answer.body if isinstance(answer.body, Mapping) else {}
    reason = str(body_map.get("error") or f"HTTP {answer.status}")
    problems = [str(p) for p in body_map.get("problems") or []]
    detail = reason + "".join(f"\n  - {p}" for p in problems)
    if answer.status in (400, 401, 403, 422):
        raise BadInput(detail)
    raise Failed(detail)


# --- formatting -------------------------------------------------------------------------


def _epoch(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_time(value, "time")
        except ValueError:
            return None
    return None


def ago(value: object, now: float) -> str:
    """``3m ago`` / ``in 2h`` for a time (epoch seconds or ISO 8601), ``-`` without one."""
    at = _epoch(value)
    if at is None:
        return "-"
    delta = now - at
    text = _span(abs(delta))
    return f"{text} ago" if delta >= 0 else f"in {text}"


def _span(seconds: float) -> str:
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m"
    if total < 86400:
        hours, rest = divmod(total, 3600)
        return f"{hours}h{rest // 60:02d}m"
    days, rest = divmod(total, 86400)
    return f"{days}d{rest // 3600}h"


def table(rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def alerts_table(alerts: Sequence[Mapping[str, Any]], now: float) -> str:
    """The alerts as a table for people (pure)."""
    rows = [["STATE", "SEVERITY", "RULE", "PROBE", "SINCE", "SUMMARY"]]
    for alert in alerts:
        state = str(alert.get("state", ""))
        if alert.get("silenced_by"):
            state += " (silenced)"
        elif alert.get("inhibited_by"):
            state += " (inhibited)"
        elif alert.get("flapping"):
            state += " (flapping)"
        labels = alert.get("labels") if isinstance(alert.get("labels"), Mapping) else {}
        annotations = alert.get("annotations")
        summary = annotations.get("summary", "") if isinstance(annotations, Mapping) else ""
        rows.append(
            [
                state,
                str(alert.get("severity", "")),
                str(alert.get("rule", "")),
                str(labels.get("probe", "")) if isinstance(labels, Mapping) else "",
                ago(alert.get("since"), now),
                str(summary),
            ]
        )
    return table(rows)


def silences_table(silences: Sequence[Mapping[str, Any]], now: float) -> str:
    """The silences as a table for people (pure)."""
    rows = [["ID", "STATE", "ENDS", "BY", "MATCHERS", "COMMENT"]]
    for silence in silences:
        matchers = silence.get("matchers")
        rows.append(
            [
                str(silence.get("id", "")),
                str(silence.get("state", "")),
                ago(silence.get("ends_at"), now),
                str(silence.get("created_by", "")),
                ", ".join(str(m) for m in matchers) if isinstance(matchers, list) else "",
                str(silence.get("comment", "")),
            ]
        )
    return table(rows)


def _echo_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


# --- commands ---------------------------------------------------------------------------


@click.command("alerts")
@_url_option
@_json_option
@click.option("--all", "show_all", is_flag=True, help="Include recently resolved alerts.")
def alerts_command(url: str, as_json: bool, show_all: bool) -> None:
    """List the daemon's alerts: firing and pending (and recently resolved with --all)."""
    document = call("GET", url, "/api/v1/alerts")
    alerts = [a for a in document.get("alerts", []) if isinstance(a, Mapping)]
    if not show_all:
        alerts = [a for a in alerts if a.get("state") in ("firing", "pending")]
    if as_json:
        _echo_json({**document, "alerts": alerts})
        return
    if not alerts:
        click.echo("No alerts." if show_all else "No alerts firing or pending.")
        return
    click.echo(alerts_table(alerts, time.time()))


@click.group("silence")
def silence_group() -> None:
    """Mute notifications for alerts matching label matchers, for a while."""


@silence_group.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--comment", "-c", required=True, help="Why (a change ticket, the deploy).")
@click.option(
    "--author", "-a", default=None, help="Who silences (default: the current user's name)."
)
@click.option("--duration", "-d", default=None, help="How long, e.g. 2h or 30m (default 1h).")
@click.option("--until", "until", default=None, help="End time, ISO 8601 (2026-01-01T18:00Z).")
@click.option("--start", default=None, help="Start time, ISO 8601 (default: now).")
@_url_option
@_token_option
@_json_option
def silence_add(
    matchers: tuple[str, ...],
    comment: str,
    author: str | None,
    duration: str | None,
    until: str | None,
    start: str | None,
    url: str,
    token_file: Path | None,
    as_json: bool,
) -> None:
    """Silence alerts matching every MATCHER (rule="worker_down" probe=api …); prints the id.

    Matchers use Alertmanager's syntax: name="value", name!="value", name=~"regex",
    name!~"regex"; several may share one argument, separated by commas.
    """
    _, problems = parse_matcher_list(list(matchers), field="MATCHER")
    if problems:
        raise BadInput("; ".join(problems))
    body: dict[str, Any] = {
        "matchers": list(matchers),
        "created_by": author or _user(),
        "comment": comment,
    }
    if duration is not None and until is not None:
        raise BadInput("give --duration or --until, not both")
    if until is not None:
        body["ends_at"] = _time_option(until, "--until")
    else:
        text = duration or "1h"
        try:
            if parse_duration(text) <= 0:
                raise DurationError("must be longer than zero")
        except DurationError as err:
            raise BadInput(f"--duration: {err}") from None
        body["duration"] = text
    if start is not None:
        body["starts_at"] = _time_option(start, "--start")
    token = read_token(token_file, os.environ)
    created = call("POST", url, "/api/v1/silences", token=token, body=body)
    silence = created.get("silence", {}) if isinstance(created, Mapping) else {}
    if as_json:
        _echo_json(silence)
    else:
        click.echo(silence.get("id", ""))


@silence_group.command("list")
@_url_option
@_json_option
@click.option("--all", "show_all", is_flag=True, help="Include expired silences.")
def silence_list(url: str, as_json: bool, show_all: bool) -> None:
    """List the silences: active and pending (and expired with --all)."""
    document = call("GET", url, "/api/v1/silences")
    silences = [s for s in document.get("silences", []) if isinstance(s, Mapping)]
    if not show_all:
        silences = [s for s in silences if s.get("state") != "expired"]
    if as_json:
        _echo_json({"silences": silences})
        return
    if not silences:
        click.echo("No silences." if show_all else "No active or pending silences.")
        return
    click.echo(silences_table(silences, time.time()))


@silence_group.command("expire")
@click.argument("ids", nargs=-1, required=True)
@_url_option
@_token_option
def silence_expire(ids: tuple[str, ...], url: str, token_file: Path | None) -> None:
    """End silences now, by id (expiring an expired silence is harmless)."""
    token = read_token(token_file, os.environ)
    for silence_id in ids:
        call("DELETE", url, f"/api/v1/silences/{quote(silence_id, safe='')}", token=token)
        click.echo(f"expired {silence_id}")


def _time_option(value: str, option: str) -> str:
    try:
        parse_time(value, option)
    except ValueError as err:
        raise BadInput(str(err)) from None
    return value


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
