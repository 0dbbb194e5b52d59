"""``flarewatch simulator`` and ``flarewatch demo`` as a user runs them: a real process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

TOKEN = "drill-token-0123456789abcdefghijklmnopqrs"


@asynccontextmanager
async def running(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, str]]]:
    """Start ``flarewatch ARGS`` and yield it with the values it printed at start."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    printed: dict[str, str] = {}
    try:
        async with asyncio.timeout(20):
            while "API token" not in printed:
                line = (await proc.stdout.readline()).decode()
                assert line, "the simulator exited before printing how to reach it"
                m = re.match(r"\s+(API base URL|account id|API token)\s+:\s+(\S+)", line)
                if m:
                    printed[m.group(1)] = m.group(2)
        yield proc, printed
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                await proc.wait()


async def test_simulator_command_serves_the_api_with_the_given_token() -> None:
    """The printed base URL and token work as CLOUDFLARE_API_BASE_URL / _TOKEN would."""
    async with (
        running("simulator", "--port", "0", "--token", TOKEN) as (_, printed),
        aiohttp.ClientSession() as http,
    ):
        assert printed["API token"] == TOKEN
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with http.get(printed["API base URL"] + "/accounts", headers=headers) as resp:
            body = await resp.json()
        assert resp.status == 200
        assert body["result"][0]["id"] == printed["account id"]
        assert body["result"][0]["name"] == "SpaceVision"


async def test_simulator_stops_cleanly_on_sigterm() -> None:
    """SIGTERM stops the simulator with exit code 0."""
    async with running("simulator", "--port", "0", "--seed", "empty") as (proc, _):
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            code = await proc.wait()
    assert code == 0


async def test_bad_listen_address_exits_2_with_a_hint() -> None:
    """A malformed --listen is bad input: exit 2 and a message saying what to write."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "demo",
        "--listen",
        "localhost",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert "expected HOST:PORT" in err.decode()
    assert "Traceback" not in err.decode()


async def test_port_in_use_exits_2_with_a_hint() -> None:
    """A port already taken is reported in one line with exit 2, never a traceback."""
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "simulator",
            "--port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
    finally:
        blocker.close()
        await blocker.wait_closed()
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err.decode()
    assert "Traceback" not in err.decode()


def test_seed_choices_match_the_simulator() -> None:
    """`flarewatch simulator --seed` offers exactly the seeds the simulator has."""
    from cfsim.seed import SEEDS
    from monitor import cli

    assert SEEDS == cli.SEEDS


async def test_cli_does_not_import_the_simulator() -> None:
    """Loading the CLI (as the daemon will) leaves the simulator unimported until it runs."""
    code = "import sys, monitor.cli; print('cfsim' in sys.modules)"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert "False" == out.decode().strip()
