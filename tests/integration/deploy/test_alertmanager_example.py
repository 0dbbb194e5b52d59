"""deploy/alertmanager/alertmanager.yml against a real Alertmanager 0.25: amtool accepts it,
and alerts from flarewatch's own ``alertmanager`` notifier reach the receivers its route tree
names (critical → PagerDuty and Slack, warning → Slack), with the critical-over-warning
inhibit rule applied by probe.

amtool and prometheus-alertmanager are required: a missing binary fails these tests.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerting.notifiers import AlertmanagerConfig, AlertmanagerNotifier, NotifierContext, Outcome
from tests.integration.alerting.conftest import (
    AlertmanagerProcess,
    start_alertmanager,
    stop_alertmanager,
    wait_ready,
)
from tests.integration.alerting.receivers import Receiver, eventually, pagerduty_ok, slack_ok
from tests.unit.alerting.notifier_samples import alert, notification

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def binary(*names: str) -> str:
    """The first of ``names`` on PATH; the test fails when none is (CI installs them)."""
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    pytest.fail(f"{names[0]} is not installed: install Debian's prometheus-alertmanager")


def test_amtool_accepts_the_shipped_config() -> None:
    """`amtool check-config` is what users run before a reload; a refused file keeps the old."""
    done = subprocess.run(  # noqa: S603 - amtool with our own file
        [binary("amtool"), "check-config", str(SHIPPED)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == done.returncode, done.stdout + done.stderr


def local_config(workdir: Path, slack: Receiver, pagerduty: Receiver) -> Path:
    """The shipped config with only the secrets' files and the receivers' URLs pointed at
    local sinks, and the group timers shortened so the test takes seconds."""
    doc: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    (workdir / "slack-webhook-url").write_text(slack.url("/services/T0/B0/x") + "\n")
    (workdir / "pagerduty-routing-key").write_text("R0UT1NGk3yR0UT1NGk3yR0UT1NGk3y00\n")
    doc["global"]["slack_api_url_file"] = str(workdir / "slack-webhook-url")
    doc["route"].update(group_wait="0s", group_interval="1s")
    for receiver in doc["receivers"]:
        for pd in receiver.get("pagerduty_configs", []):
            pd["routing_key_file"] = str(workdir / "pagerduty-routing-key")
            pd["url"] = pagerduty.url("/v2/enqueue")
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
async def sinks() -> AsyncIterator[tuple[Receiver, Receiver]]:
    """A local Slack and a local PagerDuty."""
    slack = await Receiver(slack_ok).start()
    pagerduty = await Receiver(pagerduty_ok).start()
    try:
        yield slack, pagerduty
    finally:
        await slack.stop()
        await pagerduty.stop()


@pytest.fixture
async def shipped_alertmanager(
    tmp_path: Path, sinks: tuple[Receiver, Receiver]
) -> AsyncIterator[AlertmanagerProcess]:
    """Alertmanager on the shipped config (secrets and sinks local), stopped afterwards."""
    am_binary = binary("prometheus-alertmanager", "alertmanager")
    am = start_alertmanager(am_binary, tmp_path, local_config(tmp_path, *sinks))
    try:
        await wait_ready(am)
        yield am
    finally:
        stop_alertmanager(am)


async def test_flarewatch_alerts_route_by_severity_and_inhibit_by_probe(
    shipped_alertmanager: AlertmanagerProcess, sinks: tuple[Receiver, Receiver]
) -> None:
    """A critical pages and shows in Slack; a warning of another probe goes to Slack only;
    the warning of the probe whose critical fires is muted. Labels are what flarewatch's
    notifier sends (alertname = the rule, severity, probe, probe_type, the probe's labels)."""
    slack, pagerduty = sinks
    config = AlertmanagerConfig.model_validate(
        {"type": "alertmanager", "urls": [shipped_alertmanager.url]}
    )
    notifier = AlertmanagerNotifier(
        "am", config, NotifierContext(external_url="http://flarewatch.test", clock=time.time)
    )
    now = time.time()
    critical = alert("api", rule="worker_error_ratio_critical", severity="critical")
    try:
        sent = await notifier.send(notification([critical], at=now))
        assert Outcome.DELIVERED == sent.outcome, sent.detail
        (paged,) = await pagerduty.wait_for(1)
        assert "worker_error_ratio_critical on api" in paged.json()["payload"]["summary"]
        muted = alert("api", rule="worker_error_ratio_warning", severity="warning")
        other = alert("images", rule="worker_error_ratio_warning", severity="warning")
        sent = await notifier.send(notification([critical, muted, other], at=now + 1))
        assert Outcome.DELIVERED == sent.outcome, sent.detail
        await eventually(lambda: len(titles(slack)) >= 2)
    finally:
        await notifier.close()
    assert any("worker_error_ratio_critical on api" in t for t in titles(slack))
    assert any("worker_error_ratio_warning on images" in t for t in titles(slack))
    assert not any("worker_error_ratio_warning on api" in t for t in titles(slack))
    assert 1 == len(pagerduty.requests)
    listed: list[Any] = await shipped_alertmanager.alerts()
    states = {(a["labels"]["alertname"], a["labels"]["probe"]): a["status"] for a in listed}
    assert states[("worker_error_ratio_warning", "api")]["inhibitedBy"]
    assert "suppressed" == states[("worker_error_ratio_warning", "api")]["state"]
    assert "active" == states[("worker_error_ratio_warning", "images")]["state"]


def titles(slack: Receiver) -> list[str]:
    """The titles of the Slack messages received so far."""
    return [r.json()["attachments"][0]["title"] for r in slack.requests]
