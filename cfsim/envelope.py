"""The v4 response envelope, Cloudflare-shaped errors and request-decoding helpers.

Every handler answers through :func:`ok` or by raising :class:`CfHttpError`; the error
middleware turns the exception into Cloudflare's failure envelope. Bad input is always
answered as Cloudflare answers it — a 4xx with an error code — never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)

# Cloudflare's generic error codes, as the real API sends them.
CODE_NO_ROUTE = 7003
CODE_METHOD_NOT_ALLOWED = 10405
CODE_AUTH = 10000
CODE_BAD_JSON = 10026
CODE_VALIDATION = 1001
# Cloudflare's edge has sent 971 for 429s, but the v4 schema requires codes >= 1000 and the API
# answers rate limits with 10000 "Rate limited..." [I]; the HTTP status is what clients act on.
CODE_RATE_LIMITED = 10000
CODE_INTERNAL = 10001


class CfHttpError(Exception):
    """An error answered with Cloudflare's failure envelope."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra_errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.errors: list[dict[str, Any]] = [{"code": code, "message": message}]
        self.errors.extend(dict(e) for e in extra_errors)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        """Render this error as the v4 failure envelope."""
        body = {"success": False, "errors": self.errors, "messages": [], "result": None}
        return web.json_response(body, status=self.status, headers=self.headers)


def ok(
    result: Any,
    *,
    result_info: Mapping[str, Any] | None = None,
    messages: Sequence[Any] = (),
    status: int = 200,
) -> web.Response:
    """Render a successful v4 envelope around ``result``."""
    body: dict[str, Any] = {
        "success": True,
        "errors": [],
        "messages": list(messages),
        "result": result,
    }
    if result_info is not None:
        body["result_info"] = dict(result_info)
    return web.json_response(body, status=status)


def not_found(code: int, message: str) -> CfHttpError:
    """Build the 404 Cloudflare sends for an unknown object (each service has its own code)."""
    return CfHttpError(404, code, message)


def bad_request(code: int, message: str) -> CfHttpError:
    """Build a 400 with a Cloudflare error code."""
    return CfHttpError(400, code, message)


async def read_json(request: web.Request) -> Any:
    """Decode a JSON body, answering malformed JSON the way Cloudflare does."""
    raw = await request.read()
    if not raw.strip():
        raise bad_request(CODE_BAD_JSON, "Request body is empty; a JSON body is required.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise bad_request(CODE_BAD_JSON, f"Malformed JSON in request body: {err}") from err


async def read_model(
    request: web.Request, model: type[ModelT], *, code: int = CODE_VALIDATION
) -> ModelT:
    """Decode and validate a JSON object body into ``model``.

    Unknown or wrongly typed fields become a 400 naming every offending field, so a
    client learns all that is wrong at once.
    """
    data = await read_json(request)
    return validate(model, data, code=code)


def validate(model: type[ModelT], data: Any, *, code: int = CODE_VALIDATION) -> ModelT:
    """Validate already-decoded data into ``model`` with Cloudflare-style errors."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise CfHttpError(
            400, code, "Invalid request body: " + describe_validation_error(err)
        ) from err


def describe_validation_error(err: ValidationError) -> str:
    """Summarise a pydantic error as ``field: problem; field: problem``."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(body)"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def query_int(
    request: web.Request,
    name: str,
    default: int,
    *,
    minimum: int,
    maximum: int,
    code: int = CODE_VALIDATION,
) -> int:
    """Read an integer query parameter within bounds, or answer 400."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        number = float(raw)
    except ValueError as err:
        raise bad_request(code, f"Invalid value for '{name}': {raw!r} is not a number") from err
    if not number.is_integer():
        raise bad_request(code, f"Invalid value for '{name}': {raw!r} is not a whole number")
    value = int(number)
    if not minimum <= value <= maximum:
        raise bad_request(
            code, f"Invalid value for '{name}': must be between {minimum} and {maximum}"
        )
    return value


def page_params(
    request: web.Request,
    *,
    default_per_page: int = 20,
    min_per_page: int = 5,
    max_per_page: int = 50,
) -> tuple[int, int]:
    """Read ``page`` / ``per_page`` with the bounds of the endpoint."""
    page = query_int(request, "page", 1, minimum=1, maximum=1_000_000)
    per_page = query_int(
        request, "per_page", default_per_page, minimum=min_per_page, maximum=max_per_page
    )
    return page, per_page


def paginate(items: Sequence[Any], page: int, per_page: int) -> tuple[list[Any], dict[str, int]]:
    """Slice ``items`` for ``page`` and build the ``result_info`` of V4PagePaginationArray."""
    total = len(items)
    start = (page - 1) * per_page
    chunk = list(items[start : start + per_page])
    total_pages = max(1, -(-total // per_page))
    info = {
        "page": page,
        "per_page": per_page,
        "count": len(chunk),
        "total_count": total,
        "total_pages": total_pages,
    }
    return chunk, info
