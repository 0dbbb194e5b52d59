"""The status page renderer: a pure function from the status document to one HTML page.

The page is parsed back with the standard library's HTML parser into a small tree, so the
tests speak about elements, attributes and text rather than substrings of markup.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest

from monitor.statuspage import CONTENT_SECURITY_POLICY, SERVICES, render
from tests.integration.statuspage.documents import (
    HOSTILE,
    NOW,
    document,
    healthy,
    history,
    incident,
    iso,
    probe,
)

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


@dataclass
class Node:
    """One parsed element: its tag, attributes, children (elements and text)."""

    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """All text inside, elements separated by a space, whitespace collapsed."""
        parts: list[str] = []

        def walk(node: Node) -> None:
            for child in node.children:
                if isinstance(child, str):
                    parts.append(child)
                else:
                    parts.append(" ")
                    walk(child)
                    parts.append(" ")

        walk(self)
        return " ".join("".join(parts).split())

    def iter(self) -> Iterator[Node]:
        """This element and every element below it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        """Elements with ``tag`` whose attributes include ``attrs`` (``class_`` matches a class)."""
        wanted_class = attrs.pop("class_", None)
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag)
            and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
            and (wanted_class is None or wanted_class in n.attrs.get("class", "").split())
        ]

    def by_id(self, element_id: str) -> Node:
        """The element with ``id`` (exactly one)."""
        found = [n for n in self.iter() if n.attrs.get("id") == element_id]
        assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
        return found[0]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    """``html`` as a tree; fails on mismatched tags (the page must be well-formed)."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    assert [n.tag for n in builder.stack] == ["#document"], "unclosed elements"
    return builder.root


def page(status: dict[str, Any], **kwargs: Any) -> Node:
    """Render ``status`` and parse the result."""
    return parse(render(status, **kwargs))


def row(tree: Node, name: str) -> Node:
    """The table row of probe ``name``."""
    return tree.by_id(f"probe-{name}")


# --- a self-contained, safe page ------------------------------------------------------


def test_page_is_a_well_formed_html_document() -> None:
    """Browsers forgive broken markup in different ways; a well-formed page renders the same
    everywhere (and the tree parser used by these tests fails on unclosed elements)."""
    html = render(incident())
    tree = parse(html)

    assert html.startswith("<!DOCTYPE html>")
    assert "en" == tree.find_all("html")[0].attrs["lang"]
    assert [m.attrs.get("charset") for m in tree.find_all("meta") if "charset" in m.attrs] == [
        "utf-8"
    ]


def test_hostile_probe_message_is_shown_as_text() -> None:
    """Probe messages carry text from the outside (error bodies, DNS answers): markup in one
    must show as characters, never become elements the browser runs or loads."""
    tree = page(incident())

    assert HOSTILE in row(tree, "status-site").text
    assert 1 == len(tree.find_all("script"))
    assert [] == tree.find_all("img")
    assert [] == [n for n in tree.iter() if any(k.startswith("on") for k in n.attrs)]
    assert [] == [n for n in tree.iter() if "javascript:" in n.attrs.get("href", "")]


def test_hostile_alert_summary_is_shown_as_text() -> None:
    """Alert summaries are templated from probe messages, so they are untrusted too."""
    tree = page(incident())

    assert HOSTILE in tree.by_id("alerting").text
    assert 1 == len(tree.find_all("script"))


def test_hostile_text_cannot_break_out_of_attributes() -> None:
    """Names and messages also land in attributes (ids, titles, aria labels): a quote in them
    must not end the attribute and start a new one."""
    hostile_name = "x\" onmouseover=\"alert(1)' data-x='"
    status = document([probe(hostile_name, "http", "crit", message="m" * 700 + '"><b>')])
    tree = page(status)

    assert [] == [n for n in tree.iter() if "onmouseover" in n.attrs]
    assert 1 == len(tree.find_all("tr", data_probe=hostile_name))


def test_page_loads_nothing_from_anywhere() -> None:
    """No CDN, font, image or script by URL: every src/href is a fragment, a data: URI or a
    link relative to the daemon itself, and the style sheet imports nothing."""
    tree = page(incident())
    urls = [
        (n.tag, k, v)
        for n in tree.iter()
        for k, v in n.attrs.items()
        if k in ("src", "href", "xlink:href", "action", "srcset", "poster", "data")
    ]

    assert urls, "expected some links (icons, anchors)"
    for tag, attr, url in urls:
        assert not re.match(r"^\s*(https?:)?//", url, re.I), (tag, attr, url)
        assert url.startswith(("#", "data:")) or re.fullmatch(r"[a-z0-9/_.-]+", url), url
    style = "".join(n.text for n in tree.find_all("style"))
    assert "@import" not in style
    assert "url(" not in style
    assert [] == [n for n in tree.find_all("link") if n.attrs.get("rel") != "icon"]


def test_csp_allows_exactly_the_inline_script_and_style() -> None:
    """The page's Content-Security-Policy allows its own script and style by hash: if either
    changes without the hash, the browser silently drops it and the page loses its look or its
    refresh. The policy also forbids every other source."""
    html = render(healthy())
    tree = parse(html)
    [meta] = [
        m for m in tree.find_all("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"
    ]
    script = re.search(r"<script>(.*?)</script>", html, re.S)
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert script is not None
    assert style is not None

    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    policy = {part.split()[0]: part.split()[1:] for part in meta.attrs["content"].split("; ")}
    assert CONTENT_SECURITY_POLICY == meta.attrs["content"]
    assert ["'none'"] == policy["default-src"]
    assert [sha(script.group(1))] == policy["script-src"]
    assert [sha(style.group(1))] == policy["style-src"]
    assert ["'self'"] == policy["connect-src"]


def test_page_asks_not_to_be_indexed() -> None:
    """A status page that leaks into search results tells the world about an outage first."""
    tree = page(healthy())

    [robots] = tree.find_all("meta", name="robots")
    assert "noindex" in robots.attrs["content"]


def test_render_is_pure() -> None:
    """The same document renders the same page: nothing depends on the clock or on state."""
    assert render(incident()) == render(incident())


# --- readable at a glance -------------------------------------------------------------


def test_banner_says_all_good_when_every_probe_is_ok() -> None:
    """The first thing a reader sees answers "is anything wrong?"."""
    tree = page(healthy())

    banner = tree.by_id("banner")
    assert banner.text.startswith("All good")
    assert "4 probes OK" in banner.text
    assert "c-ok" in banner.attrs["class"].split()
    assert "✓ All good · flarewatch" == tree.find_all("title")[0].text


def test_banner_counts_failing_and_warning_probes() -> None:
    """Critical and unknown probes are failing, warnings are counted apart, and the banner
    names the failing ones so the reader knows where to look."""
    tree = page(incident())

    banner = tree.by_id("banner")
    assert "2 failing, 3 warning" == banner.find_all("strong")[0].text
    assert "Failing: main-db, status-site." in banner.text
    assert "c-crit" in banner.attrs["class"].split()
    assert "✕ 2 failing, 3 warning · flarewatch" == tree.find_all("title")[0].text


def test_unknown_probe_counts_as_failing() -> None:
    """``unknown`` means the probe itself broke: the estate is unwatched, which is a failure."""
    status = document([probe("a", "kv", "unknown", message="probe crashed: KeyError")])
    tree = page(status)

    assert "1 failing" == tree.by_id("banner").find_all("strong")[0].text
    assert "Unknown" in row(tree, "a").text


def test_probe_not_yet_run_is_pending_not_failing() -> None:
    """Right after start every probe is unknown and unchecked: that is "pending", and the
    page must not cry wolf before the first round."""
    status = document(
        [probe("a", "kv", "unknown", checked_ago_s=None, since_ago_s=None)], ready=False
    )
    tree = page(status)

    banner = tree.by_id("banner")
    assert "Waiting for the first checks" == banner.find_all("strong")[0].text
    assert "Starting up" in banner.text
    assert "pending" == row(tree, "a").attrs["data-status"]
    assert "Not checked yet" in row(tree, "a").text


def test_no_probes_configured_is_said_plainly() -> None:
    """An empty config is a state of its own, not "all good"."""
    tree = page(document([]))

    assert "No probes configured" == tree.by_id("banner").find_all("strong")[0].text


def test_every_service_is_shown_in_order() -> None:
    """All eight services always appear, so a missing card never hides an unmonitored one."""
    tree = page(healthy())

    cards = tree.by_id("services").find_all("li")
    assert list(SERVICES) == [c.attrs["data-service"] for c in cards]
    r2 = next(c for c in cards if c.attrs["data-service"] == "r2")
    assert "R2 Not monitored" == r2.text


def test_service_shows_its_worst_status_in_words() -> None:
    """A service is as healthy as its sickest probe, and says so in text, not colour alone."""
    tree = page(incident())

    cards = {c.attrs["data-service"]: c for c in tree.by_id("services").find_all("li")}
    assert "crit" == cards["d1"].attrs["data-status"]
    assert "D1 Critical 2 probes: 1 pending · 1 critical" == cards["d1"].text
    assert "warn" == cards["workers"].attrs["data-status"]
    assert "Warning" in cards["workers"].text


def test_status_is_an_icon_and_a_word() -> None:
    """Status never by colour alone: every badge has an icon and its label."""
    tree = page(incident())

    badges = tree.find_all("span", class_="st")
    assert badges
    for badge in badges:
        assert badge.find_all("use") or "Not monitored" == badge.text
        assert badge.text in {"OK", "Warning", "Critical", "Unknown", "Pending", "Not monitored"}


def test_one_row_per_probe_grouped_by_service() -> None:
    """Each probe has its row, under its service's section, in document order."""
    status = incident()
    tree = page(status)

    rows = tree.by_id("probes").find_all("tr")
    names = [r.attrs["data-probe"] for r in rows if "data-probe" in r.attrs]
    assert sorted(p["name"] for p in status["probes"]) == sorted(names)
    d1 = tree.by_id("svc-d1")
    assert ["main-db", "analytics-db"] == [
        r.attrs["data-probe"] for r in d1.find_all("tr") if "data-probe" in r.attrs
    ]


