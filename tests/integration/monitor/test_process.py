"""``flarewatch run`` and ``flarewatch probe`` as real processes, with the real probe types.

These are what systemd and Docker run: signals, exit codes, the JSON log on stderr, the
notify socket, and bad input ending with exit 2 and no traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml

from tests.conftest import SimHandle
from tests.integration.monitor.conftest import until

FLAREWATCH = str(Path(sys.executable).with_name("flarewatch"))
ADMIN = "process-admin-token-0123456789"


def real_config(sim: SimHandle, **overrides: Any) -> dict[str, Any]:
    """A SpaceVision config with real probe types, pointed at the simulator."""
    edge = urlsplit(sim.url).netloc
    config: dict[str, Any] = {
        "cloudflare": {
            "account_id": sim.account_id,
            "api_token": "${TEST_CF_TOKEN}",
            "api_base_url": sim.api,
        },
        "server": {"listen": "127.0.0.1:0", "admin_token": ADMIN},
        "defaults": {"interval": "1s", "timeout": "0.8s"},
        "http": {"connect_to": {"www.spacevision.app:80": edge}},
        "probes": [
            {"name": "budget", "type": "api", "verify_token": None},
            {"name": "www", "type": "http", "url": "http://www.spacevision.app/"},
            {"name": "main-db", "type": "d1", "database": "spacevision-db"},
        ],
        "logs": {"store": False},  # no state written outside the test's directory
    }
    config.update(overrides)
    return config


def environment(sim: SimHandle, **extra: str) -> dict[str, str]:
    """The child's environment: the token in a variable, no CLOUDFLARE_* leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "NOTIFY_"))}
    env["TEST_CF_TOKEN"] = sim.token
    env.update(extra)
    return env


class Process:
    """A running ``flarewatch run`` whose stderr is collected line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines so far."""
        out = []
        for line in self.lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def event(self, name: str) -> dict[str, Any] | None:
        """The first log event called ``name``, if any."""
        return next((e for e in self.events() if e.get("event") == name), None)

    async def wait(self, timeout_s: float) -> int:
        """The exit code, within ``timeout_s``."""
        code = await asyncio.wait_for(self.proc.wait(), timeout_s)
        await self._reader
        return code


@pytest.fixture
async def spawn() -> AsyncIterator[Any]:
    """Start ``flarewatch`` processes; any left running are killed after the test."""
    procs: list[Process] = []

    async def start(*args: str, env: Mapping[str, str]) -> Process:
        proc = await asyncio.create_subprocess_exec(
            FLAREWATCH,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
        )
        running = Process(proc)
        procs.append(running)
        return running

    yield start
    for p in procs:
        if p.proc.returncode is None:
            p.proc.kill()
            await p.proc.wait()
        await p._reader


async def started(process: Process) -> str:
    """Wait for the ``flarewatch_started`` line; the daemon's base URL."""

    async def logged() -> bool:
        if process.proc.returncode is not None:
            raise AssertionError("flarewatch exited:\n" + "\n".join(process.lines))
        return process.event("flarewatch_started") is not None

    await until(logged, timeout_s=20.0)
    line = process.event("flarewatch_started")
    assert line is not None
    return f"http://{line['listen']}"


async def test_run_serves_reloads_and_stops_cleanly_on_sigterm(
    sim: SimHandle, spawn: Any, tmp_path: Path
) -> None:
    """The systemd path: ready, SIGHUP with a bad file keeps going, SIGTERM exits 0 in 10 s."""
    config = tmp_path / "flarewatch.yaml"
    config.write_text(yaml.safe_dump(real_config(sim)))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify.sock"))
    listener.setblocking(False)
    process = await spawn(
        "run", "-c", str(config), env=environment(sim, NOTIFY_SOCKET=str(tmp_path / "notify.sock"))
    )
    base = await started(process)
    async with aiohttp.ClientSession() as http:

        async def ready() -> bool:
            async with http.get(base + "/readyz") as resp:
                return resp.status == 200

        await until(ready, timeout_s=20.0)
        assert "READY=1" in listener.recv(4096).decode()

        async with http.get(base + "/api/v1/status") as resp:
            status = await resp.json()
        assert ["budget", "www", "main-db"] == [p["name"] for p in status["probes"]]
        assert "ok" == {p["name"]: p for p in status["probes"]}["www"]["status"]

        config.write_text("probes: [\n")
        process.proc.send_signal(signal.SIGHUP)

        async def rejected() -> bool:
            return process.event("config_reload_rejected") is not None

        await until(rejected)
        line = process.event("config_reload_rejected")
        assert line is not None
        assert str(config) in " ".join(line["problems"])
        async with http.get(base + "/api/v1/status") as resp:
            after = await resp.json()
        assert ["budget", "www", "main-db"] == [p["name"] for p in after["probes"]]
        async with http.get(base + "/healthz") as resp:
            assert 200 == resp.status

    began = time.monotonic()
    process.proc.send_signal(signal.SIGTERM)
    assert 0 == await process.wait(10.0)
    assert time.monotonic() - began < 10.0
    assert process.event("flarewatch_stopped") is not None
    listener.close()
    text = "\n".join(process.lines)
    assert sim.token not in text
    assert ADMIN not in text
    assert "Traceback" not in text


