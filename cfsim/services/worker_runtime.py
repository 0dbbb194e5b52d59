"""What deployed Workers and Pages projects answer on the simulated edge, as pure functions.

:mod:`cfsim.services.edge` does the I/O (faults, sleeping, analytics, tails); this module
builds responses, Cloudflare's error pages, binding error messages and ``trace-v1`` messages.

Facts and sources ([V] verified, [I] inferred):

- An uncaught exception answers HTTP 500 with Cloudflare's "Error 1101 Worker threw
  exception" page [V: Cloudflare error docs]; an unreachable service answers a 5xx page; 522
  "Connection timed out" here [I: the simulator has no origin, 522 is the familiar page].
- D1 errors surface in Workers as ``D1_ERROR: …`` messages such as "Network connection lost."
  [I: D1 docs' error list]; KV failures as ``KV GET failed: <status> <reason>`` [I]; R2 as
  ``<op>: We encountered an internal error. Please try again. (10001)`` [I].
- The tail message shape follows cloudflare-api.md §7; ``scriptVersion`` and
  ``event.response.status`` come from the Tail Worker ``TraceItem`` [I for ``trace-v1``].
- ``event.request.headers`` holds the request headers as the Worker sees them, including the
  ``cf-ray`` (``<16 hex>-<COLO>``) and ``cf-connecting-ip`` the edge adds [V: the ``CF-Ray``
  and ``CF-Connecting-IP`` request headers Cloudflare documents; tails show request headers].
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from cfsim.faults import Decision

COLO = "SJC"
# A 1x1 transparent PNG: what the image Worker serves for any key.
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
REDACTED_HEADERS = frozenset({"authorization", "cookie", "x-auth-key", "cf-access-jwt-assertion"})
# Workers whose simulated code serves images out of R2 (the rest answer JSON).
IMAGE_WORKERS = frozenset({"image-processor"})


@dataclass
class Invocation:
    """What one simulated invocation did: the response plus what the tail and analytics see."""

    status: int
    body: bytes
    content_type: str
    outcome: str = "ok"
    logs: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    cpu_ms: float = 1.0
    invocation_status: str = "success"
    subrequests: int = 0

    def log(self, level: str, ts_ms: int, *message: Any) -> None:
        """Record a ``console.<level>`` call."""
        self.logs.append({"message": list(message), "level": level, "timestamp": ts_ms})


def reason(status: int) -> str:
    """The HTTP reason phrase of ``status``."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def binding_error(kind: str, decision: Decision) -> str:
    """The error message a Worker sees when its KV, D1 or R2 binding fails."""
    if kind == "d1":
        if decision.outage:
            return "D1_ERROR: Network connection lost."
        if decision.rate_limit:
            return "D1_ERROR: D1 DB is overloaded. Too many requests queued."
        return f"D1_ERROR: {decision.exception or decision.error_message or 'internal error'}"
    if kind == "kv":
        if decision.outage:
            return "KV GET failed: 503 Service Unavailable"
        if decision.rate_limit:
            return "KV GET failed: 429 Too Many Requests"
        if decision.error_status is not None:
            return f"KV GET failed: {decision.error_status} {reason(decision.error_status)}"
        return f"KV GET failed: {decision.exception}"
    if decision.rate_limit:
        return "get: Reduce your rate of requests. (10058)"
    detail = decision.exception or decision.error_message
    if detail and not decision.outage:
        return f"get: {detail}"
    return "get: We encountered an internal error. Please try again. (10001)"


