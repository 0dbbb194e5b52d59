"""The workers probe's pure parts: settings, API error mapping, analytics thresholds, messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from cfapi import (
    ApiError,
    AuthError,
    CloudflareError,
    GraphqlError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
)
from cfapi.errors import ErrorDetail, GraphqlErrorItem
from cfapi.workers import Deployment
from probes.base import Reason, Status
from probes.httpcheck import Finding, HttpCheck, HttpOutcome
from probes.registry import builtin_registry
from probes.workers import (
    ApiTimeout,
    InvocationStats,
    WorkersProbe,
    WorkersSettings,
    analytics_findings,
    api_finding,
    api_problem,
    api_reason,
    deployment_change,
    describe_deployment,
    human_age,
)

NOW = 1_800_000_000.0


def settings(**kwargs: Any) -> WorkersSettings:
    """A workers entry as the config would validate it."""
    return WorkersSettings.model_validate(
        {"name": "api-worker", "type": "workers", "script": "api", **kwargs}
    )


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (AuthError("x", status=403), Reason.AUTH),
        (PermissionDenied("x", status=403), Reason.AUTH),
        (RateLimited("x", status=429, retry_after=30), Reason.RATE_LIMITED),
        (RateLimited("x", local=True), Reason.RATE_LIMITED),
        (NotFound("x", status=404), Reason.NOT_FOUND),
        (ServerError("x", status=503), Reason.API_ERROR),
        (ApiError("x", status=400), Reason.API_ERROR),
        (GraphqlError("x", status=200), Reason.API_ERROR),
        (TransportError("x", timeout=True), Reason.TIMEOUT),
        (TransportError("x"), Reason.UNREACHABLE),
        (ApiTimeout("Cloudflare API did not answer within 9 s"), Reason.TIMEOUT),
    ],
)
def test_api_errors_map_to_reasons(error: CloudflareError | ApiTimeout, reason: Reason) -> None:
    """Every cfapi failure has one reason, the same one every Cloudflare probe gives it."""
    assert reason == api_reason(error)


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            ServerError(
                "server error",
                status=503,
                errors=(ErrorDetail(10013, "Service unavailable"),),
                method="GET",
                path="/accounts/0123abcd/workers/scripts/api/deployments",
            ),
            "Cloudflare API HTTP 503: [10013] Service unavailable",
        ),
        (
            RateLimited("rate limited", status=429, retry_after=30.0),
            "rate limited by the Cloudflare API, retry after 30 s",
        ),
        (RateLimited("budget", local=True), "flarewatch's Cloudflare API budget is spent"),
        (TransportError("t", timeout=True), "the Cloudflare API did not answer in time"),
        (TransportError("refused"), "cannot reach the Cloudflare API"),
        (
            GraphqlError("g", graphql_errors=(GraphqlErrorItem("budget depleted"),)),
            "GraphQL: budget depleted",
        ),
    ],
)
def test_api_problems_read_well_without_paths(
    error: CloudflareError | ApiTimeout, text: str
) -> None:
    """Messages say what failed in words, without the request path (it holds the account id)."""
    assert text == api_problem(error)


def test_analytics_row_is_converted_from_microseconds() -> None:
    """Cloudflare reports CPU and wall time in µs; the values are in ms as docs/rules.md says."""
    row = {
        "sum.requests": 2000.0,
        "sum.errors": 30.0,
        "quantiles.cpuTimeP50": 1800.0,
        "quantiles.cpuTimeP99": 7500.0,
        "quantiles.wallTimeP50": 20000.0,
        "quantiles.wallTimeP99": 60000.0,
    }
    assert {
        "requests": 2000.0,
        "errors": 30.0,
        "error_ratio": 0.015,
        "cpu_time_p50_ms": 1.8,
        "cpu_time_p99_ms": 7.5,
        "wall_time_p50_ms": 20.0,
        "wall_time_p99_ms": 60.0,
    } == InvocationStats.from_row(row).values()


def test_no_analytics_row_means_an_idle_worker() -> None:
    """No row: no requests in the window, so ratio 0 and no quantiles (not a failure)."""
    assert {"requests": 0.0, "errors": 0.0, "error_ratio": 0.0} == (
        InvocationStats.from_row(None).values()
    )


@pytest.mark.parametrize(
    ("requests", "errors", "expected"),
    [
        (1000.0, 10.0, []),
        (1000.0, 20.0, [(Status.WARN, "error ratio 2.0% ≥ 2.0% (20 of 1000 requests)")]),
        (1000.0, 60.0, [(Status.CRIT, "error ratio 6.0% ≥ 5.0% (60 of 1000 requests)")]),
        (99.0, 99.0, []),
        (0.0, 0.0, []),
    ],
)
def test_error_ratio_thresholds_need_enough_requests(
    requests: float, errors: float, expected: list[tuple[Status, str]]
) -> None:
    """Warn from 2 %, crit from 5 %, and only from 100 requests: 1 of 3 failing is noise."""
    stats = InvocationStats(requests=requests, errors=errors)
    findings = analytics_findings(stats, settings(), 30_000.0)
    assert expected == [(f.status, f.text) for f in findings]
    assert all(f.reason is Reason.ASSERTION for f in findings)


def test_cpu_near_the_limit_warns() -> None:
    """p99 CPU at 80 % of the limit warns before requests start failing with error 1102."""
    stats = InvocationStats(requests=10.0, errors=0.0, cpu_p50_ms=3.0, cpu_p99_ms=8.5)
    findings = analytics_findings(stats, settings(), 10.0)
    assert [(Status.WARN, "CPU p99 8.5 ms is 85% of the 10 ms limit")] == [
        (f.status, f.text) for f in findings
    ]


def test_cpu_well_under_the_limit_is_quiet() -> None:
    """Below cpu_warn_ratio of the limit nothing is said."""
    stats = InvocationStats(requests=10.0, errors=0.0, cpu_p99_ms=7.9)
    assert [] == analytics_findings(stats, settings(), 10.0)


def test_deployment_message_names_the_version_and_age() -> None:
    """The message says which version serves, so a bad deploy is visible at a glance."""
    deployment = Deployment.parse(
        {
            "id": "d1",
            "created_on": "2027-01-08T08:00:00Z",
            "versions": [{"version_id": "55ab846d-66a1-8208-84a2-d9196f380951", "percentage": 100}],
        }
    )
    now = datetime.fromisoformat("2027-01-15T08:00:00Z").timestamp()
    assert "version 55ab846d, deployed 7 d ago" == describe_deployment(deployment, now)


def test_gradual_deployment_names_every_share() -> None:
    """A split deployment lists each version's share of traffic."""
    deployment = Deployment.parse(
        {
            "id": "d2",
            "versions": [
                {"version_id": "aaaaaaaa-1", "percentage": 90},
                {"version_id": "bbbbbbbb-2", "percentage": 10},
            ],
        }
    )
    assert "versions aaaaaaaa 90 %, bbbbbbbb 10 %" == describe_deployment(deployment, NOW)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0 s"), (59.6, "60 s"), (150.0, "2 min"), (7200.0, "2 h"), (3 * 86400.0, "3 d")],
)
def test_ages_read_like_people_say_them(seconds: float, text: str) -> None:
    """Ages in messages are rounded to one unit people use."""
    assert text == human_age(seconds)


