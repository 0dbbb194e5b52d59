"""The ``pages`` probe: the latest production deployment of a Pages project, and the site.

One run costs one REST call (the newest production deployments) plus the HTTP checks of the
site; the build log of a failed deployment is read once per failed deployment, to say why.
Reference: docs/probes/pages.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from cfapi import CloudflareError
from cfapi.pages import PagesDeployment
from probes.base import (
    MetricSpec,
    Probe,
    ProbeContext,
    ProbeEvent,
    ProbeResult,
    ProbeSettings,
    Reason,
    Status,
)
from probes.httpcheck import (
    HTTP_METRICS,
    Finding,
    HttpCheck,
    HttpCheckOptions,
    HttpUrl,
    assemble,
    combine,
    deadline_for,
    http_values,
    url_checks,
)
from probes.units import Duration
from probes.workers import (
    ApiTimeout,
    api_finding,
    human_age,
    parse_time,
    run_checks,
    within,
)

DEPLOYMENTS_PER_PAGE = 5
"""Newest production deployments read per run (skipped builds are passed over)."""

IN_PROGRESS = frozenset({"idle", "active", "queued"})
"""Stage statuses of a deployment that has not finished."""


class PagesSettings(ProbeSettings, HttpCheckOptions):
    """``type: pages``: the project, its site's URLs, and how long a build may take.

    The HTTP keys (``expected_status``, ``body_contains``…) apply to ``url`` and to the plain
    URLs of ``urls``; an item of ``urls`` written as a mapping is a check of its own.
    """

    project: str = Field(min_length=1, max_length=255)
    url: HttpUrl | None = None
    urls: tuple[HttpUrl | HttpCheck, ...] = ()
    build_timeout: Duration = Field(default=20 * 60.0, gt=0)

    def checks(self) -> list[tuple[str, HttpCheckOptions]]:
        """Every HTTP check: ``url`` first, then ``urls`` in order."""
        return url_checks(self.url, self.urls, self)


@dataclass(frozen=True, slots=True)
class DeploymentState:
    """What the latest production deployment says, judged (pure)."""

    finding: Finding | None
    text: str
    failed: bool
    age_s: float | None
    phase: str = "other"
    """``building``, ``live``, ``failed``, ``canceled`` or ``other``."""


def describe_source(deployment: PagesDeployment) -> str:
    """``main fdf49a0 "Fix StarField import…"`` from the deployment trigger, when known."""
    metadata = (deployment.deployment_trigger or {}).get("metadata") or {}
    parts = []
    branch = metadata.get("branch")
    if isinstance(branch, str) and branch:
        parts.append(branch)
    commit = metadata.get("commit_hash")
    if isinstance(commit, str) and commit:
        parts.append(commit[:7])
    message = metadata.get("commit_message")
    if isinstance(message, str) and message.strip():
        first = message.strip().splitlines()[0]
        parts.append(f'"{first[:47]}…"' if len(first) > 48 else f'"{first}"')
    return " ".join(parts)


def judge_deployment(
    deployment: PagesDeployment, now: float, build_timeout_s: float, why: str | None = None
) -> DeploymentState:
    """Judge the latest production deployment at ``now``.

    Failed: ``crit`` (reason ``assertion``) naming the failed stage, and ``why`` (a build log
    line) when known. Canceled: ``warn``. Still building: ``ok``, or ``warn`` once it has
    taken longer than ``build_timeout_s``. Deployed: ``ok``.
    """
    created = parse_time(deployment.created_on)
    age_s = None if created is None else max(0.0, now - created)
    ago = "" if age_s is None else f" {human_age(age_s)} ago"
    source = describe_source(deployment)
    of = f" ({source})" if source else ""
    short = deployment.short_id or deployment.id[:8]
    stage = deployment.latest_stage
    name = (stage.name if stage else None) or "unknown"
    status = (stage.status if stage else None) or "unknown"
    if status == "failure":
        text = f"deployment {short}{of} failed at stage {name}{ago}"
        if why:
            text += f": {why}"
        finding = Finding(Status.CRIT, Reason.ASSERTION, text)
        return DeploymentState(finding, text, True, age_s, "failed")
    if status == "canceled":
        text = f"deployment {short}{of} was canceled at stage {name}{ago}"
        finding = Finding(Status.WARN, Reason.ASSERTION, text)
        return DeploymentState(finding, text, False, age_s, "canceled")
    if deployment.succeeded:
        text = f"deployment {short}{of} live, built{ago}"
        return DeploymentState(None, text, False, age_s, "live")
    if status in IN_PROGRESS or name != "deploy":
        started = "" if age_s is None else f", started {human_age(age_s)} ago"
        text = f"deployment {short}{of} in progress: stage {name} {status}{started}"
        if age_s is not None and age_s > build_timeout_s:
            text += f", longer than build_timeout {human_age(build_timeout_s)}"
            finding = Finding(Status.WARN, Reason.ASSERTION, text)
            return DeploymentState(finding, text, False, age_s, "building")
        return DeploymentState(None, text, False, age_s, "building")
    text = f"deployment {short}{of}: stage {name} is {status}"
    return DeploymentState(Finding(Status.WARN, Reason.ASSERTION, text), text, False, age_s)


def failure_line(lines: list[str]) -> str | None:
    """The build log line that says why a build failed: the first ``Error…``, else the last
    ``Failed…`` line (trimmed to 160 characters)."""
    chosen = next((ln for ln in lines if ln.lstrip().lower().startswith("error")), None)
    if chosen is None:
        chosen = next(
            (ln for ln in reversed(lines) if ln.lstrip().lower().startswith("failed")), None
        )
    if chosen is None:
        return None
    chosen = " ".join(chosen.split())
    return chosen if len(chosen) <= 160 else chosen[:159] + "…"


class PagesProbe(Probe[PagesSettings]):
    """Checks one Pages project: its latest production build and the site it serves."""

    type_name: ClassVar[str] = "pages"
    service: ClassVar[str] = "pages"
    settings_model: ClassVar[type[ProbeSettings]] = PagesSettings
    values: ClassVar[frozenset[str]] = frozenset(
        {
            "deployment_failed",
            "deployment_age_s",
            "status_code",
            "latency_ms",
            "tls_expiry_days",
            "checks_failed",
        }
    )
    metrics: ClassVar[Mapping[str, MetricSpec]] = {
        "deployment_failed": MetricSpec(
            "pages_deployment_failed",
            "1 when the latest production deployment failed, else 0",
        ),
        "deployment_age_s": MetricSpec(
            "pages_deployment_age_seconds", "Time since the latest production deployment"
        ),
        **HTTP_METRICS,
    }

    def __init__(self, settings: PagesSettings) -> None:
        super().__init__(settings)
        self._checks = settings.checks()
        self._why: tuple[str, str | None] | None = None  # (failed deployment id, log line)
        self._seen: tuple[str, str] | None = None  # (deployment id, phase) of the last run

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """The newest production deployments and the URL checks, concurrently."""
        timeout_s = deadline_for(ctx.timeout_s)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deployment, outcomes = await asyncio.gather(
            self._latest(ctx, timeout_s), run_checks(ctx, self._checks, timeout_s)
        )
        values: dict[str, float] = http_values(outcomes)
        parts = [combine(outcomes)[2]] if outcomes else []
        root: list[Finding] = []
        other: list[Finding] = []
        events: tuple[ProbeEvent, ...] = ()
        if isinstance(deployment, PagesDeployment):
            left_s = timeout_s - (loop.time() - started)
            why = await self._failure_reason(ctx, deployment, left_s)
            state = judge_deployment(deployment, ctx.clock(), self.settings.build_timeout, why)
            events = self._change(deployment, state)
            values["deployment_failed"] = 1.0 if state.failed else 0.0
            if state.age_s is not None:
                values["deployment_age_s"] = state.age_s
            if state.finding is None:
                parts.append(state.text)
            else:
                other.append(state.finding)
        elif deployment is None:
            other.append(Finding(Status.WARN, Reason.ASSERTION, "no production deployment yet"))
        else:
            missing = f"Pages project {self.settings.project!r} not found in the account"
            finding = api_finding(deployment, outcomes, missing)
            (root if finding.reason in (Reason.NOT_FOUND, Reason.AUTH) else other).append(finding)
        return assemble(root, outcomes, parts, other, values, events)

    def _change(
        self, deployment: PagesDeployment, state: DeploymentState
    ) -> tuple[ProbeEvent, ...]:
        """A ``pages_deployment_changed`` event when a new production deployment appears or
        the latest one moves on (building → live or failed); nothing on the first run."""
        seen = (deployment.id, state.phase)
        before, self._seen = self._seen, seen
        if before is None or before == seen:
            return ()
        fields = {"deployment_id": deployment.id, "phase": state.phase}
        return (ProbeEvent("pages_deployment_changed", state.text, fields),)

    async def _latest(
        self, ctx: ProbeContext, timeout_s: float
    ) -> PagesDeployment | CloudflareError | ApiTimeout | None:
        """The newest production deployment that was not skipped (one page, one request)."""

        async def first() -> PagesDeployment | None:
            fallback: PagesDeployment | None = None
            seen = 0
            async for dep in ctx.cf.pages.deployments(
                ctx.account_id,
                self.settings.project,
                env="production",
                per_page=DEPLOYMENTS_PER_PAGE,
            ):
                if not dep.is_skipped:
                    return dep
                fallback = fallback or dep
                seen += 1
                if seen >= DEPLOYMENTS_PER_PAGE:
                    break
            return fallback

        try:
            return await within(first(), timeout_s, "Cloudflare API")
        except (CloudflareError, ApiTimeout) as err:
            return err

    async def _failure_reason(
        self, ctx: ProbeContext, deployment: PagesDeployment, timeout_s: float
    ) -> str | None:
        """The build log line explaining a failure: read once per failed deployment."""
        stage = deployment.latest_stage
        if stage is None or stage.status != "failure":
            return None
        if self._why is not None and self._why[0] == deployment.id:
            return self._why[1]
        if timeout_s <= 0:
            return None
        try:
            logs = await within(
                ctx.cf.pages.logs(ctx.account_id, self.settings.project, deployment.id),
                timeout_s,
                "Cloudflare API",
            )
        except (CloudflareError, ApiTimeout):
            return None  # asked again next run
        line = failure_line([entry.line or "" for entry in logs.data or []])
        self._why = (deployment.id, line)
        return line
