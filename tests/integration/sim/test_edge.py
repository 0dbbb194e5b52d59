"""The edge: deployed Workers and Pages answering by Host header, with faults and analytics."""

from __future__ import annotations

from typing import Any

from tests.conftest import SimHandle


async def edge(sim: SimHandle, host: str, path: str = "/", method: str = "GET") -> tuple[int, str]:
    """Request ``path`` on the edge as ``host``; return status and body text."""
    async with sim.session.request(method, sim.url + path, headers={"Host": host}) as resp:
        return resp.status, await resp.text()


async def edge_json(sim: SimHandle, host: str, path: str) -> tuple[int, Any]:
    """Request ``path`` on the edge as ``host``; return status and decoded JSON."""
    async with sim.session.get(sim.url + path, headers={"Host": host}) as resp:
        return resp.status, await resp.json()


async def serving_version(sim: SimHandle, script: str) -> str:
    """The version id of the script's active deployment (single version)."""
    status, body = await sim.call(
        "GET", f"/accounts/{sim.account_id}/workers/scripts/{script}/deployments"
    )
    assert status == 200
    version_id: str = body["result"]["deployments"][0]["versions"][0]["version_id"]
    return version_id


async def fault(sim: SimHandle, **spec: Any) -> None:
    """Activate a simulator fault."""
    await sim.control("POST", "/__sim/faults", json=spec)


async def test_api_health_names_the_active_version(sim: SimHandle) -> None:
    """The api Worker's /health reports ok and the version serving traffic."""
    status, body = await edge_json(sim, "api.spacevision.app", "/health")
    assert (status, body) == (200, {"status": "ok", "version": await serving_version(sim, "api")})


async def test_health_follows_a_rollback(sim: SimHandle) -> None:
    """After a rollback the edge serves the rolled-back version."""
    path = f"/accounts/{sim.account_id}/workers/scripts/image-processor"
    status, body = await sim.call("GET", path + "/versions")
    first = body["result"]["items"][-1]["id"]
    await sim.call(
        "POST",
        path + "/deployments",
        json={"strategy": "percentage", "versions": [{"version_id": first, "percentage": 100}]},
    )
    status, body = await edge_json(sim, "images.spacevision.app", "/health")
    assert (status, body["version"]) == (200, first)


async def test_api_answers_other_paths_with_json(sim: SimHandle) -> None:
    """Any other api path answers JSON naming the Worker and the path."""
    status, body = await edge_json(sim, "api.spacevision.app", "/v1/stars")
    assert (status, body["worker"], body["path"]) == (200, "api", "/v1/stars")


async def test_image_worker_serves_images(sim: SimHandle) -> None:
    """image-processor answers an image out of R2."""
    async with sim.session.get(
        sim.url + "/galaxies/m31.png", headers={"Host": "images.spacevision.app"}
    ) as resp:
        assert (resp.status, resp.content_type) == (200, "image/png")
        assert resp.headers["Server"] == "cloudflare"


async def test_workers_dev_hostname_serves_the_worker(sim: SimHandle) -> None:
    """<script>.<subdomain>.workers.dev reaches the Worker."""
    status, body = await edge_json(sim, "api.spacevision.workers.dev", "/health")
    assert (status, body["status"]) == (200, "ok")


async def test_version_preview_hostname_serves_that_version(sim: SimHandle) -> None:
    """<version prefix>-<script>.<subdomain>.workers.dev serves an undeployed version."""
    status, body = await sim.call("GET", f"/accounts/{sim.account_id}/workers/scripts/api/versions")
    newest = body["result"]["items"][0]["id"]
    status, body = await edge_json(sim, f"{newest[:8]}-api.spacevision.workers.dev", "/health")
    assert (status, body["version"]) == (200, newest)


async def test_disabled_workers_dev_answers_nothing_here(sim: SimHandle) -> None:
    """With workers.dev disabled the hostname answers 404."""
    await sim.call(
        "POST",
        f"/accounts/{sim.account_id}/workers/scripts/api/subdomain",
        json={"enabled": False},
    )
    status, body = await edge(sim, "api.spacevision.workers.dev", "/health")
    assert (status, "Nothing is here yet" in body) == (404, True)


