"""The daemon's Prometheus metrics: one collector over a per-daemon ``CollectorRegistry``.

:class:`DaemonMetrics` is fed by the runner (:meth:`DaemonMetrics.observe`), the scheduler
(lag, skipped runs) and the daemon (reloads), and reads the Cloudflare client's budget and
retry counters and the analytics hub at scrape time. Per-probe samples are kept as plain data
and turned into metric families in :meth:`DaemonMetrics.collect`, so a probe removed by a
reload disappears from ``/metrics`` at once, and a value a probe did not publish this run is
absent rather than stale.

Every probe type's declared metrics come from the probe registry: a value mapped by a
:class:`probes.base.MetricSpec` becomes ``flarewatch_<spec.name>{probe, <spec.labels>}``
(a ``counter`` grows by the value every run and is exposed with ``_total``), and a
:class:`probes.base.LabelledSpec` becomes ``flarewatch_<spec.name>{probe, <label_names>}``
filled from ``ProbeResult.series``. Labels are bounded: probe names and types come from the
config, statuses and reasons from fixed sets, API groups from :mod:`cfapi.budget`.

docs/daemon.md lists every family with its labels.
"""

from __future__ import annotations

import platform
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import CollectorRegistry, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from alerting.model import prometheus_probe_label
from probes.base import Status
from probes.registry import Registry

if TYPE_CHECKING:
    from cfapi import CloudflareClient
    from monitor.alerts import AlertService
    from monitor.runner import ProbeRun
    from probes.analytics import AnalyticsHub

PREFIX = "flarewatch_"

# No ``_created`` series: the client library adds one to every counter and histogram it
# keeps (but not to the families built at scrape time), doubling those series for a
# timestamp that Prometheus 2.x ignores and that ``flarewatch_start_time_seconds`` already
# gives. A process-wide switch, read at each scrape.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in the library

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
ROUND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_SUCCESS = frozenset({Status.OK, Status.WARN})

CORE_FAMILIES = frozenset(
    {
        "flarewatch_probe_success",
        "flarewatch_probe_status",
        "flarewatch_probe_latency_seconds",
        "flarewatch_probe_last_run_timestamp_seconds",
        "flarewatch_probe_last_run_duration_seconds",
        "flarewatch_probe_failure_reason",
        "flarewatch_probe_info",
        "flarewatch_probe_interval_seconds",
        "flarewatch_probe_runs",
        "flarewatch_probe_failures",
        "flarewatch_probe_crashes",
        "flarewatch_probe_events",
        "flarewatch_probe_duration_seconds",
        "flarewatch_probes_configured",
        "flarewatch_scheduler_lag_seconds",
        "flarewatch_scheduler_skipped_runs",
        "flarewatch_cloudflare_api_requests",
        "flarewatch_cloudflare_api_throttled",
        "flarewatch_cloudflare_api_throttled_seconds",
        "flarewatch_cloudflare_api_rate_limited",
        "flarewatch_cloudflare_api_refused",
        "flarewatch_cloudflare_api_pauses",
        "flarewatch_cloudflare_api_budget_remaining",
        "flarewatch_cloudflare_api_budget_capacity",
        "flarewatch_cloudflare_api_budget_paused_seconds",
        "flarewatch_cloudflare_api_attempts",
        "flarewatch_cloudflare_api_retries",
        "flarewatch_cloudflare_api_giveups",
        "flarewatch_analytics_requests",
        "flarewatch_build_info",
        "flarewatch_start_time_seconds",
        "flarewatch_ready",
        "flarewatch_config_reloads",
        "flarewatch_config_last_reload_success",
        "flarewatch_config_last_reload_timestamp_seconds",
        "flarewatch_alerts_firing",
        "flarewatch_alerts",
        "flarewatch_silences_active",
        "flarewatch_remediations",
        "flarewatch_alert_round_duration_seconds",
        "flarewatch_notifications",
        "flarewatch_notifications_dead_lettered",
        "flarewatch_notification_latency_seconds",
        "flarewatch_outbox_depth",
        "flarewatch_notifications_coalesced",
        "flarewatch_notifications_unconfigured",
    }
)
"""Families the daemon itself defines (counters without ``_total``); probe types may not reuse."""


class MetricsError(ValueError):
    """Probe types that declare conflicting metrics (the message names them)."""


