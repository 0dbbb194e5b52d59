"""The r2 probe's pure parts: storage against a quota, and its settings."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from probes.base import Reason, Status
from probes.checks import Unavailable
from probes.r2 import R2Probe, R2Settings, evaluate

UPLOADS = {
    "max.payloadSize": 3_399_000_000.0,
    "max.metadataSize": 1_000_000.0,
    "max.objectCount": 18_432.0,
}


def settings(**overrides: Any) -> R2Settings:
    """Settings of an r2 probe on uploads."""
    return R2Settings.model_validate(
        {"name": "uploads-r2", "type": "r2", "bucket": "uploads", **overrides}
    )


def test_stored_bytes_are_payload_plus_metadata() -> None:
    """bytes_used counts object metadata as R2 bills it, next to the object count."""
    result = evaluate(settings(), UPLOADS, None)
    assert 3.4e9 == result.values["bytes_used"]
    assert 18_432.0 == result.values["objects"]
    assert "bucket uploads holds 3.4 GB in 18,432 objects" == result.message


@pytest.mark.parametrize(
    ("quota", "status", "reason"),
    [
        ("10GB", Status.OK, None),
        ("4GB", Status.WARN, None),
        ("3.5GB", Status.CRIT, Reason.CAPACITY),
        ("3GB", Status.CRIT, Reason.CAPACITY),
    ],
)
def test_quota_thresholds(quota: str, status: Status, reason: Reason | None) -> None:
    """85 % of a quota warns, 97 % (or over 100 %) is crit capacity (Requirement 2.6)."""
    result = evaluate(settings(quota=quota), UPLOADS, None)
    assert (status, reason) == (result.status, result.reason)


def test_quota_ratio_is_published() -> None:
    """quota_bytes and quota_ratio let rules and dashboards show the headroom."""
    result = evaluate(settings(quota="10GB"), UPLOADS, None)
    assert 10e9 == result.values["quota_bytes"]
    assert 0.34 == pytest.approx(result.values["quota_ratio"])
    assert "34% of its 10 GB quota" in result.message


def test_binary_quota_units_are_understood() -> None:
    """A quota in GiB is converted to bytes."""
    assert 5 * 2**30 == settings(quota="5GiB").quota


def test_no_sample_yet_is_ok_without_usage_values() -> None:
    """A new or empty bucket without a storage sample is ok and says so."""
    result = evaluate(settings(quota="1GB"), None, None)
    assert Status.OK == result.status
    assert "bytes_used" not in result.values
    assert "no storage sample yet" in result.message


def test_unreadable_analytics_warn_with_their_reason() -> None:
    """When GraphQL fails, the quota is unchecked: warn with GraphQL's reason."""
    result = evaluate(settings(quota="1GB"), None, Unavailable(Reason.TIMEOUT, "no answer"))
    assert (Status.WARN, Reason.TIMEOUT) == (result.status, result.reason)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bucket": "Uploads"}, "should match pattern"),
        ({"bucket": "ab"}, "should match pattern"),
        ({"quota": "0"}, "greater than 0"),
        ({"quota": "lots"}, "not a size"),
        ({"warn_ratio": 0.99}, "warn_ratio must not be above crit_ratio"),
        ({"crit_ratio": 1.5}, "less than or equal to 1"),
        ({"jurisdiction": "mars"}, "'default', 'eu', 'us', 'fedramp' or 'fedramp-high'"),
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, Any], message: str) -> None:
    """Bad bucket names, quotas and ratios fail config validation with the reason."""
    with pytest.raises(ValidationError, match=message):
        settings(**overrides)


def test_metrics_map_declared_values() -> None:
    """The rule contract's values are declared; every metric maps one of them."""
    assert {"bytes_used", "quota_bytes", "objects"} <= R2Probe.values
    assert set(R2Probe.metrics) <= R2Probe.values
    assert "r2_quota_ratio" == R2Probe.metrics["quota_ratio"].name
