"""A real Prometheus for tests: started on a free loopback port, queried, stopped by PID.

::

    prom = await PrometheusServer.start(config_text, workdir)
    try:
        result = await prom.query("up")
    finally:
        await prom.stop()

The binary is Debian's ``prometheus`` (2.42 here); a test that needs it fails, not skips,
when it is missing (:func:`prometheus_binary`): CI installs it (``.ci/run``). The server
keeps its TSDB, its config and its log in ``workdir``, listens on ``127.0.0.1`` only, and
is stopped with SIGTERM (then SIGKILL if it lingers) by its own PID.

This module is test support: it imports nothing from flarewatch.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

STOP_TIMEOUT_S = 15.0
"""How long Prometheus gets to shut down cleanly after SIGTERM before it is killed."""


class PrometheusError(AssertionError):
    """Prometheus did not start, or answered a query with an error."""


def prometheus_binary() -> str:
    """The ``prometheus`` binary's path; fails with the install hint when it is missing."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise PrometheusError(
            "the prometheus binary is not installed (apt-get install prometheus); "
            "these tests need the real server"
        )
    return binary


def free_port() -> int:
    """A port free on 127.0.0.1 right now (Prometheus cannot listen on port 0 and tell us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _launch(config_text: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path, Path]:
    """Write the config and start the process (blocking work, run in a thread)."""
    binary = prometheus_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(config_text)
    log = workdir / "prometheus.log"
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - a fixed binary and our own arguments
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    return process, f"http://127.0.0.1:{port}", log, config


class PrometheusServer:
    """A running Prometheus process and an HTTP session to its API."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path, config: Path) -> None:
        self.process = process
        self.url = url
        self.log = log
        self.config = config
        self._session = aiohttp.ClientSession()

    @classmethod
    async def start(
        cls, config_text: str, workdir: Path, *, ready_within_s: float = 30.0
    ) -> PrometheusServer:
        """Write ``config_text`` to ``workdir/prometheus.yml``, start Prometheus on it, and
        return once ``/-/ready`` answers 200 (failing with its log otherwise)."""
        process, url, log, config = await asyncio.to_thread(_launch, config_text, workdir)
        server = cls(process, url, log, config)
        try:
            await server._wait_ready(ready_within_s)
        except BaseException:
            await server.stop()
            raise
        return server

    async def _wait_ready(self, within_s: float) -> None:
        deadline = time.monotonic() + within_s
        while True:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited at start:\n{self.log.read_text()}")
            try:
                async with self._session.get(self.url + "/-/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise PrometheusError(
                    f"prometheus not ready within {within_s} s:\n{self.log.read_text()}"
                )
            await asyncio.sleep(0.05)

    async def api(self, path: str, **params: str) -> tuple[int, dict[str, Any]]:
        """``GET /api/v1/<path>`` with ``params``: HTTP status and the decoded body."""
        async with self._session.get(f"{self.url}/api/v1/{path}", params=params) as response:
            body: dict[str, Any] = await response.json(content_type=None)
            return response.status, body

    async def query(self, expr: str, **params: str) -> list[dict[str, Any]]:
        """An instant query's result vector (fails on any error, with Prometheus's words)."""
        status, body = await self.api("query", query=expr, **params)
        if status != 200 or body.get("status") != "success":
            raise PrometheusError(f"query {expr!r} failed ({status}): {body}")
        data = body["data"]
        if data["resultType"] != "vector":
            raise PrometheusError(f"query {expr!r} returned a {data['resultType']}")
        result: list[dict[str, Any]] = data["result"]
        return result

    async def series_samples(
        self, selector: str, at: float, window_s: int
    ) -> list[tuple[dict[str, str], list[tuple[float, str]]]]:
        """The raw samples of ``selector`` over ``window_s`` seconds up to ``at`` (a range
        selector evaluated as an instant query): each series' labels and (timestamp, value)
        pairs as stored, i.e. one pair per scrape that saw the series."""
        status, body = await self.api("query", query=f"{selector}[{window_s}s]", time=f"{at}")
        if status != 200 or body.get("status") != "success":
            raise PrometheusError(f"range selector {selector!r} failed ({status}): {body}")
        return [
            (series["metric"], [(float(t), v) for t, v in series["values"]])
            for series in body["data"]["result"]
        ]

    async def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets (``/api/v1/targets``)."""
        status, body = await self.api("targets", state="active")
        if status != 200:
            raise PrometheusError(f"targets failed ({status}): {body}")
        targets: list[dict[str, Any]] = body["data"]["activeTargets"]
        return targets

    async def stop(self) -> int:
        """SIGTERM, wait for a clean exit (SIGKILL after :data:`STOP_TIMEOUT_S`); the exit code."""
        await self._session.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)
        return int(self.process.returncode)
