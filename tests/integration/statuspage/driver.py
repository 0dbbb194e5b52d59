"""Drive the status page in headless Chromium; run INSIDE a loopback-only network namespace.

    unshare -n bash -c 'ip link set lo up &&
        exec python -m tests.integration.statuspage.driver OUT /usr/bin/chromium'

Chromium tries to reach outside hosts even with quiet flags, so it only ever runs in a
namespace that has nothing but its own loopback. That namespace cannot reach a server in
the test process, so this driver starts both halves inside it: a small aiohttp server
serving :func:`monitor.statuspage.render` of documents it switches between, and the browser.
It plays every scenario once, records what the browser saw (DOM facts, screenshots, every
request the pages made, console errors) in ``OUT/result.json``, and the tests assert on
that. A scenario that fails records its error instead, so the other scenarios still report.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from cfsim.server import SimServer
from monitor.config import Config
from monitor.daemon import Daemon, Options
from monitor.statuspage import render
from probes.registry import Registry, default_registry
from tests.integration.statuspage.documents import healthy, incident

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
WAIT_MS = 15_000

# What the tests read from the page, gathered in one evaluation.
FACTS_JS = """() => {
  const text = (el) => el ? el.innerText.replace(/\\s+/g, " ").trim() : null;
  const visible = (el) => !!el && el.getClientRects().length > 0;
  return {
    title: document.title,
    banner: text(document.getElementById("banner")),
    bannerClass: document.getElementById("banner")?.className ?? null,
    live: text(document.getElementById("fw-live")),
    liveStale: document.getElementById("fw-live")?.classList.contains("stale") ?? null,
    services: [...document.querySelectorAll("#services li")].map((li) => ({
      service: li.dataset.service, status: li.dataset.status ?? null, text: text(li),
      visible: visible(li)})),
    rows: [...document.querySelectorAll("#probes tr[data-probe]")].map((tr) => ({
      probe: tr.dataset.probe, status: tr.dataset.status,
      cells: [...tr.cells].map((td) => text(td)),
      sparkWidth: tr.querySelector("svg.spark")?.getBoundingClientRect().width ?? 0})),
    alerts: [...document.querySelectorAll("#alerting li")].map((li) => text(li)),
    alertingText: text(document.getElementById("alerting")),
    events: [...document.querySelectorAll("#events tbody tr")].map((tr) => text(tr)),
    budget: text(document.getElementById("budget")),
    propagation: text(document.getElementById("propagation")),
    xss: window.__xss ?? null,
    scripts: document.scripts.length,
    images: document.images.length,
    openDetails: [...document.querySelectorAll("details[open]")].map((d) => d.id),
    bodyBackground: getComputedStyle(document.body).backgroundColor,
    bodyColour: getComputedStyle(document.body).color,
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    noscriptNoteVisible: [...document.querySelectorAll("p.note")].some(visible),
  };
}"""


class Site:
    """The page server: ``/`` renders the current document, or fails while ``failing``."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = incident()
        self.failing = False
        self.served = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def page(self, request: web.Request) -> web.Response:
        """The status page (or a 503 while ``failing``)."""
        self.served += 1
        if self.failing:
            return web.Response(status=503, text="daemon restarting")
        return web.Response(text=render(self.document), content_type="text/html")

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_get("/", self.page)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/"

    async def stop(self) -> None:
        """Stop listening."""
        if self.runner is not None:
            await self.runner.cleanup()


class Recorder:
    """Every request and console error of one browser context."""

    def __init__(self, context: BrowserContext) -> None:
        self.requests: list[str] = []
        self.console: list[str] = []
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("page", self.watch)

    def report(self) -> dict[str, list[str]]:
        """What was recorded, for the result file."""
        return {"requests": list(self.requests), "console": list(self.console)}

    def watch(self, page: Page) -> None:
        """Record ``page``'s console errors and uncaught exceptions."""
        page.on(
            "console",
            lambda msg: (
                self.console.append(f"{msg.type}: {msg.text}")
                if msg.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))


async def scenario_incident(browser: Browser, site: Site, out: Path) -> dict[str, Any]:
    """The incident document, light scheme, desktop width: DOM facts and a full screenshot."""
    site.document, site.failing = incident(), False
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, color_scheme="light"
    )
    recorder = Recorder(context)
    page = await context.new_page()
    await page.goto(site.url)
    facts = await page.evaluate(FACTS_JS)
    shot = out / "incident-light.png"
    await page.screenshot(path=str(shot), full_page=True)
    await context.close()
    return {"facts": facts, "screenshot": str(shot), **recorder.report()}


