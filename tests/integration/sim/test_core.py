"""The simulator's shared machinery: auth, envelope, routing, rate limiting, faults, controls."""

from __future__ import annotations

from tests.conftest import SimHandle
from tests.contract import Exchange, check_exchange


async def test_account_is_discoverable(sim: SimHandle) -> None:
    """A client finds the account id through GET /accounts, as a real client would."""
    status, body = await sim.call("GET", "/accounts")
    assert status == 200
    assert [a["id"] for a in body["result"]] == [sim.account_id]
    assert body["result_info"]["total_count"] == 1


async def test_missing_credentials_get_cloudflare_error(sim: SimHandle) -> None:
    """No auth header: HTTP 400 with code 9106, exactly as Cloudflare answers."""
    async with sim.session.get(sim.api + "/zones") as resp:
        body = await resp.json()
    assert resp.status == 400
    assert body == {
        "success": False,
        "errors": [
            {"code": 9106, "message": "Missing X-Auth-Key, X-Auth-Email or Authorization headers"}
        ],
        "messages": [],
        "result": None,
    }


async def test_wrong_token_is_rejected(sim: SimHandle) -> None:
    """A well-formed but unknown token gets 403 / 10000 (and 401 / 1000 on verify)."""
    status, body = await sim.call("GET", "/zones", headers={"Authorization": "Bearer " + "x" * 40})
    assert (status, body["errors"][0]["code"]) == (403, 10000)
    status, body = await sim.call(
        "GET", "/user/tokens/verify", headers={"Authorization": "Bearer " + "x" * 40}
    )
    assert (status, body["errors"][0]["code"]) == (401, 1000)


async def test_malformed_authorization_header(sim: SimHandle) -> None:
    """A malformed Authorization header gets 6003 with the 6111 error chain."""
    status, body = await sim.call("GET", "/zones", headers={"Authorization": "Token abc"})
    assert status == 400
    assert body["errors"][0]["code"] == 6003
    assert body["errors"][0]["error_chain"][0]["code"] == 6111


async def test_token_verify(sim: SimHandle) -> None:
    """The token verifies as active."""
    status, body = await sim.call("GET", "/user/tokens/verify")
    assert status == 200
    assert body["result"]["status"] == "active"


async def test_unknown_route_is_7003(sim: SimHandle) -> None:
    """Unknown paths answer Cloudflare's 'No route for the URI'."""
    status, body = await sim.call("GET", "/no/such/thing")
    assert (status, body["errors"][0]["code"]) == (404, 7003)


async def test_rate_limit_headers_and_429(sim: SimHandle) -> None:
    """Past the budget every call is blocked with 429, Retry-After and both header forms."""
    await sim.control("PUT", "/__sim/config", json={"rate_limit": 3, "rate_window_s": 60})
    for expected_remaining in (2, 1, 0):
        async with sim.session.get(sim.api + "/zones", headers=sim.auth) as resp:
            assert resp.status == 200
            assert resp.headers["X-RateLimit-Remaining"] == str(expected_remaining)
            assert resp.headers["Ratelimit"].startswith(f'"default";r={expected_remaining};t=')
    async with sim.session.get(sim.api + "/accounts", headers=sim.auth) as resp:
        body = await resp.json()
        assert resp.status == 429
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
        assert body["errors"][0]["message"].startswith("Rate limited.")


async def test_fault_outage_then_clear(sim: SimHandle) -> None:
    """An outage fault on one resource fails only that resource, until cleared."""
    status, zones = await sim.call("GET", "/zones")
    zone_id = zones["result"][0]["id"]
    fault = await sim.control(
        "POST",
        "/__sim/faults",
        json={"service": "api", "resource": "spacevision.app", "outage": True},
    )
    status, _ = await sim.call("GET", f"/zones/{zone_id}")
    assert status == 503
    status, _ = await sim.call("GET", "/accounts")
    assert status == 200
    await sim.control("DELETE", f"/__sim/faults/{fault['id']}")
    status, _ = await sim.call("GET", f"/zones/{zone_id}")
    assert status == 200


