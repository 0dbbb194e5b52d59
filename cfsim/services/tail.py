"""Tail sessions and the ``trace-v1`` WebSocket that streams a Worker's (or Pages
deployment's) events, as ``wrangler tail`` consumes them.

Behaviour, with sources ([V] verified, [I] inferred):

- A tail is created over REST (``POST …/tails`` with ``{"filters": [...]}``) and answers
  ``{id, url, expires_at}``; the URL is the capability: no Authorization on the socket [V: §7,
  wrangler ``createTail.ts``].
- The socket requires subprotocol ``trace-v1``; the client first sends ``{"debug": false}``;
  each event is one JSON message [V: wrangler]. A handshake without ``trace-v1`` is refused
  with HTTP 400 [I].
- Tails expire about an hour after creation; at expiry the backend stops delivering but does
  not close the socket [V: workers-sdk#14427]. ``DELETE`` closes sockets with code 1000 [V: §7].
- At most 10 clients can tail one Worker at a time [V: cloudflare-docs "Real-time logs" limits].
- Under heavy traffic a tail enters sampling mode and says so with an info event
  ``{message, type: "overload"}``, and ``"overload-stop"`` when it leaves [V: wrangler test
  fixtures give both messages]. The threshold is not documented: 100 events/s here [I].
- Filters are ANDed; values inside one filter are ORed [V: wrangler ``filters.ts``]. The
  ``query`` filter matches logs, exceptions and the URL [I]; a header ``query`` must equal the
  header's value [I].
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field

from cfsim.context import state_of
from cfsim.envelope import CfHttpError
from cfsim.ids import new_id
from cfsim.services.worker_models import iso_at

Outcome = Literal["ok", "canceled", "exception", "exceededCpu", "exceededMemory", "unknown"]
Scope = tuple[str, str]

TAIL_TTL_S = 3600.0
MAX_TAILS_PER_SCOPE = 10
DEFAULT_OVERLOAD_RPS = 100.0
QUEUE_SIZE = 1000
# Code for the 11th concurrent tail: not documented anywhere we could find [I].
CODE_TOO_MANY_TAILS = 10057
OVERLOAD_MESSAGE = (
    "Tail is currently in sampling mode due to the high volume of messages. "
    "To prevent messages from being dropped consider adding filters."
)
OVERLOAD_STOP_MESSAGE = "Tail has exited sampling mode and is no longer dropping messages."

# Every open tail socket of an app, whichever hub it belongs to: a reset replaces the hub,
# and the sockets of the old one must still be closed when the simulator shuts down.
OPEN_SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("cfsim_tail_sockets")


class HeaderFilter(BaseModel):
    """Match requests carrying header ``key`` (equal to ``query`` when given)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1)
    query: str | None = None