def test_row_shows_status_latency_checked_time_and_error() -> None:
    """A row answers what, how fast, how fresh and why: status, latency, last check, reason."""
    tree = page(incident())

    cells = row(tree, "main-db").find_all("td")
    assert cells[0].text.startswith("Critical")
    assert "for 2 min" in cells[0].text
    assert cells[2].text.startswith("—")
    assert "5 s ago every 30 s" == cells[3].text
    assert cells[4].text.startswith("api_error D1 query failed after 4 attempts")


def test_ok_probe_shows_when_it_last_was_not_ok() -> None:
    """ "Last error" for a healthy probe: when it last failed, from its history."""
    tree = page(incident())

    assert "Last not OK: warning, 9 min ago" in row(tree, "api-worker").text


def test_relative_times_count_from_the_documents_now() -> None:
    """Times are relative to the document's ``now`` (the daemon's clock), not the renderer's."""
    status = document([probe("a", "kv", checked_ago_s=7200 + 300)])
    tree = page(status)

    [checked] = row(tree, "a").find_all("td")[3].find_all("time")
    assert "2 h 5 min ago" == checked.text
    assert iso(NOW).replace("14:30:00", "12:25:00") == checked.attrs["datetime"]


def test_probe_not_checked_for_three_intervals_is_overdue() -> None:
    """A stuck probe keeps its last status forever; only its age tells it is not running."""
    status = document([probe("a", "kv", checked_ago_s=91, interval_s=10)])
    tree = page(status)

    assert row(tree, "a").find_all("span", class_="overdue")
    assert "1 overdue" in tree.by_id("banner").text


