"""The status page: one self-contained HTML document rendered from the status document.

:func:`render` is a pure function of the ``/api/v1/status`` document (see docs/status-page.md):
no clock (relative times count from the document's ``flarewatch.now``), no I/O, no state. The
page it returns loads nothing from anywhere: CSS, icons and the latency sparklines are inline,
and its own Content-Security-Policy (``default-src 'none'``, the one script and the one style
sheet allowed by hash) makes the browser refuse anything else, including a script smuggled in
through a probe message that escaping somehow missed. Every value from the document is
HTML-escaped; probe messages, names and alert summaries are untrusted text.

A small inline script re-fetches the page's own URL every ``refresh_s`` seconds and swaps
the ``<main>`` element, so the page stays live without a reload; without JavaScript a
``<noscript>`` refresh and note take over.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any, Final

from probes.base import Status

__all__ = ["CONTENT_SECURITY_POLICY", "SERVICES", "render"]

SERVICES: Final[tuple[str, ...]] = ("workers", "pages", "kv", "r2", "d1", "dns", "http", "api")
"""The services the page always shows, in this order (others follow in order of appearance)."""

_SERVICE_TITLES: Final = {
    "workers": "Workers",
    "pages": "Pages",
    "kv": "KV",
    "r2": "R2",
    "d1": "D1",
    "dns": "DNS",
    "http": "HTTP",
    "api": "Cloudflare API",
}

# The page's own states: the probe statuses plus "pending" (an unknown probe that has not
# run yet, which is not a failure). Ranked for "worst of".
_PENDING: Final = "pending"
_RANK: Final = {
    Status.OK.value: 0,
    _PENDING: 1,
    Status.WARN.value: 2,
    Status.CRIT.value: 3,
    Status.UNKNOWN.value: 4,
}
_LABEL: Final = {
    Status.OK.value: "OK",
    _PENDING: "Pending",
    Status.WARN.value: "Warning",
    Status.CRIT.value: "Critical",
    Status.UNKNOWN.value: "Unknown",
}
_FAILING: Final = frozenset({Status.CRIT.value, Status.UNKNOWN.value})
# Leads the browser tab's title, so a pinned tab says the state too.
_TITLE_MARK: Final = {"ok": "✓", "pending": "…", "warn": "!", "crit": "✕", "unknown": "?"}

_SEVERITY_STATE: Final = {"critical": "crit", "warning": "warn", "info": "ok"}
_ALERT_STATE_ORDER: Final = {"firing": 0, "pending": 1, "resolved": 2}

_MESSAGE_LIMIT: Final = 600
_EVENTS_SHOWN: Final = 20
_SPARK_POINTS: Final = 120
_XS: Final = tuple(str(x) for x in range(_SPARK_POINTS))
_LATENCY: Final = operator.itemgetter("latency_ms")
_STATUS: Final = operator.itemgetter("status")
_DURATION: Final = operator.itemgetter("duration_ms")
_MARKED: Final = frozenset({Status.WARN.value, Status.CRIT.value, Status.UNKNOWN.value})

_STYLE: Final = """
:root{color-scheme:light dark;--bg:#f5f6f8;--fg:#1b1f24;--muted:#57606a;--card:#fff;
--line:#d8dee4;--ok:#1a7f37;--warn:#9a6700;--crit:#cf222e;--unknown:#8250df;--pending:#6e7781;
--spark:#0969da;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#8d96a0;
--card:#161b22;--line:#30363d;--ok:#3fb950;--warn:#d29922;--crit:#f85149;--unknown:#b083f0;
--pending:#8d96a0;--spark:#58a6ff}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg)}
header.top,main{max-width:1280px;margin:0 auto;padding:0 20px}
header.top{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px;padding-top:14px}
h1{font-size:1.25rem;margin:0}
h2{font-size:1.05rem;margin:26px 0 10px}
h3{font-size:.95rem;margin:18px 0 6px;display:flex;gap:8px;align-items:center}
a{color:inherit}
.muted,.live{color:var(--muted)}
.live{font-size:.85rem;margin:0}
.live.stale{color:var(--crit);font-weight:600}
.note{margin:6px 0;color:var(--muted)}
.ico{width:1em;height:1em;vertical-align:-.14em;flex:none}
.st{display:inline-flex;align-items:center;gap:.3em;font-weight:600;white-space:nowrap}
.s-ok{color:var(--ok)}.s-warn{color:var(--warn)}.s-crit{color:var(--crit)}
.s-unknown{color:var(--unknown)}.s-pending{color:var(--pending)}
.banner{display:flex;gap:14px;align-items:center;margin:14px 0 4px;padding:14px 18px;
border-radius:10px;border:1px solid var(--line);border-left:8px solid var(--c);
background:color-mix(in srgb,var(--c) 12%,var(--card))}
.banner .ico{width:2.1rem;height:2.1rem;color:var(--c)}
.banner strong{font-size:1.5rem;line-height:1.2;display:block}
.banner p{margin:2px 0 0}
.c-ok{--c:var(--ok)}.c-warn{--c:var(--warn)}.c-crit{--c:var(--crit)}
.c-unknown{--c:var(--unknown)}.c-pending{--c:var(--pending)}
.meta{display:flex;flex-wrap:wrap;gap:4px 22px;margin:8px 0 0;font-size:.88rem}
.meta div{display:flex;gap:6px}.meta dt{color:var(--muted)}.meta dd{margin:0}
.budget{display:inline-block;width:80px;height:8px;border-radius:4px;background:var(--line);
overflow:hidden;vertical-align:middle}
.budget svg{display:block;width:100%;height:100%}
.callout{margin:8px 0;padding:8px 12px;border-radius:8px;border:1px dashed var(--line);
background:var(--card)}
ul.plain{list-style:none;margin:0;padding:0}
.alerts li,.failing li{display:grid;grid-template-columns:8.5rem 1fr auto;gap:2px 14px;
padding:8px 12px;border:1px solid var(--line);border-left:5px solid var(--c);
border-radius:8px;margin:0 0 6px;background:var(--card)}
.alerts .what,.failing .what{min-width:0;overflow-wrap:anywhere}
.alerts .when,.failing .when{color:var(--muted);font-size:.85rem;white-space:nowrap}
.alerts li.resolved{opacity:.65}
.services{display:grid;grid-template-columns:repeat(auto-fill,minmax(132px,1fr));gap:10px}
.services li a{display:block;text-decoration:none;padding:10px 12px;border-radius:10px;
border:1px solid var(--line);border-top:5px solid var(--c);background:var(--card);height:100%}
.services li.none a{opacity:.55;border-top-color:var(--line)}
.services .name{display:block;font-weight:600}
.services .counts{display:block;font-size:.82rem;color:var(--muted)}
.table-wrap{overflow-x:auto;border:1px solid var(--line);border-radius:10px;background:var(--card)}
table{border-collapse:collapse;width:100%;font-size:.9rem}
table.probes{table-layout:fixed;min-width:760px}
col.c-status{width:8.5rem}col.c-probe{width:13rem}col.c-latency{width:11rem}
col.c-checked{width:8.5rem}
th,td{text-align:left;padding:7px 10px;border-top:1px solid var(--line);vertical-align:top}
thead th{border-top:0;font-size:.78rem;text-transform:uppercase;letter-spacing:.03em;
color:var(--muted);font-weight:600}
tbody tr{border-left:4px solid transparent}
tbody tr.r-warn{border-left-color:var(--warn)}tbody tr.r-crit{border-left-color:var(--crit)}
tbody tr.r-unknown{border-left-color:var(--unknown)}
td.num{white-space:nowrap;font-variant-numeric:tabular-nums}
td.msg{min-width:16rem;overflow-wrap:anywhere}
.pname{font-weight:600;overflow-wrap:anywhere}.ptype{display:block;color:var(--muted);font-size:.8rem}
.reason{display:inline-block;font:600 .75rem/1.5 ui-monospace,"DejaVu Sans Mono",monospace;
padding:0 6px;border-radius:4px;border:1px solid currentColor;margin-right:6px}
.tag{display:inline-block;font-size:.75rem;font-weight:600;padding:0 6px;border-radius:4px;
background:var(--line);margin-left:6px}
.tag.overdue{background:var(--crit);color:#fff;display:table;margin:3px 0 0}
.event{display:block;margin-top:4px;color:var(--muted);font-size:.85rem}
.spark{display:block;width:140px;height:30px;margin-top:3px}
.spark line{stroke:var(--line);stroke-width:1}
.spark path{fill:none;stroke:var(--spark);stroke-width:1.5;stroke-linejoin:round;
stroke-linecap:round}
.spark .f-warn{fill:var(--warn)}.spark .f-crit{fill:var(--crit)}
.spark .f-unknown{fill:var(--unknown)}
details{margin-top:4px;font-size:.85rem}summary{cursor:pointer;color:var(--muted)}
details dl{display:grid;grid-template-columns:auto 1fr;gap:0 10px;margin:4px 0}
details dd{margin:0;font-variant-numeric:tabular-nums}
.events td.kind{white-space:nowrap}
footer{margin:30px 0 24px;color:var(--muted);font-size:.85rem}
@media (max-width:700px){header.top,main{padding:0 10px}
.alerts li,.failing li{grid-template-columns:1fr}
table.probes,table.probes tbody{display:block;min-width:0}
table.probes thead,table.probes colgroup{display:none}
table.probes tr{display:grid;grid-template-columns:1fr 1fr;gap:4px 12px;padding:8px 10px;
border-top:1px solid var(--line)}
table.probes td{display:block;border:0;padding:0}
table.probes td.msg{grid-column:1/-1;min-width:0}}
.sprite{position:absolute;width:0;height:0;overflow:hidden}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
""".strip()

# Re-fetch the page's own URL (so it works under any path prefix), swap <main>, the title
# and the favicon; keep <details> the reader opened; back off while updates fail; pause
# while the tab is hidden. Static, so its hash in the CSP never changes.
_SCRIPT: Final = """
(function () {
  "use strict";
  var every = Number(document.body.getAttribute("data-refresh-ms")) || 10000;
  var live = document.getElementById("fw-live");
  var failures = 0, timer = 0, busy = false;
  function schedule(ms) { clearTimeout(timer); timer = setTimeout(refresh, ms); }
  function stamp() { return new Date().toISOString().slice(11, 19) + " UTC"; }
  function openDetails(root) {
    var ids = [];
    root.querySelectorAll("details[open][id]").forEach(function (d) { ids.push(d.id); });
    return ids;
  }
  function refresh() {
    if (document.hidden || busy) { return; }
    busy = true;
    fetch(window.location.href, {cache: "no-store", headers: {"Accept": "text/html"}})
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var next = doc.getElementById("fw-main");
        var main = document.getElementById("fw-main");
        if (!next || !main) { throw new Error("not a flarewatch status page"); }
        var open = openDetails(main);
        main.replaceWith(document.adoptNode(next));
        open.forEach(function (id) {
          var d = document.getElementById(id);
          if (d) { d.open = true; }
        });
        document.title = doc.title;
        var icon = doc.getElementById("fw-icon"), mine = document.getElementById("fw-icon");
        if (icon && mine) { mine.setAttribute("href", icon.getAttribute("href")); }
        failures = 0;
        live.classList.remove("stale");
        live.textContent = "Live \\u00b7 updated " + stamp() + " \\u00b7 every " +
          Math.round(every / 1000) + " s";
        schedule(every);
      })
      .catch(function (err) {
        failures += 1;
        live.classList.add("stale");
        live.textContent = "Update failed at " + stamp() + " (" + err.message +
          "): the figures below are out of date; retrying";
        schedule(Math.min(every * Math.pow(2, failures), 120000));
      })
      .finally(function () { busy = false; });
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { schedule(0); }
  });
  schedule(every);
})();
""".strip()


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


CONTENT_SECURITY_POLICY: Final[str] = (
    "default-src 'none'; "
    f"style-src {_csp_hash(_STYLE)}; "
    f"script-src {_csp_hash(_SCRIPT)}; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"
)
"""The policy the page declares in a ``<meta>`` tag; a server may also send it as a header
(adding ``frame-ancestors 'none'``, which only a header can carry)."""

_ICONS: Final = """<svg class="sprite" aria-hidden="true" focusable="false">
<symbol id="i-ok" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7.5" fill="currentColor"/>\
<path d="M4.5 8.3l2.3 2.3 4.7-4.9" fill="none" stroke="#fff" stroke-width="1.9" \
stroke-linecap="round" stroke-linejoin="round"/></symbol>
<symbol id="i-warn" viewBox="0 0 16 16"><path d="M8 .8l7.6 13.6H.4z" fill="currentColor"/>\
<path d="M8 5.4v4.4" stroke="#fff" stroke-width="1.8" stroke-linecap="round"/>\
<circle cx="8" cy="12.2" r="1.05" fill="#fff"/></symbol>
<symbol id="i-crit" viewBox="0 0 16 16"><path d="M4.7.5h6.6l4.7 4.7v6.6l-4.7 4.7H4.7L0 11.8V5.2z" \
fill="currentColor"/><path d="M5.3 5.3l5.4 5.4m0-5.4l-5.4 5.4" stroke="#fff" \
stroke-width="1.9" stroke-linecap="round"/></symbol>
<symbol id="i-unknown" viewBox="0 0 16 16"><rect x=".5" y=".5" width="15" height="15" rx="3.5" \
fill="currentColor"/><path d="M5.6 6.1a2.5 2.5 0 1 1 3.4 2.3c-.7.3-1 .8-1 1.5v.4" fill="none" \
stroke="#fff" stroke-width="1.7" stroke-linecap="round"/><circle cx="8" cy="12.6" r="1" \
fill="#fff"/></symbol>
<symbol id="i-pending" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6.6" fill="none" \
stroke="currentColor" stroke-width="1.8" stroke-dasharray="3 2.2"/></symbol>
</svg>"""

_FAVICON_COLOURS: Final = {
    "ok": "%231a7f37",
    "pending": "%236e7781",
    "warn": "%23bf8700",
    "crit": "%23cf222e",
    "unknown": "%238250df",
}


@dataclass(frozen=True, slots=True)
class _Probe:
    """One probe entry, normalised: every field the page reads, with safe defaults."""

    name: str
    type: str
    service: str
    state: str
    reason: str | None
    message: str
    latency_ms: float | None
    duration_ms: float | None
    checked_at: datetime | None
    checked_raw: str | None
    since: datetime | None
    interval_s: float | None
    values: Mapping[str, Any]
    history: Sequence[Any]
    events: Sequence[Mapping[str, Any]]
    explanation: str | None = None


def render(status: Mapping[str, Any], *, refresh_s: float = 10.0) -> str:
    """The status page for the status document ``status`` (the ``/api/v1/status`` JSON).

    Pure and total: missing or null fields render as "unknown" rather than failing, since a
    status page that errors is worse than one with a gap. ``refresh_s`` is how often the
    page's script fetches a fresh copy of itself.
    """
    meta = _mapping(status.get("flarewatch"))
    now = _parse_time(meta.get("now"))
    probes = [_probe(p) for p in _sequence(status.get("probes")) if isinstance(p, Mapping)]
    alerts = [a for a in _sequence(status.get("alerts")) if isinstance(a, Mapping)]
    overall, headline, detail = _summary(probes, alerts, now)
    refresh_ms = max(1000, round(refresh_s * 1000)) if math.isfinite(refresh_s) else 10000
    title = f"{_TITLE_MARK[overall]} {headline} · flarewatch"

    out: list[str] = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        '<meta name="robots" content="noindex, nofollow">\n',
        '<meta name="referrer" content="no-referrer">\n',
        '<meta name="color-scheme" content="light dark">\n',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n',
        f"<title>{_e(title)}</title>\n",
        f'<link id="fw-icon" rel="icon" href="{_favicon(overall)}">\n',
        f"<style>{_STYLE}</style>\n",
        '<noscript><meta http-equiv="refresh" '
        f'content="{max(1, refresh_ms // 1000)}"></noscript>\n',
        "</head>\n",
        f'<body data-refresh-ms="{refresh_ms}">\n',
        _ICONS,
        '\n<header class="top">\n<h1>flarewatch status</h1>\n',
        f'<p id="fw-live" class="live">Live · updates every {_e(_seconds(refresh_ms / 1000))}'
        "</p>\n",
        '<noscript><p class="note">JavaScript is off: this page reloads itself every '
        f"{_e(_seconds(refresh_ms / 1000))} instead of updating in place.</p></noscript>\n",
        "</header>\n",
        '<main id="fw-main">\n',
    ]
    out.append(_banner(overall, headline, detail, meta))
    out.append(_meta(meta, _mapping(status.get("api")), now))
    out.append(_propagation(probes))
    out.append(_alerting(alerts, probes, now))
    out.append(_services(status, probes))
    out.append(_probe_tables(status, probes, now))
    out.append(_events(probes, now))
    out.append(_footer(meta))
    out.append("</main>\n")
    out.append(f"<script>{_SCRIPT}</script>\n</body>\n</html>\n")
    return "".join(out)


# --- reading the document -------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _state(value: Any, checked: bool) -> str:
    text = _text(value).lower()
    if text not in _RANK or text == _PENDING:
        text = Status.UNKNOWN.value
    if text == Status.UNKNOWN.value and not checked:
        return _PENDING
    return text


def _probe(raw: Mapping[str, Any]) -> _Probe:
    checked_raw = raw.get("checked_at") if isinstance(raw.get("checked_at"), str) else None
    checked_at = _parse_time(checked_raw)
    reason = raw.get("reason")
    return _Probe(
        name=_text(raw.get("name")) or "(unnamed)",
        type=_text(raw.get("type")),
        service=_text(raw.get("service")) or _text(raw.get("type")) or "other",
        state=_state(raw.get("status"), checked_at is not None),
        reason=_text(reason) if reason else None,
        message=_text(raw.get("message")),
        explanation=_text(raw.get("explanation")) or None,
        latency_ms=_number(raw.get("latency_ms")),
        duration_ms=_number(raw.get("duration_ms")),
        checked_at=checked_at,
        checked_raw=checked_raw,
        since=_parse_time(raw.get("since")),
        interval_s=_number(raw.get("interval_s")),
        values=_mapping(raw.get("values")),
        history=_sequence(raw.get("history"))[-_SPARK_POINTS:],
        events=[e for e in _sequence(raw.get("events")) if isinstance(e, Mapping)],
    )


def _worst(states: Iterable[str]) -> str:
    return max(states, key=_RANK.__getitem__, default=Status.OK.value)


def _overdue(probe: _Probe, now: datetime | None) -> bool:
    """Not checked for three intervals (at least a minute more than one): the scheduler or
    the probe is stuck, which the probe's own last status cannot say."""
    if now is None or probe.checked_at is None or probe.interval_s is None:
        return False
    allowed = max(3 * probe.interval_s, probe.interval_s + 60)
    return (now - probe.checked_at).total_seconds() > allowed


