"""The HTTP check's pure core: settings, status specs, assertions, thresholds, error mapping."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import ValidationError
from yarl import URL

from probes.base import Reason, Status
from probes.httpcheck import (
    DAY_S,
    Finding,
    HttpAnswer,
    HttpCheck,
    HttpCheckOptions,
    HttpOutcome,
    body_failures,
    body_snippet,
    cert_not_after,
    combine,
    deadline_for,
    describe_statuses,
    evaluate,
    failure_outcome,
    http_values,
    json_mismatch,
    judge,
    parse_status_spec,
    target_of,
)

URL_ = "https://api.example.com/health?token=s3cret"
NOW = 1_800_000_000.0


def check(**kwargs: Any) -> HttpCheckOptions:
    """Options validated as a config entry would be."""
    return HttpCheckOptions.model_validate(kwargs)


def answer(status: int = 200, body: bytes = b"", **kwargs: Any) -> HttpAnswer:
    """An answer in 41 ms unless told otherwise."""
    return HttpAnswer(
        status_code=status, latency_ms=kwargs.pop("latency_ms", 41.0), body=body, **kwargs
    )


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (200, ((200, 200),)),
        ("204", ((204, 204),)),
        ("2xx", ((200, 299),)),
        ("3XX", ((300, 399),)),
        ("200-399", ((200, 399),)),
        ("200 - 204", ((200, 204),)),
        ([200, "3xx", "404"], ((200, 200), (300, 399), (404, 404))),
    ],
)
def test_status_spec_forms(written: object, expected: tuple[tuple[int, int], ...]) -> None:
    """Users write a code, a class or a range (or a list): each becomes inclusive ranges."""
    assert expected == parse_status_spec(written)


@pytest.mark.parametrize("written", ["abc", "600", "399-200", True, [], "6xx", 99, "2xx-3xx"])
def test_status_spec_rejects_nonsense(written: object) -> None:
    """A status spec that cannot be a status fails at load with the accepted forms named."""
    with pytest.raises(ValueError, match="status"):
        parse_status_spec(written)


def test_status_ranges_are_described_as_written() -> None:
    """Messages say what was expected in the user's own notation."""
    assert "200, 2xx, 200-399" == describe_statuses(((200, 200), (200, 299), (200, 399)))


def test_default_options_accept_200_to_399_and_tls_thresholds_14d_3d() -> None:
    """Defaults: any success or redirect; TLS warn at 14 days, crit at 3 days."""
    options = HttpCheckOptions()
    assert ((200, 399),) == options.expected_status
    assert (14 * DAY_S, 3 * DAY_S) == (options.tls_expiry_warn, options.tls_expiry_crit)


def test_json_key_is_written_json() -> None:
    """Users write ``json:``; the model keeps it under a name that does not shadow pydantic."""
    assert {"status": "ok"} == check(json={"status": "ok"}).json_fields


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ({"url": "ftp://example.com/"}, "absolute http"),
        ({"url": "/health"}, "absolute http"),
        ({"url": "https://x.test/", "latency_warn": "2s", "latency_crit": "1s"}, "latency_warn"),
        ({"url": "https://x.test/", "tls_expiry_warn": "1d", "tls_expiry_crit": "3d"}, "tls"),
        ({"url": "https://x.test/", "method": "HEAD", "body_contains": "ok"}, "HEAD"),
        ({"url": "https://x.test/", "body_regex": "("}, "body_regex"),
        ({"url": "https://x.test/", "method": "FETCH"}, "method"),
        ({"url": "https://x.test/", "timeout_ms": 5}, "timeout_ms"),
        ({"url": "https://x.test/", "tls_ca_file": "/nonexistent/ca.pem"}, "cannot load CA"),
    ],
)
def test_bad_check_settings_are_config_errors(entry: dict[str, Any], complaint: str) -> None:
    """A check that cannot work is refused when the config loads, with a hint."""
    with pytest.raises(ValidationError, match=complaint):
        HttpCheck.model_validate(entry)


def test_ca_file_that_is_not_pem_is_a_config_error(tmp_path: Path) -> None:
    """A CA file that exists but holds no certificate is refused, naming the file."""
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ValidationError, match="cannot load CA certificates from"):
        HttpCheck.model_validate({"url": "https://x.test/", "tls_ca_file": str(bad)})


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://user:pw@api.example.com:8443/health?token=x", "api.example.com/health"),
        ("http://example.com/", "example.com"),
        ("http://example.com", "example.com"),
    ],
)
def test_targets_in_messages_carry_no_credentials_or_query(url: str, target: str) -> None:
    """Messages name host and path only: URLs may hold tokens in userinfo or the query."""
    assert target == target_of(url)


