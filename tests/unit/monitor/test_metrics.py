"""The daemon's metrics: per-probe families, declared probe-type metrics, API and daemon ones."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from cfapi import CloudflareClient, Credentials, RequestBudget
from cfapi.retry import RetryEvent
from monitor.metrics import DaemonMetrics, Family, MetricsError, type_families
from probes.base import (
    LabelledSpec,
    MetricSpec,
    ProbeEvent,
    ProbeResult,
    Reason,
    Series,
    Status,
)
from probes.registry import Registry
from tests.unit.monitor.helpers import FakeProbe, run_of


def make(reg: CollectorRegistry, *probes: str) -> DaemonMetrics:
    """Metrics over the fake probe type, exporting ``probes`` (default ``p1``)."""
    metrics = DaemonMetrics(reg, Registry({"fake": FakeProbe}), version="9.9.9", started_at=100.0)
    metrics.set_probes((name, "fake", 30.0) for name in (probes or ("p1",)))
    return metrics


def value(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    """One sample's value (``None`` when absent)."""
    return reg.get_sample_value(name, labels)


def test_type_families_come_from_the_registry() -> None:
    """Each declared metric becomes one family, labelled probe plus its constant labels."""
    assert {
        "flarewatch_fake_latency_seconds": Family(
            "flarewatch_fake_latency_seconds", "gauge", "Latency.", ("probe", "quantile"), ("fake",)
        ),
        "flarewatch_fake_retries": Family(
            "flarewatch_fake_retries", "counter", "Retries.", ("probe",), ("fake",)
        ),
        "flarewatch_fake_ratio": Family(
            "flarewatch_fake_ratio", "gauge", "A ratio.", ("probe",), ("fake",)
        ),
        "flarewatch_fake_serial": Family(
            "flarewatch_fake_serial", "gauge", "Serial per server.", ("probe", "server"), ("fake",)
        ),
    } == type_families(Registry({"fake": FakeProbe}))


class ClashProbe(FakeProbe):
    """Declares fake_ratio again, but as a counter."""

    type_name: ClassVar[str] = "clash"
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "ratio": MetricSpec("fake_ratio", "Other.", kind="counter")
    }
    labelled: ClassVar[dict[str, LabelledSpec]] = {}


class CoreNameProbe(FakeProbe):
    """Declares a family the daemon exports itself."""

    type_name: ClassVar[str] = "core"
    metrics: ClassVar[dict[str, MetricSpec]] = {"ratio": MetricSpec("probe_success", "Mine.")}
    labelled: ClassVar[dict[str, LabelledSpec]] = {}


def test_conflicting_declarations_are_refused() -> None:
    """Two types disagreeing on a family's kind would break the exposition: fail at start."""
    with pytest.raises(MetricsError, match=r"flarewatch_fake_ratio.*'fake'.*clash"):
        type_families(Registry({"fake": FakeProbe, "clash": ClashProbe}))


def test_a_type_may_not_reuse_a_daemon_family() -> None:
    """flarewatch_probe_success belongs to the daemon; a plugin cannot redefine it."""
    with pytest.raises(MetricsError, match="daemon itself exports"):
        type_families(Registry({"core": CoreNameProbe}))


def test_success_status_and_counters_follow_each_run() -> None:
    """success is 1 for ok and warn; status is one-hot; runs and failures count by label."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.observe(run_of(Status.OK))
    metrics.observe(run_of(Status.CRIT, reason=Reason.TIMEOUT))
    metrics.observe(run_of(Status.WARN, reason=Reason.CAPACITY))
    labels = {"probe": "p1", "type": "fake"}
    assert 1.0 == value(reg, "flarewatch_probe_success", **labels)
    assert 1.0 == value(reg, "flarewatch_probe_status", status="warn", **labels)
    assert 0.0 == value(reg, "flarewatch_probe_status", status="crit", **labels)
    assert 1.0 == value(reg, "flarewatch_probe_runs_total", status="crit", **labels)
    assert 1.0 == value(reg, "flarewatch_probe_failures_total", reason="timeout", **labels)
    assert 1.0 == value(reg, "flarewatch_probe_failures_total", reason="capacity", **labels)
    assert value(reg, "flarewatch_probe_failures_total", reason="auth", **labels) is None
    assert 3.0 == value(reg, "flarewatch_probe_duration_seconds_count", type="fake")
    assert 0.01 == value(reg, "flarewatch_probe_latency_seconds", **labels)


def test_crit_and_unknown_are_not_success() -> None:
    """Alerting on flarewatch_probe_success == 0 must catch crit and unknown."""
    reg = CollectorRegistry()
    metrics = make(reg, "a", "b")
    metrics.observe(run_of(Status.CRIT, probe="a"))
    metrics.observe(run_of(Status.UNKNOWN, probe="b", crashed=True))
    assert 0.0 == value(reg, "flarewatch_probe_success", probe="a", type="fake")
    assert 0.0 == value(reg, "flarewatch_probe_success", probe="b", type="fake")
    assert 1.0 == value(reg, "flarewatch_probe_crashes_total", probe="b", type="fake")


def test_a_probe_that_has_not_run_has_no_success_sample() -> None:
    """No result yet is not a failure: the sample is absent until the first run."""
    reg = CollectorRegistry()
    make(reg)
    assert value(reg, "flarewatch_probe_success", probe="p1", type="fake") is None
    assert 30.0 == value(reg, "flarewatch_probe_interval_seconds", probe="p1", type="fake")


def test_declared_values_become_scaled_labelled_samples() -> None:
    """A value mapped by MetricSpec is exported scaled, with its constant labels."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.observe(run_of(values={"latency_p99_ms": 250.0, "ratio": 0.5}))
    assert 0.25 == value(reg, "flarewatch_fake_latency_seconds", probe="p1", quantile="0.99")
    assert 0.5 == value(reg, "flarewatch_fake_ratio", probe="p1")


