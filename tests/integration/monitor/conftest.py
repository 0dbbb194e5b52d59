"""Fixtures for the daemon's integration tests: an in-process daemon against the simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import Config
from monitor.configload import load_config
from monitor.daemon import Daemon, Options
from monitor.sdnotify import Notifier
from tests.conftest import SimHandle
from tests.integration.monitor.testprobes import CONTROL, GATES, make_registry

REGISTRY = make_registry()
ADMIN_TOKEN = "admin-token-for-tests-0123456789"


async def until(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Poll the async ``predicate`` until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


def config_data(
    sim: SimHandle,
    probes: list[dict[str, Any]],
    *,
    interval: str = "0.3s",
    timeout: str = "0.25s",
    admin_token: str | None = ADMIN_TOKEN,
    state_dir: Path | None = None,
) -> dict[str, Any]:
    """A config document for the simulator's account, listening on a free port; without a
    ``state_dir`` it keeps no log store (nothing is written outside the test's directory)."""
    server: dict[str, Any] = {"listen": "127.0.0.1:0"}
    if admin_token is not None:
        server["admin_token"] = admin_token
    data: dict[str, Any] = {
        "cloudflare": {
            "account_id": sim.account_id,
            "api_token": sim.token,
            "api_base_url": sim.api,
        },
        "server": server,
        "defaults": {"interval": interval, "timeout": timeout},
        "probes": probes,
    }
    if state_dir is None:
        data["logs"] = {"store": False}
    else:
        data["state_dir"] = str(state_dir)
    return data


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as YAML to ``path``."""
    path.write_text(yaml.safe_dump(data))


def build(data: dict[str, Any]) -> Config:
    """Validate a config document with the test probe types."""
    return Config.model_validate(data, context={"registry": REGISTRY})


class Running:
    """A started in-process daemon and a session to talk to it."""

    def __init__(self, daemon: Daemon, session: aiohttp.ClientSession) -> None:
        self.daemon = daemon
        self.session = session

    @property
    def url(self) -> str:
        """The daemon's base URL."""
        return self.daemon.url

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        """GET ``path``: status and body text."""
        async with self.session.get(self.url + path, **kwargs) as resp:
            return resp.status, await resp.text()

    async def post(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        """POST ``path``: status and JSON body."""
        async with self.session.post(self.url + path, **kwargs) as resp:
            return resp.status, await resp.json()

    async def status(self) -> dict[str, Any]:
        """The status document."""
        async with self.session.get(self.url + "/api/v1/status") as resp:
            assert resp.status == 200
            doc: dict[str, Any] = await resp.json()
            return doc

    async def probe(self, name: str) -> dict[str, Any]:
        """One probe's entry in the status document."""
        for entry in (await self.status())["probes"]:
            if entry["name"] == name:
                return dict(entry)
        raise KeyError(name)

    async def metrics(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        """Every sample of /metrics: sample name → sorted labels → value."""
        status, text = await self.get("/metrics")
        assert status == 200
        out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = tuple(sorted(sample.labels.items()))
                out.setdefault(sample.name, {})[key] = sample.value
        return out

    async def metric(self, name: str, **labels: str) -> float | None:
        """One sample's value (``None`` when absent)."""
        return (await self.metrics()).get(name, {}).get(tuple(sorted(labels.items())))


Starter = Callable[..., Awaitable[Running]]


@pytest.fixture
def control() -> Iterator[dict[str, Any]]:
    """The test probes' runtime controls, cleared before and after the test."""
    CONTROL.clear()
    GATES.clear()
    yield CONTROL
    CONTROL.clear()
    GATES.clear()


@pytest.fixture
async def start_daemon(
    sim: SimHandle, control: dict[str, Any], tmp_path: Path
) -> AsyncIterator[Starter]:
    """Start in-process daemons against ``sim``; each is stopped after the test."""
    started: list[Running] = []

    async def start(
        probes: list[dict[str, Any]],
        *,
        config_file: Path | None = None,
        notifier: Notifier | None = None,
        options: Options | None = None,
        **overrides: Any,
    ) -> Running:
        overrides.setdefault("state_dir", tmp_path / "state")
        data = config_data(sim, probes, **overrides)
        loader = None
        source = "<test>"
        if config_file is not None:
            write_yaml(config_file, data)
            path = config_file

            def loader() -> Config:
                return load_config(path, registry=REGISTRY)

            source = str(config_file)
        daemon = Daemon(
            build(data),
            registry=REGISTRY,
            loader=loader,
            source=source,
            options=options or Options(startup_jitter_s=0.05, heartbeat_s=0.1),
            notifier=notifier,
        )
        await daemon.start()
        running = Running(daemon, aiohttp.ClientSession())
        started.append(running)
        return running

    yield start
    for running in started:
        await running.daemon.stop()
        await running.session.close()
