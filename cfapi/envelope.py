"""Decoding the v4 envelope ``{success, errors, messages, result, result_info}`` (pure).

A failure can arrive under HTTP 200 with ``success: false`` [V: cloudflare-api.md §2, wrangler
``FetchResult``], so ``success`` is checked, not only the status code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cfapi.errors import (
    CloudflareError,
    ErrorDetail,
    GraphqlError,
    error_for,
    graphql_errors,
    parse_error_details,
)


@dataclass(frozen=True)
class Envelope:
    """A successful answer: its ``result``, ``result_info`` and ``messages``."""

    result: Any
    result_info: Mapping[str, Any]
    messages: tuple[Any, ...]


def decode_json(body: bytes) -> Any:
    """Parse a JSON body, ``None`` when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _messages(raw: Any) -> tuple[Any, ...]:
    return tuple(raw) if isinstance(raw, list) else ()


def failure_from(
    status: int,
    body: bytes,
    *,
    method: str,
    path: str,
    retry_after: float | None = None,
) -> CloudflareError:
    """The error for a failed answer, using the envelope's errors when the body has them."""
    data = decode_json(body)
    errors: tuple[ErrorDetail, ...] = ()
    messages: tuple[str, ...] = ()
    if status == 400 and isinstance(data, Mapping) and "data" in data and "success" not in data:
        # A GraphQL answer ({data, errors}): the query itself was refused.
        return GraphqlError(
            "query refused",
            graphql_errors=graphql_errors(data.get("errors")),
            status=status,
            method=method,
            path=path,
        )
    if isinstance(data, Mapping):
        errors = parse_error_details(data.get("errors"))
        messages = tuple(str(m) for m in _messages(data.get("messages")))
    if not errors:
        snippet = body[:200].decode("utf-8", "replace").strip() if data is None else ""
        text = f"HTTP {status} without a Cloudflare error" + (f": {snippet}" if snippet else "")
        errors = (ErrorDetail(code=None, message=text),)
    return error_for(
        status, errors, method=method, path=path, messages=messages, retry_after=retry_after
    )


def decode_envelope(status: int, body: bytes, *, method: str, path: str) -> Envelope:
    """Turn a 2xx body into an :class:`Envelope`, raising the typed error for a failure."""
    data = decode_json(body)
    if not isinstance(data, Mapping) or "success" not in data:
        raise error_for(
            status,
            (ErrorDetail(code=None, message="answer is not a Cloudflare v4 envelope"),),
            method=method,
            path=path,
        )
    if data.get("success") is not True:
        raise failure_from(status, body, method=method, path=path)
    info = data.get("result_info")
    return Envelope(
        result=data.get("result"),
        result_info=info if isinstance(info, Mapping) else {},
        messages=_messages(data.get("messages")),
    )
