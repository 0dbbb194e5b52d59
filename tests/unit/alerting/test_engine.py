"""The whole engine in one pure round: rules, lifecycle, silences, inhibition, grouping."""

from __future__ import annotations

from typing import Any

from alerting.engine import EngineConfig, EngineState, RoundResult, evaluate_round, flush
from alerting.engine import next_wakeup as engine_wakeup
from alerting.matchers import parse_matchers
from alerting.model import Observation
from alerting.routing import load_routes
from alerting.rules import EvaluationCache, load_rules
from alerting.silences import Silence

RULES: list[dict[str, Any]] = [
    {
        "name": "probe_down",
        "condition": 'status == "crit"',
        "severity": "critical",
        "summary": "$probe is down",
    },
    {
        "name": "api_token_invalid",
        "select": {"types": ["api"]},
        "condition": 'reason == "auth"',
        "severity": "critical",
        "summary": "the API token is invalid",
    },
]
ROUTES: dict[str, Any] = {
    "receivers": ["slack"],
    "group_by": ["zone"],
    "group_wait": "30s",
    "group_interval": "5m",
    "repeat_interval": "1h",
}
CONFIG = EngineConfig(
    rules=load_rules(RULES), routes=load_routes(ROUTES, known_notifiers={"slack"})
)


def probe(name: str, status: str, at: float, **labels: str) -> Observation:
    """A Workers probe in zone spacevision.app that needs the API."""
    return Observation(
        probe=name,
        probe_type="workers",
        status=status,  # type: ignore[arg-type]
        at=at,
        labels={"zone": "spacevision.app", "needs_api": "true", **labels},
    )


def run(
    rounds: list[tuple[float, list[Observation]]], silences: tuple[Silence, ...] = ()
) -> list[RoundResult]:
    """Run rounds (with a flush at each owed wake-up in between) and return every result."""
    state = EngineState()
    cache = EvaluationCache()
    results = []
    for now, observations in rounds:
        wake = engine_wakeup(state)
        if wake is not None and wake < now:
            flushed = flush(CONFIG, state, silences, wake)
            results.append(flushed)
            state = flushed.state
        result = evaluate_round(CONFIG, state, observations, silences, now, cache)
        results.append(result)
        state = result.state
    return results


def sent(results: list[RoundResult]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Per notification: the probes firing and the probes resolved."""
    return [
        (
            tuple(a.labels["probe"] for a in n.firing),
            tuple(a.labels["probe"] for a in n.resolved),
        )
        for r in results
        for n in r.notifications
    ]


def test_an_incident_is_one_message_then_one_resolve() -> None:
    """Ten Workers going down together make one grouped message; recovery one resolve."""
    names = [f"w{i}" for i in range(10)]
    rounds = [
        (0.0, [probe(n, "crit", 0.0) for n in names]),
        (40.0, [probe(n, "crit", 40.0) for n in names]),
        (400.0, [probe(n, "ok", 400.0) for n in names]),
        (700.0, [probe(n, "ok", 700.0) for n in names]),
    ]
    assert [(tuple(sorted(names)), ()), ((), tuple(sorted(names)))] == sorted_sent(run(rounds))


def sorted_sent(results: list[RoundResult]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """``sent`` with probe names sorted inside each notification."""
    return [(tuple(sorted(f)), tuple(sorted(r))) for f, r in sent(results)]


def test_a_silence_mutes_its_alerts_and_says_why() -> None:
    """A silenced alert sends nothing, and the round says which silence muted it."""
    silence = Silence(
        id="deploy-42",
        matchers=parse_matchers('probe="w1"'),
        starts_at=0.0,
        ends_at=3600.0,
        created_by="deploy bot",
        comment="rolling out api v3",
        created_at=0.0,
    )
    rounds = [(0.0, [probe("w1", "crit", 0.0)]), (40.0, [probe("w1", "crit", 40.0)])]
    results = run(rounds, (silence,))
    assert [] == sent(results)
    assert {"silence:deploy-42"} == set(results[-1].muted.values())


def test_an_invalid_token_inhibits_what_needs_the_api() -> None:
    """With the token invalid, the Workers alert that needs the API is inhibited, not sent.

    The API probe's own alerts (token invalid, probe down) are sent, in one message.
    """
    token = Observation(probe="cf-api", probe_type="api", status="crit", at=0.0, reason="auth")
    rounds = [
        (0.0, [token, probe("w1", "crit", 0.0)]),
        (40.0, [token, probe("w1", "crit", 40.0)]),
    ]
    results = run(rounds)
    fired = [sorted(a.rule for a in n.firing) for r in results for n in r.notifications]
    assert [["api_token_invalid", "probe_down"]] == fired
    assert all(v.startswith("inhibited_by:") for v in results[-1].muted.values())
    assert 1 == len(results[-1].muted)
