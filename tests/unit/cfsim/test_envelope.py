"""Envelope helpers: pagination info and redaction of the request log."""

from __future__ import annotations

import pytest

from cfsim.envelope import paginate
from cfsim.requestlog import redact_headers, redact_query


@pytest.mark.parametrize(
    ("total", "page", "per_page", "expected_items", "expected_info"),
    [
        (0, 1, 20, [], {"page": 1, "per_page": 20, "count": 0, "total_count": 0, "total_pages": 1}),
        (
            45,
            1,
            20,
            list(range(20)),
            {"page": 1, "per_page": 20, "count": 20, "total_count": 45, "total_pages": 3},
        ),
        (
            45,
            3,
            20,
            list(range(40, 45)),
            {"page": 3, "per_page": 20, "count": 5, "total_count": 45, "total_pages": 3},
        ),
        (
            45,
            4,
            20,
            [],
            {"page": 4, "per_page": 20, "count": 0, "total_count": 45, "total_pages": 3},
        ),
    ],
)
def test_paginate(
    total: int, page: int, per_page: int, expected_items: list[int], expected_info: dict[str, int]
) -> None:
    """Pages slice the list and result_info says where the caller is, past the end included."""
    items, info = paginate(list(range(total)), page, per_page)
    assert (expected_items, expected_info) == (items, info)


def test_credentials_are_redacted_from_headers() -> None:
    """Authorization, X-Auth-Key and cookies never reach the request log."""
    headers = {"Authorization": "Bearer s3cret", "X-Auth-Key": "k", "Cookie": "c", "Accept": "*/*"}
    assert redact_headers(headers) == {
        "Authorization": "[redacted]",
        "X-Auth-Key": "[redacted]",
        "Cookie": "[redacted]",
        "Accept": "*/*",
    }


def test_signed_url_signatures_are_redacted_from_queries() -> None:
    """Signed-URL signatures and token parameters are blanked in logged query strings."""
    assert redact_query("X-Amz-Signature=abc&page=2&token=t") == (
        "X-Amz-Signature=[redacted]&page=2&token=[redacted]"
    )
