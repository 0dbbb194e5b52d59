"""A real Prometheus, on the shipped scrape config, scraping a daemon that watches the simulator.

The config Prometheus runs is ``deploy/prometheus/prometheus.yml`` as shipped, with only
what a test must change: the target (the daemon's free port instead of 127.0.0.1:9310), the
global scrape, timeout and evaluation intervals (1 s instead of 15 s/10 s/15 s, so the test
takes seconds), the rule glob made absolute (it still loads ``deploy/prometheus/rules/*.yml``
when that file exists) and the Alertmanager address (a closed loopback port instead of
127.0.0.1:9093, where something else may listen on a shared machine).
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SimHandle
from tests.integration.deploy.estate import ROOT, SHIPPED, Stack, stack, until

PROBE_INTERVAL_S = 1.0


@pytest.fixture
async def running(sim: SimHandle, tmp_path: Path) -> AsyncIterator[Stack]:
    """The daemon (every probe type, 1 s interval) and a real Prometheus scraping it."""
    async with stack(sim, tmp_path, interval_s=PROBE_INTERVAL_S) as started:
        yield started


def test_the_shipped_scrape_config_passes_promtool() -> None:
    """``promtool check config`` accepts the file users copy (and the rule files it names,
    when they exist): a config Prometheus refuses would leave flarewatch unscraped."""
    done = subprocess.run(  # noqa: S603 - fixed binary, our own file
        ["promtool", "check", "config", str(SHIPPED)],  # noqa: S607 - promtool from PATH
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_shipped_target_is_the_example_configs_listen_address() -> None:
    """The scrape target is where config/example.yaml makes the daemon listen, under job
    ``flarewatch`` and path ``/metrics``: copying both files must work without edits."""
    example = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    doc = yaml.safe_load(SHIPPED.read_text())
    (job,) = doc["scrape_configs"]
    assert ("flarewatch", "/metrics") == (job["job_name"], job["metrics_path"])
    assert [example["server"]["listen"]] == job["static_configs"][0]["targets"]
    assert doc["rule_files"] == ["rules/*.yml"]
    assert [["127.0.0.1:9093"]] == [
        s["targets"] for m in doc["alerting"]["alertmanagers"] for s in m["static_configs"]
    ]


def test_the_shipped_scrape_interval_sees_every_probe_run() -> None:
    """The scrape interval is at most the example config's shortest probe interval, so no
    probe result is replaced before Prometheus has seen it."""
    example = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    intervals = [_seconds(example["defaults"]["interval"])] + [
        _seconds(p["interval"]) for p in example["probes"] if "interval" in p
    ]
    scrape = _seconds(yaml.safe_load(SHIPPED.read_text())["global"]["scrape_interval"])
    assert scrape <= min(intervals)


def _seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]]


async def test_prometheus_returns_probe_success_for_every_probe(running: Stack) -> None:
    """Through Prometheus's query API, every configured probe has one
    ``flarewatch_probe_success`` series, value 1, and the target is up: what a user's
    dashboards and alerts will read."""
    await running.estate.wait_green()

    async def every_probe_in_prometheus() -> bool:
        result = await running.prom.query("flarewatch_probe_success == 1")
        return len(result) == len(running.estate.probe_types)

    await until(every_probe_in_prometheus, 30.0)
    result = await running.prom.query('flarewatch_probe_success{job="flarewatch"}')
    seen = {(r["metric"]["probe"], r["metric"]["type"]): r["value"][1] for r in result}
    assert dict.fromkeys(running.estate.probe_types.items(), "1") == seen
    assert [running.estate.hostport] == [
        r["metric"]["instance"] for r in await running.prom.query('up{job="flarewatch"} == 1')
    ]
    (target,) = await running.prom.targets()
    assert ("up", "") == (target["health"], target["lastError"])


async def test_every_exported_family_is_ingested(running: Stack) -> None:
    """Every family with samples in the daemon's ``/metrics`` is queryable in Prometheus:
    the exposition parses, and no family is lost on the way (a malformed line would fail
    the whole scrape)."""
    await running.estate.wait_green()
    text = await running.estate.metrics_text()
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}

    async def all_there() -> bool:
        result = await running.prom.query('count by (__name__) ({__name__=~"flarewatch_.+"})')
        return names <= {r["metric"]["__name__"] for r in result}

    await until(all_there, 30.0)


async def test_a_fault_reaches_prometheus_within_two_scrapes(
    sim: SimHandle, running: Stack
) -> None:
    """A D1 outage: the probe run that saw it sets ``flarewatch_probe_success`` to 0, and
    Prometheus stores that 0 no later than the second scrape after that run finished (the
    scrape timestamps are Prometheus's own ``up`` samples). That is the whole delay the
    scrape path adds to an alert."""
    prom, daemon = running.prom, running.estate
    selector = 'flarewatch_probe_success{job="flarewatch",probe="main-db"}'

    async def green_in_prometheus() -> bool:
        return [r["value"][1] for r in await prom.query(selector)] == ["1"]

    await until(green_in_prometheus, 30.0)
    await sim.control("POST", "/__sim/faults", json={"service": "d1", "outage": True})

    finished: list[float] = []

    async def daemon_sees_it() -> bool:
        families = {f.name: f for f in text_string_to_metric_families(await daemon.metrics_text())}
        values = {
            name: {s.labels.get("probe"): s.value for s in families[name].samples}
            for name in ("flarewatch_probe_success", "flarewatch_probe_last_run_timestamp_seconds")
        }
        if values["flarewatch_probe_success"].get("main-db") != 0.0:
            return False
        finished.append(values["flarewatch_probe_last_run_timestamp_seconds"]["main-db"])
        return True

    await until(daemon_sees_it, 10 * PROBE_INTERVAL_S)
    (run_finished,) = finished

    async def red_in_prometheus() -> bool:
        return [r["value"][1] for r in await prom.query(selector)] == ["0"]

    await until(red_in_prometheus, 30.0)
    now = run_finished + 30.0
    ((_, samples),) = await prom.series_samples(selector, at=now, window_s=120)
    first_zero = min(t for t, v in samples if v == "0")
    ((_, ups),) = await prom.series_samples('up{job="flarewatch"}', at=now, window_s=120)
    scrapes = sorted(t for t, v in ups if v == "1")
    between = [t for t in scrapes if run_finished < t <= first_zero]
    assert len(between) <= 2, (
        f"run finished at {run_finished:.3f}; first 0 stored at {first_zero:.3f}, "
        f"after scrapes {between}"
    )
    # Every scrape stored main-db's value: the 0 is the first scrape's after the 1s.
    assert all(v == "1" for t, v in samples if t < first_zero)
