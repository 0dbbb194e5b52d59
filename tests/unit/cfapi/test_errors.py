"""Mapping Cloudflare's answers to the error hierarchy, and what errors say."""

from __future__ import annotations

import pytest

from cfapi.envelope import decode_envelope, failure_from
from cfapi.errors import (
    ApiError,
    AuthError,
    CloudflareError,
    ErrorDetail,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    error_for,
    parse_error_details,
)


def _err(*codes: int) -> tuple[ErrorDetail, ...]:
    return tuple(ErrorDetail(code, f"message {code}") for code in codes)


@pytest.mark.parametrize(
    ("status", "errors", "expected"),
    [
        (401, _err(1000), AuthError),
        (400, _err(9106), AuthError),
        (
            400,
            (ErrorDetail(6003, "Invalid request headers", (ErrorDetail(6111, "fmt"),)),),
            AuthError,
        ),
        (400, _err(6102), AuthError),
        (400, _err(6103), AuthError),
        (400, _err(9103), AuthError),
        (400, _err(10000), AuthError),
        (403, _err(10000), AuthError),
        (403, _err(9103), AuthError),
        (403, _err(9109), PermissionDenied),
        (403, _err(10000, 9109), PermissionDenied),
        (403, _err(1234), PermissionDenied),
        (403, (), PermissionDenied),
        (404, _err(1001), NotFound),
        (404, _err(7003), NotFound),
        (429, _err(10000), RateLimited),
        (500, _err(10001), ServerError),
        (502, (), ServerError),
        (503, _err(10000), ServerError),
        (400, _err(1001), ApiError),
        (409, _err(10220), ApiError),
        (422, _err(1004), ApiError),
        (200, _err(1001), ApiError),
    ],
)
def test_error_mapping_table(
    status: int, errors: tuple[ErrorDetail, ...], expected: type[CloudflareError]
) -> None:
    """Status first, then Cloudflare's codes tell credentials from permissions from input."""
    assert expected is type(error_for(status, errors, method="GET", path="/zones"))


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ServerError("x"), True),
        (TransportError("x"), True),
        (RateLimited("x"), True),
        (RateLimited("x", local=True), False),
        (AuthError("x"), False),
        (NotFound("x"), False),
        (ApiError("x"), False),
        (PermissionDenied("x"), False),
    ],
)
def test_only_server_network_and_429_failures_are_transient(
    error: CloudflareError, transient: bool
) -> None:
    """Retries depend on this: auth and validation errors must never look transient."""
    assert transient == error.transient


def test_error_carries_codes_messages_method_and_path() -> None:
    """Callers and logs get Cloudflare's codes (chains included) and what was asked."""
    body = (
        b'{"success":false,"errors":[{"code":6003,"message":"Invalid request headers",'
        b'"error_chain":[{"code":6111,"message":"Invalid format for Authorization header"}]}],'
        b'"messages":[],"result":null}'
    )
    err = failure_from(400, body, method="GET", path="/zones")
    assert (err.status, err.codes, err.method, err.path) == (400, (6003, 6111), "GET", "/zones")


def test_error_text_names_request_status_and_message() -> None:
    """str(error) is one readable line: request, status, code and message."""
    err = error_for(404, _err(1001), method="GET", path="/zones/abc")
    assert str(err) == "GET /zones/abc: HTTP 404: [1001] message 1001"


def test_rate_limited_text_says_when_to_retry() -> None:
    """A 429's text says how long Cloudflare asked us to wait."""
    err = error_for(429, _err(10000), method="GET", path="/zones", retry_after=30.0)
    assert str(err).endswith("(retry after 30 s)")


def test_success_false_under_http_200_raises() -> None:
    """A 200 whose envelope says success: false is a failure, not a result."""
    body = b'{"success":false,"errors":[{"code":1001,"message":"bad"}],"messages":[],"result":null}'
    with pytest.raises(ApiError) as caught:
        decode_envelope(200, body, method="GET", path="/zones")
    assert caught.value.codes == (1001,)


def test_non_json_5xx_is_a_server_error_with_a_snippet() -> None:
    """A proxy's HTML error page still becomes a typed ServerError that says what came back."""
    err = failure_from(502, b"<html>Bad gateway</html>", method="GET", path="/zones")
    assert isinstance(err, ServerError)
    assert "Bad gateway" in str(err)


def test_non_envelope_2xx_is_an_api_error() -> None:
    """A 200 that is not an envelope cannot be trusted as a result."""
    with pytest.raises(ApiError):
        decode_envelope(200, b"[1, 2]", method="GET", path="/zones")


def test_error_details_tolerate_unknown_shapes() -> None:
    """Odd errors[] items become messages instead of crashing the error path."""
    expected = (ErrorDetail(None, "plain text"), ErrorDetail(None, "x"), ErrorDetail(7, ""))
    assert expected == parse_error_details(
        ["plain text", {"code": "7", "message": "x"}, {"code": 7}]
    )
