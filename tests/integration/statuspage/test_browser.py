"""The status page in headless Chromium (inside ``unshare -n``): what a person actually sees.

The unit tests check the markup; these check that a real browser renders it as intended,
runs nothing it should not, loads nothing from anywhere, draws the sparklines, honours the
colour scheme, and that the refresh script really swaps the page in place.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

from monitor.statuspage import CONTENT_SECURITY_POLICY
from tests.integration.statuspage.conftest import BrowserRun
from tests.integration.statuspage.documents import HOSTILE, incident


def _png_facts(path: Path) -> tuple[int, int, int]:
    """Width, height and how many distinct byte values its pixel data holds."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_banner_says_what_is_failing(browser_run: BrowserRun) -> None:
    """The first thing on screen: how many probes fail, which ones, in words."""
    facts = browser_run.scenario("incident")["facts"]

    assert facts["banner"].startswith("2 failing, 3 warning Failing: main-db, status-site.")
    assert "banner c-crit" == facts["bannerClass"]
    assert "✕ 2 failing, 3 warning · flarewatch" == facts["title"]


def test_every_service_card_shows_its_worst_status(browser_run: BrowserRun) -> None:
    """Eight service cards, each visible with its worst status (unmonitored ones say so)."""
    facts = browser_run.scenario("incident")["facts"]

    statuses = {s["service"]: s["status"] for s in facts["services"]}
    assert {
        "workers": "warn",
        "pages": "ok",
        "kv": "warn",
        "r2": "ok",
        "d1": "crit",
        "dns": "warn",
        "http": "crit",
        "api": "ok",
    } == statuses
    assert all(s["visible"] for s in facts["services"])


def test_every_probe_has_a_row_and_a_drawn_sparkline(browser_run: BrowserRun) -> None:
    """One row per probe; every probe with history shows its latency trend on screen."""
    facts = browser_run.scenario("incident")["facts"]
    with_history = {p["name"] for p in incident()["probes"] if p["history"]}

    rows = {r["probe"]: r for r in facts["rows"]}
    assert {p["name"] for p in incident()["probes"]} == set(rows)
    assert all(rows[name]["sparkWidth"] > 100 for name in with_history)
    assert rows["main-db"]["cells"][0].startswith("Critical")
    assert rows["main-db"]["cells"][4].startswith("api_error D1 query failed")
    assert "Pending" in rows["analytics-db"]["cells"][0]


def test_alerts_are_listed(browser_run: BrowserRun) -> None:
    """What is alerting: the alert list, firing before pending."""
    facts = browser_run.scenario("incident")["facts"]

    assert 3 == len(facts["alerts"])
    assert "http_check_failed on status-site firing" in facts["alerts"][0]
    assert "kv_latency_high on sessions-kv pending" in facts["alerts"][2]


def test_hostile_message_is_shown_and_never_run(browser_run: BrowserRun) -> None:
    """Markup in a probe message shows as text: no script ran, no image was created."""
    facts = browser_run.scenario("incident")["facts"]

    assert facts["xss"] is None
    assert 0 == facts["images"]
    assert 1 == facts["scripts"]
    status_site = next(r for r in facts["rows"] if r["probe"] == "status-site")
    assert HOSTILE in status_site["cells"][4]
    assert HOSTILE in facts["alertingText"]


def test_dns_propagation_and_api_budget_are_visible(browser_run: BrowserRun) -> None:
    """DNS propagation progress and the API budget are on the page, not only in the JSON."""
    facts = browser_run.scenario("incident")["facts"]

    assert "dns: 3/8 resolvers updated (38%)" in facts["propagation"]
    assert "dns propagation progress 3/8 resolvers updated" in facts["events"][0]
    assert facts["budget"].startswith("131 of 600 left (22%)")


def test_browser_requests_only_the_local_page_server(browser_run: BrowserRun) -> None:
    """No CDN, font or phone-home: every request any page made went to the server of that
    page (the driver's page server, or the daemon in the daemon scenario)."""
    for name in browser_run.scenarios:
        record = browser_run.scenario(name)
        origin = record.get("url", browser_run.url)
        assert record["requests"], name
        assert [] == [url for url in record["requests"] if not url.startswith(origin)], name


def test_browser_reports_no_errors(browser_run: BrowserRun) -> None:
    """No script error and no Content-Security-Policy violation (the hashes match), apart
    from the 503 the refresh scenario serves on purpose."""
    for name in browser_run.scenarios:
        console = browser_run.scenario(name)["console"]
        expected = [m for m in console if "status of 503" in m] if name == "refresh" else []
        assert expected == console, name


def test_full_page_screenshot_is_a_real_picture(browser_run: BrowserRun) -> None:
    """The full-page screenshot is a PNG of the whole page with real content in it."""
    record = browser_run.scenario("incident")

    width, height, distinct = _png_facts(Path(record["screenshot"]))
    assert 1280 == width
    assert height > 1500
    assert distinct > 100


