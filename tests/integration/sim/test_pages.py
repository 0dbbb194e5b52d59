"""Pages over HTTP: projects, deployments and their build stages, logs, retry, rollback, delete."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.conftest import SimHandle

PROJECT = "spacevision-web"
DEADLINE_S = 10.0


def project_path(sim: SimHandle) -> str:
    """The seeded project's API path."""
    return f"/accounts/{sim.account_id}/pages/projects/{PROJECT}"


def branch_form(branch: str, message: str = "Deploy from the test") -> aiohttp.FormData:
    """The multipart body wrangler sends to create a deployment."""
    form = aiohttp.FormData()
    form.add_field("branch", branch, content_type="text/plain")
    form.add_field("commit_message", message, content_type="text/plain")
    return form


async def deployments(sim: SimHandle, **params: str) -> list[dict[str, Any]]:
    """The project's deployments, newest first."""
    status, body = await sim.call("GET", project_path(sim) + "/deployments", params=params)
    assert status == 200
    result: list[dict[str, Any]] = body["result"]
    return result


async def create(sim: SimHandle, branch: str = "main") -> dict[str, Any]:
    """Start a deployment of ``branch``."""
    status, body = await sim.call(
        "POST", project_path(sim) + "/deployments", data=branch_form(branch)
    )
    assert status == 200, body
    result: dict[str, Any] = body["result"]
    return result


