"""From the engine's pure round to Slack and PagerDuty receivers, through the outbox: what
the engine emits is what the notifiers deliver."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alerting.engine import EngineConfig, EngineState, evaluate_round, flush, next_wakeup
from alerting.model import Observation
from alerting.notifiers import (
    Notifier,
    NotifierContext,
    PagerDutyConfig,
    PagerDutyNotifier,
    SlackConfig,
    SlackNotifier,
)
from alerting.outbox import Outbox, RetryPolicy
from alerting.routing import load_routes
from alerting.rules import EvaluationCache, load_rules
from tests.integration.alerting.conftest import ReceiverFactory
from tests.integration.alerting.receivers import (
    Answer,
    eventually,
    pagerduty_ok,
    running,
    slack_ok,
)

RULES: list[dict[str, Any]] = [
    {
        "name": "worker_down",
        "select": {"types": ["workers"]},
        "condition": 'status == "crit"',
        "severity": "critical",
        "summary": "Worker $probe is down",
        "runbook_url": "https://runbooks.example/worker-down",
    }
]
ROUTES: dict[str, Any] = {
    "receivers": ["slack", "pagerduty"],
    "group_by": ["zone"],
    "group_wait": "0s",
    "group_interval": "1m",
    "repeat_interval": "1h",
}
CONFIG = EngineConfig(
    rules=load_rules(RULES), routes=load_routes(ROUTES, known_notifiers={"slack", "pagerduty"})
)
WORKERS = ("api", "image-processor", "auth")
KEY = "e2eR0UT1NGk3yR0UT1NGk3yR0UT1NG00"


def observe(status: str, at: float) -> list[Observation]:
    """Every Worker probe in zone spacevision.app with this status."""
    return [
        Observation(
            probe=name,
            probe_type="workers",
            status=status,  # type: ignore[arg-type]
            at=at,
            labels={"zone": "spacevision.app"},
        )
        for name in WORKERS
    ]


async def test_an_incident_reaches_slack_once_and_pagerduty_per_alert(
    receivers: ReceiverFactory, tmp_path: Path
) -> None:
    """Three Workers down → one grouped Slack message and three PagerDuty triggers; recovery
    → one resolved Slack message and three resolves with the same keys; Slack answering 429
    once on the way changes nothing but the timing."""
    slack, pagerduty = await receivers(slack_ok), await receivers(pagerduty_ok)
    slack.plan(Answer(status=429, text="rate_limited", headers={"Retry-After": "0"}))
    context = NotifierContext(external_url="http://flarewatch.test")
    notifiers: dict[str, Notifier] = {
        "slack": SlackNotifier(
            "slack",
            SlackConfig.model_validate(
                {"type": "slack", "webhook_url": slack.url("/services/T/B/e2e-secret-hook")}
            ),
            context,
        ),
        "pagerduty": PagerDutyNotifier(
            "pagerduty",
            PagerDutyConfig.model_validate(
                {"type": "pagerduty", "routing_key": KEY, "url": pagerduty.url("/v2/enqueue")}
            ),
            context,
        ),
    }
    t0 = time.time()
    cache = EvaluationCache()
    policy = RetryPolicy(initial_delay=0.01, max_delay=0.05)
    async with await Outbox.open(tmp_path, policy=policy) as outbox, running(outbox, notifiers):
        fired = evaluate_round(CONFIG, EngineState(), observe("crit", t0), (), t0, cache)
        await outbox.fanout(fired.notifications)
        await eventually(lambda: len(pagerduty.requests) == 3 and len(slack.delivered()) == 1)

        cleared = evaluate_round(CONFIG, fired.state, observe("ok", t0 + 30), (), t0 + 30, cache)
        assert () == cleared.notifications  # the resolve waits for the group boundary
        wake = next_wakeup(cleared.state)
        assert wake == t0 + 60
        resolved = flush(CONFIG, cleared.state, (), wake)
        await outbox.fanout(resolved.notifications)
        await eventually(lambda: len(pagerduty.requests) == 6 and len(slack.delivered()) == 2)

    firing_message, resolved_message = (r.json() for r in slack.delivered())
    assert firing_message["text"].startswith("🔴 FIRING:3 · zone=spacevision.app")
    assert resolved_message["text"].startswith("✅ RESOLVED:3 · zone=spacevision.app")
    events = [r.json() for r in pagerduty.requests]
    assert ["trigger"] * 3 + ["resolve"] * 3 == [e["event_action"] for e in events]
    assert {e["dedup_key"] for e in events[:3]} == {e["dedup_key"] for e in events[3:]}
    assert {"Worker api is down", "Worker auth is down", "Worker image-processor is down"} == {
        e["payload"]["summary"] for e in events[:3]
    }
