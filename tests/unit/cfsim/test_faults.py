"""Fault table: matching, merging, expiry and capacity overrides (pure, injected time)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cfsim.faults import Capacity, Decision, FaultSpec, FaultTable


def spec(**kw: object) -> FaultSpec:
    """Build a fault spec from keyword fields."""
    return FaultSpec.model_validate(kw)


@pytest.mark.parametrize(
    ("fault", "service", "resources", "expected"),
    [
        ({"service": "kv", "outage": True}, "kv", ("ns1",), Decision(outage=True)),
        ({"service": "kv", "outage": True}, "r2", ("ns1",), Decision()),
        ({"service": "kv", "resource": "ns1", "outage": True}, "kv", ("ns2",), Decision()),
        (
            {"service": "kv", "resource": "SESSIONS", "outage": True},
            "kv",
            ("ns1", "SESSIONS"),
            Decision(outage=True),
        ),
        (
            {"service": "d1", "error_status": 500, "error_code": 7500},
            "d1",
            (),
            Decision(error_status=500, error_code=7500),
        ),
        ({"service": "api", "latency_ms": 250}, "api", (), Decision(latency_s=0.25)),
        ({"service": "api", "rate_limit": True}, "api", (), Decision(rate_limit=True)),
    ],
)
def test_decide_matches_service_and_resource(
    fault: dict[str, object], service: str, resources: tuple[str, ...], expected: Decision
) -> None:
    """A fault applies to its service, and to one resource by id or by name when it names one."""
    table = FaultTable()
    table.add(spec(**fault), now=0)
    assert table.decide(service, resources, now=1) == expected


def test_fault_expires_after_duration() -> None:
    """A fault with duration_s stops applying once its time is up, and leaves the table."""
    table = FaultTable()
    table.add(spec(service="kv", outage=True, duration_s=10), now=100)
    assert table.decide("kv", (), now=109.9).outage
    assert not table.decide("kv", (), now=110).outage
    assert table.active(now=110) == []


def test_error_ratio_fails_exactly_that_share_evenly() -> None:
    """error_ratio 0.25 fails every fourth matching request: the same sequence every run."""
    table = FaultTable()
    table.add(spec(service="r2", error_status=503, error_ratio=0.25), now=0)
    outcomes = [table.decide("r2", (), now=0).error_status for _ in range(8)]
    assert [None, None, None, 503, None, None, None, 503] == outcomes


def test_latency_adds_up_and_does_not_fail() -> None:
    """Latency faults add their delays and do not make the request fail by themselves."""
    table = FaultTable()
    table.add(spec(service="api", latency_ms=100), now=0)
    table.add(spec(service="api", latency_ms=50), now=0)
    decision = table.decide("api", (), now=0)
    assert decision.latency_s == pytest.approx(0.15)
    assert not decision.fails


def test_capacity_override_is_reported() -> None:
    """A capacity fault says what usage to report for its resource."""
    table = FaultTable()
    table.add(spec(service="r2", resource="uploads", capacity={"bytes": 9_500_000_000}), now=0)
    assert table.capacity("r2", ("uploads",), now=0) == Capacity(bytes=9_500_000_000)
    assert table.capacity("r2", ("backups",), now=0) is None


def test_remove_and_clear() -> None:
    """Faults can be cleared one by one or all at once."""
    table = FaultTable()
    first = table.add(spec(service="kv", outage=True), now=0)
    table.add(spec(service="d1", outage=True), now=0)
    assert table.remove(first.id)
    assert not table.remove(first.id)
    table.clear()
    assert table.active(now=0) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"service": "kv"},
        {"service": "s3", "outage": True},
        {"service": "kv", "outage": True, "surprise": 1},
        {"service": "kv", "error_status": 200},
        {"service": "kv", "outage": True, "error_ratio": 1.5},
    ],
)
def test_bad_fault_specs_are_refused(bad: dict[str, object]) -> None:
    """No effect, an unknown service or field, or out-of-range values are refused."""
    with pytest.raises(ValidationError):
        FaultSpec.model_validate(bad)


def test_monitor_view_ignores_partial_faults_and_counts_no_hits() -> None:
    """Health monitors see outages, not partial failures, and looking does not count a hit."""
    table = FaultTable()
    partial = table.add(spec(service="api", error_status=503, error_ratio=0.5), now=0)
    assert table.steady("api", (), now=0) == Decision()
    table.add(spec(service="api", outage=True), now=0)
    assert table.steady("api", (), now=0).outage
    assert partial.hits == 0
