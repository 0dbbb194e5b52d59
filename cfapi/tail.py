"""Live logs: a Worker's (or Pages deployment's) tail, kept alive, as an async iterator.

The protocol [V: cloudflare-api.md §7, wrangler ``tail/createTail.ts``]: create the tail over
REST (``{id, url, expires_at}``), open ``url`` as a WebSocket with subprotocol ``trace-v1``
(no auth header: the URL is the capability), send ``{"debug": false}``, then read one JSON
event per message. :class:`TailStream` adds what a long-running monitor needs:

- a ping every 10 s; a pong missing by the next ping means the connection is dead;
- reconnects with backoff (1, 2, 4, 8, 16 s), recreating the tail if its URL is gone;
- a new tail before ``expires_at``, because at expiry Cloudflare silently stops delivering
  without closing the socket (workers-sdk#14427);
- every interval in which events may have been lost is yielded as a :class:`TailGap`;
- the tail is deleted on close, also when the consuming task is cancelled.

Handing over to a renewed tail reads what the old socket still holds before closing it, so
no event is lost; an event delivered on both sockets in that instant may appear twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

import aiohttp
import structlog

from cfapi.errors import CloudflareError, ErrorDetail, TailError, TailLimitReached
from cfapi.pages import PagesApi
from cfapi.tail_events import TailEvent, TailGap, TailItem, TailMessageError, parse_tail_message
from cfapi.workers import TailInfo, WorkersApi

log = structlog.get_logger("cfapi.tail")

SUBPROTOCOL = "trace-v1"
PING_PAYLOAD = b"flarewatch tail ping"
# Cloudflare tails last about an hour [I: simulator and observed wrangler sessions].
DEFAULT_TTL_S = 3600.0
_DATA = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
_ENDED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


class TailSource(Protocol):
    """Creates and deletes the tails of one Worker or Pages deployment."""

    @property
    def label(self) -> str:
        """What is tailed, for logs."""
        ...

    async def create(self) -> TailInfo:
        """Create a tail."""
        ...

    async def delete(self, tail_id: str) -> None:
        """Delete a tail."""
        ...


@dataclass
class WorkerTailSource:
    """Tails of a Worker script."""

    workers: WorkersApi
    account_id: str
    script: str
    filters: Sequence[Mapping[str, Any]] = ()

    @property
    def label(self) -> str:
        """The script's name, for logs."""
        return self.script

    async def create(self) -> TailInfo:
        """Create a tail of the script."""
        return await self.workers.create_tail(self.account_id, self.script, self.filters)

    async def delete(self, tail_id: str) -> None:
        """Delete one of the script's tails."""
        await self.workers.delete_tail(self.account_id, self.script, tail_id)


@dataclass
class PagesTailSource:
    """Tails of a Pages deployment's Functions."""

    pages: PagesApi
    account_id: str
    project: str
    deployment_id: str
    filters: Sequence[Mapping[str, Any]] = ()

    @property
    def label(self) -> str:
        """Project and deployment, for logs."""
        return f"{self.project}@{self.deployment_id[:8]}"

    async def create(self) -> TailInfo:
        """Create a tail of the deployment."""
        return await self.pages.create_tail(
            self.account_id, self.project, self.deployment_id, self.filters
        )

    async def delete(self, tail_id: str) -> None:
        """Delete one of the deployment's tails."""
        await self.pages.delete_tail(self.account_id, self.project, self.deployment_id, tail_id)


@dataclass(frozen=True)
class TailOptions:
    """Timings of the keepalive, reconnect and renewal machinery."""

    ping_interval_s: float = 10.0
    reconnect_delays_s: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    renew_before_s: float = 300.0
    renewal_retry_s: float = 15.0
    connect_timeout_s: float = 10.0


@dataclass
class TailStats:
    """What happened to the stream (for metrics)."""

    events: int = 0
    connects: int = 0
    reconnects: int = 0
    renewals: int = 0
    dead_connections: int = 0
    gaps: int = 0
    gap_seconds: float = 0.0
    malformed: int = 0


def expiry_in(expires_at: str | None, now_wall: float) -> float:
    """Seconds until ``expires_at`` (ISO 8601); an hour when it is missing or unreadable."""
    if not expires_at:
        return DEFAULT_TTL_S
    try:
        when = datetime.fromisoformat(expires_at)
    except ValueError:
        return DEFAULT_TTL_S
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now_wall)


def renewal_delay(ttl_s: float, renew_before_s: float) -> float:
    """When to recreate a tail that lives ``ttl_s`` more: ``renew_before_s`` ahead, or halfway."""
    return max(0.0, ttl_s - min(renew_before_s, ttl_s / 2))


