"""Shared pieces for the log tools' integration tests: a fast client, edge traffic, waiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

from cfapi.budget import RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials
from cfapi.retry import RetryPolicy
from cfapi.tail import TailOptions
from tests.conftest import SimHandle

T = TypeVar("T")
# Retries and tail timings fast enough for tests; the defaults are for production.
FAST_RETRY = RetryPolicy(max_attempts=4, max_time_s=10.0, base_s=0.01, cap_s=0.05)
FAST_TAIL = TailOptions(
    ping_interval_s=0.2, reconnect_delays_s=(0.01, 0.05, 0.1), connect_timeout_s=2
)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
HOSTS = {
    "api": "api.spacevision.app",
    "image-processor": "images.spacevision.app",
    "spacevision-web": "spacevision.app",
}


@pytest.fixture
async def client(sim: SimHandle) -> AsyncIterator[CloudflareClient]:
    """A client of the simulator with its own budget, fast retries and fast tail timings."""
    async with CloudflareClient(
        Credentials.bearer(sim.token),
        base_url=sim.api,
        retry=FAST_RETRY,
        budget=RequestBudget(),
        tail_options=FAST_TAIL,
    ) as cf:
        yield cf


async def hit(
    sim: SimHandle,
    service: str,
    path: str = "/",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> int:
    """One request through the simulated edge to a Worker or the Pages site, by Host."""
    sent = {"Host": HOSTS[service], **(headers or {})}
    async with sim.session.request(method, sim.url + path, headers=sent) as resp:
        await resp.read()
        return resp.status


async def fault(sim: SimHandle, **spec: Any) -> None:
    """Activate a simulator fault."""
    await sim.control("POST", "/__sim/faults", json=spec)


async def poll(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Wait for a condition with a deadline (no fixed sleeps)."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def take_until(
    items: AsyncIterator[T],
    done: Callable[[list[T]], bool],
    poke: Callable[[], Awaitable[object]] | None = None,
    timeout_s: float = 10.0,
) -> list[T]:
    """Read ``items`` until ``done(seen)``, calling ``poke`` whenever nothing arrives."""
    seen: list[T] = []
    async with asyncio.timeout(timeout_s):
        while not done(seen):
            if poke is not None:
                await poke()
            try:
                async with asyncio.timeout(0.3):
                    seen.append(await anext(items))
            except TimeoutError:
                continue
            while not done(seen):
                try:
                    async with asyncio.timeout(0.05):
                        seen.append(await anext(items))
                except TimeoutError:
                    break
    return seen