async def scenario_dark(browser: Browser, site: Site, out: Path) -> dict[str, Any]:
    """The same page with ``prefers-color-scheme: dark``."""
    site.document, site.failing = incident(), False
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, color_scheme="dark"
    )
    recorder = Recorder(context)
    page = await context.new_page()
    await page.goto(site.url)
    facts = await page.evaluate(FACTS_JS)
    shot = out / "incident-dark.png"
    await page.screenshot(path=str(shot), full_page=True)
    await context.close()
    return {"facts": facts, "screenshot": str(shot), **recorder.report()}


async def scenario_narrow(browser: Browser, site: Site, out: Path) -> dict[str, Any]:
    """A phone-sized viewport: the page must not scroll sideways as a whole."""
    site.document, site.failing = incident(), False
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    recorder = Recorder(context)
    page = await context.new_page()
    await page.goto(site.url)
    facts = await page.evaluate(FACTS_JS)
    shot = out / "incident-narrow.png"
    await page.screenshot(path=str(shot), full_page=True)
    await context.close()
    return {"facts": facts, "screenshot": str(shot), **recorder.report()}


async def scenario_refresh(browser: Browser, site: Site, out: Path) -> dict[str, Any]:
    """The page updates itself in place: the clock is Playwright's, the fetches are real.

    Loads the incident, opens the DNS probe's details, then: main-db recovers and 10 s pass
    (the swap keeps the details open); the server fails and 10 s pass (the page says its
    figures are stale); the server is back and the back-off passes (live again).
    """
    site.document, site.failing = incident(), False
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    recorder = Recorder(context)
    page = await context.new_page()
    await page.clock.install()
    await page.goto(site.url)
    steps: dict[str, Any] = {"before": await page.evaluate(FACTS_JS)}
    await page.click("#d-dns summary")
    served = site.served

    recovered = incident()
    main_db = next(p for p in recovered["probes"] if p["name"] == "main-db")
    main_db.update(status="ok", reason=None, message="SELECT 1 in 25 ms", latency_ms=25.0)
    recovered["alerts"] = [a for a in recovered["alerts"] if a["probe"] != "main-db"]
    site.document = recovered
    await page.clock.run_for(10_500)
    await page.wait_for_function(
        "() => document.getElementById('banner').innerText.includes('1 failing')",
        polling=50,
        timeout=WAIT_MS,
    )
    steps["after"] = await page.evaluate(FACTS_JS)
    steps["fetches"] = site.served - served

    site.failing = True
    await page.clock.run_for(10_500)
    await page.wait_for_function(
        "() => document.getElementById('fw-live').classList.contains('stale')",
        polling=50,
        timeout=WAIT_MS,
    )
    steps["failed"] = await page.evaluate(FACTS_JS)

    site.failing = False
    site.document = healthy()
    await page.clock.run_for(20_500)  # the first retry backs off to twice the interval
    await page.wait_for_function(
        "() => !document.getElementById('fw-live').classList.contains('stale')",
        polling=50,
        timeout=WAIT_MS,
    )
    steps["recovered"] = await page.evaluate(FACTS_JS)
    await context.close()
    return {"steps": steps, **recorder.report()}


async def scenario_noscript(browser: Browser, site: Site, out: Path) -> dict[str, Any]:
    """JavaScript off: the page is complete and says how it refreshes instead."""
    site.document, site.failing = healthy(), False
    context = await browser.new_context(java_script_enabled=False)
    recorder = Recorder(context)
    page = await context.new_page()
    await page.goto(site.url)
    note = page.locator("p.note")
    facts = {
        "noteVisible": await note.is_visible(),
        "note": await note.inner_text(),
        "banner": await page.locator("#banner").inner_text(),
    }
    await context.close()
    return {"facts": facts, **recorder.report()}


