"""The Grafana dashboard: valid structure, and every PromQL it runs works on the real daemon.

Which check is the honest one for "uses only metric names the daemon really exports"? A name
is checked against the families the live ``/metrics`` *declares* (its ``# TYPE`` lines),
with the sample names each type really has (a counter's ``…_total``, a histogram's
``…_bucket``/``…_sum``/``…_count``), not against the samples present at that moment.
Families whose samples only appear with an event (a failure reason, an API retry, a
notification to a notifier) exist in the exposition from the start, so the check does not
depend on provoking every event, and a renamed family fails it all the same. The daemon runs
with every probe type and with alerting, so every family the dashboard charts is declared.

Each expression then runs on a real Prometheus scraping that daemon: a syntax error is a 400,
a query that cannot execute on the real series (vector matching, say) a 422; both fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SimHandle
from tests.integration.deploy.estate import ROOT, Stack, stack, until

DASHBOARD = ROOT / "deploy" / "grafana" / "flarewatch.json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"

# --- extracting metric names from PromQL ---------------------------------------------------

KEYWORDS = frozenset(
    {
        # binary operators and modifiers
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
        "group_right", "bool", "offset", "atan2",
        # literals
        "inf", "nan",
    }
)  # fmt: skip
"""Words PromQL reserves that look like names; functions and aggregations are recognised by
the parenthesis that follows them instead (a metric name is never followed by one)."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NAME = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?")

