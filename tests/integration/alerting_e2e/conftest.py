"""Fixtures for alerting end to end: the daemon (in process or as a real process) with the
real probe types against the simulator, and local Slack and PagerDuty receivers."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.configload import load_config
from monitor.daemon import Daemon, Options
from probes.registry import Registry, builtin_registry
from tests.conftest import SimHandle
from tests.integration.alerting.receivers import Receiver, pagerduty_ok, slack_ok

ADMIN = "alerting-e2e-admin-token-0123456789"
ROUTING_KEY = "e2eR0UT1NGk3yR0UT1NGk3yR0UT1NG00"
FLAREWATCH = str(Path(sys.executable).with_name("flarewatch"))
REGISTRY: Registry = builtin_registry()
FAULT = {
    "service": "workers",
    "resource": "api",
    "exception": "TypeError: Cannot read properties of undefined (reading 'userId')",
}
"""A Worker error burst: every request to the api Worker throws."""


class Receivers:
    """A Slack incoming webhook and a PagerDuty Events API stand-in on loopback."""

    def __init__(self, slack: Receiver, pagerduty: Receiver) -> None:
        self.slack = slack
        self.pagerduty = pagerduty

    def slack_texts(self) -> list[str]:
        """The ``text`` of every Slack message accepted, in order."""
        return [r.json()["text"] for r in self.slack.delivered()]

    def pagerduty_events(self) -> list[dict[str, Any]]:
        """Every PagerDuty event accepted, in order."""
        return [r.json() for r in self.pagerduty.delivered()]


@pytest.fixture
async def receivers() -> AsyncIterator[Receivers]:
    """Slack and PagerDuty receivers, stopped after the test."""
    slack = await Receiver(slack_ok).start()
    pagerduty = await Receiver(pagerduty_ok).start()
    yield Receivers(slack, pagerduty)
    await slack.stop()
    await pagerduty.stop()


def alerting_section(receivers: Receivers, **overrides: Any) -> dict[str, Any]:
    """Two rules on the Worker probe (critical: down; warning: its checks fail), Slack for
    everything grouped by probe, PagerDuty for critical alerts, a rollback on firing."""
    section: dict[str, Any] = {
        "evaluation_interval": "1s",
        "rules": [
            {
                "name": "worker_down",
                "select": {"types": ["workers"]},
                "condition": 'status == "crit"',
                "severity": "critical",
                "summary": "Worker $probe is down: $reason",
                "runbook_url": "https://runbooks.example/worker-down",
            },
            {
                "name": "worker_checks_failing",
                "select": {"types": ["workers"]},
                "condition": "has(values.checks_failed) && values.checks_failed > 0.0",
                "severity": "warning",
                "summary": "Worker $probe: ${values.checks_failed:.0f} URL check(s) failing",
            },
        ],
        "notifiers": {
            "slack": {"type": "slack", "webhook_url": receivers.slack.url("/services/T/B/hook")},
            "pagerduty": {
                "type": "pagerduty",
                "routing_key": ROUTING_KEY,
                "url": receivers.pagerduty.url("/v2/enqueue"),
            },
        },
        "route": {
            "receivers": ["slack"],
            "group_by": ["probe"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": [
                {"matchers": ['severity="critical"'], "receivers": ["pagerduty"], "continue": True},
                {"receivers": ["slack"]},
            ],
        },
        "remediations": [
            {
                "name": "rollback-api",
                "when": {"rule": "worker_down", "matchers": ['probe="api-worker"']},
                "action": {"type": "worker_rollback", "script": "api", "force": True},
                "cooldown": "1h",
            }
        ],
        "outbox": {"initial_delay": "100ms", "max_delay": "1s"},
    }
    section.update(overrides)
    return section


def config_document(
    sim: SimHandle, state_dir: Path, alerting: Mapping[str, Any], *, token: str | None = None
) -> dict[str, Any]:
    """The api Worker probed every 0.5 s through the simulator's edge, with ``alerting``."""
    return {
        "cloudflare": {
            "account_id": sim.account_id,
            "api_token": token or sim.token,
            "api_base_url": sim.api,
        },
        "server": {"listen": "127.0.0.1:0", "admin_token": ADMIN},
        "state_dir": str(state_dir),
        "defaults": {"interval": "0.5s", "timeout": "0.45s"},
        "http": {"connect_to": {"api.spacevision.app:80": urlsplit(sim.url).netloc}},
        "logging": {"level": "warning", "format": "json"},
        "probes": [
            {
                "name": "api-worker",
                "type": "workers",
                "script": "api",
                "url": "http://api.spacevision.app/health",
                "labels": {"zone": "spacevision.app"},
            }
        ],
        "alerting": dict(alerting),
    }


