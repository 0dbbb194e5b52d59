"""What the daemon knows about each probe, and the ``/api/v1/status`` document built from it.

Pure bookkeeping: no clock, no I/O. Every run carries its own time, and :meth:`StatusStore.
document` is given ``now``. Per probe it keeps the last result, when the status last changed,
the last :data:`HISTORY` runs and the last :data:`EVENTS` probe events.

A reload calls :meth:`StatusStore.configure` with the new probe list: a probe that keeps its
name and type keeps its history; others start afresh. Readiness is latched: once every
configured probe has run, the daemon stays ready across reloads (a reload adding a probe
must not take a healthy daemon out of its load balancer).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.capture import explanation_of
from probes.base import ProbeEvent, ProbeResult, Status, worst

if TYPE_CHECKING:
    from monitor.runner import ProbeRun

HISTORY = 120
"""Runs kept per probe for the status API (newest last)."""

EVENTS = 20
"""Probe events kept per probe for the status API (newest last)."""

SERVICE_ORDER = ("workers", "pages", "kv", "r2", "d1", "dns", "http", "api")
"""How services are listed; others follow in alphabetical order."""


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with a trailing ``Z`` (milliseconds); ``None`` stays."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ProbeInfo:
    """What the store needs to know of a configured probe before it has run."""

    name: str
    type: str
    service: str
    interval_s: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """How a recorded run moved its probe's status (``previous`` is ``None`` on the first run).

    ``since`` is when the previous status began; ``failing_since`` when the probe last left
    ``ok`` (kept on the run that recovers, so the log can say for how long it failed);
    ``previous_crashed`` whether the run before this one crashed.
    """

    previous: Status | None
    current: Status
    since: float | None = None
    failing_since: float | None = None
    previous_crashed: bool = False

    @property
    def flipped(self) -> bool:
        """Whether the status differs from the previous run's."""
        return self.previous != self.current


@dataclass(frozen=True, slots=True)
class _Point:
    at: float
    status: Status
    latency_ms: float | None
    duration_ms: float


@dataclass(frozen=True, slots=True)
class _Event:
    at: float
    event: ProbeEvent


@dataclass
class _ProbeState:
    info: ProbeInfo
    last: ProbeRun | None = None
    since: float | None = None
    failing_since: float | None = None
    runs: int = 0
    history: deque[_Point] = field(default_factory=lambda: deque(maxlen=HISTORY))
    events: deque[_Event] = field(default_factory=lambda: deque(maxlen=EVENTS))


@dataclass(frozen=True, slots=True)
class ApiSummary:
    """The Cloudflare request budget as the status document shows it."""

    budget_remaining: float | None
    budget_limit: float | None
    requests_total: int | None


