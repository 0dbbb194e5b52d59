"""The shared request budget: token bucket arithmetic, pauses and counters, on a fake clock."""

from __future__ import annotations

import pytest

from cfapi.budget import RequestBudget, group_for, identity_key, shared_budget
from cfapi.errors import RateLimited
from cfapi.headers import LimitState


class FakeClock:
    """A clock that only moves when told to; its sleep advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _budget(clock: FakeClock, **kwargs: float) -> RequestBudget:
    return RequestBudget(clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/zones", "zones"),
        ("/zones/z1", "zones"),
        ("/zones/z1/purge_cache", "zones"),
        ("/zones/z1/dns_records/r1", "dns"),
        ("/zones/z1/load_balancers", "lb"),
        ("/zones/z1/healthchecks/h", "healthchecks"),
        ("/accounts", "accounts"),
        ("/accounts/a1", "accounts"),
        ("/accounts/a1/tokens/verify", "accounts"),
        ("/accounts/a1/workers/scripts/s/tails", "workers"),
        ("/accounts/a1/pages/projects/p", "pages"),
        ("/accounts/a1/storage/kv/namespaces/n/values/k", "kv"),
        ("/accounts/a1/r2/buckets/b/cors", "r2"),
        ("/accounts/a1/event_notifications/r2/b/configuration", "r2"),
        ("/accounts/a1/d1/database/d/query", "d1"),
        ("/accounts/a1/load_balancers/pools", "lb"),
        ("/accounts/a1/audit_logs", "audit"),
        ("/accounts/a1/logs/audit", "audit"),
        ("/user/tokens/verify", "accounts"),
        ("/user/audit_logs", "audit"),
        ("/memberships", "accounts"),
        ("/graphql", "graphql"),
        ("/zones?page=2", "zones"),
        ("/somewhere/else", "other"),
        ("/", "other"),
    ],
)
def test_group_is_derived_from_the_path(path: str, group: str) -> None:
    """Per-group counters need a bounded, stable label for every API path."""
    assert group == group_for(path)


def test_capacity_is_the_configured_share_of_cloudflares_limit() -> None:
    """By default flarewatch takes half of 1,200 requests per 5 minutes, refilling at 2/s."""
    snap = _budget(FakeClock()).snapshot()
    assert (snap.capacity, snap.tokens, snap.refill_per_s) == (600.0, 600.0, 2.0)


@pytest.mark.parametrize(
    ("limit", "window_s", "share", "requests", "expected_waits"),
    [
        (4, 4.0, 1.0, 5, [0.0, 0.0, 0.0, 0.0, 1.0]),
        (4, 4.0, 0.5, 4, [0.0, 0.0, 2.0, 4.0]),
        (10, 10.0, 0.1, 3, [0.0, 10.0, 20.0]),
    ],
)
def test_reservations_queue_behind_each_other(
    limit: int, window_s: float, share: float, requests: int, expected_waits: list[float]
) -> None:
    """Once the bucket is empty, each further request waits one refill interval longer."""
    budget = _budget(FakeClock(), limit=limit, window_s=window_s, share=share)
    waits = [budget.reserve("zones", 1000.0) for _ in range(requests)]
    assert expected_waits == waits


def test_tokens_refill_with_time() -> None:
    """An emptied bucket serves again without waiting once enough time has passed."""
    clock = FakeClock()
    budget = _budget(clock, limit=2, window_s=2.0, share=1.0)
    budget.reserve("zones", clock.now)
    budget.reserve("zones", clock.now)
    clock.now += 1.0
    assert budget.reserve("zones", clock.now) == 0.0


def test_reservation_past_the_deadline_is_refused_without_spending() -> None:
    """A request that would wait beyond its deadline is refused and takes no token."""
    clock = FakeClock()
    budget = _budget(clock, limit=1, window_s=10.0, share=1.0)
    budget.reserve("kv", clock.now)
    assert None is budget.reserve("kv", clock.now, deadline=clock.now + 5.0)
    assert budget.reserve("kv", clock.now, deadline=clock.now + 10.0) == 10.0


def test_rate_limited_pauses_every_group() -> None:
    """A 429 anywhere holds back the whole client, not just the call that got it."""
    clock = FakeClock()
    budget = _budget(clock)
    budget.rate_limited("kv", 30.0, clock.now)
    assert [budget.reserve(g, clock.now) for g in ("zones", "dns")] == [30.0, 30.0]


def test_graphql_429_pauses_only_graphql() -> None:
    """GraphQL has its own limit: its 429 does not stop REST calls."""
    clock = FakeClock()
    budget = _budget(clock)
    budget.rate_limited("graphql", 60.0, clock.now)
    assert (budget.reserve("zones", clock.now), budget.reserve("graphql", clock.now)) == (0.0, 60.0)


def test_429_without_retry_after_pauses_for_the_default_window() -> None:
    """Cloudflare blocks for the rest of its 5-minute window when it gives no hint."""
    clock = FakeClock()
    budget = _budget(clock)
    budget.rate_limited("zones", None, clock.now)
    assert budget.paused_for("zones", clock.now) == 300.0


@pytest.mark.parametrize(
    ("state", "expected_pause", "expected_tokens"),
    [
        (LimitState(remaining=0, reset_s=12.0), 12.0, 0.0),
        (LimitState(remaining=3, reset_s=12.0), 0.0, 3.0),
        (LimitState(remaining=1000, reset_s=12.0), 0.0, 600.0),
        (LimitState(remaining=0, reset_s=0.0), 0.0, 0.0),
    ],
)
def test_server_window_headers_cap_tokens_and_pause(
    state: LimitState, expected_pause: float, expected_tokens: float
) -> None:
    """The server's count includes every client of the token: r caps our tokens, r=0 pauses."""
    clock = FakeClock()
    budget = _budget(clock)
    budget.observe("zones", state, clock.now)
    snap = budget.snapshot()
    assert (expected_pause, expected_tokens) == (snap.paused_for_s, snap.tokens)


