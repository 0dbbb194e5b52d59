"""Pages through the client: projects, deployments, logs, retry, rollback, domains, tails."""

from __future__ import annotations

from cfapi.client import CloudflareClient
from cfapi.pages import PagesDeployment
from tests.conftest import SimHandle

PROJECT = "spacevision-web"


async def _production(client: CloudflareClient, account_id: str) -> list[PagesDeployment]:
    return [d async for d in client.pages.deployments(account_id, PROJECT, env="production")]


async def test_projects_are_listed_and_fetched(sim: SimHandle, client: CloudflareClient) -> None:
    """The seeded project is listed and fetched with its domains."""
    names = [p.name async for p in client.pages.projects(sim.account_id)]
    project = await client.pages.project(sim.account_id, PROJECT)
    assert (names, "spacevision.app" in (project.domains or [])) == ([PROJECT], True)


async def test_deployments_page_and_filter_by_environment(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """Every deployment comes back over small pages; env filters production ones."""
    everything = [d async for d in client.pages.deployments(sim.account_id, PROJECT, per_page=2)]
    production = await _production(client, sim.account_id)
    assert (len(everything), {d.environment for d in production}) == (6, {"production"})


async def test_failed_deployment_logs_and_retry(sim: SimHandle, client: CloudflareClient) -> None:
    """The failed build's log says why; a retry starts a new deployment."""
    failed = next(d for d in await _production(client, sim.account_id) if not d.succeeded)
    logs = await client.pages.logs(sim.account_id, PROJECT, failed.id)
    retried = await client.pages.retry(sim.account_id, PROJECT, failed.id)
    lines = " ".join(line.line or "" for line in logs.data or [])
    assert ("StarField" in lines, retried.id != failed.id) == (True, True)


async def test_rollback_to_an_earlier_success(sim: SimHandle, client: CloudflareClient) -> None:
    """Rolling back makes an earlier successful production deployment live again."""
    production = await _production(client, sim.account_id)
    earlier = next(d for d in production[1:] if d.succeeded)
    rolled = await client.pages.rollback(sim.account_id, PROJECT, earlier.id)
    project = await client.pages.project(sim.account_id, PROJECT)
    canonical = project.canonical_deployment
    assert (rolled.id, canonical.id if canonical else None) == (earlier.id, earlier.id)


async def test_domains(sim: SimHandle, client: CloudflareClient) -> None:
    """Custom domains are listed with their status."""
    domains = await client.pages.domains(sim.account_id, PROJECT)
    assert sorted(d.name or "" for d in domains) == ["spacevision.app", "www.spacevision.app"]


async def test_create_and_delete_a_deployment(sim: SimHandle, client: CloudflareClient) -> None:
    """A branch deployment is started, fetched and deleted."""
    created = await client.pages.create_deployment(sim.account_id, PROJECT, branch="preview-x")
    fetched = await client.pages.deployment(sim.account_id, PROJECT, created.id)
    await client.pages.delete_deployment(sim.account_id, PROJECT, created.id, force=True)
    remaining = [d.id async for d in client.pages.deployments(sim.account_id, PROJECT)]
    assert (fetched.id, created.id in remaining) == (created.id, False)


async def test_deployment_tails(sim: SimHandle, client: CloudflareClient) -> None:
    """A deployment's Functions can be tailed over REST: create, delete."""
    live = (await _production(client, sim.account_id))[0]
    tail = await client.pages.create_tail(sim.account_id, PROJECT, live.id)
    await client.pages.delete_tail(sim.account_id, PROJECT, live.id, tail.id)
    assert (tail.url or "").startswith("ws")
