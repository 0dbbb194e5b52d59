"""A cfapi client wired to the contract-checked simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cfapi.budget import RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials
from cfapi.retry import RetryPolicy
from tests.conftest import SimHandle

# Retries fast enough for tests; the defaults (0.5 s base) are for production.
FAST_RETRY = RetryPolicy(max_attempts=4, max_time_s=10.0, base_s=0.01, cap_s=0.05)


@pytest.fixture
async def client(sim: SimHandle) -> AsyncIterator[CloudflareClient]:
    """A client of the simulator with its own budget and fast retries."""
    async with CloudflareClient(
        Credentials.bearer(sim.token), base_url=sim.api, retry=FAST_RETRY, budget=RequestBudget()
    ) as cf:
        yield cf


async def sim_requests(sim: SimHandle, path: str) -> int:
    """How many API requests for ``path`` the simulator has served."""
    log = await sim.control("GET", "/__sim/requests")
    return sum(1 for r in log if r["path"] == "/client/v4" + path)
