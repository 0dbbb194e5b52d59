"""Fixtures for the notifier and outbox tests: local receivers and a real Alertmanager."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.integration.alerting.receivers import Answer, Received, Receiver, plain_ok

ReceiverFactory = Callable[..., Awaitable[Receiver]]

ALERTMANAGER_CONFIG = """\
route:
  receiver: blackhole
  group_wait: 1h
receivers:
  - name: blackhole
"""


@pytest.fixture
async def receivers() -> AsyncIterator[ReceiverFactory]:
    """Start recording receivers on free loopback ports; all are stopped afterwards."""
    started: list[Receiver] = []

    async def start(default: Callable[[Received], Answer] = plain_ok) -> Receiver:
        receiver = await Receiver(default).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        await receiver.stop()


def free_port() -> int:
    """A port free on 127.0.0.1 right now (for a server that cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def closed_port_url(path: str = "/") -> str:
    """A loopback URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}{path}"


class AlertmanagerProcess:
    """A running ``prometheus-alertmanager`` on a loopback port, with its log file."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log

    async def alerts(self, **filters: str) -> list[dict[str, object]]:
        """``GET /api/v2/alerts`` (with Alertmanager's filters, e.g. ``active="true"``)."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + "/api/v2/alerts", params=filters) as response,
        ):
            assert 200 == response.status, await response.text()
            alerts: list[dict[str, object]] = await response.json()
            return alerts


def _alertmanager_binary() -> str | None:
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


@pytest.fixture
def alertmanager_binary() -> str:
    """The Alertmanager binary; the test is skipped (only) when it is not installed."""
    binary = _alertmanager_binary()
    if binary is None:
        pytest.skip("prometheus-alertmanager is not installed (CI installs it)")
    return binary


def start_alertmanager(
    binary: str, workdir: Path, config: Path | None = None
) -> AlertmanagerProcess:
    """Start an Alertmanager without clustering on a free loopback port, on ``config`` (by
    default a minimal one written into ``workdir``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if config is None:
        config = workdir / "alertmanager.yml"
        config.write_text(ALERTMANAGER_CONFIG)
    log = workdir / "alertmanager.log"
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - a fixed binary and our own arguments
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return AlertmanagerProcess(f"http://127.0.0.1:{port}", process, log)


async def wait_ready(am: AlertmanagerProcess, within: float = 20.0) -> None:
    """Poll ``/-/ready`` until Alertmanager answers, or fail with its log."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            if am.process.poll() is not None:
                pytest.fail(f"alertmanager exited: {am.log.read_text()}")
            try:
                async with session.get(am.url + "/-/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"alertmanager not ready in {within}s: {am.log.read_text()}")
            await asyncio.sleep(0.05)


def stop_alertmanager(am: AlertmanagerProcess) -> None:
    """Stop it by its PID (terminate, then kill if it lingers)."""
    if am.process.poll() is None:
        am.process.terminate()
        try:
            am.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            am.process.kill()
            am.process.wait()


@pytest.fixture
async def alertmanager(
    alertmanager_binary: str, tmp_path: Path
) -> AsyncIterator[AlertmanagerProcess]:
    """A real Alertmanager 0.25 for the test, stopped afterwards."""
    am = start_alertmanager(alertmanager_binary, tmp_path / "am")
    try:
        await wait_ready(am)
        yield am
    finally:
        stop_alertmanager(am)


@pytest.fixture
def cleanup_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; any still running afterwards are killed by PID."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
