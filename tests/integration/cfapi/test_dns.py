"""DNS records through the client, against the simulator."""

from __future__ import annotations

import pytest

from cfapi.client import CloudflareClient
from cfapi.dns import record_body
from cfapi.errors import ApiError, NotFound
from tests.conftest import SimHandle


async def _zone_id(client: CloudflareClient) -> str:
    zone = await client.zones.find("spacevision.app")
    assert zone is not None
    return zone.id


async def test_seeded_records_are_listed(client: CloudflareClient) -> None:
    """The zone's records come back typed, filters included."""
    zone_id = await _zone_id(client)
    names = [r.name async for r in client.dns.list(zone_id, type="A")]
    assert sorted(names) == ["images.spacevision.app", "status.spacevision.app"]


async def test_record_lifecycle(client: CloudflareClient) -> None:
    """Create, read, replace, patch and delete one record."""
    zone_id = await _zone_id(client)
    body = record_body(type="A", name="probe", content="192.0.2.1", comment="probe target")
    created = await client.dns.create(zone_id, body)
    fetched = await client.dns.get(zone_id, created.id)
    replaced = await client.dns.update(
        zone_id, created.id, record_body(type="A", name="probe", content="192.0.2.2")
    )
    patched = await client.dns.patch(
        zone_id, created.id, {"type": "A", "name": "probe", "content": "192.0.2.2", "ttl": 600}
    )
    deleted = await client.dns.delete(zone_id, created.id)
    actual = (fetched.content, replaced.content, patched.ttl, deleted.id)
    assert actual == ("192.0.2.1", "192.0.2.2", 600, created.id)


async def test_patch_sends_only_the_fields_that_change(client: CloudflareClient) -> None:
    """A partial PATCH (the TTL alone) passes the contract check and keeps every other field,
    so a remediation can change one setting without restating (and racing) the record."""
    zone_id = await _zone_id(client)
    created = await client.dns.create(
        zone_id, record_body(type="A", name="partial", content="192.0.2.7", comment="keep me")
    )
    patched = await client.dns.patch(zone_id, created.id, {"ttl": 900})
    actual = (patched.ttl, patched.content, patched.name, patched.comment)
    assert actual == (900, "192.0.2.7", "partial.spacevision.app", "keep me")


async def test_empty_patch_is_refused_before_sending(client: CloudflareClient) -> None:
    """A PATCH with nothing to change is a caller's mistake, not a request worth sending."""
    zone_id = await _zone_id(client)
    with pytest.raises(ValueError, match="at least one field"):
        await client.dns.patch(zone_id, "f" * 32, {})


async def test_unknown_record_is_not_found(client: CloudflareClient) -> None:
    """A missing record answers DNS's own not-found code."""
    zone_id = await _zone_id(client)
    with pytest.raises(NotFound) as caught:
        await client.dns.get(zone_id, "f" * 32)
    assert caught.value.codes == (81044,)


async def test_invalid_content_is_an_api_error(client: CloudflareClient) -> None:
    """Validation errors are ApiError with Cloudflare's code, never retried."""
    zone_id = await _zone_id(client)
    with pytest.raises(ApiError) as caught:
        await client.dns.create(zone_id, record_body(type="A", name="bad", content="not-an-ip"))
    assert caught.value.status == 400


async def test_listing_follows_every_page(sim: SimHandle, client: CloudflareClient) -> None:
    """Many records over many small pages: every record once, and the pages asked in order."""
    zone_id = await _zone_id(client)
    posts = [record_body(type="TXT", name=f"bulk-{i:02d}", content=f"n={i}") for i in range(23)]
    await client.dns.batch(zone_id, posts=posts)
    await sim.control("DELETE", "/__sim/requests")
    listed = [r.name async for r in client.dns.list(zone_id, type="TXT", per_page=5)]
    bulk = sorted(n for n in listed if n.startswith("bulk-"))
    log = await sim.control("GET", "/__sim/requests")
    pages = [r["query"] for r in log if r["path"].endswith("/dns_records")]
    expected_names = [f"bulk-{i:02d}.spacevision.app" for i in range(23)]
    assert (bulk, len(listed) == len(set(listed))) == (expected_names, True)
    page_count = -(-len(listed) // 5)  # no extra request for an empty page past total_count
    expected_pages = [str(p) for p in range(1, page_count + 1)]
    assert [q.split("page=")[1].split("&")[0] for q in pages] == expected_pages


async def test_batch_applies_every_kind_of_change(client: CloudflareClient) -> None:
    """One batch deletes, patches, replaces and creates."""
    zone_id = await _zone_id(client)
    one = await client.dns.create(zone_id, record_body(type="A", name="b1", content="192.0.2.1"))
    two = await client.dns.create(zone_id, record_body(type="A", name="b2", content="192.0.2.2"))
    three = await client.dns.create(zone_id, record_body(type="A", name="b3", content="192.0.2.3"))
    result = await client.dns.batch(
        zone_id,
        deletes=[one.id],
        patches=[{"id": two.id, **record_body(type="A", name="b2", content="192.0.2.20")}],
        puts=[{"id": three.id, **record_body(type="A", name="b3", content="192.0.2.30")}],
        posts=[record_body(type="A", name="b4", content="192.0.2.4")],
    )
    actual = (
        [r.id for r in result.deletes or []],
        [r.content for r in result.patches or []],
        [r.content for r in result.puts or []],
        [r.name for r in result.posts or []],
    )
    assert actual == ([one.id], ["192.0.2.20"], ["192.0.2.30"], ["b4.spacevision.app"])


async def test_export_then_import_bind(client: CloudflareClient) -> None:
    """The zone exports as BIND text; a BIND file imports records."""
    zone_id = await _zone_id(client)
    exported = await client.dns.export(zone_id)
    imported = await client.dns.import_bind(
        zone_id, "imported.spacevision.app. 300 IN A 192.0.2.77\n"
    )
    names = [r.name async for r in client.dns.list(zone_id, name="imported.spacevision.app")]
    assert "status.spacevision.app." in exported
    assert (imported.recs_added, names) == (1, ["imported.spacevision.app"])