# --- what is alerting -----------------------------------------------------------------


def test_alerts_are_listed_firing_first_then_by_severity() -> None:
    """What needs a human now comes first: firing before pending, critical before warning."""
    tree = page(incident())

    items = tree.by_id("alerting").find_all("li")
    assert [
        "http_check_failed",
        "d1_unavailable",
        "kv_latency_high",
    ] == [i.find_all("strong")[0].text for i in items]
    assert "firing" == items[0].find_all("span", class_="tag")[0].text
    assert "pending" == items[2].find_all("span", class_="tag")[0].text
    assert items[1].text.startswith("Critical d1_unavailable on main-db")


def test_failing_probes_stand_in_for_alerts_when_there_are_none() -> None:
    """Until the alert engine is wired in, ``alerts`` is empty: the page must still say what
    is wrong, from the probes' own statuses, worst first."""
    status = incident()
    status["alerts"] = []
    tree = page(status)

    section = tree.by_id("alerting")
    assert "No alert rule is firing" in section.text
    names = [a.text for a in section.find_all("a", class_="pname")]
    assert ["main-db", "status-site", "image-processor", "sessions-kv", "dns"] == names


def test_nothing_alerting_is_said_when_all_is_well() -> None:
    """An empty section would leave the reader wondering whether it failed to load."""
    tree = page(healthy())

    assert "Nothing is alerting" in tree.by_id("alerting").text


