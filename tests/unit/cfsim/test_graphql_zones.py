"""Zone-scoped analytics rows: health-check probes and load-balancer request splits."""

from __future__ import annotations

import pytest

from cfsim.graphql_zones import (
    BalancerTraffic,
    HealthCheckProbe,
    balancer_records,
    health_check_records,
    probes_between,
)

T0 = 1_700_000_040.0  # on a minute boundary


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (T0, T0 + 1, 1),  # the first probe runs at creation
        (T0, T0 + 60, 1),
        (T0, T0 + 60.5, 2),
        (T0 - 3600, T0, 0),  # nothing before the check existed
        (T0 + 30, T0 + 150, 2),
    ],
)
def test_probes_between_counts_from_creation(start: float, end: float, expected: int) -> None:
    """A check probes at creation and then every interval."""
    assert expected == probes_between(T0, 60, start, end)


def probe(zone: str = "z1", healthy: bool = True) -> HealthCheckProbe:
    """A 60-second check probing from two regions."""
    return HealthCheckProbe(
        zone=zone,
        check_id="hc1",
        name="api",
        address="203.0.113.9",
        regions=("WNAM", "WEU"),
        interval_s=60,
        since=T0,
        healthy=healthy,
        failure_reason="" if healthy else "TCP connection failed",
        response_code=200 if healthy else 0,
        rtt_ms=12.0,
    )


def test_health_check_records_one_event_per_region_and_probe() -> None:
    """Five minutes of a two-region check are ten events, only for its own zone."""
    records = health_check_records([probe(), probe("z2")], "z1", T0, T0 + 300, 60)
    expected = {("WNAM", "healthy"): 5.0, ("WEU", "healthy"): 5.0}
    actual: dict[tuple[object, object], float] = {}
    for r in records:
        key = (r.dims["region"], r.dims["healthStatus"])
        actual[key] = actual.get(key, 0.0) + r.count
    assert expected == actual


def test_balancer_requests_split_over_origins_by_share() -> None:
    """Requests divide over the selected origins by share and add up to rps x seconds."""
    traffic = BalancerTraffic(
        zone="z1",
        lb_name="lb.example.com",
        steering_policy="off",
        proxied=True,
        pool_id="p1",
        pool_name="primary",
        pool_healthy=True,
        origins=(("o1", 0.75), ("o2", 0.25)),
        rps=4.0,
    )
    records = balancer_records([traffic], "z1", T0, T0 + 60, None)
    expected = [("o1", 180.0), ("o2", 60.0)]
    assert expected == [(r.dims["selectedOriginName"], r.count) for r in records]