# --- formatting ----------------------------------------------------------------------


def _e(value: Any) -> str:
    return escape(_text(value), quote=True)


def _seconds(seconds: float) -> str:
    return f"{seconds:g} s"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(seconds // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _when(moment: datetime | None, raw: Any, now: datetime | None, *, ago: bool = True) -> str:
    """A ``<time>`` element: relative to ``now`` when known, the absolute time on hover."""
    if moment is None:
        return '<span class="muted">never</span>'
    iso = moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    absolute = f"{iso[:10]} {iso[11:19]} UTC"
    if now is None:
        shown = absolute
    else:
        delta = (now - moment).total_seconds()
        if ago:
            shown = "just now" if delta < 1 else f"{_duration(delta)} ago"
        else:
            shown = f"for {_duration(delta)}"
    return f'<time datetime="{iso}" title="{_e(raw or absolute)}">{_e(shown)}</time>'


def _latency(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.2f} s"


def _value(value: Any) -> str:
    number = _number(value)
    if number is None:
        return _text(value) or "—"
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:,.4g}" if abs(number) < 1e6 else f"{number:,.0f}"


def _clip(message: str) -> str:
    if len(message) <= _MESSAGE_LIMIT:
        return _e(message)
    return f'<span title="{_e(message)}">{_e(message[:_MESSAGE_LIMIT])}…</span>'


