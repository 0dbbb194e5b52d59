"""The Tail WebSocket stream against the simulator: events, cleanup, limits, renewal, recovery."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import aiohttp
import pytest
from aiohttp import web

from cfapi.client import CloudflareClient
from cfapi.errors import TailLimitReached
from cfapi.tail import TailOptions, TailStream
from cfapi.tail_events import TailEvent, TailGap, TailItem
from cfapi.workers import TailInfo
from tests.conftest import SimHandle

T = TypeVar("T")
FAST = TailOptions(ping_interval_s=0.2, reconnect_delays_s=(0.01, 0.05, 0.1), connect_timeout_s=2)


async def _hit(sim: SimHandle, path: str = "/") -> None:
    """One request to the api Worker through the simulated edge."""
    headers = {"Host": "api.spacevision.app"}
    async with sim.session.get(sim.url + path, headers=headers) as resp:
        await resp.read()


async def _until(
    items: AsyncIterator[TailItem], wanted: type[T], poke: Callable[[], Awaitable[None]]
) -> T:
    """Read items until one of type ``wanted`` arrives, poking the Worker meanwhile."""
    async with asyncio.timeout(10):
        while True:
            await poke()
            try:
                async with asyncio.timeout(0.5):
                    item = await anext(items)
            except TimeoutError:
                continue
            if isinstance(item, wanted):
                return item


async def _tails(sim: SimHandle, client: CloudflareClient) -> list[str]:
    return [t.id for t in await client.workers.tails(sim.account_id, "api")]


async def _poll(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait for a condition with a deadline (no fixed sleeps)."""
    async with asyncio.timeout(10):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


def _stream(sim: SimHandle, client: CloudflareClient, options: TailOptions = FAST) -> TailStream:
    client.tails.options = options
    return client.tails.worker(sim.account_id, "api")


async def test_events_arrive_typed(sim: SimHandle, client: CloudflareClient) -> None:
    """A request to the Worker arrives as a TailEvent with its request."""
    async with _stream(sim, client) as stream:
        event = await _until(aiter(stream), TailEvent, lambda: _hit(sim, "/health"))
    request = event.request
    assert request is not None
    assert (event.script_name, request.url.endswith("/health") if request.url else False) == (
        "api",
        True,
    )


async def test_tail_is_deleted_on_close(sim: SimHandle, client: CloudflareClient) -> None:
    """Leaving the stream deletes the tail, so it does not count against the limit."""
    async with _stream(sim, client) as stream:
        tail = stream.tail
        assert tail is not None
        during = await _tails(sim, client)
    assert (tail.id in during, await _tails(sim, client)) == (True, [])