def test_dark_scheme_changes_the_colours(browser_run: BrowserRun) -> None:
    """``prefers-color-scheme: dark`` gives a dark background with light text."""
    light = browser_run.scenario("incident")["facts"]
    dark = browser_run.scenario("dark")["facts"]

    assert "rgb(245, 246, 248)" == light["bodyBackground"]
    assert "rgb(13, 17, 23)" == dark["bodyBackground"]
    assert "rgb(230, 237, 243)" == dark["bodyColour"]
    assert _png_facts(Path(browser_run.scenario("dark")["screenshot"]))[2] > 100


def test_narrow_screen_does_not_scroll_sideways(browser_run: BrowserRun) -> None:
    """On a phone the probe tables become stacked rows; the page never scrolls sideways."""
    facts = browser_run.scenario("narrow")["facts"]

    assert facts["scrollWidth"] <= facts["clientWidth"]
    assert all(r["sparkWidth"] > 100 for r in facts["rows"] if r["probe"] != "analytics-db")


def test_page_updates_itself_in_place(browser_run: BrowserRun) -> None:
    """Ten seconds later the script has fetched the page again and swapped it in: main-db
    recovered, the banner and title say so, and the details the reader opened stay open."""
    steps = browser_run.scenario("refresh")["steps"]

    assert steps["before"]["banner"].startswith("2 failing")
    assert steps["after"]["banner"].startswith("1 failing, 3 warning Failing: status-site.")
    assert "✕ 1 failing, 3 warning · flarewatch" == steps["after"]["title"]
    assert "ok" == next(r["status"] for r in steps["after"]["rows"] if r["probe"] == "main-db")
    assert ["d-dns"] == steps["after"]["openDetails"]
    assert steps["after"]["live"].startswith("Live · updated")
    assert 1 == steps["fetches"]


def test_failed_update_is_said_and_recovers(browser_run: BrowserRun) -> None:
    """When the daemon does not answer, the page keeps the last figures but says they are
    out of date; when it answers again, the page is live again."""
    steps = browser_run.scenario("refresh")["steps"]

    assert steps["failed"]["liveStale"] is True
    assert "(HTTP 503): the figures below are out of date" in steps["failed"]["live"]
    assert steps["failed"]["banner"].startswith("1 failing")
    assert steps["recovered"]["liveStale"] is False
    assert steps["recovered"]["banner"].startswith("All good")


def test_without_javascript_the_page_says_how_it_refreshes(browser_run: BrowserRun) -> None:
    """JavaScript off: the page is complete and a visible note explains the reload instead."""
    facts = browser_run.scenario("noscript")["facts"]

    assert facts["noteVisible"] is True
    assert facts["note"].startswith("JavaScript is off: this page reloads itself every 10 s")
    assert facts["banner"].startswith("All good")


# --- the real daemon --------------------------------------------------------------------

DAEMON_PROBES = [
    "api-worker",
    "web",
    "sessions-kv",
    "uploads-r2",
    "main-db",
    "www",
    "cloudflare-api",
]


def test_daemon_page_shows_a_d1_outage(browser_run: BrowserRun) -> None:
    """Served by the real daemon probing the simulator with D1 down: main-db is a failing
    row, D1 is a critical service, the banner names main-db, and DNS (not configured) says
    "not monitored". This is the document the daemon's state store produces, not a fixture."""
    facts = browser_run.scenario("daemon")["failing"]

    rows = {r["probe"]: r for r in facts["rows"]}
    assert set(DAEMON_PROBES) == set(rows)
    assert "crit" == rows["main-db"]["status"]
    assert rows["main-db"]["cells"][0].startswith("Critical")
    assert "main-db" in facts["banner"].split(". ")[0]
    services = {s["service"]: s for s in facts["services"]}
    assert "crit" == services["d1"]["status"]
    assert "DNS Not monitored" == services["dns"]["text"]
    assert all(r["sparkWidth"] > 100 for r in facts["rows"])
    assert re.match(r"[\d,]+ of [\d,]+ left \(\d+%\)", facts["budget"]), facts["budget"]


def test_daemon_page_follows_the_recovery_by_itself(browser_run: BrowserRun) -> None:
    """The outage lifted, the open page (refreshing itself from the daemon) shows main-db
    OK and no longer names it in the banner, without a reload."""
    record = browser_run.scenario("daemon")

    rows = {r["probe"]: r for r in record["recovered"]["rows"]}
    assert "ok" == rows["main-db"]["status"]
    assert "main-db" not in record["recovered"]["banner"]
    assert record["recovered"]["live"].startswith("Live · updated")
    assert record["requests"].count(record["url"]) >= 2


def test_daemon_sends_the_pages_policy_as_a_header(browser_run: BrowserRun) -> None:
    """The daemon's Content-Security-Policy header carries the page's policy (plus
    ``frame-ancestors``), so the script and style hashes hold under the header too: the
    console check above would catch a refused script."""
    headers = browser_run.scenario("daemon")["headers"]

    assert headers["content-security-policy"].startswith(CONTENT_SECURITY_POLICY)
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "text/html; charset=utf-8" == headers["content-type"]


def test_daemon_page_screenshot_is_a_real_picture(browser_run: BrowserRun) -> None:
    """The daemon's page, screenshotted whole, is a PNG with real content."""
    width, height, distinct = _png_facts(Path(browser_run.scenario("daemon")["screenshot"]))

    assert 1280 == width
    assert height > 900
    assert distinct > 100
