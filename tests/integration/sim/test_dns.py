"""Simulated DNS records over HTTP: CRUD, validation codes, filters, paging, batch, BIND files,
SOA serial and audit logs (v1 and v2)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from tests.conftest import SimHandle

ZONE = "spacevision.app"
SEEDED = 10
CAA_BAD_TAG = {"flags": 0, "tag": "nope", "value": "ca.example"}
SRV_DATA = {"priority": 1, "weight": 1, "port": 5060, "target": "sip.example.net"}


async def _zone_id(sim: SimHandle) -> str:
    status, body = await sim.call("GET", "/zones", params={"name": ZONE})
    assert status == 200, body
    return str(body["result"][0]["id"])


async def _records(sim: SimHandle, zone_id: str, **params: str) -> list[dict[str, Any]]:
    status, body = await sim.call(
        "GET", f"/zones/{zone_id}/dns_records", params={"per_page": "1000", **params}
    )
    assert status == 200, body
    return list(body["result"])


async def _create(sim: SimHandle, zone_id: str, record: dict[str, Any]) -> dict[str, Any]:
    status, body = await sim.call("POST", f"/zones/{zone_id}/dns_records", json=record)
    assert status == 200, body
    return dict(body["result"])


async def _export(sim: SimHandle, zone_id: str) -> str:
    url = f"{sim.api}/zones/{zone_id}/dns_records/export"
    async with sim.session.get(url, headers=sim.auth) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        return await resp.text()


async def _import(
    sim: SimHandle, zone_id: str, text: str, proxied: str | None = None
) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("file", text.encode(), filename="zone.txt", content_type="text/plain")
    if proxied is not None:
        form.add_field("proxied", proxied)
    return await sim.call("POST", f"/zones/{zone_id}/dns_records/import", data=form)


def _serial(zone_file: str) -> int:
    found = re.search(r"\tSOA\t\S+ \S+ (\d+) ", zone_file)
    assert found, zone_file
    return int(found.group(1))


def _shape(record: dict[str, Any]) -> tuple[Any, ...]:
    return (
        record["type"],
        record["name"],
        record["content"],
        record["ttl"],
        record["proxied"],
        record.get("priority"),
        record.get("comment"),
        tuple(record["tags"]),
    )


async def test_seeded_zone_serves_the_spacevision_records(sim: SimHandle) -> None:
    """The seed holds the web, API, mail, policy and DNS-only records the README describes."""
    zone_id = await _zone_id(sim)
    records = {(r["type"], r["name"]): r for r in await _records(sim, zone_id)}
    assert len(records) == SEEDED - 1  # two MX records share (type, name)
    assert records[("CNAME", ZONE)]["content"] == "spacevision-web.pages.dev"
    assert records[("CNAME", ZONE)]["proxied"] is True
    assert records[("AAAA", f"api.{ZONE}")]["proxied"] is True
    assert records[("A", f"status.{ZONE}")]["proxied"] is False
    assert records[("CAA", ZONE)]["data"] == {
        "flags": 0,
        "tag": "issue",
        "value": "letsencrypt.org",
    }
    assert not any(t == "NS" for t, _ in records)


async def test_create_then_get_round_trips(sim: SimHandle) -> None:
    """A created record reads back identically, with the zone and timestamps filled in."""
    zone_id = await _zone_id(sim)
    created = await _create(
        sim,
        zone_id,
        {"type": "A", "name": "edge", "content": "198.51.100.7", "ttl": 120, "comment": "x"},
    )
    status, body = await sim.call("GET", f"/zones/{zone_id}/dns_records/{created['id']}")
    assert status == 200
    assert created == body["result"]
    assert (f"edge.{ZONE}", zone_id, ZONE, 120, False, True) == (
        created["name"],
        created["zone_id"],
        created["zone_name"],
        created["ttl"],
        created["proxied"],
        created["proxiable"],
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [("@", ZONE), ("blog", f"blog.{ZONE}"), (f"Shop.{ZONE}.", f"shop.{ZONE}")],
)
async def test_names_become_fqdns_in_the_zone(sim: SimHandle, name: str, expected: str) -> None:
    """'@', relative and absolute names are stored as the lower-case FQDN."""
    zone_id = await _zone_id(sim)
    created = await _create(sim, zone_id, {"type": "TXT", "name": name, "content": "hello"})
    assert expected == created["name"]


async def test_put_replaces_every_field(sim: SimHandle) -> None:
    """PUT is a full replacement: fields left out return to their defaults."""
    zone_id = await _zone_id(sim)
    created = await _create(
        sim,
        zone_id,
        {"type": "A", "name": "put", "content": "198.51.100.8", "ttl": 300, "comment": "old"},
    )
    status, body = await sim.call(
        "PUT",
        f"/zones/{zone_id}/dns_records/{created['id']}",
        json={"type": "A", "name": "put", "content": "198.51.100.9"},
    )
    assert status == 200, body
    assert (
        body["result"]["content"],
        body["result"]["ttl"],
        body["result"]["comment"],
    ) == ("198.51.100.9", 1, None)


async def test_patch_keeps_fields_not_sent(sim: SimHandle) -> None:
    """PATCH changes only what it carries: TTL and comment survive a content change."""
    zone_id = await _zone_id(sim)
    created = await _create(
        sim,
        zone_id,
        {"type": "A", "name": "patch", "content": "198.51.100.8", "ttl": 300, "comment": "keep"},
    )
    status, body = await sim.call(
        "PATCH",
        f"/zones/{zone_id}/dns_records/{created['id']}",
        json={"type": "A", "name": "patch", "content": "198.51.100.10"},
    )
    assert status == 200, body
    assert ("198.51.100.10", 300, "keep", created["created_on"]) == (
        body["result"]["content"],
        body["result"]["ttl"],
        body["result"]["comment"],
        body["result"]["created_on"],
    )


async def test_patch_with_content_alone_changes_only_the_content(sim: SimHandle) -> None:
    """A body with only ``content`` (what dynamic-DNS clients send) is accepted, passes the
    (relaxed) schema, and leaves type, name, TTL, proxied and comment as they were."""
    zone_id = await _zone_id(sim)
    created = await _create(
        sim,
        zone_id,
        {"type": "A", "name": "ddns", "content": "198.51.100.20", "ttl": 120, "comment": "home"},
    )
    path = f"/zones/{zone_id}/dns_records/{created['id']}"
    status, body = await sim.call("PATCH", path, json={"content": "198.51.100.21"})
    result = body["result"]
    assert status == 200, body
    assert (result["type"], result["name"], result["content"], result["ttl"]) == (
        "A",
        "ddns.spacevision.app",
        "198.51.100.21",
        120,
    )
    assert (result["proxied"], result["comment"]) == (created["proxied"], "home")


async def test_partial_patch_is_still_validated_against_the_record(sim: SimHandle) -> None:
    """A partial body is merged first and the result checked: an A record cannot take a
    hostname as its content."""
    zone_id = await _zone_id(sim)
    created = await _create(sim, zone_id, {"type": "A", "name": "strict", "content": "192.0.2.1"})
    path = f"/zones/{zone_id}/dns_records/{created['id']}"
    status, body = await sim.call("PATCH", path, json={"content": "not-an-ip.example"})
    assert (status, body["success"]) == (400, False)


async def test_delete_answers_the_id_and_forgets_the_record(sim: SimHandle) -> None:
    """DELETE returns {id}; the record is gone afterwards (81044)."""
    zone_id = await _zone_id(sim)
    created = await _create(sim, zone_id, {"type": "TXT", "name": "gone", "content": "bye"})
    path = f"/zones/{zone_id}/dns_records/{created['id']}"
    status, body = await sim.call("DELETE", path)
    assert (200, {"id": created["id"]}) == (status, body["result"])
    status, body = await sim.call("GET", path)
    assert (status, body["errors"][0]["code"]) == (404, 81044)


async def test_unknown_record_is_81044(sim: SimHandle) -> None:
    """An unknown record id answers 404 with Cloudflare's 'Record does not exist.'."""
    zone_id = await _zone_id(sim)
    status, body = await sim.call("PATCH", f"/zones/{zone_id}/dns_records/{'0' * 32}", json={})
    assert (
        status,
        body["errors"][0]["code"],
        body["errors"][0]["message"],
    ) == (404, 81044, "Record does not exist.")