# --- DNS propagation, events and the API budget ---------------------------------------


def test_dns_propagation_in_progress_is_called_out() -> None:
    """A DNS change propagating is shown at the top with its progress (Req 2.8)."""
    tree = page(incident())

    callout = tree.by_id("propagation")
    assert ["dns"] == [a.text for a in callout.find_all("a")]
    assert "3/8 resolvers updated (38%)" in callout.text
    assert "45 s since change, TTL 300 s" in callout.text


def test_no_propagation_callout_when_propagated() -> None:
    """Once every resolver has the new value the callout goes away."""
    status = document([probe("dns", "dns", values={"propagation_ratio": 1.0, "resolvers": 8.0})])

    assert [] == page(status).find_all(id="propagation")


def test_recent_events_are_listed_newest_first() -> None:
    """Events (DNS propagation progress, changes seen) are visible with their probe."""
    tree = page(incident())

    rows = tree.by_id("events").find_all("tbody")[0].find_all("tr")
    assert ["dns_propagation_progress", "dns_change_detected"] == [
        r.attrs["data-kind"] for r in rows
    ]
    assert "5 s ago dns dns propagation progress 3/8 resolvers updated" in rows[0].text


def test_latest_event_is_shown_in_the_probe_row() -> None:
    """The row itself carries the latest event, next to the probe's status."""
    tree = page(incident())

    events = [e.text for e in row(tree, "dns").find_all("span", class_="event")]
    assert "↻ 3/8 resolvers updated, 45 s since change, TTL 300 s ( 5 s ago )" in events


def test_api_budget_is_shown_with_its_share_left() -> None:
    """The Cloudflare API budget is shared by every probe; running low is worth a glance."""
    tree = page(incident())

    text = tree.by_id("budget").text
    assert text.startswith("131 of 600 left (22%) Warning")
    assert "1,234 requests made" in text


def test_api_budget_counts_whole_requests() -> None:
    """The budget refills continuously, so the document says 580.8; the page says how many
    requests can be made: 580."""
    tree = page(document([], budget_remaining=580.8))

    assert tree.by_id("budget").text.startswith("580 of 600 left (97%)")


def test_unknown_api_budget_says_unknown() -> None:
    """A null budget (not measured yet) is "unknown", not zero."""
    tree = page(document([], budget_remaining=None))

    assert tree.by_id("budget").text.startswith("unknown")