def _icon(state: str) -> str:
    return f'<svg class="ico" aria-hidden="true" focusable="false"><use href="#i-{state}"/></svg>'


def _badge(state: str) -> str:
    """The status as an icon *and* a word: never by colour alone."""
    return f'<span class="st s-{state}">{_icon(state)}{_LABEL[state]}</span>'


def _favicon(state: str) -> str:
    colour = _FAVICON_COLOURS[state]
    return (
        "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
        f"%3Ccircle cx='8' cy='8' r='7' fill='{colour}'/%3E%3C/svg%3E"
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# --- sections ------------------------------------------------------------------------


def _summary(
    probes: Sequence[_Probe], alerts: Sequence[Mapping[str, Any]], now: datetime | None
) -> tuple[str, str, str]:
    """The overall state, the headline (banner and title) and a line of detail."""
    failing = [p for p in probes if p.state in _FAILING]
    warning = [p for p in probes if p.state == Status.WARN.value]
    pending = [p for p in probes if p.state == _PENDING]
    ok = len(probes) - len(failing) - len(warning) - len(pending)
    overdue = sum(1 for p in probes if _overdue(p, now))
    firing = sum(1 for a in alerts if _text(a.get("state")).lower() == "firing")

    if not probes:
        return _PENDING, "No probes configured", "Add probes to the configuration file."
    if failing:
        overall = _worst(p.state for p in failing)
        headline = f"{len(failing)} failing"
        if warning:
            headline += f", {len(warning)} warning"
        names = ", ".join(p.name for p in failing[:5])
        more = f" and {len(failing) - 5} more" if len(failing) > 5 else ""
        detail = f"Failing: {names}{more}."
    elif warning:
        overall, headline = Status.WARN.value, f"{len(warning)} warning"
        more = f" and {len(warning) - 5} more" if len(warning) > 5 else ""
        detail = "Warning: " + ", ".join(p.name for p in warning[:5]) + more + "."
    elif ok == 0:
        overall, headline = _PENDING, "Waiting for the first checks"
        detail = f"{_plural(len(pending), 'probe')} not checked yet."
    else:
        overall, headline = Status.OK.value, "All good"
        detail = f"{_plural(ok, 'probe')} OK."
    parts = [detail]
    if failing or warning:
        parts.append(f"{ok} of {len(probes)} probes OK.")
    if pending and overall != _PENDING:
        parts.append(f"{len(pending)} pending.")
    if overdue:
        parts.append(f"{overdue} overdue (not checked for 3 intervals).")
    if firing:
        parts.append(f"{_plural(firing, 'alert')} firing.")
    return overall, headline, " ".join(parts)


def _banner(overall: str, headline: str, detail: str, meta: Mapping[str, Any]) -> str:
    starting = ""
    if meta.get("ready") is False:
        starting = '<p class="muted">Starting up: the first round of checks is not finished.</p>'
    return (
        f'<section id="banner" class="banner c-{overall}" role="status" '
        'aria-label="Overall status">'
        f"{_icon(overall)}<div><strong>{_e(headline)}</strong>"
        f"<p>{_e(detail)}</p>{starting}</div></section>\n"
    )


def _meta(meta: Mapping[str, Any], api: Mapping[str, Any], now: datetime | None) -> str:
    items: list[tuple[str, str]] = []
    if now is not None:
        items.append(("Updated", _e(now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))))
    started_raw = meta.get("started_at")
    started = _parse_time(started_raw)
    if started is not None:
        items.append(("Up", _when(started, started_raw, now, ago=False)))
    rounds = _number(meta.get("rounds"))
    if rounds is not None:
        items.append(("Rounds", _e(_value(rounds))))
    loaded_raw = meta.get("config_loaded_at")
    if meta.get("config_source") or loaded_raw:
        loaded = _parse_time(loaded_raw)
        text = _e(meta.get("config_source") or "config")
        if loaded is not None:
            text += " (loaded " + _when(loaded, loaded_raw, now) + ")"
        items.append(("Config", text))
    items.append(("Cloudflare API budget", _budget(api)))
    body = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in items)
    return f'<dl id="meta" class="meta">{body}</dl>\n'