def _codes(body: dict[str, Any]) -> tuple[int, int | None]:
    error = body["errors"][0]
    chain = error.get("error_chain") or [{}]
    return error["code"], chain[0].get("code")


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"type": "A", "name": "x", "content": "300.1.1.1"}, (9005, None)),
        ({"type": "AAAA", "name": "x", "content": "198.51.100.1"}, (9006, None)),
        ({"type": "CNAME", "name": "x", "content": "192.0.2.1"}, (1004, 9007)),
        ({"type": "MX", "name": "x", "content": "mail.example.net"}, (1004, 9100)),
        ({"type": "MX", "name": "x", "content": "192.0.2.1", "priority": 10}, (9009, None)),
        ({"type": "A", "name": "x", "content": "192.0.2.1", "ttl": 30}, (1004, 9021)),
        ({"type": "TXT", "name": "x", "content": "t", "proxied": True}, (1004, 9004)),
        ({"type": "A", "name": "x", "content": "10.1.2.3", "proxied": True}, (9003, None)),
        ({"type": "A", "name": "www.example.org.", "content": "192.0.2.1"}, (9000, None)),
        ({"type": "A", "name": "bad_ label", "content": "192.0.2.1"}, (9000, None)),
        ({"type": "TXT", "name": "x", "content": "a" * 4081}, (1004, None)),
        ({"type": "CAA", "name": "x", "data": CAA_BAD_TAG}, (1004, None)),
        ({"type": "SRV", "name": "sip", "data": SRV_DATA}, (9000, None)),
        ({"type": "A", "name": "x", "content": "192.0.2.1", "ttl": "300"}, (1004, None)),
        ({"type": "A", "name": "x", "content": "192.0.2.1", "colour": "blue"}, (1004, None)),
    ],
)  # fmt: skip
async def test_invalid_record_gets_cloudflares_code(
    sim: SimHandle, record: dict[str, Any], expected: tuple[int, int | None]
) -> None:
    """Each invalid record is refused with 400 and the code (and chained code) Cloudflare uses."""
    zone_id = await _zone_id(sim)
    status, body = await sim.call("POST", f"/zones/{zone_id}/dns_records", json=record)
    assert (400, expected) == (status, _codes(body))


