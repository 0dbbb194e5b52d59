"""Simulated R2 over HTTP: buckets, jurisdictions, CORS, lifecycle, domains, Sippy, events."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SimHandle

QUEUE = "0123456789abcdef0123456789abcdef"
EU = {"cf-r2-jurisdiction": "eu"}


def _buckets(sim: SimHandle) -> str:
    return f"/accounts/{sim.account_id}/r2/buckets"


def _events(sim: SimHandle, bucket: str) -> str:
    return f"/accounts/{sim.account_id}/event_notifications/r2/{bucket}/configuration"


async def _create(sim: SimHandle, name: str, **kwargs: Any) -> tuple[int, Any]:
    return await sim.call("POST", _buckets(sim), json={"name": name}, **kwargs)


async def test_seeded_buckets_are_listed(sim: SimHandle) -> None:
    """SpaceVision starts with uploads, backups and public-assets, listed by name."""
    status, body = await sim.call("GET", _buckets(sim))
    assert status == 200
    assert [b["name"] for b in body["result"]["buckets"]] == [
        "backups",
        "public-assets",
        "uploads",
    ]
    assert body["result_info"] == {"cursor": "", "per_page": 20}


async def test_listing_pages_with_a_cursor(sim: SimHandle) -> None:
    """per_page=2 gives two buckets and a cursor; the cursor gives the rest and an empty one."""
    status, first = await sim.call("GET", _buckets(sim), params={"per_page": "2"})
    assert status == 200
    cursor = first["result_info"]["cursor"]
    assert cursor != ""
    status, second = await sim.call(
        "GET", _buckets(sim), params={"per_page": "2", "cursor": cursor}
    )
    names = [b["name"] for b in first["result"]["buckets"] + second["result"]["buckets"]]
    assert (names, second["result_info"]["cursor"]) == (
        ["backups", "public-assets", "uploads"],
        "",
    )


async def test_name_contains_filters_the_listing(sim: SimHandle) -> None:
    """``name_contains`` keeps only matching buckets."""
    status, body = await sim.call("GET", _buckets(sim), params={"name_contains": "up"})
    assert status == 200
    assert [b["name"] for b in body["result"]["buckets"]] == ["backups", "uploads"]


async def test_created_bucket_can_be_read_back(sim: SimHandle) -> None:
    """A new bucket keeps its location hint and storage class."""
    status, _ = await sim.call(
        "POST",
        _buckets(sim),
        json={"name": "thumbnails", "locationHint": "weur", "storageClass": "InfrequentAccess"},
    )
    assert status == 200
    status, body = await sim.call("GET", f"{_buckets(sim)}/thumbnails")
    assert status == 200
    result = body["result"]
    assert (result["name"], result["location"], result["storage_class"]) == (
        "thumbnails",
        "weur",
        "InfrequentAccess",
    )


@pytest.mark.parametrize("name", ["ab", "Uploads", "under_score", "-leading", "x" * 64])
async def test_invalid_bucket_names_are_10005(sim: SimHandle, name: str) -> None:
    """Names must be 3-63 lowercase letters, digits and hyphens, alphanumeric at both ends."""
    status, body = await _create(sim, name)
    assert (status, body["errors"][0]["code"]) == (400, 10005)


async def test_duplicate_bucket_is_409_with_10073(sim: SimHandle) -> None:
    """Creating a bucket that exists answers R2's BucketConflict."""
    status, body = await _create(sim, "uploads")
    assert (status, body["errors"][0]["code"]) == (409, 10073)


async def test_missing_bucket_is_404_with_10006(sim: SimHandle) -> None:
    """An unknown bucket answers NoSuchBucket."""
    status, body = await sim.call("GET", f"{_buckets(sim)}/no-such-bucket")
    assert status == 404
    assert body["errors"] == [{"code": 10006, "message": "The specified bucket does not exist."}]


async def test_eu_bucket_is_not_found_without_its_jurisdiction(sim: SimHandle) -> None:
    """A bucket created in the EU jurisdiction is invisible to default-jurisdiction calls."""
    status, _ = await _create(sim, "eu-archive", headers=EU)
    assert status == 200
    status, _ = await sim.call("GET", f"{_buckets(sim)}/eu-archive")
    assert status == 404
    status, body = await sim.call("GET", f"{_buckets(sim)}/eu-archive", headers=EU)
    assert (status, body["result"]["jurisdiction"]) == (200, "eu")


