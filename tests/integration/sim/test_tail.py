"""Tails: REST lifecycle and the trace-v1 WebSocket streaming edge events through filters."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from tests.conftest import SimHandle

RECEIVE_DEADLINE_S = 5.0


def tails_path(sim: SimHandle, script: str = "api") -> str:
    """The tails path of ``script``."""
    return f"/accounts/{sim.account_id}/workers/scripts/{script}/tails"


async def create_tail(
    sim: SimHandle, filters: list[dict[str, Any]] | None = None, script: str = "api"
) -> dict[str, Any]:
    """Create a tail with ``filters``; return ``{id, url, expires_at}``."""
    status, body = await sim.call("POST", tails_path(sim, script), json={"filters": filters or []})
    assert status == 200, body
    result: dict[str, Any] = body["result"]
    return result


async def connect(sim: SimHandle, url: str) -> aiohttp.ClientWebSocketResponse:
    """Open the tail socket as wrangler does: subprotocol trace-v1, then ``{"debug": false}``."""
    ws = await sim.session.ws_connect(url, protocols=("trace-v1",))
    await ws.send_str(json.dumps({"debug": False}))
    return ws


async def next_event(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next message on the socket (failing after a deadline)."""
    msg = await ws.receive(timeout=RECEIVE_DEADLINE_S)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    event: dict[str, Any] = json.loads(msg.data)
    return event


async def edge(
    sim: SimHandle, path: str = "/health", *, host: str = "api.spacevision.app", **kw: Any
) -> int:
    """Send one request to the edge."""
    headers = {"Host": host, **kw.pop("headers", {})}
    async with sim.session.request(
        kw.pop("method", "GET"), sim.url + path, headers=headers, **kw
    ) as resp:
        await resp.read()
        return resp.status


async def test_created_tail_has_a_socket_url_and_expires_in_an_hour(sim: SimHandle) -> None:
    """A tail answers a ws:// URL on the simulator and expires about an hour later."""
    tail = await create_tail(sim)
    assert tail["url"] == f"ws://127.0.0.1:{sim.server.port}/__tail/{tail['id']}"
    expires = datetime.fromisoformat(tail["expires_at"].replace("Z", "+00:00"))
    lifetime = expires.timestamp() - sim.server.state.clock()
    assert 3500 < lifetime <= 3600


async def test_tails_are_listed_until_deleted(sim: SimHandle) -> None:
    """The Worker's tails are listed, and gone once deleted."""
    tail = await create_tail(sim)
    status, body = await sim.call("GET", tails_path(sim))
    assert (status, [t["id"] for t in body["result"]]) == (200, [tail["id"]])
    status, _ = await sim.call("DELETE", f"{tails_path(sim)}/{tail['id']}")
    assert status == 200
    status, body = await sim.call("GET", tails_path(sim))
    assert [] == body["result"]


async def test_deleting_an_unknown_tail_is_404(sim: SimHandle) -> None:
    """Deleting a tail that does not exist answers 404."""
    status, body = await sim.call("DELETE", f"{tails_path(sim)}/{'0' * 32}")
    assert (status, body["success"]) == (404, False)


async def test_unknown_filter_is_refused(sim: SimHandle) -> None:
    """A filter key the tail does not know is refused, naming it."""
    status, body = await sim.call("POST", tails_path(sim), json={"filters": [{"colour": ["blue"]}]})
    assert status == 400
    assert "colour" in body["errors"][0]["message"]


async def test_eleventh_tail_is_refused(sim: SimHandle) -> None:
    """At most 10 tails can be open on one Worker."""
    first = await create_tail(sim)
    for _ in range(9):
        await create_tail(sim)
    status, body = await sim.call("POST", tails_path(sim), json={"filters": []})
    assert (status, body["errors"][0]["code"]) == (429, 10057)
    await sim.call("DELETE", f"{tails_path(sim)}/{first['id']}")
    status, _ = await sim.call("POST", tails_path(sim), json={"filters": []})
    assert status == 200


async def test_tail_streams_one_message_per_request(sim: SimHandle) -> None:
    """An edge request arrives as a trace-v1 message with its outcome, logs and request."""
    tail = await create_tail(sim)
    async with await connect(sim, tail["url"]) as ws:
        await edge(sim, "/health?probe=1")
        event = await next_event(ws)
    assert (event["outcome"], event["scriptName"], event["exceptions"]) == ("ok", "api", [])
    request = event["event"]["request"]
    assert (request["method"], request["url"]) == (
        "GET",
        "https://api.spacevision.app/health?probe=1",
    )
    assert request["cf"]["colo"] == "SJC"
    assert ["GET /health ok"] == event["logs"][0]["message"]
    assert isinstance(event["eventTimestamp"], int)


