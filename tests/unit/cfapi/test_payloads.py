"""Request bodies and answers that services build or read without I/O."""

from __future__ import annotations

import pytest

from cfapi.d1 import etag_matches, md5_hex
from cfapi.dns import record_body
from cfapi.errors import ErrorDetail, GraphqlError, TailLimitReached, error_for
from cfapi.graphql import graphql_data
from cfapi.r2 import jurisdiction_headers
from cfapi.workers import deployment_body


def test_rollback_deployment_body() -> None:
    """A rollback is a percentage deployment of one version at 100 %, message capped at 50."""
    body = deployment_body([("v1", 100.0)], "rollback: " + "x" * 60)
    assert body == {
        "strategy": "percentage",
        "versions": [{"version_id": "v1", "percentage": 100.0}],
        "annotations": {"workers/message": ("rollback: " + "x" * 60)[:50]},
    }


@pytest.mark.parametrize("versions", [[], [("v1", 60.0)], [("v1", 60.0), ("v2", 30.0)]])
def test_deployment_percentages_must_add_up(versions: list[tuple[str, float]]) -> None:
    """A split that does not total 100 % is refused before it reaches Cloudflare."""
    with pytest.raises(ValueError, match="version"):
        deployment_body(versions, None)


def test_record_body_leaves_unset_fields_out() -> None:
    """Only given fields are sent; TTL defaults to automatic (1)."""
    assert record_body(type="A", name="x", content="192.0.2.1") == {
        "type": "A",
        "name": "x",
        "ttl": 1,
        "content": "192.0.2.1",
    }


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"5d41402abc4b2a76b9719d911017c592"', True),
        ("5D41402ABC4B2A76B9719D911017C592", True),
        ('W/"5d41402abc4b2a76b9719d911017c592"', True),
        ('"0000"', False),
        (None, False),
    ],
)
def test_upload_etag_must_be_the_md5(header: str | None, expected: bool) -> None:
    """D1 import checks the upload's ETag against the file's MD5 (quoted or not)."""
    assert etag_matches(header, md5_hex(b"hello")) is expected


@pytest.mark.parametrize(
    ("jurisdiction", "expected"),
    [(None, None), ("default", None), ("eu", {"cf-r2-jurisdiction": "eu"})],
)
def test_jurisdiction_header(jurisdiction: str | None, expected: dict[str, str] | None) -> None:
    """Only a non-default jurisdiction adds the cf-r2-jurisdiction header."""
    assert jurisdiction_headers(jurisdiction) == expected  # type: ignore[arg-type]


def test_graphql_data_is_returned() -> None:
    """A clean answer gives its data."""
    assert graphql_data(b'{"data": {"viewer": {}}, "errors": null}') == {"viewer": {}}


def test_graphql_errors_in_a_200_raise() -> None:
    """errors under HTTP 200 are a failure carrying each message and path."""
    body = b'{"data": null, "errors": [{"message": "too old", "path": ["viewer", 0]}]}'
    with pytest.raises(GraphqlError) as caught:
        graphql_data(body)
    item = caught.value.graphql_errors[0]
    assert (item.message, item.path, str(caught.value)) == (
        "too old",
        ("viewer", 0),
        "POST /graphql: too old",
    )


def test_graphql_partial_data_can_be_accepted() -> None:
    """With allow_partial, data that came with errors is still returned."""
    body = b'{"data": {"viewer": {"a": 1}}, "errors": [{"message": "one field failed"}]}'
    assert graphql_data(body, allow_partial=True) == {"viewer": {"a": 1}}


@pytest.mark.parametrize(
    ("status", "codes", "expected"),
    [
        (429, (10057,), TailLimitReached),
        (429, (), TailLimitReached),
        (400, (10057,), TailLimitReached),
    ],
)
def test_tail_limit_is_not_a_rate_limit(
    status: int, codes: tuple[int, ...], expected: type[Exception]
) -> None:
    """The 11th tail is refused with its own error, so it never pauses the whole client."""
    errors = tuple(ErrorDetail(c, "too many tails") for c in codes)
    error = error_for(status, errors, method="POST", path="/accounts/a/workers/scripts/s/tails")
    assert type(error) is expected


def test_api_rate_limit_on_tail_creation_is_still_a_rate_limit() -> None:
    """A 429 with the API's rate-limit code on a tail creation is a real rate limit."""
    errors = (ErrorDetail(10000, "Rate limited"),)
    error = error_for(429, errors, method="POST", path="/accounts/a/workers/scripts/s/tails")
    assert type(error).__name__ == "RateLimited"