def test_a_value_missing_from_the_last_run_is_not_exported() -> None:
    """A stale number is worse than none: a value the last run lacked disappears."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.observe(run_of(values={"ratio": 0.5}))
    metrics.observe(run_of(values={}))
    assert value(reg, "flarewatch_fake_ratio", probe="p1") is None


def test_counter_values_accumulate_across_runs() -> None:
    """A counter spec adds each run's value (e.g. retries made this run)."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.observe(run_of(values={"retries": 2.0}))
    metrics.observe(run_of(values={"retries": 3.0}))
    metrics.observe(run_of(values={}))
    assert 5.0 == value(reg, "flarewatch_fake_retries_total", probe="p1")


def test_labelled_series_are_exported_and_replaced_each_run() -> None:
    """Series fill labelled gauges; a label value absent from the last run disappears."""
    reg = CollectorRegistry()
    metrics = make(reg)
    series = (
        Series("fake_serial", {"server": "ns1"}, 7.0),
        Series("fake_serial", {"server": "ns2"}, 8.0),
        Series("fake_serial", {"wrong": "x"}, 9.0),
        Series("undeclared", {"server": "ns1"}, 1.0),
    )
    metrics.observe(dataclasses.replace(run_of(), result=ProbeResult(Status.OK, series=series)))
    assert 7.0 == value(reg, "flarewatch_fake_serial", probe="p1", server="ns1")
    assert 8.0 == value(reg, "flarewatch_fake_serial", probe="p1", server="ns2")
    metrics.observe(run_of())
    assert value(reg, "flarewatch_fake_serial", probe="p1", server="ns1") is None


def test_set_probes_drops_removed_probes_and_keeps_counters_of_kept_ones() -> None:
    """After a reload, a removed probe disappears; a kept probe's counters keep counting."""
    reg = CollectorRegistry()
    metrics = make(reg, "a", "b")
    metrics.observe(run_of(probe="a"))
    metrics.observe(run_of(probe="b"))
    metrics.set_probes([("a", "fake", 10.0)])
    assert value(reg, "flarewatch_probe_success", probe="b", type="fake") is None
    assert 1.0 == value(reg, "flarewatch_probe_runs_total", probe="a", type="fake", status="ok")
    assert 10.0 == value(reg, "flarewatch_probe_interval_seconds", probe="a", type="fake")


def test_runs_of_unconfigured_probes_are_ignored() -> None:
    """A run finishing after its probe was removed must not re-create its series."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.observe(run_of(probe="gone"))
    assert value(reg, "flarewatch_probe_success", probe="gone", type="fake") is None


def test_events_are_counted_by_kind() -> None:
    """Event kinds are bounded by probe code, so they may be a label."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.observe(run_of(events=(ProbeEvent("dns_change_seen", "changed"),)))
    assert 1.0 == value(
        reg, "flarewatch_probe_events_total", probe="p1", type="fake", kind="dns_change_seen"
    )


def client() -> CloudflareClient:
    """A client that is never used for requests (its session is created lazily)."""
    return CloudflareClient(
        Credentials.bearer("unit-test-token"),
        base_url="http://127.0.0.1:9/client/v4",
        budget=RequestBudget(share=0.5, clock=lambda: 0.0),
    )


