"""``flarewatch logs`` end to end: the real command against the simulator and a real store."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cfapi.client import CloudflareClient
from monitor.cli import main
from ops.logevents import GapRecord, Level, ProbeRecord, probe_row
from ops.logstore import LogStore
from tests.conftest import SimHandle
from tests.integration.ops.conftest import TRACE_ID, TRACEPARENT, fault, hit
from tests.integration.ops.test_logstore import T0, event


def cli_env(sim: SimHandle, tmp_path: Path) -> dict[str, str]:
    """The environment of a user pointed at the simulator, with a private state directory."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "XDG_STATE_HOME"))
    }
    env.update(
        CLOUDFLARE_API_BASE_URL=sim.api,
        CLOUDFLARE_API_TOKEN=sim.token,
        CLOUDFLARE_ACCOUNT_ID=sim.account_id,
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    return env


async def start_cli(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    """Start ``flarewatch ARGS`` as a separate process (as users run it)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run ``flarewatch ARGS`` to completion: exit code, stdout, stderr."""
    proc = await start_cli(env, *args)
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def read_json_lines(
    proc: asyncio.subprocess.Process,
    done: Any,
    poke: Any = None,
    timeout_s: float = 20.0,
) -> list[dict[str, Any]]:
    """Read JSON lines from the process until ``done(lines)``, poking traffic meanwhile."""
    assert proc.stdout is not None
    lines: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s):
        while not done(lines):
            if poke is not None:
                await poke()
            try:
                async with asyncio.timeout(0.3):
                    raw = await proc.stdout.readline()
            except TimeoutError:
                continue
            if not raw:
                raise AssertionError("the command ended early")
            lines.append(json.loads(raw))
    return lines


async def test_tail_store_query_and_trace_end_to_end(
    sim: SimHandle, client: CloudflareClient, tmp_path: Path
) -> None:
    """Tail two Workers and the site into the default store, stop with Ctrl-C (no tail left),
    then find the events with `logs query` and follow one request with `logs trace` across
    the Worker, the site and a probe result that sent the same traceparent."""
    env = cli_env(sim, tmp_path)
    await fault(sim, service="workers", resource="image-processor", exception="x is undefined")
    proc = await start_cli(
        env,
        "logs",
        "tail",
        "--worker",
        "api",
        "--worker",
        "image-processor",
        "--pages",
        "spacevision-web",
        "--json",
        "--store",
    )
    started = await read_json_lines(
        proc, lambda ls: sum(1 for line in ls if line.get("notice") == "started") == 3
    )
    headers = {"traceparent": TRACEPARENT}

    async def traffic() -> None:
        await hit(sim, "api", "/v1/stars", headers=headers)
        await hit(sim, "image-processor", "/m31.png")
        await hit(sim, "spacevision-web", "/", headers=headers)

    def all_three(lines: list[dict[str, Any]]) -> bool:
        services = {line["service"] for line in lines if line["type"] == "event"}
        return services == {"api", "image-processor", "spacevision-web"}

    events = await read_json_lines(proc, all_three, traffic)
    proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    tails_left = (
        await client.workers.tails(sim.account_id, "api"),
        await client.workers.tails(sim.account_id, "image-processor"),
        len(sim.server.state.tails.sessions),
    )
    assert (proc.returncode, tails_left) == (0, ([], [], 0)), err.decode()
    assert len(started) >= 3

    first_api = min(e["ts_ms"] for e in events if e["type"] == "event" and e["service"] == "api")
    store = tmp_path / "state" / "flarewatch" / "logs.db"
    with LogStore(store, create=False) as db:
        db.add(
            [
                probe_row(
                    ProbeRecord(
                        ts_ms=first_api - 5,
                        probe="api-health",
                        probe_type="http",
                        status="ok",
                        method="GET",
                        url="https://api.spacevision.app/v1/stars",
                        http_status=200,
                        latency_ms=12.5,
                        traceparent=TRACEPARENT,
                    )
                )
            ]
        )

    code, out, _ = await run_cli(env, "logs", "query", "--level", "error", "--json")
    errors = [json.loads(line) for line in out.splitlines()]
    assert (code, {e["service"] for e in errors}) == (0, {"image-processor"})
    assert errors[0]["exceptions"][0]["message"] == "x is undefined"

    code, out, _ = await run_cli(env, "logs", "trace", TRACEPARENT, "--json")
    trace = json.loads(out)
    sources = [e["kind"] + "/" + e["service"] for e in trace["events"]]
    assert (code, trace["trace_id"], sources[0], set(sources)) == (
        0,
        TRACE_ID,
        "probe/api-health",
        {"probe/api-health", "worker/api", "pages/spacevision-web"},
    )
    assert [e["ts_ms"] for e in trace["events"]] == sorted(e["ts_ms"] for e in trace["events"])


async def test_tail_all_follows_every_worker_and_project_and_stops_on_sigterm(
    sim: SimHandle, client: CloudflareClient, tmp_path: Path
) -> None:
    """`--all` tails every Worker and the Pages project; SIGTERM (a service manager's stop)
    ends it like Ctrl-C: exit 0, no tail left."""
    proc = await start_cli(cli_env(sim, tmp_path), "logs", "tail", "--all", "--json")
    lines = await read_json_lines(
        proc, lambda ls: sum(1 for line in ls if line.get("notice") == "started") == 3
    )
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    started = {line["kind"] + "/" + line["service"] for line in lines}
    assert (proc.returncode, len(sim.server.state.tails.sessions)) == (0, 0), err.decode()
    assert {"worker/api", "worker/image-processor", "pages/spacevision-web"} == started


async def test_ten_viewer_limit_is_a_clear_message(
    sim: SimHandle, client: CloudflareClient, tmp_path: Path
) -> None:
    """At Cloudflare's limit the command explains it and exits 1, without a traceback."""
    for _ in range(10):
        await client.workers.create_tail(sim.account_id, "api")
    code, out, err = await run_cli(cli_env(sim, tmp_path), "logs", "tail", "--worker", "api")
    assert (code, "10 tails are already attached" in err, "Traceback" in err, out) == (
        1,
        True,
        False,
        "",
    )


async def test_unknown_worker_exits_2(sim: SimHandle, tmp_path: Path) -> None:
    """A misspelt Worker is bad input: exit 2, named in the message."""
    code, _, err = await run_cli(cli_env(sim, tmp_path), "logs", "tail", "--worker", "apj")
    assert (code, "no Worker named 'apj'" in err, "Traceback" in err) == (2, True, False)


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    """Run ``flarewatch ARGS`` in-process (commands that do not start the event loop's tails)."""
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["logs", "tail"], {}, "--worker NAME, --pages PROJECT, or --all"),
        (
            ["logs", "tail", "--worker", "api"],
            {"CLOUDFLARE_API_TOKEN": "", "CLOUDFLARE_EMAIL": "", "CLOUDFLARE_API_KEY": ""},
            "set CLOUDFLARE_API_TOKEN",
        ),
        (
            ["logs", "tail", "--worker", "api"],
            {"CLOUDFLARE_API_TOKEN": "x" * 40, "CLOUDFLARE_ACCOUNT_ID": ""},
            "set CLOUDFLARE_ACCOUNT_ID",
        ),
        (["logs", "tail", "--worker", "api", "--sampling", "2"], {}, "sampling must be"),
        (["logs", "tail", "--worker", "api", "--header", ":x"], {}, "NAME or NAME:VALUE"),
        (["logs", "tail", "--pages", "web@"], {}, "PROJECT@DEPLOYMENT_ID"),
        (["logs", "query", "--since", "yesterday"], {}, "--since: 'yesterday' is not a time"),
        (["logs", "query", "--since", "1h", "--until", "2h"], {}, "--since is after --until"),
        (["logs", "query", "--search", "::"], {}, "no letters or digits"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    args: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    """Every input mistake is named, with exit code 2 and no traceback."""
    result = invoke(*args, env={"XDG_STATE_HOME": str(tmp_path), **env})
    assert (result.exit_code, message in result.output) == (2, True), result.output


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A store with an incident: api errors, a warning, the site, a probe and a gap."""
    path = tmp_path / "logs.db"
    with LogStore(path) as db:
        db.add(
            [
                event(0, "api"),
                event(1, "api", Level.ERROR, text="D1_ERROR: Network connection lost."),
                event(2, "spacevision-web", kind="pages", text="GET /about"),
                event(3, "api", Level.WARN, text="GET /missing"),
                event(5, "api-health", Level.ERROR, kind="probe", text="HTTP 503"),
                event(60, "api"),
            ]
        )
        db.add_gaps([GapRecord("api", "worker", T0 + 90_000, T0 + 95_000, "reconnect")])
    return path


def query(store: Path, *args: str) -> Any:
    """``logs query`` over the fixture's first 10 minutes, in UTC."""
    start, end = "2026-11-18T11:06:40Z", "2026-11-18T11:16:40Z"
    return invoke(
        "logs", "query", "--store", str(store), "--since", start, "--until", end, "--utc", *args
    )


def test_query_shows_the_range_with_gaps(store_path: Path) -> None:
    """Events of the range in time order, and a stored gap where logs may be incomplete."""
    result = query(store_path)
    heads = [line for line in result.stdout.splitlines() if not line.startswith("    ")]
    expected = [
        "2026-11-18 11:06:40.000 INFO  worker/api GET https://api.example/v1/stars 200",
        "2026-11-18 11:07:40.000 ERROR worker/api GET https://api.example/lost. 500",
        "-- 2026-11-18 11:08:10.000 gap: events of worker/api between 2026-11-18T11:08:10.000Z "
        "and 2026-11-18T11:08:15.000Z (5.0 s) may be missing (reconnect)",
        "2026-11-18 11:08:40.000 INFO  pages/spacevision-web GET "
        "https://spacevision-web.example/about 200",
        "2026-11-18 11:09:40.000 WARN  worker/api GET https://api.example/missing 200",
        "2026-11-18 11:11:40.000 ERROR probe/api-health GET https://api-health.example/503 500 "
        "HTTP 503",
    ]
    assert (0, expected) == (result.exit_code, heads)


@pytest.mark.parametrize(
    ("args", "services"),
    [
        (("--level", "error"), ["api", "api-health"]),
        (("--service", "spacevision-web"), ["spacevision-web"]),
        (("--kind", "probe"), ["api-health"]),
        (("--search", "network"), ["api"]),
        (("--level", "warn", "--service", "api"), ["api", "api"]),
    ],
)
def test_query_filters(store_path: Path, args: tuple[str, ...], services: list[str]) -> None:
    """Severity, component, kind and text narrow the answer (JSON lines, gaps left out here)."""
    result = query(store_path, "--json", *args)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert services == [line["service"] for line in lines if line["type"] == "event"]


def test_query_limit_says_more_match(store_path: Path) -> None:
    """When the limit cuts the answer, the newest are shown and the user is told."""
    result = query(store_path, "--limit", "1", "--kind", "worker")
    assert ("GET /missing" in result.stdout, "more match" in result.stderr) == (True, True)


def test_query_without_matches_says_so(store_path: Path) -> None:
    """An empty answer is stated, not silent (no gap of that service either)."""
    result = query(store_path, "--service", "spacevision-web", "--search", "nothing-like-this")
    assert (result.exit_code, result.stdout, "no stored events match" in result.stderr) == (
        0,
        "",
        True,
    )


def test_query_on_a_missing_store_is_bad_input(tmp_path: Path) -> None:
    """A wrong --store path is named, with how to record one."""
    result = invoke("logs", "query", "--store", str(tmp_path / "none.db"))
    assert (result.exit_code, "logs tail --store" in result.output) == (2, True)


def test_trace_not_found_exits_1(store_path: Path) -> None:
    """No event carries the id: said plainly, exit 1."""
    result = invoke("logs", "trace", "feedface", "--store", str(store_path))
    assert (result.exit_code, "no stored events carry trace id feedface" in result.stderr) == (
        1,
        True,
    )


async def stop_cli(proc: asyncio.subprocess.Process) -> tuple[int | None, str]:
    """Ctrl-C the command and wait for it: its exit code and stderr."""
    proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    return proc.returncode, err.decode()


async def test_tail_survives_an_edge_restart_end_to_end(
    sim: SimHandle, client: CloudflareClient, tmp_path: Path
) -> None:
    """The simulator cuts the tail's socket as an edge restart would (no close frame): the
    real command reconnects by itself, says events may be missing, and keeps streaming."""
    proc = await start_cli(cli_env(sim, tmp_path), "logs", "tail", "--worker", "api", "--json")
    await read_json_lines(proc, lambda ls: any(line.get("notice") == "started" for line in ls))
    await read_json_lines(
        proc, lambda ls: any(line["type"] == "event" for line in ls), lambda: hit(sim, "api")
    )
    cut = await sim.control("POST", "/__sim/tails/disconnect", json={})

    def gap_then_event(lines: list[dict[str, Any]]) -> bool:
        gaps = [i for i, line in enumerate(lines) if line.get("notice") == "gap"]
        return bool(gaps) and any(line["type"] == "event" for line in lines[gaps[0] :])

    after = await read_json_lines(proc, gap_then_event, lambda: hit(sim, "api"))
    code, err = await stop_cli(proc)
    gap = next(line for line in after if line.get("notice") == "gap")
    assert (len(cut["disconnected"]), gap["service"], code) == (1, "api", 0), err
    assert (len(sim.server.state.tails.sessions), "Traceback" in err) == (0, False)


async def test_trace_by_the_cf_ray_of_a_response_finds_the_worker_event(
    sim: SimHandle, client: CloudflareClient, tmp_path: Path
) -> None:
    """A user holding a response's CF-Ray header finds the Worker invocation behind it: the
    tail event carries the same ray and `logs trace` looks it up."""
    env = cli_env(sim, tmp_path)
    proc = await start_cli(env, "logs", "tail", "--worker", "api", "--json", "--store")
    await read_json_lines(proc, lambda ls: any(line.get("notice") == "started" for line in ls))
    rays: list[str] = []

    async def request() -> None:
        async with sim.session.get(
            sim.url + "/v1/stars", headers={"Host": "api.spacevision.app"}
        ) as resp:
            await resp.read()
            rays.append(resp.headers["CF-Ray"])

    events = await read_json_lines(
        proc, lambda ls: any(line["type"] == "event" for line in ls), request
    )
    code, err = await stop_cli(proc)
    assert code == 0, err
    ray = next(e["ray_id"] for e in events if e["type"] == "event")
    cf_ray = next(r for r in rays if r.startswith(ray))
    code, out, _ = await run_cli(env, "logs", "trace", cf_ray, "--json")
    trace = json.loads(out)
    found = [(e["kind"], e["service"], e["ray_id"]) for e in trace["events"]]
    assert (code, found) == (0, [("worker", "api", ray)])
