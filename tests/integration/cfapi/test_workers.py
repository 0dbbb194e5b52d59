"""Workers through the client: scripts, versions, deployments, rollback, settings, subdomains."""

from __future__ import annotations

import pytest

from cfapi.client import CloudflareClient
from cfapi.errors import ApiError, NotFound
from tests.conftest import SimHandle

MODULE = b"export default { async fetch() { return new Response('hi from probe') } };\n"


async def test_scripts_are_listed(sim: SimHandle, client: CloudflareClient) -> None:
    """The seeded Workers are listed."""
    names = sorted(s.id or "" for s in await client.workers.list_scripts(sim.account_id))
    assert names == ["api", "image-processor"]


async def test_upload_download_and_delete(sim: SimHandle, client: CloudflareClient) -> None:
    """A module Worker is uploaded as multipart, downloaded, and deleted."""
    uploaded = await client.workers.upload(
        sim.account_id,
        "probe",
        modules={"index.js": MODULE},
        main_module="index.js",
        compatibility_date="2026-01-01",
    )
    content = await client.workers.download(sim.account_id, "probe")
    await client.workers.delete(sim.account_id, "probe")
    with pytest.raises(NotFound):
        await client.workers.settings(sim.account_id, "probe")
    assert (uploaded.id, MODULE in content.body) == ("probe", True)


async def test_content_can_be_replaced(sim: SimHandle, client: CloudflareClient) -> None:
    """PUT …/content swaps the code; GET …/content/v2 serves it."""
    await client.workers.put_content(
        sim.account_id, "image-processor", modules={"index.js": MODULE}, main_module="index.js"
    )
    content = await client.workers.content(sim.account_id, "image-processor")
    assert MODULE in content.body


async def test_settings_are_read_and_patched(sim: SimHandle, client: CloudflareClient) -> None:
    """Settings come back typed; a PATCH changes one of them."""
    before = await client.workers.settings(sim.account_id, "api")
    after = await client.workers.patch_settings(sim.account_id, "api", {"logpush": True})
    assert (bool(before.bindings), after.logpush) == (True, True)


async def test_versions_and_deployments(sim: SimHandle, client: CloudflareClient) -> None:
    """Versions page as result.items; deployments come from result.deployments, newest first."""
    versions = [v async for v in client.workers.versions(sim.account_id, "api", per_page=2)]
    one = await client.workers.version(sim.account_id, "api", versions[0].id)
    deployments = await client.workers.deployments(sim.account_id, "api")
    latest = await client.workers.deployment(sim.account_id, "api", deployments[0].id or "")
    assert (len(versions), one.id, latest.id) == (3, versions[0].id, deployments[0].id)


async def test_rollback_needs_force_after_a_secret_change(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """Rolling back past a secret rotation is refused with 10220 until forced."""
    versions = [v async for v in client.workers.versions(sim.account_id, "api")]
    oldest = min(versions, key=lambda v: v.number or 0)
    with pytest.raises(ApiError) as refused:
        await client.workers.rollback(sim.account_id, "api", oldest.id, message="rollback")
    done = await client.workers.rollback(
        sim.account_id, "api", oldest.id, message="rollback: bad deploy", force=True
    )
    assert 10220 in refused.value.codes
    assert ([v.version_id for v in done.versions], done.message) == (
        [oldest.id],
        "rollback: bad deploy",
    )


async def test_a_version_upload_then_gradual_deploy(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """A new version is uploaded, then deployed to 10 % beside the current one."""
    current = (await client.workers.deployments(sim.account_id, "image-processor"))[0]
    base = current.versions[0].version_id
    new = await client.workers.upload_version(
        sim.account_id,
        "image-processor",
        modules={"index.js": MODULE},
        main_module="index.js",
        compatibility_date="2026-01-01",
        message="canary",
    )
    deployed = await client.workers.create_deployment(
        sim.account_id, "image-processor", [(new.id, 10.0), (base, 90.0)], message="canary 10%"
    )
    assert sorted((v.version_id, v.percentage) for v in deployed.versions) == sorted(
        [(new.id, 10.0), (base, 90.0)]
    )


async def test_subdomains(sim: SimHandle, client: CloudflareClient) -> None:
    """The account's workers.dev subdomain and a script's use of it."""
    account = await client.workers.account_subdomain(sim.account_id)
    enabled = await client.workers.set_script_subdomain(sim.account_id, "api", enabled=True)
    fetched = await client.workers.script_subdomain(sim.account_id, "api")
    renamed = await client.workers.set_account_subdomain(sim.account_id, "spacevision-ops")
    assert (account.subdomain, enabled.enabled, fetched.enabled, renamed.subdomain) == (
        "spacevision",
        True,
        True,
        "spacevision-ops",
    )


async def test_tails_are_created_listed_and_deleted(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """The REST side of tails: create with filters, list, delete."""
    tail = await client.workers.create_tail(sim.account_id, "api", [{"outcome": ["exception"]}])
    listed = [t.id for t in await client.workers.tails(sim.account_id, "api")]
    await client.workers.delete_tail(sim.account_id, "api", tail.id)
    after = [t.id for t in await client.workers.tails(sim.account_id, "api")]
    assert (tail.id in listed, tail.id in after) == (True, False)
