"""Workers KV through the client: namespaces, raw values, metadata, cursor paging, bulk."""

from __future__ import annotations

import pytest

from cfapi.client import CloudflareClient
from cfapi.errors import NotFound
from cfapi.kv import KvNamespace, KvWrite
from tests.conftest import SimHandle


async def _namespace(client: CloudflareClient, account_id: str, title: str) -> KvNamespace:
    found = [ns async for ns in client.kv.namespaces(account_id) if ns.title == title]
    return found[0]


async def test_namespaces_are_listed_created_and_deleted(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """Namespaces are listed over pages, created, fetched and deleted."""
    created = await client.kv.create_namespace(sim.account_id, "probe-ns")
    fetched = await client.kv.namespace(sim.account_id, created.id)
    titles = [ns.title async for ns in client.kv.namespaces(sim.account_id, per_page=5)]
    await client.kv.delete_namespace(sim.account_id, created.id)
    with pytest.raises(NotFound):
        await client.kv.namespace(sim.account_id, created.id)
    assert (fetched.title, sorted(titles)) == (
        "probe-ns",
        ["CACHE", "CONFIG", "SESSIONS", "probe-ns"],
    )


async def test_raw_bytes_round_trip(sim: SimHandle, client: CloudflareClient) -> None:
    """Values are raw bytes both ways, whatever they hold, under awkward key names."""
    ns = await _namespace(client, sim.account_id, "CACHE")
    payload = bytes(range(256))
    await client.kv.put(sim.account_id, ns.id, "probe/key with spaces?&", payload)
    assert await client.kv.get(sim.account_id, ns.id, "probe/key with spaces?&") == payload


async def test_metadata_is_written_and_read(sim: SimHandle, client: CloudflareClient) -> None:
    """A value written with metadata (multipart) exposes that metadata."""
    ns = await _namespace(client, sim.account_id, "CONFIG")
    await client.kv.put(
        sim.account_id, ns.id, "flag:probe", "true", metadata={"owner": "ops"}, expiration_ttl=600
    )
    metadata = await client.kv.metadata(sim.account_id, ns.id, "flag:probe")
    assert (await client.kv.get(sim.account_id, ns.id, "flag:probe"), metadata) == (
        b"true",
        {"owner": "ops"},
    )


async def test_deleted_key_is_not_found(sim: SimHandle, client: CloudflareClient) -> None:
    """After a delete, reading the key is NotFound."""
    ns = await _namespace(client, sim.account_id, "CACHE")
    await client.kv.put(sim.account_id, ns.id, "gone", b"x")
    await client.kv.delete(sim.account_id, ns.id, "gone")
    with pytest.raises(NotFound):
        await client.kv.get(sim.account_id, ns.id, "gone")


async def test_keys_follow_the_cursor_across_pages(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """Many keys over several cursor pages: each key exactly once."""
    ns = await client.kv.create_namespace(sim.account_id, "many-keys")
    pairs = [KvWrite(key=f"k{i:03d}", value=str(i)) for i in range(45)]
    await client.kv.bulk_write(sim.account_id, ns.id, pairs)
    names = [k.name async for k in client.kv.keys(sim.account_id, ns.id, limit=10)]
    assert names == [f"k{i:03d}" for i in range(45)]


async def test_key_prefix_filters(sim: SimHandle, client: CloudflareClient) -> None:
    """prefix narrows the listing and metadata comes along."""
    ns = await _namespace(client, sim.account_id, "CONFIG")
    keys = [k async for k in client.kv.keys(sim.account_id, ns.id, prefix="flag:")]
    assert (len(keys), keys[0].metadata is not None) == (4, True)


async def test_bulk_get_and_delete(sim: SimHandle, client: CloudflareClient) -> None:
    """Bulk reads return values (and metadata on request); bulk deletes remove keys."""
    ns = await client.kv.create_namespace(sim.account_id, "bulk")
    await client.kv.bulk_write(
        sim.account_id,
        ns.id,
        [KvWrite(key="a", value="1", metadata={"m": 1}), KvWrite(key="b", value="2")],
    )
    plain = await client.kv.bulk_get(sim.account_id, ns.id, ["a", "b"])
    rich = await client.kv.bulk_get(sim.account_id, ns.id, ["a"], with_metadata=True)
    await client.kv.bulk_delete(sim.account_id, ns.id, ["a", "b"])
    left = [k.name async for k in client.kv.keys(sim.account_id, ns.id)]
    assert (plain, rich["a"]["metadata"], left) == (
        {"a": "1", "b": "2"},
        {"m": 1},
        [],
    )
