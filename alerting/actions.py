"""Performing remediation actions: commands, webhooks and Cloudflare changes through ``cfapi``.

Every action returns an :class:`ActionResult` (ok or not, and one line saying what happened);
expected failures are results, not exceptions. Details never carry secrets: webhook URLs and
headers are ``SecretStr`` and are named by host only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from alerting.remediation import (
    Action,
    CommandAction,
    DnsFailover,
    PagesRollback,
    PurgeCache,
    WebhookAction,
    WorkerCpuLimit,
    WorkerPlacement,
    WorkerRollback,
    alert_environment,
    expand,
)
from cfapi import CloudflareError

if TYPE_CHECKING:
    from alerting.lifecycle import AlertEvent
    from cfapi import CloudflareClient

OUTPUT_LIMIT = 2048
"""Bytes of a command's output kept in the audit record."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action did: ``ok`` and a one-line ``detail``."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class ActionContext:
    """What actions may use: the Cloudflare client and account, and an HTTP session."""

    cf: CloudflareClient
    account_id: str
    http: aiohttp.ClientSession


def describe(action: Action, labels: dict[str, str]) -> str:
    """A short, secret-free description of ``action`` for logs and dry runs."""
    try:
        match action:
            case CommandAction():
                return f"run {action.argv[0]}"
            case WebhookAction():
                return f"POST to {urlsplit(action.url.get_secret_value()).hostname}"
            case WorkerRollback():
                return f"roll Worker {expand(action.script, labels)} back"
            case PagesRollback():
                return f"roll Pages project {expand(action.project, labels)} back"
            case PurgeCache():
                return f"purge the cache of {expand(action.zone, labels)}"
            case WorkerCpuLimit():
                return f"set Worker {expand(action.script, labels)} CPU limit to {action.cpu_ms} ms"
            case WorkerPlacement():
                return f"set Worker {expand(action.script, labels)} placement to {action.mode}"
            case DnsFailover():
                return f"point {action.record_type} {action.name} at {action.content}"
    except ValueError as err:
        return f"{action.type} ({err})"
    raise AssertionError(f"unhandled action {action!r}")  # pragma: no cover


async def perform(action: Action, event: AlertEvent, ctx: ActionContext) -> ActionResult:
    """Perform ``action`` for ``event``; any Cloudflare or I/O failure becomes a failed result."""
    labels = dict(event.alert.labels)
    try:
        match action:
            case CommandAction():
                return await _command(action, event)
            case WebhookAction():
                return await _webhook(action, event, ctx)
            case WorkerRollback():
                return await _worker_rollback(expand(action.script, labels), action.force, ctx)
            case PagesRollback():
                return await _pages_rollback(expand(action.project, labels), ctx)
            case PurgeCache():
                return await _purge(action, labels, ctx)
            case WorkerCpuLimit():
                script = expand(action.script, labels)
                await ctx.cf.workers.patch_settings(
                    ctx.account_id, script, {"limits": {"cpu_ms": action.cpu_ms}}
                )
                return ActionResult(True, f"Worker {script} CPU limit set to {action.cpu_ms} ms")
            case WorkerPlacement():
                script = expand(action.script, labels)
                placement = {"mode": "smart"} if action.mode == "smart" else {}
                await ctx.cf.workers.patch_settings(
                    ctx.account_id, script, {"placement": placement}
                )
                return ActionResult(True, f"Worker {script} placement set to {action.mode}")
            case DnsFailover():
                return await _dns_failover(action, labels, ctx)
    except CloudflareError as err:
        return ActionResult(False, f"Cloudflare refused: {err}")
    except ValueError as err:
        return ActionResult(False, str(err))
    raise AssertionError(f"unhandled action {action!r}")  # pragma: no cover


