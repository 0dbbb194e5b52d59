"""Workers over HTTP: scripts, uploads, versions, deployments, rollbacks, settings, subdomains."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.conftest import SimHandle

HELLO = "export default { async fetch() { return new Response('hello'); } };\n"


def upload_form(metadata: dict[str, Any], modules: dict[str, str]) -> aiohttp.FormData:
    """A multipart upload as wrangler builds it: a JSON ``metadata`` part plus module parts."""
    form = aiohttp.FormData()
    form.add_field(
        "metadata", json.dumps(metadata), filename="blob", content_type="application/json"
    )
    for name, code in modules.items():
        form.add_field(name, code, filename=name, content_type="application/javascript+module")
    return form


def settings_form(settings: dict[str, Any]) -> aiohttp.FormData:
    """The multipart body of ``PATCH …/settings``."""
    form = aiohttp.FormData()
    form.add_field(
        "settings", json.dumps(settings), filename="blob", content_type="application/json"
    )
    return form


def scripts(sim: SimHandle) -> str:
    """The account's scripts path."""
    return f"/accounts/{sim.account_id}/workers/scripts"


async def upload(sim: SimHandle, name: str, code: str = HELLO) -> tuple[int, Any]:
    """PUT a one-module Worker called ``name``."""
    form = upload_form(
        {"main_module": "index.js", "compatibility_date": "2025-09-01"}, {"index.js": code}
    )
    return await sim.call("PUT", f"{scripts(sim)}/{name}", data=form)


async def deployments(sim: SimHandle, name: str) -> list[dict[str, Any]]:
    """The script's deployments, newest first."""
    status, body = await sim.call("GET", f"{scripts(sim)}/{name}/deployments")
    assert status == 200
    result: list[dict[str, Any]] = body["result"]["deployments"]
    return result


async def versions(sim: SimHandle, name: str) -> list[dict[str, Any]]:
    """The script's versions, newest first (first page of 100)."""
    status, body = await sim.call(
        "GET", f"{scripts(sim)}/{name}/versions", params={"per_page": "100"}
    )
    assert status == 200
    result: list[dict[str, Any]] = body["result"]["items"]
    return result


async def test_seeded_workers_are_listed(sim: SimHandle) -> None:
    """The SpaceVision account starts with the api and image-processor Workers."""
    status, body = await sim.call("GET", scripts(sim))
    assert status == 200
    assert ["api", "image-processor"] == [s["id"] for s in body["result"]]


async def test_download_returns_the_raw_script(sim: SimHandle) -> None:
    """GET a script answers its code, not a JSON envelope."""
    async with sim.session.get(sim.api + f"{scripts(sim)}/api", headers=sim.auth) as resp:
        text = await resp.text()
    assert (resp.status, resp.content_type) == (200, "application/javascript")
    assert "export default" in text


async def test_content_v2_is_a_form_of_every_module(sim: SimHandle) -> None:
    """content/v2 answers the serving version's modules as multipart/form-data."""
    url = sim.api + f"{scripts(sim)}/api/content/v2"
    async with sim.session.get(url, headers=sim.auth) as resp:
        reader = aiohttp.MultipartReader.from_response(resp)
        names = []
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            names.append(part.filename)
            await part.read()
    assert ["index.js", "router.js"] == names


async def test_upload_creates_a_version_and_a_full_deployment(sim: SimHandle) -> None:
    """A script upload makes version 1 and a deployment sending it 100 % of traffic."""
    status, body = await upload(sim, "hello")
    assert status == 200
    assert body["result"]["id"] == "hello"
    [version] = await versions(sim, "hello")
    [deployment] = await deployments(sim, "hello")
    assert [{"version_id": version["id"], "percentage": 100.0}] == deployment["versions"]
    assert deployment["annotations"]["workers/triggered_by"] == "upload"


async def test_second_upload_deploys_the_new_version(sim: SimHandle) -> None:
    """Uploading again adds version 2 and makes it the active deployment."""
    await upload(sim, "hello")
    await upload(sim, "hello", HELLO.replace("hello", "hello again"))
    newest, oldest = await versions(sim, "hello")
    assert (newest["number"], oldest["number"]) == (2, 1)
    active = (await deployments(sim, "hello"))[0]
    assert active["versions"][0]["version_id"] == newest["id"]


async def test_upload_without_metadata_is_refused(sim: SimHandle) -> None:
    """A form without the metadata part answers 400 with a Workers error code."""
    form = aiohttp.FormData()
    form.add_field(
        "index.js", HELLO, filename="index.js", content_type="application/javascript+module"
    )
    status, body = await sim.call("PUT", f"{scripts(sim)}/hello", data=form)
    assert (status, body["errors"][0]["code"]) == (400, 10021)


