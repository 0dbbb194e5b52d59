"""Status documents (the ``/api/v1/status`` JSON) for status page tests.

Hand-built to the contract in docs/status-page.md so the page can be tested before, and
independently of, the daemon that produces them. Deterministic: every time derives from
``NOW``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 27, 14, 30, 0, tzinfo=UTC)

HOSTILE = (
    '</td><script>window.__xss = "script";</script>'
    '<img src="https://evil.example/x.png" onerror="window.__xss = \'img\'">'
    "<a href=\"javascript:window.__xss='link'\">&amp; \"quoted\" 'single'</a>"
)
"""A probe message an attacker controls (e.g. an upstream error body echoed back)."""


def iso(moment: datetime) -> str:
    """``moment`` as the document writes times: ISO 8601 UTC with a trailing ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def history(
    base_ms: float,
    *,
    points: int = 120,
    interval_s: float = 30.0,
    bad: dict[int, str] | None = None,
    spike: dict[int, float] | None = None,
) -> list[dict[str, Any]]:
    """``points`` checks, newest last, ``interval_s`` apart, ending at ``NOW``.

    Latency wobbles around ``base_ms``; ``bad`` maps indexes to a non-OK status (with no
    latency for ``crit``/``unknown``), ``spike`` maps indexes to a latency.
    """
    bad = bad or {}
    spike = spike or {}
    entries = []
    for i in range(points):
        at = NOW - timedelta(seconds=interval_s * (points - 1 - i))
        status = bad.get(i, "ok")
        latency: float | None = base_ms * (1 + 0.15 * math.sin(i / 4)) + spike.get(i, 0.0)
        if status in ("crit", "unknown"):
            latency = None
        entries.append(
            {
                "at": iso(at),
                "status": status,
                "latency_ms": None if latency is None else round(latency, 1),
                "duration_ms": None if latency is None else round(latency + 12, 1),
            }
        )
    return entries