def _budget(api: Mapping[str, Any]) -> str:
    remaining = _number(api.get("budget_remaining"))
    limit = _number(api.get("budget_limit"))
    requests = _number(api.get("requests_total"))
    made = f" · {_e(_value(requests))} requests made" if requests is not None else ""
    if remaining is None:
        return f'<span id="budget">unknown{made}</span>'
    # The budget refills continuously (580.8 left); whole requests are what can be made.
    remaining = float(math.floor(remaining))
    if limit is None or limit <= 0:
        return f'<span id="budget">{_e(_value(remaining))} requests left{made}</span>'
    share = min(1.0, max(0.0, remaining / limit))
    state = "crit" if share < 0.1 else "warn" if share < 0.25 else "ok"
    fill = {"ok": "var(--ok)", "warn": "var(--warn)", "crit": "var(--crit)"}[state]
    low = f" {_badge(state)}" if state != "ok" else ""
    return (
        f'<span id="budget">{_e(_value(remaining))} of {_e(_value(limit))} left '
        f"({share:.0%}){low}{made} "
        f'<span class="budget" aria-hidden="true"><svg viewBox="0 0 100 1" '
        f'preserveAspectRatio="none"><rect width="{share * 100:.1f}" height="1" '
        f'fill="{fill}"/></svg></span></span>'
    )


