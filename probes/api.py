"""The ``api`` probe: flarewatch's own Cloudflare API request budget, and its token.

Every other probe spends requests from one shared budget (:mod:`cfapi.budget`: a share of
Cloudflare's 1,200 requests per 5 minutes per token). This probe reads what is left from
``ctx.cf.budget.snapshot()`` — no request — and warns when it runs low, so a config that
asks too much is noticed before Cloudflare blocks every call for the rest of its window.

Optionally (``verify_token``, hourly by default) it asks Cloudflare whether the token is
still valid: one request per interval, and on every run while the answer is bad. A refused,
disabled or expired token is ``crit`` with reason ``auth``; a token that expires within
``expiry_warn`` is ``warn``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from cfapi.accounts import TokenStatus
from cfapi.budget import BudgetSnapshot
from cfapi.errors import AuthError, CloudflareError, PermissionDenied
from probes.base import (
    MetricSpec,
    Probe,
    ProbeContext,
    ProbeResult,
    ProbeSettings,
    Reason,
    Status,
    worst,
)
from probes.checks import Deadline, describe, level_below, reason_for, usable_time
from probes.units import Duration


class ApiSettings(ProbeSettings):
    """Settings of the ``api`` probe (see docs/probes/api.md)."""

    warn_ratio: float = Field(
        default=0.2, gt=0, le=1, description="warn when less than this share of the budget is left"
    )
    crit_ratio: float = Field(
        default=0.05, ge=0, le=1, description="crit when less than this share is left"
    )
    verify_token: Duration | None = Field(
        default=3600.0, gt=0, description="how often to verify the token (null: never)"
    )
    token_owner: Literal["user", "account"] = Field(
        default="user", description="verify on /user/tokens or /accounts/{id}/tokens"
    )
    expiry_warn: Duration = Field(
        default=7 * 86400.0, ge=0, description="warn this long before the token expires"
    )

    @model_validator(mode="after")
    def _ratios(self) -> ApiSettings:
        if self.crit_ratio > self.warn_ratio:
            raise ValueError("crit_ratio must not be above warn_ratio (both are shares left)")
        return self


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """The last token verification: when, and what it found."""

    at: float
    status: Status
    reason: Reason | None
    message: str
    expires_at: float | None = None
    valid: bool | None = None
    """Whether Cloudflare accepts the token (``None``: the check itself failed)."""


def parse_expiry(text: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 ``expires_on`` (``None`` when absent or unreadable)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def judge_token(
    answer: TokenStatus, at: float, now_wall: float, expiry_warn_s: float
) -> TokenCheck:
    """What a ``tokens/verify`` answer means (pure)."""
    expires_at = parse_expiry(answer.expires_on)
    if answer.status != "active":
        message = f"the API token is {answer.status}"
        return TokenCheck(at, Status.CRIT, Reason.AUTH, message, expires_at, valid=False)
    if expires_at is not None:
        left = expires_at - now_wall
        if left <= 0:
            message = "the API token has expired"
            return TokenCheck(at, Status.CRIT, Reason.AUTH, message, expires_at, valid=False)
        if left < expiry_warn_s:
            message = f"the API token expires in {left / 86400.0:.1f} days"
            return TokenCheck(at, Status.WARN, None, message, expires_at, valid=True)
    return TokenCheck(at, Status.OK, None, "the API token is active", expires_at, valid=True)


def verify_due(last: TokenCheck | None, now: float, interval_s: float) -> bool:
    """Verify on the first run, after a failed check, and every ``interval_s``."""
    if last is None or last.status is Status.CRIT or last.reason is not None:
        return True
    return now - last.at >= interval_s


def judge_budget(settings: ApiSettings, snapshot: BudgetSnapshot) -> ProbeResult:
    """The budget part of a run (pure): what is left, and whether that is enough.

    A pause (after a 429 or a response saying nothing is left) means nothing can be sent
    now: ``crit`` with ``rate_limited`` and nothing remaining, whatever the tokens say.
    """
    limit = snapshot.capacity
    remaining = 0.0 if snapshot.paused_for_s > 0 else max(0.0, snapshot.tokens)
    ratio = remaining / limit if limit > 0 else 0.0
    values = {
        "budget_remaining": remaining,
        "budget_limit": limit,
        "budget_remaining_ratio": ratio,
        "budget_paused_s": snapshot.paused_for_s,
    }
    if snapshot.paused_for_s > 0:
        return ProbeResult(
            status=Status.CRIT,
            reason=Reason.RATE_LIMITED,
            message=(
                f"Cloudflare API requests paused for {snapshot.paused_for_s:.0f} s (rate limited)"
            ),
            values=values,
        )
    status = level_below(ratio, settings.warn_ratio, settings.crit_ratio)
    message = f"{remaining:.0f} of {limit:.0f} API requests left ({ratio:.0%})"
    if status is not Status.OK:
        floor = settings.crit_ratio if status is Status.CRIT else settings.warn_ratio
        message += f", under {floor:.0%}"
    return ProbeResult(
        status=status,
        reason=Reason.RATE_LIMITED if status is Status.CRIT else None,
        message=message,
        values=values,
    )


class ApiProbe(Probe[ApiSettings]):
    """flarewatch's remaining Cloudflare API budget, and whether its token still works."""

    type_name: ClassVar[str] = "api"
    service: ClassVar[str] = "api"
    settings_model: ClassVar[type[ProbeSettings]] = ApiSettings
    values: ClassVar[frozenset[str]] = frozenset(
        {
            "budget_remaining_ratio",
            "budget_remaining",
            "budget_limit",
            "budget_paused_s",
            "token_valid",
            "token_expires_in_s",
        }
    )
    metrics: ClassVar[Mapping[str, MetricSpec]] = {
        "budget_remaining": MetricSpec(
            "api_budget_remaining", "Cloudflare API requests flarewatch may still send now"
        ),
        "budget_limit": MetricSpec(
            "api_budget_limit", "flarewatch's share of the API rate limit per window"
        ),
        "budget_remaining_ratio": MetricSpec(
            "api_budget_remaining_ratio", "Share of flarewatch's API budget left"
        ),
        "budget_paused_s": MetricSpec(
            "api_budget_paused_seconds", "Seconds left of a pause after a 429 (0: not paused)"
        ),
        "token_valid": MetricSpec(
            "api_token_valid", "1 if the last token verification succeeded, else 0"
        ),
        "token_expires_in_s": MetricSpec(
            "api_token_expiry_seconds", "Seconds until the API token expires"
        ),
    }

    def __init__(
        self,
        settings: ApiSettings,
        *,
        timer: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings)
        self._timer = timer
        self._wall = wall
        self._token: TokenCheck | None = None

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Read the budget; verify the token when due; the worst of both."""
        s = self.settings
        budget = judge_budget(s, ctx.cf.budget.snapshot())
        if s.verify_token is None:
            return budget
        if ctx.cf.transport.credentials.scheme != "token":
            return ProbeResult(
                status=budget.status,
                reason=budget.reason,
                message=f"{budget.message}; a legacy API key cannot be verified",
                values=budget.values,
            )
        # While requests are paused a verification could only wait; the last verdict stands.
        not_paused = budget.values["budget_paused_s"] == 0
        if not_paused and verify_due(self._token, self._timer(), s.verify_token):
            self._token = await self._verify(ctx, Deadline(usable_time(ctx.timeout_s), self._timer))
        return self._combine(budget, self._token)

    async def _verify(self, ctx: ProbeContext, deadline: Deadline) -> TokenCheck:
        """Ask Cloudflare about the token (one request)."""
        accounts = ctx.cf.accounts
        try:
            async with asyncio.timeout(max(0.0, deadline.remaining())):
                if self.settings.token_owner == "account":  # noqa: S105 - not a secret
                    answer = await accounts.verify_account_token(ctx.account_id)
                else:
                    answer = await accounts.verify_token()
        except TimeoutError:
            return TokenCheck(
                self._timer(),
                Status.WARN,
                Reason.TIMEOUT,
                f"token verification did not answer within {deadline.seconds:.1f} s",
            )
        except (AuthError, PermissionDenied) as err:
            message = f"the API token is refused: {describe(err)}"
            return TokenCheck(self._timer(), Status.CRIT, Reason.AUTH, message, valid=False)
        except CloudflareError as err:
            return TokenCheck(
                self._timer(),
                Status.WARN,
                reason_for(err),
                f"token verification failed: {describe(err)}",
            )
        return judge_token(answer, self._timer(), self._wall(), self.settings.expiry_warn)

    def _combine(self, budget: ProbeResult, token: TokenCheck | None) -> ProbeResult:
        if token is None:
            return budget
        values = dict(budget.values)
        if token.valid is not None:
            values["token_valid"] = 1.0 if token.valid else 0.0
        if token.expires_at is not None:
            values["token_expires_in_s"] = token.expires_at - self._wall()
        status = worst(budget.status, token.status)
        reason = token.reason if token.status.rank > budget.status.rank else budget.reason
        if token.reason is Reason.AUTH:
            reason = Reason.AUTH
        return ProbeResult(
            status=status,
            reason=reason if status is not Status.OK else None,
            message=f"{budget.message}; {token.message}",
            values=values,
        )