async def test_cname_where_an_address_record_exists_is_81053(sim: SimHandle) -> None:
    """A CNAME cannot share its name with an A, AAAA or CNAME record."""
    zone_id = await _zone_id(sim)
    status, body = await sim.call(
        "POST",
        f"/zones/{zone_id}/dns_records",
        json={"type": "CNAME", "name": "status", "content": "status.example.net"},
    )
    assert (status, body["errors"][0]["code"]) == (400, 81053)


async def test_address_record_where_a_cname_exists_is_81054(sim: SimHandle) -> None:
    """An A/AAAA record cannot share its name with a CNAME."""
    zone_id = await _zone_id(sim)
    status, body = await sim.call(
        "POST",
        f"/zones/{zone_id}/dns_records",
        json={"type": "A", "name": "www", "content": "192.0.2.1"},
    )
    assert (status, body["errors"][0]["code"]) == (400, 81054)


async def test_identical_record_is_81057(sim: SimHandle) -> None:
    """The same type, name and content twice is refused with 'Record already exists.'."""
    zone_id = await _zone_id(sim)
    record = {"type": "TXT", "name": "twice", "content": "same"}
    await _create(sim, zone_id, record)
    status, body = await sim.call("POST", f"/zones/{zone_id}/dns_records", json=record)
    assert (status, body["errors"][0]["code"]) == (400, 81057)