def _propagation(probes: Sequence[_Probe]) -> str:
    """DNS changes still propagating, called out at the top (Req 2.8)."""
    lines: list[str] = []
    for probe in probes:
        ratio = _number(probe.values.get("propagation_ratio"))
        if ratio is None or ratio >= 1.0:
            continue
        current = _number(probe.values.get("resolvers_current"))
        total = _number(probe.values.get("resolvers"))
        figures = f"{ratio:.0%} of resolvers updated"
        if current is not None and total:
            figures = f"{_value(current)}/{_value(total)} resolvers updated ({ratio:.0%})"
        latest = next(
            (
                _text(e.get("message"))
                for e in reversed(probe.events)
                if _text(e.get("kind")).startswith("dns_")
            ),
            "",
        )
        text = f"{_e(figures)}" + (f" — {_e(latest)}" if latest else "")
        lines.append(
            f'<li><a href="#probe-{_e(probe.name)}" class="pname">{_e(probe.name)}</a>: {text}</li>'
        )
    if not lines:
        return ""
    return (
        '<section id="propagation" class="callout" aria-label="DNS propagation">'
        "<strong>DNS change propagating</strong>"
        f'<ul class="plain">{"".join(lines)}</ul></section>\n'
    )


def _alerting(
    alerts: Sequence[Mapping[str, Any]], probes: Sequence[_Probe], now: datetime | None
) -> str:
    head = (
        '<section id="alerting" aria-labelledby="h-alerting">'
        '<h2 id="h-alerting">What is alerting</h2>'
    )
    if alerts:
        ordered = sorted(
            alerts,
            key=lambda a: (
                _ALERT_STATE_ORDER.get(_text(a.get("state")).lower(), 3),
                -_RANK[_SEVERITY_STATE.get(_text(a.get("severity")).lower(), "unknown")],
                _text(a.get("since")),
            ),
        )
        items = "".join(_alert_item(a, now) for a in ordered)
        return f'{head}<ul class="plain alerts">{items}</ul></section>\n'
    not_ok = sorted(
        (p for p in probes if p.state not in (Status.OK.value, _PENDING)),
        key=lambda p: -_RANK[p.state],
    )
    if not not_ok:
        return (
            f'{head}<p id="no-alerts">Nothing is alerting, and every checked probe is OK.</p>'
            "</section>\n"
        )
    items = "".join(
        f'<li class="c-{p.state}">{_badge(p.state)}<span class="what">'
        f'<a class="pname" href="#probe-{_e(p.name)}">{_e(p.name)}</a> '
        f'<span class="muted">({_e(p.type or p.service)})</span> '
        f"{_reason(p.reason)}{_clip(p.message)}</span>"
        f'<span class="when">{_when(p.since, None, now, ago=False) if p.since else ""}</span></li>'
        for p in not_ok
    )
    return (
        f'{head}<p id="no-alerts">No alert rule is firing. Probes not OK right now:</p>'
        f'<ul class="plain failing">{items}</ul></section>\n'
    )