# --- the latency trend ----------------------------------------------------------------


def _path_points(svg: Node) -> list[list[tuple[int, int]]]:
    [path] = svg.find_all("path")
    runs = []
    for run in path.attrs["d"].split("M")[1:]:
        numbers = [int(n) for n in run.removesuffix("h0").split()]
        runs.append(list(zip(numbers[::2], numbers[1::2], strict=True)))
    return runs


def test_sparkline_draws_one_point_per_check_newest_at_the_right() -> None:
    """The trend has a point per check in the history, newest at the right edge, and the
    highest latency at the top."""
    hist = history(40, points=10, spike={7: 200.0})
    tree = page(document([probe("a", "kv", hist=hist)]))

    [svg] = row(tree, "a").find_all("svg", class_="spark")
    [points] = _path_points(svg)
    assert list(range(110, 120)) == [x for x, _ in points]
    assert 2 == min(y for _, y in points)
    assert (117, 2) == points[7]


def test_sparkline_breaks_where_a_check_had_no_latency() -> None:
    """A failed check has no latency: the line breaks rather than inventing a value."""
    hist = history(40, points=10, bad={4: "crit", 5: "crit"})
    tree = page(document([probe("a", "kv", hist=hist)]))

    [svg] = row(tree, "a").find_all("svg", class_="spark")
    assert [4, 4] == [len(run) for run in _path_points(svg)]


def test_sparkline_bridges_ok_checks_that_measured_no_latency() -> None:
    """An OK check without a latency was not measured this time (a KV canary runs every
    third check): the line goes on rather than breaking into dots."""
    hist = history(40, points=6)
    for entry in hist[1::2]:
        entry["latency_ms"] = None
    tree = page(document([probe("a", "kv", hist=hist)]))

    [svg] = row(tree, "a").find_all("svg", class_="spark")
    assert [[114, 116, 118]] == [[x for x, _ in run] for run in _path_points(svg)]


def test_sparkline_draws_a_lone_point_as_a_dot() -> None:
    """A point between two failures has no neighbour to draw a line to; it shows as a dot
    (a zero-length segment with round caps) rather than vanishing."""
    hist = history(40, points=5, bad={1: "crit", 3: "crit"})
    tree = page(document([probe("a", "kv", hist=hist)]))

    [svg] = row(tree, "a").find_all("svg", class_="spark")
    [path] = svg.find_all("path")
    assert 3 == path.attrs["d"].count("h0")


def test_probe_without_latency_shows_its_run_time() -> None:
    """API-only probes report no latency; their run time (mostly the API's latency) is
    drawn instead, and both the cell and the label say it is run time."""
    hist = history(40, points=5)
    for entry in hist:
        entry["latency_ms"] = None
    entry = probe("a", "r2", latency_ms=None, hist=hist)
    entry["duration_ms"] = 52.4
    tree = page(document([entry]))

    cell = row(tree, "a").find_all("td")[2]
    [svg] = cell.find_all("svg", class_="spark")
    assert cell.text.startswith("run 52 ms")
    assert svg.attrs["aria-label"].startswith("Probe run time over the last 5 checks")
    assert 5 == len(_path_points(svg)[0])


def test_sparkline_marks_runs_of_not_ok_checks_and_says_so() -> None:
    """Failures in the trend are marked (one bar per run) and counted in its text label."""
    hist = history(40, points=10, bad={4: "crit", 5: "crit", 8: "warn"})
    tree = page(document([probe("a", "kv", hist=hist)]))

    [svg] = row(tree, "a").find_all("svg", class_="spark")
    bars = [(r.attrs["class"], r.attrs["width"]) for r in svg.find_all("rect")]
    assert [("f-crit", "2"), ("f-warn", "1")] == bars
    assert svg.attrs["aria-label"].endswith("3 not OK.")
    assert svg.attrs["role"] == "img"


