"""The metrics exported rules need: the current failure reason, the run's duration, probe info."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from monitor.metrics import DaemonMetrics, info_labels
from probes.base import Reason, Status
from probes.registry import Registry
from tests.unit.monitor.helpers import FakeProbe, run_of


def make(reg: CollectorRegistry, labels: dict[str, dict[str, str]] | None = None) -> DaemonMetrics:
    """Metrics over the fake probe type, exporting probe ``p1``."""
    metrics = DaemonMetrics(reg, Registry({"fake": FakeProbe}), version="1", started_at=0.0)
    metrics.set_probes([("p1", "fake", 30.0)], labels)
    return metrics


def test_the_failure_reason_gauge_holds_only_the_last_runs_reason() -> None:
    """`reason == "auth"` rules translate to this gauge: only the current reason may be 1."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.observe(run_of(Status.CRIT, reason=Reason.TIMEOUT))
    metrics.observe(run_of(Status.CRIT, reason=Reason.AUTH))
    base = {"probe": "p1", "type": "fake"}
    assert 1.0 == reg.get_sample_value(
        "flarewatch_probe_failure_reason", {**base, "reason": "auth"}
    )
    assert (
        reg.get_sample_value("flarewatch_probe_failure_reason", {**base, "reason": "timeout"})
        is None
    )


def test_a_run_without_a_reason_clears_the_failure_reason() -> None:
    """A recovered probe has no reason, as the rule engine's `reason` is then null."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.observe(run_of(Status.CRIT, reason=Reason.TIMEOUT))
    metrics.observe(run_of(Status.OK))
    samples = [
        s for f in reg.collect() for s in f.samples if s.name == "flarewatch_probe_failure_reason"
    ]
    assert [] == samples


def test_the_last_runs_duration_is_exported_in_seconds() -> None:
    """Templates showing `duration_ms` query this gauge (seconds, the Prometheus unit)."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.observe(run_of(duration_s=0.25))
    value = reg.get_sample_value(
        "flarewatch_probe_last_run_duration_seconds", {"probe": "p1", "type": "fake"}
    )
    assert 0.25 == value


def test_probe_info_carries_the_type_and_configured_labels() -> None:
    """Exported rules select by type and labels, and label their alerts, through this join."""
    reg = CollectorRegistry()
    make(reg, {"p1": {"env": "prod", "team": "web"}})
    labels = {"probe": "p1", "probe_type": "fake", "env": "prod", "team": "web"}
    assert 1.0 == reg.get_sample_value("flarewatch_probe_info", labels)


def test_probe_info_exists_before_the_first_run() -> None:
    """Selection must not wait for a run; the join target is there once the probe is configured."""
    reg = CollectorRegistry()
    make(reg)
    assert 1.0 == reg.get_sample_value(
        "flarewatch_probe_info", {"probe": "p1", "probe_type": "fake"}
    )


def test_info_labels_drop_reserved_invalid_and_empty_names() -> None:
    """A label that cannot be a Prometheus label, or would clash with the join's, is left out."""
    given = {"probe": "x", "probe_type": "y", "__x": "1", "bad-name": "1", "empty": "", "ok": "v"}
    assert {"ok": "v"} == info_labels(given)
