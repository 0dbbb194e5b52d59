"""The ``d1`` probe against the simulator: retries with backoff, size, faults, names and ids."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from probes.base import ProbeContext, Reason, Status
from probes.d1 import D1Probe, D1Settings
from tests.conftest import SimHandle
from tests.integration.probes.contexts import WRONG_TOKEN, client_context

DB = "spacevision-db"


def d1_probe(**settings: Any) -> D1Probe:
    """A d1 probe on spacevision-db with millisecond backoff, overridden by ``settings``."""
    entry = {
        "name": "main-db",
        "type": "d1",
        "database": DB,
        "backoff_base": "10ms",
        "backoff_cap": "20ms",
    }
    return D1Probe(D1Settings.model_validate({**entry, **settings}))


async def database_uuid(sim: SimHandle, name: str = DB) -> str:
    """The uuid the simulator gave database ``name``."""
    status, body = await sim.call("GET", f"/accounts/{sim.account_id}/d1/database?name={name}")
    assert 200 == status
    return str(body["result"][0]["uuid"])


async def query_requests(sim: SimHandle) -> int:
    """How many D1 query requests the simulator served."""
    log = await sim.control("GET", "/__sim/requests?service=d1")
    return sum(1 for r in log if r["path"].endswith("/query"))


async def fault(sim: SimHandle, **spec: Any) -> None:
    """Inject a fault on spacevision-db."""
    await sim.control("POST", "/__sim/faults", json={"service": "d1", "resource": DB, **spec})


@pytest.fixture
async def wrong_token_ctx(sim: SimHandle, probe_ctx: ProbeContext) -> AsyncIterator[ProbeContext]:
    """``probe_ctx`` with a well-formed token Cloudflare does not know."""
    async with client_context(sim, probe_ctx, token=WRONG_TOKEN) as ctx:
        yield ctx


async def test_healthy_database_answers_once(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """A healthy database is ok after one attempt, with its size against the paid limit."""
    result = await d1_probe().run(probe_ctx)
    assert Status.OK == result.status, result.message
    assert result.reason is None
    assert (1.0, 0.0, 0.0) == (
        result.values["attempts"],
        result.values["retries"],
        result.values["gave_up"],
    )
    assert 10e9 == result.values["size_limit_bytes"]
    assert result.values["size_bytes"] > 0
    assert result.latency_ms == result.values["query_latency_ms"]
    assert "rows_read" in result.values
    assert 1 == await query_requests(sim)


async def test_database_by_uuid_needs_no_lookup(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """Given a uuid, the probe queries that database without listing databases."""
    uuid = await database_uuid(sim, "spacevision-analytics")
    await sim.control("DELETE", "/__sim/requests")
    result = await d1_probe(database=uuid).run(probe_ctx)
    assert Status.OK == result.status, result.message
    log = await sim.control("GET", "/__sim/requests?service=d1")
    assert [f"/client/v4/accounts/{sim.account_id}/d1/database/{uuid}/query"] == [
        r["path"] for r in log
    ]


async def test_free_plan_limit_is_500_mb(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """plan: free compares with 500 MB: a 480 MB database is crit capacity there."""
    await fault(sim, capacity={"bytes": 480_000_000})
    result = await d1_probe(plan="free").run(probe_ctx)
    assert 500e6 == result.values["size_limit_bytes"]
    assert (Status.CRIT, Reason.CAPACITY) == (result.status, result.reason)
    assert 0.96 == pytest.approx(result.values["size_ratio"])


async def test_size_near_limit_warns(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """8.5 GB of a 10 GB limit is warn without a failure reason."""
    await fault(sim, capacity={"bytes": 8_500_000_000})
    result = await d1_probe().run(probe_ctx)
    assert (Status.WARN, None) == (result.status, result.reason)
    assert 8.5e9 == result.values["size_bytes"]


async def test_outage_then_recovery_within_the_retries(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """A database failing every other query recovers on the retry: ok with one retry."""
    await fault(sim, outage=True, error_ratio=0.5)
    await sim.call(
        "POST",
        f"/accounts/{sim.account_id}/d1/database/{await database_uuid(sim)}/query",
        json={"sql": "SELECT 1"},
    )  # the fault lets this one through; the next query fails, the one after passes
    result = await d1_probe().run(probe_ctx)
    assert Status.OK == result.status, result.message
    assert (2.0, 1.0, 0.0) == (
        result.values["attempts"],
        result.values["retries"],
        result.values["gave_up"],
    )
    assert "after 1 retries" in result.message
    assert 3 == await query_requests(sim)


async def test_outage_beyond_the_retries_is_unreachable(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """A database down for longer than the retries is crit unreachable with the last error.

    The probe's attempts are the requests Cloudflare sees: cfapi does not retry the POST.
    """
    await fault(sim, outage=True)
    result = await d1_probe(max_tries=3).run(probe_ctx)
    assert (Status.CRIT, Reason.UNREACHABLE) == (result.status, result.reason)
    assert (3.0, 2.0, 1.0) == (
        result.values["attempts"],
        result.values["retries"],
        result.values["gave_up"],
    )
    assert "failed after 3 attempts" in result.message
    assert "HTTP 503" in result.message
    assert 3 == await query_requests(sim)


async def test_429_waits_for_retry_after_then_succeeds(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """A 429 whose Retry-After fits the deadline is waited out, then the query succeeds."""
    await probe_ctx.resources.d1_database(DB)
    await sim.control("PUT", "/__sim/config", json={"rate_limit": 2, "rate_window_s": 1})
    for _ in range(2):  # spend this second's two requests
        await sim.call("GET", "/user/tokens/verify")
    result = await d1_probe(backoff_base="0s").run(probe_ctx)
    assert Status.OK == result.status, result.message
    assert (2.0, 1.0) == (result.values["attempts"], result.values["retries"])
    log = await sim.control("GET", "/__sim/requests?service=d1")
    assert [429, 200] == [r["status"] for r in log if r["path"].endswith("/query")]


async def test_429_beyond_the_deadline_gives_up_at_once(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """A Retry-After longer than the time left is not slept on: crit rate_limited now."""
    await probe_ctx.resources.d1_database(DB)
    await fault(sim, rate_limit=True)  # Retry-After: 30
    result = await d1_probe().run(probe_ctx)
    assert (Status.CRIT, Reason.RATE_LIMITED) == (result.status, result.reason)
    assert (1.0, 1.0) == (result.values["attempts"], result.values["gave_up"])
    assert "retry after 30 s" in result.message


async def test_slow_attempts_time_out_and_are_retried(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """An attempt slower than attempt_timeout is abandoned and retried, then unreachable."""
    await probe_ctx.resources.d1_database(DB)
    await fault(sim, latency_ms=400)
    result = await d1_probe(attempt_timeout="100ms", max_tries=2).run(probe_ctx)
    assert (Status.CRIT, Reason.UNREACHABLE) == (result.status, result.reason)
    assert 2.0 == result.values["attempts"]
    assert "no answer within 0.1 s" in result.message


async def test_wrong_token_is_auth_and_not_retried(
    sim: SimHandle, wrong_token_ctx: ProbeContext
) -> None:
    """A refused token is crit auth after one attempt: retrying cannot fix a token."""
    uuid = await database_uuid(sim)
    result = await d1_probe(database=uuid).run(wrong_token_ctx)
    assert (Status.CRIT, Reason.AUTH) == (result.status, result.reason)
    assert (1.0, 0.0) == (result.values["attempts"], result.values["gave_up"])


async def test_wrong_token_fails_the_lookup_as_auth(wrong_token_ctx: ProbeContext) -> None:
    """With a name, the lookup is what the refused token fails: still auth."""
    result = await d1_probe().run(wrong_token_ctx)
    assert (Status.CRIT, Reason.AUTH) == (result.status, result.reason)


async def test_deleted_database_is_not_found(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """A database deleted after it was resolved is not_found, then unknown by name."""
    probe = d1_probe()
    assert Status.OK == (await probe.run(probe_ctx)).status
    status, _ = await sim.call(
        "DELETE", f"/accounts/{sim.account_id}/d1/database/{await database_uuid(sim)}"
    )
    assert 200 == status
    gone = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.NOT_FOUND) == (gone.status, gone.reason)
    assert 1.0 == gone.values["attempts"]
    again = await probe.run(probe_ctx)
    assert "no d1 database named 'spacevision-db'" in again.message


async def test_sql_error_is_api_error_and_not_retried(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """A query D1 refuses (no such table) is crit api_error with SQLite's message, tried once."""
    result = await d1_probe(query="SELECT * FROM no_such_table").run(probe_ctx)
    assert (Status.CRIT, Reason.API_ERROR) == (result.status, result.reason)
    assert "no such table" in result.message
    assert 1 == await query_requests(sim)