GRAFANA_VARIABLES = {
    "$__rate_interval": "4s",
    "$__interval": "1s",
    "$__range": "1h",
    "${datasource}": "",
}
"""What Grafana substitutes before Prometheus sees an expression (ranges as Grafana would
compute them for a 1 s scrape interval)."""


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects.

    String literals go first (they hold label values and regexes), then label matchers
    (``{…}``), range and subquery brackets, and the label lists of ``by``/``without``/
    ``on``/``ignoring``/``group_left``/``group_right``. Of the identifiers left, those
    followed by ``(`` are functions or aggregations, keywords are dropped, and numbers and
    durations never match an identifier. Grafana's ``$variables`` live in strings and
    brackets, so they go with them.
    """
    text = _STRING.sub('""', expr)
    while _MATCHERS.search(text):
        text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _NAME.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def exported_sample_names(exposition: str) -> set[str]:
    """Every sample name the families declared by ``# TYPE`` lines can have.

    prometheus_client's text format names a counter's family with its ``_total``; a
    histogram ``x`` has ``x_bucket``, ``x_sum``, ``x_count``; a summary ``x`` has ``x``,
    ``x_sum``, ``x_count``.
    """
    names: set[str] = set()
    for line in exposition.splitlines():
        if not line.startswith("# TYPE "):
            continue
        _, _, name, kind = line.split(" ", 3)
        if kind == "histogram":
            names.update(f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        elif kind == "summary":
            names.update((name, f"{name}_sum", f"{name}_count"))
        else:
            names.add(name)
    return names


# --- walking the dashboard -----------------------------------------------------------------


def load_dashboard() -> dict[str, Any]:
    """The shipped dashboard document."""
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def panels(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' collapsed children included."""
    for panel in doc["panels"]:
        yield panel
        yield from panel.get("panels", [])


def expressions(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every PromQL expression with where it is (panel targets, variables, annotations).

    A variable's ``label_values(selector, label)`` yields its selector, the PromQL part.
    """
    for panel in panels(doc):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"]
    for variable in doc["templating"]["list"]:
        if variable["type"] != "query":
            continue
        selector, _ = label_values(variable)
        yield f"variable {variable['name']}", selector
    for annotation in doc["annotations"]["list"]:
        if "expr" in annotation:
            yield f"annotation {annotation['name']!r}", annotation["expr"]


def label_values(variable: dict[str, Any]) -> tuple[str, str]:
    """The selector and label of a ``label_values(selector, label)`` variable query."""
    query = variable["query"]
    text = query["query"] if isinstance(query, dict) else query
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", text.strip())
    assert match, f"variable {variable['name']}: not a label_values(selector, label) query"
    return match.group(1), match.group(2)


def substituted(expr: str) -> str:
    """``expr`` as Prometheus would get it from Grafana with every variable on "All"."""
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$\{?(instance|type|probe)\}?", ".+", expr)


# --- the extractor ------------------------------------------------------------------------


def test_the_extractor_ignores_strings_matchers_and_ranges() -> None:
    """Label values, regexes, matcher label names and durations are not metric names, even
    when they look like one: a dashboard filtering on ``probe="flarewatch_x"`` must not
    be checked for a metric called ``flarewatch_x``."""
    expr = (
        'rate(flarewatch_probe_runs_total{probe=~"$probe", type="flarewatch_fake",'
        " status!='x'}[$__rate_interval] offset 5m)"
    )
    assert {"flarewatch_probe_runs_total"} == metric_names(expr)


def test_the_extractor_ignores_grouping_labels_functions_and_keywords() -> None:
    """``by``/``on``/``group_left`` label lists, aggregations, functions and operators are
    not metric names; every operand of a binary expression is."""
    expr = (
        "histogram_quantile(0.99, sum by (type, le) (rate(a_bucket[5m]))) > bool 1"
        " and on (instance, probe) group_left (type) b or ignoring (x) c * time()"
        ' unless sum(d) without (le) + count_values("v", e) - vector(0) / Inf'
    )
    assert {"a_bucket", "b", "c", "d", "e"} == metric_names(expr)


def test_the_extractor_reads_names_next_to_matchers_and_subqueries() -> None:
    """A name with a colon (recording rule) or written right before ``{`` or ``[`` is kept."""
    expr = "max_over_time(job:up:ratio{a='b'}[1h:5m]) + x[5m] + y{z=\"1\"}"
    assert {"job:up:ratio", "x", "y"} == metric_names(expr)


def test_a_renamed_metric_is_reported_missing() -> None:
    """The check compares sample names with the declared families' real sample names: a
    counter queried without ``_total``, a histogram without ``_bucket`` or a renamed gauge
    are all caught."""
    exposition = "\n".join(
        [
            "# HELP flarewatch_probe_runs_total Runs.",
            "# TYPE flarewatch_probe_runs_total counter",
            "# HELP flarewatch_probe_duration_seconds Durations.",
            "# TYPE flarewatch_probe_duration_seconds histogram",
            "# HELP flarewatch_probe_success Success.",
            "# TYPE flarewatch_probe_success gauge",
        ]
    )
    known = exported_sample_names(exposition)
    queried = {
        "flarewatch_probe_runs_total",
        "flarewatch_probe_runs",
        "flarewatch_probe_duration_seconds_bucket",
        "flarewatch_probe_duration_seconds",
        "flarewatch_probe_successes",
    }
    assert {
        "flarewatch_probe_runs",
        "flarewatch_probe_duration_seconds",
        "flarewatch_probe_successes",
    } == queried - known


# --- the dashboard's structure ------------------------------------------------------------


def test_the_dashboard_declares_a_recent_schema_and_a_stable_uid() -> None:
    """schemaVersion 36 or later (data source references by uid) and a fixed uid, so links
    and provisioning updates keep pointing at the same dashboard."""
    doc = load_dashboard()
    assert doc["schemaVersion"] >= 36
    assert doc["uid"] == "flarewatch"


def test_panel_ids_are_unique() -> None:
    """Grafana addresses panels by id (links, edits, alert references); a duplicate id makes
    one panel shadow another."""
    ids = [p["id"] for p in panels(load_dashboard())]
    assert len(ids) == len(set(ids))


def test_panels_have_a_place_on_the_grid_and_do_not_overlap() -> None:
    """Every panel has a gridPos within Grafana's 24 columns, and no two panels share a
    cell: overlapping panels are silently moved around by Grafana."""
    taken: dict[tuple[int, int], int] = {}
    for panel in panels(load_dashboard()):
        pos = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(pos), panel["title"]
        assert pos["w"] > 0, panel["title"]
        assert pos["h"] > 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']!r} overlaps panel {taken[x, y]}"
                taken[x, y] = panel["id"]


def test_every_panel_queries_the_chosen_datasource() -> None:
    """Every panel but rows has the ``${datasource}`` Prometheus data source and targets
    with unique refIds and an expression: the dashboard works on any Prometheus the user
    picks, with nothing left pointing at a data source of the author's machine."""
    want = {"type": "prometheus", "uid": "${datasource}"}
    for panel in panels(load_dashboard()):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == want, panel["title"]
        targets = panel["targets"]
        assert targets, panel["title"]
        assert all(t["datasource"] == want and t["expr"].strip() for t in targets)
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)), panel["title"]
        assert all(refs), panel["title"]


def test_the_variables_pick_datasource_type_and_probe() -> None:
    """A ``datasource`` variable of type prometheus, and ``type`` and ``probe`` variables
    filled from ``label_values`` of the daemon's own series (probe chained on type)."""
    variables = {v["name"]: v for v in load_dashboard()["templating"]["list"]}
    assert ("datasource", "prometheus") == (
        variables["datasource"]["type"],
        variables["datasource"]["query"],
    )
    for name in ("type", "probe"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        selector, label = label_values(variables[name])
        assert label == name
        assert "flarewatch_probe_success" in metric_names(selector)
    assert "$type" in label_values(variables["probe"])[0]


def test_the_dashboard_covers_every_service_and_the_daemon() -> None:
    """A section per service (Workers, Pages, KV, R2, D1, DNS) and for alerts,
    notifications, the API budget and the daemon; quantiles of the probe-duration and
    notification-latency histograms; the service gauges the probes export."""
    doc = load_dashboard()
    rows = {p["title"] for p in doc["panels"] if p["type"] == "row"}
    for section in ("Workers", "Pages", "KV", "R2", "D1", "DNS", "Alerts", "Notifications"):
        assert section in rows
    assert any("API budget" in r for r in rows)
    exprs = [e for _, e in expressions(doc)]
    names = set().union(*(metric_names(e) for e in exprs))
    for wanted in (
        "flarewatch_workers_error_ratio",
        "flarewatch_workers_cpu_time_seconds",
        "flarewatch_pages_deployment_failed",
        "flarewatch_kv_latency_seconds",
        "flarewatch_r2_stored_bytes",
        "flarewatch_d1_size_bytes",
        "flarewatch_dns_propagation_ratio",
        "flarewatch_alerts_firing",
        "flarewatch_silences_active",
        "flarewatch_cloudflare_api_budget_remaining",
        "flarewatch_cloudflare_api_budget_capacity",
        "flarewatch_cloudflare_api_throttled_total",
        "flarewatch_cloudflare_api_giveups_total",
        "flarewatch_outbox_depth",
        "flarewatch_notifications_dead_lettered_total",
        "flarewatch_scheduler_lag_seconds_bucket",
        "flarewatch_config_reloads_total",
    ):
        assert wanted in names, wanted
    for histogram in (
        "flarewatch_probe_duration_seconds",
        "flarewatch_notification_latency_seconds",
    ):
        assert any("histogram_quantile(" in e and f"rate({histogram}_bucket" in e for e in exprs), (
            histogram
        )


def test_the_provisioning_files_point_grafana_at_the_dashboard() -> None:
    """The datasource provisioning defines a Prometheus data source, and the dashboard
    provider loads a directory where the README mounts flarewatch.json."""
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "flarewatch.yml").read_text())
    assert datasources["apiVersion"] == 1
    (source,) = datasources["datasources"]
    assert (source["type"], source["access"]) == ("prometheus", "proxy")
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "flarewatch.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    readme = (ROOT / "deploy" / "grafana" / "README.md").read_text()
    assert provider["options"]["path"] in readme


# --- against the live daemon and a real Prometheus -----------------------------------------


@pytest.fixture
async def running(sim: SimHandle, tmp_path: Path) -> AsyncIterator[Stack]:
    """The daemon with every probe type and alerting, scraped by a real Prometheus."""
    async with stack(sim, tmp_path, with_alerting=True) as started:
        await started.estate.wait_green()
        yield started


async def test_every_metric_the_dashboard_queries_is_exported(running: Stack) -> None:
    """Every metric name in every panel, variable and annotation is a sample name of a
    family the live ``/metrics`` declares: a metric renamed in the daemon (or mistyped in
    the dashboard) fails here."""
    known = exported_sample_names(await running.estate.metrics_text())
    missing = {
        (where, name)
        for where, expr in expressions(load_dashboard())
        for name in metric_names(expr)
        if name not in known
    }
    assert not missing, sorted(missing)


async def test_every_expression_runs_on_a_real_prometheus(running: Stack) -> None:
    """Every expression, with Grafana's variables substituted, is accepted and executed by
    Prometheus over the daemon's real series (400 = syntax error, 422 = it cannot execute,
    e.g. a vector match that is not one-to-one)."""
    prom = running.prom

    async def scraped_thrice() -> bool:
        result = await prom.query('count_over_time(up{job="flarewatch"}[1m])')
        return bool(result) and float(result[0]["value"][1]) >= 3

    await until(scraped_thrice, 30.0)
    failures = []
    for where, expr in expressions(load_dashboard()):
        status, body = await prom.api("query", query=substituted(expr))
        if status != 200 or body.get("status") != "success":
            failures.append(f"{where}: {status} {body.get('error')}")
    assert not failures, "\n".join(failures)


async def test_the_variables_list_every_probe_and_type(running: Stack) -> None:
    """The ``type`` and ``probe`` variables' selectors find every configured probe and type
    in Prometheus, so the dropdowns offer them all."""
    variables = {v["name"]: v for v in load_dashboard()["templating"]["list"]}
    want = {
        "type": set(running.estate.probe_types.values()),
        "probe": set(running.estate.probe_types),
    }

    async def listed() -> bool:
        for name, values in want.items():
            selector, label = label_values(variables[name])
            result = await running.prom.query(substituted(selector))
            if {r["metric"].get(label) for r in result} != values:
                return False
        return True

    await until(listed, 30.0)