async def test_tail_redacts_credentials(sim: SimHandle) -> None:
    """Authorization and Cookie headers never reach the tail."""
    tail = await create_tail(sim)
    async with await connect(sim, tail["url"]) as ws:
        await edge(sim, headers={"Authorization": "Bearer s3cret", "Cookie": "session=abc"})
        headers = (await next_event(ws))["event"]["request"]["headers"]
    assert (headers["authorization"], headers["cookie"]) == ("REDACTED", "REDACTED")


async def test_tail_event_carries_the_ray_of_the_response(sim: SimHandle) -> None:
    """The event's ``cf-ray`` request header is the ray the edge answered with, so a user
    holding a response's CF-Ray (or a probe's) finds the invocation in the logs."""
    tail = await create_tail(sim)
    async with await connect(sim, tail["url"]) as ws:
        async with sim.session.get(
            sim.url + "/v1/stars", headers={"Host": "api.spacevision.app"}
        ) as resp:
            await resp.read()
            answered = resp.headers["CF-Ray"]
        event = await next_event(ws)
    assert answered == event["event"]["request"]["headers"]["cf-ray"]


async def test_a_client_cf_ray_is_replaced_by_the_edge(sim: SimHandle) -> None:
    """A ``cf-ray`` sent by the client cannot forge the ray id the logs are joined on."""
    tail = await create_tail(sim)
    async with await connect(sim, tail["url"]) as ws:
        async with sim.session.get(
            sim.url + "/health",
            headers={"Host": "api.spacevision.app", "CF-Ray": "0123456789abcdef-AMS"},
        ) as resp:
            await resp.read()
            answered = resp.headers["CF-Ray"]
        shown = (await next_event(ws))["event"]["request"]["headers"]["cf-ray"]
    assert (shown, answered.startswith("0123456789abcdef")) == (answered, False)


async def test_method_filter(sim: SimHandle) -> None:
    """A method filter lets only those methods through."""
    tail = await create_tail(sim, [{"method": ["POST"]}])
    async with await connect(sim, tail["url"]) as ws:
        await edge(sim, "/v1/a", method="GET")
        await edge(sim, "/v1/b", method="POST")
        event = await next_event(ws)
    assert event["event"]["request"]["method"] == "POST"


async def test_outcome_filter_and_exception_details(sim: SimHandle) -> None:
    """An exception filter skips healthy requests; the exception arrives with its stack."""
    tail = await create_tail(sim, [{"outcome": ["exception", "exceededCpu"]}])
    async with await connect(sim, tail["url"]) as ws:
        await edge(sim)
        await sim.control(
            "POST",
            "/__sim/faults",
            json={"service": "workers", "resource": "api", "exception": "x is not a function"},
        )
        await edge(sim)
        event = await next_event(ws)
    [exception] = event["exceptions"]
    assert (event["outcome"], exception["name"], exception["message"]) == (
        "exception",
        "Error",
        "x is not a function",
    )
    assert exception["stack"].startswith("Error: x is not a function\n    at ")


async def test_header_filter(sim: SimHandle) -> None:
    """A header filter matches the header's value."""
    tail = await create_tail(sim, [{"header": {"key": "X-Debug", "query": "1"}}])
    async with await connect(sim, tail["url"]) as ws:
        await edge(sim, "/v1/a", headers={"X-Debug": "0"})
        await edge(sim, "/v1/b", headers={"X-Debug": "1"})
        event = await next_event(ws)
    assert event["event"]["request"]["url"].endswith("/v1/b")


async def test_query_filter(sim: SimHandle) -> None:
    """A query filter keeps events whose logs or URL contain the text."""
    tail = await create_tail(sim, [{"query": "/v1/stars"}])
    async with await connect(sim, tail["url"]) as ws:
        await edge(sim, "/health")
        await edge(sim, "/v1/stars")
        event = await next_event(ws)
    assert event["event"]["request"]["url"].endswith("/v1/stars")


async def test_script_version_filter(sim: SimHandle) -> None:
    """A scriptVersion filter keeps only that version's events (here a preview URL's)."""
    _, body = await sim.call("GET", f"/accounts/{sim.account_id}/workers/scripts/api/versions")
    newest = body["result"]["items"][0]["id"]
    tail = await create_tail(sim, [{"scriptVersion": newest}])
    async with await connect(sim, tail["url"]) as ws:
        await edge(sim)
        await edge(sim, host=f"{newest[:8]}-api.spacevision.workers.dev")
        event = await next_event(ws)
    assert event["scriptVersion"] == {"id": newest}