class StatusStore:
    """Per-probe state and the status document (see the module docstring)."""

    def __init__(self, *, version: str, started_at: float, config_source: str) -> None:
        self.version = version
        self.started_at = started_at
        self.config_source = config_source
        self.config_loaded_at: float | None = None
        self._probes: dict[str, _ProbeState] = {}
        self._ready = False

    def configure(self, probes: Iterable[ProbeInfo], *, loaded_at: float) -> None:
        """Track exactly ``probes`` (in this order), keeping the state of unchanged ones."""
        old = self._probes
        new: dict[str, _ProbeState] = {}
        for info in probes:
            kept = old.get(info.name)
            if kept is not None and kept.info.type == info.type:
                kept.info = info
                new[info.name] = kept
            else:
                new[info.name] = _ProbeState(info)
        self._probes = new
        self.config_loaded_at = loaded_at
        self._update_ready()

    def names(self) -> list[str]:
        """Configured probe names, in config order."""
        return list(self._probes)

    def record(self, run: ProbeRun) -> Change | None:
        """Remember a finished run; ``None`` when its probe is no longer configured."""
        state = self._probes.get(run.probe)
        if state is None or state.info.type != run.type:
            return None
        result = run.result
        previous = None if state.last is None else state.last.result.status
        previous_crashed = state.last is not None and state.last.crashed
        previous_since = state.since
        if previous != result.status:
            state.since = run.started_at
        if result.status != Status.OK and state.failing_since is None:
            state.failing_since = run.started_at
        failing_since = state.failing_since
        if result.status == Status.OK:
            state.failing_since = None
        state.last = run
        state.runs += 1
        state.history.append(
            _Point(run.started_at, result.status, result.latency_ms, run.duration_s * 1000.0)
        )
        state.events.extend(_Event(run.started_at, e) for e in result.events)
        self._update_ready()
        return Change(
            previous=previous,
            current=result.status,
            since=previous_since,
            failing_since=failing_since,
            previous_crashed=previous_crashed,
        )

    def _update_ready(self) -> None:
        if self._ready or self.config_loaded_at is None:
            return
        if not self._probes or self.rounds >= 1:
            self._ready = True

    @property
    def rounds(self) -> int:
        """Complete rounds: how many times every configured probe has run at least."""
        return min((s.runs for s in self._probes.values()), default=0)

    @property
    def ready(self) -> bool:
        """Config loaded and every probe has run once (latched; see the module docstring).

        A config without enabled probes is ready as soon as it is loaded.
        """
        return self._ready

    def statuses(self) -> dict[str, Status | None]:
        """Each configured probe's last status (``None`` before its first run)."""
        return {
            name: None if s.last is None else s.last.result.status
            for name, s in self._probes.items()
        }

    def last_runs(self) -> dict[str, ProbeRun]:
        """Each configured probe's last run (probes that have not run are left out)."""
        return {n: s.last for n, s in self._probes.items() if s.last is not None}

    def document(
        self,
        now: float,
        api: ApiSummary | None = None,
        alerts: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """The ``/api/v1/status`` document (contract: docs/daemon.md); ``alerts`` are the
        alert service's entries (:meth:`monitor.alerts.AlertService.status_entries`)."""
        probes = [_probe_document(s) for s in self._probes.values()]
        return {
            "flarewatch": {
                "version": self.version,
                "started_at": iso(self.started_at),
                "now": iso(now),
                "ready": self.ready,
                "config_source": self.config_source,
                "config_loaded_at": iso(self.config_loaded_at),
                "rounds": self.rounds,
            },
            "services": services_summary(self._probes.values()),
            "probes": probes,
            "alerts": [dict(a) for a in alerts],
            "api": {
                "budget_remaining": None if api is None else api.budget_remaining,
                "budget_limit": None if api is None else api.budget_limit,
                "requests_total": None if api is None else api.requests_total,
            },
        }


def _status_of(state: _ProbeState) -> Status:
    return Status.UNKNOWN if state.last is None else state.last.result.status


def _service_key(service: str) -> tuple[int, str]:
    try:
        return (SERVICE_ORDER.index(service), service)
    except ValueError:
        return (len(SERVICE_ORDER), service)


def services_summary(states: Iterable[_ProbeState]) -> list[dict[str, Any]]:
    """The worst status per service (a probe that has not run yet counts as ``unknown``)."""
    by_service: dict[str, list[Status]] = {}
    for state in states:
        by_service.setdefault(state.info.service, []).append(_status_of(state))
    return [
        {"service": service, "status": str(worst(*by_service[service])), "probes": len(statuses)}
        for service, statuses in sorted(by_service.items(), key=lambda kv: _service_key(kv[0]))
    ]


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: those become ``null`` (unknown)."""
    return value if value is not None and math.isfinite(value) else None


def _explanation(result: ProbeResult | None) -> str | None:
    """The error catalogue's line for a failed run whose message names a Cloudflare code or
    a binding error (``None`` otherwise)."""
    if result is None or result.status is Status.OK:
        return None
    return explanation_of(result.message)


def _probe_document(state: _ProbeState) -> dict[str, Any]:
    info, last = state.info, state.last
    result = None if last is None else last.result
    return {
        "name": info.name,
        "type": info.type,
        "service": info.service,
        "labels": dict(info.labels),
        "status": str(_status_of(state)),
        "reason": None if result is None or result.reason is None else str(result.reason),
        "message": "not run yet" if result is None else result.message,
        "explanation": _explanation(result),
        "latency_ms": None if result is None else _finite(result.latency_ms),
        "duration_ms": None if last is None else round(last.duration_s * 1000.0, 3),
        "checked_at": None if last is None else iso(last.started_at),
        "since": iso(state.since),
        "interval_s": info.interval_s,
        "values": {} if result is None else {k: _finite(v) for k, v in result.values.items()},
        "history": [
            {
                "at": iso(p.at),
                "status": str(p.status),
                "latency_ms": _finite(p.latency_ms),
                "duration_ms": round(p.duration_ms, 3),
            }
            for p in state.history
        ],
        "events": [
            {
                "at": iso(e.at),
                "kind": e.event.kind,
                "message": e.event.message,
                "fields": dict(e.event.fields),
            }
            for e in state.events
        ],
    }