def daemon_config(sim: SimServer, registry: Registry, state_dir: Path) -> Config:
    """A SpaceVision config for the simulator: every service but DNS, 1 s intervals."""
    edge = sim.url.removeprefix("http://").rstrip("/")
    hosts = ("api.spacevision.app", "spacevision.app", "www.spacevision.app")
    data = {
        "cloudflare": {
            "api_base_url": sim.api_url,
            "api_token": sim.token,
            "account_id": sim.account_id,
        },
        "server": {"listen": "127.0.0.1:0"},
        "state_dir": str(state_dir),
        "defaults": {"interval": "1s", "timeout": "3s"},
        "http": {"connect_to": {f"{host}:80": edge for host in hosts}},
        "probes": [
            {
                "name": "api-worker",
                "type": "workers",
                "script": "api",
                "url": "http://api.spacevision.app/health",
            },
            {
                "name": "web",
                "type": "pages",
                "project": "spacevision-web",
                "url": "http://spacevision.app/",
            },
            {"name": "www", "type": "http", "url": "http://www.spacevision.app/"},
            {"name": "sessions-kv", "type": "kv", "namespace": "SESSIONS"},
            {"name": "uploads-r2", "type": "r2", "bucket": "uploads", "quota": "10GB"},
            {"name": "main-db", "type": "d1", "database": "spacevision-db"},
            {"name": "cloudflare-api", "type": "api"},
        ],
    }
    return Config.model_validate(data, context={"registry": registry})


async def until(condition: Callable[[], bool], what: str, deadline_s: float = 30.0) -> None:
    """Poll ``condition`` until it holds; raise after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {deadline_s} s")
        await asyncio.sleep(0.05)


async def scenario_daemon(browser: Browser, site: Site, out: Path) -> dict[str, Any]:
    """The real thing: the simulator and the daemon, started here inside the namespace.

    D1 is taken down before the daemon starts, so main-db fails from its first run. After
    two rounds the browser loads the daemon's own ``/``; then the outage is lifted and the
    open page, refreshing itself from the daemon every 2 s, must show main-db recover.
    """
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    # No contract recorder here: the probes' own tests check their API requests against the
    # schema, and loading the schema would add seconds to this process.
    sim = SimServer(seed="spacevision")
    await sim.start()
    daemon: Daemon | None = None
    try:
        async with aiohttp.ClientSession() as http:
            outage = {"service": "d1", "outage": True, "duration_s": 600}
            async with http.post(sim.url.rstrip("/") + "/__sim/faults", json=outage) as resp:
                assert resp.status < 400, await resp.text()
            registry = default_registry()
            state_dir = out / "daemon-state"
            state_dir.mkdir()
            config = daemon_config(sim, registry, state_dir)
            daemon = Daemon(config, registry=registry, options=Options(startup_jitter_s=0.0))
            await daemon.start()
            running = daemon
            await until(lambda: running.state.rounds >= 2, "two rounds of probes")

            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            browser_log = Recorder(context)
            page = await context.new_page()
            response = await page.goto(daemon.url + "/")
            assert response is not None
            failing = await page.evaluate(FACTS_JS)
            shot = out / "daemon.png"
            await page.screenshot(path=str(shot), full_page=True)

            async with http.delete(sim.url.rstrip("/") + "/__sim/faults") as resp:
                assert resp.status < 400, await resp.text()
            await page.wait_for_function(
                "() => document.querySelector('tr[data-probe=main-db]')?.dataset.status === 'ok'",
                polling=100,
                timeout=30_000,
            )
            recovered = await page.evaluate(FACTS_JS)
            await context.close()
    finally:
        if daemon is not None:
            await daemon.stop()
        await sim.stop()
    return {
        "url": daemon.url + "/",
        "headers": dict(response.headers),
        "failing": failing,
        "recovered": recovered,
        "screenshot": str(shot),
        **browser_log.report(),
    }


SCENARIOS: dict[str, Callable[[Browser, Site, Path], Awaitable[dict[str, Any]]]] = {
    "incident": scenario_incident,
    "dark": scenario_dark,
    "narrow": scenario_narrow,
    "refresh": scenario_refresh,
    "noscript": scenario_noscript,
    "daemon": scenario_daemon,
}


async def main(out: Path, chromium: str) -> None:
    """Serve the page, play every scenario, write ``out/result.json``."""
    site = Site()
    await site.start()
    result: dict[str, Any] = {"url": site.url, "scenarios": {}, "seconds": {}}
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                for name, play in SCENARIOS.items():
                    started = time.monotonic()
                    try:
                        result["scenarios"][name] = await play(browser, site, out)
                    except Exception:
                        result["scenarios"][name] = {"error": traceback.format_exc()}
                    result["seconds"][name] = round(time.monotonic() - started, 2)
            finally:
                await browser.close()
    finally:
        await site.stop()
    (out / "result.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
