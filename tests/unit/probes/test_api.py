"""The api probe's pure parts: the budget levels, token verdicts, scheduling, settings."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cfapi.accounts import TokenStatus
from cfapi.budget import BudgetSnapshot
from probes.api import (
    ApiProbe,
    ApiSettings,
    TokenCheck,
    judge_budget,
    judge_token,
    parse_expiry,
    verify_due,
)
from probes.base import Reason, Status

DAY = 86400.0


def settings(**overrides: Any) -> ApiSettings:
    """Settings of the api probe."""
    return ApiSettings.model_validate({"name": "cloudflare-api", "type": "api", **overrides})


def snapshot(tokens: float, capacity: float = 600.0, paused: float = 0.0) -> BudgetSnapshot:
    """A budget snapshot with ``tokens`` of ``capacity`` left."""
    return BudgetSnapshot(
        tokens=tokens,
        capacity=capacity,
        refill_per_s=capacity / 300.0,
        paused_for_s=paused,
        requests={},
        throttled={},
        throttled_seconds=0.0,
        rate_limited={},
        refused={},
        pauses=0,
    )


@pytest.mark.parametrize(
    ("tokens", "status", "reason"),
    [
        (600.0, Status.OK, None),
        (120.0, Status.OK, None),
        (119.0, Status.WARN, None),
        (29.0, Status.CRIT, Reason.RATE_LIMITED),
        (-3.0, Status.CRIT, Reason.RATE_LIMITED),
    ],
)
def test_budget_levels(tokens: float, status: Status, reason: Reason | None) -> None:
    """Under 20 % left warns, under 5 % is crit rate_limited; debt counts as nothing left."""
    result = judge_budget(settings(), snapshot(tokens))
    assert (status, reason) == (result.status, result.reason)
    assert max(0.0, tokens) == result.values["budget_remaining"]
    assert 600.0 == result.values["budget_limit"]


def test_pause_means_nothing_is_left() -> None:
    """While paused after a 429, nothing can be sent: crit rate_limited, remaining 0."""
    result = judge_budget(settings(), snapshot(500.0, paused=42.0))
    assert (Status.CRIT, Reason.RATE_LIMITED) == (result.status, result.reason)
    assert (0.0, 0.0, 42.0) == (
        result.values["budget_remaining"],
        result.values["budget_remaining_ratio"],
        result.values["budget_paused_s"],
    )
    assert "paused for 42 s" in result.message


def answer(status: str = "active", expires_on: str | None = None) -> TokenStatus:
    """A tokens/verify answer."""
    return TokenStatus(id="t1", status=status, expires_on=expires_on)


NOW = parse_expiry("2026-11-27T00:00:00Z") or 0.0


@pytest.mark.parametrize(
    ("token", "status", "reason", "valid"),
    [
        (answer(), Status.OK, None, True),
        (answer(expires_on="2030-01-01T00:00:00Z"), Status.OK, None, True),
        (answer(expires_on="2026-11-30T00:00:00Z"), Status.WARN, None, True),
        (answer(expires_on="2026-11-26T00:00:00Z"), Status.CRIT, Reason.AUTH, False),
        (answer("disabled"), Status.CRIT, Reason.AUTH, False),
        (answer("expired"), Status.CRIT, Reason.AUTH, False),
    ],
)
def test_token_verdicts(
    token: TokenStatus, status: Status, reason: Reason | None, valid: bool
) -> None:
    """Active is ok, expiring within a week warns, disabled/expired/past expiry are auth."""
    check = judge_token(token, 5.0, NOW, 7 * DAY)
    assert (status, reason, valid, 5.0) == (check.status, check.reason, check.valid, check.at)


def test_expiry_warning_says_when() -> None:
    """A token about to expire says in how many days."""
    check = judge_token(answer(expires_on="2026-11-30T00:00:00Z"), 0.0, NOW, 7 * DAY)
    assert "the API token expires in 3.0 days" == check.message


@pytest.mark.parametrize("text", [None, "", "soon"])
def test_unreadable_expiry_is_ignored(text: str | None) -> None:
    """A missing or malformed expires_on is no expiry, not a crash."""
    assert parse_expiry(text) is None


@pytest.mark.parametrize(
    ("last", "now", "due"),
    [
        (None, 0.0, True),
        (TokenCheck(0.0, Status.OK, None, "", valid=True), 3599.0, False),
        (TokenCheck(0.0, Status.OK, None, "", valid=True), 3600.0, True),
        (TokenCheck(0.0, Status.WARN, None, "expires soon", valid=True), 60.0, False),
        (TokenCheck(0.0, Status.CRIT, Reason.AUTH, "", valid=False), 1.0, True),
        (TokenCheck(0.0, Status.WARN, Reason.API_ERROR, "verify failed"), 1.0, True),
    ],
)
def test_verification_schedule(last: TokenCheck | None, now: float, due: bool) -> None:
    """Verify first, hourly after, and on every run while the last check failed."""
    assert due == verify_due(last, now, 3600.0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"warn_ratio": 0.05, "crit_ratio": 0.2}, "crit_ratio must not be above warn_ratio"),
        ({"verify_token": "0s"}, "greater than 0"),
        ({"token_owner": "team"}, "'user' or 'account'"),
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, Any], message: str) -> None:
    """Bad thresholds and options fail config validation with the reason."""
    with pytest.raises(ValidationError, match=message):
        settings(**overrides)


def test_verification_can_be_switched_off() -> None:
    """verify_token: null turns the token check off (the probe then costs no request)."""
    assert settings(verify_token=None).verify_token is None


def test_metrics_map_declared_values() -> None:
    """The rule contract's values are declared; every metric maps one of them."""
    assert {"budget_remaining_ratio", "budget_remaining", "budget_limit"} <= ApiProbe.values
    assert set(ApiProbe.metrics) <= ApiProbe.values
