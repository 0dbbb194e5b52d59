"""Remediation actions against the simulator, a local webhook and real subprocesses."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import TypeAdapter

from alerting.actions import ActionContext, perform
from alerting.lifecycle import Alert, AlertEvent
from alerting.model import AlertState
from alerting.remediation import Action, Remediation
from alerting.remediator import AuditLog, Remediator
from cfapi import CloudflareClient, Credentials
from tests.conftest import SimHandle

T0 = 1_800_000_000.0


def _event(kind: str = "firing", **labels: str) -> AlertEvent:
    alert = Alert(
        fingerprint="fp1",
        rule="worker_error_ratio_high",
        severity="critical",
        labels={"probe": "api-worker", "script": "api", "project": "spacevision-web", **labels},
        state=AlertState.FIRING,
        active_since=T0,
        last_active_at=T0,
        last_seen=T0,
        values={"error_ratio": 0.2},
    )
    return AlertEvent(kind=kind, at=T0, alert=alert)  # type: ignore[arg-type]


def _action(data: dict[str, Any]) -> Action:
    return TypeAdapter(Action).validate_python(data)


@pytest.fixture
async def ctx(sim: SimHandle) -> AsyncIterator[ActionContext]:
    """Actions wired to the simulator's account."""
    async with (
        CloudflareClient(Credentials.bearer(sim.token), base_url=sim.api) as cf,
        aiohttp.ClientSession() as http,
    ):
        yield ActionContext(cf=cf, account_id=sim.account_id, http=http)


async def test_worker_rollback_deploys_the_previous_version(
    sim: SimHandle, ctx: ActionContext
) -> None:
    """The rollback puts the previous version back, forced past a changed secret only if asked."""
    before = await ctx.cf.workers.deployments(sim.account_id, "api")
    previous = {v.version_id for v in before[1].versions}
    refused = await perform(_action({"type": "worker_rollback"}), _event(), ctx)
    assert not refused.ok
    assert "10220" in refused.detail
    result = await perform(_action({"type": "worker_rollback", "force": True}), _event(), ctx)
    assert result.ok, result.detail
    after = await ctx.cf.workers.deployments(sim.account_id, "api")
    assert len(before) + 1 == len(after)
    assert {v.version_id for v in after[0].versions} <= previous
    assert "flarewatch remediation" in (after[0].message or "")


async def test_pages_rollback_makes_an_earlier_deployment_live(
    sim: SimHandle, ctx: ActionContext
) -> None:
    """The Pages rollback moves production to the previous successful deployment."""
    live = (await ctx.cf.pages.project(sim.account_id, "spacevision-web")).canonical_deployment
    assert live is not None
    result = await perform(_action({"type": "pages_rollback"}), _event(), ctx)
    assert result.ok, result.detail
    now_live = (await ctx.cf.pages.project(sim.account_id, "spacevision-web")).canonical_deployment
    assert now_live is not None
    assert live.id != now_live.id


async def test_cpu_limit_and_placement_change_the_worker(
    sim: SimHandle, ctx: ActionContext
) -> None:
    """Tuning actions change the Worker's settings as Cloudflare reports them."""
    assert (await perform(_action({"type": "worker_cpu_limit", "cpu_ms": 200}), _event(), ctx)).ok
    assert (await perform(_action({"type": "worker_placement", "mode": "smart"}), _event(), ctx)).ok
    settings = await ctx.cf.workers.settings(sim.account_id, "api")
    assert {"cpu_ms": 200} == settings.limits
    assert "smart" == (settings.placement or {}).get("mode")


async def test_purge_and_dns_failover(sim: SimHandle, ctx: ActionContext) -> None:
    """The zone's cache is purged, and a record is pointed at the standby."""
    purge = await perform(
        _action({"type": "purge_cache", "zone": "spacevision.app"}), _event(), ctx
    )
    assert purge.ok, purge.detail
    zone = await ctx.cf.zones.find("spacevision.app")
    assert zone is not None
    records = [r async for r in ctx.cf.dns.list(zone.id, name="www.spacevision.app")]
    record = records[0]
    failover = _action(
        {
            "type": "dns_failover",
            "zone": "spacevision.app",
            "name": "www",
            "record_type": record.type,
            "content": "standby.spacevision.app",
        }
    )
    result = await perform(failover, _event(), ctx)
    assert result.ok, result.detail
    changed = await ctx.cf.dns.get(zone.id, record.id)
    assert "standby.spacevision.app" == changed.content