async def test_pages_custom_domain_serves_the_live_deployment(sim: SimHandle) -> None:
    """spacevision.app serves the page of the live production deployment."""
    status, body = await sim.call(
        "GET", f"/accounts/{sim.account_id}/pages/projects/spacevision-web"
    )
    live = body["result"]["canonical_deployment"]["id"]
    for host in ("spacevision.app", "www.spacevision.app", "spacevision-web.pages.dev"):
        status, page = await edge(sim, host)
        assert (host, status, live in page) == (host, 200, True)


async def test_pages_short_id_hostname_serves_that_deployment(sim: SimHandle) -> None:
    """<short_id>.<project>.pages.dev serves exactly that deployment."""
    status, body = await sim.call(
        "GET",
        f"/accounts/{sim.account_id}/pages/projects/spacevision-web/deployments",
        params={"env": "preview"},
    )
    preview = body["result"][0]
    status, page = await edge(sim, f"{preview['short_id']}.spacevision-web.pages.dev")
    assert (status, preview["id"] in page) == (200, True)


async def test_pages_branch_alias_serves_the_branch_head(sim: SimHandle) -> None:
    """<branch>.<project>.pages.dev serves the newest deployment of that branch."""
    status, page = await edge(sim, "fix-mobile-nav.spacevision-web.pages.dev")
    assert (status, "fix/mobile-nav" in page) == (200, True)


async def test_unknown_pages_dev_host_is_404(sim: SimHandle) -> None:
    """A pages.dev name no project owns answers 404."""
    status, _ = await edge(sim, "nobody.pages.dev")
    assert status == 404


async def test_error_status_fault_is_returned_by_the_worker(sim: SimHandle) -> None:
    """An error_status fault makes the Worker answer that status."""
    await fault(sim, service="workers", resource="api", error_status=503)
    status, body = await edge_json(sim, "api.spacevision.app", "/health")
    assert (status, body) == (503, {"error": "Service Unavailable"})


async def test_fault_on_one_worker_spares_the_other(sim: SimHandle) -> None:
    """A fault scoped to api does not touch image-processor."""
    await fault(sim, service="workers", resource="api", error_status=500)
    status, _ = await edge(sim, "images.spacevision.app", "/health")
    assert status == 200


async def test_exception_fault_answers_error_1101(sim: SimHandle) -> None:
    """A Worker that throws answers 500 with Cloudflare's 1101 page."""
    await fault(sim, service="workers", resource="api", exception="TypeError: x is undefined")
    status, page = await edge(sim, "api.spacevision.app", "/health")
    assert (status, "Error</span> <span>1101" in page) == (500, True)
    assert "Worker threw exception" in page


async def test_outage_fault_answers_a_5xx_page(sim: SimHandle) -> None:
    """An outage answers Cloudflare's 522 page."""
    await fault(sim, service="workers", resource="image-processor", outage=True)
    status, page = await edge(sim, "images.spacevision.app", "/a.png")
    assert (status, "Connection timed out" in page) == (522, True)


async def test_latency_fault_still_answers(sim: SimHandle) -> None:
    """A latency fault slows the Worker down but it still answers correctly."""
    await fault(sim, service="workers", resource="api", latency_ms=50)
    status, body = await edge_json(sim, "api.spacevision.app", "/health")
    assert (status, body["status"]) == (200, "ok")


async def test_partial_failure_mixes_successes_and_errors(sim: SimHandle) -> None:
    """error_ratio 0.5 fails some requests and lets others through."""
    await fault(sim, service="workers", resource="api", error_status=500, error_ratio=0.5)
    statuses = {(await edge(sim, "api.spacevision.app", "/health"))[0] for _ in range(60)}
    assert {200, 500} == statuses


async def test_d1_fault_fails_api_health_with_d1_error(sim: SimHandle) -> None:
    """A D1 outage of the bound database fails /health with a D1_ERROR message."""
    status, body = await sim.call("GET", f"/accounts/{sim.account_id}/workers/scripts/api/settings")
    [database] = [b["id"] for b in body["result"]["bindings"] if b["type"] == "d1"]
    await fault(sim, service="d1", resource=database, outage=True)
    status, body = await edge_json(sim, "api.spacevision.app", "/health")
    assert (status, body["status"], body["error"]) == (
        503,
        "error",
        "D1_ERROR: Network connection lost.",
    )