async def test_client_ip_filter(sim: SimHandle) -> None:
    """client_ip ``self`` matches the tail's creator; another address matches nothing."""
    mine = await create_tail(sim, [{"client_ip": ["self"]}])
    other = await create_tail(sim, [{"client_ip": ["203.0.113.9"]}])
    async with await connect(sim, mine["url"]) as ws, await connect(sim, other["url"]):
        await edge(sim)
        await next_event(ws)
    tails = sim.server.state.tails
    assert (1, 0) == (tails.sessions[mine["id"]].delivered, tails.sessions[other["id"]].delivered)


async def test_binding_failure_is_logged_in_the_tail(sim: SimHandle) -> None:
    """A failing KV binding shows up in the tail as an error log with the binding's message."""
    await sim.control(
        "POST", "/__sim/faults", json={"service": "kv", "resource": "SESSIONS", "outage": True}
    )
    tail = await create_tail(sim)
    async with await connect(sim, tail["url"]) as ws:
        await edge(sim)
        event = await next_event(ws)
    assert [("error", ["health check failed", "KV GET failed: 503 Service Unavailable"])] == [
        (log["level"], log["message"]) for log in event["logs"]
    ]


async def test_socket_answers_pings(sim: SimHandle) -> None:
    """The socket answers wrangler's keepalive pings with pongs."""
    tail = await create_tail(sim)
    ws = await sim.session.ws_connect(tail["url"], protocols=("trace-v1",), autoping=False)
    async with ws:
        await ws.ping(b"wrangler tail ping")
        msg = await ws.receive(timeout=RECEIVE_DEADLINE_S)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.PONG, b"wrangler tail ping")


async def test_delete_closes_the_socket_with_1000(sim: SimHandle) -> None:
    """Deleting the tail closes its sockets cleanly."""
    tail = await create_tail(sim)
    async with await connect(sim, tail["url"]) as ws:
        await sim.call("DELETE", f"{tails_path(sim)}/{tail['id']}")
        msg = await ws.receive(timeout=RECEIVE_DEADLINE_S)
    assert (msg.type, ws.close_code) == (aiohttp.WSMsgType.CLOSE, 1000)


async def test_deleting_the_worker_closes_its_tails(sim: SimHandle) -> None:
    """A Worker's deletion ends its tails."""
    tail = await create_tail(sim, script="image-processor")
    async with await connect(sim, tail["url"]) as ws:
        await sim.call("DELETE", f"/accounts/{sim.account_id}/workers/scripts/image-processor")
        msg = await ws.receive(timeout=RECEIVE_DEADLINE_S)
    assert msg.type == aiohttp.WSMsgType.CLOSE


async def disconnect(sim: SimHandle, **body: Any) -> tuple[int, Any]:
    """Call the ``/__sim/tails/disconnect`` control: its status and decoded body."""
    async with sim.session.post(sim.url + "/__sim/tails/disconnect", json=body) as resp:
        return resp.status, await resp.json()


async def test_disconnect_control_drops_the_socket_abnormally(sim: SimHandle) -> None:
    """Without a code the connection just ends (no close frame): the client sees 1006, the
    abnormal closure an edge restart gives ``wrangler tail``."""
    tail = await create_tail(sim)
    async with await connect(sim, tail["url"]) as ws:
        status, body = await disconnect(sim)
        msg = await ws.receive(timeout=RECEIVE_DEADLINE_S)
    assert (status, body["result"]["disconnected"]) == (200, [tail["id"]])
    assert (msg.type, ws.close_code) == (aiohttp.WSMsgType.CLOSED, 1006)


async def test_disconnected_tail_can_be_reconnected(sim: SimHandle) -> None:
    """The tail survives the cut: a client reconnecting to the same URL gets events again."""
    tail = await create_tail(sim)
    async with await connect(sim, tail["url"]) as ws:
        await disconnect(sim, tail_id=tail["id"])
        await ws.receive(timeout=RECEIVE_DEADLINE_S)
    async with await connect(sim, tail["url"]) as again:
        await edge(sim, "/v1/after")
        event = await next_event(again)
    assert event["event"]["request"]["url"] == "https://api.spacevision.app/v1/after"


async def test_disconnect_control_can_send_a_close_code(sim: SimHandle) -> None:
    """With ``code`` the socket closes with that code (1012 "service restart" here)."""
    tail = await create_tail(sim)
    async with await connect(sim, tail["url"]) as ws:
        await disconnect(sim, code=1012)
        msg = await ws.receive(timeout=RECEIVE_DEADLINE_S)
    assert (msg.type, ws.close_code) == (aiohttp.WSMsgType.CLOSE, 1012)