def _alert_item(alert: Mapping[str, Any], now: datetime | None) -> str:
    severity = _text(alert.get("severity")).lower()
    state_word = _text(alert.get("state")).lower() or "firing"
    colour = _SEVERITY_STATE.get(severity, "unknown")
    probe = _text(alert.get("probe"))
    link = f' on <a href="#probe-{_e(probe)}" class="pname">{_e(probe)}</a>' if probe else ""
    summary = _text(alert.get("summary"))
    since_raw = alert.get("since")
    since = _parse_time(since_raw)
    when = _when(since, since_raw, now, ago=False) if since else ""
    resolved = " resolved" if state_word == "resolved" else ""
    return (
        f'<li class="c-{colour}{resolved}"><span class="st s-{colour}">{_icon(colour)}'
        f"{_e(severity.capitalize() or 'Alert')}</span>"
        f'<span class="what"><strong>{_e(alert.get("name") or "alert")}</strong>{link} '
        f'<span class="tag">{_e(state_word)}</span>'
        f"{'<br>' + _clip(summary) if summary else ''}</span>"
        f'<span class="when">{when}</span></li>'
    )


def _service_order(status: Mapping[str, Any], probes: Sequence[_Probe]) -> list[str]:
    names = list(SERVICES)
    for entry in _sequence(status.get("services")):
        name = _text(_mapping(entry).get("service"))
        if name and name not in names:
            names.append(name)
    for probe in probes:
        if probe.service not in names:
            names.append(probe.service)
    return names


def _services(status: Mapping[str, Any], probes: Sequence[_Probe]) -> str:
    by_service: dict[str, list[_Probe]] = {}
    for probe in probes:
        by_service.setdefault(probe.service, []).append(probe)
    items: list[str] = []
    for name in _service_order(status, probes):
        members = by_service.get(name, [])
        title = _e(_SERVICE_TITLES.get(name, name))
        if not members:
            items.append(
                f'<li class="none" data-service="{_e(name)}"><a href="#svc-{_e(name)}">'
                f'<span class="name">{title}</span><span class="st s-pending">Not monitored'
                "</span></a></li>"
            )
            continue
        state = _worst(p.state for p in members)
        counts: dict[str, int] = {}
        for probe in members:
            counts[probe.state] = counts.get(probe.state, 0) + 1
        summary = " · ".join(
            f"{counts[s]} {_LABEL[s].lower()}" for s in sorted(counts, key=_RANK.__getitem__)
        )
        items.append(
            f'<li class="c-{state}" data-service="{_e(name)}" data-status="{state}">'
            f'<a href="#svc-{_e(name)}"><span class="name">{title}</span>{_badge(state)}'
            f'<span class="counts">{_e(_plural(len(members), "probe"))}: {_e(summary)}</span>'
            "</a></li>"
        )
    return (
        '<section id="services" aria-labelledby="h-services"><h2 id="h-services">'
        f'Health per service</h2><ul class="plain services">{"".join(items)}</ul></section>\n'
    )