async def test_same_name_can_live_in_two_jurisdictions(sim: SimHandle) -> None:
    """Bucket names are unique per jurisdiction, so ``uploads`` can also exist in the EU."""
    status, _ = await _create(sim, "uploads", headers=EU)
    assert status == 200
    status, body = await sim.call("GET", _buckets(sim), headers=EU)
    assert [b["name"] for b in body["result"]["buckets"]] == ["uploads"]


async def test_patch_sets_storage_class_from_header(sim: SimHandle) -> None:
    """PATCH takes the new default storage class from ``cf-r2-storage-class``."""
    status, body = await sim.call(
        "PATCH",
        f"{_buckets(sim)}/public-assets",
        headers={"cf-r2-storage-class": "InfrequentAccess"},
    )
    assert (status, body["result"]["storage_class"]) == (200, "InfrequentAccess")


async def test_non_empty_bucket_cannot_be_deleted(sim: SimHandle) -> None:
    """uploads holds objects, so DELETE answers BucketNotEmpty and the bucket stays."""
    status, body = await sim.call("DELETE", f"{_buckets(sim)}/uploads")
    assert (status, body["errors"][0]["code"]) == (409, 10008)
    status, _ = await sim.call("GET", f"{_buckets(sim)}/uploads")
    assert status == 200


async def test_empty_bucket_is_deleted(sim: SimHandle) -> None:
    """A new, empty bucket can be deleted and is then gone."""
    await _create(sim, "scratch")
    status, _ = await sim.call("DELETE", f"{_buckets(sim)}/scratch")
    assert status == 200
    status, _ = await sim.call("GET", f"{_buckets(sim)}/scratch")
    assert status == 404


async def test_seeded_cors_allows_the_app_origin(sim: SimHandle) -> None:
    """uploads allows https://spacevision.app to PUT objects from the browser."""
    status, body = await sim.call("GET", f"{_buckets(sim)}/uploads/cors")
    assert status == 200
    allowed = body["result"]["rules"][0]["allowed"]
    assert (allowed["origins"], "PUT" in allowed["methods"]) == (["https://spacevision.app"], True)


async def test_cors_policy_round_trips(sim: SimHandle) -> None:
    """A PUT policy comes back from GET in the API's camelCase form."""
    rules = [
        {
            "allowed": {"origins": ["https://a.example"], "methods": ["GET"], "headers": ["*"]},
            "exposeHeaders": ["ETag"],
            "maxAgeSeconds": 600,
        }
    ]
    status, _ = await sim.call("PUT", f"{_buckets(sim)}/backups/cors", json={"rules": rules})
    assert status == 200
    status, body = await sim.call("GET", f"{_buckets(sim)}/backups/cors")
    assert body["result"]["rules"] == rules


async def test_cors_with_unknown_method_is_refused(sim: SimHandle) -> None:
    """PATCH is not a CORS method R2 supports."""
    rules = [{"allowed": {"origins": ["https://a.example"], "methods": ["PATCH"]}}]
    status, body = await sim.call("PUT", f"{_buckets(sim)}/backups/cors", json={"rules": rules})
    assert status == 400
    assert "methods" in body["errors"][0]["message"]


async def test_cors_with_malformed_origin_is_refused(sim: SimHandle) -> None:
    """An origin must be ``*`` or scheme://host."""
    rules = [{"allowed": {"origins": ["spacevision.app/path"], "methods": ["GET"]}}]
    status, _ = await sim.call("PUT", f"{_buckets(sim)}/backups/cors", json={"rules": rules})
    assert status == 400


async def test_bucket_without_cors_is_404_with_10059(sim: SimHandle) -> None:
    """No CORS policy answers 'The CORS configuration does not exist.'."""
    status, body = await sim.call("GET", f"{_buckets(sim)}/backups/cors")
    assert (status, body["errors"][0]["code"]) == (404, 10059)


async def test_deleted_cors_is_gone(sim: SimHandle) -> None:
    """DELETE …/cors removes the policy."""
    status, _ = await sim.call("DELETE", f"{_buckets(sim)}/uploads/cors")
    assert status == 200
    status, _ = await sim.call("GET", f"{_buckets(sim)}/uploads/cors")
    assert status == 404


