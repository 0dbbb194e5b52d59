"""What every notifier shares: classifying answers and faults, redacting secrets, wording."""

from __future__ import annotations

import aiohttp
import pytest
from pydantic import SecretStr

from alerting.notifiers.base import (
    Delivery,
    Outcome,
    Reason,
    Secrets,
    check_http_url,
    classify_exception,
    classify_status,
    format_duration,
    format_value,
    iso_time,
    notification_id,
    silence_matchers,
    truncate,
    url_host,
)
from tests.unit.alerting.notifier_samples import T0, alert, notification

WEBHOOK = "https://hooks.slack.com/services/T0001/B0001/abcdefghijklmnopqrstuvwx"


@pytest.mark.parametrize(
    ("status", "outcome", "reason"),
    [
        (200, Outcome.DELIVERED, Reason.OK),
        (202, Outcome.DELIVERED, Reason.OK),
        (204, Outcome.DELIVERED, Reason.OK),
        (429, Outcome.RETRY, Reason.RATE_LIMITED),
        (500, Outcome.RETRY, Reason.SERVER_ERROR),
        (502, Outcome.RETRY, Reason.SERVER_ERROR),
        (503, Outcome.RETRY, Reason.SERVER_ERROR),
        (408, Outcome.RETRY, Reason.SERVER_ERROR),
        (401, Outcome.RETRY, Reason.REJECTED),
        (403, Outcome.RETRY, Reason.REJECTED),
        (404, Outcome.RETRY, Reason.REJECTED),
        (410, Outcome.RETRY, Reason.REJECTED),
        (400, Outcome.FAILED, Reason.INVALID),
        (413, Outcome.FAILED, Reason.INVALID),
        (422, Outcome.FAILED, Reason.INVALID),
        (418, Outcome.FAILED, Reason.CLIENT_ERROR),
    ],
)
def test_an_http_status_maps_to_an_outcome(status: int, outcome: Outcome, reason: Reason) -> None:
    """The table decides what is retried, what waits for the operator and what is given up:
    getting it wrong either loses notifications or retries garbage for a day."""
    delivery = classify_status(status, {}, "", now=T0)
    assert (outcome, reason, status) == (delivery.outcome, delivery.reason, delivery.status)


def test_retry_after_in_seconds_is_honoured() -> None:
    """A 429 says how long to wait; the outbox must get that number."""
    delivery = classify_status(429, {"retry-after": "30"}, "rate_limited", now=T0)
    assert 30.0 == delivery.retry_after


def test_retry_after_as_an_http_date_is_honoured() -> None:
    """RFC 9110 allows an HTTP-date; it becomes seconds from now."""
    delivery = classify_status(503, {"Retry-After": "Thu, 01 Jan 2026 12:02:00 GMT"}, now=T0)
    assert 120.0 == delivery.retry_after


def test_a_malformed_retry_after_leaves_the_wait_to_backoff() -> None:
    """Junk in the header must not fail the delivery nor make it wait forever."""
    assert None is classify_status(429, {"Retry-After": "soon"}, now=T0).retry_after


def test_the_receivers_answer_is_in_the_detail_shortened() -> None:
    """Slack says why (``invalid_blocks``); the dead-letter log should too, briefly."""
    delivery = classify_status(400, {}, "invalid_blocks " + "x" * 500, now=T0)
    assert delivery.detail.startswith("HTTP 400: invalid_blocks")
    assert len(delivery.detail) <= 220


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TimeoutError(), Reason.TIMEOUT),
        (aiohttp.ServerDisconnectedError(), Reason.CONNECTION),
        (ConnectionRefusedError(111, "Connection refused"), Reason.CONNECTION),
        (ValueError("bug"), Reason.NOTIFIER_ERROR),
    ],
)
def test_a_failure_without_an_answer_is_retried(error: BaseException, reason: Reason) -> None:
    """A network fault or a timeout says nothing about the payload: try again later."""
    delivery = classify_exception(error)
    assert (Outcome.RETRY, reason) == (delivery.outcome, delivery.reason)


