"""Simulated Workers KV over HTTP: namespaces, values, expiry, limits, paging and bulk ops."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp

from cfsim.analytics import Sample
from tests.conftest import SimHandle

MIB = 1024 * 1024


class FakeClock:
    """A settable clock for ``state.clock`` (starts at the real time so seeds stay valid)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _base(sim: SimHandle) -> str:
    return f"/accounts/{sim.account_id}/storage/kv/namespaces"


async def _namespace_id(sim: SimHandle, title: str) -> str:
    status, body = await sim.call("GET", _base(sim), params={"per_page": "100"})
    assert status == 200, body
    return str(next(n["id"] for n in body["result"] if n["title"] == title))


async def _new_namespace(sim: SimHandle, title: str = "TEST") -> str:
    status, body = await sim.call("POST", _base(sim), json={"title": title})
    assert status == 200, body
    return str(body["result"]["id"])


async def _put(sim: SimHandle, ns: str, key: str, value: bytes, **params: str) -> tuple[int, Any]:
    return await sim.call(
        "PUT",
        f"{_base(sim)}/{ns}/values/{key}",
        data=value,
        params=params,
        headers={"Content-Type": "application/octet-stream"},
    )


async def _get_raw(sim: SimHandle, ns: str, key: str) -> tuple[int, bytes, str]:
    url = f"{sim.api}{_base(sim)}/{ns}/values/{key}"
    async with sim.session.get(url, headers=sim.auth) as resp:
        return resp.status, await resp.read(), resp.content_type


async def test_seeded_namespaces_are_listed(sim: SimHandle) -> None:
    """The SpaceVision account starts with its SESSIONS, CONFIG and CACHE namespaces."""
    status, body = await sim.call("GET", _base(sim))
    assert status == 200
    assert sorted(n["title"] for n in body["result"]) == ["CACHE", "CONFIG", "SESSIONS"]
    assert body["result_info"]["total_count"] == 3


async def test_namespaces_order_by_title_descending(sim: SimHandle) -> None:
    """``order=title&direction=desc`` sorts namespaces the way the dashboard lists them."""
    status, body = await sim.call("GET", _base(sim), params={"order": "title", "direction": "desc"})
    assert status == 200
    assert [n["title"] for n in body["result"]] == ["SESSIONS", "CONFIG", "CACHE"]


async def test_created_namespace_can_be_read_back(sim: SimHandle) -> None:
    """A new namespace gets an id and is found by GET with its title."""
    ns = await _new_namespace(sim, "UPLOAD_TOKENS")
    status, body = await sim.call("GET", f"{_base(sim)}/{ns}")
    assert status == 200
    assert body["result"] == {"id": ns, "title": "UPLOAD_TOKENS", "supports_url_encoding": True}


async def test_duplicate_title_is_refused_with_10014(sim: SimHandle) -> None:
    """Titles are unique per account: KV answers 10014 for a second CONFIG."""
    status, body = await sim.call("POST", _base(sim), json={"title": "CONFIG"})
    assert (status, body["errors"][0]["code"]) == (400, 10014)


async def test_deleted_namespace_is_not_found(sim: SimHandle) -> None:
    """After DELETE, the namespace id answers KV's 404 with code 10013."""
    ns = await _new_namespace(sim)
    status, _ = await sim.call("DELETE", f"{_base(sim)}/{ns}")
    assert status == 200
    status, body = await sim.call("GET", f"{_base(sim)}/{ns}")
    assert (status, body["errors"][0]["code"]) == (404, 10013)


async def test_malformed_namespace_id_is_10011(sim: SimHandle) -> None:
    """A namespace id that is not a UUID is a 400 with code 10011, not a 404."""
    status, body = await sim.call("GET", f"{_base(sim)}/not-a-uuid/keys")
    assert (status, body["errors"][0]["code"]) == (400, 10011)