async def test_tail_is_deleted_when_the_consumer_is_cancelled(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """Cancelling the task that reads the stream still deletes the tail."""
    started = asyncio.Event()

    async def consume() -> None:
        async with _stream(sim, client) as stream:
            started.set()
            async for _ in stream:
                pass

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await _tails(sim, client) == []


async def test_eleventh_tail_is_refused_without_pausing_the_client(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """At the 10-tail limit the stream fails clearly, and other calls are not held back."""
    for _ in range(10):
        await client.workers.create_tail(sim.account_id, "api")
    with pytest.raises(TailLimitReached):
        await _stream(sim, client).start()
    assert (await client.accounts.verify_token()).status == "active"
    assert client.budget.snapshot().pauses == 0


async def test_tail_is_renewed_before_it_expires(sim: SimHandle, client: CloudflareClient) -> None:
    """A short-lived tail is replaced before expiry; events keep coming, the old tail goes."""
    sim.server.state.tails.ttl_s = 1.0
    async with _stream(sim, client) as stream:
        first = stream.tail
        assert first is not None
        items = aiter(stream)

        async def renewed() -> bool:
            await _hit(sim)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    await anext(items)
            return stream.stats.renewals >= 1

        await _poll(renewed)
        event = await _until(items, TailEvent, lambda: _hit(sim))
        current = await _tails(sim, client)
    assert (event.script_name, first.id in current, len(current)) == ("api", False, 1)


async def test_renewal_at_the_tail_limit_reports_a_gap(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """With no spare slot for an overlap, renewal lets go of the old tail first: a gap."""
    for _ in range(9):
        await client.workers.create_tail(sim.account_id, "api")
    sim.server.state.tails.ttl_s = 1.0
    async with _stream(sim, client) as stream:
        items = aiter(stream)
        gap = await _until(items, TailGap, lambda: _hit(sim))
        event = await _until(items, TailEvent, lambda: _hit(sim))
    assert (gap.reason, event.script_name, stream.stats.renewals >= 1) == ("renewal", "api", True)


async def test_dropped_socket_reconnects_and_reports_the_gap(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """A socket closed abnormally is reopened, the gap is yielded, events flow again."""
    async with _stream(sim, client) as stream:
        items = aiter(stream)
        await _until(items, TailEvent, lambda: _hit(sim))
        session = next(iter(sim.server.state.tails.sessions.values()))
        for conn in list(session.connections):
            await conn.ws.close(code=1011, message=b"simulated drop")
        gap = await _until(items, TailGap, lambda: _hit(sim))
        event = await _until(items, TailEvent, lambda: _hit(sim))
    assert (gap.reason, event.script_name, stream.stats.reconnects) == ("reconnect", "api", 1)


async def test_vanished_tail_is_recreated(sim: SimHandle, client: CloudflareClient) -> None:
    """When the tail's URL is gone after a drop, a new tail is created and streamed."""
    async with _stream(sim, client) as stream:
        items = aiter(stream)
        old = stream.tail
        assert old is not None
        session = sim.server.state.tails.sessions.pop(old.id)
        for conn in list(session.connections):
            await conn.ws.close(code=1011, message=b"tail vanished")
        await _until(items, TailGap, lambda: _hit(sim))
        event = await _until(items, TailEvent, lambda: _hit(sim))
        new = stream.tail
    assert (event.script_name, new is not None and new.id != old.id) == ("api", True)


async def test_tail_deleted_elsewhere_ends_the_stream(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """A clean close (1000, the tail was deleted) ends iteration instead of reconnecting."""
    async with _stream(sim, client) as stream:
        tail = stream.tail
        assert tail is not None
        await client.workers.delete_tail(sim.account_id, "api", tail.id)
        async with asyncio.timeout(10):
            rest = [item async for item in stream]
    assert [i for i in rest if isinstance(i, TailGap)] == []


class _SilentSource:
    """Tails on a local WebSocket server that never answers pings."""

    label = "silent"

    def __init__(self, url: str) -> None:
        self.url = url
        self.deleted: list[str] = []

    async def create(self) -> TailInfo:
        return TailInfo(id="t1", url=self.url, expires_at=None)

    async def delete(self, tail_id: str) -> None:
        self.deleted.append(tail_id)


async def test_missing_pong_marks_the_connection_dead() -> None:
    """No pong by the next ping: the socket is declared dead, reopened, and the gap reported."""
    connections = 0

    async def silent(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        ws = web.WebSocketResponse(protocols=("trace-v1",), autoping=False)
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/tail", silent)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    source = _SilentSource(f"ws://127.0.0.1:{port}/tail")
    options = TailOptions(ping_interval_s=0.1, reconnect_delays_s=(0.01,), connect_timeout_s=2)
    try:
        async with (
            aiohttp.ClientSession() as session,
            TailStream(source, lambda: session, options) as stream,
            asyncio.timeout(10),
        ):
            item = await anext(aiter(stream))
    finally:
        await runner.cleanup()
    assert isinstance(item, TailGap)
    assert (stream.stats.dead_connections, connections, source.deleted) == (1, 2, ["t1"])
