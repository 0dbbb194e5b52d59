"""Pagination stop rules and iterators over canned pages (no server needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from cfapi.envelope import Envelope
from cfapi.errors import ApiError
from cfapi.pagination import (
    after_pages,
    cursor_pages,
    next_after,
    next_cursor,
    page_done,
    page_items,
    pages,
    single_page,
)


class Pages:
    """A fetch function serving canned envelopes in order and recording the queries."""

    def __init__(self, envelopes: Sequence[tuple[Any, Mapping[str, Any]]]) -> None:
        self.envelopes = list(envelopes)
        self.queries: list[dict[str, Any]] = []

    async def __call__(self, params: dict[str, Any]) -> Envelope:
        self.queries.append(params)
        result, info = self.envelopes[len(self.queries) - 1]
        return Envelope(result=result, result_info=info, messages=())


def _same(x: Any) -> Any:
    return x


@pytest.mark.parametrize(
    ("page", "per_page", "count", "info", "done"),
    [
        (1, 20, 20, {"page": 1, "per_page": 20, "total_count": 45}, False),
        (3, 20, 5, {"page": 3, "per_page": 20, "total_count": 45}, True),
        (2, 20, 20, {"page": 2, "per_page": 20, "total_count": 40}, True),
        (1, 20, 0, {"total_count": 45}, True),
        (1, 20, 20, {}, False),
        (1, 100, 20, {"per_page": 20, "total_count": 40}, False),
        (2, 100, 20, {"per_page": 20, "total_count": 40}, True),
        (2, 20, 20, {"total_pages": 2}, True),
        (1, 20, 20, {"total_count": "45"}, False),
    ],
)
def test_page_stop_rule(
    page: int, per_page: int, count: int, info: dict[str, Any], done: bool
) -> None:
    """Stop on an empty page or once page·per_page reaches total_count (server's per_page)."""
    assert done == page_done(page, per_page, count, info)


@pytest.mark.parametrize(
    ("info", "expected"),
    [({"cursor": "abc"}, "abc"), ({"cursor": ""}, None), ({"cursor": None}, None), ({}, None)],
)
def test_cursor_stop_rule(info: dict[str, Any], expected: str | None) -> None:
    """An empty or missing cursor means the last page."""
    assert expected == next_cursor(info)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"cursors": {"after": "n2"}}, "n2"),
        ({"cursors": {"after": ""}}, None),
        ({"cursors": {}}, None),
        ({"cursors": "x"}, None),
        ({}, None),
    ],
)
def test_after_cursor_stop_rule(info: dict[str, Any], expected: str | None) -> None:
    """CursorPaginationAfter ends when cursors.after is gone."""
    assert expected == next_after(info)


async def test_pages_fetches_until_total_count() -> None:
    """Three pages of a 5-item list with per_page 2, asked page by page."""
    fetch = Pages(
        [
            ([1, 2], {"per_page": 2, "total_count": 5}),
            ([3, 4], {"per_page": 2, "total_count": 5}),
            ([5], {"per_page": 2, "total_count": 5}),
        ]
    )
    items = [x async for x in pages(fetch, _same, per_page=2, params={"name": "a"})]
    assert (items, [q["page"] for q in fetch.queries]) == ([1, 2, 3, 4, 5], [1, 2, 3])


async def test_page_items_stop_on_an_empty_page() -> None:
    """V4PagePagination has no total: an empty result.items ends it."""
    fetch = Pages([({"items": ["a", "b"]}, {"page": 1}), ({"items": []}, {"page": 2})])
    assert [x async for x in page_items(fetch, _same, per_page=2)] == ["a", "b"]


async def test_cursor_pages_follow_the_cursor() -> None:
    """KV-style cursor lists pass the cursor back until it comes back empty."""
    fetch = Pages([(["k1"], {"cursor": "c1"}), (["k2"], {"cursor": ""})])
    items = [x async for x in cursor_pages(fetch, _same, size=10)]
    expected_queries = [{"cursor": None, "limit": 10}, {"cursor": "c1", "limit": 10}]
    assert (["k1", "k2"], expected_queries) == (items, fetch.queries)


async def test_cursor_pages_read_a_keyed_result() -> None:
    """R2 lists put items under result.buckets and page with per_page + cursor."""
    fetch = Pages([({"buckets": ["b1"]}, {"cursor": "c"}), ({"buckets": ["b2"]}, {})])
    items = [x async for x in cursor_pages(fetch, _same, size_param="per_page", key="buckets")]
    assert items == ["b1", "b2"]


async def test_a_repeated_cursor_raises_instead_of_looping() -> None:
    """A server that hands back the same cursor would loop forever; fail instead."""
    fetch = Pages([(["a"], {"cursor": "same"}), (["b"], {"cursor": "same"})])
    with pytest.raises(ApiError, match=r"returned cursor .same. twice"):
        _ = [x async for x in cursor_pages(fetch, _same)]


async def test_after_pages_follow_cursors_after() -> None:
    """Audit logs v2 page with result_info.cursors.after."""
    fetch = Pages([(["e1"], {"cursors": {"after": "n"}}), (["e2"], {"cursors": {}})])
    assert [x async for x in after_pages(fetch, _same)] == ["e1", "e2"]


async def test_single_page_treats_null_as_empty() -> None:
    """A null result is an empty list, not a crash."""
    assert await single_page(Pages([(None, {})]), _same) == []