@pytest.mark.parametrize(
    ("document", "path", "expected", "problem"),
    [
        ({"status": "ok"}, "status", "ok", None),
        ({"checks": {"db": {"ok": True}}}, "checks.db.ok", True, None),
        ({"items": [{"id": 7}]}, "items.0.id", 7, None),
        ({"items": [1, 2, 3]}, "items.-1", 3, None),
        ({"n": 1.0}, "n", 1, None),
        ({"tags": ["a", "b"]}, "tags", ["a", "b"], None),
        ({"status": "degraded"}, "status", "ok", 'JSON status is "degraded", expected "ok"'),
        ({"ok": 1}, "ok", True, "JSON ok is 1, expected true"),
        ({"ok": True}, "ok", 1, "JSON ok is true, expected 1"),
        ({}, "checks.db", "ok", 'JSON checks.db is missing (expected "ok")'),
        ({"items": []}, "items.0", 1, "JSON items.0 is missing (expected 1)"),
        ({"items": {"0": "x"}}, "items.0", "x", None),
        ("text", "status", "ok", 'JSON status is missing (expected "ok")'),
    ],
)
def test_json_assertions(
    document: object, path: str, expected: object, problem: str | None
) -> None:
    """Dotted paths reach into objects and lists; JSON equality keeps true and 1 apart."""
    assert problem == json_mismatch(document, path, expected)


def test_body_assertions_report_every_failure() -> None:
    """All failing assertions are listed at once, so one run says everything that is wrong."""
    options = check(
        body_contains=["ok", "version"],
        body_not_contains="error",
        body_regex=r"uptime=\d+",
        json={"status": "ok"},
    )
    failures = body_failures(options, answer(body=b'{"status": "error"}'))
    assert [
        'body lacks "ok"',
        'body lacks "version"',
        'body contains "error"',
        "body does not match /uptime=\\d+/",
        'JSON status is "error", expected "ok"',
    ] == failures


def test_json_assertion_on_a_non_json_body_says_so() -> None:
    """An HTML error page where JSON was expected is an assertion failure, not a crash."""
    failures = body_failures(check(json={"status": "ok"}), answer(body=b"<html>oops</html>"))
    assert ["body is not JSON"] == failures


def test_truncated_body_is_mentioned_when_json_fails() -> None:
    """Only the first MiB is read; a JSON failure on a cut body says why it may be broken."""
    cut = answer(body=b'{"a": "', truncated=True)
    assert ["body (first 1 MiB) is not JSON"] == body_failures(check(json={"a": 1}), cut)


def test_healthy_answer_is_ok_with_status_and_latency() -> None:
    """The ordinary case: ok, the status and latency in the message and the values."""
    outcome = evaluate(check(), URL_, answer(), NOW)
    assert (Status.OK, None, "200 in 41 ms") == (outcome.status, outcome.reason, outcome.message)
    assert {"status_code": 200.0, "latency_ms": 41.0} == outcome.values()


def test_unexpected_status_is_crit_http_status_with_the_error_body() -> None:
    """A 500 is crit (http_status); the start of the body says why (a Worker's error JSON)."""
    outcome = evaluate(check(), URL_, answer(500, b'{"error": "D1_ERROR: Network lost"}'), NOW)
    assert (Status.CRIT, Reason.HTTP_STATUS) == (outcome.status, outcome.reason)
    assert (
        '500 in 41 ms; expected status 200-399 (body: {"error": "D1_ERROR: Network lost"})'
        == outcome.message
    )


def test_error_page_title_stands_for_the_body() -> None:
    """An HTML error page is summarised by its title, not its markup."""
    page = b"<!DOCTYPE html><html><head><title>Worker threw exception | api</title></head></html>"
    assert "Worker threw exception | api" == body_snippet(answer(500, page))


def test_html_without_title_gives_no_snippet() -> None:
    """Markup without a title is noise in a message: left out."""
    assert "" == body_snippet(answer(502, b"<html><body><h1>Bad</h1></body></html>"))


def test_body_assertions_are_skipped_when_the_status_is_wrong() -> None:
    """A 503 page never says "ok": the status is the problem, not twenty assertion failures."""
    outcome = evaluate(check(body_contains="ok"), URL_, answer(503, b"down"), NOW)
    assert [Reason.HTTP_STATUS] == [f.reason for f in outcome.findings]


