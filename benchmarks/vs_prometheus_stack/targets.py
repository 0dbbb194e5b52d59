"""The probed site for the side-by-side benchmark, in a process of its own (not measured).

``/t/0`` … ``/t/N-1`` answer 200 with a small page, or 500 while they are in the failing set.
The benchmark flips that set through ``POST /__control/fail`` (``{"targets": [3, 17]}``; an
empty list ends the fault); the answer carries this process's ``time.monotonic()`` at the
moment of the flip (``CLOCK_MONOTONIC`` is one clock for every process of the machine, so
the benchmark compares it with its receiver's arrival times). ``GET /__control/counts``
returns the requests served to each prober, told apart by their ``User-Agent``.

    python benchmarks/vs_prometheus_stack/targets.py --targets 200

Prints one JSON line, ``{"port": P}``, once it listens on a free loopback port, then serves
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time

from aiohttp import web

PAGE = b"<!doctype html><title>ok</title><p>flarewatch benchmark target</p>\n"
FAILED = b"<!doctype html><title>error</title><p>scheduled fault</p>\n"


def prober_of(user_agent: str) -> str:
    """Which side sent a request: ``blackbox``, ``flarewatch`` or ``other``."""
    if user_agent.startswith("Blackbox Exporter"):
        return "blackbox"
    if user_agent.lower().startswith("flarewatch"):
        return "flarewatch"
    return "other"


class Site:
    """The targets, their failing set and the request counts."""

    def __init__(self, targets: int) -> None:
        self.targets = targets
        self.failing: frozenset[int] = frozenset()
        self.counts: dict[str, int] = {"blackbox": 0, "flarewatch": 0, "other": 0}

    async def page(self, request: web.Request) -> web.Response:
        """A target: 200, or 500 while it is failing; 404 outside ``0..N-1``."""
        try:
            index = int(request.match_info["index"])
        except ValueError:
            raise web.HTTPNotFound() from None
        if not 0 <= index < self.targets:
            raise web.HTTPNotFound()
        self.counts[prober_of(request.headers.get("User-Agent", ""))] += 1
        if index in self.failing:
            return web.Response(status=500, body=FAILED, content_type="text/html")
        return web.Response(body=PAGE, content_type="text/html")

    async def fail(self, request: web.Request) -> web.Response:
        """Replace the failing set; answer with the moment it changed."""
        body = await request.json()
        targets = body.get("targets")
        if not isinstance(targets, list) or not all(isinstance(t, int) for t in targets):
            raise web.HTTPBadRequest(text='expected {"targets": [int, ...]}')
        self.failing = frozenset(targets)
        return web.json_response({"at": time.monotonic(), "failing": sorted(self.failing)})

    async def counts_view(self, _: web.Request) -> web.Response:
        """Requests served so far, per prober."""
        return web.json_response(self.counts)


async def serve(targets: int) -> None:
    """Listen on a free loopback port, print it, serve until a signal."""
    site = Site(targets)
    app = web.Application()
    app.router.add_get("/t/{index}", site.page)
    app.router.add_post("/__control/fail", site.fail)
    app.router.add_get("/__control/counts", site.counts_view)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await tcp.start()
    print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> int:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=200, help="paths /t/0 … /t/N-1")
    args = parser.parse_args()
    if args.targets < 1:
        print("--targets must be at least 1", file=sys.stderr)
        return 2
    asyncio.run(serve(args.targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
