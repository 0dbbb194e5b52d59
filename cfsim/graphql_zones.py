"""Rows of the zone-scoped datasets: standalone health-check events and load-balancer requests.

The simulator has no probes running, so events are synthesised from what the load-balancing
store says *now* (a health check's status, the pool a load balancer would pick) over the
queried window, deterministically like background traffic. Pure: the handler captures the
store's state into the frozen descriptions below.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cfsim.graphql_datasets import events_between
from cfsim.graphql_model import Record, slices


@dataclass(frozen=True)
class HealthCheckProbe:
    """A standalone health check as its probes currently see its origin."""

    zone: str
    check_id: str
    name: str
    address: str
    regions: tuple[str, ...]
    interval_s: int
    since: float
    healthy: bool
    failure_reason: str
    response_code: int
    rtt_ms: float


@dataclass(frozen=True)
class BalancerTraffic:
    """Steady requests through a load balancer and where it currently sends them.

    ``origins`` pairs each selected origin with its share of the requests.
    """

    zone: str
    lb_name: str
    steering_policy: str
    proxied: bool
    pool_id: str
    pool_name: str
    pool_healthy: bool
    origins: tuple[tuple[str, float], ...]
    rps: float
    region: str = "ENAM"
    colo: str = "IAD"


def probes_between(since: float, interval_s: int, start: float, end: float) -> int:
    """Probes in ``[start, end)`` of a check probing every ``interval_s`` from ``since`` on.

    The first probe runs when the check is created, as Cloudflare's do.
    """
    lo, hi = max(start, since), end
    if hi <= lo:
        return 0
    return math.ceil((hi - since) / interval_s) - math.ceil((lo - since) / interval_s)


def health_check_records(
    probes: Sequence[HealthCheckProbe], zone: str, start: float, end: float, width: int | None
) -> list[Record]:
    """One event per check, region and probe in ``[start, end)`` since the check exists."""
    records: list[Record] = []
    for probe in probes:
        if probe.zone != zone:
            continue
        for lo, hi in slices(max(start, probe.since), end, width):
            count = probes_between(probe.since, probe.interval_s, lo, hi)
            if not count:
                continue
            for region in probe.regions:
                records.append(
                    Record(
                        ts=lo,
                        dims={
                            "healthCheckName": probe.name,
                            "healthCheckId": probe.check_id,
                            "healthStatus": "healthy" if probe.healthy else "unhealthy",
                            "failureReason": probe.failure_reason,
                            "originIP": probe.address,
                            "originResponseStatus": probe.response_code,
                            "region": region,
                            "fqdn": probe.address,
                        },
                        count=float(count),
                        sums={"rttMs": probe.rtt_ms * count},
                    )
                )
    return records


def balancer_records(
    traffic: Sequence[BalancerTraffic], zone: str, start: float, end: float, width: int | None
) -> list[Record]:
    """Requests of each load balancer per slice, split over its selected origins."""
    records: list[Record] = []
    for lb in traffic:
        if lb.zone != zone:
            continue
        for lo, hi in slices(start, end, width):
            total = events_between(lb.rps, lo, hi)
            assigned = 0
            for index, (origin, share) in enumerate(lb.origins):
                last = index == len(lb.origins) - 1
                count = total - assigned if last else int(total * share)
                assigned += count
                if not count:
                    continue
                records.append(
                    Record(
                        ts=lo,
                        dims={
                            "lbName": lb.lb_name,
                            "selectedPoolName": lb.pool_name,
                            "selectedPoolId": lb.pool_id,
                            "selectedPoolHealthy": int(lb.pool_healthy),
                            "selectedOriginName": origin,
                            "steeringPolicy": lb.steering_policy,
                            "region": lb.region,
                            "coloCode": lb.colo,
                            "proxied": int(lb.proxied),
                        },
                        count=float(count),
                    )
                )
    return records