async def test_custom_query_reads_rows(probe_ctx: ProbeContext) -> None:
    """A custom read-only query runs instead of SELECT 1."""
    result = await d1_probe(query="SELECT count(*) FROM missions").run(probe_ctx)
    assert Status.OK == result.status, result.message


async def test_max_time_bounds_the_retries(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """With a short max_time the probe stops retrying when the next wait would pass it."""
    await probe_ctx.resources.d1_database(DB)
    await fault(sim, outage=True)
    probe = d1_probe(max_tries=20, max_time="300ms", backoff_base="100ms", backoff_cap="100ms")
    result = await probe.run(dataclasses.replace(probe_ctx, timeout_s=5.0))
    assert (Status.CRIT, Reason.UNREACHABLE) == (result.status, result.reason)
    assert 2.0 <= result.values["attempts"] < 20.0
    assert 1.0 == result.values["gave_up"]


async def test_one_graphql_request_serves_both_datasets(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """The probe reads d1_analytics and d1_storage, declared together: one GraphQL request."""
    await d1_probe().run(probe_ctx)
    log = await sim.control("GET", "/__sim/requests")
    assert 1 == sum(1 for r in log if r["path"].endswith("/graphql"))


async def test_paused_client_is_rate_limited_without_an_attempt(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """While the client is paused past the deadline, the run makes no attempt at all."""
    await probe_ctx.resources.d1_database(DB)
    await fault(sim, rate_limit=True)
    probe = d1_probe()
    await probe.run(probe_ctx)
    result = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.RATE_LIMITED) == (result.status, result.reason)
    assert (0.0, 0.0) == (result.values["attempts"], result.values["gave_up"])
    assert 1 == await query_requests(sim)