def test_url_and_urls_make_checks_with_shared_or_own_options() -> None:
    """Top-level HTTP keys apply to plain URLs; a mapping in ``urls`` is a check of its own."""
    entry = settings(
        url="https://api.example.com/health",
        urls=[
            "https://api.example.com/v1/ping",
            {"url": "https://api.example.com/", "expected_status": 404},
        ],
        json={"status": "ok"},
    )
    checks = entry.checks()
    assert [
        "https://api.example.com/health",
        "https://api.example.com/v1/ping",
        "https://api.example.com/",
    ] == [url for url, _ in checks]
    assert {"status": "ok"} == checks[1][1].json_fields
    assert isinstance(checks[2][1], HttpCheck)
    assert ((404, 404),) == checks[2][1].expected_status
    assert {} == checks[2][1].json_fields


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ({"script": ""}, "script"),
        ({"error_ratio_warn": 0.1, "error_ratio_crit": 0.05}, "error_ratio_warn"),
        ({"error_ratio_crit": 1.5}, "error_ratio_crit"),
        ({"cpu_limit": "0s"}, "cpu_limit"),
        ({"url": "api.example.com/health"}, "absolute http"),
        ({"urls": [{"expected_status": 200}]}, "url"),
        ({"scirpt": "api"}, "scirpt"),
    ],
)
def test_bad_workers_settings_are_config_errors(entry: dict[str, Any], complaint: str) -> None:
    """Misspelt keys, impossible thresholds and bad URLs are refused at load."""
    with pytest.raises(ValidationError, match=complaint):
        settings(**entry)