async def test_upload_names_unknown_metadata_fields(sim: SimHandle) -> None:
    """Unknown metadata fields are refused with their names."""
    form = upload_form({"main_module": "index.js", "colour": "blue"}, {"index.js": HELLO})
    status, body = await sim.call("PUT", f"{scripts(sim)}/hello", data=form)
    assert status == 400
    assert "colour" in body["errors"][0]["message"]


async def test_upload_with_missing_entry_module_is_refused(sim: SimHandle) -> None:
    """main_module must name one of the uploaded parts."""
    form = upload_form({"main_module": "main.js"}, {"index.js": HELLO})
    status, body = await sim.call("PUT", f"{scripts(sim)}/hello", data=form)
    assert (status, body["errors"][0]["code"]) == (400, 10021)


async def test_unknown_script_is_10007(sim: SimHandle) -> None:
    """An unknown Worker answers 404 with workers.api.error.script_not_found."""
    status, body = await sim.call("GET", f"{scripts(sim)}/nope/deployments")
    assert (status, body["errors"][0]) == (
        404,
        {"code": 10007, "message": "workers.api.error.script_not_found"},
    )


async def test_version_upload_does_not_deploy(sim: SimHandle) -> None:
    """POST …/versions creates a version but leaves traffic where it was."""
    before = (await deployments(sim, "image-processor"))[0]
    form = upload_form(
        {"main_module": "index.js", "annotations": {"workers/message": "Try WebP"}},
        {"index.js": HELLO},
    )
    status, body = await sim.call("POST", f"{scripts(sim)}/image-processor/versions", data=form)
    assert status == 200
    assert body["result"]["annotations"]["workers/message"] == "Try WebP"
    assert (await versions(sim, "image-processor"))[0]["id"] == body["result"]["id"]
    assert (await deployments(sim, "image-processor"))[0] == before


async def test_versions_paginate_newest_first(sim: SimHandle) -> None:
    """page/per_page walk the versions newest first inside result.items."""
    status, body = await sim.call(
        "GET",
        f"{scripts(sim)}/api/versions",
        params={"deployable": "true", "page": "2", "per_page": "1"},
    )
    assert status == 200
    assert [2] == [v["number"] for v in body["result"]["items"]]
    assert (body["result_info"]["page"], body["result_info"]["per_page"]) == (2, 1)


async def test_version_detail_never_shows_secret_values(sim: SimHandle) -> None:
    """A version's bindings list its secrets by name only."""
    newest = (await versions(sim, "api"))[0]
    status, body = await sim.call("GET", f"{scripts(sim)}/api/versions/{newest['id']}")
    assert status == 200
    secret = next(b for b in body["result"]["resources"]["bindings"] if b["name"] == "JWT_SECRET")
    assert {"type": "secret_text", "name": "JWT_SECRET"} == secret


async def test_rollback_creates_a_deployment_of_the_older_version(sim: SimHandle) -> None:
    """Rolling back is a new deployment sending 100 % to an earlier version."""
    first = (await versions(sim, "image-processor"))[-1]
    status, body = await sim.call(
        "POST",
        f"{scripts(sim)}/image-processor/deployments",
        json={
            "strategy": "percentage",
            "versions": [{"version_id": first["id"], "percentage": 100}],
            "annotations": {"workers/message": "rollback: broken resize"},
        },
    )
    assert status == 200
    active = (await deployments(sim, "image-processor"))[0]
    assert active["id"] == body["result"]["id"]
    assert [{"version_id": first["id"], "percentage": 100.0}] == active["versions"]
    assert {
        "workers/triggered_by": "rollback",
        "workers/message": "rollback: broken resize",
    } == active["annotations"]


async def test_rollback_across_a_secret_change_needs_force(sim: SimHandle) -> None:
    """api rotated JWT_SECRET after version 1: deploying it again is 10220 until forced."""
    first = (await versions(sim, "api"))[-1]
    body = {"strategy": "percentage", "versions": [{"version_id": first["id"], "percentage": 100}]}
    status, refused = await sim.call("POST", f"{scripts(sim)}/api/deployments", json=body)
    assert (status, refused["errors"][0]["code"]) == (400, 10220)
    assert refused["errors"][0]["message"].endswith(
        "The following secrets have changed: JWT_SECRET"
    )
    status, _ = await sim.call(
        "POST", f"{scripts(sim)}/api/deployments", params={"force": "true"}, json=body
    )
    assert status == 200
    assert (await deployments(sim, "api"))[0]["versions"][0]["version_id"] == first["id"]