def test_pause_reports_only_its_start() -> None:
    """pause() says True once per pause, so the caller logs the edge, not every request."""
    clock = FakeClock()
    budget = _budget(clock)
    first = budget.rate_limited("zones", 10.0, clock.now)
    second = budget.rate_limited("dns", 10.0, clock.now + 1)
    clock.now += 20
    third = budget.rate_limited("zones", 10.0, clock.now)
    assert (first, second, third) == (True, False, True)


def test_snapshot_counts_requests_throttles_429s_and_refusals() -> None:
    """Metrics read per-group requests, throttled waits, 429s and refusals from one snapshot."""
    clock = FakeClock()
    budget = _budget(clock, limit=2, window_s=2.0, share=1.0)
    budget.reserve("zones", clock.now)
    budget.reserve("dns", clock.now)
    budget.reserve("dns", clock.now)
    budget.rate_limited("dns", 5.0, clock.now)
    budget.reserve("kv", clock.now, deadline=clock.now + 1.0)
    snap = budget.snapshot()
    expected = ({"zones": 1, "dns": 2}, {"dns": 1}, 1.0, {"dns": 1}, {"kv": 1}, 1)
    actual = (
        snap.requests,
        snap.throttled,
        snap.throttled_seconds,
        snap.rate_limited,
        snap.refused,
        snap.pauses,
    )
    assert expected == actual


async def test_acquire_sleeps_for_its_turn() -> None:
    """acquire() waits out the bucket rather than sending early."""
    clock = FakeClock()
    budget = _budget(clock, limit=1, window_s=4.0, share=1.0)
    await budget.acquire("zones")
    await budget.acquire("zones")
    assert clock.slept == [4.0]


async def test_acquire_fails_fast_past_the_deadline() -> None:
    """Rather than hang, acquire() raises a local RateLimited saying how long it would take."""
    clock = FakeClock()
    budget = _budget(clock)
    budget.rate_limited("zones", 120.0, clock.now)
    with pytest.raises(RateLimited) as caught:
        await budget.acquire("zones", deadline=clock.now + 60.0)
    assert (caught.value.local, caught.value.retry_after, clock.slept) == (True, 120.0, [])


async def test_acquire_honours_a_pause_that_began_while_waiting() -> None:
    """A 429 seen by another request while this one slept makes it wait for the pause too."""
    clock = FakeClock()
    budget = _budget(clock, limit=1, window_s=4.0, share=1.0)
    budget.reserve("zones", clock.now)

    async def sleep_then_429(seconds: float) -> None:
        clock.slept.append(seconds)
        clock.now += seconds
        if len(clock.slept) == 1:
            budget.rate_limited("dns", 10.0, clock.now)

    budget.sleep = sleep_then_429
    await budget.acquire("zones")
    assert clock.slept == [4.0, 10.0]


def test_invalid_share_is_refused() -> None:
    """A share outside (0, 1] is a configuration error, caught at construction."""
    with pytest.raises(ValueError, match="share"):
        RequestBudget(share=1.5)


def test_shared_budget_is_one_per_identity() -> None:
    """Clients with the same API and credentials share a budget; others do not."""
    one = shared_budget(identity_key("https://api.example/v4", "token-a"))
    same = shared_budget(identity_key("https://api.example/v4", "token-a"))
    other = shared_budget(identity_key("https://api.example/v4", "token-b"))
    assert (one is same, one is other) == (True, False)


def test_identity_key_does_not_contain_the_secret() -> None:
    """The registry key is a digest, so it can never leak the token."""
    assert "token-a" not in identity_key("https://api.example/v4", "token-a")