def test_redaction_removes_a_secret_url_and_its_path() -> None:
    """A library error quoting the webhook URL (or only its path) must not leak it."""
    secrets = Secrets(SecretStr(WEBHOOK))
    text = f"failed POST {WEBHOOK}; then /services/T0001/B0001/abcdefghijklmnopqrstuvwx again"
    redacted = secrets.redact(text)
    assert "abcdefghijklmnopqrstuvwx" not in redacted
    assert "***" in redacted


def test_redaction_removes_a_token_in_a_query_string() -> None:
    """Generic webhook URLs often carry the token as a query parameter."""
    secrets = Secrets(SecretStr("https://hooks.example/in?token=q-s3cr3t-value"))
    assert "q-s3cr3t" not in secrets.redact("GET /in?token=q-s3cr3t-value failed")


def test_redaction_ignores_absent_secrets() -> None:
    """Optional secrets that are not set change nothing."""
    assert "plain text" == Secrets(None, None).redact("plain text")


def test_the_secrets_repr_shows_no_value() -> None:
    """A debugger or a log of the notifier's attributes must not print secrets."""
    assert "abcdefghij" not in repr(Secrets(SecretStr("xoxb-abcdefghij")))


def test_a_secret_url_is_shown_as_its_host_only() -> None:
    """Logs may say where a notifier posts, without the credential in the path."""
    assert "https://hooks.slack.com" == url_host(WEBHOOK)


def test_a_bad_url_error_does_not_quote_the_url() -> None:
    """A config error about a secret URL must not print the secret."""
    with pytest.raises(ValueError, match="webhook_url") as raised:
        check_http_url("ftp://hooks.slack.com/services/secret-part", "webhook_url")
    assert "secret-part" not in str(raised.value)


def test_a_notification_id_is_stable_and_distinct() -> None:
    """Receivers deduplicate on it: the same message always has the same id, another
    message (a later flush, a reminder) another id."""
    first = notification([alert()], at=T0 + 30)
    again = notification([alert()], at=T0 + 30)
    later = notification([alert()], at=T0 + 330)
    reminder = notification([alert()], at=T0 + 30, reminder=True)
    assert notification_id(first) == notification_id(again)
    assert len({notification_id(n) for n in (first, later, reminder)}) == 3


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (60, "1m"),
        (754, "12m"),
        (3600, "1h"),
        (11_100, "3h 5m"),
        (86_400 * 2 + 3600 * 4 + 60, "2d 4h"),
        (86_400, "1d"),
    ],
)
def test_durations_read_like_people_write_them(seconds: float, text: str) -> None:
    """ "still firing for 3h 5m" is what users asked for (gatus#379, uptime-kuma#233)."""
    assert text == format_duration(seconds)


@pytest.mark.parametrize(
    ("value", "text"), [(1000.0, "1000"), (0.057, "0.057"), (1234.5678, "1235"), (-2.0, "-2")]
)
def test_values_are_short(value: float, text: str) -> None:
    """Numbers in messages: whole numbers without ``.0``, others to 4 significant digits."""
    assert text == format_value(value)


def test_times_are_rfc3339_utc() -> None:
    """Alertmanager and PagerDuty want RFC 3339 timestamps."""
    assert "2026-01-01T12:00:00.000Z" == iso_time(T0)


def test_silence_matchers_name_the_rule_and_probe() -> None:
    """The hint in a message must silence exactly this alert when pasted."""
    assert 'rule="worker_error_ratio_critical", probe="api"' == silence_matchers(alert())


def test_silence_matchers_quote_awkward_values() -> None:
    """A quote or backslash in a label value must not break the matcher."""
    odd = alert(probe='we"ird\\name')
    assert 'probe="we\\"ird\\\\name"' in silence_matchers(odd)


def test_truncation_marks_the_cut() -> None:
    """A cut text ends with the marker and fits the limit."""
    assert "abc…" == truncate("abcdefgh", 4)
    assert "abc" == truncate("abc", 4)


def test_a_skip_counts_as_delivered() -> None:
    """Nothing to send (send_resolved off) is done, not a failure to retry."""
    assert Delivery.skipped("nothing").ok