def _probe_tables(status: Mapping[str, Any], probes: Sequence[_Probe], now: datetime | None) -> str:
    by_service: dict[str, list[_Probe]] = {}
    for probe in probes:
        by_service.setdefault(probe.service, []).append(probe)
    parts = ['<section id="probes" aria-labelledby="h-probes"><h2 id="h-probes">Probes</h2>']
    for name in _service_order(status, probes):
        members = by_service.get(name)
        if not members:
            continue
        state = _worst(p.state for p in members)
        title = _e(_SERVICE_TITLES.get(name, name))
        parts.append(
            f'<section id="svc-{_e(name)}" aria-labelledby="h-svc-{_e(name)}">'
            f'<h3 id="h-svc-{_e(name)}">{title} {_badge(state)}</h3><div class="table-wrap">'
            f'<table class="probes"><caption class="vh">{title} probes</caption>'
            '<colgroup><col class="c-status"><col class="c-probe"><col class="c-latency">'
            '<col class="c-checked"><col></colgroup><thead><tr>'
            '<th scope="col">Status</th><th scope="col">Probe</th>'
            '<th scope="col">Latency (trend)</th><th scope="col">Last checked</th>'
            '<th scope="col">Last result / error</th></tr></thead><tbody>'
        )
        parts.extend(_probe_row(p, now) for p in members)
        parts.append("</tbody></table></div></section>")
    if len(parts) == 1:
        parts.append('<p class="muted">No probes are configured.</p>')
    parts.append("</section>\n")
    return "".join(parts)


def _reason(reason: str | None) -> str:
    return f'<span class="reason">{_e(reason)}</span> ' if reason else ""


def _probe_row(probe: _Probe, now: datetime | None) -> str:
    state = probe.state
    trend = _trend(probe.history)
    since = (
        f'<span class="event">{_when(probe.since, None, now, ago=False)}</span>'
        if probe.since and state != _PENDING
        else ""
    )
    overdue = _overdue(probe, now)
    checked = _when(probe.checked_at, probe.checked_raw, now)
    if overdue:
        checked += '<span class="tag overdue">overdue</span>'
    if probe.interval_s is not None:
        checked += f'<span class="event">every {_e(_duration(probe.interval_s))}</span>'

    message = _reason(probe.reason) + (_clip(probe.message) if probe.message else "")
    if state == Status.OK.value:
        message = f'<span class="muted">{message or "OK"}</span>'
        message += _last_failure(probe, trend.last_not_ok, now)
    elif state == _PENDING:
        message = message or '<span class="muted">Not checked yet</span>'
    if probe.events:
        latest = probe.events[-1]
        at_raw = latest.get("at")
        message += (
            f'<span class="event">↻ {_e(latest.get("message") or latest.get("kind"))} '
            f"({_when(_parse_time(at_raw), at_raw, now)})</span>"
        )
    if probe.explanation and state not in (Status.OK.value, _PENDING):
        message += f'<span class="event">ⓘ {_clip(probe.explanation)}</span>'
    message += _details(probe, now)
    return (
        f'<tr id="probe-{_e(probe.name)}" class="r-{state}" data-probe="{_e(probe.name)}" '
        f'data-status="{state}"><td>{_badge(state)}{since}</td>'
        f'<td><span class="pname">{_e(probe.name)}</span>'
        f'<span class="ptype">{_e(probe.type)}</span></td>'
        f'<td class="num">{_latency_cell(probe, trend)}{trend.svg}</td>'
        f'<td class="num">{checked}</td><td class="msg">{message}</td></tr>'
    )


def _latency_cell(probe: _Probe, trend: _Trend) -> str:
    """The latest latency; for a probe without one, its run time, said to be that."""
    if probe.latency_ms is None and probe.duration_ms is not None and trend.measure != "Latency":
        run = _e(_latency(probe.duration_ms))
        return f'<span class="muted" title="probe run time">run {run}</span>'
    return _e(_latency(probe.latency_ms))


def _last_failure(probe: _Probe, index: int | None, now: datetime | None) -> str:
    """For a probe that is OK now: when it last was not (``index`` in its history)."""
    if index is None:
        return ""
    entry = _mapping(probe.history[index])
    past = entry.get("status")
    at_raw = entry.get("at")
    at = _parse_time(at_raw)
    when = _when(at, at_raw, now) if at else "recently"
    word = _LABEL.get(_text(past), _text(past)).lower()
    return f'<span class="event">Last not OK: {_e(word)}, {when}</span>'


def _details(probe: _Probe, now: datetime | None) -> str:
    if not probe.values and not probe.events:
        return ""
    rows = "".join(
        f"<dt>{_e(k)}</dt><dd>{_e(_value(v))}</dd>"
        for k, v in sorted(probe.values.items(), key=lambda kv: str(kv[0]))
    )
    events = "".join(
        f"<dt>{_when(_parse_time(e.get('at')), e.get('at'), now)}</dt>"
        f"<dd>{_e(e.get('message') or e.get('kind'))}</dd>"
        for e in reversed(probe.events)
    )
    summary = "Values" + (" and events" if events else "")
    return (
        f'<details id="d-{_e(probe.name)}"><summary>{summary}</summary>'
        f"{f'<dl>{rows}</dl>' if rows else ''}{f'<dl>{events}</dl>' if events else ''}</details>"
    )


@dataclass(frozen=True, slots=True)
class _Trend:
    """What the page draws from a probe's history: the sparkline and the last not-OK check."""

    svg: str
    last_not_ok: int | None
    measure: str


