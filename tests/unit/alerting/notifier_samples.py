"""Alerts and notifications as the engine emits them, for the notifier and outbox tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alerting.grouping import Notification, group_id
from alerting.lifecycle import Alert, ResolveReason
from alerting.model import AlertState, Severity, fingerprint

T0 = 1_767_268_800.0  # 2026-01-01T12:00:00Z


def alert(
    probe: str = "api",
    *,
    rule: str = "worker_error_ratio_critical",
    severity: Severity = "critical",
    firing: bool = True,
    firing_since: float = T0,
    resolved_at: float | None = None,
    resolved_reason: ResolveReason | None = None,
    summary: str | None = None,
    description: str = "57 of 1,000 requests to Worker api failed (5.70%).",
    runbook_url: str = "https://developers.cloudflare.com/workers/observability/errors/",
    values: Mapping[str, float] | None = None,
    labels: Mapping[str, str] | None = None,
    flapping: bool = False,
) -> Alert:
    """A lifecycle alert snapshot: firing, or resolved (``firing=False``)."""
    all_labels = {
        "probe": probe,
        "probe_type": "workers",
        "zone": "spacevision.app",
        "needs_api": "true",
        **(labels or {}),
    }
    annotations = {"summary": summary or f"Worker {probe}: 5.7% of requests fail"}
    if description:
        annotations["description"] = description
    if runbook_url:
        annotations["runbook_url"] = runbook_url
    state = AlertState.FIRING if firing else AlertState.RESOLVED
    return Alert(
        fingerprint=fingerprint(rule, all_labels),
        rule=rule,
        severity=severity,
        labels=all_labels,
        state=state,
        active_since=firing_since - 60.0,
        last_active_at=firing_since,
        last_seen=resolved_at or firing_since,
        annotations=annotations,
        values=dict(values if values is not None else {"error_ratio": 0.057, "requests": 1000.0}),
        firing_since=firing_since,
        resolved_at=None if firing else (resolved_at or firing_since + 600.0),
        resolved_reason=None if firing else (resolved_reason or "cleared"),
        notified_state=state,
        last_notified_at=firing_since,
        flapping=flapping,
    )


def notification(
    firing: Sequence[Alert] = (),
    resolved: Sequence[Alert] = (),
    *,
    at: float = T0 + 30.0,
    reminder: bool = False,
    group_labels: Mapping[str, str] | None = None,
    receivers: tuple[str, ...] = ("slack",),
    route: str = "{}",
) -> Notification:
    """A grouped notification, as :func:`alerting.grouping.step` makes them."""
    labels = dict(group_labels if group_labels is not None else {"zone": "spacevision.app"})
    key = route + ":{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    listed = [*firing, *resolved]
    common: dict[str, str] = {}
    if listed:
        common = dict(listed[0].match_labels)
        for other in listed[1:]:
            common = {k: v for k, v in common.items() if other.match_labels.get(k) == v}
    return Notification(
        route=route,
        receivers=receivers,
        group_key=key,
        group_id=group_id(key),
        group_labels=labels,
        common_labels=common,
        firing=tuple(firing),
        resolved=tuple(resolved),
        reminder=reminder,
        at=at,
    )
