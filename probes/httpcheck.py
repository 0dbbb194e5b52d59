"""One HTTP(S) check, shared by the ``http``, ``workers`` and ``pages`` probes.

The pure core is :func:`evaluate` (an :class:`HttpAnswer` → an :class:`HttpOutcome`: status
code, body and JSON assertions, latency and certificate-expiry thresholds) and
:func:`failure_outcome` (an exception of the request → an outcome with its :class:`Reason`).
:func:`check_http` is the thin shell that sends the request and reads the answer.

Messages name the checked host and path, never the query string or credentials of the URL,
and never a request header (headers may carry a token).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import ssl
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal

import aiohttp
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    field_validator,
    model_validator,
)
from yarl import URL

from probes.base import MetricSpec, ProbeEvent, ProbeResult, Reason, Status
from probes.units import Duration

MAX_BODY_BYTES = 1 << 20
"""Bytes of a body read for assertions; the rest is not downloaded."""

DAY_S = 86_400.0

StatusRange = tuple[int, int]

HTTP_METRICS: Mapping[str, MetricSpec] = {
    "status_code": MetricSpec(
        "http_status_code",
        "HTTP status code of the checked URL (the worst one when a probe checks several)",
    ),
    "latency_ms": MetricSpec(
        "http_latency_seconds",
        "Time to the complete HTTP answer (the slowest when a probe checks several URLs)",
        scale=0.001,
    ),
    "tls_expiry_days": MetricSpec(
        "http_tls_expiry_seconds",
        "Time left until the server's TLS certificate expires (the soonest of a probe's URLs)",
        scale=DAY_S,
    ),
}
"""Metrics of the values every HTTP check publishes, shared by the http, workers and pages
probe types (one family each, told apart by the ``probe`` label)."""


def parse_status_spec(value: object) -> tuple[StatusRange, ...]:
    """Accepted status codes as inclusive ranges, from what users write.

    ``200``, ``"2xx"``, ``"200-399"``, or a list of those. Raises ``ValueError`` with a hint.
    """
    items: Iterable[object] = value if isinstance(value, list | tuple) else [value]
    ranges = [_status_range(item) for item in items]
    if not ranges:
        raise ValueError("expected_status needs at least one status code")
    return tuple(ranges)


_CLASS = re.compile(r"^([1-5])xx$", re.IGNORECASE)
_RANGE = re.compile(r"^(\d{3})\s*-\s*(\d{3})$")


def _status_range(item: object) -> StatusRange:
    hint = "write a status (200), a class (2xx) or a range (200-399)"
    if isinstance(item, bool):
        raise ValueError(f"a boolean is not a status code: {hint}")
    if isinstance(item, tuple) and len(item) == 2:
        low, high = item
    elif isinstance(item, int):
        low = high = item
    elif isinstance(item, str):
        text = item.strip()
        if match := _CLASS.match(text):
            low = high = int(match.group(1)) * 100
            high += 99
        elif match := _RANGE.match(text):
            low, high = int(match.group(1)), int(match.group(2))
        elif text.isdigit():
            low = high = int(text)
        else:
            raise ValueError(f"{item!r} is not a status code: {hint}")
    else:
        raise ValueError(f"{item!r} is not a status code: {hint}")
    if not (isinstance(low, int) and isinstance(high, int)):
        raise ValueError(f"{item!r} is not a status code: {hint}")
    if not (100 <= low <= high <= 599):
        raise ValueError(f"{item!r} is not a status range between 100 and 599: {hint}")
    return (low, high)


def describe_statuses(ranges: Sequence[StatusRange]) -> str:
    """``200-399`` / ``200, 204`` / ``2xx`` as users wrote them (roughly)."""
    parts = []
    for low, high in ranges:
        if low == high:
            parts.append(str(low))
        elif low % 100 == 0 and high == low + 99:
            parts.append(f"{low // 100}xx")
        else:
            parts.append(f"{low}-{high}")
    return ", ".join(parts)


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


StatusSpec = Annotated[tuple[StatusRange, ...], BeforeValidator(parse_status_spec)]
TextList = Annotated[tuple[str, ...], BeforeValidator(_as_list)]


def _check_url(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        url = URL(value)
    except ValueError as err:
        raise ValueError(f"{value!r} is not a URL: {err}") from err
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            f"{value!r} is not an absolute http(s) URL: write e.g. https://example.com/health"
        )
    return value


HttpUrl = Annotated[str, BeforeValidator(_check_url)]
"""An absolute ``http://`` or ``https://`` URL, kept as written."""

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class HttpCheckOptions(BaseModel):
    """What to send and what to expect, without the URL (probes share these keys).

    Header values and the request body are secrets (a token, a login form): redacted in
    ``repr`` and dumps, and never part of a message.

    ``json`` maps a dotted path in the JSON answer (``status``, ``checks.db.ok``,
    ``items.0.id``) to the value it must equal.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True)

    method: Method = "GET"
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    body: SecretStr | None = None
    expected_status: StatusSpec = ((200, 399),)
    body_contains: TextList = ()
    body_not_contains: TextList = ()
    body_regex: re.Pattern[str] | None = None
    json_fields: dict[str, JsonValue] = Field(default_factory=dict, alias="json")
    latency_warn: Duration | None = Field(default=None, gt=0)
    latency_crit: Duration | None = Field(default=None, gt=0)
    tls_expiry_warn: Duration = 14 * DAY_S
    tls_expiry_crit: Duration = 3 * DAY_S
    tls_verify: bool = True
    tls_ca_file: str | None = None
    follow_redirects: bool = True

    @field_validator("tls_ca_file")
    @classmethod
    def _loadable_ca_file(cls, value: str | None) -> str | None:
        if value is not None:
            load_ca_file(value)
        return value

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> HttpCheckOptions:
        if (
            self.latency_warn is not None
            and self.latency_crit is not None
            and self.latency_warn > self.latency_crit
        ):
            raise ValueError("latency_warn must not be above latency_crit")
        if self.tls_expiry_crit > self.tls_expiry_warn:
            raise ValueError("tls_expiry_crit must not be above tls_expiry_warn")
        if self.method == "HEAD" and (
            self.body_contains or self.body_not_contains or self.body_regex or self.json_fields
        ):
            raise ValueError("a HEAD request has no body to check: use GET for body assertions")
        return self

    @property
    def reads_body(self) -> bool:
        """Whether any assertion looks at the body."""
        return bool(
            self.body_contains or self.body_not_contains or self.body_regex or self.json_fields
        )


class HttpCheck(HttpCheckOptions):
    """A complete check: the URL plus the options."""

    url: HttpUrl


def target_of(url: str) -> str:
    """``host/path`` of ``url`` for messages: no scheme, credentials, port or query."""
    parsed = URL(url)
    path = parsed.path if parsed.path not in ("", "/") else ""
    return f"{parsed.host or ''}{path}"


def url_checks(
    url: str | None, urls: Sequence[str | HttpCheck], options: HttpCheckOptions
) -> list[tuple[str, HttpCheckOptions]]:
    """Every HTTP check of a probe: ``url`` first, then ``urls`` in order.

    A plain URL is checked with the probe's own ``options``; an item written as a mapping is
    a check of its own.
    """
    plain: list[str | HttpCheck] = [url] if url is not None else []
    return [
        (item, options) if isinstance(item, str) else (item.url, item) for item in [*plain, *urls]
    ]


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What the server answered (the shell's output, the core's input)."""

    status_code: int
    latency_ms: float
    body: bytes = b""
    charset: str | None = None
    truncated: bool = False
    cert_not_after: float | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with an answer: how bad, why, and what to tell people."""

    status: Status
    reason: Reason
    text: str


def judge(findings: Iterable[Finding]) -> tuple[Status, Reason | None]:
    """The worst status of ``findings`` and the reason of the first finding with it."""
    status, reason = Status.OK, None
    for finding in findings:
        if finding.status.rank > status.rank:
            status, reason = finding.status, finding.reason
    return status, reason


@dataclass(frozen=True, slots=True)
class HttpOutcome:
    """The verdict of one check; ``summary`` is ``200 in 41 ms`` (empty without an answer)."""

    target: str
    summary: str
    status_code: int | None = None
    latency_ms: float | None = None
    tls_expiry_days: float | None = None
    findings: tuple[Finding, ...] = field(default=())
    trace_id: str | None = None
    """The W3C trace id the check sent in its ``traceparent`` header (``None`` if none)."""

    @property
    def status(self) -> Status:
        """The worst finding's status (``ok`` without findings)."""
        return judge(self.findings)[0]

    @property
    def reason(self) -> Reason | None:
        """The reason of the first finding of the worst status."""
        return judge(self.findings)[1]

    @property
    def message(self) -> str:
        """``summary`` followed by every finding."""
        return "; ".join([t for t in (self.summary, *(f.text for f in self.findings)) if t])

    def values(self) -> dict[str, float]:
        """The numbers this check measured (absent when unknown)."""
        out: dict[str, float] = {}
        if self.status_code is not None:
            out["status_code"] = float(self.status_code)
        if self.latency_ms is not None:
            out["latency_ms"] = self.latency_ms
        if self.tls_expiry_days is not None:
            out["tls_expiry_days"] = self.tls_expiry_days
        return out

    def result(self) -> ProbeResult:
        """This outcome as a probe result on its own (the ``http`` probe)."""
        return ProbeResult(
            status=self.status,
            message=self.message,
            reason=self.reason,
            latency_ms=self.latency_ms,
            values=self.values(),
            trace_id=self.trace_id,
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:g} s"