async def test_sigint_stops_like_sigterm(sim: SimHandle, spawn: Any, tmp_path: Path) -> None:
    """Ctrl-C in a terminal is a clean stop with exit code 0."""
    config = tmp_path / "flarewatch.yaml"
    config.write_text(yaml.safe_dump(real_config(sim)))
    process = await spawn("run", "-c", str(config), env=environment(sim))
    await started(process)
    process.proc.send_signal(signal.SIGINT)
    assert 0 == await process.wait(10.0)


async def test_a_bad_config_exits_2_with_located_errors(
    sim: SimHandle, spawn: Any, tmp_path: Path
) -> None:
    """Bad input is exit 2 with file:line and key, never a traceback."""
    data = real_config(sim)
    data["probes"][1]["interval"] = "soon"
    config = tmp_path / "flarewatch.yaml"
    config.write_text(yaml.safe_dump(data))
    process = await spawn("run", "-c", str(config), env=environment(sim))
    assert 2 == await process.wait(20.0)
    text = "\n".join(process.lines)
    assert f"{config}:" in text
    assert "probes[1].interval" in text
    assert "Traceback" not in text


async def test_a_missing_token_exits_2(sim: SimHandle, spawn: Any, tmp_path: Path) -> None:
    """No token anywhere (file, variable): a clear start error naming the key."""
    data = real_config(sim)
    del data["cloudflare"]["api_token"]
    config = tmp_path / "flarewatch.yaml"
    config.write_text(yaml.safe_dump(data))
    process = await spawn("run", "-c", str(config), env=environment(sim))
    assert 2 == await process.wait(20.0)
    text = "\n".join(process.lines)
    assert "api_token" in text
    assert "Traceback" not in text


async def test_an_unreachable_api_exits_2(sim: SimHandle, spawn: Any, tmp_path: Path) -> None:
    """Nobody listening at the API base URL: exit 2 saying which URL and which key."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    data = real_config(sim)
    data["cloudflare"]["api_base_url"] = f"http://127.0.0.1:{closed}/client/v4"
    config = tmp_path / "flarewatch.yaml"
    config.write_text(yaml.safe_dump(data))
    process = await spawn("run", "-c", str(config), env=environment(sim))
    assert 2 == await process.wait(30.0)
    text = "\n".join(process.lines)
    assert f"cannot reach the Cloudflare API at http://127.0.0.1:{closed}/client/v4" in text
    assert "Traceback" not in text


async def oneshot(spawn: Any, sim: SimHandle, config: Path, *args: str) -> tuple[int, str, str]:
    """Run ``flarewatch probe``: exit code, stdout, stderr."""
    process = await spawn("probe", "-c", str(config), *args, env=environment(sim))
    code = await process.wait(60.0)
    assert process.proc.stdout is not None
    out = (await process.proc.stdout.read()).decode()
    return code, out, "\n".join(process.lines)


async def test_probe_prints_a_table_and_exits_0_when_all_pass(
    sim: SimHandle, spawn: Any, tmp_path: Path
) -> None:
    """``flarewatch probe`` runs every probe once and prints one row each."""
    config = tmp_path / "flarewatch.yaml"
    config.write_text(yaml.safe_dump(real_config(sim)))
    code, out, err = await oneshot(spawn, sim, config)
    assert 0 == code, out + err
    rows = out.splitlines()
    assert rows[0].split() == ["PROBE", "TYPE", "STATUS", "LATENCY", "DURATION", "MESSAGE"]
    assert ["budget", "www", "main-db"] == [row.split()[0] for row in rows[1:]]


async def test_probe_json_selects_by_name_and_exits_1_on_failure(
    sim: SimHandle, spawn: Any, tmp_path: Path
) -> None:
    """Named probes only, JSON out, and a failing one makes the exit code 1."""
    config = tmp_path / "flarewatch.yaml"
    config.write_text(yaml.safe_dump(real_config(sim)))
    await sim.control("POST", "/__sim/faults", json={"service": "d1", "outage": True})
    code, out, _ = await oneshot(spawn, sim, config, "main-db", "www", "--json")
    document = json.loads(out)
    assert 1 == code
    assert False is document["ok"]
    statuses = {p["name"]: p["status"] for p in document["probes"]}
    assert "ok" == statuses["www"]
    assert statuses["main-db"] in ("crit", "unknown")
    assert ["main-db", "www"] == [p["name"] for p in document["probes"]]


async def test_probe_with_an_unknown_name_exits_2(
    sim: SimHandle, spawn: Any, tmp_path: Path
) -> None:
    """A misspelt probe name is bad input: exit 2 listing the probes there are."""
    config = tmp_path / "flarewatch.yaml"
    config.write_text(yaml.safe_dump(real_config(sim)))
    code, _, err = await oneshot(spawn, sim, config, "main-dbb")
    assert 2 == code
    assert "no probe named 'main-dbb'" in err
    assert "budget, www, main-db" in err


def test_the_console_script_exists() -> None:
    """The tests drive the installed ``flarewatch`` command, as users do."""
    assert Path(FLAREWATCH).exists()