def json_body(data: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(data, separators=(",", ":")).encode()


def worker_response(
    script: str, version_id: str, method: str, path: str, failures: dict[str, str], ts_ms: int
) -> Invocation:
    """A healthy invocation of ``script`` (``failures``: binding label → error it hit)."""
    if path == "/health":
        if failures:
            first = next(iter(failures.values()))
            inv = Invocation(
                503,
                json_body(
                    {"status": "error", "version": version_id, "error": first, "checks": failures}
                ),
                "application/json",
                cpu_ms=2.4,
            )
            inv.log("error", ts_ms, "health check failed", first)
            return inv
        inv = Invocation(
            200, json_body({"status": "ok", "version": version_id}), "application/json", cpu_ms=1.8
        )
        inv.log("log", ts_ms, f"{method} /health ok")
        return inv
    if script in IMAGE_WORKERS and method in {"GET", "HEAD"}:
        if failures:
            first = next(iter(failures.values()))
            inv = Invocation(502, f"Storage error: {first}".encode(), "text/plain", cpu_ms=3.1)
            inv.log("error", ts_ms, "R2 read failed", first)
            return inv
        inv = Invocation(200, PIXEL_PNG, "image/png", cpu_ms=14.0)
        inv.log("log", ts_ms, f"served image {path}")
        return inv
    inv = Invocation(
        200,
        json_body(
            {"ok": True, "worker": script, "path": path, "method": method, "version": version_id}
        ),
        "application/json",
        cpu_ms=2.2,
    )
    inv.log("log", ts_ms, f"{method} {path}")
    return inv


def thrown(message: str, ts_ms: int, host: str, ray: str) -> Invocation:
    """The Worker threw: Cloudflare answers 1101 and the tail shows the exception."""
    inv = Invocation(
        500,
        error_page(host, ray, 500, 1101, "Worker threw exception"),
        "text/html; charset=UTF-8",
        outcome="exception",
        cpu_ms=1.2,
        invocation_status="scriptThrewException",
    )
    inv.exceptions.append(
        {
            "name": "Error",
            "message": message,
            "timestamp": ts_ms + 1,
            "stack": (
                f"Error: {message}\n"
                "    at handleRequest (index.js:42:11)\n"
                "    at Object.fetch (index.js:12:12)"
            ),
        }
    )
    inv.log("error", ts_ms, "Unhandled error:", message)
    return inv


def unavailable(host: str, ray: str) -> Invocation:
    """A platform outage: the request never reaches the Worker."""
    return Invocation(
        522,
        error_page(host, ray, 522, 522, "Connection timed out"),
        "text/html; charset=UTF-8",
        outcome="unknown",
        cpu_ms=0.0,
        invocation_status="internalError",
    )


def returned_status(status: int, message: str | None, ts_ms: int, json_errors: bool) -> Invocation:
    """The Worker (or Pages Function) itself answered an error status."""
    text = message or reason(status)
    if json_errors:
        inv = Invocation(status, json_body({"error": text}), "application/json", cpu_ms=1.5)
    else:
        safe = html.escape(text)
        page = f"<!doctype html><title>{status} {safe}</title><h1>{safe}</h1>"
        inv = Invocation(status, page.encode(), "text/html; charset=UTF-8", cpu_ms=0.9)
    inv.log("error", ts_ms, f"responding {status}: {text}")
    return inv


def pages_page(
    project: str, deployment_id: str, environment: str, branch: str, commit: str
) -> bytes:
    """The small HTML page a Pages deployment serves, naming itself."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>SpaceVision — {html.escape(project)}</title></head>\n<body>"
        f"<h1>SpaceVision</h1>\n<p>Served by Pages project <b>{html.escape(project)}</b>, "
        f"deployment <code>{deployment_id}</code> ({environment}, "
        f"{html.escape(branch)}@{commit[:7]}).</p>\n</body></html>\n"
    ).encode()


def nothing_here(host: str) -> bytes:
    """The page for a workers.dev or pages.dev hostname that serves nothing."""
    return (
        "<!doctype html><title>Nothing is here yet</title>"
        f"<h1>Nothing is here yet</h1><p>{html.escape(host)} has no deployment.</p>"
    ).encode()


def error_page(host: str, ray: str, status: int, code: int, title: str) -> bytes:
    """Cloudflare's error page: ``Error <code>``, the title, the host and the Ray ID."""
    return (
        "<!DOCTYPE html>\n<html><head>"
        f"<title>{html.escape(title)} | {html.escape(host)} | Cloudflare</title></head>\n<body>"
        f'<div id="cf-error-details"><h1><span>Error</span> <span>{code}</span></h1>'
        f"<h2>{html.escape(title)}</h2>"
        f"<p>HTTP {status} from {html.escape(host)}.</p>"
        f"<p>Cloudflare Ray ID: <strong>{ray}</strong></p></div>\n</body></html>\n"
    ).encode()


def ray_header(ray: str) -> str:
    """The ``cf-ray`` value of a request: the ray id and the colo, ``8a1b2c3d4e5f6789-SJC``."""
    return f"{ray}-{COLO}"


def request_info(
    url: str, method: str, headers: dict[str, str], client_ip: str, ray: str
) -> dict[str, Any]:
    """``event.request`` of a trace message: secrets redacted, a plausible ``cf`` object.

    The headers are what the Worker saw: the client's, plus the ones Cloudflare's edge adds —
    ``cf-connecting-ip`` and ``cf-ray``, the same ray the response carries in its ``CF-Ray``
    header (the edge overwrites any ``cf-ray`` a client sends), so a tail event joins the
    request that caused it.
    """
    shown = {
        k.lower(): ("REDACTED" if k.lower() in REDACTED_HEADERS else v) for k, v in headers.items()
    }
    shown.setdefault("cf-connecting-ip", client_ip)
    shown["cf-ray"] = ray_header(ray)
    return {
        "url": url,
        "method": method,
        "headers": shown,
        "cf": {
            "colo": COLO,
            "asn": 13335,
            "asOrganization": "Cloudflare",
            "country": "US",
            "city": "San Jose",
            "continent": "NA",
            "region": "California",
            "regionCode": "CA",
            "timezone": "America/Los_Angeles",
            "httpProtocol": "HTTP/1.1",
            "tlsVersion": "TLSv1.3",
            "tlsCipher": "AEAD-AES128-GCM-SHA256",
            "clientTcpRtt": 12,
            "requestPriority": "",
        },
    }


def trace_message(
    script_name: str,
    inv: Invocation,
    ts_ms: int,
    request: dict[str, Any],
    version_id: str,
) -> dict[str, Any]:
    """The ``trace-v1`` message for one invocation (cloudflare-api.md §7)."""
    return {
        "outcome": inv.outcome,
        "scriptName": script_name,
        "entrypoint": None,
        "eventTimestamp": ts_ms,
        "exceptions": inv.exceptions,
        "logs": inv.logs,
        "event": {"request": request, "response": {"status": inv.status}},
        "scriptVersion": {"id": version_id},
    }
