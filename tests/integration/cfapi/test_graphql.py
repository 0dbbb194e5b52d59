"""GraphQL Analytics through the client: data, refused queries, its own budget group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cfapi.budget import RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials
from cfapi.errors import GraphqlError, RateLimited
from cfapi.retry import RetryPolicy
from tests.conftest import SimHandle

WORKERS = """
query W($a: String!, $s: Time!, $e: Time!) { viewer { accounts(filter: {accountTag: $a}) {
  workersInvocationsAdaptive(limit: 100, filter: {datetime_geq: $s, datetime_lt: $e}) {
    dimensions { scriptName status } sum { requests errors } } } } }
"""


def _window(hours: float) -> dict[str, str]:
    """From ``hours`` ago to a minute ahead (so requests made just now are inside)."""
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(hours=hours), now + timedelta(minutes=1)
    return {"s": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "e": end.strftime("%Y-%m-%dT%H:%M:%SZ")}


async def test_workers_invocations_are_read(sim: SimHandle, client: CloudflareClient) -> None:
    """Edge traffic to a Worker shows up in workersInvocationsAdaptive."""
    for _ in range(3):
        async with sim.session.get(sim.url + "/", headers={"Host": "api.spacevision.app"}) as r:
            await r.read()
    data = await client.graphql.query(WORKERS, {"a": sim.account_id, **_window(1)})
    rows = data["viewer"]["accounts"][0]["workersInvocationsAdaptive"]
    api = sum(r["sum"]["requests"] for r in rows if r["dimensions"]["scriptName"] == "api")
    assert api >= 3


async def test_refused_query_is_a_graphql_error(sim: SimHandle, client: CloudflareClient) -> None:
    """Asking for data past retention is refused with GraphQL errors, typed."""
    with pytest.raises(GraphqlError) as caught:
        await client.graphql.query(WORKERS, {"a": sim.account_id, **_window(24 * 40)})
    assert "older than" in caught.value.graphql_errors[0].message


async def test_unknown_field_names_the_path(sim: SimHandle, client: CloudflareClient) -> None:
    """Schema errors carry their message (and path) for the caller."""
    query = "query { viewer { nonsense } }"
    with pytest.raises(GraphqlError) as caught:
        await client.graphql.query(query)
    assert "nonsense" in str(caught.value)


async def test_graphql_budget_429_pauses_only_graphql(sim: SimHandle) -> None:
    """GraphQL's own 429 holds back GraphQL, while REST calls carry on."""
    sim.server.state.analytics.budget.limit = 1
    budget = RequestBudget()
    policy = RetryPolicy(max_attempts=3, max_time_s=2.0, base_s=0.01, cap_s=0.01)
    async with CloudflareClient(
        Credentials.bearer(sim.token), base_url=sim.api, retry=policy, budget=budget
    ) as cf:
        await cf.graphql.query(WORKERS, {"a": sim.account_id, **_window(1)})
        with pytest.raises(RateLimited):
            await cf.graphql.query(WORKERS, {"a": sim.account_id, **_window(1)})
        status = await cf.accounts.verify_token()
    snap = budget.snapshot()
    assert (status.status, snap.rate_limited, snap.paused_for_s) == (
        "active",
        {"graphql": 1},
        0.0,
    )
