"""The kv probe's pure parts: judging the canary and the analytics, scheduling, settings."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from probes.base import Reason, Status
from probes.checks import Unavailable
from probes.kv import Canary, KvProbe, KvSettings, canary_due, evaluate, judge_canary

STEPS = {"write": 120.0, "read": 40.0, "delete": 60.0}


def settings(**overrides: Any) -> KvSettings:
    """Settings of a kv probe on SESSIONS."""
    entry = {"name": "sessions-kv", "type": "kv", "namespace": "SESSIONS"}
    return KvSettings.model_validate({**entry, **overrides})


def judge(**overrides: Any) -> Any:
    """evaluate() with a healthy canary that ran now and no analytics, overridden."""
    args: dict[str, Any] = {
        "canary": judge_canary(STEPS, 2.0, 5.0, 0.0),
        "canary_ran": True,
        "canary_age_s": 0.0,
        "operations": None,
        "unavailable": None,
        "window_s": 300.0,
    }
    args.update(overrides)
    return evaluate(settings(**args.pop("settings", {})), **args)


@pytest.mark.parametrize(
    ("warn", "crit", "status", "reason"),
    [
        (2.0, 5.0, Status.OK, None),
        (0.1, 5.0, Status.WARN, None),
        (0.05, 0.1, Status.CRIT, Reason.ASSERTION),
    ],
)
def test_canary_is_judged_by_its_slowest_step(
    warn: float, crit: float, status: Status, reason: Reason | None
) -> None:
    """The 120 ms write decides: under warn ok, over warn warn, over crit an assertion."""
    canary = judge_canary(STEPS, warn, crit, 7.0)
    assert (status, reason, 7.0) == (canary.status, canary.reason, canary.finished_at)
    assert 220.0 == canary.round_trip_ms
    assert canary.message.startswith("canary round trip 220 ms (write 120, read 40, delete 60)")


def test_slow_step_is_named_in_the_message() -> None:
    """A warn says which step was over which threshold."""
    assert "write over 100 ms" in judge_canary(STEPS, 0.1, 5.0, 0.0).message


@pytest.mark.parametrize(
    ("last", "now", "due"),
    [
        (None, 0.0, True),
        (Canary(100.0, STEPS, Status.OK), 399.0, False),
        (Canary(100.0, STEPS, Status.OK), 400.0, True),
        (Canary(100.0, STEPS, Status.WARN), 150.0, False),
        (Canary(100.0, {}, Status.CRIT, Reason.API_ERROR), 101.0, True),
    ],
)
def test_canary_runs_first_after_its_interval_and_while_failing(
    last: Canary | None, now: float, due: bool
) -> None:
    """First run, every 300 s after, and every run while it fails (to see recovery)."""
    assert due == canary_due(last, now, 300.0)


def test_canary_values_and_latency_when_it_ran() -> None:
    """A canary that ran now gives its steps, round trip and the result's latency."""
    result = judge().result
    assert Status.OK == result.status
    assert 220.0 == result.latency_ms
    assert {
        "canary_write_ms": 120.0,
        "canary_read_ms": 40.0,
        "canary_delete_ms": 60.0,
        "canary_round_trip_ms": 220.0,
        "canary_ok": 1.0,
        "canary_age_s": 0.0,
    }.items() <= dict(result.values).items()


def test_carried_canary_says_its_age_and_has_no_latency() -> None:
    """Between canaries the last one is reported with its age; latency is only for fresh ones."""
    result = judge(canary_ran=False, canary_age_s=90.0).result
    assert result.latency_ms is None
    assert 90.0 == result.values["canary_age_s"]
    assert "(90 s ago)" in result.message


def test_failed_canary_gives_the_reason() -> None:
    """A failed canary is crit with its reason and canary_ok 0; finished steps are kept."""
    failed = Canary(0.0, {"write": 30.0}, Status.CRIT, Reason.NOT_FOUND, "canary read: HTTP 404")
    result = judge(canary=failed).result
    assert (Status.CRIT, Reason.NOT_FOUND) == (result.status, result.reason)
    assert 0.0 == result.values["canary_ok"]
    assert 30.0 == result.values["canary_write_ms"]
    assert "canary_round_trip_ms" not in result.values


