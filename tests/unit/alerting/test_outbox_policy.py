"""The outbox's pure part: backoff, Retry-After, giving up, and the stored record."""

from __future__ import annotations

import pytest

from alerting.outbox import (
    GiveUp,
    OutboxSettings,
    Retry,
    RetryPolicy,
    after_failure,
    backoff_delay,
    notification_from_record,
    notification_to_record,
)
from tests.unit.alerting.notifier_samples import T0, alert, notification

POLICY = RetryPolicy(initial_delay=1.0, max_delay=60.0, multiplier=2.0, jitter=0.2, max_age=3600.0)


@pytest.mark.parametrize(
    ("failures", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (50, 60.0)]
)
def test_backoff_doubles_up_to_the_cap(failures: int, delay: float) -> None:
    """Exponential backoff, capped, so a receiver down for an hour is tried every minute."""
    assert delay == backoff_delay(POLICY, failures, rand=0.0)


def test_jitter_only_shortens_the_wait_by_its_share() -> None:
    """Jitter spreads retries without ever waiting longer than the backoff."""
    assert 32.0 * 0.8 == backoff_delay(POLICY, 6, rand=1.0)


def test_a_huge_failure_count_does_not_overflow() -> None:
    """A notification retried for days must not crash the worker with an overflow."""
    assert 60.0 == backoff_delay(POLICY, 10_000, rand=0.0)


def test_a_failure_schedules_the_next_attempt_by_backoff() -> None:
    """Without a hint from the receiver, the backoff decides."""
    decision = after_failure(
        POLICY, failures=3, enqueued_at=T0, now=T0 + 10, retry_after=None, rand=0.0
    )
    assert Retry(T0 + 14.0) == decision


def test_retry_after_replaces_the_backoff() -> None:
    """The receiver knows when it can take more: wait exactly that (slack 429, PD 429)."""
    decision = after_failure(
        POLICY, failures=1, enqueued_at=T0, now=T0 + 10, retry_after=30.0, rand=0.5
    )
    assert Retry(T0 + 40.0) == decision


def test_retry_after_zero_still_waits_the_initial_delay() -> None:
    """A receiver answering 429 with ``Retry-After: 0`` forever must not be hammered."""
    decision = after_failure(
        POLICY, failures=1, enqueued_at=T0, now=T0 + 10, retry_after=0.0, rand=0.0
    )
    assert Retry(T0 + 11.0) == decision


def test_the_last_attempt_is_made_at_max_age() -> None:
    """A backoff that would overshoot the deadline is cut short: one last try, not none."""
    decision = after_failure(
        POLICY, failures=8, enqueued_at=T0, now=T0 + 3590, retry_after=None, rand=0.0
    )
    assert Retry(T0 + 3600.0) == decision


def test_a_notification_older_than_max_age_is_given_up() -> None:
    """After max_age, the notification is dead-lettered (with a log line, by the outbox)."""
    decision = after_failure(
        POLICY, failures=9, enqueued_at=T0, now=T0 + 3600, retry_after=None, rand=0.0
    )
    assert isinstance(decision, GiveUp)
    assert "max_age" in decision.why


def test_a_retry_after_past_max_age_gives_up_now() -> None:
    """Waiting past the deadline only to give up then would hide the problem longer."""
    decision = after_failure(
        POLICY, failures=1, enqueued_at=T0, now=T0 + 3000, retry_after=900.0, rand=0.0
    )
    assert isinstance(decision, GiveUp)


def test_max_attempts_gives_up_after_that_many_failures() -> None:
    """When set, max_attempts bounds the attempts regardless of age."""
    policy = RetryPolicy(max_attempts=3)
    assert isinstance(
        after_failure(policy, failures=3, enqueued_at=T0, now=T0, retry_after=None, rand=0.0),
        GiveUp,
    )
    assert isinstance(
        after_failure(policy, failures=2, enqueued_at=T0, now=T0, retry_after=None, rand=0.0),
        Retry,
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"initial_delay": 0.0}, "initial_delay must be positive"),
        ({"initial_delay": 10.0, "max_delay": 5.0}, "max_delay must be at least initial_delay"),
        ({"multiplier": 0.5}, "multiplier must be at least 1"),
        ({"jitter": 1.0}, "jitter must be at least 0 and below 1"),
        ({"max_age": 0.0}, "max_age must be positive"),
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
    ],
)
def test_a_nonsense_policy_is_refused(settings: dict[str, float], message: str) -> None:
    """A policy that would spin or never retry is a config error, named."""
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**settings)  # type: ignore[arg-type]


def test_a_notification_survives_its_record() -> None:
    """What the outbox stores is exactly what the notifier gets after a restart."""
    original = notification([alert("api"), alert("images")], [alert("www", firing=False)])
    assert original == notification_from_record(notification_to_record(original))


def test_a_record_of_another_version_is_refused() -> None:
    """A record from a newer flarewatch is refused rather than misread (and dead-lettered)."""
    record = notification_to_record(notification([alert()]))
    record["record_version"] = 99
    with pytest.raises(ValueError, match="unsupported notification record version 99"):
        notification_from_record(record)


def test_outbox_settings_read_durations_and_build_the_policy() -> None:
    """``outbox:`` in YAML: durations as text, checked together at load."""
    settings = OutboxSettings.model_validate(
        {"initial_delay": "2s", "max_delay": "10m", "max_age": "6h", "max_attempts": 50}
    )
    assert (
        RetryPolicy(initial_delay=2.0, max_delay=600.0, max_age=21_600.0, max_attempts=50)
        == settings.policy()
    )


def test_incoherent_outbox_settings_are_a_config_error() -> None:
    """A max_delay below initial_delay is refused at load, named."""
    with pytest.raises(ValueError, match="max_delay must be at least initial_delay"):
        OutboxSettings.model_validate({"initial_delay": "10m", "max_delay": "1m"})
