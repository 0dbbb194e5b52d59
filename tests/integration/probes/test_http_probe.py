"""The http probe against real servers: the simulator's edge and local HTTP(S) servers."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from probes.base import ProbeContext, ProbeResult, Reason, Status
from probes.http import HttpProbe, HttpSettings
from tests.conftest import SimHandle
from tests.integration.probes.conftest import LoopbackResolver

SECURE_HOST = "secure.test"


async def run_http(ctx: ProbeContext, **entry: Any) -> ProbeResult:
    """Run an http probe built from a config entry."""
    settings = HttpSettings.model_validate({"name": "site", "type": "http", **entry})
    return await HttpProbe(settings).run(ctx)


@asynccontextmanager
async def serve(
    app: web.Application, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """Serve ``app`` on a free loopback port (TLS with ``ssl_context``); yield the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock, ssl_context=ssl_context)
    await site.start()
    try:
        yield sock.getsockname()[1]
    finally:
        await runner.cleanup()


async def health(_: web.Request) -> web.Response:
    """A healthy JSON endpoint."""
    return web.json_response({"status": "ok"})


async def health_then_close(_: web.Request) -> web.Response:
    """A healthy endpoint that closes the connection after answering (HTTP/1.0 style)."""
    return web.json_response({"status": "ok"}, headers={"Connection": "close"})


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A private CA for the local HTTPS servers."""
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    """The CA's certificate as a PEM file, for ``tls_ca_file``."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


TlsServer = Callable[[timedelta, timedelta], Awaitable[None]]


@pytest.fixture
async def tls_server(
    ca: trustme.CA, loopback_resolver: LoopbackResolver
) -> AsyncIterator[TlsServer]:
    """Start an HTTPS server for secure.test whose certificate is valid from now+a to now+b."""
    stack: list[Any] = []

    async def start(not_before: timedelta, not_after: timedelta) -> None:
        now = datetime.now(UTC)
        leaf = ca.issue_cert(SECURE_HOST, not_before=now + not_before, not_after=now + not_after)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        app = web.Application()
        app.router.add_get("/health", health)
        app.router.add_get("/close", health_then_close)
        server = serve(app, context)
        loopback_resolver.routes[SECURE_HOST] = await server.__aenter__()
        stack.append(server)

    yield start
    for server in stack:
        await server.__aexit__(None, None, None)


async def test_healthy_endpoint_is_ok(probe_ctx: ProbeContext) -> None:
    """The simulated Worker's /health answers 200 with status ok: ok, code and latency."""
    result = await run_http(
        probe_ctx, url="http://api.spacevision.app/health", json={"status": "ok"}
    )
    assert (Status.OK, None) == (result.status, result.reason)
    assert 200.0 == result.values["status_code"]
    assert result.latency_ms is not None
    assert result.message.startswith("200 in ")


async def test_unexpected_json_is_an_assertion_failure(probe_ctx: ProbeContext) -> None:
    """It answers 200 but not what was expected: crit, reason assertion, the field named."""
    result = await run_http(
        probe_ctx, url="http://api.spacevision.app/health", json={"status": "degraded"}
    )
    assert (Status.CRIT, Reason.ASSERTION) == (result.status, result.reason)
    assert 'JSON status is "ok", expected "degraded"' in result.message


async def test_worker_exception_is_an_http_status_failure(
    probe_ctx: ProbeContext, sim: SimHandle
) -> None:
    """A Worker throwing (error 1101, HTTP 500) is crit http_status with the page's title."""
    await sim.control(
        "POST", "/__sim/faults", json={"service": "workers", "resource": "api", "exception": "boom"}
    )
    result = await run_http(probe_ctx, url="http://api.spacevision.app/health")
    assert (Status.CRIT, Reason.HTTP_STATUS) == (result.status, result.reason)
    assert 500.0 == result.values["status_code"]
    assert "Worker threw exception" in result.message


