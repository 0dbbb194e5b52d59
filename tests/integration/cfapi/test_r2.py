"""R2 buckets and their configuration through the client, against the simulator."""

from __future__ import annotations

import pytest

from cfapi.client import CloudflareClient
from cfapi.errors import NotFound
from tests.conftest import SimHandle


async def test_buckets_are_listed_across_cursor_pages(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """R2 lists under result.buckets and pages by cursor; every bucket comes back once."""
    for i in range(5):
        await client.r2.create_bucket(sim.account_id, f"bulk-{i}")
    names = [b.name async for b in client.r2.buckets(sim.account_id, per_page=2)]
    expected = sorted(["uploads", "backups", "public-assets", *(f"bulk-{i}" for i in range(5))])
    assert names == expected


async def test_jurisdiction_header_selects_the_bucket(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """An EU bucket is found with cf-r2-jurisdiction: eu and not without it."""
    created = await client.r2.create_bucket(sim.account_id, "eu-data", jurisdiction="eu")
    found = await client.r2.bucket(sim.account_id, "eu-data", jurisdiction="eu")
    with pytest.raises(NotFound):
        await client.r2.bucket(sim.account_id, "eu-data")
    assert (created.name, found.jurisdiction) == ("eu-data", "eu")


async def test_storage_class_can_change(sim: SimHandle, client: CloudflareClient) -> None:
    """PATCH with cf-r2-storage-class changes the default class."""
    bucket = await client.r2.set_storage_class(sim.account_id, "uploads", "InfrequentAccess")
    assert bucket.storage_class == "InfrequentAccess"


async def test_bucket_lifecycle(sim: SimHandle, client: CloudflareClient) -> None:
    """Create, read and delete a bucket."""
    await client.r2.create_bucket(sim.account_id, "scratch", location_hint="weur")
    fetched = await client.r2.bucket(sim.account_id, "scratch")
    await client.r2.delete_bucket(sim.account_id, "scratch")
    with pytest.raises(NotFound):
        await client.r2.bucket(sim.account_id, "scratch")
    assert fetched.location == "weur"


async def test_cors_rules_round_trip(sim: SimHandle, client: CloudflareClient) -> None:
    """CORS rules are read, replaced and removed."""
    seeded = await client.r2.cors(sim.account_id, "uploads")
    rule = {"allowed": {"origins": ["https://example.com"], "methods": ["GET"]}, "id": "r1"}
    await client.r2.put_cors(sim.account_id, "uploads", [rule])
    replaced = await client.r2.cors(sim.account_id, "uploads")
    await client.r2.delete_cors(sim.account_id, "uploads")
    assert len(seeded.rules) == 1
    assert [r["id"] for r in replaced.rules] == ["r1"]


async def test_lifecycle_rules_are_replaced(sim: SimHandle, client: CloudflareClient) -> None:
    """Lifecycle rules are read and replaced."""
    rule = {
        "id": "expire-logs",
        "conditions": {"prefix": "logs/"},
        "enabled": True,
        "delete_objects_transition": {"condition": {"type": "Age", "max_age": 86400}},
    }
    before = await client.r2.lifecycle(sim.account_id, "uploads")
    await client.r2.put_lifecycle(sim.account_id, "uploads", [rule])
    after = await client.r2.lifecycle(sim.account_id, "uploads")
    assert "expire-tmp" in [r["id"] for r in before.rules]
    assert [r["id"] for r in after.rules] == ["expire-logs"]


async def test_custom_domains(sim: SimHandle, client: CloudflareClient) -> None:
    """Custom domains are listed, added, read, updated and removed."""
    zone = await client.zones.find("spacevision.app")
    assert zone is not None
    seeded = [d.domain for d in await client.r2.custom_domains(sim.account_id, "uploads")]
    added = await client.r2.add_custom_domain(
        sim.account_id, "backups", "backups.spacevision.app", zone_id=zone.id
    )
    fetched = await client.r2.custom_domain(sim.account_id, "backups", "backups.spacevision.app")
    updated = await client.r2.update_custom_domain(
        sim.account_id, "backups", "backups.spacevision.app", enabled=False
    )
    await client.r2.delete_custom_domain(sim.account_id, "backups", "backups.spacevision.app")
    remaining = await client.r2.custom_domains(sim.account_id, "backups")
    actual = (seeded, added.zone_id, fetched.domain, updated.enabled, remaining)
    assert actual == (["uploads.spacevision.app"], zone.id, "backups.spacevision.app", False, [])


async def test_managed_domain_toggles(sim: SimHandle, client: CloudflareClient) -> None:
    """r2.dev access is read and switched off."""
    before = await client.r2.managed_domain(sim.account_id, "public-assets")
    after = await client.r2.set_managed_domain(sim.account_id, "public-assets", enabled=False)
    assert (before.enabled, after.enabled) == (True, False)


async def test_sippy_is_configured_and_removed(sim: SimHandle, client: CloudflareClient) -> None:
    """Sippy is enabled from an S3 source, then disabled."""
    config = {
        "source": {
            "provider": "aws",
            "bucket": "legacy-uploads",
            "region": "us-east-1",
            "accessKeyId": "AKIAEXAMPLE",
            "secretAccessKey": "example-secret",
        },
        "destination": {
            "provider": "r2",
            "accessKeyId": "r2-key",
            "secretAccessKey": "r2-secret",
        },
    }
    enabled = await client.r2.put_sippy(sim.account_id, "uploads", config)
    await client.r2.delete_sippy(sim.account_id, "uploads")
    after = await client.r2.sippy(sim.account_id, "uploads")
    assert (enabled.enabled, after.enabled) == (True, False)


async def test_event_notifications(sim: SimHandle, client: CloudflareClient) -> None:
    """Queue notification rules are listed, read, added and removed."""
    config = await client.r2.event_notifications(sim.account_id, "uploads")
    queue_id = next(iter(config["uploads"].values()))["queue"]
    rules = await client.r2.queue_notification(sim.account_id, "uploads", queue_id)
    await client.r2.put_queue_notification(
        sim.account_id, "backups", queue_id, [{"actions": ["DeleteObject"], "prefix": "db/"}]
    )
    added = await client.r2.queue_notification(sim.account_id, "backups", queue_id)
    await client.r2.delete_queue_notification(sim.account_id, "backups", queue_id)
    actual = (len(rules.rules), [r["prefix"] for r in added.rules])
    assert actual == (1, ["db/"])