async def test_fault_rejects_bad_spec(sim: SimHandle) -> None:
    """A fault without any effect is refused with a message naming what is missing."""
    async with sim.session.post(sim.url + "/__sim/faults", json={"service": "kv"}) as resp:
        body = await resp.json()
    assert resp.status == 400
    assert "at least one effect" in body["errors"][0]["message"]


async def test_request_log_redacts_token(sim: SimHandle) -> None:
    """The request log never shows the token."""
    await sim.call("GET", "/zones")
    log = await sim.control("GET", "/__sim/requests")
    assert log[-1]["path"] == "/client/v4/zones"
    assert log[-1]["headers"]["Authorization"] == "[redacted]"
    assert sim.token not in str(log)


async def test_malformed_json_is_400(sim: SimHandle) -> None:
    """Malformed JSON gets a 400 envelope, never a 500."""
    status, zones = await sim.call("GET", "/zones")
    zone_id = zones["result"][0]["id"]
    status, body = await sim.call(
        "POST",
        f"/zones/{zone_id}/purge_cache",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    assert body["success"] is False


async def test_bad_pagination_is_400(sim: SimHandle) -> None:
    """per_page outside the endpoint's bounds is refused."""
    status, body = await sim.call("GET", "/zones", params={"per_page": "500"})
    assert status == 400
    assert body["success"] is False


async def test_contract_checker_catches_bad_response() -> None:
    """The contract checker itself fails a response that breaks the schema."""
    from multidict import CIMultiDict, MultiDict

    bad = Exchange(
        method="GET",
        path="/client/v4/zones",
        query=MultiDict(),
        headers=CIMultiDict({"Authorization": "Bearer " + "a" * 40}),
        body=b"",
        status=200,
        response_headers=CIMultiDict({"Content-Type": "application/json"}),
        response_body=b'{"success": "yes", "errors": [], "messages": [], "result": [{"id": 5}]}',
    )
    problems = check_exchange(bad)
    assert problems, "a response with success='yes' must violate the schema"


async def test_graphql_auth_errors_use_the_graphql_body(sim: SimHandle) -> None:
    """On /graphql even framework errors (auth, faults) answer GraphQL's {data, errors} shape."""
    query = {"query": '{ viewer { accounts(filter: {accountTag: "x"}) { __typename } } }'}
    status, body = await sim.call(
        "POST", "/graphql", json=query, headers={"Authorization": "Bearer " + "x" * 40}
    )
    assert status == 403
    assert body["data"] is None
    assert body["errors"][0]["message"] == "Authentication error"
    await sim.control("POST", "/__sim/faults", json={"service": "graphql", "error_status": 429})
    status, body = await sim.call("POST", "/graphql", json=query)
    assert status == 429
    assert body["data"] is None


async def test_reset_returns_to_the_seed_and_ends_old_tails(sim: SimHandle) -> None:
    """A reset clears faults and created resources, and the discarded tails' sockets close."""
    import aiohttp

    scripts = f"/accounts/{sim.account_id}/workers/scripts"
    status, body = await sim.call("POST", f"{scripts}/api/tails", json={"filters": []})
    assert status == 200, body
    await sim.control("POST", "/__sim/faults", json={"service": "kv", "outage": True})
    async with sim.session.ws_connect(body["result"]["url"], protocols=("trace-v1",)) as ws:
        await sim.control("POST", "/__sim/reset")
        msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert await sim.control("GET", "/__sim/faults") == []
    status, body = await sim.call("GET", f"{scripts}/api/tails")
    assert (status, body["result"]) == (200, [])


async def test_memberships_list_the_account(sim: SimHandle) -> None:
    """GET /memberships lists the token's membership of the simulated account."""
    status, body = await sim.call("GET", "/memberships")
    assert status == 200
    assert [m["account"]["id"] for m in body["result"]] == [sim.account_id]
    assert body["result"][0]["status"] == "accepted"