def test_failed_assertion_is_crit_assertion() -> None:
    """It answered 200 but said the wrong thing: crit with reason assertion."""
    outcome = evaluate(check(json={"status": "ok"}), URL_, answer(body=b'{"status": "x"}'), NOW)
    assert (Status.CRIT, Reason.ASSERTION) == (outcome.status, outcome.reason)
    assert '200 in 41 ms; JSON status is "x", expected "ok"' == outcome.message


@pytest.mark.parametrize(
    ("latency_ms", "status"),
    [(199.0, Status.OK), (200.0, Status.WARN), (999.0, Status.WARN), (1000.0, Status.CRIT)],
)
def test_latency_thresholds(latency_ms: float, status: Status) -> None:
    """Slow answers warn at latency_warn and are crit at latency_crit (inclusive)."""
    options = check(latency_warn="200ms", latency_crit="1s")
    outcome = evaluate(options, URL_, answer(latency_ms=latency_ms), NOW)
    assert status == outcome.status
    assert (None if status is Status.OK else Reason.ASSERTION) == outcome.reason


@pytest.mark.parametrize(
    ("days_left", "status", "text"),
    [
        (90.0, Status.OK, None),
        (14.0, Status.WARN, "TLS certificate expires in 14.0 days"),
        (10.5, Status.WARN, "TLS certificate expires in 10.5 days"),
        (3.0, Status.CRIT, "TLS certificate expires in 3.0 days"),
        (0.5, Status.CRIT, "TLS certificate expires in 0.5 days"),
        (-1.0, Status.CRIT, "TLS certificate has expired"),
    ],
)
def test_tls_expiry_thresholds(days_left: float, status: Status, text: str | None) -> None:
    """Certificate expiry: warn within 14 days, crit within 3, crit once expired (reason tls)."""
    outcome = evaluate(check(), URL_, answer(cert_not_after=NOW + days_left * DAY_S), NOW)
    assert status == outcome.status
    assert days_left == pytest.approx(outcome.values()["tls_expiry_days"])
    assert ([] if text is None else [text]) == [f.text for f in outcome.findings]
    assert (None if text is None else Reason.TLS) == outcome.reason


def test_worst_finding_decides_and_every_finding_is_told() -> None:
    """A slow answer with a dying certificate: crit for TLS, and the slowness still said."""
    options = check(latency_warn="10ms")
    outcome = evaluate(options, URL_, answer(cert_not_after=NOW + DAY_S), NOW)
    assert (Status.CRIT, Reason.TLS) == (outcome.status, outcome.reason)
    assert "200 in 41 ms; TLS certificate expires in 1.0 days; slow (latency_warn 10 ms)" == (
        outcome.message
    )


def _key() -> ConnectionKey:
    return ConnectionKey("api.example.com", 443, True, True, None, None, None, None)


def _info() -> RequestInfo:
    url = URL(URL_)
    return RequestInfo(url, "GET", CIMultiDictProxy(CIMultiDict()), url)


@pytest.mark.parametrize(
    ("error", "reason", "message"),
    [
        (TimeoutError(), Reason.TIMEOUT, "no answer from api.example.com within 2.5 s"),
        (
            aiohttp.ServerTimeoutError("read"),
            Reason.TIMEOUT,
            "no answer from api.example.com within 2.5 s",
        ),
        (
            aiohttp.ClientConnectorCertificateError(
                _key(), ssl.SSLCertVerificationError(1, "certificate verify failed")
            ),
            Reason.TLS,
            "TLS certificate of api.example.com rejected: SSLCertVerificationError",
        ),
        (
            aiohttp.ClientConnectorSSLError(_key(), OSError(1, "wrong version number")),
            Reason.TLS,
            "TLS handshake with api.example.com failed: wrong version number",
        ),
        (
            aiohttp.ClientConnectorDNSError(_key(), OSError(-2, "Name or service not known")),
            Reason.UNREACHABLE,
            "cannot resolve api.example.com",
        ),
        (
            aiohttp.ClientConnectorError(_key(), ConnectionRefusedError(111, "Connection refused")),
            Reason.UNREACHABLE,
            "cannot connect to api.example.com: Connection refused",
        ),
        (
            aiohttp.TooManyRedirects(_info(), ()),
            Reason.HTTP_STATUS,
            "too many redirects from api.example.com",
        ),
        (
            aiohttp.ServerDisconnectedError(),
            Reason.UNREACHABLE,
            "connection to api.example.com broke: ServerDisconnectedError",
        ),
        (
            aiohttp.ClientPayloadError("Response payload is not completed"),
            Reason.UNREACHABLE,
            "connection to api.example.com broke: ClientPayloadError",
        ),
        (ValueError("odd header"), Reason.ERROR, "request to api.example.com failed: ValueError"),
    ],
)
def test_request_errors_map_to_reasons(error: BaseException, reason: Reason, message: str) -> None:
    """Each way a request can fail has its reason, and a message without the URL's secrets."""
    outcome = failure_outcome(URL_, error, 2.5)
    assert (Status.CRIT, reason, message) == (outcome.status, outcome.reason, outcome.message)
    assert "s3cret" not in outcome.message
    assert {} == outcome.values()


