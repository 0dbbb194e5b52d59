"""Retry decisions and waits: transient failures of idempotent requests, within the deadline."""

from __future__ import annotations

import pytest

from cfapi.errors import (
    ApiError,
    AuthError,
    CloudflareError,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
)
from cfapi.retry import (
    Retryable,
    RetryPolicy,
    backoff_delay,
    is_idempotent,
    reason_of,
    retry_waits,
    should_retry,
)


@pytest.mark.parametrize(
    ("method", "marked", "expected"),
    [
        ("GET", None, True),
        ("head", None, True),
        ("PUT", None, True),
        ("DELETE", None, True),
        ("POST", None, False),
        ("PATCH", None, False),
        ("POST", True, True),
        ("GET", False, False),
    ],
)
def test_idempotency_is_the_method_unless_marked(
    method: str, marked: bool | None, expected: bool
) -> None:
    """POST is retried only when the caller vouches for it (e.g. D1 SELECT 1)."""
    assert expected == is_idempotent(method, marked)


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (ServerError("x", status=503), True, True),
        (TransportError("x", timeout=True), True, True),
        (TransportError("x"), True, True),
        (RateLimited("x", status=429), True, True),
        (RateLimited("x", local=True), True, False),
        (ServerError("x", status=503), False, False),
        (AuthError("x", status=401), True, False),
        (ApiError("x", status=400), True, False),
        (NotFound("x", status=404), True, False),
    ],
)
def test_only_transient_failures_of_idempotent_requests_retry(
    error: CloudflareError, idempotent: bool, expected: bool
) -> None:
    """Auth and validation errors are final; a POST is never sent twice."""
    assert expected == should_retry(error, idempotent)


@pytest.mark.parametrize(
    ("retry", "expected"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 8.0)]
)
def test_backoff_doubles_up_to_the_cap(retry: int, expected: float) -> None:
    """min(cap, base·2ⁿ) with full jitter; rand() = 1 shows the ceiling."""
    assert expected == backoff_delay(retry, RetryPolicy(), lambda: 1.0)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TransportError("x", timeout=True), "timeout"),
        (TransportError("x"), "connection"),
        (RateLimited("x"), "rate_limited"),
        (ServerError("x"), "server_error"),
        (NotFound("x"), "other"),
    ],
)
def test_reason_labels_are_bounded(error: CloudflareError, reason: str) -> None:
    """Metric labels come from a fixed set, never from error text."""
    assert reason == reason_of(error)


def _failure(hint: float | None, now: float = 0.0, deadline: float = 100.0) -> Retryable:
    return Retryable(ServerError("x"), hint_s=hint, now=now, deadline=deadline)


def test_waits_follow_the_server_hint_else_backoff() -> None:
    """Retry-After wins when present; otherwise the jittered exponential curve."""
    gen = retry_waits(policy=RetryPolicy(), rand=lambda: 1.0)
    gen.send(None)
    waits = [gen.send(_failure(None)), gen.send(_failure(7.0)), gen.send(_failure(None))]
    assert waits == [0.5, 7.0, 2.0]


def test_waits_stop_when_the_deadline_would_pass() -> None:
    """A Retry-After longer than the time left ends the retries (fail fast, do not hang)."""
    gen = retry_waits(policy=RetryPolicy(), rand=lambda: 1.0)
    gen.send(None)
    with pytest.raises(StopIteration):
        gen.send(_failure(30.0, now=90.0, deadline=100.0))


def test_policy_rejects_zero_attempts() -> None:
    """At least one attempt is made; zero is a configuration error."""
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