async def test_value_round_trips_as_raw_bytes(sim: SimHandle) -> None:
    """GET …/values answers the stored bytes as application/octet-stream, not an envelope."""
    ns = await _new_namespace(sim)
    payload = bytes(range(256))
    status, _ = await _put(sim, ns, "blob", payload)
    assert status == 200
    assert (200, payload, "application/octet-stream") == await _get_raw(sim, ns, "blob")


async def test_missing_key_is_404_with_10009(sim: SimHandle) -> None:
    """Reading an absent key answers the envelope with KV's key-not-found code."""
    ns = await _namespace_id(sim, "CONFIG")
    status, body = await sim.call("GET", f"{_base(sim)}/{ns}/values/flag:nope")
    assert status == 404
    assert body["errors"] == [{"code": 10009, "message": "get: 'key not found'"}]


async def test_multipart_write_stores_metadata(sim: SimHandle) -> None:
    """A multipart write keeps the JSON metadata part; the metadata endpoint returns it."""
    ns = await _new_namespace(sim)
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("value", "on")
    form.add_field("metadata", json.dumps({"owner": "web", "rollout": 10}))
    status, _ = await sim.call("PUT", f"{_base(sim)}/{ns}/values/flag:beta", data=form)
    assert status == 200
    status, body = await sim.call("GET", f"{_base(sim)}/{ns}/metadata/flag:beta")
    assert (status, body["result"]) == (200, {"owner": "web", "rollout": 10})


async def test_deleted_value_is_gone(sim: SimHandle) -> None:
    """DELETE removes the value; a later read is a 404."""
    ns = await _new_namespace(sim)
    await _put(sim, ns, "k", b"v")
    status, _ = await sim.call("DELETE", f"{_base(sim)}/{ns}/values/k")
    assert status == 200
    status, _, _ = await _get_raw(sim, ns, "k")
    assert status == 404


async def test_key_expires_when_the_clock_passes_it(sim: SimHandle) -> None:
    """A key written with expiration_ttl=60 reads until 60 s pass, then disappears."""
    clock = FakeClock(sim.server.state.clock())
    sim.server.state.clock = clock
    ns = await _new_namespace(sim)
    await _put(sim, ns, "otp", b"123456", expiration_ttl="60")
    clock.now += 59
    assert (await _get_raw(sim, ns, "otp"))[0] == 200
    clock.now += 1
    assert (await _get_raw(sim, ns, "otp"))[0] == 404
    status, body = await sim.call("GET", f"{_base(sim)}/{ns}/keys")
    assert (status, body["result"]) == (200, [])


async def test_expiration_is_listed_with_the_key(sim: SimHandle) -> None:
    """Keys carry their absolute expiration in the key listing."""
    clock = FakeClock(1_900_000_000.0)
    sim.server.state.clock = clock
    ns = await _new_namespace(sim)
    await _put(sim, ns, "k", b"v", expiration=str(1_900_000_600))
    status, body = await sim.call("GET", f"{_base(sim)}/{ns}/keys")
    assert (status, body["result"]) == (200, [{"name": "k", "expiration": 1_900_000_600}])


async def test_ttl_under_60_seconds_is_refused(sim: SimHandle) -> None:
    """KV's minimum TTL is 60 s; 30 s is a 400."""
    ns = await _new_namespace(sim)
    status, body = await _put(sim, ns, "k", b"v", expiration_ttl="30")
    assert status == 400
    assert body["errors"][0]["message"] == (
        "Invalid expiration_ttl of 30. Expiration TTL must be at least 60."
    )


async def test_value_over_25_mib_is_413(sim: SimHandle) -> None:
    """One byte past 25 MiB is refused with KV's 413 and nothing is stored."""
    ns = await _new_namespace(sim)
    status, body = await _put(sim, ns, "big", b"x" * (25 * MIB + 1))
    assert status == 413
    assert body["errors"][0]["message"] == "Value length of 26214401 exceeds limit of 26214400."
    assert (await _get_raw(sim, ns, "big"))[0] == 404


