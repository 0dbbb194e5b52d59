"""What simulated Workers answer: binding errors, health, thrown exceptions, trace messages."""

from __future__ import annotations

import json

import pytest

from cfsim.faults import Decision
from cfsim.services.worker_runtime import (
    binding_error,
    request_info,
    thrown,
    trace_message,
    worker_response,
)


@pytest.mark.parametrize(
    ("kind", "decision", "expected"),
    [
        ("d1", Decision(outage=True), "D1_ERROR: Network connection lost."),
        (
            "d1",
            Decision(rate_limit=True),
            "D1_ERROR: D1 DB is overloaded. Too many requests queued.",
        ),
        (
            "d1",
            Decision(error_status=500, error_message="disk I/O error"),
            "D1_ERROR: disk I/O error",
        ),
        ("kv", Decision(outage=True), "KV GET failed: 503 Service Unavailable"),
        ("kv", Decision(error_status=500), "KV GET failed: 500 Internal Server Error"),
        (
            "r2",
            Decision(outage=True),
            "get: We encountered an internal error. Please try again. (10001)",
        ),
    ],
)
def test_binding_errors(kind: str, decision: Decision, expected: str) -> None:
    """Each binding failure reads like the runtime's own error."""
    assert expected == binding_error(kind, decision)


def test_healthy_health_check() -> None:
    """/health answers ok with the version."""
    inv = worker_response("api", "v1", "GET", "/health", {}, 0)
    assert (200, {"status": "ok", "version": "v1"}) == (inv.status, json.loads(inv.body))


def test_failed_binding_fails_health_and_logs_it() -> None:
    """A failed binding makes /health 503 and logs the error."""
    inv = worker_response("api", "v1", "GET", "/health", {"d1:DB": "D1_ERROR: x"}, 7)
    assert (503, "D1_ERROR: x") == (inv.status, json.loads(inv.body)["error"])
    assert [
        {"message": ["health check failed", "D1_ERROR: x"], "level": "error", "timestamp": 7}
    ] == (inv.logs)


def test_thrown_exception_is_a_1101_with_a_stack() -> None:
    """A throw answers 500 with the 1101 page; the tail gets name, message and stack."""
    inv = thrown("boom", 10, "api.example.com", "abc")
    assert (500, "exception", "scriptThrewException") == (
        inv.status,
        inv.outcome,
        inv.invocation_status,
    )
    assert b"1101" in inv.body
    assert ("Error", "boom", 11) == (
        inv.exceptions[0]["name"],
        inv.exceptions[0]["message"],
        inv.exceptions[0]["timestamp"],
    )


def test_trace_message_shape() -> None:
    """The trace-v1 message has the fields wrangler reads, credentials redacted."""
    inv = worker_response("api", "v1", "GET", "/x", {}, 5)
    req = request_info(
        "https://h/x", "GET", {"Authorization": "Bearer t"}, "10.0.0.1", "8a1b2c3d4e5f6789"
    )
    message = trace_message("api", inv, 5, req, "v1")
    assert {
        "outcome",
        "scriptName",
        "entrypoint",
        "eventTimestamp",
        "exceptions",
        "logs",
        "event",
    } <= set(message)
    assert "REDACTED" == message["event"]["request"]["headers"]["authorization"]
