"""The workers probe against the contract-checked simulator: health, faults, API trouble."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cfapi.budget import RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials
from cfapi.retry import RetryPolicy
from probes.analytics import AnalyticsHub
from probes.base import ProbeContext, Reason, Status
from probes.workers import WorkersProbe, WorkersSettings
from tests.conftest import SimHandle

HEALTH = "http://api.spacevision.app/health"


def probe(**entry: Any) -> WorkersProbe:
    """A workers probe for the seed's ``api`` Worker, built from a config entry."""
    return WorkersProbe(
        WorkersSettings.model_validate(
            {"name": "api-worker", "type": "workers", "script": "api", **entry}
        )
    )


async def api_requests(sim: SimHandle) -> list[dict[str, Any]]:
    """The v4 API requests the simulator served (GraphQL included), oldest first."""
    log: list[dict[str, Any]] = await sim.control("GET", "/__sim/requests")
    return [r for r in log if r["path"].startswith("/client/v4/")]


async def fault(sim: SimHandle, **spec: Any) -> None:
    """Inject a simulator fault."""
    await sim.control("POST", "/__sim/faults", json=spec)


async def traffic(sim: SimHandle, **spec: Any) -> None:
    """Set background traffic for GraphQL Analytics."""
    await sim.control("POST", "/__sim/traffic", json={"kind": "workers", "subject": "api", **spec})


@pytest.fixture
async def other_client(sim: SimHandle) -> AsyncIterator[list[CloudflareClient]]:
    """Clients a test builds itself (bad token, dead base URL), closed afterwards."""
    made: list[CloudflareClient] = []
    yield made
    for client in made:
        await client.aclose()


def with_client(ctx: ProbeContext, cf: CloudflareClient) -> ProbeContext:
    """``ctx`` talking to Cloudflare through ``cf`` (its own analytics hub too)."""
    hub = AnalyticsHub(cf, ctx.account_id, clock=time.time)
    return dataclasses.replace(ctx, cf=cf, analytics=hub)