async def test_d1_fault_by_database_name_reaches_the_binding(sim: SimHandle) -> None:
    """A D1 fault naming the database (not its id) also fails the bound Worker."""
    await fault(sim, service="d1", resource="spacevision-db", error_status=500)
    status, body = await edge_json(sim, "api.spacevision.app", "/health")
    assert (status, body["error"]) == (503, "D1_ERROR: internal error")


async def test_api_bindings_point_at_the_seeded_resources(sim: SimHandle) -> None:
    """The api Worker is bound to the seeded SESSIONS namespace and spacevision-db database."""
    _, kv = await sim.call("GET", f"/accounts/{sim.account_id}/storage/kv/namespaces")
    _, d1 = await sim.call("GET", f"/accounts/{sim.account_id}/d1/database")
    _, settings = await sim.call("GET", f"/accounts/{sim.account_id}/workers/scripts/api/settings")
    bound = {b["type"]: b for b in settings["result"]["bindings"]}
    sessions = next(n["id"] for n in kv["result"] if n["title"] == "SESSIONS")
    database = next(d["uuid"] for d in d1["result"] if d["name"] == "spacevision-db")
    assert (sessions, database) == (bound["kv_namespace"]["namespace_id"], bound["d1"]["id"])


async def test_kv_fault_fails_api_health_with_kv_error(sim: SimHandle) -> None:
    """A KV error on the SESSIONS namespace fails /health with the KV message."""
    await fault(sim, service="kv", resource="SESSIONS", error_status=500)
    status, body = await edge_json(sim, "api.spacevision.app", "/health")
    assert (status, body["checks"]) == (
        503,
        {"kv_namespace:SESSIONS": "KV GET failed: 500 Internal Server Error"},
    )


async def test_r2_fault_fails_image_reads(sim: SimHandle) -> None:
    """An R2 outage of the uploads bucket makes image-processor answer 502."""
    await fault(sim, service="r2", resource="uploads", outage=True)
    status, body = await edge(sim, "images.spacevision.app", "/m31.png")
    assert (status, body.startswith("Storage error")) == (502, True)


async def test_pages_exception_fault_answers_error_1101(sim: SimHandle) -> None:
    """A Pages Function that throws answers the 1101 page."""
    await fault(sim, service="pages", resource="spacevision-web", exception="boom")
    status, page = await edge(sim, "spacevision.app")
    assert (status, "Worker threw exception" in page) == (500, True)


async def test_pages_error_status_fault(sim: SimHandle) -> None:
    """An error_status fault on the project answers that status."""
    await fault(sim, service="pages", resource="spacevision-web", error_status=502)
    status, _ = await edge(sim, "www.spacevision.app")
    assert status == 502


async def test_edge_requests_become_analytics_samples(sim: SimHandle) -> None:
    """Each edge request records a Workers or Pages sample with status and timings."""
    await edge(sim, "api.spacevision.app", "/health")
    await edge(sim, "spacevision.app")
    samples = list(sim.server.state.analytics.samples)
    worker = next(s for s in samples if s.kind == "workers")
    page = next(s for s in samples if s.kind == "pages")
    assert (worker.subject, worker.status, worker.http_status) == ("api", "success", 200)
    assert (page.subject, page.http_status) == ("pages-worker--4827159-production", 200)
    assert worker.cpu_ms > 0
    assert worker.duration_ms >= worker.cpu_ms


async def test_thrown_exception_is_counted_as_such(sim: SimHandle) -> None:
    """An exception invocation is recorded with Cloudflare's scriptThrewException status."""
    await fault(sim, service="workers", resource="api", exception="boom")
    await edge(sim, "api.spacevision.app", "/health")
    [sample] = [s for s in sim.server.state.analytics.samples if s.kind == "workers"]
    assert (sample.status, sample.http_status) == ("scriptThrewException", 500)
