"""GraphQL Analytics: ``POST /client/v4/graphql``.

A thin shell around :mod:`cfsim.graphql_engine`: it spends the query budget (300 queries per
5 minutes per credential, Cloudflare's default), captures the account's traffic and storage
into a snapshot and renders the engine's answer. Authentication, the API-wide rate limit and
``graphql`` faults are applied before this handler by the framework. Only POST is routed;
other methods get the framework's 405 (wrangler and the docs only ever POST here).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cfsim.context import state_of
from cfsim.graphql_datasets import StorageReading
from cfsim.graphql_engine import AnalyticsSnapshot, error_body, run_query
from cfsim.graphql_filters import QueryError
from cfsim.graphql_http import EDGE_KINDS, http_request_records
from cfsim.graphql_model import RETENTION_S, Record
from cfsim.graphql_zones import (
    BalancerTraffic,
    HealthCheckProbe,
    balancer_records,
    health_check_records,
)
from cfsim.services import lb

if TYPE_CHECKING:
    from cfsim.state import SimState

# Cloudflare's message when the GraphQL budget is spent (analytics/graphql-api/errors).
BUDGET_DEPLETED = "rate limiter budget depleted, try again after 5 minutes"


def _credential(request: web.Request) -> str:
    auth = request.headers.get("Authorization")
    return auth or f"{request.headers.get('X-Auth-Email')}:{request.headers.get('X-Auth-Key')}"


async def query(request: web.Request) -> web.Response:
    """POST /graphql: answer a GraphQL Analytics query with ``{data, errors}``."""
    state = state_of(request)
    now = state.clock()
    allowed, _, reset = state.analytics.budget.hit(_credential(request), now)
    if not allowed:
        body = error_body(now, [QueryError(BUDGET_DEPLETED, status=429)])
        retry = str(max(1, math.ceil(reset)))
        return web.json_response(body, status=429, headers={"Retry-After": retry})
    raw = await request.read()
    try:
        payload: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        body = error_body(now, [QueryError(f"error parsing request: invalid JSON body: {err}")])
        return web.json_response(body, status=400)
    status, answer = run_query(snapshot(state, now), payload)
    return web.json_response(answer, status=status)


def snapshot(state: SimState, now: float) -> AnalyticsSnapshot:
    """Capture what a query may read: samples, background traffic, storage, zone sources."""
    analytics = state.analytics
    zone_names = {zone_id: str(zone["name"]) for zone_id, zone in state.zones.zones.items()}

    def edge_requests(zone: str, start: float, end: float, width: int | None) -> list[Record]:
        # Only the minutes of the window, of the edge kinds, are read.
        served = list(analytics.index.between(EDGE_KINDS, max(start, now - RETENTION_S), end))
        return http_request_records(served, zone_names, zone, start, end, width)

    # The query runs synchronously right after this, so the live index is this instant's.
    return AnalyticsSnapshot(
        now=now,
        account_id=state.account_id,
        zone_ids=frozenset(state.zones.zones),
        index=analytics.index,
        background=tuple(analytics.background.values()),
        storage={
            "kvStorageAdaptiveGroups": kv_readings(state),
            "r2StorageAdaptiveGroups": r2_readings(state),
            "d1StorageAdaptiveGroups": d1_readings(state),
        },
        zone_sources={
            "healthCheckEventsAdaptiveGroups": partial(
                health_check_records, health_check_probes(state, now)
            ),
            "loadBalancingRequestsAdaptiveGroups": partial(
                balancer_records, balancer_traffic(state, now)
            ),
            "httpRequestsAdaptiveGroups": edge_requests,
        },
    )


def kv_readings(state: SimState) -> list[StorageReading]:
    """Key count and bytes of every KV namespace (capacity faults applied by the store)."""
    readings = []
    for namespace_id in state.kv.namespaces:
        size, keys = state.kv.usage(state, namespace_id)
        readings.append(StorageReading(namespace_id, {"byteCount": size, "keyCount": keys}))
    return readings


def r2_readings(state: SimState) -> list[StorageReading]:
    """Objects and bytes of every bucket, named as analytics name them (``eu_<name>``).

    The simulated buckets keep counters, not objects: no multipart uploads are pending and
    no custom metadata is stored, so ``uploadCount`` and ``metadataSize`` are 0.
    """
    readings = []
    for bucket in state.r2.buckets.values():
        size, objects = state.r2.usage(state, bucket.name, bucket.jurisdiction)
        values = {"objectCount": objects, "payloadSize": size, "uploadCount": 0, "metadataSize": 0}
        readings.append(StorageReading(bucket.subject, values, bucket.storage_class))
    return readings


def d1_readings(state: SimState) -> list[StorageReading]:
    """Size of every D1 database (capacity faults applied by the store)."""
    return [
        StorageReading(uuid, {"databaseSizeBytes": state.d1.size(state, uuid)})
        for uuid in state.d1.databases
    ]


def _epoch(iso_time: str, default: float) -> float:
    try:
        return datetime.fromisoformat(iso_time).timestamp()
    except (TypeError, ValueError):
        return default


def health_check_probes(state: SimState, now: float) -> list[HealthCheckProbe]:
    """Every standalone health check with the status its probes currently report."""
    probes = []
    for zone_id, checks in state.lb.healthchecks.items():
        for check in checks.values():
            if check["suspended"]:
                continue
            names = (check["id"], check["name"], check["address"])
            decision = state.faults.steady(lb.FAULT_SERVICE, names, now)
            health = lb.origin_health(decision, 10.0)
            probes.append(
                HealthCheckProbe(
                    zone=zone_id,
                    check_id=check["id"],
                    name=check["name"],
                    address=check["address"],
                    regions=tuple(check.get("check_regions") or lb.DEFAULT_REGIONS),
                    interval_s=int(check["interval"]),
                    since=_epoch(check["created_on"], now - RETENTION_S),
                    healthy=health.healthy,
                    failure_reason="" if health.healthy else health.failure_reason,
                    response_code=health.response_code,
                    rtt_ms=health.rtt_ms,
                )
            )
    return probes


def _pool_selection(
    state: SimState, pool: dict[str, Any], now: float
) -> tuple[bool, tuple[tuple[str, float], ...]]:
    """Whether a pool is healthy and how its requests split over its origins."""
    healthy_origins = []
    for origin in pool["origins"]:
        if not origin["enabled"]:
            continue
        names = (pool["id"], pool["name"], origin["name"], origin["address"])
        decision = state.faults.steady(lb.FAULT_SERVICE, names, now)
        if lb.origin_health(decision, 0.0).healthy:
            healthy_origins.append(origin)
    healthy = pool["enabled"] and len(healthy_origins) >= pool["minimum_origins"]
    chosen = healthy_origins or [o for o in pool["origins"] if o["enabled"]]
    weight = sum(float(o.get("weight", 1)) for o in chosen) or 1.0
    return healthy, tuple((o["name"], float(o.get("weight", 1)) / weight) for o in chosen)


def balancer_traffic(state: SimState, now: float) -> list[BalancerTraffic]:
    """Background traffic of kind ``lb`` (subject: the load balancer's name or id), routed.

    Failover as Cloudflare does it: the first healthy default pool, else the fallback pool
    [I: every steering policy is treated as failover here].
    """
    result = []
    background = {t.subject: t for t in state.analytics.background.values() if t.kind == "lb"}
    for zone_id, balancers in state.lb.load_balancers.items():
        for balancer in balancers.values():
            traffic = background.get(balancer["name"]) or background.get(balancer["id"])
            if traffic is None or not balancer["enabled"]:
                continue
            pools = [state.lb.pools[p] for p in balancer["default_pools"] if p in state.lb.pools]
            selections = [(p, *_pool_selection(state, p, now)) for p in pools]
            pick = next((s for s in selections if s[1]), None)
            if pick is None:
                fallback = state.lb.pools.get(balancer["fallback_pool"])
                if fallback is None:
                    continue
                pick = (fallback, *_pool_selection(state, fallback, now))
            pool, healthy, origins = pick
            result.append(
                BalancerTraffic(
                    zone=zone_id,
                    lb_name=balancer["name"],
                    steering_policy=balancer.get("steering_policy") or "off",
                    proxied=bool(balancer.get("proxied")),
                    pool_id=pool["id"],
                    pool_name=pool["name"],
                    pool_healthy=healthy,
                    origins=origins,
                    rps=traffic.rps,
                )
            )
    return result


def add_routes(app: web.Application, prefix: str) -> None:
    """Register ``POST /graphql``."""
    app.router.add_post(f"{prefix}/graphql", query)
