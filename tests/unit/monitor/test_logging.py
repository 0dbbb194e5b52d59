"""Logging: redaction of secrets, format choice, and logging state changes rather than polls."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from pydantic import SecretStr
from structlog.testing import capture_logs

from monitor.logging import (
    REDACTED,
    Redactor,
    configure_logging,
    is_sensitive_key,
    log_run,
    transition_event,
    use_json,
)
from monitor.runner import ProbeRun
from monitor.state import ProbeInfo, StatusStore
from probes.base import ProbeEvent, Reason, Status
from tests.unit.monitor.helpers import run_of

TOKEN = "cf-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Tests that configure logging leave structlog and the root logger as they found them."""
    config = structlog.get_config()
    saved = {k: config[k] for k in ("processors", "wrapper_class", "logger_factory")}
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


class TtyStream(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Yes."""
        return True


@pytest.mark.parametrize(
    ("key", "sensitive"),
    [
        ("Authorization", True),
        ("api_token", True),
        ("admin_token", True),
        ("slack_webhook_secret", True),
        ("password", True),
        ("tokens", False),
        ("budget_remaining", False),
        ("probe", False),
    ],
)
def test_sensitive_keys_are_recognised_by_name(key: str, sensitive: bool) -> None:
    """Credentials are recognised by their field name, whatever their value looks like."""
    assert sensitive == is_sensitive_key(key)


def test_redactor_removes_secrets_wherever_they_are() -> None:
    """Known values, SecretStr, bearer headers and sensitive keys are all removed, nested too."""
    redactor = Redactor([TOKEN])
    event = redactor(
        None,
        "info",
        {
            "event": f"calling with {TOKEN}",
            "headers": {"Authorization": f"Bearer {TOKEN}", "Accept": "json"},
            "api_token": "anything",
            "secret_field": SecretStr("hidden"),
            "items": [f"x{TOKEN}x", ("Bearer abc.def",)],
            "count": 3,
        },
    )
    assert {
        "event": f"calling with {REDACTED}",
        "headers": {"Authorization": REDACTED, "Accept": "json"},
        "api_token": REDACTED,
        "secret_field": "**********",
        "items": [f"x{REDACTED}x", (f"Bearer {REDACTED}",)],
        "count": 3,
    } == event


def test_redactor_ignores_very_short_secrets() -> None:
    """A 2-character 'secret' would redact half the log; such values are not scrubbed."""
    assert "ab cd" == Redactor(["ab"]).scrub_text("ab cd")


def test_set_secrets_replaces_the_known_values() -> None:
    """A reload that rotates the token scrubs the new one."""
    redactor = Redactor(["old-secret-value"])
    redactor.set_secrets(["new-secret-value"])
    assert f"{REDACTED} old-secret-value" == redactor.scrub_text(
        "new-secret-value old-secret-value"
    )


@pytest.mark.parametrize(
    ("fmt", "tty", "expected"),
    [("auto", False, True), ("auto", True, False), ("json", True, True), ("console", False, False)],
)
def test_json_is_used_when_stderr_is_not_a_terminal(fmt: str, tty: bool, expected: bool) -> None:
    """Machines (journald, containers) get JSON; people at a terminal get the console format."""
    stream = TtyStream() if tty else io.StringIO()
    assert expected == use_json(fmt, stream)


def test_json_output_never_contains_a_known_secret() -> None:
    """Even a careless log call (or an exception text) cannot write the API token."""
    out = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=out, redactor=Redactor([TOKEN]))
    log = structlog.get_logger("test")
    log.warning("oops", detail=f"token={TOKEN}", authorization=f"Bearer {TOKEN}")
    try:
        raise RuntimeError(f"failed with {TOKEN}")
    except RuntimeError:
        log.exception("crashed")
    logging.getLogger("aiohttp.client").warning("stdlib says %s", TOKEN)
    text = out.getvalue()
    assert TOKEN not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert ["oops", "crashed", f"stdlib says {REDACTED}"] == [line["event"] for line in lines]
    assert {"level", "timestamp"} <= set(lines[0])


def test_console_output_is_readable_and_redacted() -> None:
    """The console format is for people, and is scrubbed like JSON."""
    out = TtyStream()
    configure_logging(level="info", fmt="auto", stream=out, redactor=Redactor([TOKEN]))
    structlog.get_logger("test").info("probe_failed", probe="kv", message=f"bad {TOKEN}")
    text = out.getvalue()
    assert "probe_failed" in text
    assert "kv" in text
    assert TOKEN not in text


def test_level_filters_debug_lines() -> None:
    """At info, per-request debug lines (cfapi's cloudflare_request) are not written."""
    out = io.StringIO()
    configure_logging(level="info", fmt="json", stream=out)
    log = structlog.get_logger("test")
    log.debug("cloudflare_request")
    log.info("kept")
    assert ["kept"] == [json.loads(line)["event"] for line in out.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (None, Status.OK, None),
        (None, Status.CRIT, "probe_failed"),
        (Status.OK, Status.OK, None),
        (Status.OK, Status.WARN, "probe_failed"),
        (Status.WARN, Status.CRIT, "probe_failed"),
        (Status.CRIT, Status.CRIT, None),
        (Status.CRIT, Status.OK, "probe_recovered"),
        (Status.UNKNOWN, Status.OK, "probe_recovered"),
    ],
)
def test_transitions_worth_a_log_line(
    previous: Status | None, current: Status, expected: str | None
) -> None:
    """Only changes are logged: a failure once, a recovery once, never every poll."""
    assert expected == transition_event(previous, current)


def _replay(*runs: ProbeRun) -> list[MutableMapping[str, Any]]:
    store = StatusStore(version="1", started_at=0.0, config_source="x")
    store.configure([ProbeInfo("p1", "fake", "fakesvc", 30.0)], loaded_at=0.0)
    log = structlog.get_logger("test").bind(probe="p1")
    with capture_logs() as logs:
        for run in runs:
            change = store.record(run)
            assert change is not None
            log_run(log, run, change)
    return logs


def test_repeated_failures_log_once_and_recovery_once() -> None:
    """Three failed polls and a recovery make exactly two lines, with how long it failed."""
    logs = _replay(
        run_of(Status.OK, at=0.0),
        run_of(Status.CRIT, at=30.0, reason=Reason.TIMEOUT),
        run_of(Status.CRIT, at=60.0, reason=Reason.TIMEOUT),
        run_of(Status.CRIT, at=90.0, reason=Reason.TIMEOUT),
        run_of(Status.OK, at=120.0),
    )
    assert ["probe_failed", "probe_recovered"] == [e["event"] for e in logs]
    assert ("crit", "ok", "timeout", "warning") == (
        logs[0]["status"],
        logs[0]["previous"],
        logs[0]["reason"],
        logs[0]["log_level"],
    )
    assert (90.0, "crit") == (logs[1]["failing_for_s"], logs[1]["previous"])


def test_a_crash_streak_is_logged_once_with_its_traceback() -> None:
    """A probe crashing every poll writes one error with the exception, not one per poll."""
    logs = _replay(
        run_of(Status.UNKNOWN, crashed=True, reason=Reason.ERROR, at=0.0),
        run_of(Status.UNKNOWN, crashed=True, reason=Reason.ERROR, at=30.0),
    )
    assert ["probe_crashed"] == [e["event"] for e in logs]
    assert isinstance(logs[0]["exc_info"], RuntimeError)


def test_probe_events_are_logged_as_they_come() -> None:
    """DNS propagation progress and similar events are worth a line each time."""
    event = ProbeEvent("dns_propagation_progress", "3/8 resolvers", {"updated": 3, "event": "x"})
    logs = _replay(run_of(Status.OK, events=(event,)))
    assert [
        {
            "event": "dns_propagation_progress",
            "message": "3/8 resolvers",
            "updated": 3,
            "field_event": "x",
            "probe": "p1",
            "log_level": "info",
        }
    ] == logs