async def test_pages_cover_every_record_once(sim: SimHandle) -> None:
    """Walking pages of 3 until total_pages yields each record exactly once."""
    zone_id = await _zone_id(sim)
    seen: list[str] = []
    page, total_pages = 1, 1
    while page <= total_pages:
        status, body = await sim.call(
            "GET", f"/zones/{zone_id}/dns_records", params={"per_page": "3", "page": str(page)}
        )
        assert status == 200, body
        seen += [r["id"] for r in body["result"]]
        total_pages = body["result_info"]["total_pages"]
        page += 1
    assert (4, sorted(r["id"] for r in await _records(sim, zone_id))) == (total_pages, sorted(seen))


async def test_per_page_outside_the_schema_bounds_is_refused(sim: SimHandle) -> None:
    """per_page is 1..5,000,000 (the schema's bounds); 0 is a 400."""
    zone_id = await _zone_id(sim)
    status, _ = await sim.call("GET", f"/zones/{zone_id}/dns_records", params={"per_page": "0"})
    assert status == 400


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "MX"}, {"aspmx.l.google.com", "alt1.aspmx.l.google.com"}),
        ({"name": f"www.{ZONE}"}, {"spacevision-web.pages.dev"}),
        ({"content": "203.0.113.10"}, {"203.0.113.10"}),
        ({"name.startswith": "ima"}, {"198.51.100.20"}),
        ({"comment.contains": "DNS ONLY"}, {"203.0.113.10"}),
        ({"tag": "owner:media"}, {"198.51.100.20"}),
        ({"tag.present": "owner"}, {"198.51.100.20"}),
        ({"search": "dmarc"}, {"v=DMARC1; p=quarantine; rua=mailto:dmarc@spacevision.app"}),
        ({"type": "AAAA", "content": "203.0.113.10", "match": "any"}, {"100::", "203.0.113.10"}),
        ({"type": "A", "proxied": "false"}, {"203.0.113.10"}),
    ],
)
async def test_filters_select_records(
    sim: SimHandle, params: dict[str, str], expected: set[str]
) -> None:
    """Filters match as Cloudflare's do, combined by 'match' (all by default)."""
    zone_id = await _zone_id(sim)
    assert expected == {r["content"] for r in await _records(sim, zone_id, **params)}


async def test_order_and_direction_sort_the_listing(sim: SimHandle) -> None:
    """order=name&direction=desc lists names from z to a."""
    zone_id = await _zone_id(sim)
    names = [r["name"] for r in await _records(sim, zone_id, order="name", direction="desc")]
    assert sorted(names, reverse=True) == names


async def test_every_change_bumps_the_soa_serial(sim: SimHandle) -> None:
    """Create, patch and delete each add one to the serial the export's SOA shows."""
    zone_id = await _zone_id(sim)
    before = _serial(await _export(sim, zone_id))
    created = await _create(sim, zone_id, {"type": "TXT", "name": "serial", "content": "1"})
    path = f"/zones/{zone_id}/dns_records/{created['id']}"
    await sim.call("PATCH", path, json={"type": "TXT", "name": "serial", "content": "2"})
    await sim.call("DELETE", path)
    after = _serial(await _export(sim, zone_id))
    assert (before + 3, after) == (sim.server.state.dns.serial(zone_id), after)


async def test_refused_change_leaves_the_serial(sim: SimHandle) -> None:
    """A refused record changes nothing, not even the serial."""
    zone_id = await _zone_id(sim)
    before = sim.server.state.dns.serial(zone_id)
    await sim.call(
        "POST", f"/zones/{zone_id}/dns_records", json={"type": "A", "name": "x", "content": "no"}
    )
    assert before == sim.server.state.dns.serial(zone_id)


async def test_changes_are_in_the_v1_audit_log(sim: SimHandle) -> None:
    """Create and delete each write an audit entry naming the record and its zone."""
    zone_id = await _zone_id(sim)
    created = await _create(sim, zone_id, {"type": "TXT", "name": "audit", "content": "a"})
    await sim.call("DELETE", f"/zones/{zone_id}/dns_records/{created['id']}")
    status, body = await sim.call("GET", f"/accounts/{sim.account_id}/audit_logs")
    assert status == 200, body
    mine = [e for e in body["result"] if e["resource"]["id"] == created["id"]]
    assert [(e["action"]["type"], e["metadata"]["zone_name"]) for e in mine] == [
        ("rec_del", ZONE),
        ("rec_add", ZONE),
    ]