async def test_value_of_exactly_25_mib_is_stored(sim: SimHandle) -> None:
    """25 MiB is the limit itself, so it is accepted."""
    ns = await _new_namespace(sim)
    status, _ = await _put(sim, ns, "big", b"x" * (25 * MIB))
    assert status == 200


async def test_key_over_512_bytes_is_414(sim: SimHandle) -> None:
    """Key names are limited to 512 UTF-8 bytes."""
    ns = await _new_namespace(sim)
    status, body = await _put(sim, ns, "k" * 513, b"v")
    assert (status, body["errors"][0]["code"]) == (414, 10030)


async def test_metadata_over_1024_bytes_is_refused(sim: SimHandle) -> None:
    """Metadata is limited to 1024 bytes of JSON."""
    ns = await _new_namespace(sim)
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("value", "v")
    form.add_field("metadata", json.dumps({"blob": "x" * 1100}))
    status, body = await sim.call("PUT", f"{_base(sim)}/{ns}/values/k", data=form)
    assert status == 413
    assert body["errors"][0]["message"].startswith("Metadata length of ")


async def test_cursor_pages_through_more_than_1000_keys(sim: SimHandle) -> None:
    """1,500 keys list as 1,000 then 500, and the last page's cursor is empty."""
    ns = await _new_namespace(sim)
    pairs = [{"key": f"k{i:04d}", "value": str(i)} for i in range(1500)]
    status, _ = await sim.call("PUT", f"{_base(sim)}/{ns}/bulk", json=pairs)
    assert status == 200
    status, first = await sim.call("GET", f"{_base(sim)}/{ns}/keys")
    assert (status, first["result_info"]["count"]) == (200, 1000)
    cursor = first["result_info"]["cursor"]
    status, second = await sim.call("GET", f"{_base(sim)}/{ns}/keys", params={"cursor": cursor})
    assert status == 200
    assert second["result_info"] == {"count": 500, "cursor": ""}
    names = [k["name"] for k in first["result"] + second["result"]]
    assert names == [p["key"] for p in pairs]


async def test_list_limit_below_10_is_refused(sim: SimHandle) -> None:
    """``limit`` must be 10..1000."""
    ns = await _namespace_id(sim, "CONFIG")
    status, body = await sim.call("GET", f"{_base(sim)}/{ns}/keys", params={"limit": "5"})
    assert (status, body["errors"][0]["code"]) == (400, 10028)


async def test_prefix_filters_keys_and_shows_metadata(sim: SimHandle) -> None:
    """``prefix=flag:`` lists only the feature flags, each with its metadata."""
    ns = await _namespace_id(sim, "CONFIG")
    status, body = await sim.call("GET", f"{_base(sim)}/{ns}/keys", params={"prefix": "flag:"})
    assert status == 200
    dark_mode = next(k for k in body["result"] if k["name"] == "flag:dark-mode")
    assert dark_mode == {"name": "flag:dark-mode", "metadata": {"owner": "web", "rollout": 100}}
    assert all(k["name"].startswith("flag:") for k in body["result"])


async def test_bulk_write_decodes_base64_and_keeps_metadata(sim: SimHandle) -> None:
    """Bulk pairs flagged base64 are stored decoded, with their metadata."""
    ns = await _new_namespace(sim)
    pairs = [
        {"key": "png", "value": base64.b64encode(b"\x89PNG").decode(), "base64": True},
        {"key": "doc", "value": "text", "metadata": {"type": "note"}},
    ]
    status, body = await sim.call("PUT", f"{_base(sim)}/{ns}/bulk", json=pairs)
    assert (status, body["result"]["successful_key_count"]) == (200, 2)
    assert (await _get_raw(sim, ns, "png"))[1] == b"\x89PNG"
    status, body = await sim.call("GET", f"{_base(sim)}/{ns}/metadata/doc")
    assert body["result"] == {"type": "note"}