def probe(
    name: str,
    type_: str,
    status: str = "ok",
    *,
    service: str | None = None,
    message: str = "",
    reason: str | None = None,
    latency_ms: float | None = 40.0,
    checked_ago_s: float | None = 5.0,
    since_ago_s: float | None = 3600.0,
    interval_s: float = 30.0,
    values: dict[str, float] | None = None,
    hist: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One probe entry of the status document."""
    return {
        "name": name,
        "type": type_,
        "service": service or type_,
        "status": status,
        "reason": reason,
        "message": message,
        "latency_ms": latency_ms,
        "duration_ms": None if latency_ms is None else latency_ms + 12.0,
        "checked_at": None
        if checked_ago_s is None
        else iso(NOW - timedelta(seconds=checked_ago_s)),
        "since": None if since_ago_s is None else iso(NOW - timedelta(seconds=since_ago_s)),
        "interval_s": interval_s,
        "values": values or {},
        "history": hist if hist is not None else [],
        "events": events or [],
    }


def document(
    probes: list[dict[str, Any]],
    *,
    alerts: list[dict[str, Any]] | None = None,
    ready: bool = True,
    budget_remaining: float | None = 512.0,
) -> dict[str, Any]:
    """A whole status document around ``probes``; ``services`` derived as the daemon does."""
    rank = {"ok": 0, "warn": 1, "crit": 2, "unknown": 3}
    services: dict[str, dict[str, Any]] = {}
    for p in probes:
        entry = services.setdefault(p["service"], {"service": p["service"], "status": "ok"})
        entry["probes"] = entry.get("probes", 0) + 1
        if rank.get(p["status"], 3) > rank.get(entry["status"], 3):
            entry["status"] = p["status"]
    return {
        "flarewatch": {
            "version": "0.1.0",
            "started_at": iso(NOW - timedelta(hours=3, minutes=12)),
            "now": iso(NOW),
            "ready": ready,
            "config_source": "/etc/flarewatch/flarewatch.yaml",
            "config_loaded_at": iso(NOW - timedelta(hours=3, minutes=12)),
            "rounds": 384,
        },
        "services": list(services.values()),
        "probes": probes,
        "alerts": alerts or [],
        "api": {
            "budget_remaining": budget_remaining,
            "budget_limit": 600.0,
            "requests_total": 1234,
        },
    }


def incident() -> dict[str, Any]:
    """The SpaceVision estate mid-incident: D1 down, KV slow, a DNS change propagating.

    Also carries :data:`HOSTILE` as the message of the failing HTTP probe and in an alert
    summary, one probe that has never run and one that is overdue.
    """
    return document(
        [
            probe(
                "api-worker",
                "workers",
                message="200 in 41 ms; version 3f2a9c1",
                latency_ms=41.2,
                values={"error_ratio": 0.002, "requests": 1200.0, "cpu_time_p99_ms": 4.1},
                hist=history(40, bad={100: "warn", 101: "warn"}),
            ),
            probe(
                "image-processor",
                "workers",
                "warn",
                message="error ratio 3.1 % over 5 min",
                reason=None,
                latency_ms=180.0,
                values={"error_ratio": 0.031},
                since_ago_s=240,
                hist=history(150, bad=dict.fromkeys(range(112, 120), "warn")),
            ),
            probe(
                "web",
                "pages",
                message="200 in 88 ms; deployment 9d1e success",
                latency_ms=88.0,
                hist=history(85),
            ),
            probe(
                "sessions-kv",
                "kv",
                "warn",
                message="KV round trip 412 ms (warn above 200 ms)",
                latency_ms=412.0,
                since_ago_s=95,
                hist=history(
                    60,
                    bad={117: "warn", 118: "warn", 119: "warn"},
                    spike={117: 300.0, 118: 340.0, 119: 352.0},
                ),
            ),
            probe(
                "uploads-r2",
                "r2",
                message="8.6 GB of 10 GB (86 %)",
                latency_ms=120.0,
                values={"bytes_used": 8.6e9, "objects": 48211.0, "quota_ratio": 0.86},
                hist=history(115, points=40, interval_s=60),
            ),
            probe(
                "main-db",
                "d1",
                "crit",
                message="D1 query failed after 4 attempts: 503 Service Unavailable",
                reason="api_error",
                latency_ms=None,
                since_ago_s=150,
                hist=history(25, bad=dict.fromkeys(range(115, 120), "crit")),
            ),
            probe(
                "analytics-db",
                "d1",
                "unknown",
                service="d1",
                checked_ago_s=None,
                since_ago_s=None,
                latency_ms=None,
                message="",
            ),
            probe(
                "dns",
                "dns",
                "warn",
                message="api.spacevision.app: 3/8 resolvers serve the new value",
                latency_ms=12.0,
                since_ago_s=45,
                values={"propagation_ratio": 0.375, "resolvers": 8.0, "resolvers_current": 3.0},
                hist=history(12),
                events=[
                    {
                        "at": iso(NOW - timedelta(seconds=45)),
                        "kind": "dns_change_detected",
                        "message": (
                            "api.spacevision.app A changed to 192.0.2.10 (serial 2026112702)"
                        ),
                        "fields": {},
                    },
                    {
                        "at": iso(NOW - timedelta(seconds=5)),
                        "kind": "dns_propagation_progress",
                        "message": "3/8 resolvers updated, 45 s since change, TTL 300 s",
                        "fields": {"updated": 3, "resolvers": 8, "ttl_s": 300},
                    },
                ],
            ),
            probe(
                "status-site",
                "http",
                "crit",
                message=HOSTILE,
                reason="http_status",
                latency_ms=230.0,
                since_ago_s=600,
                hist=history(220, bad=dict.fromkeys(range(100, 120), "crit")),
            ),
            probe(
                "cloudflare-api",
                "http",
                service="api",
                message="tokens/verify 200 in 95 ms",
                latency_ms=95.0,
                checked_ago_s=900,
                interval_s=60,
                hist=history(95, points=60, interval_s=60),
            ),
        ],
        alerts=[
            {
                "name": "d1_unavailable",
                "severity": "critical",
                "state": "firing",
                "probe": "main-db",
                "summary": "main-db: D1 query failed after 4 attempts",
                "since": iso(NOW - timedelta(seconds=120)),
            },
            {
                "name": "http_check_failed",
                "severity": "critical",
                "state": "firing",
                "probe": "status-site",
                "summary": HOSTILE,
                "since": iso(NOW - timedelta(seconds=540)),
            },
            {
                "name": "kv_latency_high",
                "severity": "warning",
                "state": "pending",
                "probe": "sessions-kv",
                "summary": "sessions-kv: p99 412 ms",
                "since": iso(NOW - timedelta(seconds=60)),
            },
        ],
        budget_remaining=131.0,
    )


def healthy() -> dict[str, Any]:
    """Every probe OK, nothing alerting."""
    return document(
        [
            probe("api-worker", "workers", message="200 in 41 ms", hist=history(40)),
            probe("web", "pages", message="200 in 88 ms", latency_ms=88.0, hist=history(85)),
            probe("sessions-kv", "kv", message="round trip 52 ms", hist=history(52)),
            probe("main-db", "d1", message="SELECT 1 in 25 ms", hist=history(25)),
        ]
    )
