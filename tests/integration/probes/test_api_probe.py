"""The ``api`` probe against the simulator: flarewatch's budget and the token's validity."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cfapi.budget import RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials
from probes.api import ApiProbe, ApiSettings
from probes.base import ProbeContext, Reason, Status
from tests.conftest import SimHandle
from tests.integration.probes.contexts import WRONG_TOKEN, client_context


def api_probe(timer: list[float] | None = None, **settings: Any) -> ApiProbe:
    """An api probe (hourly token check unless ``settings`` say otherwise)."""
    entry = {"name": "cloudflare-api", "type": "api", **settings}
    model = ApiSettings.model_validate(entry)
    if timer is None:
        return ApiProbe(model)
    return ApiProbe(model, timer=lambda: timer[0])


async def verify_requests(sim: SimHandle) -> list[str]:
    """Paths of the token verifications the simulator served."""
    log = await sim.control("GET", "/__sim/requests")
    return [r["path"] for r in log if r["path"].endswith("/tokens/verify")]


@pytest.fixture
async def wrong_token_ctx(sim: SimHandle, probe_ctx: ProbeContext) -> AsyncIterator[ProbeContext]:
    """``probe_ctx`` with a well-formed token Cloudflare does not know."""
    async with client_context(sim, probe_ctx, token=WRONG_TOKEN) as ctx:
        yield ctx


@pytest.fixture
async def small_budget_ctx(
    sim: SimHandle, probe_ctx: ProbeContext
) -> AsyncIterator[tuple[ProbeContext, RequestBudget]]:
    """``probe_ctx`` whose client draws from a 100-request budget, and that budget."""
    budget = RequestBudget(limit=100, share=1.0)
    async with client_context(sim, probe_ctx, budget=budget) as ctx:
        yield ctx, budget


def spend(budget: RequestBudget, requests: int) -> None:
    """Use up ``requests`` of ``budget`` as sent requests would."""
    for _ in range(requests):
        budget.reserve("kv", budget.clock())


async def test_fresh_budget_and_valid_token_are_ok(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """A fresh budget (half of 1,200) and an active token: ok, with the token's expiry."""
    result = await api_probe().run(probe_ctx)
    assert Status.OK == result.status, result.message
    assert result.reason is None
    assert 600.0 == result.values["budget_limit"]
    assert result.values["budget_remaining"] >= 598.0
    assert result.values["budget_remaining_ratio"] > 0.99
    assert 1.0 == result.values["token_valid"]
    assert result.values["token_expires_in_s"] > 0
    assert ["/client/v4/user/tokens/verify"] == await verify_requests(sim)


async def test_token_is_verified_once_per_interval(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """Within verify_token's interval the last verdict stands, at no request."""
    now = [0.0]
    probe = api_probe(now, verify_token="1h")
    await probe.run(probe_ctx)
    now[0] += 1800
    second = await probe.run(probe_ctx)
    assert Status.OK == second.status
    assert 1 == len(await verify_requests(sim))
    now[0] += 1800
    await probe.run(probe_ctx)
    assert 2 == len(await verify_requests(sim))


async def test_account_owned_token_is_verified_on_the_account(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """token_owner: account verifies on /accounts/{id}/tokens/verify."""
    result = await api_probe(token_owner="account").run(probe_ctx)
    assert Status.OK == result.status, result.message
    assert [f"/client/v4/accounts/{sim.account_id}/tokens/verify"] == await verify_requests(sim)


async def test_without_verification_no_request_is_made(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """verify_token: null reads the budget only: the probe costs nothing."""
    result = await api_probe(verify_token=None).run(probe_ctx)
    assert Status.OK == result.status
    assert "token_valid" not in result.values
    assert [] == await sim.control("GET", "/__sim/requests")


async def test_refused_token_is_auth(wrong_token_ctx: ProbeContext) -> None:
    """A token Cloudflare refuses is crit auth: the api_token_invalid rule's source."""
    result = await api_probe().run(wrong_token_ctx)
    assert (Status.CRIT, Reason.AUTH) == (result.status, result.reason)
    assert 0.0 == result.values["token_valid"]
    assert WRONG_TOKEN not in result.message


async def test_refused_token_is_checked_again_every_run(
    sim: SimHandle, wrong_token_ctx: ProbeContext
) -> None:
    """After a refusal the token is verified on every run, so a fix shows at once."""
    probe = api_probe()
    await probe.run(wrong_token_ctx)
    await probe.run(wrong_token_ctx)
    assert 2 == len(await verify_requests(sim))


async def test_low_budget_warns(small_budget_ctx: tuple[ProbeContext, RequestBudget]) -> None:
    """Under 20 % of the budget left is warn, without a failure reason."""
    ctx, budget = small_budget_ctx
    spend(budget, 85)
    result = await api_probe(verify_token=None).run(ctx)
    assert (Status.WARN, None) == (result.status, result.reason)
    assert 100.0 == result.values["budget_limit"]
    assert result.values["budget_remaining_ratio"] == pytest.approx(0.15, abs=0.01)


async def test_nearly_spent_budget_is_crit(
    small_budget_ctx: tuple[ProbeContext, RequestBudget],
) -> None:
    """Under 5 % left is crit rate_limited: every probe is about to wait or fail."""
    ctx, budget = small_budget_ctx
    spend(budget, 97)
    result = await api_probe(verify_token=None).run(ctx)
    assert (Status.CRIT, Reason.RATE_LIMITED) == (result.status, result.reason)


async def test_custom_thresholds_apply(
    small_budget_ctx: tuple[ProbeContext, RequestBudget],
) -> None:
    """warn_ratio and crit_ratio are configurable."""
    ctx, budget = small_budget_ctx
    spend(budget, 45)
    result = await api_probe(verify_token=None, warn_ratio=0.6, crit_ratio=0.5).run(ctx)
    assert (Status.WARN, None) == (result.status, result.reason)


async def test_429_pauses_the_budget_and_the_probe_says_so(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """After Cloudflare answers 429 every request waits: crit rate_limited, nothing left.

    The token is not verified again while paused: the request could only wait.
    """
    await sim.control("POST", "/__sim/faults", json={"service": "api", "rate_limit": True})
    probe = api_probe()
    first = await probe.run(probe_ctx)
    assert Reason.RATE_LIMITED == first.reason
    second = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.RATE_LIMITED) == (second.status, second.reason)
    assert 0.0 == second.values["budget_remaining"]
    assert second.values["budget_paused_s"] > 20
    assert 1 == len(await verify_requests(sim))


async def test_legacy_key_is_not_verified(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """A legacy email + key cannot use tokens/verify: the probe says so and sends nothing."""
    async with CloudflareClient(
        Credentials.legacy("ops@spacevision.app", "0123456789abcdef"),
        base_url=sim.api,
        budget=RequestBudget(),
    ) as cf:
        ctx = dataclasses.replace(probe_ctx, cf=cf)
        result = await api_probe().run(ctx)
    assert Status.OK == result.status
    assert "legacy API key cannot be verified" in result.message
    assert [] == await verify_requests(sim)
