"""The status store: per-probe history, readiness, and the /api/v1/status document."""

from __future__ import annotations

import json
import math

from monitor.state import (
    EVENTS,
    HISTORY,
    ApiSummary,
    Change,
    ProbeInfo,
    StatusStore,
    iso,
)
from probes.base import ProbeEvent, Reason, Status
from tests.unit.monitor.helpers import run_of


def store(*infos: ProbeInfo) -> StatusStore:
    """A store configured with ``infos`` (default: one probe ``p1`` of type ``fake``)."""
    s = StatusStore(version="1.2.3", started_at=900.0, config_source="/etc/fw.yaml")
    s.configure(infos or (ProbeInfo("p1", "fake", "fakesvc", 30.0),), loaded_at=950.0)
    return s


def test_iso_is_utc_with_a_trailing_z() -> None:
    """Every time in the document is ISO 8601 UTC ending in Z, as the contract says."""
    assert "2026-11-27T14:00:00.000Z" == iso(1795788000.0)
    assert iso(None) is None


def test_history_keeps_the_newest_runs_newest_last() -> None:
    """History is bounded (memory) and ordered oldest to newest, as the page draws it."""
    s = store()
    for i in range(HISTORY + 5):
        s.record(run_of(at=1000.0 + i))
    history = s.document(2000.0)["probes"][0]["history"]
    assert HISTORY == len(history)
    assert iso(1005.0) == history[0]["at"]
    assert iso(1000.0 + HISTORY + 4) == history[-1]["at"]


def test_events_keep_the_newest_twenty() -> None:
    """Probe events are bounded too; the newest is last."""
    s = store()
    for i in range(EVENTS + 3):
        s.record(run_of(at=1000.0 + i, events=(ProbeEvent("tick", f"tick {i}", {"n": i}),)))
    events = s.document(2000.0)["probes"][0]["events"]
    assert EVENTS == len(events)
    assert {
        "at": iso(1000.0 + EVENTS + 2),
        "kind": "tick",
        "message": f"tick {EVENTS + 2}",
        "fields": {"n": EVENTS + 2},
    } == events[-1]


def test_since_moves_only_when_the_status_changes() -> None:
    """``since`` says how long the current status has lasted, so repeats must not move it."""
    s = store()
    s.record(run_of(Status.OK, at=1000.0))
    s.record(run_of(Status.CRIT, at=1030.0, reason=Reason.TIMEOUT))
    s.record(run_of(Status.CRIT, at=1060.0, reason=Reason.TIMEOUT))
    assert iso(1030.0) == s.document(2000.0)["probes"][0]["since"]


def test_record_reports_the_change_and_the_failure_streak() -> None:
    """The log needs the previous status and when the failure began to say 'recovered after'."""
    s = store()
    assert Change(None, Status.OK) == s.record(run_of(Status.OK, at=1000.0))
    s.record(run_of(Status.WARN, at=1030.0))
    s.record(run_of(Status.CRIT, at=1060.0))
    change = s.record(run_of(Status.OK, at=1090.0))
    assert Change(Status.CRIT, Status.OK, since=1060.0, failing_since=1030.0) == change


def test_record_remembers_whether_the_last_run_crashed() -> None:
    """A crash is logged once per streak, so the store tells whether the last run crashed."""
    s = store()
    s.record(run_of(Status.UNKNOWN, crashed=True))
    change = s.record(run_of(Status.UNKNOWN, crashed=True, at=1030.0))
    assert change is not None
    assert change.previous_crashed


def test_rounds_count_runs_of_the_slowest_probe() -> None:
    """A round is done when every probe has run, so one probe's runs do not make it ready."""
    s = store(ProbeInfo("a", "fake", "x", 1.0), ProbeInfo("b", "fake", "x", 1.0))
    s.record(run_of(probe="a"))
    s.record(run_of(probe="a"))
    assert (0, False) == (s.rounds, s.ready)
    s.record(run_of(probe="b"))
    assert (1, True) == (s.rounds, s.ready)


def test_readiness_stays_after_a_reload_adds_a_probe() -> None:
    """A reload must not take a ready daemon out of its load balancer until new probes run."""
    s = store()
    s.record(run_of())
    s.configure(
        [ProbeInfo("p1", "fake", "fakesvc", 30.0), ProbeInfo("p2", "fake", "x", 5.0)],
        loaded_at=2000.0,
    )
    assert (0, True) == (s.rounds, s.ready)