def _trend(history: Sequence[Any]) -> _Trend:
    """The sparkline and last failure of ``history`` (its last 120 checks).

    The line is the checked thing's latency; for a probe that reports none (an API-only
    check), the probe's own run time, which is then mostly the API's latency.

    This runs for every probe on every page load (200 probes of 120 checks each), so the
    history is reduced to tuples in a fast pass (a careful one if anything in it is odd) and
    the drawing is memoised on their values: a probe's history changes once per interval,
    the page is loaded far more often.
    """
    entries = history[-_SPARK_POINTS:]
    try:
        values = tuple(map(_LATENCY, entries))
        states = tuple(map(_STATUS, entries))
        if values.count(None) < len(values):
            return _draw(values, states, "Latency")
        return _draw(tuple(map(_DURATION, entries)), states, "Probe run time")
    except (KeyError, TypeError, ValueError, OverflowError):
        rows = [_mapping(entry) for entry in entries]
        raw_states = [row.get("status") for row in rows]
        states = tuple([s if type(s) is str and s in _RANK else "" for s in raw_states])
        values = tuple([_number(row.get("latency_ms")) for row in rows])
        if values.count(None) < len(values):
            return _draw(values, states, "Latency")
        values = tuple([_number(row.get("duration_ms")) for row in rows])
        return _draw(values, states, "Probe run time")


@functools.lru_cache(maxsize=512)
def _draw(values: tuple[Any, ...], states: tuple[Any, ...], measure: str) -> _Trend:
    """The trend of one history (see :func:`_trend`); raises on non-numeric values."""
    n = len(values)
    if n == 0:
        return _Trend("", None, measure)
    xs = _XS[_SPARK_POINTS - n :]
    known = [v for v in values if v is not None]
    failed = n - states.count(Status.OK.value)
    last_not_ok = None
    marks = ""
    if failed:
        marked = [s if s in _MARKED else "" for s in states]
        failed = n - marked.count("")
        if failed:
            last_not_ok = max(i for i, s in enumerate(marked) if s)
            marks = _spark_marks(xs, marked)

    label = f"{measure} over the last {_plural(n, 'check')}"
    if known:
        label += f": min {_latency(min(known))}, max {_latency(max(known))}, latest "
        label += _latency(known[-1])
    label += f"; {failed} not OK." if failed else "; all OK."
    svg = (
        f'<svg class="spark" viewBox="0 0 {_SPARK_POINTS} 40" preserveAspectRatio="none" '
        f'role="img" aria-label="{_e(label)}"><title>{_e(label)}</title>'
        f'<line x1="0" y1="35" x2="{_SPARK_POINTS}" y2="35" vector-effect="non-scaling-stroke"/>'
        f"{_spark_line(xs, values, known, states)}{marks}</svg>"
    )
    return _Trend(svg, last_not_ok, measure)


def _spark_line(
    xs: Sequence[str], values: Sequence[Any], known: Sequence[Any], states: Sequence[Any]
) -> str:
    """The line: 0 at the bottom (y 34), the highest value at the top (y 2).

    A failed check without a value breaks the line; an OK one without a value (not measured
    this time, e.g. a KV canary that runs every third check) is bridged. A point left on its
    own is drawn as a dot.
    """
    if not known:
        return ""
    top = max(known)
    scale = 32 / top if top > 0 else 0.0
    if len(known) == len(values):
        points = [f"{x} {34 - round(v * scale)}" for x, v in zip(xs, values, strict=True)]
        d = "M" + " ".join(points) + ("h0" if len(points) == 1 else "")
    else:
        # One "M" per unbroken run; the pairs after it are implicit line-tos.
        parts: list[str] = []
        run = 0
        for x, v, state in zip(xs, values, states, strict=True):
            if v is None:
                if run and state in _MARKED:
                    parts.append("h0" if run == 1 else "")
                    run = 0
                continue
            parts.append(f"{' ' if run else 'M'}{x} {34 - round(v * scale)}")
            run += 1
        if run == 1:
            parts.append("h0")
        d = "".join(parts)
    return f'<path vector-effect="non-scaling-stroke" d="{d}"/>'


def _spark_marks(xs: Sequence[str], marked: Sequence[str]) -> str:
    """A bar under each run of not-OK checks, coloured by status (the label says it in words)."""
    marks: list[str] = []
    run_state, run_start = "", 0
    for i, state in enumerate([*marked, ""]):
        if state != run_state:
            if run_state:
                marks.append(
                    f'<rect class="f-{run_state}" x="{int(xs[run_start]) - 0.5}" y="36" '
                    f'width="{i - run_start}" height="4"/>'
                )
            run_state, run_start = state, i
    return "".join(marks)


def _events(probes: Sequence[_Probe], now: datetime | None) -> str:
    collected = [(_text(e.get("at")), p.name, e) for p in probes for e in p.events]
    if not collected:
        return ""
    collected.sort(key=lambda item: item[0], reverse=True)
    rows = "".join(
        f'<tr data-kind="{_e(event.get("kind"))}"><td class="num">'
        f"{_when(_parse_time(at), at, now)}</td>"
        f'<td><a class="pname" href="#probe-{_e(name)}">{_e(name)}</a></td>'
        f'<td class="kind">{_e(_text(event.get("kind")).replace("_", " "))}</td>'
        f'<td class="msg">{_clip(_text(event.get("message")))}</td></tr>'
        for at, name, event in collected[:_EVENTS_SHOWN]
    )
    return (
        '<section id="events" aria-labelledby="h-events"><h2 id="h-events">Recent events</h2>'
        '<div class="table-wrap"><table class="events"><thead><tr><th scope="col">When</th>'
        '<th scope="col">Probe</th><th scope="col">Event</th><th scope="col">Details</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></div></section>\n"
    )


def _footer(meta: Mapping[str, Any]) -> str:
    version = _e(meta.get("version") or "")
    return (
        f'<footer>flarewatch {version} · <a href="api/v1/status">status JSON</a> · '
        '<a href="metrics">metrics</a> · <a href="healthz">healthz</a></footer>\n'
    )