def write_config(path: Path, document: Mapping[str, Any]) -> Path:
    """Write ``document`` as YAML to ``path``."""
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False))
    return path


class Session:
    """A started in-process daemon and a client session for its HTTP API."""

    def __init__(self, daemon: Daemon, http: aiohttp.ClientSession) -> None:
        self.daemon = daemon
        self.http = http

    async def alerts(self, **query: str) -> list[dict[str, Any]]:
        """``GET /api/v1/alerts``."""
        async with self.http.get(self.daemon.url + "/api/v1/alerts", params=query) as resp:
            assert 200 == resp.status, await resp.text()
            document: dict[str, Any] = await resp.json()
            return list(document["alerts"])

    async def firing(self) -> set[str]:
        """The rules firing now."""
        return {a["rule"] for a in await self.alerts(state="firing")}

    async def evaluated(self) -> bool:
        """Whether the engine has run a round (after every probe reported)."""
        async with self.http.get(self.daemon.url + "/api/v1/alerts") as resp:
            document: dict[str, Any] = await resp.json()
            return document["evaluated_at"] is not None

    async def undelivered(self) -> float:
        """Notifications in the outbox not yet accepted by their receiver (all receivers)."""
        async with self.http.get(self.daemon.url + "/metrics") as resp:
            text = await resp.text()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "flarewatch_outbox_depth"
            for sample in family.samples
        )


StartDaemon = Callable[[Path], Awaitable[Session]]


@pytest.fixture
async def start_daemon() -> AsyncIterator[StartDaemon]:
    """Start in-process daemons from config files; each is stopped after the test."""
    started: list[Session] = []

    async def start(path: Path) -> Session:
        daemon = Daemon(
            load_config(path, registry=REGISTRY),
            registry=REGISTRY,
            loader=lambda: load_config(path, registry=REGISTRY),
            source=str(path),
            options=Options(startup_jitter_s=0.05, heartbeat_s=0.1),
        )
        await daemon.start()
        session = Session(daemon, aiohttp.ClientSession())
        started.append(session)
        return session

    yield start
    for session in started:
        await session.daemon.stop()
        await session.http.close()


async def until(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Poll the async ``check`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def eventually(check: Callable[[], bool], within: float = 20.0) -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


class Process:
    """A ``flarewatch`` child process whose stderr is collected."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.stdout = ""
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        assert self.proc.stdout is not None

        async def out() -> None:
            assert self.proc.stdout is not None
            self.stdout = (await self.proc.stdout.read()).decode(errors="replace")

        reading = asyncio.ensure_future(out())
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))
        await reading

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log events called ``name`` so far."""
        out = []
        for line in self.lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == name:
                out.append(event)
        return out

    async def finish(self, within: float = 20.0) -> int:
        """The exit code once the process ends (and its output is read)."""
        code = await asyncio.wait_for(self.proc.wait(), within)
        await self._reader
        return code


Spawn = Callable[..., Awaitable[Process]]


def child_environment(**extra: str) -> dict[str, str]:
    """The environment of a child: no CLOUDFLARE_* or NOTIFY_SOCKET from the test runner."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "NOTIFY_"))}
    env.pop("FLAREWATCH_ADMIN_TOKEN", None)
    env.pop("FLAREWATCH_URL", None)
    env.update(extra)
    return env


@pytest.fixture
async def spawn() -> AsyncIterator[Spawn]:
    """Run ``flarewatch`` commands as real processes; any still running are killed after."""
    procs: list[Process] = []

    async def start(*args: str, env: Mapping[str, str] | None = None) -> Process:
        proc = await asyncio.create_subprocess_exec(
            FLAREWATCH,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env if env is not None else child_environment()),
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
