"""Shared fixtures: a running simulator whose every API exchange is contract-checked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from cfsim.server import SimServer
from tests.contract import ContractRecorder


class SimHandle:
    """A running simulator plus a raw HTTP session authenticated with its token."""

    def __init__(
        self, server: SimServer, session: aiohttp.ClientSession, recorder: ContractRecorder
    ) -> None:
        self.server = server
        self.session = session
        self.recorder = recorder

    @property
    def url(self) -> str:
        """The simulator's base URL (edge and ``/__sim`` controls)."""
        return self.server.url

    @property
    def api(self) -> str:
        """The v4 API base URL."""
        return self.server.api_url

    @property
    def token(self) -> str:
        """The accepted API token."""
        return self.server.token

    @property
    def account_id(self) -> str:
        """The simulated account id."""
        return self.server.account_id

    @property
    def auth(self) -> dict[str, str]:
        """Headers that authenticate as the account's token."""
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """Call the API at ``path`` (relative to ``/client/v4``) and decode the JSON envelope."""
        headers = {**self.auth, **kwargs.pop("headers", {})}
        async with self.session.request(method, self.api + path, headers=headers, **kwargs) as resp:
            return resp.status, await resp.json(content_type=None)

    async def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call a ``/__sim`` control and return its ``result``."""
        async with self.session.request(method, self.url + path, **kwargs) as resp:
            body = await resp.json()
            assert resp.status < 400, body
            return body["result"]


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    """A SpaceVision-seeded simulator on a free port; fails the test on any contract violation."""
    recorder = ContractRecorder()
    server = SimServer(seed="spacevision", outer_middlewares=[recorder.middleware()])
    await server.start()
    session = aiohttp.ClientSession()
    try:
        yield SimHandle(server, session, recorder)
    finally:
        await session.close()
        await server.stop()
    violations = recorder.violations()
    if violations:
        pytest.fail(
            "API exchanges break Cloudflare's schema:\n" + "\n".join(violations), pytrace=False
        )