def _days(days: float) -> str:
    return f"{days:.1f} days"


_MISSING = object()


def json_lookup(document: object, path: str) -> object:
    """The value at dotted ``path`` in ``document`` (a number segment indexes a list).

    Returns a private sentinel when the path does not exist; see :func:`json_mismatch`.
    """
    node = document
    for segment in path.split("."):
        if isinstance(node, Mapping) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.lstrip("-").isdigit():
            index = int(segment)
            if not -len(node) <= index < len(node):
                return _MISSING
            node = node[index]
        else:
            return _MISSING
    return node


def _json_equal(expected: object, actual: object) -> bool:
    # JSON has no bool/number overlap: true is not 1, although Python says so.
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            _json_equal(e, a) for e, a in zip(expected, actual, strict=True)
        )
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            _json_equal(v, actual[k]) for k, v in expected.items()
        )
    return expected == actual


def _show(value: object, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_mismatch(document: object, path: str, expected: object) -> str | None:
    """Why ``document`` does not hold ``expected`` at ``path`` (``None``: it does)."""
    actual = json_lookup(document, path)
    if actual is _MISSING:
        return f"JSON {path} is missing (expected {_show(expected)})"
    if not _json_equal(expected, actual):
        return f"JSON {path} is {_show(actual)}, expected {_show(expected)}"
    return None


def body_failures(check: HttpCheckOptions, answer: HttpAnswer) -> list[str]:
    """Every body or JSON assertion the answer fails, as messages."""
    if not check.reads_body:
        return []
    text = answer.body.decode(answer.charset or "utf-8", errors="replace")
    failures = [f"body lacks {_show(s)}" for s in check.body_contains if s not in text]
    failures += [f"body contains {_show(s)}" for s in check.body_not_contains if s in text]
    if check.body_regex is not None and check.body_regex.search(text) is None:
        failures.append(f"body does not match /{check.body_regex.pattern}/")
    if check.json_fields:
        try:
            document = json.loads(text)
        except ValueError:
            cut = " (first 1 MiB)" if answer.truncated else ""
            failures.append(f"body{cut} is not JSON")
        else:
            for path, expected in check.json_fields.items():
                problem = json_mismatch(document, path, expected)
                if problem is not None:
                    failures.append(problem)
    return failures


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")
SNIPPET_CHARS = 80


def body_snippet(answer: HttpAnswer) -> str:
    """A short, one-line hint of what an error answer said: an HTML page's title, or the start.

    Error pages say why (``Error 1101 Worker threw exception``, ``{"error": "D1_ERROR…"}``).
    """
    text = answer.body[:4096].decode(answer.charset or "utf-8", errors="replace")
    title = _TITLE.search(text)
    if title is not None:
        text = title.group(1)
    elif text.lstrip().startswith("<"):
        return ""
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def evaluate(check: HttpCheckOptions, url: str, answer: HttpAnswer, now: float) -> HttpOutcome:
    """Judge ``answer`` against ``check`` at wall-clock time ``now`` (pure)."""
    findings: list[Finding] = []
    code = answer.status_code
    if not any(low <= code <= high for low, high in check.expected_status):
        text = f"expected status {describe_statuses(check.expected_status)}"
        if snippet := body_snippet(answer):
            text += f" (body: {snippet})"
        findings.append(Finding(Status.CRIT, Reason.HTTP_STATUS, text))
    else:
        findings += [
            Finding(Status.CRIT, Reason.ASSERTION, text) for text in body_failures(check, answer)
        ]
    expiry_days: float | None = None
    if answer.cert_not_after is not None:
        left_s = answer.cert_not_after - now
        expiry_days = left_s / DAY_S
        if left_s <= 0:
            findings.append(Finding(Status.CRIT, Reason.TLS, "TLS certificate has expired"))
        elif left_s <= check.tls_expiry_crit:
            findings.append(
                Finding(Status.CRIT, Reason.TLS, f"TLS certificate expires in {_days(expiry_days)}")
            )
        elif left_s <= check.tls_expiry_warn:
            findings.append(
                Finding(Status.WARN, Reason.TLS, f"TLS certificate expires in {_days(expiry_days)}")
            )
    latency_s = answer.latency_ms / 1000
    if check.latency_crit is not None and latency_s >= check.latency_crit:
        findings.append(
            Finding(Status.CRIT, Reason.ASSERTION, f"slow (latency_crit {_ms(check.latency_crit)})")
        )
    elif check.latency_warn is not None and latency_s >= check.latency_warn:
        findings.append(
            Finding(Status.WARN, Reason.ASSERTION, f"slow (latency_warn {_ms(check.latency_warn)})")
        )
    return HttpOutcome(
        target=target_of(url),
        summary=f"{code} in {answer.latency_ms:.0f} ms",
        status_code=code,
        latency_ms=answer.latency_ms,
        tls_expiry_days=expiry_days,
        findings=tuple(findings),
    )


def _fail(url: str, reason: Reason, text: str) -> HttpOutcome:
    return HttpOutcome(
        target=target_of(url), summary="", findings=(Finding(Status.CRIT, reason, text),)
    )


def failure_outcome(url: str, error: BaseException, timeout_s: float) -> HttpOutcome:
    """The outcome of a request that got no usable answer (pure mapping of ``error``).

    Messages are built from the error's parts, not ``str(error)``, which for some aiohttp
    errors contains the whole URL.
    """
    host = URL(url).host or "?"
    if isinstance(error, TimeoutError | aiohttp.ServerTimeoutError):
        return _fail(url, Reason.TIMEOUT, f"no answer from {host} within {timeout_s:g} s")
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        cert_error = error.certificate_error
        detail = getattr(cert_error, "verify_message", None) or type(cert_error).__name__
        return _fail(url, Reason.TLS, f"TLS certificate of {host} rejected: {detail}")
    if isinstance(error, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        os_error = error.os_error
        detail = getattr(os_error, "reason", None) or os_error.strerror or type(os_error).__name__
        return _fail(url, Reason.TLS, f"TLS handshake with {host} failed: {detail}")
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return _fail(url, Reason.UNREACHABLE, f"cannot resolve {host}")
    if isinstance(error, aiohttp.ClientConnectorError):
        detail = error.os_error.strerror or type(error.os_error).__name__
        return _fail(url, Reason.UNREACHABLE, f"cannot connect to {host}: {detail}")
    if isinstance(error, aiohttp.TooManyRedirects):
        return _fail(url, Reason.HTTP_STATUS, f"too many redirects from {host}")
    if isinstance(error, aiohttp.InvalidURL):
        return _fail(url, Reason.HTTP_STATUS, f"{host} redirected to an invalid URL")
    if isinstance(
        error,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError,
    ):
        return _fail(url, Reason.UNREACHABLE, f"connection to {host} broke: {type(error).__name__}")
    if isinstance(error, aiohttp.ClientResponseError):
        return _fail(url, Reason.HTTP_STATUS, f"bad HTTP answer from {host}: {error.message}")
    return _fail(url, Reason.ERROR, f"request to {host} failed: {type(error).__name__}")


def cert_not_after(der: bytes) -> float:
    """The ``notAfter`` of a DER X.509 certificate, as epoch seconds.

    A small DER walk (Certificate → TBSCertificate → validity), so expiry is read even when
    verification is off (``getpeercert()`` is then empty) without a crypto dependency.
    Raises ``ValueError`` on anything that is not a certificate.
    """
    cert, _ = _tlv(der, 0, 0x30)
    tbs, _ = _tlv(der, cert, 0x30)
    pos = tbs
    if der[pos] == 0xA0:  # [0] EXPLICIT version
        pos = _skip(der, pos)
    for _ in range(3):  # serialNumber, signature, issuer
        pos = _skip(der, pos)
    validity, _ = _tlv(der, pos, 0x30)
    after = _skip(der, validity)  # notBefore
    tag = der[after]
    start, length = _header(der, after)
    text = der[start : start + length].decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ (RFC 5280: YY < 50 is 20YY)
        year = int(text[:2])
        text = f"{2000 + year if year < 50 else 1900 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError("certificate validity is not a time")
    stamp = datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    return stamp.timestamp()


def _header(der: bytes, pos: int) -> tuple[int, int]:
    if pos + 2 > len(der):
        raise ValueError("truncated DER")
    length = der[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(der):
            raise ValueError("bad DER length")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + length > len(der):
        raise ValueError("truncated DER")
    return start, length


def _tlv(der: bytes, pos: int, tag: int) -> tuple[int, int]:
    if pos >= len(der) or der[pos] != tag:
        raise ValueError("unexpected DER structure")
    return _header(der, pos)


def _skip(der: bytes, pos: int) -> int:
    start, length = _header(der, pos)
    return start + length


_PEER_CERTS: ContextVar[list[bytes] | None] = ContextVar("flarewatch_peer_certs", default=None)


class _RecordingSSLObject(ssl.SSLObject):
    """Records each server certificate it completes a handshake with, for the running check.

    aiohttp has no public way to reach a response's certificate (aio-libs/aiohttp#2816), and
    its connection is gone once a small body is read. The handshake runs in callbacks that
    copied the checking task's context when the check opened the connection, so the
    check's sink in :data:`_PEER_CERTS` is the one that receives the certificate.
    """

    def do_handshake(self) -> None:
        """Handshake (``SSLWantReadError`` until done), then record the peer's certificate."""
        super().do_handshake()
        sink = _PEER_CERTS.get()
        if sink is not None:
            der = self.getpeercert(binary_form=True)
            if der:
                sink.append(der)


def _recording(context: ssl.SSLContext) -> ssl.SSLContext:
    context.sslobject_class = _RecordingSSLObject
    return context


class _SystemTrustContext(ssl.SSLContext):
    """A verifying client context that loads the system CA store at its first handshake.

    Loading the store costs tens of milliseconds and a few hundred kB; a daemon whose checks
    are all plain ``http://`` never needs it, and one with ``https://`` checks pays it at the
    first handshake instead of in the first round's first check. asyncio (hence aiohttp)
    opens every TLS connection through :meth:`wrap_bio`; until the store is loaded no
    certificate verifies, so a path that bypassed it would fail closed.
    """

    _trust_loaded = False

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """Load the system CA store (once), then wrap as :class:`ssl.SSLContext` does."""
        if not self._trust_loaded:
            self.load_default_certs(ssl.Purpose.SERVER_AUTH)
            self._trust_loaded = True
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)


def _client_context(cls: type[ssl.SSLContext] = ssl.SSLContext) -> ssl.SSLContext:
    """``ssl.create_default_context()`` without its CA store (verifying, hostname checked)."""
    context = cls(ssl.PROTOCOL_TLS_CLIENT)
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    return context


def new_ssl_context(*, verify: bool) -> ssl.SSLContext:
    """A fresh recording client context: the system's CAs (loaded when first needed), or
    no verification at all (which needs no CA store)."""
    if verify:
        return _recording(_client_context(_SystemTrustContext))
    context = _client_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return _recording(context)


_SSL_CONTEXTS: dict[str, ssl.SSLContext] = {}
_VERIFYING = "<system CA store>"
_NOT_VERIFYING = "<no verification>"


def load_ca_file(path: str) -> ssl.SSLContext:
    """A verifying TLS context trusting the CA certificates in ``path`` (PEM), cached per path.

    Called when the config is validated, so a missing or broken file is a config error.
    """
    context = _SSL_CONTEXTS.get(path)
    if context is None:
        try:
            context = _recording(ssl.create_default_context(cafile=path))
        except (OSError, ssl.SSLError) as err:
            detail = getattr(err, "strerror", None) or getattr(err, "reason", None) or str(err)
            raise ValueError(
                f"cannot load CA certificates from {path}: {detail} (tls_ca_file wants a PEM file)"
            ) from err
        _SSL_CONTEXTS[path] = context
    return context


def ssl_context(check: HttpCheckOptions) -> ssl.SSLContext:
    """The TLS context of a check: the system's CAs, the check's CA file, or no verification.

    One context per kind for the whole process (loading the system CA store is costly, and
    is done at the first handshake that needs it), each recording peer certificates so that
    expiry is known even without verification.
    """
    if check.tls_ca_file is not None and check.tls_verify:
        return load_ca_file(check.tls_ca_file)
    key = _VERIFYING if check.tls_verify else _NOT_VERIFYING
    context = _SSL_CONTEXTS.get(key)
    if context is None:
        context = _SSL_CONTEXTS[key] = new_ssl_context(verify=check.tls_verify)
    return context


def _newest_not_after(certs: Sequence[bytes]) -> float | None:
    """Expiry of the last certificate seen (after redirects: the final server's)."""
    if not certs:
        return None
    try:
        return cert_not_after(certs[-1])
    except (ValueError, IndexError):
        return None


async def check_http(
    session: aiohttp.ClientSession,
    url: str,
    check: HttpCheckOptions,
    timeout_s: float,
    *,
    now: Callable[[], float] = time.time,
    perf: Callable[[], float] = time.perf_counter,
) -> HttpOutcome:
    """Request ``url`` as ``check`` says and judge the answer; never raises for network trouble.

    Every check opens a new connection (``Connection: close``), as a visitor's browser
    would: latency includes connecting and the TLS handshake, and the certificate read is
    the one the server presents now. Latency runs from sending to having read the body (at
    most :data:`MAX_BODY_BYTES`); the certificate is the last one seen (after redirects,
    the final server's).

    Every request carries a W3C ``traceparent`` header (a configured one is kept as is), and
    the outcome its trace id, so the run's stored row joins the Worker's and Pages' events
    for the same request (``flarewatch logs trace ID``).
    """
    headers = {"Connection": "close", "traceparent": new_traceparent()}
    for name, value in check.headers.items():
        if name.lower() == "traceparent":
            del headers["traceparent"]
        headers[name] = value.get_secret_value()
    sent = next(v for k, v in headers.items() if k.lower() == "traceparent")
    trace_id = trace_id_of(sent)
    body = None if check.body is None else check.body.get_secret_value()
    certs: list[bytes] = []
    token = _PEER_CERTS.set(certs)
    started = perf()
    try:
        async with (
            asyncio.timeout(timeout_s),
            session.request(
                check.method,
                url,
                headers=headers,
                data=body,
                allow_redirects=check.follow_redirects,
                ssl=ssl_context(check),
                timeout=aiohttp.ClientTimeout(total=None),
            ) as response,
        ):
            received = b""
            truncated = False
            if check.method != "HEAD":
                received = await response.content.read(MAX_BODY_BYTES)
                truncated = not response.content.at_eof()
            answer = HttpAnswer(
                status_code=response.status,
                latency_ms=(perf() - started) * 1000,
                body=received,
                charset=response.charset,
                truncated=truncated,
                cert_not_after=_newest_not_after(certs),
            )
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as err:
        return dataclasses.replace(failure_outcome(url, err, timeout_s), trace_id=trace_id)
    finally:
        _PEER_CERTS.reset(token)
    return dataclasses.replace(evaluate(check, url, answer, now()), trace_id=trace_id)


_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(?:-.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def new_traceparent(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh, sampled, version-00 W3C ``traceparent`` value for one check's request."""
    while True:
        trace_id, span_id = random_bytes(16).hex(), random_bytes(8).hex()
        if trace_id != _ZERO_TRACE and span_id != _ZERO_SPAN:
            return f"00-{trace_id}-{span_id}-01"


def trace_id_of(traceparent: str) -> str | None:
    """The trace id of a ``traceparent`` value, or ``None`` when it is not a valid one."""
    match = _TRACEPARENT.fullmatch(traceparent.strip().lower())
    if match is None or match.group(1) == _ZERO_TRACE or match.group(2) == _ZERO_SPAN:
        return None
    return match.group(1)


def deadline_for(timeout_s: float) -> float:
    """A check's own timeout inside a run whose deadline is ``timeout_s``.

    A little earlier than the runner's deadline, so the probe reports ``timeout`` itself
    rather than being cancelled into ``unknown``.
    """
    return max(timeout_s * 0.9, timeout_s - 1.0, 0.05)


def combine(outcomes: Sequence[HttpOutcome]) -> tuple[Status, Reason | None, str]:
    """Status, reason and message of several checks (one check reads as itself).

    With several checks each part of the message names its target.
    """
    if not outcomes:
        return Status.OK, None, ""
    if len(outcomes) == 1:
        only = outcomes[0]
        return only.status, only.reason, only.message
    status = max((o.status for o in outcomes), key=lambda s: s.rank)
    reason = next((o.reason for o in outcomes if o.status == status), None)
    return status, reason, "; ".join(f"{o.target}: {o.message}" for o in outcomes)


def trace_of(outcomes: Sequence[HttpOutcome]) -> str | None:
    """The trace id a run of several checks reports: the worst check's (its failure is what
    one follows into the Worker's events), the first check's when all are alike."""
    ranked = sorted(outcomes, key=lambda o: -o.status.rank)
    return next((o.trace_id for o in ranked if o.trace_id), None)


def assemble(
    root: Sequence[Finding],
    outcomes: Sequence[HttpOutcome],
    parts: Sequence[str],
    other: Sequence[Finding],
    values: Mapping[str, float],
    events: tuple[ProbeEvent, ...] = (),
) -> ProbeResult:
    """The result of a probe that checks an API resource and its URLs (workers, pages).

    ``root`` findings (the resource is gone, the token refused) come first in the message,
    then the URL checks, then ``parts`` (what was seen) and the ``other`` findings; the status
    is the worst of all, and the trace id the worst check's.
    """
    status, reason = judge([*root, *(f for o in outcomes for f in o.findings), *other])
    message = "; ".join([*(f.text for f in root), *parts, *(f.text for f in other)])
    return ProbeResult(
        status=status,
        message=message,
        reason=reason,
        latency_ms=values.get("latency_ms"),
        values=values,
        events=events,
        trace_id=trace_of(outcomes),
    )


def http_values(outcomes: Sequence[HttpOutcome]) -> dict[str, float]:
    """Values of several checks: the worst check's status code, the slowest latency.

    ``checks_failed`` counts checks that are not ok; TLS expiry is the soonest.
    """
    out: dict[str, float] = {}
    if not outcomes:
        return out
    ranked = sorted(outcomes, key=lambda o: -o.status.rank)
    codes = [o.status_code for o in ranked if o.status_code is not None]
    if codes:
        out["status_code"] = float(codes[0])
    latencies = [o.latency_ms for o in outcomes if o.latency_ms is not None]
    if latencies:
        out["latency_ms"] = max(latencies)
    expiries = [o.tls_expiry_days for o in outcomes if o.tls_expiry_days is not None]
    if expiries:
        out["tls_expiry_days"] = min(expiries)
    out["checks_failed"] = float(sum(1 for o in outcomes if o.status != Status.OK))
    return out