@dataclass(frozen=True, slots=True)
class Family:
    """A metric family a probe type declares: name (counters without ``_total``), kind, labels."""

    name: str
    kind: Literal["gauge", "counter"]
    help: str
    labels: tuple[str, ...]
    owners: tuple[str, ...] = ()


def info_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The probe labels ``flarewatch_probe_info`` carries: those
    :func:`alerting.model.prometheus_probe_label` admits, with a non-empty value."""
    return {k: v for k, v in sorted(labels.items()) if v and prometheus_probe_label(k)}


def _counter_name(name: str) -> str:
    return name[: -len("_total")] if name.endswith("_total") else name


def type_families(registry: Registry) -> dict[str, Family]:
    """Every metric family the registry's probe types declare, checked for consistency.

    Several values (or types) may share a family when kind and label names agree; anything
    else is a :class:`MetricsError` naming the types involved.
    """
    found: dict[str, Family] = {}
    for type_name in registry.names():
        cls = registry[type_name]
        declared: list[Family] = []
        for spec in cls.metrics.values():
            name = PREFIX + spec.name
            if spec.kind == "counter":
                name = _counter_name(name)
            declared.append(Family(name, spec.kind, spec.help, ("probe", *sorted(spec.labels))))
        for lspec in cls.labelled.values():
            declared.append(
                Family(PREFIX + lspec.name, "gauge", lspec.help, ("probe", *lspec.label_names))
            )
        for fam in declared:
            if fam.name in CORE_FAMILIES:
                raise MetricsError(
                    f"probe type {type_name!r} declares metric {fam.name!r}, "
                    "which the daemon itself exports: rename it"
                )
            have = found.get(fam.name)
            if have is None:
                found[fam.name] = Family(fam.name, fam.kind, fam.help, fam.labels, (type_name,))
                continue
            if (have.kind, have.labels) != (fam.kind, fam.labels):
                raise MetricsError(
                    f"metric {fam.name!r} is declared as a {fam.kind} labelled "
                    f"{list(fam.labels)} by probe type {type_name!r} but as a {have.kind} "
                    f"labelled {list(have.labels)} by {', '.join(have.owners)}: make them agree"
                )
            if type_name not in have.owners:
                found[fam.name] = Family(
                    have.name, have.kind, have.help, have.labels, (*have.owners, type_name)
                )
    return found


Samples = dict[str, dict[tuple[str, ...], float]]


@dataclass
class _ProbeSeries:
    type: str
    interval_s: float
    status: Status | None = None
    reason: str | None = None
    duration_s: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    latency_s: float | None = None
    last_run: float | None = None
    runs: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    crashes: int = 0
    events: Counter[str] = field(default_factory=Counter)
    gauges: Samples = field(default_factory=dict)
    counters: Samples = field(default_factory=dict)


@dataclass
class _ApiTotals:
    """Counters of Cloudflare clients retired by reloads, so exported totals never go down."""

    requests: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    throttled_seconds: float = 0.0
    rate_limited: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    pauses: int = 0
    attempts: Counter[str] = field(default_factory=Counter)
    retries: Counter[tuple[str, str]] = field(default_factory=Counter)
    giveups: Counter[tuple[str, str]] = field(default_factory=Counter)
    analytics: int = 0


class DaemonMetrics:
    """The daemon's metrics (see the module docstring); registers itself on ``registry``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        probe_registry: Registry,
        *,
        version: str,
        started_at: float,
        ready: Callable[[], bool] = lambda: False,
    ) -> None:
        self._types = probe_registry
        self._families = type_families(probe_registry)
        self._version = version
        self._started_at = started_at
        self._ready = ready
        self._probes: dict[str, _ProbeSeries] = {}
        self._cf: CloudflareClient | None = None
        self._hub: AnalyticsHub | None = None
        self._retired = _ApiTotals()
        self._skipped: Counter[str] = Counter()
        self._reloads: Counter[str] = Counter()
        self._last_reload_ok: bool | None = None
        self._last_reload_at: float | None = None
        self.duration = Histogram(
            "flarewatch_probe_duration_seconds",
            "How long probe runs take, by probe type.",
            ["type"],
            buckets=DURATION_BUCKETS,
            registry=None,
        )
        self.lag = Histogram(
            "flarewatch_scheduler_lag_seconds",
            "Delay between when a probe run was due and when it started.",
            buckets=LAG_BUCKETS,
            registry=None,
        )
        self.alert_rounds = Histogram(
            "flarewatch_alert_round_duration_seconds",
            "How long one round of the alert engine takes (rules, lifecycle, grouping).",
            buckets=ROUND_BUCKETS,
            registry=None,
        )
        self._alerts: Callable[[], AlertService | None] = lambda: None
        registry.register(self)

    # --- fed by the daemon -------------------------------------------------------------

    def set_probes(
        self,
        probes: Iterable[tuple[str, str, float]],
        labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """Export exactly these ``(name, type, interval_s)`` probes (counters of kept ones stay).

        ``labels`` holds each probe's configured labels, exported on ``flarewatch_probe_info``
        (names that are not Prometheus label names, or are ``probe``/``probe_type``, are left
        out; an empty value is no label, as in Prometheus).
        """
        given = labels or {}
        new: dict[str, _ProbeSeries] = {}
        for name, type_name, interval_s in probes:
            kept = self._probes.get(name)
            if kept is not None and kept.type == type_name:
                kept.interval_s = interval_s
                series = kept
            else:
                series = _ProbeSeries(type_name, interval_s)
            series.labels = info_labels(given.get(name, {}))
            new[name] = series
        self._probes = new

    def bind_api(self, cf: CloudflareClient | None, hub: AnalyticsHub | None) -> None:
        """Read the API budget, retry counters and analytics requests of ``cf`` and ``hub``.

        Totals of a client or hub being replaced are kept, so counters never go down.
        """
        if self._cf is not None and cf is not self._cf:
            self._retire_client(self._cf, cf)
        if self._hub is not None and hub is not self._hub:
            self._retired.analytics += self._hub.requests
        self._cf = cf
        self._hub = hub

    def _retire_client(self, old: CloudflareClient, new: CloudflareClient | None) -> None:
        # A budget or retry counter the new client keeps using is still counted live.
        r = self._retired
        if new is None or new.budget is not old.budget:
            snap = old.budget.snapshot()
            r.requests.update(snap.requests)
            r.throttled.update(snap.throttled)
            r.throttled_seconds += snap.throttled_seconds
            r.rate_limited.update(snap.rate_limited)
            r.refused.update(snap.refused)
            r.pauses += snap.pauses
        if new is None or new.stats is not old.stats:
            r.attempts.update(old.stats.attempts)
            r.retries.update(old.stats.retries)
            r.giveups.update(old.stats.giveups)

    def observe(self, run: ProbeRun) -> None:
        """Record a finished probe run (ignored when its probe is no longer configured)."""
        series = self._probes.get(run.probe)
        if series is None or series.type != run.type:
            return
        result = run.result
        series.status = result.status
        series.reason = None if result.reason is None else str(result.reason)
        series.duration_s = run.duration_s
        series.latency_s = None if result.latency_ms is None else result.latency_ms / 1000.0
        series.last_run = run.started_at + run.duration_s
        series.runs[str(result.status)] += 1
        if result.status != Status.OK and result.reason is not None:
            series.failures[str(result.reason)] += 1
        if run.crashed:
            series.crashes += 1
        for event in result.events:
            series.events[event.kind] += 1
        self.duration.labels(run.type).observe(run.duration_s)
        if run.type in self._types:
            self._observe_declared(series, run)

    def _observe_declared(self, series: _ProbeSeries, run: ProbeRun) -> None:
        cls = self._types[run.type]
        gauges: Samples = {}
        for value_name, spec in cls.metrics.items():
            value = run.result.values.get(value_name)
            if value is None:
                continue
            labels = (run.probe, *(spec.labels[k] for k in sorted(spec.labels)))
            if spec.kind == "counter":
                fam = _counter_name(PREFIX + spec.name)
                per = series.counters.setdefault(fam, {})
                per[labels] = per.get(labels, 0.0) + max(0.0, value * spec.scale)
            else:
                gauges.setdefault(PREFIX + spec.name, {})[labels] = value * spec.scale
        by_name = {s.name: s for s in cls.labelled.values()}
        for sample in run.result.series:
            lspec = cls.labelled.get(sample.metric) or by_name.get(sample.metric)
            if lspec is None or set(sample.labels) != set(lspec.label_names):
                continue
            labels = (run.probe, *(sample.labels[k] for k in lspec.label_names))
            gauges.setdefault(PREFIX + lspec.name, {})[labels] = sample.value
        series.gauges = gauges

    def bind_alerts(self, service: Callable[[], AlertService | None]) -> None:
        """Read alerting's numbers at scrape time from the service ``service`` returns
        (``None``: alerting off), with its outbox's notification metrics."""
        self._alerts = service

    def observe_alert_round(self, seconds: float) -> None:
        """Record how long one round of the alert engine took."""
        self.alert_rounds.observe(max(0.0, seconds))

    def observe_lag(self, seconds: float) -> None:
        """Record how late a probe run started."""
        self.lag.observe(max(0.0, seconds))

    def skipped(self, reason: str) -> None:
        """Count a run the scheduler skipped (``max_instances`` or ``missed``)."""
        self._skipped[reason] += 1

    def loaded(self, at: float) -> None:
        """The configuration was loaded at start (not counted as a reload)."""
        self._last_reload_at = at

    def reloaded(self, *, success: bool, at: float) -> None:
        """Count a configuration reload and remember its outcome."""
        self._reloads["success" if success else "failure"] += 1
        self._last_reload_ok = success
        if success:
            self._last_reload_at = at

    # --- read at scrape time -----------------------------------------------------------

    def describe(self) -> Iterator[Metric]:
        """Nothing up front: the families are produced at scrape time."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        """Every family, built from the current state (prometheus_client's collector protocol)."""
        yield from self._probe_families()
        yield from self.duration.collect()
        yield from self.lag.collect()
        yield from self._declared_families()
        yield from self._api_families()
        yield from self._daemon_families()
        yield from self._alert_families()

    def _alert_families(self) -> Iterator[Metric]:
        service = self._alerts()
        if service is None:
            return
        snap = service.snapshot()
        firing = GaugeMetricFamily(
            "flarewatch_alerts_firing",
            "Firing alerts by rule and severity (0 for a configured rule not firing).",
            labels=["rule", "severity"],
        )
        for (rule, severity), count in sorted(snap.firing.items()):
            firing.add_metric([rule, severity], float(count))
        yield firing
        states = GaugeMetricFamily(
            "flarewatch_alerts", "Alerts the engine keeps, by state.", labels=["state"]
        )
        for state, count in sorted(snap.states.items()):
            states.add_metric([state], float(count))
        yield states
        yield GaugeMetricFamily(
            "flarewatch_silences_active",
            "Silences muting alerts now.",
            value=float(snap.silences_active),
        )
        runs = CounterMetricFamily(
            "flarewatch_remediations",
            "Remediation hooks by outcome (ok, failed, dry_run, skipped by a guard).",
            labels=["remediation", "outcome"],
        )
        for (name, outcome), count in sorted(snap.remediations.items()):
            runs.add_metric([name, outcome], float(count))
        yield runs
        yield from self.alert_rounds.collect()
        yield from service.metrics_registry.collect()

    def _probe_families(self) -> Iterator[Metric]:
        labels = ["probe", "type"]
        success = GaugeMetricFamily(
            "flarewatch_probe_success",
            "1 when the probe's last run found its target working (ok or warn), else 0.",
            labels=labels,
        )
        status = GaugeMetricFamily(
            "flarewatch_probe_status",
            "1 for the status of the probe's last run, 0 for the other statuses.",
            labels=[*labels, "status"],
        )
        latency = GaugeMetricFamily(
            "flarewatch_probe_latency_seconds",
            "Latency of the checked thing (HTTP answer, KV round trip) in the last run.",
            labels=labels,
        )
        last_run = GaugeMetricFamily(
            "flarewatch_probe_last_run_timestamp_seconds",
            "When the probe's last run finished (Unix time).",
            labels=labels,
        )
        interval = GaugeMetricFamily(
            "flarewatch_probe_interval_seconds",
            "The probe's configured interval.",
            labels=labels,
        )
        runs = CounterMetricFamily(
            "flarewatch_probe_runs", "Probe runs by resulting status.", labels=[*labels, "status"]
        )
        failures = CounterMetricFamily(
            "flarewatch_probe_failures",
            "Failed probe runs by failure reason (a fixed set, docs/rules.md).",
            labels=[*labels, "reason"],
        )
        crashes = CounterMetricFamily(
            "flarewatch_probe_crashes",
            "Probe runs that raised instead of returning a result (reported as unknown).",
            labels=labels,
        )
        events = CounterMetricFamily(
            "flarewatch_probe_events",
            "Events probes reported (e.g. DNS propagation progress), by kind.",
            labels=[*labels, "kind"],
        )
        current_reason = GaugeMetricFamily(
            "flarewatch_probe_failure_reason",
            "1 for the failure reason of the probe's last run (absent when it gave none).",
            labels=[*labels, "reason"],
        )
        run_duration = GaugeMetricFamily(
            "flarewatch_probe_last_run_duration_seconds",
            "How long the probe's last run took (the rules' duration_ms, in seconds).",
            labels=labels,
        )
        label_names = sorted({k for s in self._probes.values() for k in s.labels})
        info = GaugeMetricFamily(
            "flarewatch_probe_info",
            "Always 1: the probe's type and configured labels, to join on probe.",
            labels=["probe", "probe_type", *label_names],
        )
        for name, s in self._probes.items():
            pl = [name, s.type]
            info.add_metric([name, s.type, *(s.labels.get(k, "") for k in label_names)], 1.0)
            interval.add_metric(pl, s.interval_s)
            crashes.add_metric(pl, float(s.crashes))
            for st in Status:
                runs.add_metric([*pl, str(st)], float(s.runs.get(str(st), 0)))
            for reason, count in sorted(s.failures.items()):
                failures.add_metric([*pl, reason], float(count))
            for kind, count in sorted(s.events.items()):
                events.add_metric([*pl, kind], float(count))
            if s.status is None:
                continue
            success.add_metric(pl, 1.0 if s.status in _SUCCESS else 0.0)
            if s.reason is not None:
                current_reason.add_metric([*pl, s.reason], 1.0)
            if s.duration_s is not None:
                run_duration.add_metric(pl, s.duration_s)
            for st in Status:
                status.add_metric([*pl, str(st)], 1.0 if st == s.status else 0.0)
            if s.latency_s is not None:
                latency.add_metric(pl, s.latency_s)
            if s.last_run is not None:
                last_run.add_metric(pl, s.last_run)
        yield from (success, status, latency, last_run, interval, runs, failures, crashes, events)
        yield from (current_reason, run_duration, info)

    def _declared_families(self) -> Iterator[Metric]:
        for fam in self._families.values():
            metric: GaugeMetricFamily | CounterMetricFamily
            if fam.kind == "counter":
                metric = CounterMetricFamily(fam.name, fam.help, labels=list(fam.labels))
            else:
                metric = GaugeMetricFamily(fam.name, fam.help, labels=list(fam.labels))
            for s in self._probes.values():
                samples = (s.counters if fam.kind == "counter" else s.gauges).get(fam.name, {})
                for labels, value in samples.items():
                    metric.add_metric(list(labels), value)
            yield metric

    def _api_families(self) -> Iterator[Metric]:
        r = self._retired
        requests = Counter(r.requests)
        throttled = Counter(r.throttled)
        rate_limited = Counter(r.rate_limited)
        refused = Counter(r.refused)
        attempts = Counter(r.attempts)
        retries = Counter(r.retries)
        giveups = Counter(r.giveups)
        throttled_s, pauses, analytics = r.throttled_seconds, r.pauses, r.analytics
        remaining = capacity = paused = None
        if self._cf is not None:
            snap = self._cf.budget.snapshot()
            requests.update(snap.requests)
            throttled.update(snap.throttled)
            rate_limited.update(snap.rate_limited)
            refused.update(snap.refused)
            throttled_s += snap.throttled_seconds
            pauses += snap.pauses
            remaining, capacity, paused = snap.tokens, snap.capacity, snap.paused_for_s
            attempts.update(self._cf.stats.attempts)
            retries.update(self._cf.stats.retries)
            giveups.update(self._cf.stats.giveups)
        if self._hub is not None:
            analytics += self._hub.requests
        yield _by_group(
            "flarewatch_cloudflare_api_requests",
            "Cloudflare API requests admitted by the request budget, by API group.",
            requests,
        )
        yield _by_group(
            "flarewatch_cloudflare_api_throttled",
            "Requests that had to wait for the request budget, by API group.",
            throttled,
        )
        yield CounterMetricFamily(
            "flarewatch_cloudflare_api_throttled_seconds",
            "Time requests spent waiting for the request budget.",
            value=throttled_s,
        )
        yield _by_group(
            "flarewatch_cloudflare_api_rate_limited",
            "429 answers from Cloudflare, by API group.",
            rate_limited,
        )
        yield _by_group(
            "flarewatch_cloudflare_api_refused",
            "Requests refused locally because the budget would not allow them before their "
            "deadline, by API group.",
            refused,
        )
        yield CounterMetricFamily(
            "flarewatch_cloudflare_api_pauses",
            "Times every request was held back after a 429 or an exhausted window.",
            value=float(pauses),
        )
        for name, text, value in (
            (
                "flarewatch_cloudflare_api_budget_remaining",
                "Requests left in flarewatch's share of the API rate limit.",
                remaining,
            ),
            (
                "flarewatch_cloudflare_api_budget_capacity",
                "flarewatch's share of the API rate limit (requests per 5 minutes).",
                capacity,
            ),
            (
                "flarewatch_cloudflare_api_budget_paused_seconds",
                "Seconds left of a pause after a 429 (0 when not paused).",
                paused,
            ),
        ):
            gauge = GaugeMetricFamily(name, text)
            if value is not None:
                gauge.add_metric([], value)
            yield gauge
        yield _by_group(
            "flarewatch_cloudflare_api_attempts",
            "HTTP requests sent to the Cloudflare API (retries included), by API group.",
            attempts,
        )
        yield _by_group_reason(
            "flarewatch_cloudflare_api_retries",
            "Retries of transient API failures, by API group and reason.",
            retries,
        )
        yield _by_group_reason(
            "flarewatch_cloudflare_api_giveups",
            "API requests that failed after their last retry, by API group and reason.",
            giveups,
        )
        yield CounterMetricFamily(
            "flarewatch_analytics_requests",
            "GraphQL Analytics queries made by the batching hub (one serves every probe).",
            value=float(analytics),
        )

    def _daemon_families(self) -> Iterator[Metric]:
        build = GaugeMetricFamily(
            "flarewatch_build_info",
            "Always 1; the labels say which flarewatch is running.",
            labels=["version", "python"],
        )
        build.add_metric([self._version, platform.python_version()], 1.0)
        yield build
        yield GaugeMetricFamily(
            "flarewatch_start_time_seconds",
            "When the daemon started (Unix time).",
            value=self._started_at,
        )
        yield GaugeMetricFamily(
            "flarewatch_ready",
            "1 once the config is loaded and every probe has run once.",
            value=1.0 if self._ready() else 0.0,
        )
        yield GaugeMetricFamily(
            "flarewatch_probes_configured",
            "Probes in the running configuration.",
            value=float(len(self._probes)),
        )
        skipped = CounterMetricFamily(
            "flarewatch_scheduler_skipped_runs",
            "Runs not started: the previous run was still going (max_instances) or the run "
            "was too late (missed).",
            labels=["reason"],
        )
        for reason in ("max_instances", "missed"):
            skipped.add_metric([reason], float(self._skipped.get(reason, 0)))
        yield skipped
        reloads = CounterMetricFamily(
            "flarewatch_config_reloads",
            "Configuration reloads (SIGHUP or POST /-/reload), by result.",
            labels=["result"],
        )
        for result in ("success", "failure"):
            reloads.add_metric([result], float(self._reloads.get(result, 0)))
        yield reloads
        ok = GaugeMetricFamily(
            "flarewatch_config_last_reload_success",
            "1 when the last reload succeeded (also before any reload), 0 when it was rejected.",
            value=0.0 if self._last_reload_ok is False else 1.0,
        )
        yield ok
        at = GaugeMetricFamily(
            "flarewatch_config_last_reload_timestamp_seconds",
            "When the running configuration was loaded (start or last good reload; Unix time).",
        )
        if self._last_reload_at is not None:
            at.add_metric([], self._last_reload_at)
        yield at


def _by_group(name: str, text: str, counts: Mapping[str, Any]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text, labels=["group"])
    for group, count in sorted(counts.items()):
        family.add_metric([group], float(count))
    return family


def _by_group_reason(
    name: str, text: str, counts: Mapping[tuple[str, str], int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text, labels=["group", "reason"])
    for (group, reason), count in sorted(counts.items()):
        family.add_metric([group, reason], float(count))
    return family