async def test_batch_applies_every_operation(sim: SimHandle) -> None:
    """One batch deletes, patches, puts and posts, and answers each result."""
    zone_id = await _zone_id(sim)
    a = await _create(sim, zone_id, {"type": "TXT", "name": "b1", "content": "one"})
    b = await _create(sim, zone_id, {"type": "TXT", "name": "b2", "content": "two"})
    c = await _create(sim, zone_id, {"type": "TXT", "name": "b3", "content": "three"})
    status, body = await sim.call(
        "POST",
        f"/zones/{zone_id}/dns_records/batch",
        json={
            "deletes": [{"id": a["id"]}],
            "patches": [{"id": b["id"], "name": "b2", "type": "TXT", "ttl": 120}],
            "puts": [{"id": c["id"], "name": "b3", "type": "TXT", "ttl": 1, "content": "3"}],
            "posts": [{"name": "b4", "type": "TXT", "ttl": 1, "content": "four"}],
        },
    )
    assert status == 200, body
    result = body["result"]
    assert (
        [a["id"]],
        [("two", 120)],
        ["3"],
        ["four"],
    ) == (
        [r["id"] for r in result["deletes"]],
        [(r["content"], r["ttl"]) for r in result["patches"]],
        [r["content"] for r in result["puts"]],
        [r["content"] for r in result["posts"]],
    )


async def test_failing_batch_changes_nothing(sim: SimHandle) -> None:
    """A batch whose last post is invalid applies none of its operations."""
    zone_id = await _zone_id(sim)
    target = await _create(sim, zone_id, {"type": "TXT", "name": "keep", "content": "k"})
    before = await _records(sim, zone_id)
    serial = sim.server.state.dns.serial(zone_id)
    status, body = await sim.call(
        "POST",
        f"/zones/{zone_id}/dns_records/batch",
        json={
            "deletes": [{"id": target["id"]}],
            "posts": [
                {"name": "ok", "type": "TXT", "ttl": 1, "content": "fine"},
                {"name": "bad", "type": "A", "ttl": 1, "content": "not-an-ip"},
            ],
        },
    )
    assert (
        status,
        body["errors"][0]["code"],
        body["errors"][0]["source"]["pointer"],
    ) == (400, 9005, "/posts/1")
    assert (before, serial) == (await _records(sim, zone_id), sim.server.state.dns.serial(zone_id))


async def test_batch_runs_deletes_before_posts(sim: SimHandle) -> None:
    """Deleting a CNAME and posting an A on its name in one batch works (order matters)."""
    zone_id = await _zone_id(sim)
    www = (await _records(sim, zone_id, name=f"www.{ZONE}"))[0]
    status, body = await sim.call(
        "POST",
        f"/zones/{zone_id}/dns_records/batch",
        json={
            "deletes": [{"id": www["id"]}],
            "posts": [{"name": "www", "type": "A", "ttl": 1, "content": "192.0.2.1"}],
        },
    )
    assert (status, body["result"]["posts"][0]["type"]) == (200, "A")


async def test_export_is_a_bind_file_with_soa_and_records(sim: SimHandle) -> None:
    """The export is text/plain BIND: the SOA, Cloudflare's NS and every record."""
    zone_id = await _zone_id(sim)
    text = await _export(sim, zone_id)
    assert f"{ZONE}.\t3600\tIN\tSOA\tada.ns.cloudflare.com. dns.cloudflare.com. " in text
    assert f"status.{ZONE}.\t300\tIN\tA\t203.0.113.10" in text
    assert f'{ZONE}.\t1\tIN\tCAA\t0 issue "letsencrypt.org"' in text
    assert (
        f"www.{ZONE}.\t1\tIN\tCNAME\tspacevision-web.pages.dev. ; cf_tags=cf-proxied:true" in text
    )


