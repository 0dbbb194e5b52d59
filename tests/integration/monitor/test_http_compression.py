"""The status page travels compressed over a real socket."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from monitor.http import make_app
from tests.unit.monitor.test_http import FakeSurface


async def test_the_page_is_gzipped_when_the_browser_accepts_it() -> None:
    """A 200-probe page is ~480 KiB of HTML; compressed it is ~20x smaller on the wire."""
    app = make_app(FakeSurface(), CollectorRegistry())
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        gzipped = await client.get("/", headers={"Accept-Encoding": "gzip"})
        assert "gzip" == gzipped.headers.get("Content-Encoding")
        assert "<!DOCTYPE html>" in await gzipped.text()
        plain = await client.get("/", headers={"Accept-Encoding": "identity"})
        assert plain.headers.get("Content-Encoding") is None
