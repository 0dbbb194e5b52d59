"""``http.connect_to`` end to end: a real aiohttp session reaching the simulator's edge."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from monitor.netmap import connect_to_resolver
from tests.conftest import SimHandle


async def test_a_site_name_reaches_the_mapped_address_with_its_own_host_header(
    sim: SimHandle,
) -> None:
    """The URL keeps the site's name (so the edge routes by Host) while the socket goes to
    the simulator: exactly what the demo and the tests rely on."""
    edge = urlsplit(sim.url).netloc
    resolver = connect_to_resolver({"api.spacevision.app:80": edge})
    connector = aiohttp.TCPConnector(resolver=resolver)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get("http://api.spacevision.app/health") as resp,
    ):
        body = await resp.json(content_type=None)
    assert 200 == resp.status
    assert "ok" == body["status"]


async def test_other_names_are_not_redirected(sim: SimHandle) -> None:
    """Only the listed host:port moves; a different port of the same name is left alone."""
    edge = urlsplit(sim.url).netloc
    resolver = connect_to_resolver({"api.spacevision.app:80": edge})
    try:
        results = await resolver.resolve("localhost", 8080)
    finally:
        await resolver.close()
    assert all(r["port"] == 8080 for r in results)
    assert {"127.0.0.1", "::1"} >= {r["host"] for r in results}
