"""The daemon watching the simulated SpaceVision estate with every built-in probe type.

Shared by the Prometheus and Grafana tests: a real :class:`monitor.daemon.Daemon` (in this
process) with one probe of each type (workers, pages, kv, r2, d1, dns, http, api) against
the ``sim`` fixture's simulator, the simulator's own nameserver and caching resolver on
loopback for the DNS probe, and optionally alerting (one rule, a Slack notifier posting to a
local receiver), so the alert and notification families are exported too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yaml

from cfsim.dnsserver import Nameserver, Resolver
from monitor.config import Config
from monitor.daemon import Daemon, Options
from probes.registry import Registry, builtin_registry
from tests.conftest import SimHandle
from tests.integration.alerting.receivers import Receiver, slack_ok
from tests.promserver import PrometheusServer, free_port

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "deploy" / "prometheus" / "prometheus.yml"
"""The scrape config users copy."""
SCRAPE_S = 1
"""The scrape interval of the Prometheus the tests start."""
REGISTRY: Registry = builtin_registry()
ALL_TYPES = frozenset({"workers", "pages", "kv", "r2", "d1", "dns", "http", "api"})


def probes(nameserver: str, resolver: str) -> list[dict[str, Any]]:
    """One probe per built-in type, each against a healthy part of the SpaceVision seed."""
    return [
        {
            "name": "api-worker",
            "type": "workers",
            "script": "api",
            "url": "http://api.spacevision.app/health",
        },
        {
            "name": "web",
            "type": "pages",
            "project": "spacevision-web",
            "url": "http://spacevision.app/",
        },
        {"name": "sessions-kv", "type": "kv", "namespace": "SESSIONS", "canary_interval": 0},
        {"name": "uploads-r2", "type": "r2", "bucket": "uploads", "quota": "10GB"},
        {"name": "main-db", "type": "d1", "database": "spacevision-db"},
        {
            "name": "dns",
            "type": "dns",
            "zone": "spacevision.app",
            "records": [{"name": "api", "type": "AAAA"}, {"name": "@", "type": "MX"}],
            "nameservers": [{"name": "ns1", "address": nameserver}],
            "resolvers": [{"name": "resolver-1", "address": resolver}],
            "query_timeout": "0.5s",
        },
        {"name": "www", "type": "http", "url": "http://www.spacevision.app/"},
        {"name": "cloudflare-api", "type": "api"},
    ]


def alerting(slack_url: str) -> dict[str, Any]:
    """Alerting with one rule and a Slack notifier: every alert family is exported."""
    return {
        "evaluation_interval": "1s",
        "rules": [
            {
                "name": "probe_down",
                "condition": 'status == "crit"',
                "severity": "critical",
                "summary": "$probe is down: $reason",
            }
        ],
        "notifiers": {"slack": {"type": "slack", "webhook_url": slack_url}},
        "route": {"receivers": ["slack"], "group_wait": "0s", "group_interval": "1s"},
        "outbox": {"initial_delay": "100ms", "max_delay": "1s"},
    }


def derived_config(target: str, alertmanager: str) -> str:
    """The shipped config with the test's target, 1 s intervals, an absolute rule glob and
    ``alertmanager`` as the Alertmanager (see the module docstring); nothing else changes."""
    doc: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    interval = f"{SCRAPE_S}s"
    doc["global"].update(
        scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval
    )
    doc["rule_files"] = [str(SHIPPED.parent / glob) for glob in doc["rule_files"]]
    (manager,) = doc["alerting"]["alertmanagers"]
    manager["static_configs"] = [{"targets": [alertmanager]}]
    (job,) = doc["scrape_configs"]
    assert "scrape_interval" not in job, "the job's own interval would need rewriting too"
    (static,) = job["static_configs"]
    static["targets"] = [target]
    return str(yaml.safe_dump(doc, sort_keys=False))


@dataclass
class Estate:
    """A started daemon over the simulator, with a session to read it."""

    daemon: Daemon
    session: aiohttp.ClientSession
    probe_types: dict[str, str]

    @property
    def url(self) -> str:
        """The daemon's base URL."""
        return self.daemon.url

    @property
    def hostport(self) -> str:
        """The daemon's ``host:port`` (a Prometheus target)."""
        return urlsplit(self.daemon.url).netloc

    async def metrics_text(self) -> str:
        """The daemon's ``/metrics`` exposition, as Prometheus would scrape it."""
        async with self.session.get(self.url + "/metrics") as response:
            assert response.status == 200
            return await response.text()

    async def status(self) -> dict[str, Any]:
        """The status document."""
        async with self.session.get(self.url + "/api/v1/status") as response:
            assert response.status == 200
            doc: dict[str, Any] = await response.json()
            return doc

    async def wait_green(self, within_s: float = 30.0) -> None:
        """Wait until every probe has run and reports ok (fail with the statuses otherwise)."""
        await until(self._all_ok, within_s, lambda: self._statuses_text())

    async def _all_ok(self) -> bool:
        doc = await self.status()
        return all(p["status"] == "ok" for p in doc["probes"])

    async def _statuses_text(self) -> str:
        doc = await self.status()
        return ", ".join(f"{p['name']}={p['status']} ({p['message']})" for p in doc["probes"])


