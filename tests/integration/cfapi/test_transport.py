"""The client's transport against the simulator: auth, errors, retries, budget, no leaks."""

from __future__ import annotations

import socket

import pytest
import structlog

from cfapi.budget import RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials
from cfapi.errors import (
    AuthError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
)
from cfapi.retry import RetryPolicy, RetryStats
from cfapi.transport import Timeouts
from tests.conftest import SimHandle
from tests.integration.cfapi.conftest import FAST_RETRY, sim_requests

VERIFY = "/user/tokens/verify"


def _client(sim: SimHandle, **kwargs: object) -> CloudflareClient:
    options: dict[str, object] = {"retry": FAST_RETRY, "budget": RequestBudget()}
    options.update(kwargs)
    creds = options.pop("credentials", Credentials.bearer(sim.token))
    return CloudflareClient(creds, base_url=sim.api, **options)  # type: ignore[arg-type]


async def test_token_verifies(client: CloudflareClient) -> None:
    """The basic round trip: auth header, envelope, typed result."""
    assert (await client.accounts.verify_token()).status == "active"


async def test_account_token_verifies_on_the_account_path(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """Account-owned tokens are verified under /accounts/{id}/tokens/verify."""
    assert (await client.accounts.verify_account_token(sim.account_id)).status == "active"


async def test_accounts_are_listed(sim: SimHandle, client: CloudflareClient) -> None:
    """GET /accounts pages into Account models."""
    assert [a.id async for a in client.accounts.list()] == [sim.account_id]


async def test_account_and_user(sim: SimHandle, client: CloudflareClient) -> None:
    """The account by id and the user behind the token."""
    account = await client.accounts.get(sim.account_id)
    user = await client.accounts.user()
    assert (account.name, user.email) == ("SpaceVision", "ops@spacevision.app")


async def test_memberships_are_listed(sim: SimHandle, client: CloudflareClient) -> None:
    """GET /memberships pages into Membership models naming the account."""
    memberships = [m async for m in client.accounts.memberships()]
    assert [m.account.id if m.account else None for m in memberships] == [sim.account_id]


async def test_zones_are_listed_found_and_fetched(client: CloudflareClient) -> None:
    """The seeded zone is listed, found by name and fetched by id."""
    listed = [z.name async for z in client.zones.list()]
    found = await client.zones.find("spacevision.app")
    assert found is not None
    fetched = await client.zones.get(found.id)
    assert (listed, fetched.name) == (["spacevision.app"], "spacevision.app")


async def test_cache_purge(client: CloudflareClient) -> None:
    """A purge answers with the zone's id."""
    zone = await client.zones.find("spacevision.app")
    assert zone is not None
    assert (await client.zones.purge_cache(zone.id, everything=True)).id == zone.id


async def test_unknown_zone_is_not_found(client: CloudflareClient) -> None:
    """A 404 envelope becomes NotFound with Cloudflare's code."""
    with pytest.raises(NotFound) as caught:
        await client.zones.get("0" * 32)
    assert (caught.value.status, caught.value.codes) == (404, (1001,))


async def test_wrong_token_is_an_auth_error_and_not_retried(sim: SimHandle) -> None:
    """A rejected token fails at once: retrying cannot fix credentials."""
    async with _client(sim, credentials=Credentials.bearer("x" * 40)) as cf:
        with pytest.raises(AuthError):
            await cf.zones.get("0" * 32)
    assert await sim_requests(sim, "/zones/" + "0" * 32) == 1


async def test_malformed_token_is_an_auth_error(sim: SimHandle) -> None:
    """400 / 6003 with the 6111 chain is a credential problem, not a validation error."""
    async with _client(sim, credentials=Credentials.bearer("short")) as cf:
        with pytest.raises(AuthError) as caught:
            await cf.accounts.verify_token()
    assert caught.value.codes == (6003, 6111)


async def test_legacy_email_and_key_authenticate(sim: SimHandle) -> None:
    """The legacy X-Auth-Email + X-Auth-Key scheme works where configured."""
    sim.server.state.legacy_key = "k" * 37
    creds = Credentials.legacy("ops@spacevision.app", "k" * 37)
    async with _client(sim, credentials=creds) as cf:
        assert [z.name async for z in cf.zones.list()] == ["spacevision.app"]


async def test_transient_503_is_retried_until_it_clears(sim: SimHandle) -> None:
    """A short outage is ridden out by retries, and the retries are counted."""
    stats = RetryStats()
    policy = RetryPolicy(max_attempts=20, max_time_s=10.0, base_s=0.05, cap_s=0.1)
    await sim.control(
        "POST", "/__sim/faults", json={"service": "api", "error_status": 503, "duration_s": 0.3}
    )
    async with _client(sim, retry=policy, stats=stats) as cf:
        status = await cf.accounts.verify_token()
    assert (status.status, stats.retries[("accounts", "server_error")] > 0) == ("active", True)


async def test_persistent_503_gives_up_after_max_attempts(sim: SimHandle) -> None:
    """Retries stop at max_attempts with the last ServerError, and the give-up is counted."""
    stats = RetryStats()
    await sim.control("POST", "/__sim/faults", json={"service": "api", "error_status": 503})
    async with _client(sim, retry=FAST_RETRY, stats=stats) as cf:
        with pytest.raises(ServerError):
            await cf.accounts.verify_token()
    actual = (await sim_requests(sim, VERIFY), stats.giveups[("accounts", "server_error")])
    assert actual == (FAST_RETRY.max_attempts, 1)


async def test_post_is_not_retried(sim: SimHandle, client: CloudflareClient) -> None:
    """A non-idempotent request is sent once, even when the failure is transient."""
    zone = await client.zones.find("spacevision.app")
    assert zone is not None
    await sim.control("POST", "/__sim/faults", json={"service": "api", "error_status": 503})
    path = f"/zones/{zone.id}/purge_cache"
    with pytest.raises(ServerError):
        await client.request("POST", path, json={"purge_everything": True})
    assert await sim_requests(sim, path) == 1


async def test_slow_answer_times_out_as_a_transport_error(sim: SimHandle) -> None:
    """The per-request timeout turns a hang into a TransportError, retried then given up."""
    await sim.control("POST", "/__sim/faults", json={"service": "api", "latency_ms": 2000})
    policy = RetryPolicy(max_attempts=2, max_time_s=5.0, base_s=0.01, cap_s=0.01)
    async with _client(sim, retry=policy, timeouts=Timeouts(total_s=0.2, connect_s=0.2)) as cf:
        with pytest.raises(TransportError) as caught:
            await cf.accounts.verify_token()
    assert caught.value.timeout is True


async def test_refused_connection_is_a_transport_error() -> None:
    """Nothing listening: a TransportError that names the problem, after the retries."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}/client/v4"
    async with CloudflareClient(
        Credentials.bearer("t" * 40), base_url=base, retry=FAST_RETRY, budget=RequestBudget()
    ) as cf:
        with pytest.raises(TransportError, match="cannot connect"):
            await cf.accounts.verify_token()


async def test_429_with_retry_after_is_waited_out(sim: SimHandle) -> None:
    """Past the server's limit the client waits Retry-After, retries, and counts the 429."""
    await sim.control("PUT", "/__sim/config", json={"rate_limit": 2, "rate_window_s": 1})
    for _ in range(2):
        await sim.call("GET", VERIFY)
    budget = RequestBudget()
    async with _client(sim, budget=budget) as cf:
        status = await cf.accounts.verify_token()
    snap = budget.snapshot()
    assert (status.status, snap.rate_limited, snap.pauses) == ("active", {"accounts": 1}, 1)


async def test_long_retry_after_fails_fast_and_holds_back_everything(sim: SimHandle) -> None:
    """A 429 longer than the deadline raises at once; other calls then fail locally too."""
    await sim.control("POST", "/__sim/faults", json={"service": "api", "rate_limit": True})
    policy = RetryPolicy(max_attempts=4, max_time_s=5.0, base_s=0.01, cap_s=0.01)
    async with _client(sim, retry=policy) as cf:
        with pytest.raises(RateLimited) as first:
            await cf.accounts.verify_token()
        with pytest.raises(RateLimited) as second:
            await cf.zones.get("0" * 32)
    actual = (first.value.retry_after, first.value.local, second.value.local)
    assert actual == (30.0, False, True)
    assert (await sim_requests(sim, VERIFY), await sim_requests(sim, "/zones/" + "0" * 32)) == (
        1,
        0,
    )


async def test_exhausted_window_pauses_before_any_429(sim: SimHandle) -> None:
    """Ratelimit r=0 makes the client wait for the reset instead of provoking a 429."""
    await sim.control("PUT", "/__sim/config", json={"rate_limit": 2, "rate_window_s": 1})
    budget = RequestBudget()
    async with _client(sim, budget=budget) as cf:
        for _ in range(3):
            await cf.accounts.verify_token()
    snap = budget.snapshot()
    assert (snap.rate_limited, snap.pauses, snap.throttled.get("accounts")) == ({}, 1, 1)


async def test_budget_throttles_to_its_share(sim: SimHandle) -> None:
    """A small budget spaces requests out rather than sending them all at once."""
    budget = RequestBudget(limit=4, window_s=0.4, share=0.5)
    async with _client(sim, budget=budget) as cf:
        for _ in range(4):
            await cf.accounts.verify_token()
    snap = budget.snapshot()
    assert (snap.requests, snap.throttled) == ({"accounts": 4}, {"accounts": 2})


async def test_secrets_never_leak(sim: SimHandle) -> None:
    """The token appears in no repr, error text or log event, successes and failures alike."""
    wrong = "WRONG" + sim.token[5:]
    seen: list[str] = []
    with structlog.testing.capture_logs() as events:
        async with _client(sim) as good, _client(sim, credentials=Credentials.bearer(wrong)) as bad:
            seen += [repr(good), str(good), repr(good.transport), repr(good.transport.credentials)]
            await good.accounts.verify_token()
            await sim.control("POST", "/__sim/faults", json={"service": "api", "error_status": 503})
            for cf in (good, bad):
                try:
                    await cf.accounts.verify_token()
                except Exception as err:
                    seen += [str(err), repr(err)]
            seen.append(repr(good.budget.snapshot()))
    seen += [repr(e) for e in events]
    assert len(events) > 0
    assert [s for s in seen if sim.token in s or wrong in s] == []


async def test_recovery_and_failure_are_logged_once(sim: SimHandle) -> None:
    """Logging is edge-triggered: one line when calls start failing, one when they recover."""
    policy = RetryPolicy(max_attempts=1, max_time_s=5.0, base_s=0.0, cap_s=0.0)
    with structlog.testing.capture_logs() as events:
        async with _client(sim, retry=policy) as cf:
            fault = await sim.control(
                "POST", "/__sim/faults", json={"service": "api", "error_status": 503}
            )
            for _ in range(3):
                with pytest.raises(ServerError):
                    await cf.accounts.verify_token()
            await sim.control("DELETE", f"/__sim/faults/{fault['id']}")
            for _ in range(2):
                await cf.accounts.verify_token()
    edges = [e["event"] for e in events if e["log_level"] != "debug"]
    assert edges == ["cloudflare_api_failing", "cloudflare_api_recovered"]


async def test_base_url_comes_from_the_environment(
    sim: SimHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a base_url argument, CLOUDFLARE_API_BASE_URL points the client at the API."""
    monkeypatch.setenv("CLOUDFLARE_API_BASE_URL", sim.api)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", sim.token)
    async with CloudflareClient(budget=RequestBudget()) as cf:
        assert (cf.transport.base_url, (await cf.accounts.verify_token()).status) == (
            sim.api,
            "active",
        )


async def test_injected_session_is_used_and_left_open(sim: SimHandle) -> None:
    """An injected session belongs to its owner: the client uses it and does not close it."""
    async with _client(sim, session=sim.session) as cf:
        await cf.accounts.verify_token()
    assert sim.session.closed is False


async def test_foreign_account_is_permission_denied(client: CloudflareClient) -> None:
    """A valid token asking for another account's resources: 403 / 9109, not an auth error."""
    with pytest.raises(PermissionDenied) as caught:
        await client.accounts.get("f" * 32)
    assert (caught.value.status, caught.value.codes) == (403, (9109,))