async def _command(action: CommandAction, event: AlertEvent) -> ActionResult:
    env = {"PATH": os.defpath, **action.env, **alert_environment(event)}
    try:
        proc = await asyncio.create_subprocess_exec(
            *action.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    except OSError as err:
        return ActionResult(False, f"cannot run {action.argv[0]}: {err.strerror or err}")
    try:
        async with asyncio.timeout(action.timeout):
            output, _ = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        await proc.wait()
        return ActionResult(False, f"{action.argv[0]} timed out after {action.timeout:g} s")
    text = output[-OUTPUT_LIMIT:].decode("utf-8", "replace").strip()
    last = text.splitlines()[-1] if text else ""
    if proc.returncode == 0:
        return ActionResult(True, f"{action.argv[0]} exited 0" + (f": {last}" if last else ""))
    return ActionResult(
        False, f"{action.argv[0]} exited {proc.returncode}" + (f": {last}" if last else "")
    )


def _alert_json(event: AlertEvent) -> dict[str, Any]:
    alert = event.alert
    return {
        "event": event.kind,
        "at": event.at,
        "rule": alert.rule,
        "severity": alert.severity,
        "fingerprint": alert.fingerprint,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "values": dict(alert.values),
    }


async def _webhook(action: WebhookAction, event: AlertEvent, ctx: ActionContext) -> ActionResult:
    url = action.url.get_secret_value()
    host = urlsplit(url).hostname or "the webhook"
    headers = {k: v.get_secret_value() for k, v in action.headers.items()}
    headers["Content-Type"] = "application/json"
    body = json.dumps({"source": "flarewatch", "alert": _alert_json(event)})
    try:
        async with ctx.http.post(
            url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=action.timeout)
        ) as resp:
            if 200 <= resp.status < 300:
                return ActionResult(True, f"{host} answered {resp.status}")
            return ActionResult(False, f"{host} answered {resp.status}")
    except TimeoutError:
        return ActionResult(False, f"{host} did not answer within {action.timeout:g} s")
    except aiohttp.ClientError as err:
        return ActionResult(False, f"cannot reach {host}: {type(err).__name__}")


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


async def _worker_rollback(script: str, force: bool, ctx: ActionContext) -> ActionResult:
    deployments = await ctx.cf.workers.deployments(ctx.account_id, script)
    if not deployments:
        return ActionResult(False, f"Worker {script} has no deployment to roll back from")
    current = deployments[0]
    current_versions = {v.version_id for v in current.versions}
    for earlier in deployments[1:]:
        versions = sorted(earlier.versions, key=lambda v: v.percentage, reverse=True)
        if versions and {v.version_id for v in versions} != current_versions:
            target = versions[0].version_id
            await ctx.cf.workers.rollback(
                ctx.account_id,
                script,
                target,
                message=f"flarewatch remediation at {_utc_now()}",
                force=force,
            )
            return ActionResult(True, f"Worker {script} rolled back to version {target}")
    return ActionResult(False, f"Worker {script} has no earlier version to roll back to")


async def _pages_rollback(project: str, ctx: ActionContext) -> ActionResult:
    info = await ctx.cf.pages.project(ctx.account_id, project)
    live = info.canonical_deployment.id if info.canonical_deployment else None
    seen_live = live is None
    async for dep in ctx.cf.pages.deployments(ctx.account_id, project, env="production"):
        if dep.id == live:
            seen_live = True
            continue
        if seen_live and dep.succeeded:
            await ctx.cf.pages.rollback(ctx.account_id, project, dep.id)
            return ActionResult(
                True, f"Pages project {project} rolled back to {dep.short_id or dep.id}"
            )
    return ActionResult(False, f"Pages project {project} has no earlier successful deployment")


async def _purge(action: PurgeCache, labels: dict[str, str], ctx: ActionContext) -> ActionResult:
    zone_name = expand(action.zone, labels)
    zone = await ctx.cf.zones.find(zone_name, account_id=ctx.account_id)
    if zone is None:
        return ActionResult(False, f"no zone named {zone_name}")
    if action.hosts or action.prefixes:
        await ctx.cf.zones.purge_cache(zone.id, hosts=action.hosts, prefixes=action.prefixes)
        what = ", ".join([*action.hosts, *action.prefixes])
        return ActionResult(True, f"purged {what} in {zone_name}")
    await ctx.cf.zones.purge_cache(zone.id, everything=True)
    return ActionResult(True, f"purged everything in {zone_name}")


async def _dns_failover(
    action: DnsFailover, labels: dict[str, str], ctx: ActionContext
) -> ActionResult:
    zone_name = expand(action.zone, labels)
    zone = await ctx.cf.zones.find(zone_name, account_id=ctx.account_id)
    if zone is None:
        return ActionResult(False, f"no zone named {zone_name}")
    name = expand(action.name, labels)
    fqdn = name if name.endswith(zone_name) else f"{name}.{zone_name}"
    records = [r async for r in ctx.cf.dns.list(zone.id, type=action.record_type, name=fqdn)]
    if not records:
        return ActionResult(False, f"no {action.record_type} record {fqdn} to point elsewhere")
    record = records[0]
    if record.content == action.content:
        return ActionResult(True, f"{fqdn} already points at {action.content}")
    body: dict[str, Any] = {"type": action.record_type, "name": fqdn, "content": action.content}
    if action.proxied is not None:
        body["proxied"] = action.proxied
    if action.ttl is not None:
        body["ttl"] = action.ttl
    await ctx.cf.dns.patch(zone.id, record.id, body)
    return ActionResult(True, f"{fqdn} now points at {action.content} (was {record.content})")