def test_certificate_verify_message_is_kept() -> None:
    """OpenSSL's verify message (e.g. "certificate has expired") is the useful part."""
    cert_error = ssl.SSLCertVerificationError(1, "verify failed")
    cert_error.verify_message = "certificate has expired"
    error = aiohttp.ClientConnectorCertificateError(_key(), cert_error)
    outcome = failure_outcome(URL_, error, 1.0)
    assert "TLS certificate of api.example.com rejected: certificate has expired" == (
        outcome.message
    )


def _der(not_after: datetime) -> bytes:
    ca = trustme.CA()
    leaf = ca.issue_cert("secure.test", not_after=not_after)
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


@pytest.mark.parametrize(
    "not_after",
    [
        datetime(2027, 3, 1, 12, 30, 5, tzinfo=UTC),  # UTCTime
        datetime(2051, 1, 2, 3, 4, 5, tzinfo=UTC),  # GeneralizedTime (from 2050 on)
    ],
)
def test_certificate_expiry_is_read_from_der(not_after: datetime) -> None:
    """notAfter comes from the certificate itself, so expiry is known with verification off."""
    assert not_after.timestamp() == cert_not_after(_der(not_after))


@pytest.mark.parametrize("der", [b"", b"\x30", b"\x02\x01\x00", b"\x30\x84\xff\xff\xff\xff"])
def test_garbage_is_not_a_certificate(der: bytes) -> None:
    """Broken input raises ValueError rather than returning a wrong date."""
    with pytest.raises((ValueError, IndexError)):
        cert_not_after(der)


def test_judge_takes_the_first_reason_of_the_worst_status() -> None:
    """Ordered findings: the first with the worst status names the reason."""
    findings = [
        Finding(Status.WARN, Reason.TLS, "a"),
        Finding(Status.CRIT, Reason.NOT_FOUND, "b"),
        Finding(Status.CRIT, Reason.HTTP_STATUS, "c"),
    ]
    assert (Status.CRIT, Reason.NOT_FOUND) == judge(findings)
    assert (Status.OK, None) == judge([])


def _outcome(target: str, status: Status, code: int | None, ms: float | None) -> HttpOutcome:
    findings = () if status is Status.OK else (Finding(status, Reason.HTTP_STATUS, "bad"),)
    return HttpOutcome(target, f"{code} in {ms} ms", code, ms, None, findings)


def test_several_checks_combine_worst_status_and_name_each_target() -> None:
    """With several URLs the message says which one failed."""
    outcomes = [
        _outcome("a.test/health", Status.OK, 200, 10.0),
        _outcome("a.test/v1", Status.CRIT, 502, 30.0),
    ]
    status, reason, message = combine(outcomes)
    assert (Status.CRIT, Reason.HTTP_STATUS) == (status, reason)
    assert "a.test/health: 200 in 10.0 ms; a.test/v1: 502 in 30.0 ms; bad" == message
    assert {"status_code": 502.0, "latency_ms": 30.0, "checks_failed": 1.0} == http_values(outcomes)


def test_one_check_reads_as_itself() -> None:
    """A single URL needs no target prefix: "200 in 41 ms"."""
    outcome = _outcome("x.test", Status.OK, 200, 41.0)
    assert (Status.OK, None, "200 in 41.0 ms") == combine([outcome])


@pytest.mark.parametrize(("timeout", "expected"), [(10.0, 9.0), (30.0, 29.0), (0.5, 0.45)])
def test_checks_stop_before_the_runner_does(timeout: float, expected: float) -> None:
    """The check's own timeout ends before the run's, so the probe reports timeout itself."""
    assert expected == pytest.approx(deadline_for(timeout))


def test_header_values_and_body_stay_out_of_reprs() -> None:
    """A probe's Authorization header or login body never shows in a repr, dump or log line."""
    options = check(headers={"Authorization": "Bearer s3cret"}, body="password=hunter2")
    text = repr(options) + str(options.model_dump())
    assert "s3cret" not in text
    assert "hunter2" not in text
    assert "Bearer s3cret" == options.headers["Authorization"].get_secret_value()