async def test_seeded_lifecycle_expires_tmp_after_seven_days(sim: SimHandle) -> None:
    """uploads deletes objects under tmp/ once they are 7 days old."""
    status, body = await sim.call("GET", f"{_buckets(sim)}/uploads/lifecycle")
    assert status == 200
    rule = next(r for r in body["result"]["rules"] if r["id"] == "expire-tmp")
    assert (rule["conditions"], rule["deleteObjectsTransition"]["condition"]) == (
        {"prefix": "tmp/"},
        {"type": "Age", "maxAge": 604800},
    )


async def test_lifecycle_put_replaces_the_rules(sim: SimHandle) -> None:
    """PUT …/lifecycle replaces every rule with the ones sent."""
    rules = [
        {
            "id": "archive-logs",
            "enabled": True,
            "conditions": {"prefix": "logs/"},
            "storageClassTransitions": [
                {
                    "condition": {"type": "Age", "maxAge": 2_592_000},
                    "storageClass": "InfrequentAccess",
                }
            ],
        }
    ]
    status, _ = await sim.call("PUT", f"{_buckets(sim)}/backups/lifecycle", json={"rules": rules})
    assert status == 200
    status, body = await sim.call("GET", f"{_buckets(sim)}/backups/lifecycle")
    assert body["result"]["rules"] == rules


async def test_lifecycle_rule_without_transition_is_refused(sim: SimHandle) -> None:
    """A rule that does nothing is refused."""
    rules = [{"id": "noop", "enabled": True, "conditions": {"prefix": ""}}]
    status, body = await sim.call(
        "PUT", f"{_buckets(sim)}/backups/lifecycle", json={"rules": rules}
    )
    assert (status, body["errors"][0]["code"]) == (400, 10040)


async def test_lifecycle_age_must_be_positive(sim: SimHandle) -> None:
    """A maxAge of 0 seconds is refused."""
    rules = [
        {
            "id": "now",
            "enabled": True,
            "conditions": {"prefix": ""},
            "deleteObjectsTransition": {"condition": {"type": "Age", "maxAge": 0}},
        }
    ]
    status, _ = await sim.call("PUT", f"{_buckets(sim)}/backups/lifecycle", json={"rules": rules})
    assert status == 400


async def test_seeded_custom_domain_is_active(sim: SimHandle) -> None:
    """uploads is served at uploads.spacevision.app, in the account's zone."""
    status, body = await sim.call("GET", f"{_buckets(sim)}/uploads/domains/custom")
    assert status == 200
    domain = body["result"]["domains"][0]
    assert (domain["domain"], domain["zoneName"], domain["status"]) == (
        "uploads.spacevision.app",
        "spacevision.app",
        {"ownership": "active", "ssl": "active"},
    )


async def test_custom_domain_in_an_account_zone_is_attached(sim: SimHandle) -> None:
    """A subdomain of spacevision.app attaches, with its zone found from the name."""
    status, body = await sim.call(
        "POST",
        f"{_buckets(sim)}/public-assets/domains/custom",
        json={"domain": "cdn.spacevision.app", "minTLS": "1.2"},
    )
    assert status == 200
    assert (body["result"]["domain"], body["result"]["minTLS"]) == ("cdn.spacevision.app", "1.2")
    status, body = await sim.call(
        "GET", f"{_buckets(sim)}/public-assets/domains/custom/cdn.spacevision.app"
    )
    assert (status, body["result"]["zoneName"]) == (200, "spacevision.app")


async def test_custom_domain_outside_the_account_is_refused(sim: SimHandle) -> None:
    """A domain in no zone of the account cannot be attached."""
    status, body = await sim.call(
        "POST",
        f"{_buckets(sim)}/public-assets/domains/custom",
        json={"domain": "cdn.example.com"},
    )
    assert (status, body["errors"][0]["code"]) == (400, 10040)


async def test_custom_domain_min_tls_can_be_raised(sim: SimHandle) -> None:
    """PUT on a custom domain changes its minimum TLS version."""
    path = f"{_buckets(sim)}/uploads/domains/custom/uploads.spacevision.app"
    status, body = await sim.call("PUT", path, json={"minTLS": "1.3"})
    assert (status, body["result"]["minTLS"]) == (200, "1.3")