async def test_gradual_deployment_splits_between_two_versions(sim: SimHandle) -> None:
    """Two versions at 90/10 make a valid gradual deployment."""
    newest, current = (await versions(sim, "api"))[:2]
    split = [
        {"version_id": current["id"], "percentage": 90},
        {"version_id": newest["id"], "percentage": 10},
    ]
    status, body = await sim.call(
        "POST",
        f"{scripts(sim)}/api/deployments",
        json={"strategy": "percentage", "versions": split},
    )
    assert status == 200
    assert [90.0, 10.0] == [v["percentage"] for v in body["result"]["versions"]]


async def test_percentages_must_sum_to_100(sim: SimHandle) -> None:
    """A split of 60 + 30 is refused."""
    newest, current = (await versions(sim, "api"))[:2]
    split = [
        {"version_id": current["id"], "percentage": 60},
        {"version_id": newest["id"], "percentage": 30},
    ]
    status, body = await sim.call(
        "POST",
        f"{scripts(sim)}/api/deployments",
        json={"strategy": "percentage", "versions": split},
    )
    assert status == 400
    assert "sum to 100" in body["errors"][0]["message"]


async def test_at_most_two_versions_per_deployment(sim: SimHandle) -> None:
    """Three versions in one deployment are refused."""
    split = [
        {"version_id": v["id"], "percentage": p}
        for v, p in zip(await versions(sim, "api"), (50, 25, 25), strict=True)
    ]
    status, body = await sim.call(
        "POST",
        f"{scripts(sim)}/api/deployments",
        json={"strategy": "percentage", "versions": split},
    )
    assert status == 400
    assert "1 or 2 versions" in body["errors"][0]["message"]


async def test_deployment_message_is_at_most_50_characters(sim: SimHandle) -> None:
    """workers/message longer than 50 characters is refused, naming the field."""
    current = (await versions(sim, "api"))[1]
    status, body = await sim.call(
        "POST",
        f"{scripts(sim)}/api/deployments",
        json={
            "strategy": "percentage",
            "versions": [{"version_id": current["id"], "percentage": 100}],
            "annotations": {"workers/message": "x" * 51},
        },
    )
    assert status == 400
    assert "workers/message" in body["errors"][0]["message"]


async def test_deployment_of_unknown_version_is_refused(sim: SimHandle) -> None:
    """A deployment naming a version the script does not have is refused."""
    status, body = await sim.call(
        "POST",
        f"{scripts(sim)}/api/deployments",
        json={
            "strategy": "percentage",
            "versions": [{"version_id": "00000000-0000-0000-0000-000000000000", "percentage": 100}],
        },
    )
    assert status == 400
    assert "does not exist" in body["errors"][0]["message"]


async def test_old_deployment_can_be_read_and_deleted(sim: SimHandle) -> None:
    """An older deployment is readable by id, and deletable."""
    old = (await deployments(sim, "api"))[-1]
    status, body = await sim.call("GET", f"{scripts(sim)}/api/deployments/{old['id']}")
    assert (status, body["result"]) == (200, old)
    status, _ = await sim.call("DELETE", f"{scripts(sim)}/api/deployments/{old['id']}")
    assert status == 200
    assert old["id"] not in [d["id"] for d in await deployments(sim, "api")]


async def test_latest_deployment_cannot_be_deleted(sim: SimHandle) -> None:
    """The deployment serving traffic is refused deletion."""
    active = (await deployments(sim, "api"))[0]
    status, body = await sim.call("DELETE", f"{scripts(sim)}/api/deployments/{active['id']}")
    assert status == 400
    assert "latest deployment" in body["errors"][0]["message"]


async def test_settings_show_bindings_of_the_latest_version(sim: SimHandle) -> None:
    """GET settings lists the KV, D1 and R2 bindings and secrets without their values."""
    status, body = await sim.call("GET", f"{scripts(sim)}/api/settings")
    assert status == 200
    kinds = {b["name"]: b["type"] for b in body["result"]["bindings"]}
    assert {
        "SESSIONS": "kv_namespace",
        "DB": "d1",
        "UPLOADS": "r2_bucket",
        "ENVIRONMENT": "plain_text",
        "JWT_SECRET": "secret_text",
    } == kinds