async def test_bulk_get_parses_json_with_metadata(sim: SimHandle) -> None:
    """Bulk get with type=json and withMetadata returns decoded values and metadata."""
    ns = await _namespace_id(sim, "CONFIG")
    status, body = await sim.call(
        "POST",
        f"{_base(sim)}/{ns}/bulk/get",
        json={"keys": ["flag:dark-mode", "flag:ai-captions"], "type": "json", "withMetadata": True},
    )
    assert status == 200
    assert body["result"]["values"]["flag:dark-mode"] == {
        "value": True,
        "metadata": {"owner": "web", "rollout": 100},
        "expiration": None,
    }


async def test_bulk_get_answers_null_for_a_missing_key(sim: SimHandle) -> None:
    """A key that does not exist comes back as ``null`` beside the keys that do, as the
    Workers binding's bulk read documents (the relaxed schema lets it through)."""
    ns = await _namespace_id(sim, "CONFIG")
    status, body = await sim.call(
        "POST", f"{_base(sim)}/{ns}/bulk/get", json={"keys": ["flag:dark-mode", "no-such-key"]}
    )
    values = body["result"]["values"]
    assert (status, values["no-such-key"], isinstance(values["flag:dark-mode"], str)) == (
        200,
        None,
        True,
    )


async def test_bulk_get_over_100_keys_is_refused(sim: SimHandle) -> None:
    """Bulk get reads at most 100 keys per call."""
    ns = await _namespace_id(sim, "CONFIG")
    keys = [f"k{i}" for i in range(101)]
    status, _ = await sim.call("POST", f"{_base(sim)}/{ns}/bulk/get", json={"keys": keys})
    assert status == 400


async def test_bulk_delete_removes_keys(sim: SimHandle) -> None:
    """Bulk delete removes every listed key."""
    ns = await _new_namespace(sim)
    pairs = [{"key": f"k{i}", "value": "v"} for i in range(5)]
    await sim.call("PUT", f"{_base(sim)}/{ns}/bulk", json=pairs)
    status, _ = await sim.call("POST", f"{_base(sim)}/{ns}/bulk/delete", json=["k0", "k1", "k2"])
    assert status == 200
    status, body = await sim.call("GET", f"{_base(sim)}/{ns}/keys")
    assert [k["name"] for k in body["result"]] == ["k3", "k4"]


async def test_bulk_write_over_10000_pairs_is_refused(sim: SimHandle) -> None:
    """A bulk write holds at most 10,000 pairs; more are refused and nothing is written."""
    ns = await _new_namespace(sim)
    pairs = [{"key": f"k{i}", "value": "v"} for i in range(10_001)]
    status, _ = await sim.call("PUT", f"{_base(sim)}/{ns}/bulk", json=pairs)
    assert status == 413
    status, body = await sim.call("GET", f"{_base(sim)}/{ns}/keys")
    assert body["result"] == []


async def test_operations_are_recorded_for_analytics(sim: SimHandle) -> None:
    """Each write, read and list becomes a KV sample on the namespace id."""
    ns = await _new_namespace(sim)
    await _put(sim, ns, "k", b"v")
    await _get_raw(sim, ns, "k")
    await sim.call("GET", f"{_base(sim)}/{ns}/keys")
    samples: list[Sample] = [s for s in sim.server.state.analytics.samples if s.subject == ns]
    assert [(s.kind, s.action) for s in samples] == [
        ("kv", "write"),
        ("kv", "read"),
        ("kv", "list"),
    ]


async def test_fault_on_a_namespace_title_hits_only_that_namespace(sim: SimHandle) -> None:
    """An outage fault naming SESSIONS fails SESSIONS and leaves CONFIG working."""
    sessions = await _namespace_id(sim, "SESSIONS")
    config = await _namespace_id(sim, "CONFIG")
    await sim.control(
        "POST", "/__sim/faults", json={"service": "kv", "resource": "SESSIONS", "outage": True}
    )
    status, _ = await sim.call("GET", f"{_base(sim)}/{sessions}/keys")
    assert status == 503
    status, _ = await sim.call("GET", f"{_base(sim)}/{config}/keys")
    assert status == 200