async def test_custom_domain_can_be_removed(sim: SimHandle) -> None:
    """DELETE detaches the domain; GET then answers 404."""
    path = f"{_buckets(sim)}/uploads/domains/custom/uploads.spacevision.app"
    status, body = await sim.call("DELETE", path)
    assert (status, body["result"]) == (200, {"domain": "uploads.spacevision.app"})
    status, _ = await sim.call("GET", path)
    assert status == 404


async def test_managed_domain_can_be_enabled(sim: SimHandle) -> None:
    """PUT {enabled: true} turns on the bucket's r2.dev URL."""
    path = f"{_buckets(sim)}/backups/domains/managed"
    status, body = await sim.call("PUT", path, json={"enabled": True})
    assert status == 200
    assert body["result"]["enabled"] is True
    assert body["result"]["domain"] == f"pub-{body['result']['bucketId']}.r2.dev"


async def test_sippy_is_enabled_then_disabled(sim: SimHandle) -> None:
    """Sippy from S3 is reported without secrets, and DELETE turns it off."""
    path = f"{_buckets(sim)}/backups/sippy"
    config = {
        "source": {
            "provider": "aws",
            "bucket": "legacy-backups",
            "region": "us-east-1",
            "accessKeyId": "AKIA0000",
            "secretAccessKey": "s3-secret",
        },
        "destination": {"provider": "r2", "accessKeyId": "r2-key", "secretAccessKey": "r2-secret"},
    }
    status, body = await sim.call("PUT", path, json=config)
    assert (status, body["result"]["enabled"]) == (200, True)
    assert "secret" not in str(body["result"])
    status, body = await sim.call("DELETE", path)
    assert (status, body["result"]) == (200, {"enabled": False})


async def test_seeded_event_notifications_are_listed(sim: SimHandle) -> None:
    """uploads sends new raw/ objects to the image pipeline queue."""
    status, body = await sim.call("GET", _events(sim, "uploads"))
    assert status == 200
    (detail,) = body["result"]["uploads"].values()
    assert detail["rules"] == [
        {"actions": ["PutObject", "CompleteMultipartUpload"], "prefix": "raw/"}
    ]


async def test_bucket_without_notifications_is_11015(sim: SimHandle) -> None:
    """No configuration answers the official 404 example code."""
    status, body = await sim.call("GET", _events(sim, "backups"))
    assert (status, body["errors"][0]["code"]) == (404, 11015)


async def test_event_notification_round_trips(sim: SimHandle) -> None:
    """PUT rules for a queue, read them back per queue, then DELETE them."""
    path = f"{_events(sim, 'backups')}/queues/{QUEUE}"
    rules = [{"actions": ["DeleteObject"], "suffix": ".tar.gz"}]
    status, body = await sim.call("PUT", path, json={"rules": rules})
    assert status == 200
    assert body["result"]["event_notification_detail_id"]
    status, body = await sim.call("GET", path)
    assert (status, body["result"]["rules"][0]["suffix"]) == (200, ".tar.gz")
    status, _ = await sim.call("DELETE", path)
    assert status == 200
    status, _ = await sim.call("GET", path)
    assert status == 404


async def test_capacity_fault_overrides_reported_usage(sim: SimHandle) -> None:
    """A capacity fault on uploads changes the bytes and objects R2 reports for it."""
    state = sim.server.state
    real = state.r2.usage(state, "uploads")
    await sim.control(
        "POST",
        "/__sim/faults",
        json={"service": "r2", "resource": "uploads", "capacity": {"bytes": 9_500_000_000}},
    )
    assert state.r2.usage(state, "uploads") == (9_500_000_000, real[1])


async def test_operations_are_recorded_for_analytics(sim: SimHandle) -> None:
    """Each R2 API call becomes an r2 sample on the bucket with its outcome."""
    await sim.call("GET", f"{_buckets(sim)}/uploads")
    await sim.call("GET", f"{_buckets(sim)}/backups/cors")
    samples = [s for s in sim.server.state.analytics.samples if s.kind == "r2"]
    assert [(s.subject, s.action, s.http_status) for s in samples] == [
        ("uploads", "GetBucket", 200),
        ("backups", "GetBucketCors", 404),
    ]
