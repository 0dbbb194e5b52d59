"""The pure checks the Cloudflare probes share: reasons, messages, levels, usage, deadlines."""

from __future__ import annotations

import pytest

from cfapi.errors import (
    ApiError,
    AuthError,
    CloudflareError,
    ErrorDetail,
    GraphqlError,
    GraphqlErrorItem,
    JobFailed,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
)
from probes.base import Reason, Status
from probes.checks import (
    Deadline,
    describe,
    failure,
    human_bytes,
    level,
    level_below,
    reason_for,
    usable_time,
    usage,
)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (AuthError("x", status=403), Reason.AUTH),
        (PermissionDenied("x", status=403), Reason.AUTH),
        (NotFound("x", status=404), Reason.NOT_FOUND),
        (RateLimited("x", status=429), Reason.RATE_LIMITED),
        (RateLimited("x", local=True), Reason.RATE_LIMITED),
        (TransportError("x", timeout=True), Reason.TIMEOUT),
        (TransportError("x"), Reason.UNREACHABLE),
        (ServerError("x", status=503), Reason.API_ERROR),
        (ApiError("x", status=400), Reason.API_ERROR),
        (GraphqlError("x"), Reason.API_ERROR),
        (JobFailed("x"), Reason.ERROR),
    ],
)
def test_every_cloudflare_error_has_one_reason(error: CloudflareError, reason: Reason) -> None:
    """Each cfapi error class maps to one reason from the fixed set, the same for every probe."""
    assert reason == reason_for(error)


def test_description_has_status_and_codes_but_no_path() -> None:
    """Messages carry Cloudflare's code and words, not the request path with its ids."""
    error = NotFound(
        "not found",
        status=404,
        errors=[ErrorDetail(10013, "get: 'namespace not found'")],
        method="GET",
        path="/accounts/abc/storage/kv/namespaces/def/values/k",
    )
    assert "HTTP 404: [10013] get: 'namespace not found'" == describe(error)


def test_rate_limit_descriptions_say_how_long() -> None:
    """A 429 says when to retry; a local refusal says flarewatch's budget refused it."""
    assert "HTTP 429: rate limited (retry after 30 s)" == describe(
        RateLimited("rate limited", status=429, retry_after=30.0)
    )
    assert "budget" in describe(RateLimited("x", local=True))


def test_graphql_description_uses_its_messages() -> None:
    """GraphQL errors are described by their own messages."""
    error = GraphqlError("x", status=400, graphql_errors=[GraphqlErrorItem("unknown field")])
    assert "HTTP 400: unknown field" == describe(error)


def test_failure_result_is_crit_with_reason_and_step() -> None:
    """failure() names the step and keeps any values given."""
    result = failure(ServerError("server error", status=502), "reading bucket x", values={"a": 1.0})
    assert (Status.CRIT, Reason.API_ERROR) == (result.status, result.reason)
    assert "reading bucket x: HTTP 502: server error" == result.message
    assert {"a": 1.0} == dict(result.values)


@pytest.mark.parametrize(
    ("value", "status"),
    [(0.5, Status.OK), (0.8, Status.WARN), (0.949, Status.WARN), (0.95, Status.CRIT)],
)
def test_level_is_inclusive_at_thresholds(value: float, status: Status) -> None:
    """Reaching a threshold counts (80 % of a quota is already warn)."""
    assert status == level(value, 0.8, 0.95)


@pytest.mark.parametrize(
    ("value", "status"),
    [(0.5, Status.OK), (0.2, Status.OK), (0.19, Status.WARN), (0.01, Status.CRIT)],
)
def test_level_below_for_what_is_left(value: float, status: Status) -> None:
    """For a share left, lower is worse: under 20 % warns, under 5 % is crit."""
    assert status == level_below(value, 0.2, 0.05)


def test_usage_ratio_and_status() -> None:
    """usage() divides by the limit and rates the ratio."""
    found = usage(9.6e9, 10e9, 0.8, 0.95)
    assert found.ratio == pytest.approx(0.96)
    assert Status.CRIT == found.status
    with pytest.raises(ValueError, match="positive"):
        usage(1, 0, 0.8, 0.95)


@pytest.mark.parametrize(
    ("n", "text"),
    [(3.4e9, "3.4 GB"), (500e6, "500 MB"), (36_864, "36.9 KB"), (18, "18 B"), (1.2e13, "12 TB")],
)
def test_human_bytes_uses_si_units(n: float, text: str) -> None:
    """Sizes read as Cloudflare states its limits (10 GB = 10⁹·10 bytes)."""
    assert text == human_bytes(n)


@pytest.mark.parametrize(("timeout", "usable"), [(10.0, 9.5), (2.0, 1.8), (0.3, 0.27), (0.0, 0.0)])
def test_usable_time_leaves_a_margin_before_the_runner_cuts_in(
    timeout: float, usable: float
) -> None:
    """A tenth of the timeout, at most 0.5 s, is kept to return a result in time."""
    assert usable == pytest.approx(usable_time(timeout))


def test_deadline_counts_on_the_injected_timer() -> None:
    """Elapsed and remaining time follow the timer given, not the wall clock."""
    now = [100.0]
    deadline = Deadline(5.0, lambda: now[0])
    now[0] = 103.0
    assert (3.0, 2.0) == (deadline.elapsed(), deadline.remaining())
