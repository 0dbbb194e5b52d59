"""The pages probe against the contract-checked simulator: builds, the site, API trouble."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cfapi.pages import PagesDeployment
from probes.base import ProbeContext, Reason, Status
from probes.pages import PagesProbe, PagesSettings
from tests.conftest import SimHandle

PROJECT = "spacevision-web"
SITE = "http://spacevision.app/"


def probe(**entry: Any) -> PagesProbe:
    """A pages probe for the seed's project, built from a config entry."""
    return PagesProbe(
        PagesSettings.model_validate({"name": "web", "type": "pages", "project": PROJECT, **entry})
    )


async def fault(sim: SimHandle, **spec: Any) -> None:
    """Inject a simulator fault."""
    await sim.control("POST", "/__sim/faults", json=spec)


async def settled(
    ctx: ProbeContext, deployment_id: str, deadline_s: float = 10.0
) -> PagesDeployment:
    """Poll a deployment until its build has finished (or the deadline passes)."""
    end = time.monotonic() + deadline_s
    while True:
        dep = await ctx.cf.pages.deployment(ctx.account_id, PROJECT, deployment_id)
        stage = dep.latest_stage
        done = stage is not None and (
            stage.status == "failure" or (stage.name == "deploy" and stage.status == "success")
        )
        if done or time.monotonic() > end:
            return dep
        await asyncio.sleep(0.05)


async def test_live_site_is_ok(probe_ctx: ProbeContext) -> None:
    """The seed's latest production build succeeded and the site answers: ok."""
    result = await probe(url=SITE, body_contains="</html>").run(probe_ctx)
    assert (Status.OK, None) == (result.status, result.reason)
    assert 0.0 == result.values["deployment_failed"]
    assert 86_400.0 == round(result.values["deployment_age_s"], -2)
    assert "live, built 24 h ago" in result.message
    assert 200.0 == result.values["status_code"]


async def test_failed_build_is_crit_with_stage_and_cause(
    probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """A new production build fails: crit assertion, the stage and the log's error named,
    while the site (the previous deployment) still answers."""
    await fault(sim, service="pages", resource=PROJECT, exception="npm ERR! code ELIFECYCLE")
    dep = await probe_ctx.cf.pages.create_deployment(sim.account_id, PROJECT, branch="main")
    failed = await settled(probe_ctx, dep.id)
    assert failed.latest_stage is not None
    assert "failure" == failed.latest_stage.status
    await sim.control("DELETE", "/__sim/faults")

    result = await probe(url=SITE).run(probe_ctx)

    assert (Status.CRIT, Reason.ASSERTION) == (result.status, result.reason)
    assert 1.0 == result.values["deployment_failed"]
    assert f"deployment {dep.id[:8]}" in result.message
    assert "failed at stage build" in result.message
    assert "Error: npm ERR! code ELIFECYCLE" in result.message
    assert 200.0 == result.values["status_code"]


async def test_build_log_is_read_once_per_failed_deployment(
    probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """The failure's cause costs one extra request, not one per run."""
    await fault(sim, service="pages", resource=PROJECT, exception="npm ERR! missing script")
    dep = await probe_ctx.cf.pages.create_deployment(sim.account_id, PROJECT, branch="main")
    await settled(probe_ctx, dep.id)
    await sim.control("DELETE", "/__sim/faults")
    web = probe()
    await web.run(probe_ctx)
    await sim.control("DELETE", "/__sim/requests")
    result = await web.run(probe_ctx)
    log: list[dict[str, Any]] = await sim.control("GET", "/__sim/requests")
    assert ["deployments"] == [r["path"].rsplit("/", 1)[1] for r in log]
    assert "npm ERR! missing script" in result.message


async def test_build_in_progress_is_ok(probe_ctx: ProbeContext, sim: SimHandle) -> None:
    """A build that has just started is normal: ok, saying it is in progress."""
    dep = await probe_ctx.cf.pages.create_deployment(sim.account_id, PROJECT, branch="main")
    result = await probe().run(probe_ctx)
    assert (Status.OK, None) == (result.status, result.reason)
    assert f"deployment {dep.id[:8]}" in result.message
    assert "in progress: stage" in result.message
    assert 0.0 == result.values["deployment_failed"]


async def test_successful_rebuild_clears_a_failure(probe_ctx: ProbeContext, sim: SimHandle) -> None:
    """After a failed build, a good one makes the probe ok again (latest deployment wins)."""
    await fault(sim, service="pages", resource=PROJECT, exception="boom")
    bad = await probe_ctx.cf.pages.create_deployment(sim.account_id, PROJECT, branch="main")
    await settled(probe_ctx, bad.id)
    await sim.control("DELETE", "/__sim/faults")
    good = await probe_ctx.cf.pages.create_deployment(sim.account_id, PROJECT, branch="main")
    await settled(probe_ctx, good.id)
    result = await probe().run(probe_ctx)
    assert (Status.OK, 0.0) == (result.status, result.values["deployment_failed"])
    assert f"deployment {good.id[:8]}" in result.message


async def test_missing_project_is_crit_not_found(probe_ctx: ProbeContext) -> None:
    """A project that does not exist (deleted, misspelt): crit not_found."""
    web = PagesProbe(
        PagesSettings.model_validate({"name": "web", "type": "pages", "project": "no-such-site"})
    )
    result = await web.run(probe_ctx)
    assert (Status.CRIT, Reason.NOT_FOUND) == (result.status, result.reason)
    assert "Pages project 'no-such-site' not found in the account" == result.message


async def test_api_outage_with_site_up_warns(probe_ctx: ProbeContext, sim: SimHandle) -> None:
    """The Pages API is rate limited but the site answers: warn rate_limited, site numbers kept."""
    await fault(sim, service="pages", rate_limit=True)
    result = await probe(url=SITE).run(probe_ctx)
    assert (Status.WARN, Reason.RATE_LIMITED) == (result.status, result.reason)
    assert "deployment unknown: rate limited by the Cloudflare API" in result.message
    assert 200.0 == result.values["status_code"]


async def test_pages_outage_is_crit(probe_ctx: ProbeContext, sim: SimHandle) -> None:
    """A Pages outage takes the API and the site: crit, the site's 522 first."""
    await fault(sim, service="pages", outage=True)
    result = await probe(url=SITE).run(probe_ctx)
    assert (Status.CRIT, Reason.HTTP_STATUS) == (result.status, result.reason)
    assert 522.0 == result.values["status_code"]
    assert "deployment unknown: Cloudflare API HTTP 503" in result.message


async def test_deployment_progress_is_reported_as_events(
    probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """A new production build shows up as an event, and again when it goes live."""
    web = probe()
    first = await web.run(probe_ctx)
    dep = await probe_ctx.cf.pages.create_deployment(sim.account_id, PROJECT, branch="main")
    building = await web.run(probe_ctx)
    await settled(probe_ctx, dep.id)
    live = await web.run(probe_ctx)
    again = await web.run(probe_ctx)

    assert () == first.events
    assert [("pages_deployment_changed", "building")] == [
        (e.kind, e.fields["phase"]) for e in building.events
    ]
    assert [("pages_deployment_changed", "live")] == [
        (e.kind, e.fields["phase"]) for e in live.events
    ]
    assert dep.id == live.events[0].fields["deployment_id"]
    assert () == again.events