async def test_healthy_worker_is_ok_with_version_and_numbers(
    probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """The seed's api Worker: ok, the serving version named, analytics values published."""
    await traffic(sim, rps=20, cpu_ms=3, duration_ms=40)
    _, body = await sim.call("GET", f"/accounts/{sim.account_id}/workers/scripts/api/deployments")
    version = body["result"]["deployments"][0]["versions"][0]["version_id"]

    result = await probe(url=HEALTH, json={"status": "ok"}).run(probe_ctx)

    assert (Status.OK, None) == (result.status, result.reason)
    assert result.message.startswith("200 in ")
    assert f"version {version[:8]}, deployed 7 d ago" in result.message
    assert {
        "requests",
        "errors",
        "error_ratio",
        "cpu_time_p50_ms",
        "cpu_time_p99_ms",
        "cpu_limit_ms",
        "wall_time_p99_ms",
        "deployment_age_s",
        "status_code",
        "latency_ms",
    } <= set(result.values)
    assert 0.0 == result.values["error_ratio"]
    assert 30_000.0 == result.values["cpu_limit_ms"]
    assert result.values["requests"] > 0


async def test_a_run_costs_one_rest_call_once_settings_are_known(
    probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """Budget: the first run also reads the settings (CPU limit); later runs make one REST call,
    and analytics come from the shared hub's one GraphQL query per refresh."""
    worker = probe(url=HEALTH)
    await worker.run(probe_ctx)
    first = await api_requests(sim)
    await sim.control("DELETE", "/__sim/requests")
    await worker.run(probe_ctx)
    second = await api_requests(sim)

    assert ["deployments", "graphql", "settings"] == sorted(
        r["path"].rsplit("/", 1)[1] for r in first
    )
    assert [("GET", "deployments")] == [(r["method"], r["path"].rsplit("/", 1)[1]) for r in second]


async def test_worker_error_burst_is_crit(probe_ctx: ProbeContext, sim: SimHandle) -> None:
    """The Worker throws on every request: the URL check fails and analytics show the errors."""
    await traffic(sim, rps=20, error_ratio=0.1)
    await fault(sim, service="workers", resource="api", exception="TypeError: x is undefined")
    # The fault makes the API fail too (same service); the edge's answer is what matters here.
    result = await probe(url=HEALTH).run(probe_ctx)
    assert (Status.CRIT, Reason.HTTP_STATUS) == (result.status, result.reason)
    assert 500.0 == result.values["status_code"]
    assert "Worker threw exception" in result.message
    assert result.values["error_ratio"] >= 0.05
    assert "error ratio" in result.message


async def test_error_ratio_alone_is_crit(probe_ctx: ProbeContext, sim: SimHandle) -> None:
    """No URL to check, but 10 % of the Worker's requests fail: crit from analytics (assertion)."""
    await traffic(sim, rps=20, error_ratio=0.1)
    result = await probe().run(probe_ctx)
    assert (Status.CRIT, Reason.ASSERTION) == (result.status, result.reason)
    assert 0.1 == pytest.approx(result.values["error_ratio"], abs=0.01)
    assert "error ratio 10.0% ≥ 5.0%" in result.message


async def test_modest_error_ratio_warns(probe_ctx: ProbeContext, sim: SimHandle) -> None:
    """3 % failing is over error_ratio_warn (2 %) but under crit (5 %): warn."""
    await traffic(sim, rps=20, error_ratio=0.03)
    result = await probe(url=HEALTH).run(probe_ctx)
    assert (Status.WARN, Reason.ASSERTION) == (result.status, result.reason)


async def test_api_outage_without_url_is_crit_api_error(
    probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """Cloudflare's API answers 503 and nothing else shows the Worker serves: crit api_error."""
    await fault(sim, service="workers", error_status=503)
    result = await probe().run(probe_ctx)
    assert (Status.CRIT, Reason.API_ERROR) == (result.status, result.reason)
    assert "deployment unknown: Cloudflare API HTTP 503" in result.message
    assert "cpu_limit_ms" in result.values


async def test_rate_limited_api_while_worker_serves_warns(
    probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """429 with Retry-After: 30 past the deadline: the probe does not wait; the URL check shows
    the Worker serving, so it warns with reason rate_limited and says when to retry."""
    await fault(sim, service="workers", rate_limit=True)
    result = await probe(url=HEALTH).run(probe_ctx)
    assert (Status.WARN, Reason.RATE_LIMITED) == (result.status, result.reason)
    assert "rate limited by the Cloudflare API, retry after 30 s" in result.message
    assert 200.0 == result.values["status_code"]


async def test_deleted_script_is_crit_not_found(probe_ctx: ProbeContext, sim: SimHandle) -> None:
    """Someone deleted the Worker: crit not_found, which explains the failing URL too."""
    await probe_ctx.cf.workers.delete(sim.account_id, "api", force=True)
    result = await probe(url=HEALTH).run(probe_ctx)
    assert (Status.CRIT, Reason.NOT_FOUND) == (result.status, result.reason)
    assert result.message.startswith("Worker 'api' not found in the account")


async def test_slow_worker_times_out(probe_ctx: ProbeContext, sim: SimHandle) -> None:
    """The Worker (and its API) answer after a second; the run's deadline is 0.3 s: timeout."""
    await fault(sim, service="workers", resource="api", latency_ms=1000)
    result = await probe(url=HEALTH).run(dataclasses.replace(probe_ctx, timeout_s=0.3))
    assert (Status.CRIT, Reason.TIMEOUT) == (result.status, result.reason)
    assert "no answer from api.spacevision.app within 0.27 s" in result.message


async def test_analytics_outage_keeps_the_synthetic_result(
    probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """GraphQL failing must not hide that the Worker answers: warn, with the HTTP result."""
    await fault(sim, service="graphql", error_status=503)
    result = await probe(url=HEALTH).run(probe_ctx)
    assert (Status.WARN, Reason.API_ERROR) == (result.status, result.reason)
    assert result.message.startswith("200 in ")
    assert "analytics unavailable (" in result.message
    assert 200.0 == result.values["status_code"]
    assert "error_ratio" not in result.values


async def test_cpu_limit_is_read_from_the_script_settings(
    probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """A script with limits.cpu_ms = 10 has that limit; p99 CPU of 15 ms warns."""
    await probe_ctx.cf.workers.patch_settings(sim.account_id, "api", {"limits": {"cpu_ms": 10}})
    await traffic(sim, rps=20, cpu_ms=5)
    result = await probe().run(probe_ctx)
    assert 10.0 == result.values["cpu_limit_ms"]
    assert (Status.WARN, Reason.ASSERTION) == (result.status, result.reason)
    assert "of the 10 ms limit" in result.message


async def test_refused_token_is_crit_auth(
    probe_ctx: ProbeContext, sim: SimHandle, other_client: list[CloudflareClient]
) -> None:
    """A token Cloudflare refuses is crit auth even while the Worker serves: nothing is seen."""
    cf = CloudflareClient(
        Credentials.bearer("wrong-token-0123456789"), base_url=sim.api, budget=RequestBudget()
    )
    other_client.append(cf)
    result = await probe(url=HEALTH).run(with_client(probe_ctx, cf))
    assert (Status.CRIT, Reason.AUTH) == (result.status, result.reason)


async def test_unreachable_api_is_crit_unreachable(
    probe_ctx: ProbeContext, other_client: list[CloudflareClient]
) -> None:
    """An API base URL nobody listens on: crit unreachable, said plainly."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cf = CloudflareClient(
        Credentials.bearer("token-0123456789"),
        base_url=f"http://127.0.0.1:{port}/client/v4",
        budget=RequestBudget(),
        retry=RetryPolicy(max_attempts=2, max_time_s=2.0, base_s=0.01, cap_s=0.02),
    )
    other_client.append(cf)
    result = await probe().run(with_client(probe_ctx, cf))
    assert (Status.CRIT, Reason.UNREACHABLE) == (result.status, result.reason)
    assert "deployment unknown: cannot reach the Cloudflare API" in result.message
    assert "analytics unavailable (cannot reach the Cloudflare API)" in result.message


async def test_a_new_deployment_is_reported_as_an_event(
    probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """A rollback between two runs shows up once as workers_deployment_changed."""
    worker = probe()
    first = await worker.run(probe_ctx)
    deployments = await probe_ctx.cf.workers.deployments(sim.account_id, "api")
    older = deployments[1].versions[0].version_id
    await probe_ctx.cf.workers.rollback(
        sim.account_id, "api", older, message="rollback: bad secret", force=True
    )
    second = await worker.run(probe_ctx)
    third = await worker.run(probe_ctx)

    assert () == first.events
    assert ["workers_deployment_changed"] == [e.kind for e in second.events]
    assert f"now serves {older[:8]}" in second.events[0].message
    assert second.events[0].message.endswith(": rollback: bad secret")
    assert () == third.events