def test_sparkline_of_a_flat_zero_history_stays_on_the_baseline() -> None:
    """All-zero latencies cannot be scaled to the top; they draw flat at the bottom."""
    hist = [{"at": iso(NOW), "status": "ok", "latency_ms": 0.0}] * 3
    tree = page(document([probe("a", "kv", hist=hist)]))

    [svg] = row(tree, "a").find_all("svg", class_="spark")
    assert [[(117, 34), (118, 34), (119, 34)]] == _path_points(svg)


# --- robustness -----------------------------------------------------------------------

_MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("empty document", lambda d: d.clear()),
    ("null sections", lambda d: d.update(flarewatch=None, probes=None, alerts=None, api=None)),
    ("probes not a list", lambda d: d.update(probes={"a": 1})),
    ("probe not a mapping", lambda d: d["probes"].append("nonsense")),
    ("bad status", lambda d: d["probes"][0].update(status="exploded", name=None)),
    ("bad times", lambda d: d["probes"][0].update(checked_at="yesterday", since=42)),
    ("bad now", lambda d: d["flarewatch"].update(now="not a time")),
    ("string latency", lambda d: d["probes"][0]["history"].append({"latency_ms": "fast"})),
    ("nan latency", lambda d: d["probes"][0]["history"].append({"latency_ms": float("nan")})),
    ("inf latency", lambda d: d["probes"][0].update(latency_ms=float("inf"))),
    ("history entry not a mapping", lambda d: d["probes"][0]["history"].append(None)),
    ("unhashable status", lambda d: d["probes"][0]["history"].append({"status": []})),
    ("values of odd types", lambda d: d["probes"][0].update(values={"a": "x", "b": None})),
    ("alert of odd types", lambda d: d["alerts"].append({"name": 1, "since": [], "state": None})),
    ("services not a list", lambda d: d.update(services="workers")),
]


@pytest.mark.parametrize("mutate", [m for _, m in _MALFORMED], ids=[n for n, _ in _MALFORMED])
def test_malformed_document_still_renders(mutate: Callable[[dict[str, Any]], None]) -> None:
    """The page runs on every load: a gap or a wrong type in the document must give a page
    with a gap, never a 500 instead of the status page."""
    status = incident()
    mutate(status)

    tree = page(status)

    assert tree.by_id("banner")


def test_unknown_status_value_shows_as_unknown() -> None:
    """A status outside the contract is shown as unknown (never used as a CSS class)."""
    status = document([probe("a", "kv", status="on-fire")])
    tree = page(status)

    assert "unknown" == row(tree, "a").attrs["data-status"]
    assert "r-unknown" == row(tree, "a").attrs["class"]


def test_long_message_is_clipped_with_the_whole_text_on_hover() -> None:
    """A multi-kilobyte error body must not push the page apart; the full text stays on hover."""
    message = "x" * 5000
    tree = page(document([probe("a", "kv", "crit", message=message)]))

    [clipped] = row(tree, "a").find_all("span", title=message)
    assert 601 == len(clipped.text)


# --- refresh --------------------------------------------------------------------------


def test_refresh_interval_reaches_script_and_noscript_fallback() -> None:
    """The script reads the interval from the page; without JavaScript a meta refresh with
    the same interval and a note take over."""
    html = render(healthy(), refresh_s=15)
    tree = parse(html)

    assert "15000" == tree.find_all("body")[0].attrs["data-refresh-ms"]
    assert '<noscript><meta http-equiv="refresh" content="15"></noscript>' in html
    assert "JavaScript is off" in html
    assert "Live · updates every 15 s" == tree.by_id("fw-live").text


def test_swapped_part_of_the_page_is_one_element() -> None:
    """The script swaps ``#fw-main`` from a fresh copy of the page: everything that changes
    between renders must be inside it (the banner, sections, footer)."""
    tree = page(incident())

    main = tree.by_id("fw-main")
    for element_id in ("banner", "meta", "alerting", "services", "probes", "events"):
        assert main.find_all(id=element_id), element_id