async def until(
    predicate: Callable[[], Awaitable[bool]],
    within_s: float,
    explain: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """Poll ``predicate`` until it holds; after ``within_s`` fail (with ``explain()``)."""
    deadline = time.monotonic() + within_s
    while not await predicate():
        if time.monotonic() > deadline:
            detail = await explain() if explain is not None else ""
            raise AssertionError(f"condition not met within {within_s} s. {detail}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def estate(
    sim: SimHandle,
    state_dir: Path,
    *,
    interval_s: float = 1.0,
    with_alerting: bool = False,
) -> AsyncIterator[Estate]:
    """Start the simulator's DNS servers and the daemon; stop everything on exit."""
    nameserver = Nameserver(sim.server.state)
    await nameserver.start()
    resolver = Resolver(nameserver.address)
    receiver: Receiver | None = None
    daemon: Daemon | None = None
    session: aiohttp.ClientSession | None = None
    try:
        await resolver.start()
        edge = urlsplit(sim.url).netloc
        data: dict[str, Any] = {
            "state_dir": str(state_dir),
            "cloudflare": {
                "account_id": sim.account_id,
                "api_token": sim.token,
                "api_base_url": sim.api,
            },
            "server": {"listen": "127.0.0.1:0"},
            "defaults": {"interval": f"{interval_s}s", "timeout": f"{interval_s * 0.8:.2f}s"},
            "http": {
                "connect_to": {
                    f"{host}:80": edge
                    for host in ("api.spacevision.app", "spacevision.app", "www.spacevision.app")
                }
            },
            "logging": {"level": "warning", "format": "json"},
            "probes": probes(nameserver.address, resolver.address),
        }
        if with_alerting:
            receiver = await Receiver(slack_ok).start()
            data["alerting"] = alerting(receiver.url("/services/T/B/hook"))
        config = Config.model_validate(data, context={"registry": REGISTRY})
        daemon = Daemon(
            config, registry=REGISTRY, options=Options(startup_jitter_s=0.1, heartbeat_s=0.2)
        )
        await daemon.start()
        session = aiohttp.ClientSession()
        types = {str(p["name"]): str(p["type"]) for p in data["probes"]}
        yield Estate(daemon, session, types)
    finally:
        if daemon is not None:
            await daemon.stop()
        if session is not None:
            await session.close()
        if receiver is not None:
            await receiver.stop()
        await resolver.stop()
        await nameserver.stop()


@dataclass
class Stack:
    """The daemon and a real Prometheus scraping it."""

    estate: Estate
    prom: PrometheusServer


@asynccontextmanager
async def stack(
    sim: SimHandle, workdir: Path, *, interval_s: float = 1.0, with_alerting: bool = False
) -> AsyncIterator[Stack]:
    """The daemon (every probe type) and a real Prometheus on the shipped config scraping it
    every :data:`SCRAPE_S` s. Prometheus is stopped with SIGTERM and must exit cleanly."""
    async with estate(
        sim, workdir / "state", interval_s=interval_s, with_alerting=with_alerting
    ) as running:
        config = derived_config(running.hostport, f"127.0.0.1:{free_port()}")
        prom = await PrometheusServer.start(config, workdir / "prometheus")
        try:
            yield Stack(running, prom)
        finally:
            code = await prom.stop()
        assert code == 0, f"prometheus exited with {code}:\n{prom.log.read_text()}"