class _UrlGone(Exception):
    """The tail's WebSocket URL answers 4xx: the tail was deleted or has expired."""


class TailStream:
    """An open tail: iterate it for :class:`TailEvent`, :class:`TailGap` and sampling notices."""

    def __init__(
        self,
        source: TailSource,
        session: Callable[[], aiohttp.ClientSession],
        options: TailOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.source = source
        self.options = options or TailOptions()
        self.stats = TailStats()
        self._session = session
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._tail: TailInfo | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: deque[TailItem] = deque()
        self._renew_at = float("inf")
        self._next_ping = float("inf")
        self._ping_outstanding = False
        self._closed = False

    def __repr__(self) -> str:
        tail_id = self._tail.id if self._tail else None
        return f"TailStream(source={self.source.label!r}, tail_id={tail_id!r})"

    @property
    def tail(self) -> TailInfo | None:
        """The tail currently streamed (its URL is a capability: do not log it)."""
        return self._tail

    async def __aenter__(self) -> TailStream:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[TailItem]:
        return self._items()

    async def start(self) -> None:
        """Create the tail and connect (TailLimitReached when 10 tails are attached)."""
        if self._ws is not None:
            return
        if self._closed:
            raise TailError("the tail stream is closed")
        tail = await self.source.create()
        self._adopt(tail)
        try:
            await self._connect(tail)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the socket and delete the tail (also when cancelled); idempotent."""
        if self._closed:
            return
        self._closed = True
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        tail, self._tail = self._tail, None
        if tail is not None:
            # Shielded: a second cancellation must not leave the tail attached to the script.
            with contextlib.suppress(CloudflareError, asyncio.CancelledError):
                await asyncio.shield(self.source.delete(tail.id))

    async def _items(self) -> AsyncIterator[TailItem]:
        await self.start()
        while not self._closed:
            item = await self._next()
            if item is None:
                return
            yield item

    def _adopt(self, tail: TailInfo) -> None:
        self._tail = tail
        ttl = expiry_in(tail.expires_at, self._wall())
        self._renew_at = self._clock() + renewal_delay(ttl, self.options.renew_before_s)

    async def _connect(self, tail: TailInfo) -> None:
        if not tail.url:
            raise TailError(
                "tail has no URL", errors=(ErrorDetail(None, "the created tail has no url"),)
            )
        try:
            async with asyncio.timeout(self.options.connect_timeout_s):
                ws = await self._session().ws_connect(
                    tail.url, protocols=(SUBPROTOCOL,), autoping=False
                )
        except aiohttp.WSServerHandshakeError as err:
            if 400 <= err.status < 500:
                raise _UrlGone(str(err.status)) from None
            raise
        await ws.send_str(json.dumps({"debug": False}))
        self._ws = ws
        self._ping_outstanding = False
        self._next_ping = self._clock() + self.options.ping_interval_s
        self.stats.connects += 1

    async def _next(self) -> TailItem | None:
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._closed:
                return None
            now = self._clock()
            if now >= self._renew_at:
                try:
                    await self._renew()
                except TailLimitReached:
                    raise
                except CloudflareError as err:
                    # The old tail still delivers until it expires: try again a little later.
                    log.warning(
                        "cloudflare_tail_renewal_failed",
                        source=self.source.label,
                        error=type(err).__name__,
                    )
                    self._renew_at = now + self.options.renewal_retry_s
                continue
            ws = self._ws
            assert ws is not None
            if now >= self._next_ping:
                if self._ping_outstanding:
                    self.stats.dead_connections += 1
                    await self._recover("no pong")
                    continue
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.ping(PING_PAYLOAD)
                self._ping_outstanding = True
                self._next_ping = now + self.options.ping_interval_s
            timeout = max(0.0, min(self._next_ping, self._renew_at) - now)
            try:
                msg = await ws.receive(timeout=timeout)
            except TimeoutError:
                continue
            if msg.type in _DATA:
                self._accept(msg.data)
            elif msg.type == aiohttp.WSMsgType.PING:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.pong(msg.data)
            elif msg.type == aiohttp.WSMsgType.PONG:
                self._ping_outstanding = False
            elif msg.type in _ENDED and ws.close_code == aiohttp.WSCloseCode.OK:
                log.info("cloudflare_tail_ended", source=self.source.label)
                await self.aclose()
                return None
            else:
                await self._recover(f"socket {msg.type.name.lower()}")

    def _accept(self, data: str | bytes) -> None:
        try:
            item = parse_tail_message(data)
        except TailMessageError as err:
            self.stats.malformed += 1
            log.debug("cloudflare_tail_malformed", source=self.source.label, error=str(err))
            return
        if isinstance(item, TailEvent):
            self.stats.events += 1
        self._pending.append(item)

    def _gap(self, start: float, reason: str) -> None:
        end = self._wall()
        gap = TailGap(
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(end, UTC),
            reason="renewal" if reason == "renewal" else "reconnect",
        )
        self.stats.gaps += 1
        self.stats.gap_seconds += gap.seconds
        self._pending.append(gap)

    async def _drop_socket(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()

    async def _recover(self, reason: str) -> None:
        """Reconnect with backoff, recreating the tail if its URL is gone; record the gap."""
        started = self._wall()
        log.warning("cloudflare_tail_disconnected", source=self.source.label, reason=reason)
        await self._drop_socket()
        delays = self.options.reconnect_delays_s
        for attempt, delay in enumerate(delays, start=1):
            await self._sleep(delay)
            try:
                await self._reconnect_once()
            except TailLimitReached:
                raise
            except (_UrlGone, CloudflareError, aiohttp.ClientError, TimeoutError) as err:
                log.debug(
                    "cloudflare_tail_reconnect_failed",
                    source=self.source.label,
                    attempt=attempt,
                    error=type(err).__name__,
                )
                continue
            self.stats.reconnects += 1
            self._gap(started, "reconnect")
            log.info(
                "cloudflare_tail_reconnected",
                source=self.source.label,
                gap_s=round(self._wall() - started, 3),
            )
            return
        await self.aclose()
        raise TailError(
            "tail lost",
            errors=(ErrorDetail(None, f"no connection after {len(delays)} attempts ({reason})"),),
        )

    async def _reconnect_once(self) -> None:
        tail = self._tail
        assert tail is not None
        try:
            await self._connect(tail)
        except _UrlGone:
            with contextlib.suppress(CloudflareError):
                await self.source.delete(tail.id)
            fresh = await self.source.create()
            self._adopt(fresh)
            await self._connect(fresh)

    async def _renew(self) -> None:
        """Move to a new tail before the old one expires (and silently stops)."""
        old_tail, old_ws = self._tail, self._ws
        assert old_tail is not None
        try:
            fresh = await self.source.create()
        except TailLimitReached:
            # No spare slot for an overlap: let go of the old tail first and report the gap.
            started = self._wall()
            await self._drop_socket()
            with contextlib.suppress(CloudflareError):
                await self.source.delete(old_tail.id)
            fresh = await self.source.create()
            self._adopt(fresh)
            try:
                await self._connect(fresh)
            except (_UrlGone, aiohttp.ClientError, TimeoutError):
                await self._recover("renewal")  # reports the gap itself
            else:
                self._gap(started, "renewal")
        else:
            try:
                await self._connect(fresh)
            except (_UrlGone, aiohttp.ClientError, TimeoutError) as err:
                # Keep streaming the old tail; do not leave the new one attached.
                with contextlib.suppress(CloudflareError):
                    await self.source.delete(fresh.id)
                raise TailError(
                    "renewal failed",
                    errors=(
                        ErrorDetail(None, f"cannot connect the new tail ({type(err).__name__})"),
                    ),
                ) from None
            self._adopt(fresh)
            if old_ws is not None:
                await self._drain(old_ws)
            with contextlib.suppress(CloudflareError):
                await self.source.delete(old_tail.id)
        self.stats.renewals += 1
        log.debug("cloudflare_tail_renewed", source=self.source.label)

    async def _drain(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Take what the old socket already received, then close it."""
        with contextlib.suppress(Exception):
            while True:
                msg = await ws.receive(timeout=0.05)
                if msg.type not in _DATA:
                    break
                self._accept(msg.data)
        with contextlib.suppress(Exception):
            await ws.close()


@dataclass
class TailFactory:
    """Opens tail streams over the client's session (``client.tails``)."""

    workers: WorkersApi
    pages: PagesApi
    session: Callable[[], aiohttp.ClientSession]
    options: TailOptions = field(default_factory=TailOptions)

    def worker(
        self, account_id: str, script: str, filters: Sequence[Mapping[str, Any]] = ()
    ) -> TailStream:
        """A tail of a Worker; use as ``async with`` and iterate it."""
        source = WorkerTailSource(self.workers, account_id, script, filters)
        return TailStream(source, self.session, self.options)

    def pages_deployment(
        self,
        account_id: str,
        project: str,
        deployment_id: str,
        filters: Sequence[Mapping[str, Any]] = (),
    ) -> TailStream:
        """A tail of a Pages deployment's Functions."""
        source = PagesTailSource(self.pages, account_id, project, deployment_id, filters)
        return TailStream(source, self.session, self.options)
