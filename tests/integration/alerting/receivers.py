"""Local stand-ins for Slack, PagerDuty and webhook receivers: real aiohttp servers on
127.0.0.1 (free port) that record every request and answer as scripted (429 with
``Retry-After``, 500, 400, …), or hold a request until released."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from alerting.notifiers import Notifier
from alerting.outbox import Outbox


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    """What to answer: a status, a text or JSON body, headers."""

    status: int = 200
    text: str | None = None
    json_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        """The aiohttp response."""
        if self.json_body is not None:
            return web.json_response(self.json_body, status=self.status, headers=self.headers)
        return web.Response(status=self.status, text=self.text or "", headers=self.headers)


def slack_ok(request: Received) -> Answer:
    """Slack's answers: an incoming webhook says ``ok``; the Web API a JSON envelope."""
    if request.path.startswith("/api/"):
        return Answer(json_body={"ok": True, "channel": "C0ALERTS", "ts": f"{time.time():.6f}"})
    return Answer(text="ok")


def pagerduty_ok(request: Received) -> Answer:
    """PagerDuty's Events API v2: 202 with the dedup key."""
    event = request.json()
    return Answer(
        status=202,
        json_body={
            "status": "success",
            "message": "Event processed",
            "dedup_key": event.get("dedup_key"),
        },
    )


def plain_ok(request: Received) -> Answer:
    """A webhook receiver that accepts everything."""
    return Answer(text="accepted")


class Receiver:
    """A recording HTTP server. ``plan(...)`` queues answers for the next requests (then
    ``default`` answers); ``decide`` (if set) answers by request; ``hold()`` makes requests
    wait until ``release()``."""

    def __init__(self, default: Callable[[Received], Answer] = plain_ok) -> None:
        self.default = default
        self.decide: Callable[[Received], Answer | None] | None = None
        self.requests: list[Received] = []
        self.answered: list[tuple[Received, int]] = []
        self._plan: deque[Answer] = deque()
        self._changed = asyncio.Condition()
        self._gate: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> Receiver:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Stop listening (a held request is released first)."""
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str = "/") -> str:
        """The URL of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def plan(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order."""
        self._plan.extend(answers)

    def hold(self) -> None:
        """Make requests wait (recorded first) until :meth:`release`."""
        self._gate = asyncio.Event()

    def release(self) -> None:
        """Let held requests be answered."""
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """Wait until at least ``count`` requests arrived (fails after ``within`` seconds)."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.requests) >= count), within
            )
        return list(self.requests)

    async def wait_answered(self, count: int, within: float = 10.0) -> list[tuple[Received, int]]:
        """Wait until at least ``count`` requests were answered."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.answered) >= count), within
            )
        return list(self.answered)

    def delivered(self) -> list[Received]:
        """The requests answered with a 2xx."""
        return [r for r, status in self.answered if 200 <= status < 300]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers=dict(request.headers),
            body=await request.read(),
        )
        async with self._changed:
            self.requests.append(received)
            self._changed.notify_all()
        gate = self._gate
        if gate is not None:
            await gate.wait()
        answer = None
        if self._plan:
            answer = self._plan.popleft()
        elif self.decide is not None:
            answer = self.decide(received)
        answer = answer or self.default(received)
        async with self._changed:
            self.answered.append((received, answer.status))
            self._changed.notify_all()
        return answer.response()


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def running(outbox: Outbox, notifiers: Mapping[str, Notifier]) -> AsyncIterator[None]:
    """Deliver with the outbox's workers for the block, then stop them and close the
    notifiers."""
    outbox.start(notifiers)
    try:
        yield
    finally:
        await outbox.stop()
        await outbox.wait()
        for notifier in notifiers.values():
            await notifier.close()