async def test_cloudflare_refusal_is_a_failed_result(sim: SimHandle, ctx: ActionContext) -> None:
    """A rollback of a Worker that does not exist fails with Cloudflare's reason, no exception."""
    result = await perform(_action({"type": "worker_rollback", "script": "ghost"}), _event(), ctx)
    assert not result.ok
    assert "Cloudflare refused" in result.detail


async def test_command_gets_the_alert_and_a_clean_environment(
    ctx: ActionContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command hook sees FLAREWATCH_* variables and none of the daemon's secrets."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "secret-token-value")
    out = tmp_path / "env.json"
    script = "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"
    result = await perform(
        _action({"type": "command", "argv": [sys.executable, "-c", script, str(out)]}),
        _event(),
        ctx,
    )
    assert result.ok, result.detail
    env = json.loads(out.read_text())
    assert "api" == env["FLAREWATCH_LABEL_SCRIPT"]
    assert "CLOUDFLARE_API_TOKEN" not in env


async def test_command_failure_and_timeout(ctx: ActionContext) -> None:
    """A non-zero exit and a hang are failed results saying so; the hang is killed."""
    failed = await perform(
        _action(
            {
                "type": "command",
                "argv": [sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
            }
        ),
        _event(),
        ctx,
    )
    assert (False, "exited 3: boom") == (failed.ok, failed.detail.split(" ", 1)[1])
    hung = await perform(
        _action(
            {
                "type": "command",
                "argv": [sys.executable, "-c", "import time; time.sleep(60)"],
                "timeout": "300ms",
            }
        ),
        _event(),
        ctx,
    )
    assert not hung.ok
    assert "timed out after 0.3 s" in hung.detail


async def test_webhook_posts_the_alert_without_leaking_its_url(ctx: ActionContext) -> None:
    """The webhook gets the alert as JSON; the result names the host, never the secret path."""
    got: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        got.append({"body": await request.json(), "auth": request.headers.get("Authorization")})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks/s3cr3t", hook)
    async with TestServer(app, host="127.0.0.1") as server:
        action = _action(
            {
                "type": "webhook",
                "url": str(server.make_url("/hooks/s3cr3t")),
                "headers": {"Authorization": "Bearer tok"},
            }
        )
        result = await perform(action, _event(), ctx)
    assert result.ok
    assert "s3cr3t" not in result.detail
    assert "api" == got[0]["body"]["alert"]["labels"]["script"]
    assert "Bearer tok" == got[0]["auth"]
    assert "s3cr3t" not in repr(action)


async def test_remediator_audits_and_keeps_cooldowns_across_restarts(
    ctx: ActionContext, tmp_path: Path
) -> None:
    """Runs are audited; a restarted remediator still honours the cooldown of the last run."""
    hook = Remediation.model_validate(
        {"name": "rollback", "action": {"type": "worker_rollback", "force": True}, "cooldown": "1h"}
    )
    audit = AuditLog(tmp_path / "remediations.jsonl")
    clock = [T0]
    first = Remediator([hook], audit, ctx, log=structlog.get_logger(), clock=lambda: clock[0])
    assert ["run"] == [d.verdict for d in first.submit([_event()])]
    await first.drain()
    [outcome] = first.take_outcomes("fp1")
    assert "ok" == outcome.outcome
    assert [] == first.take_outcomes("fp1")
    clock[0] += 60
    second = Remediator([hook], audit, ctx, log=structlog.get_logger(), clock=lambda: clock[0])
    [decision] = second.submit([_event()])
    assert "skip" == decision.verdict
    lines = [json.loads(line) for line in audit.path.read_text().splitlines()]
    assert ["ok", "skipped"] == [line["outcome"] for line in lines]


async def test_a_crashing_action_is_a_failed_run(ctx: ActionContext, tmp_path: Path) -> None:
    """A bug in an action is contained: the run is audited as failed and the caller lives on."""

    async def explode(*_: Any) -> Any:
        raise RuntimeError("bug")

    hook = Remediation.model_validate({"name": "x", "action": {"type": "worker_rollback"}})
    audit = AuditLog(tmp_path / "a.jsonl")
    remediator = Remediator(
        [hook], audit, ctx, log=structlog.get_logger(), clock=lambda: T0, act=explode
    )
    remediator.submit([_event()])
    await remediator.drain()
    [record] = audit.load(0)[0]
    assert ("failed", "internal error: RuntimeError") == (record.outcome, record.detail)
