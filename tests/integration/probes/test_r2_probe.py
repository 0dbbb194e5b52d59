"""The ``r2`` probe against the simulator: reachability, storage against a quota, faults."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from probes.base import ProbeContext, Reason, Status
from probes.r2 import R2Probe, R2Settings
from tests.conftest import SimHandle
from tests.integration.probes.contexts import WRONG_TOKEN, client_context


def r2_probe(**settings: Any) -> R2Probe:
    """An r2 probe on the uploads bucket, overridden by ``settings``."""
    entry = {"name": "uploads-r2", "type": "r2", "bucket": "uploads"}
    return R2Probe(R2Settings.model_validate({**entry, **settings}))


async def report_usage(sim: SimHandle, bucket: str, stored: int) -> None:
    """Make the simulator's storage analytics report ``stored`` bytes for ``bucket``."""
    await sim.control(
        "POST",
        "/__sim/faults",
        json={"service": "r2", "resource": bucket, "capacity": {"bytes": stored}},
    )


@pytest.fixture
async def wrong_token_ctx(sim: SimHandle, probe_ctx: ProbeContext) -> AsyncIterator[ProbeContext]:
    """``probe_ctx`` with a well-formed token Cloudflare does not know."""
    async with client_context(sim, probe_ctx, token=WRONG_TOKEN) as ctx:
        yield ctx


async def test_healthy_bucket_reports_storage(probe_ctx: ProbeContext) -> None:
    """The seeded uploads bucket (3.4 GB, 18,432 objects) is ok well under a 10 GB quota."""
    result = await r2_probe(quota="10GB").run(probe_ctx)
    assert Status.OK == result.status, result.message
    assert result.reason is None
    assert 18_432.0 == result.values["objects"]
    assert 3.3e9 < result.values["bytes_used"] < 3.5e9
    assert 10e9 == result.values["quota_bytes"]
    assert result.values["quota_ratio"] == pytest.approx(result.values["bytes_used"] / 10e9)
    assert "3.4 GB in 18,432 objects, 34% of its 10 GB quota" in result.message


async def test_without_quota_only_reports(probe_ctx: ProbeContext) -> None:
    """Without a quota the probe reports usage, never warns, and publishes quota_bytes 0."""
    result = await r2_probe(bucket="backups").run(probe_ctx)
    assert Status.OK == result.status
    assert 0.0 == result.values["quota_bytes"]
    assert "quota_ratio" not in result.values
    assert 240.0 == result.values["objects"]


async def test_near_quota_warns(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """Usage at 85 % of the quota is warn, without a failure reason."""
    await report_usage(sim, "uploads", 8_500_000_000)
    result = await r2_probe(quota="10GB").run(probe_ctx)
    assert (Status.WARN, None) == (result.status, result.reason)
    assert 0.85 == pytest.approx(result.values["quota_ratio"])
    assert "warn at 80%" in result.message


async def test_over_crit_ratio_is_capacity(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """Usage at 96 % of the quota is crit with reason capacity (Requirement 2.6)."""
    await report_usage(sim, "uploads", 9_600_000_000)
    result = await r2_probe(quota="10GB").run(probe_ctx)
    assert (Status.CRIT, Reason.CAPACITY) == (result.status, result.reason)
    assert 9.6e9 == pytest.approx(result.values["bytes_used"], rel=1e-3)


async def test_custom_ratios_apply(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """warn_ratio and crit_ratio move the thresholds."""
    await report_usage(sim, "uploads", 6_000_000_000)
    probe = r2_probe(quota="10GB", warn_ratio=0.5, crit_ratio=0.6)
    result = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.CAPACITY) == (result.status, result.reason)


async def test_missing_bucket_is_not_found(probe_ctx: ProbeContext) -> None:
    """A bucket that does not exist is crit not_found, naming the bucket."""
    result = await r2_probe(bucket="no-such-bucket").run(probe_ctx)
    assert (Status.CRIT, Reason.NOT_FOUND) == (result.status, result.reason)
    assert "no-such-bucket" in result.message


async def test_deleted_bucket_is_not_found(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """A bucket deleted between runs turns the probe from ok to not_found."""
    created, _ = await sim.call(
        "POST", f"/accounts/{sim.account_id}/r2/buckets", json={"name": "scratch"}
    )
    assert 200 == created
    probe = r2_probe(bucket="scratch")
    first = await probe.run(probe_ctx)
    assert Status.OK == first.status, first.message
    deleted, _ = await sim.call("DELETE", f"/accounts/{sim.account_id}/r2/buckets/scratch")
    assert 200 == deleted
    gone = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.NOT_FOUND) == (gone.status, gone.reason)


async def test_jurisdiction_selects_the_bucket(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """An EU bucket is found with jurisdiction: eu and is not_found without it."""
    created, _ = await sim.call(
        "POST",
        f"/accounts/{sim.account_id}/r2/buckets",
        json={"name": "eu-archive"},
        headers={"cf-r2-jurisdiction": "eu"},
    )
    assert 200 == created
    found = await r2_probe(bucket="eu-archive", jurisdiction="eu").run(probe_ctx)
    assert Status.OK == found.status, found.message
    missing = await r2_probe(bucket="eu-archive").run(probe_ctx)
    assert Reason.NOT_FOUND == missing.reason


async def test_wrong_token_is_auth(wrong_token_ctx: ProbeContext) -> None:
    """A refused token is crit with reason auth."""
    result = await r2_probe().run(wrong_token_ctx)
    assert (Status.CRIT, Reason.AUTH) == (result.status, result.reason)


async def test_r2_outage_is_api_error(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """An R2 API outage (503 after cfapi's retries of the GET) is crit api_error."""
    await sim.control("POST", "/__sim/faults", json={"service": "r2", "outage": True})
    result = await r2_probe().run(probe_ctx)
    assert (Status.CRIT, Reason.API_ERROR) == (result.status, result.reason)
    assert "HTTP 503" in result.message


async def test_analytics_outage_leaves_quota_unchecked(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """A reachable bucket whose storage cannot be read is warn api_error, not ok."""
    await sim.control("POST", "/__sim/faults", json={"service": "graphql", "error_status": 502})
    result = await r2_probe(quota="10GB").run(probe_ctx)
    assert (Status.WARN, Reason.API_ERROR) == (result.status, result.reason)
    assert "bytes_used" not in result.values


async def test_rate_limited_bucket_read_is_rate_limited(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """A 429 whose Retry-After outlasts cfapi's retry deadline is crit rate_limited."""
    await sim.control("POST", "/__sim/faults", json={"service": "r2", "rate_limit": True})
    result = await r2_probe().run(probe_ctx)
    assert (Status.CRIT, Reason.RATE_LIMITED) == (result.status, result.reason)
    assert "retry after 30 s" in result.message


async def test_slow_bucket_read_times_out(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """An R2 API slower than the probe's timeout is crit timeout, returned before the cut-off."""
    await sim.control("POST", "/__sim/faults", json={"service": "r2", "latency_ms": 600})
    result = await r2_probe().run(dataclasses.replace(probe_ctx, timeout_s=0.3))
    assert (Status.CRIT, Reason.TIMEOUT) == (result.status, result.reason)
    assert "reading bucket uploads" in result.message