def _retry(group: str, reason: str) -> RetryEvent:
    from cfapi.errors import ServerError

    return RetryEvent("GET", "/x", group, 1, reason, 0.5, ServerError("x", status=500))


async def test_api_budget_and_retries_are_read_at_scrape_time() -> None:
    """Requests, 429s, remaining budget and retries come from the client when scraped."""
    reg = CollectorRegistry()
    metrics = make(reg)
    cf = client()
    metrics.bind_api(cf, None)
    cf.budget.reserve("kv", 0.0)
    cf.budget.reserve("kv", 0.0)
    cf.budget.rate_limited("kv", 30.0, 0.0)
    cf.stats.attempted("kv")
    cf.stats.retried(_retry("kv", "server_error"))
    assert 2.0 == value(reg, "flarewatch_cloudflare_api_requests_total", group="kv")
    assert 1.0 == value(reg, "flarewatch_cloudflare_api_rate_limited_total", group="kv")
    assert 598.0 == value(reg, "flarewatch_cloudflare_api_budget_remaining")
    assert 600.0 == value(reg, "flarewatch_cloudflare_api_budget_capacity")
    assert 30.0 == value(reg, "flarewatch_cloudflare_api_budget_paused_seconds")
    assert 1.0 == value(
        reg, "flarewatch_cloudflare_api_retries_total", group="kv", reason="server_error"
    )
    await cf.aclose()


async def test_api_counters_survive_a_client_swap() -> None:
    """A reload that replaces the client must not make counters go down."""
    reg = CollectorRegistry()
    metrics = make(reg)
    old, new = client(), client()
    metrics.bind_api(old, None)
    old.budget.reserve("kv", 0.0)
    old.stats.attempted("kv")
    metrics.bind_api(new, None)
    new.budget.reserve("kv", 0.0)
    assert 2.0 == value(reg, "flarewatch_cloudflare_api_requests_total", group="kv")
    assert 1.0 == value(reg, "flarewatch_cloudflare_api_attempts_total", group="kv")
    await old.aclose()
    await new.aclose()


def test_reloads_are_counted_and_the_last_outcome_kept() -> None:
    """Operators alert on a rejected reload (the file on disk is not what runs)."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.loaded(500.0)
    metrics.reloaded(success=True, at=600.0)
    metrics.reloaded(success=False, at=700.0)
    assert 1.0 == value(reg, "flarewatch_config_reloads_total", result="success")
    assert 1.0 == value(reg, "flarewatch_config_reloads_total", result="failure")
    assert 0.0 == value(reg, "flarewatch_config_last_reload_success")
    assert 600.0 == value(reg, "flarewatch_config_last_reload_timestamp_seconds")


def test_scheduler_lag_and_skips_are_exported() -> None:
    """Lag is a histogram; skipped runs are counted by why."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.observe_lag(0.003)
    metrics.skipped("max_instances")
    assert 1.0 == value(reg, "flarewatch_scheduler_lag_seconds_count")
    assert 1.0 == value(reg, "flarewatch_scheduler_skipped_runs_total", reason="max_instances")
    assert 0.0 == value(reg, "flarewatch_scheduler_skipped_runs_total", reason="missed")


def test_build_info_names_the_version() -> None:
    """build_info says which flarewatch runs (and readiness is exported as a gauge)."""
    reg = CollectorRegistry()
    make(reg)
    text = generate_latest(reg).decode()
    assert 'flarewatch_build_info{python="' in text
    assert 'version="9.9.9"' in text
    assert 0.0 == value(reg, "flarewatch_ready")


def test_counters_and_histograms_have_no_created_series() -> None:
    """Every family is exposed without a ``_created`` twin: the library's counters and
    histograms would otherwise add one series each, unlike the scrape-time families."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.observe_lag(0.003)
    metrics.skipped("missed")
    metrics.observe(run_of(Status.OK))
    text = generate_latest(reg).decode()
    assert "flarewatch_scheduler_lag_seconds_count" in text
    assert "_created" not in text


def test_the_exposition_has_no_unbounded_labels() -> None:
    """Only bounded label names appear: no URL, id, message or error text."""
    reg = CollectorRegistry()
    metrics = make(reg)
    metrics.observe(run_of(Status.CRIT, reason=Reason.HTTP_STATUS, message="GET https://x/y 500"))
    allowed = {
        "probe",
        "type",
        "probe_type",
        "status",
        "reason",
        "kind",
        "quantile",
        "server",
        "group",
        "result",
        "version",
        "python",
        "le",
    }
    for family in reg.collect():
        for sample in family.samples:
            assert set(sample.labels) <= allowed, (family.name, sample.labels)
            assert "https://" not in "".join(sample.labels.values())