async def wait_until(
    sim: SimHandle, deployment_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Poll a deployment until ``done`` holds, failing after a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while True:
        status, body = await sim.call("GET", f"{project_path(sim)}/deployments/{deployment_id}")
        assert status == 200
        if done(body["result"]):
            result: dict[str, Any] = body["result"]
            return result
        assert loop.time() < deadline, (
            f"deployment never finished: {body['result']['latest_stage']}"
        )
        await asyncio.sleep(0.05)


def finished(dep: dict[str, Any]) -> bool:
    """Whether a deployment's build has ended, one way or the other."""
    stage = dep["latest_stage"]
    return stage["status"] == "failure" or (stage["name"], stage["status"]) == ("deploy", "success")


async def canonical_id(sim: SimHandle) -> str:
    """The id of the live production deployment."""
    status, body = await sim.call("GET", project_path(sim))
    assert status == 200
    result: str = body["result"]["canonical_deployment"]["id"]
    return result


async def test_project_is_listed_with_its_domains(sim: SimHandle) -> None:
    """The seeded project lists its pages.dev subdomain and custom domains."""
    status, body = await sim.call("GET", f"/accounts/{sim.account_id}/pages/projects")
    assert status == 200
    [project] = body["result"]
    assert (project["name"], project["production_branch"]) == (PROJECT, "main")
    assert ["spacevision-web.pages.dev", "spacevision.app", "www.spacevision.app"] == project[
        "domains"
    ]


async def test_seed_has_four_production_and_two_preview_deployments(sim: SimHandle) -> None:
    """The env filter splits the seeded history: 4 production (one failed), 2 previews."""
    production = await deployments(sim, env="production")
    preview = await deployments(sim, env="preview")
    assert (4, 2) == (len(production), len(preview))
    assert [("build", "failure")] == [
        (d["latest_stage"]["name"], d["latest_stage"]["status"])
        for d in production
        if d["latest_stage"]["status"] == "failure"
    ]


async def test_deployments_paginate(sim: SimHandle) -> None:
    """page/per_page page through the deployments, newest first."""
    everything = await deployments(sim)
    status, body = await sim.call(
        "GET", project_path(sim) + "/deployments", params={"page": "2", "per_page": "2"}
    )
    assert status == 200
    assert [d["id"] for d in everything[2:4]] == [d["id"] for d in body["result"]]
    assert body["result_info"]["total_count"] == len(everything)


async def test_too_large_a_page_is_8000024(sim: SimHandle) -> None:
    """Pages refuses page sizes it does not support with its list-options error."""
    status, body = await sim.call(
        "GET", project_path(sim) + "/deployments", params={"per_page": "100"}
    )
    assert (status, body["errors"][0]["code"]) == (400, 8000024)


async def test_unknown_project_is_8000007(sim: SimHandle) -> None:
    """An unknown project answers Cloudflare's project-not-found error."""
    status, body = await sim.call("GET", f"/accounts/{sim.account_id}/pages/projects/nope")
    assert (status, body["errors"][0]["code"]) == (404, 8000007)


async def test_unknown_deployment_is_8000009(sim: SimHandle) -> None:
    """An unknown deployment id answers 8000009."""
    status, body = await sim.call(
        "GET", project_path(sim) + "/deployments/00000000-0000-0000-0000-000000000000"
    )
    assert (status, body["errors"][0]["code"]) == (404, 8000009)


async def test_new_deployment_walks_the_stages_and_goes_live(sim: SimHandle) -> None:
    """A production deployment starts queued, ends deployed, and becomes the live one."""
    dep = await create(sim)
    assert (dep["environment"], dep["stages"][0]["name"]) == ("production", "queued")
    assert dep["latest_stage"]["status"] == "active"
    done = await wait_until(sim, dep["id"], finished)
    assert [("deploy", "success")] == [
        (done["latest_stage"]["name"], done["latest_stage"]["status"])
    ]
    assert ["success"] * 5 == [s["status"] for s in done["stages"]]
    assert dep["id"] == await canonical_id(sim)


async def test_branch_deployment_is_a_preview_with_an_alias(sim: SimHandle) -> None:
    """A non-production branch deploys as a preview reachable at its branch alias."""
    dep = await create(sim, "feature/dark-mode")
    done = await wait_until(sim, dep["id"], finished)
    assert done["environment"] == "preview"
    assert ["https://feature-dark-mode.spacevision-web.pages.dev"] == done["aliases"]


async def test_build_fails_while_a_pages_fault_is_active(sim: SimHandle) -> None:
    """An exception fault on the project fails the build stage; the live site stays put."""
    live = await canonical_id(sim)
    await sim.control(
        "POST",
        "/__sim/faults",
        json={"service": "pages", "resource": PROJECT, "exception": "npm ERR! code ELIFECYCLE"},
    )
    dep = await create(sim)
    done = await wait_until(sim, dep["id"], finished)
    assert {"name": "build", "status": "failure"} == {
        k: done["latest_stage"][k] for k in ("name", "status")
    }
    assert live == await canonical_id(sim)


async def test_failed_build_logs_name_the_error(sim: SimHandle) -> None:
    """The seeded failed build's log carries the compiler error and the failure line."""
    failed = next(d for d in await deployments(sim) if d["latest_stage"]["status"] == "failure")
    status, body = await sim.call(
        "GET", f"{project_path(sim)}/deployments/{failed['id']}/history/logs"
    )
    assert status == 200
    lines = [entry["line"] for entry in body["result"]["data"]]
    assert "Failed: build command exited with code: 1" in lines
    assert any("StarField" in line for line in lines)


async def test_retry_rebuilds_a_failed_deployment(sim: SimHandle) -> None:
    """Retrying the failed build makes a new deployment of the same commit that succeeds."""
    failed = next(d for d in await deployments(sim) if d["latest_stage"]["status"] == "failure")
    status, body = await sim.call(
        "POST", f"{project_path(sim)}/deployments/{failed['id']}/retry", json={}
    )
    assert status == 200
    retry = body["result"]
    assert retry["id"] != failed["id"]
    assert (
        retry["deployment_trigger"]["metadata"]["commit_hash"]
        == failed["deployment_trigger"]["metadata"]["commit_hash"]
    )
    done = await wait_until(sim, retry["id"], finished)
    assert done["latest_stage"]["status"] == "success"


async def test_rollback_makes_an_older_deployment_live(sim: SimHandle) -> None:
    """Rolling back to an earlier successful production deployment makes it the live one."""
    older = [
        d
        for d in await deployments(sim, env="production")
        if d["latest_stage"]["status"] == "success"
    ][1]
    status, body = await sim.call(
        "POST", f"{project_path(sim)}/deployments/{older['id']}/rollback", json={}
    )
    assert (status, body["result"]["id"]) == (200, older["id"])
    assert older["id"] == await canonical_id(sim)


async def test_rollback_to_a_failed_deployment_is_refused(sim: SimHandle) -> None:
    """Only successful deployments can be rolled back to."""
    failed = next(d for d in await deployments(sim) if d["latest_stage"]["status"] == "failure")
    status, body = await sim.call(
        "POST", f"{project_path(sim)}/deployments/{failed['id']}/rollback", json={}
    )
    assert status == 400
    assert "successful" in body["errors"][0]["message"]


async def test_rollback_to_a_preview_is_refused(sim: SimHandle) -> None:
    """Only production deployments can be rolled back to."""
    preview = (await deployments(sim, env="preview"))[0]
    status, body = await sim.call(
        "POST", f"{project_path(sim)}/deployments/{preview['id']}/rollback", json={}
    )
    assert status == 400
    assert "production" in body["errors"][0]["message"]


async def test_live_production_deployment_cannot_be_deleted(sim: SimHandle) -> None:
    """The live production deployment is refused deletion, even with force."""
    live = await canonical_id(sim)
    status, body = await sim.call(
        "DELETE", f"{project_path(sim)}/deployments/{live}", params={"force": "true"}
    )
    assert (status, body["errors"][0]["code"]) == (400, 8000034)


async def test_old_production_deployment_can_be_deleted(sim: SimHandle) -> None:
    """A superseded production deployment can be deleted."""
    oldest = (await deployments(sim, env="production"))[-1]
    status, _ = await sim.call("DELETE", f"{project_path(sim)}/deployments/{oldest['id']}")
    assert status == 200
    assert oldest["id"] not in [d["id"] for d in await deployments(sim)]


async def test_aliased_preview_needs_force_to_delete(sim: SimHandle) -> None:
    """A preview that still carries its branch alias is deleted only with ?force=true."""
    preview = (await deployments(sim, env="preview"))[0]
    path = f"{project_path(sim)}/deployments/{preview['id']}"
    status, body = await sim.call("DELETE", path)
    assert (status, body["errors"][0]["code"]) == (400, 8000034)
    status, _ = await sim.call("DELETE", path, params={"force": "true"})
    assert status == 200


async def test_domains_are_active(sim: SimHandle) -> None:
    """The custom domains list as active, tied to the spacevision.app zone."""
    status, body = await sim.call("GET", project_path(sim) + "/domains")
    assert status == 200
    assert [("spacevision.app", "active"), ("www.spacevision.app", "active")] == [
        (d["name"], d["status"]) for d in body["result"]
    ]