def test_cpu_limit_setting_wins_over_the_default() -> None:
    """``cpu_limit: 10ms`` (Workers Free) is what the probe compares CPU time with."""
    probe = WorkersProbe(settings(cpu_limit="10ms"))
    assert 10.0 == probe.cpu_limit_ms


def test_default_cpu_limit_is_the_paid_plans_30_seconds() -> None:
    """Without a setting or ``limits.cpu_ms`` on the script, Workers Paid's 30 s applies."""
    assert 30_000.0 == WorkersProbe(settings()).cpu_limit_ms


def _ok_outcome() -> HttpOutcome:
    return HttpOutcome("api.example.com/health", "200 in 5 ms", 200, 5.0)


def _bad_outcome() -> HttpOutcome:
    finding = Finding(Status.CRIT, Reason.HTTP_STATUS, "expected status 200-399")
    return HttpOutcome("api.example.com/health", "502 in 5 ms", 502, 5.0, None, (finding,))


@pytest.mark.parametrize(
    ("error", "outcomes", "status"),
    [
        (ServerError("x", status=503), [_ok_outcome()], Status.WARN),
        (ServerError("x", status=503), [], Status.CRIT),
        (ServerError("x", status=503), [_bad_outcome()], Status.CRIT),
        (RateLimited("x", status=429, retry_after=30.0), [_ok_outcome()], Status.WARN),
        (AuthError("x", status=403), [_ok_outcome()], Status.CRIT),
        (NotFound("x", status=404), [_ok_outcome()], Status.CRIT),
    ],
)
def test_api_failure_severity_depends_on_what_the_urls_show(
    error: CloudflareError, outcomes: list[HttpOutcome], status: Status
) -> None:
    """An API outage while the Worker answers is a warning (only visibility is lost); without
    a passing URL check it is crit; a refused token or a deleted script is always crit."""
    assert status == api_finding(error, outcomes, "gone").status


def test_values_include_the_rule_contract() -> None:
    """docs/rules.md names what workers probes publish; the type declares all of it."""
    contract = {
        "requests",
        "errors",
        "error_ratio",
        "cpu_time_p50_ms",
        "cpu_time_p99_ms",
        "cpu_limit_ms",
    }
    assert contract <= WorkersProbe.values
    assert "workers" in builtin_registry()
    assert set(WorkersProbe.metrics) <= WorkersProbe.values


def _deployment(
    dep_id: str, *versions: tuple[str, float], message: str | None = None
) -> Deployment:
    annotations = {"workers/message": message} if message else {}
    return Deployment.parse(
        {
            "id": dep_id,
            "annotations": annotations,
            "versions": [{"version_id": v, "percentage": p} for v, p in versions],
        }
    )


def test_new_deployment_is_an_event() -> None:
    """A new deployment is told once, old and new versions named, with its message."""
    before = _deployment("d1", ("aaaaaaaa-1", 100))
    after = _deployment("d2", ("bbbbbbbb-2", 90), ("aaaaaaaa-1", 10), message="canary")
    event = deployment_change(before, after, "api")
    assert event is not None
    assert "workers_deployment_changed" == event.kind
    assert "Worker api now serves bbbbbbbb 90 %, aaaaaaaa 10 % (was aaaaaaaa): canary" == (
        event.message
    )
    assert "d2" == event.fields["deployment_id"]


def test_first_sight_and_same_deployment_are_not_events() -> None:
    """Starting the daemon or polling an unchanged Worker says nothing."""
    dep = _deployment("d1", ("aaaaaaaa-1", 100))
    assert deployment_change(None, dep, "api") is None
    assert deployment_change(dep, dep, "api") is None


@pytest.mark.parametrize(
    ("requests", "text"),
    [
        (0.0, "0 requests in 5 min"),
        (1.0, "1 request in 5 min, 0.0% errors"),
        (2000.0, "2000 requests in 5 min, 1.5% errors"),
    ],
)
def test_analytics_summary_reads_naturally(requests: float, text: str) -> None:
    """The message's analytics part: requests in the window and the error share."""
    stats = InvocationStats(requests=requests, errors=requests * 0.015 if requests > 1 else 0.0)
    assert text == stats.summary(300.0)