async def test_disconnect_control_cuts_only_the_named_tail(sim: SimHandle) -> None:
    """Naming a tail leaves the other tails' sockets open."""
    first, second = await create_tail(sim), await create_tail(sim)
    async with await connect(sim, first["url"]) as ws1, await connect(sim, second["url"]) as ws2:
        _, body = await disconnect(sim, tail_id=first["id"])
        await ws1.receive(timeout=RECEIVE_DEADLINE_S)
        await edge(sim)
        event = await next_event(ws2)
    assert (body["result"]["disconnected"], event["scriptName"]) == ([first["id"]], "api")


@pytest.mark.parametrize(
    ("body", "status"), [({"code": 1000}, 400), ({"code": 1006}, 400), ({"tail_id": "x"}, 404)]
)
async def test_disconnect_control_refuses_bad_requests(
    sim: SimHandle, body: dict[str, Any], status: int
) -> None:
    """A clean or reserved close code, or an unknown tail, is an error, not a silent no-op."""
    assert status == (await disconnect(sim, **body))[0]


async def test_sim_lists_tails_with_their_sockets(sim: SimHandle) -> None:
    """``GET /__sim/tails`` shows the tail ids a drill needs, and how many sockets each has."""
    tail = await create_tail(sim)
    async with await connect(sim, tail["url"]):
        listed = await sim.control("GET", "/__sim/tails")
    assert [(t["id"], t["name"], t["connections"]) for t in listed] == [(tail["id"], "api", 1)]


async def test_socket_requires_trace_v1(sim: SimHandle) -> None:
    """A handshake without the trace-v1 subprotocol is refused."""
    tail = await create_tail(sim)
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await sim.session.ws_connect(tail["url"])
    assert err.value.status == 400


async def test_unknown_tail_socket_is_404(sim: SimHandle) -> None:
    """A socket for a tail that does not exist is refused with 404."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await sim.session.ws_connect(sim.url + "/__tail/" + "0" * 32, protocols=("trace-v1",))
    assert err.value.status == 404


async def test_expired_tail_stops_delivering_but_stays_open(sim: SimHandle) -> None:
    """Past expires_at the tail receives nothing, yet its socket is not closed."""
    tails = sim.server.state.tails
    tails.ttl_s = 0.0
    expired = await create_tail(sim)
    tails.ttl_s = 3600.0
    live = await create_tail(sim)
    async with await connect(sim, expired["url"]) as old, await connect(sim, live["url"]) as ws:
        await edge(sim)
        await next_event(ws)
        assert not old.closed
    assert (0, 1) == (tails.sessions[expired["id"]].delivered, tails.sessions[live["id"]].delivered)


async def test_overload_switches_to_sampling_with_an_info_event(sim: SimHandle) -> None:
    """Past the tail's event rate it says it is sampling, with wrangler's message."""
    sim.server.state.tails.overload_rps = 2
    tail = await create_tail(sim)
    async with await connect(sim, tail["url"]) as ws:
        for _ in range(4):
            await edge(sim)
        events = [await next_event(ws) for _ in range(3)]
    assert [None, None, "overload"] == [e["event"].get("type") for e in events]
    assert events[2]["event"]["message"].startswith("Tail is currently in sampling mode")


async def test_pages_deployment_tail_streams_its_events(sim: SimHandle) -> None:
    """A Pages deployment tail receives the Functions events of that deployment."""
    project = f"/accounts/{sim.account_id}/pages/projects/spacevision-web"
    status, body = await sim.call("GET", project)
    live = body["result"]["canonical_deployment"]["id"]
    status, body = await sim.call(
        "POST", f"{project}/deployments/{live}/tails", json={"filters": []}
    )
    assert status == 200
    tail = body["result"]
    async with await connect(sim, tail["url"]) as ws:
        await edge(sim, "/", host="spacevision.app")
        event = await next_event(ws)
        status, _ = await sim.call("DELETE", f"{project}/deployments/{live}/tails/{tail['id']}")
        closing = await ws.receive(timeout=RECEIVE_DEADLINE_S)
    assert (event["scriptName"], event["outcome"]) == ("pages-worker--4827159-production", "ok")
    assert (status, closing.type, ws.close_code) == (200, aiohttp.WSMsgType.CLOSE, 1000)


async def test_shutdown_closes_sockets_even_after_a_reset(sim: SimHandle) -> None:
    """A reset forgets tails; stopping the simulator still closes their sockets (1001)."""
    tail = await create_tail(sim)
    async with await connect(sim, tail["url"]) as ws:
        await sim.control("POST", "/__sim/reset")
        await sim.server.stop()
        msg = await ws.receive(timeout=RECEIVE_DEADLINE_S)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)
