"""The Cloudflare client: one session, one budget, typed service namespaces."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp

from cfapi.accounts import AccountsApi
from cfapi.audit import AuditApi
from cfapi.budget import RequestBudget
from cfapi.credentials import Credentials
from cfapi.d1 import D1Api
from cfapi.dns import DnsApi
from cfapi.envelope import Envelope
from cfapi.graphql import GraphqlApi
from cfapi.kv import KvApi
from cfapi.lb import LoadBalancingApi
from cfapi.pages import PagesApi
from cfapi.r2 import R2Api
from cfapi.retry import RetryPolicy, RetryStats
from cfapi.tail import TailFactory, TailOptions
from cfapi.transport import Params, RawResponse, Timeouts, Transport
from cfapi.workers import WorkersApi
from cfapi.zones import ZonesApi


class CloudflareClient:
    """Everything flarewatch asks of Cloudflare, over one aiohttp session.

    Use it as an async context manager, or call :meth:`aclose`. ``session`` may be injected
    (its owner closes it); otherwise one is created on first use. Without ``budget`` the
    client joins the process-wide budget of its (base URL, credentials) identity.
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        budget: RequestBudget | None = None,
        stats: RetryStats | None = None,
        rand: Callable[[], float] = random.random,
        tail_options: TailOptions | None = None,
    ) -> None:
        self.transport = Transport(
            credentials if credentials is not None else Credentials.from_env(),
            base_url=base_url,
            session=session,
            timeouts=timeouts,
            retry=retry,
            budget=budget,
            stats=stats,
            rand=rand,
        )
        self.accounts = AccountsApi(self.transport)
        self.zones = ZonesApi(self.transport)
        self.dns = DnsApi(self.transport)
        self.workers = WorkersApi(self.transport)
        self.pages = PagesApi(self.transport)
        self.kv = KvApi(self.transport)
        self.r2 = R2Api(self.transport)
        self.d1 = D1Api(self.transport)
        self.lb = LoadBalancingApi(self.transport)
        self.audit = AuditApi(self.transport)
        self.graphql = GraphqlApi(self.transport)
        self.tails = TailFactory(
            self.workers,
            self.pages,
            lambda: self.transport.session,
            tail_options or TailOptions(),
        )

    def __repr__(self) -> str:
        t = self.transport
        return f"CloudflareClient(base_url={t.base_url!r}, auth={t.credentials.scheme!r})"

    @property
    def budget(self) -> RequestBudget:
        """The request budget this client draws from (``snapshot()`` for metrics)."""
        return self.transport.budget

    @property
    def stats(self) -> RetryStats:
        """Attempt, retry and give-up counters."""
        return self.transport.stats

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Envelope:
        """Any v4 call (``path`` relative to the base, segments encoded), envelope decoded."""
        return await self.transport.request(
            method, path, params=params, json=json, headers=headers, idempotent=idempotent
        )

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RawResponse:
        """Any v4 call whose answer is not an envelope (bytes, text)."""
        return await self.transport.send(method, path, params=params, headers=headers)

    async def aclose(self) -> None:
        """Close the session (if the client created it)."""
        await self.transport.aclose()

    async def __aenter__(self) -> CloudflareClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
