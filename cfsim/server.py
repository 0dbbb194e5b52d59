"""Run the simulator: in-process on a free port for tests, or as ``flarewatch simulator``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from cfsim.app import build_app
from cfsim.seed import SeedName, build_state
from cfsim.state import SimState


class SimServer:
    """A running simulator bound to ``host:port`` (``port=0`` picks a free port)."""

    def __init__(
        self,
        *,
        seed: SeedName = "spacevision",
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        outer_middlewares: Iterable[Any] = (),
    ) -> None:
        self.state: SimState = build_state(seed, token)
        self.host = host
        self.port = port
        self.app = build_app(self.state, outer_middlewares=outer_middlewares)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL of the simulator (edge and controls)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Base URL of the v4 API, as ``CLOUDFLARE_API_BASE_URL`` wants it."""
        return f"{self.url}/client/v4"

    @property
    def token(self) -> str:
        """The API token the simulator accepts."""
        return self.state.token

    @property
    def account_id(self) -> str:
        """The simulated account's id."""
        return self.state.account_id

    async def start(self) -> SimServer:
        """Start serving; returns ``self`` with ``port`` filled in."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        return self

    async def stop(self) -> None:
        """Stop serving and release the state's resources."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