async def test_settings_patch_of_bindings_deploys_a_new_version(sim: SimHandle) -> None:
    """Changing bindings through settings makes and deploys a new version."""
    form = settings_form(
        {"bindings": [{"type": "r2_bucket", "name": "IMAGES", "bucket_name": "thumbs"}]}
    )
    status, body = await sim.call("PATCH", f"{scripts(sim)}/image-processor/settings", data=form)
    assert status == 200
    assert [{"type": "r2_bucket", "name": "IMAGES", "bucket_name": "thumbs"}] == body["result"][
        "bindings"
    ]
    newest = (await versions(sim, "image-processor"))[0]
    assert (await deployments(sim, "image-processor"))[0]["versions"][0]["version_id"] == newest[
        "id"
    ]


async def test_settings_patch_of_logpush_keeps_the_version(sim: SimHandle) -> None:
    """Script-level settings do not create a version."""
    before = await versions(sim, "api")
    status, body = await sim.call(
        "PATCH", f"{scripts(sim)}/api/settings", data=settings_form({"logpush": True})
    )
    assert (status, body["result"]["logpush"]) == (200, True)
    assert before == await versions(sim, "api")


async def test_put_content_deploys_new_code_with_the_same_bindings(sim: SimHandle) -> None:
    """content PUT replaces the code, keeps the configuration, and deploys it."""
    form = upload_form({"main_module": "index.js"}, {"index.js": HELLO})
    status, _ = await sim.call("PUT", f"{scripts(sim)}/image-processor/content", data=form)
    assert status == 200
    async with sim.session.get(
        sim.api + f"{scripts(sim)}/image-processor", headers=sim.auth
    ) as resp:
        assert HELLO == await resp.text()
    newest = (await versions(sim, "image-processor"))[0]
    status, body = await sim.call("GET", f"{scripts(sim)}/image-processor/versions/{newest['id']}")
    assert ["IMAGES"] == [b["name"] for b in body["result"]["resources"]["bindings"]]


async def test_delete_script_removes_it(sim: SimHandle) -> None:
    """A deleted Worker is gone from the list and answers 10007."""
    status, _ = await sim.call("DELETE", f"{scripts(sim)}/image-processor")
    assert status == 200
    status, body = await sim.call("GET", f"{scripts(sim)}/image-processor/settings")
    assert (status, body["errors"][0]["code"]) == (404, 10007)


async def test_script_subdomain_can_be_disabled(sim: SimHandle) -> None:
    """POST subdomain {enabled: false} takes the Worker off workers.dev."""
    status, body = await sim.call("POST", f"{scripts(sim)}/api/subdomain", json={"enabled": False})
    assert (status, body["result"]) == (200, {"enabled": False, "previews_enabled": False})
    status, body = await sim.call("GET", f"{scripts(sim)}/api/subdomain")
    assert body["result"]["enabled"] is False


async def test_account_subdomain_round_trip(sim: SimHandle) -> None:
    """The account subdomain reads as spacevision and can be changed."""
    path = f"/accounts/{sim.account_id}/workers/subdomain"
    status, body = await sim.call("GET", path)
    assert (status, body["result"]) == (200, {"subdomain": "spacevision"})
    status, body = await sim.call("PUT", path, json={"subdomain": "spacevision-staging"})
    assert (status, body["result"]) == (200, {"subdomain": "spacevision-staging"})


async def test_account_subdomain_must_be_a_dns_label(sim: SimHandle) -> None:
    """An invalid subdomain is refused."""
    status, body = await sim.call(
        "PUT", f"/accounts/{sim.account_id}/workers/subdomain", json={"subdomain": "Not_OK"}
    )
    assert status == 400
    assert body["success"] is False


async def test_other_account_is_refused(sim: SimHandle) -> None:
    """Workers of another account id are not visible."""
    status, body = await sim.call("GET", f"/accounts/{'0' * 32}/workers/scripts")
    assert (status, body["errors"][0]["code"]) == (403, 9109)


async def test_content_put_deploys_new_code_with_the_same_bindings(sim: SimHandle) -> None:
    """PUT …/content makes a new version from new code, keeps the bindings, deploys it at once."""
    before = (await versions(sim, "api"))[0]
    form = upload_form({"main_module": "worker.js"}, {"worker.js": HELLO})
    status, body = await sim.call("PUT", f"{scripts(sim)}/api/content", data=form)
    assert status == 200, body
    after = (await versions(sim, "api"))[0]
    newest = (await deployments(sim, "api"))[0]
    assert after["number"] == before["number"] + 1
    assert [{"version_id": after["id"], "percentage": 100.0}] == newest["versions"]
    assert "upload" == newest["annotations"]["workers/triggered_by"]
    status, body = await sim.call("GET", f"{scripts(sim)}/api/settings")
    assert {"SESSIONS", "DB", "UPLOADS"} <= {b["name"] for b in body["result"]["bindings"]}
