"""Probe contexts built from ``probe_ctx`` for tests of the Cloudflare probes."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cfapi.budget import RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials
from probes.analytics import AnalyticsHub
from probes.base import ProbeContext
from probes.resources import ResourceIndex
from tests.conftest import SimHandle
from tests.integration.probes.conftest import FAST_RETRY

WRONG_TOKEN = "not-the-right-token-0000"


@asynccontextmanager
async def client_context(
    sim: SimHandle,
    base: ProbeContext,
    *,
    token: str | None = None,
    budget: RequestBudget | None = None,
) -> AsyncIterator[ProbeContext]:
    """``base`` with its own Cloudflare client (another ``token`` or ``budget``).

    The analytics hub and resource index are rebuilt on that client, as the daemon would.
    """
    async with CloudflareClient(
        Credentials.bearer(token or sim.token),
        base_url=sim.api,
        retry=FAST_RETRY,
        budget=budget or RequestBudget(),
    ) as cf:
        yield dataclasses.replace(
            base,
            cf=cf,
            analytics=AnalyticsHub(cf, sim.account_id, clock=time.time),
            resources=ResourceIndex(cf, sim.account_id, clock=time.time),
        )
