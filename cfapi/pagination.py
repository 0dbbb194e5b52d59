"""Cloudflare's pagination styles as async iterators, with pure stop rules.

- page (``V4PagePaginationArray``): ``page``/``per_page``; ``result: [..]``; stop on an empty
  page or when ``page·per_page ≥ total_count``.
- page items (``V4PagePagination``): ``page``/``per_page``; ``result: {items: [..]}``; stop on an
  empty page.
- cursor (``CursorLimitPagination``): ``cursor``/``limit``; stop when ``result_info.cursor`` is
  empty.
- cursor after (``CursorPaginationAfter``): ``cursor``; stop without ``result_info.cursors.after``.
- R2 buckets: ``cursor``/``per_page``; ``result: {buckets: [..]}``; stop on an empty cursor.
- single page: ``result: [..]``, nothing to follow.

[V: cloudflare-api.md §3 — wrangler's ``hasMorePages``/``fetchListResultBase`` rules and the
SDK's "until an empty page".] A cursor that does not advance is a server bug; it raises
rather than looping forever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from cfapi.envelope import Envelope
from cfapi.errors import ApiError, ErrorDetail

T = TypeVar("T")
Fetch = Callable[[dict[str, Any]], Awaitable[Envelope]]
Parse = Callable[[Any], T]


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def page_done(page: int, requested_per_page: int, count: int, info: Mapping[str, Any]) -> bool:
    """Whether page ``page`` (holding ``count`` items) was the last one."""
    if count == 0:
        return True
    per_page = _number(info.get("per_page")) or requested_per_page
    total = _number(info.get("total_count"))
    if total is not None and page * per_page >= total:
        return True
    total_pages = _number(info.get("total_pages"))
    return total_pages is not None and page >= total_pages


def next_cursor(info: Mapping[str, Any]) -> str | None:
    """``result_info.cursor``, ``None`` when empty (the last page)."""
    cursor = info.get("cursor")
    return cursor if isinstance(cursor, str) and cursor else None


def next_after(info: Mapping[str, Any]) -> str | None:
    """``result_info.cursors.after``, ``None`` when absent or empty."""
    cursors = info.get("cursors")
    if not isinstance(cursors, Mapping):
        return None
    after = cursors.get("after")
    return after if isinstance(after, str) and after else None


def as_list(value: Any) -> Sequence[Any]:
    """The items of a list result (``null`` is an empty list)."""
    return value if isinstance(value, list) else []


def items_of(result: Any, key: str) -> Sequence[Any]:
    """The list under ``result[key]`` (``result.items``, ``result.buckets``)."""
    return as_list(result.get(key)) if isinstance(result, Mapping) else []


def _stuck(cursor: str) -> ApiError:
    return ApiError(
        "pagination cursor did not advance",
        errors=(ErrorDetail(None, f"the server returned cursor {cursor[:40]!r} twice"),),
    )


async def pages(
    fetch: Fetch, parse: Parse[T], *, per_page: int, params: Mapping[str, Any] | None = None
) -> AsyncIterator[T]:
    """Iterate a ``page``/``per_page`` list whose ``result`` is an array."""
    page = 1
    while True:
        env = await fetch({**(params or {}), "page": page, "per_page": per_page})
        items = as_list(env.result)
        for item in items:
            yield parse(item)
        if page_done(page, per_page, len(items), env.result_info):
            return
        page += 1


async def page_items(
    fetch: Fetch,
    parse: Parse[T],
    *,
    per_page: int,
    key: str = "items",
    params: Mapping[str, Any] | None = None,
) -> AsyncIterator[T]:
    """Iterate a ``page``/``per_page`` list whose items are under ``result.items``."""
    page = 1
    while True:
        env = await fetch({**(params or {}), "page": page, "per_page": per_page})
        items = items_of(env.result, key)
        for item in items:
            yield parse(item)
        if page_done(page, per_page, len(items), env.result_info):
            return
        page += 1


async def cursor_pages(
    fetch: Fetch,
    parse: Parse[T],
    *,
    size_param: str = "limit",
    size: int | None = None,
    key: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> AsyncIterator[T]:
    """Iterate a ``cursor`` list until ``result_info.cursor`` comes back empty.

    ``key`` names the list inside an object result (R2: ``buckets``); without it the result
    is the array itself (KV keys).
    """
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        query = {**(params or {}), "cursor": cursor}
        if size is not None:
            query[size_param] = size
        env = await fetch(query)
        items = items_of(env.result, key) if key else as_list(env.result)
        for item in items:
            yield parse(item)
        cursor = next_cursor(env.result_info)
        if cursor is None:
            return
        if cursor in seen:
            raise _stuck(cursor)
        seen.add(cursor)


async def after_pages(
    fetch: Fetch, parse: Parse[T], *, params: Mapping[str, Any] | None = None
) -> AsyncIterator[T]:
    """Iterate a list that pages with ``result_info.cursors.after``."""
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        env = await fetch({**(params or {}), "cursor": cursor})
        items = as_list(env.result)
        for item in items:
            yield parse(item)
        cursor = next_after(env.result_info)
        if cursor is None or not items:
            return
        if cursor in seen:
            raise _stuck(cursor)
        seen.add(cursor)


async def single_page(
    fetch: Fetch, parse: Parse[T], *, params: Mapping[str, Any] | None = None
) -> list[T]:
    """Fetch a list that is not paginated."""
    env = await fetch(dict(params or {}))
    return [parse(item) for item in as_list(env.result)]
