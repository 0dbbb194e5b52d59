"""Error capture for alerts, against the simulator: exceptions with their request, bounded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from cfapi.client import CloudflareClient
from cfapi.errors import TailLimitReached
from ops.capture import capture_exceptions
from tests.conftest import SimHandle
from tests.integration.ops.conftest import TRACEPARENT, fault, hit


@contextlib.asynccontextmanager
async def traffic(sim: SimHandle, path: str = "/v1/upload") -> AsyncIterator[None]:
    """Keep requests flowing to the api Worker while the block runs."""

    async def loop() -> None:
        while True:
            await hit(sim, "api", path, method="POST", headers={"traceparent": TRACEPARENT})
            await asyncio.sleep(0.01)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_exceptions_are_captured_with_their_request(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """The first exceptions come back with name, message, stack, request and trace id; the
    capture stops at the limit and leaves no tail behind."""
    await fault(sim, service="workers", resource="api", exception="x is undefined")
    async with traffic(sim):
        captured = await capture_exceptions(client, sim.account_id, "api", 10.0, 2)
    first = captured[0]
    actual = (
        len(captured),
        first.title,
        first.stack.splitlines()[1].strip(),
        first.request,
        first.trace_id,
        await client.workers.tails(sim.account_id, "api"),
    )
    expected: tuple[object, ...] = (
        2,
        "Error: x is undefined",
        "at handleRequest (index.js:42:11)",
        "POST https://api.spacevision.app/v1/upload → 500",
        "0af7651916cd43dd8448eb211c80319c",
        [],
    )
    assert expected == actual


async def test_a_healthy_worker_gives_nothing_within_the_time(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """With no failures the capture ends after its duration, empty, and deletes its tail."""
    async with traffic(sim, "/v1/stars"):
        captured = await capture_exceptions(client, sim.account_id, "api", 0.3, 5)
    assert ([], []) == (captured, await client.workers.tails(sim.account_id, "api"))


async def test_capture_at_the_tail_limit_raises(sim: SimHandle, client: CloudflareClient) -> None:
    """At 10 viewers the caller learns it could not capture (and can say so in the alert)."""
    for _ in range(10):
        await client.workers.create_tail(sim.account_id, "api")
    with pytest.raises(TailLimitReached):
        await capture_exceptions(client, sim.account_id, "api", 1.0, 1)


async def test_capture_refuses_nonsense_bounds(sim: SimHandle, client: CloudflareClient) -> None:
    """A capture must be bounded in time and size."""
    with pytest.raises(ValueError, match="limit"):
        await capture_exceptions(client, sim.account_id, "api", 1.0, 0)