async def test_export_then_import_restores_the_zone(sim: SimHandle) -> None:
    """Deleting everything and importing the export brings back the same records."""
    zone_id = await _zone_id(sim)
    original = await _records(sim, zone_id)
    text = await _export(sim, zone_id)
    status, body = await sim.call(
        "POST",
        f"/zones/{zone_id}/dns_records/batch",
        json={"deletes": [{"id": r["id"]} for r in original]},
    )
    assert status == 200, body
    status, body = await _import(sim, zone_id, text)
    assert (
        status,
        body["result"],
    ) == (200, {"recs_added": SEEDED, "total_records_parsed": SEEDED + 2})
    restored = await _records(sim, zone_id)
    assert sorted(map(_shape, original)) == sorted(map(_shape, restored))


async def test_importing_existing_records_adds_nothing(sim: SimHandle) -> None:
    """Records identical to existing ones are skipped, so re-importing an export adds none."""
    zone_id = await _zone_id(sim)
    status, body = await _import(sim, zone_id, await _export(sim, zone_id))
    assert (status, body["result"]["recs_added"]) == (200, 0)


async def test_import_proxies_proxiable_records_when_asked(sim: SimHandle) -> None:
    """proxied=true proxies the file's A/AAAA/CNAME records (not its TXT records)."""
    zone_id = await _zone_id(sim)
    text = '$ORIGIN spacevision.app.\nshop 300 IN A 198.51.100.44\nshop IN TXT "v=1"\n'
    status, body = await _import(sim, zone_id, text, proxied="true")
    assert (status, body["result"]["recs_added"]) == (200, 2)
    shop = {r["type"]: r["proxied"] for r in await _records(sim, zone_id, name=f"shop.{ZONE}")}
    assert shop == {"A": True, "TXT": False}


async def test_unreadable_zone_file_is_refused_whole(sim: SimHandle) -> None:
    """A line that cannot be read refuses the file; the records before it are not added."""
    zone_id = await _zone_id(sim)
    before = await _records(sim, zone_id)
    text = "ok.spacevision.app. 300 IN A 198.51.100.45\nbroken 300 IN MX notanumber mx.\n"
    status, body = await _import(sim, zone_id, text)
    assert (status, body["errors"][0]["code"]) == (400, 1004)
    assert "line 2" in body["errors"][0]["message"]
    assert before == await _records(sim, zone_id)


async def test_audit_v2_needs_since_and_before(sim: SimHandle) -> None:
    """The v2 audit log requires both time bounds, as the SDK does."""
    status, _ = await sim.call(
        "GET", f"/accounts/{sim.account_id}/logs/audit", params={"since": "2020-01-01"}
    )
    assert status == 400


async def test_audit_v2_cursor_walks_every_entry(sim: SimHandle) -> None:
    """Following the cursor with limit=2 visits each v2 entry once, newest first."""
    zone_id = await _zone_id(sim)
    for index in range(5):
        await _create(sim, zone_id, {"type": "TXT", "name": f"v2-{index}", "content": "v"})
    seen: list[dict[str, Any]] = []
    params = {"since": "2020-01-01", "before": "2100-01-01", "limit": "2"}
    while True:
        status, body = await sim.call(
            "GET", f"/accounts/{sim.account_id}/logs/audit", params=params
        )
        assert status == 200, body
        seen += body["result"]
        cursor = body["result_info"]["cursor"]
        if not cursor:
            break
        params = {**params, "cursor": cursor}
    names = [e["resource"]["response"]["name"] for e in seen]
    assert [f"v2-{i}.{ZONE}" for i in reversed(range(5))] == names
    assert {("create", zone_id)} == {(e["action"]["type"], e["zone"]["id"]) for e in seen}


async def test_audit_v2_excludes_with_not_filters(sim: SimHandle) -> None:
    """action_type.not=create (the SDK's query format) leaves only the other actions."""
    zone_id = await _zone_id(sim)
    created = await _create(sim, zone_id, {"type": "TXT", "name": "nf", "content": "v"})
    await sim.call("DELETE", f"/zones/{zone_id}/dns_records/{created['id']}")
    status, body = await sim.call(
        "GET",
        f"/accounts/{sim.account_id}/logs/audit",
        params={"since": "2020-01-01", "before": "2100-01-01", "action_type.not": "create"},
    )
    assert status == 200, body
    assert [e["action"]["type"] for e in body["result"]] == ["delete"]