@pytest.mark.parametrize(
    ("p99", "status", "reason"),
    [(50.0, Status.OK, None), (250.0, Status.WARN, None), (1500.0, Status.CRIT, Reason.ASSERTION)],
)
def test_operation_p99_is_judged_against_latency_thresholds(
    p99: float, status: Status, reason: Reason | None
) -> None:
    """p99 over latency_warn (200 ms) warns, over latency_crit (1 s) is crit."""
    ops = {"sum.requests": 900.0, "quantiles.latencyMsP50": 9.0, "quantiles.latencyMsP99": p99}
    verdict = judge(operations=ops)
    assert (status, reason) == (verdict.result.status, verdict.result.reason)
    assert (status is not Status.OK) == verdict.latency_high
    assert {"operations": 900.0, "latency_p50_ms": 9.0, "latency_p99_ms": p99}.items() <= dict(
        verdict.result.values
    ).items()
    assert "over 900 operations in 5 min" in verdict.result.message


def test_no_operations_means_no_latency_values() -> None:
    """An idle namespace has no quantiles: operations 0, latency values absent, still ok."""
    result = judge(operations={"sum.requests": 0.0}).result
    assert Status.OK == result.status
    assert 0.0 == result.values["operations"]
    assert "latency_p99_ms" not in result.values
    assert "no operations in the last 5 min" in result.message


def test_unavailable_analytics_warn_with_their_reason() -> None:
    """Latency that cannot be read is a warn with GraphQL's reason, next to a good canary."""
    result = judge(unavailable=Unavailable(Reason.RATE_LIMITED, "HTTP 429")).result
    assert (Status.WARN, Reason.RATE_LIMITED) == (result.status, result.reason)
    assert "operation latency unavailable: HTTP 429" in result.message


def test_canary_reason_wins_over_analytics() -> None:
    """When both fail, the canary's reason is the run's reason."""
    failed = Canary(0.0, {}, Status.CRIT, Reason.AUTH, "canary write: HTTP 403")
    result = judge(canary=failed, unavailable=Unavailable(Reason.AUTH, "x")).result
    assert Reason.AUTH == result.reason


def test_slow_canary_or_timeout_is_high_latency() -> None:
    """Over canary_warn, or a canary that timed out, asks for the kv_latency_high line."""
    assert judge(settings={"canary_warn": "100ms"}).latency_high
    timed_out = Canary(0.0, {"write": 10.0}, Status.CRIT, Reason.TIMEOUT, "canary read: ...")
    assert judge(canary=timed_out).latency_high
    assert not judge().latency_high


def test_a_carried_slow_canary_is_not_logged_again() -> None:
    """The slow round trip was logged when it ran; between canaries it is not news."""
    slow = judge_canary(STEPS, 0.1, 5.0, 0.0)
    verdict = judge(
        settings={"canary_warn": "100ms"}, canary=slow, canary_ran=False, canary_age_s=30.0
    )
    assert Status.WARN == verdict.result.status
    assert not verdict.latency_high


def test_without_canary_only_analytics_count() -> None:
    """canary: false publishes no canary values and no latency."""
    result = judge(canary=None, operations={"sum.requests": 5.0}).result
    assert result.latency_ms is None
    assert not any(name.startswith("canary_") for name in result.values)


def test_default_canary_key_is_per_probe() -> None:
    """Each probe writes its own key, so two probes of one namespace never collide."""
    assert "__flarewatch_canary__/sessions-kv" == settings().key
    assert "health/check" == settings(canary_key="health/check").key


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"latency_warn": "2s", "latency_crit": "1s"}, "latency_warn must not be above"),
        ({"canary_warn": "6s"}, "canary_warn must not be above"),
        ({"canary_key": ".."}, "cannot be '.' or '..'"),
        ({"canary_key": "k" * 513}, "at most 512 characters"),
        ({"namespace": ""}, "at least 1 character"),
        ({"canary_interval": "soon"}, "is not a duration"),
        ({"latency": "1s"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused_with_a_hint(overrides: dict[str, Any], message: str) -> None:
    """Inconsistent or misspelt settings fail config validation, saying what is wrong."""
    with pytest.raises(ValidationError, match=message):
        settings(**overrides)


def test_metrics_map_declared_values_with_bounded_labels() -> None:
    """Every metric maps a declared value; labels are constant quantiles and steps."""
    assert set(KvProbe.metrics) <= KvProbe.values
    assert {"latency_p50_ms", "latency_p99_ms", "operations"} <= KvProbe.values
    labels = {tuple(spec.labels.items()) for spec in KvProbe.metrics.values()}
    assert (("quantile", "0.99"),) in labels
    assert (("step", "round_trip"),) in labels
    assert all(spec.name.startswith("kv_") for spec in KvProbe.metrics.values())