class TailFilter(BaseModel):
    """One filter object of a tail's ``filters`` list (usually a single key each)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sampling_rate: float | None = Field(default=None, gt=0, le=1)
    outcome: list[Outcome] | None = None
    method: list[str] | None = None
    header: HeaderFilter | None = None
    client_ip: list[str] | None = None
    query: str | None = None
    script_version: str | None = Field(default=None, alias="scriptVersion")


class TailCreateBody(BaseModel):
    """Body of ``POST …/tails``."""

    model_config = ConfigDict(extra="forbid")

    filters: list[TailFilter] = Field(default_factory=list)


@dataclass(frozen=True)
class TraceEvent:
    """One invocation to stream: the wire message plus what filters look at."""

    scope: Scope
    message: dict[str, Any]
    outcome: str
    method: str
    headers: dict[str, str]
    client_ip: str
    version_id: str
    searchable: str


def matches(
    filters: Sequence[TailFilter], event: TraceEvent, creator_ip: str, rand: Callable[[], float]
) -> bool:
    """Whether ``event`` passes every filter (``self`` in client_ip is the tail's creator)."""
    for f in filters:
        if f.sampling_rate is not None and rand() >= f.sampling_rate:
            return False
        if f.outcome is not None and event.outcome not in f.outcome:
            return False
        if f.method is not None and event.method.upper() not in {m.upper() for m in f.method}:
            return False
        if f.header is not None:
            value = event.headers.get(f.header.key.lower())
            if value is None or (f.header.query is not None and value != f.header.query):
                return False
        if f.client_ip is not None:
            allowed = {creator_ip if ip == "self" else ip for ip in f.client_ip}
            if event.client_ip not in allowed:
                return False
        if f.query is not None and f.query not in event.searchable:
            return False
        if f.script_version is not None and event.version_id != f.script_version:
            return False
    return True


@dataclass
class Sampler:
    """Caps delivery at ``limit`` events per ``window_s`` and reports mode changes.

    Sampling starts when more than ``limit`` events are offered in a window and stops once
    the offered rate falls to half of it.
    """

    limit: float
    window_s: float = 1.0
    offered: deque[float] = field(default_factory=deque)
    delivered: deque[float] = field(default_factory=deque)
    sampling: bool = False

    def admit(self, now: float) -> tuple[bool, str | None]:
        """Offer one event at ``now``: (deliver it?, ``overload``/``overload-stop``/None)."""
        for times in (self.offered, self.delivered):
            while times and times[0] <= now - self.window_s:
                times.popleft()
        self.offered.append(now)
        notice: str | None = None
        if not self.sampling and len(self.offered) > self.limit:
            self.sampling, notice = True, "overload"
        elif self.sampling and len(self.offered) <= self.limit / 2:
            self.sampling, notice = False, "overload-stop"
        deliver = len(self.delivered) < self.limit
        if deliver:
            self.delivered.append(now)
        return deliver, notice


def info_message(script_name: str, kind: str, now: float) -> dict[str, Any]:
    """The info event a tail sends when it enters or leaves sampling mode."""
    text = OVERLOAD_MESSAGE if kind == "overload" else OVERLOAD_STOP_MESSAGE
    return {
        "outcome": "ok",
        "scriptName": script_name,
        "exceptions": [],
        "logs": [],
        "eventTimestamp": int(now * 1000),
        "event": {"message": text, "type": kind},
    }


@dataclass(eq=False)
class Connection:
    """One open socket of a tail, with its outgoing queue and its TCP transport."""

    ws: web.WebSocketResponse
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    debug: bool = False
    transport: asyncio.BaseTransport | None = None

    async def disconnect(self, code: int | None) -> None:
        """End the socket as a failing edge would: with close ``code``, or (``None``) by
        dropping the TCP connection without a close frame (the client sees 1006)."""
        if code is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.close(code=code, message=b"edge restarted")
            return
        if self.transport is not None and not self.transport.is_closing():
            # abort(), not close(): no close frame, no flushing - the connection just ends.
            transport = self.transport
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
            else:
                transport.close()

    def offer(self, text: str) -> None:
        """Queue a message; a consumer too slow to keep up loses events, not the Worker."""
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(text)

    async def pump(self) -> None:
        """Send queued messages until the socket closes."""
        while True:
            text = await self.queue.get()
            if self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


@dataclass(eq=False)
class TailSession:
    """A created tail: its filters, expiry and open sockets."""

    id: str
    scope: Scope
    script_name: str
    filters: list[TailFilter]
    creator_ip: str
    url: str
    created_ts: float
    expires_ts: float
    sampler: Sampler
    connections: set[Connection] = field(default_factory=set)
    delivered: int = 0

    def expired(self, now: float) -> bool:
        """Whether delivery has stopped."""
        return now >= self.expires_ts

    def as_dict(self) -> dict[str, Any]:
        """The tail object of the API: ``{id, url, expires_at}``."""
        return {"id": self.id, "url": self.url, "expires_at": iso_at(self.expires_ts)}


@dataclass
class TailHub:
    """Open tail sessions and the events published to them."""

    sessions: dict[str, TailSession] = field(default_factory=dict)
    overload_rps: float = DEFAULT_OVERLOAD_RPS
    ttl_s: float = TAIL_TTL_S
    max_per_scope: int = MAX_TAILS_PER_SCOPE

    def active(self, scope: Scope, now: float) -> list[TailSession]:
        """Unexpired tails of ``scope``, oldest first."""
        return [s for s in self.sessions.values() if s.scope == scope and not s.expired(now)]

    def create(
        self,
        scope: Scope,
        script_name: str,
        filters: list[TailFilter],
        *,
        creator_ip: str,
        host: str,
        now: float,
    ) -> TailSession:
        """Start a tail, refusing the one past the per-Worker limit."""
        if len(self.active(scope, now)) >= self.max_per_scope:
            raise CfHttpError(
                429,
                CODE_TOO_MANY_TAILS,
                f"Too many tails: at most {self.max_per_scope} clients can tail this Worker "
                "at once. Delete an existing tail and try again.",
            )
        tail_id = new_id()
        session = TailSession(
            id=tail_id,
            scope=scope,
            script_name=script_name,
            filters=filters,
            creator_ip=creator_ip,
            url=f"ws://{host}/__tail/{tail_id}",
            created_ts=now,
            expires_ts=now + self.ttl_s,
            sampler=Sampler(self.overload_rps),
        )
        self.sessions[tail_id] = session
        return session

    def get(self, tail_id: str) -> TailSession | None:
        """A tail by id (expired ones included: their sockets stay open)."""
        return self.sessions.get(tail_id)

    async def delete(self, tail_id: str) -> bool:
        """Forget a tail and close its sockets with 1000; return whether it existed."""
        session = self.sessions.pop(tail_id, None)
        if session is None:
            return False
        await _close(session, 1000, b"tail deleted")
        return True

    async def delete_scope(self, scope: Scope) -> None:
        """Delete every tail of ``scope`` (the Worker or deployment is gone)."""
        for tail_id in [s.id for s in self.sessions.values() if s.scope == scope]:
            await self.delete(tail_id)

    def publish(
        self, event: TraceEvent, now: float, rand: Callable[[], float] = random.random
    ) -> int:
        """Deliver ``event`` to every live tail of its scope; return how many took it."""
        taken = 0
        for session in list(self.sessions.values()):
            if session.scope != event.scope or session.expired(now) or not session.connections:
                continue
            if not matches(session.filters, event, session.creator_ip, rand):
                continue
            deliver, notice = session.sampler.admit(now)
            if notice is not None:
                text = json.dumps(info_message(session.script_name, notice, now))
                for conn in session.connections:
                    conn.offer(text)
            if deliver:
                text = json.dumps(event.message)
                for conn in session.connections:
                    conn.offer(text)
                session.delivered += 1
                taken += 1
        return taken

    async def disconnect(self, tail_id: str | None, code: int | None) -> list[str]:
        """Cut the open sockets of one tail (or of every tail) without deleting the tails.

        What an edge restart does to ``wrangler tail``: the socket ends abnormally, the tail
        itself still exists, so the client can reconnect to the same URL. ``code`` ``None``
        drops the connection (the client sees 1006); otherwise a close frame with ``code``.
        Returns the ids of the tails whose sockets were cut.
        """
        sessions = (
            list(self.sessions.values())
            if tail_id is None
            else [s for s in (self.sessions.get(tail_id),) if s is not None]
        )
        cut: list[str] = []
        for session in sessions:
            if not session.connections:
                continue
            for conn in list(session.connections):
                await conn.disconnect(code)
            cut.append(session.id)
        return cut

    async def close_all(self) -> None:
        """Close every open tail WebSocket (the simulator is shutting down)."""
        for session in list(self.sessions.values()):
            await _close(session, 1001, b"simulator shutting down")


async def _close(session: TailSession, code: int, reason: bytes) -> None:
    for conn in list(session.connections):
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.close(code=code, message=reason)


async def tail_socket(request: web.Request) -> web.StreamResponse:
    """GET /__tail/{tail_id}: the ``trace-v1`` WebSocket of one tail (no auth: the URL is it)."""
    session = state_of(request).tails.get(request.match_info["tail_id"])
    if session is None:
        return web.Response(status=404, text="Tail not found: it was deleted or never existed.")
    ws = web.WebSocketResponse(protocols=("trace-v1",), autoping=True)
    ready = ws.can_prepare(request)
    if not ready.ok:
        return web.Response(status=400, text="Expected a WebSocket upgrade request.")
    if ready.protocol != "trace-v1":
        return web.Response(status=400, text="The tail WebSocket requires subprotocol trace-v1.")
    # Join the session before the handshake completes, so an event published right after the
    # client sees "101 Switching Protocols" is already queued for it.
    conn = Connection(ws, transport=request.transport)
    session.connections.add(conn)
    try:
        await ws.prepare(request)
    except BaseException:
        session.connections.discard(conn)
        raise
    sockets = request.app[OPEN_SOCKETS]
    sockets.add(ws)
    pump = asyncio.create_task(conn.pump())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                _client_message(conn, msg.data)
    finally:
        sockets.discard(ws)
        session.connections.discard(conn)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
    return ws


def _client_message(conn: Connection, text: str) -> None:
    """Handle a client frame: ``{"debug": bool}`` sets debug mode; anything else is ignored."""
    try:
        data = json.loads(text)
    except ValueError:
        return
    if isinstance(data, dict) and isinstance(data.get("debug"), bool):
        conn.debug = data["debug"]


async def _close_open_sockets(app: web.Application) -> None:
    sockets = app[OPEN_SOCKETS]
    for ws in list(sockets):
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close(code=1001, message=b"simulator shutting down")


def add_routes(app: web.Application) -> None:
    """Register the tail WebSocket endpoint (and close its sockets on shutdown)."""
    sockets: set[web.WebSocketResponse] = set()
    app[OPEN_SOCKETS] = sockets
    app.router.add_get("/__tail/{tail_id}", tail_socket)
    app.on_shutdown.append(_close_open_sockets)