def test_configure_keeps_history_of_unchanged_probes_only() -> None:
    """A probe that keeps its name and type keeps its history; a new type starts afresh."""
    s = store(ProbeInfo("a", "fake", "x", 1.0), ProbeInfo("b", "fake", "x", 1.0))
    s.record(run_of(probe="a"))
    s.record(run_of(probe="b"))
    s.configure(
        [ProbeInfo("a", "fake", "x", 2.0), ProbeInfo("b", "other", "x", 1.0)], loaded_at=3000.0
    )
    probes = {p["name"]: p for p in s.document(3000.0)["probes"]}
    assert (1, 2.0) == (len(probes["a"]["history"]), probes["a"]["interval_s"])
    assert ([], "not run yet") == (probes["b"]["history"], probes["b"]["message"])


def test_a_late_run_of_a_removed_probe_is_ignored() -> None:
    """A run finishing after its probe was removed by a reload must not resurrect it."""
    s = store()
    assert s.record(run_of(probe="gone")) is None
    assert ["p1"] == s.names()


def test_document_follows_the_contract() -> None:
    """The status page and users read these exact keys (docs/daemon.md, the contract)."""
    s = store(ProbeInfo("api-worker", "workers", "workers", 30.0, {"env": "prod"}))
    s.record(
        run_of(
            Status.WARN,
            probe="api-worker",
            type_name="workers",
            service="workers",
            at=1000.0,
            duration_s=0.055,
            latency_ms=41.2,
            reason=Reason.HTTP_STATUS,
            values={"error_ratio": 0.5},
            message="slow",
        )
    )
    doc = s.document(1001.0, ApiSummary(512.0, 600.0, 1234))
    assert {
        "version": "1.2.3",
        "started_at": iso(900.0),
        "now": iso(1001.0),
        "ready": True,
        "config_source": "/etc/fw.yaml",
        "config_loaded_at": iso(950.0),
        "rounds": 1,
    } == doc["flarewatch"]
    assert [{"service": "workers", "status": "warn", "probes": 1}] == doc["services"]
    assert [] == doc["alerts"]
    assert {"budget_remaining": 512.0, "budget_limit": 600.0, "requests_total": 1234} == doc["api"]
    probe = doc["probes"][0]
    assert {
        "name": "api-worker",
        "type": "workers",
        "service": "workers",
        "labels": {"env": "prod"},
        "status": "warn",
        "reason": "http_status",
        "message": "slow",
        "explanation": None,
        "latency_ms": 41.2,
        "duration_ms": 55.0,
        "checked_at": iso(1000.0),
        "since": iso(1000.0),
        "interval_s": 30.0,
        "values": {"duration_ms": 55.0, "error_ratio": 0.5},
        "history": [{"at": iso(1000.0), "status": "warn", "latency_ms": 41.2, "duration_ms": 55.0}],
        "events": [],
    } == probe


def test_document_is_strict_json_even_with_nan_values() -> None:
    """JSON has no NaN: a non-finite value becomes null rather than breaking every client."""
    s = store()
    s.record(run_of(values={"ratio": math.nan, "big": math.inf}, latency_ms=math.nan))
    doc = s.document(2000.0)
    json.dumps(doc, allow_nan=False)
    probe = doc["probes"][0]
    assert (None, None, None) == (
        probe["values"]["ratio"],
        probe["values"]["big"],
        probe["latency_ms"],
    )


def test_services_show_the_worst_status_in_a_fixed_order() -> None:
    """Services are listed workers, pages, kv… with the worst probe status of each."""
    s = store(
        ProbeInfo("k1", "kv", "kv", 1.0),
        ProbeInfo("w1", "workers", "workers", 1.0),
        ProbeInfo("w2", "workers", "workers", 1.0),
        ProbeInfo("z", "custom", "zeta", 1.0),
    )
    s.record(run_of(Status.OK, probe="k1", type_name="kv", service="kv"))
    s.record(run_of(Status.OK, probe="w1", type_name="workers", service="workers"))
    s.record(run_of(Status.CRIT, probe="w2", type_name="workers", service="workers"))
    assert [
        {"service": "workers", "status": "crit", "probes": 2},
        {"service": "kv", "status": "ok", "probes": 1},
        {"service": "zeta", "status": "unknown", "probes": 1},
    ] == s.document(2000.0)["services"]


def test_a_config_without_probes_is_ready_once_loaded() -> None:
    """Nothing to wait for: an empty probe list must not leave the daemon unready forever."""
    s = StatusStore(version="1", started_at=0.0, config_source="x")
    assert not s.ready
    s.configure([], loaded_at=1.0)
    assert s.ready
