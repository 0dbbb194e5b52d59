"""Shared fixtures for probe integration tests: a ProbeContext wired to the simulator."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult

from cfapi.budget import RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials
from cfapi.retry import RetryPolicy
from probes.analytics import AnalyticsHub
from probes.base import ProbeContext
from probes.resources import ResourceIndex
from tests.conftest import SimHandle

# Retries fast enough for tests; the defaults (0.5 s base) are for production.
FAST_RETRY = RetryPolicy(max_attempts=4, max_time_s=10.0, base_s=0.01, cap_s=0.05)


class LoopbackResolver(AbstractResolver):
    """Sends every hostname to 127.0.0.1: to ``routes[host]`` if set, else ``default_port``.

    The port of the URL is replaced, so ``http://api.spacevision.app/health`` reaches the
    simulator's edge on its free port. Tests add ``routes`` entries for their own servers
    (e.g. a local HTTPS server with a short-lived certificate).
    """

    def __init__(self, default_port: int) -> None:
        self.default_port = default_port
        self.routes: dict[str, int] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Always loopback; never asks any DNS server."""
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=self.routes.get(host, self.default_port),
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        """Nothing to release."""


@pytest.fixture
def loopback_resolver(sim: SimHandle) -> LoopbackResolver:
    """The resolver of ``probe_ctx.http``: every hostname goes to the simulator's edge."""
    return LoopbackResolver(sim.server.port)


@pytest.fixture
async def probe_ctx(
    sim: SimHandle, loopback_resolver: LoopbackResolver
) -> AsyncIterator[ProbeContext]:
    """A ProbeContext as the daemon builds it, against the contract-checked simulator.

    A real CloudflareClient (own budget, fast retries) on ``sim.api``, an HTTP session whose
    resolver sends every hostname to the simulator (``loopback_resolver.routes`` redirects
    single hosts elsewhere), an AnalyticsHub and a ResourceIndex on the wall clock.
    """
    connector = aiohttp.TCPConnector(resolver=loopback_resolver, use_dns_cache=False)
    http = aiohttp.ClientSession(connector=connector)
    cf = CloudflareClient(
        Credentials.bearer(sim.token), base_url=sim.api, retry=FAST_RETRY, budget=RequestBudget()
    )
    try:
        yield ProbeContext(
            cf=cf,
            account_id=sim.account_id,
            http=http,
            analytics=AnalyticsHub(cf, sim.account_id, clock=time.time),
            resources=ResourceIndex(cf, sim.account_id, clock=time.time),
            log=structlog.get_logger("flarewatch.test"),
            timeout_s=10.0,
            clock=time.time,
        )
    finally:
        await cf.aclose()
        await http.close()