async def test_slow_endpoint_times_out(probe_ctx: ProbeContext) -> None:
    """No answer within the run's deadline: crit timeout, reported by the probe itself."""
    release = asyncio.Event()

    async def stall(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/", stall)
    async with serve(app) as port:
        probe_ctx_fast = dataclasses.replace(probe_ctx, timeout_s=0.5)
        result = await run_http(probe_ctx_fast, url=f"http://127.0.0.1:{port}/")
        release.set()
    assert (Status.CRIT, Reason.TIMEOUT) == (result.status, result.reason)
    assert "no answer from 127.0.0.1 within 0.45 s" == result.message
    assert {} == dict(result.values)


async def test_refused_connection_is_unreachable(probe_ctx: ProbeContext) -> None:
    """Nothing listens on the port: crit unreachable, saying the connection was refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await run_http(probe_ctx, url=f"http://127.0.0.1:{port}/health")
    assert (Status.CRIT, Reason.UNREACHABLE) == (result.status, result.reason)
    assert result.message.startswith("cannot connect to 127.0.0.1")


async def test_redirect_loop_is_an_http_status_failure(probe_ctx: ProbeContext) -> None:
    """A site redirecting to itself forever is crit http_status, not a hang."""

    async def loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    app = web.Application()
    app.router.add_get("/loop", loop)
    async with serve(app) as port:
        result = await run_http(probe_ctx, url=f"http://127.0.0.1:{port}/loop")
    assert (Status.CRIT, Reason.HTTP_STATUS) == (result.status, result.reason)
    assert "too many redirects from 127.0.0.1" == result.message


async def test_redirect_not_followed_is_judged_as_is(probe_ctx: ProbeContext) -> None:
    """follow_redirects: false checks the redirect itself (e.g. http → https must be a 301)."""

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("https://secure.test/")

    app = web.Application()
    app.router.add_get("/", moved)
    async with serve(app) as port:
        result = await run_http(
            probe_ctx,
            url=f"http://127.0.0.1:{port}/",
            follow_redirects=False,
            expected_status=301,
        )
    assert (Status.OK, 301.0) == (result.status, result.values["status_code"])


async def test_valid_certificate_reports_days_left(
    probe_ctx: ProbeContext, tls_server: TlsServer, ca_file: str
) -> None:
    """A certificate valid for 90 more days is ok, and its expiry is published."""
    await tls_server(timedelta(days=-1), timedelta(days=90))
    result = await run_http(probe_ctx, url=f"https://{SECURE_HOST}/health", tls_ca_file=ca_file)
    assert (Status.OK, None) == (result.status, result.reason)
    assert 90.0 == pytest.approx(result.values["tls_expiry_days"], abs=0.01)


async def test_certificate_expiring_within_two_weeks_warns(
    probe_ctx: ProbeContext, tls_server: TlsServer, ca_file: str
) -> None:
    """Ten days left: warn with reason tls, in time to renew."""
    await tls_server(timedelta(days=-80), timedelta(days=10))
    result = await run_http(probe_ctx, url=f"https://{SECURE_HOST}/health", tls_ca_file=ca_file)
    assert (Status.WARN, Reason.TLS) == (result.status, result.reason)
    assert "TLS certificate expires in 10.0 days" in result.message


async def test_certificate_expiring_within_three_days_is_crit(
    probe_ctx: ProbeContext, tls_server: TlsServer, ca_file: str
) -> None:
    """Two days left: crit with reason tls."""
    await tls_server(timedelta(days=-80), timedelta(days=2))
    result = await run_http(probe_ctx, url=f"https://{SECURE_HOST}/health", tls_ca_file=ca_file)
    assert (Status.CRIT, Reason.TLS) == (result.status, result.reason)
    assert 2.0 == pytest.approx(result.values["tls_expiry_days"], abs=0.01)


async def test_expired_certificate_is_rejected(
    probe_ctx: ProbeContext, tls_server: TlsServer, ca_file: str
) -> None:
    """An expired certificate fails verification: crit tls, OpenSSL's reason in the message."""
    await tls_server(timedelta(days=-30), timedelta(days=-1))
    result = await run_http(probe_ctx, url=f"https://{SECURE_HOST}/health", tls_ca_file=ca_file)
    assert (Status.CRIT, Reason.TLS) == (result.status, result.reason)
    assert f"TLS certificate of {SECURE_HOST} rejected: certificate has expired" == (result.message)


async def test_expiry_is_read_with_verification_off(
    probe_ctx: ProbeContext, tls_server: TlsServer
) -> None:
    """tls_verify: false still reads the expiry (from the certificate's DER) and judges it."""
    await tls_server(timedelta(days=-30), timedelta(days=-1))
    result = await run_http(probe_ctx, url=f"https://{SECURE_HOST}/health", tls_verify=False)
    assert (Status.CRIT, Reason.TLS) == (result.status, result.reason)
    assert "200 in " in result.message
    assert "TLS certificate has expired" in result.message
    assert -1.0 == pytest.approx(result.values["tls_expiry_days"], abs=0.01)


async def test_untrusted_certificate_is_rejected(
    probe_ctx: ProbeContext, tls_server: TlsServer
) -> None:
    """A certificate from an unknown CA fails verification: crit tls."""
    await tls_server(timedelta(days=-1), timedelta(days=90))
    result = await run_http(probe_ctx, url=f"https://{SECURE_HOST}/health")
    assert (Status.CRIT, Reason.TLS) == (result.status, result.reason)
    assert result.message.startswith(f"TLS certificate of {SECURE_HOST} rejected:")


async def test_expiry_is_read_when_the_server_closes_the_connection(
    probe_ctx: ProbeContext, tls_server: TlsServer, ca_file: str
) -> None:
    """A server that closes after a small answer still has its certificate judged."""
    await tls_server(timedelta(days=-1), timedelta(days=30))
    result = await run_http(probe_ctx, url=f"https://{SECURE_HOST}/close", tls_ca_file=ca_file)
    assert 30.0 == pytest.approx(result.values["tls_expiry_days"], abs=0.01)


async def test_every_run_reads_the_certificate_anew(
    probe_ctx: ProbeContext, tls_server: TlsServer, ca_file: str
) -> None:
    """Each run connects afresh, so a second run still reports expiry (no pooled connection)."""
    await tls_server(timedelta(days=-1), timedelta(days=30))
    for _ in range(2):
        result = await run_http(probe_ctx, url=f"https://{SECURE_HOST}/health", tls_ca_file=ca_file)
        assert 30.0 == pytest.approx(result.values["tls_expiry_days"], abs=0.01)


async def test_plain_http_has_no_tls_expiry(probe_ctx: ProbeContext) -> None:
    """Without TLS there is no certificate: the value is absent rather than made up."""
    result = await run_http(probe_ctx, url="http://api.spacevision.app/health")
    assert "tls_expiry_days" not in result.values


async def test_headers_and_body_are_sent(probe_ctx: ProbeContext) -> None:
    """A protected POST endpoint gets the configured header and body (kept as secrets)."""

    async def protected(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer t0ken":
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response({"echo": await request.text()})

    app = web.Application()
    app.router.add_post("/ping", protected)
    async with serve(app) as port:
        result = await run_http(
            probe_ctx,
            url=f"http://127.0.0.1:{port}/ping",
            method="POST",
            headers={"Authorization": "Bearer t0ken"},
            body="ping",
            json={"echo": "ping"},
        )
        refused = await run_http(probe_ctx, url=f"http://127.0.0.1:{port}/ping", method="POST")
    assert (Status.OK, 200.0) == (result.status, result.values["status_code"])
    assert (Reason.HTTP_STATUS, 401.0) == (refused.reason, refused.values["status_code"])
    assert "t0ken" not in result.message + refused.message
