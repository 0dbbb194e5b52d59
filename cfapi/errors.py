"""Every failure cfapi raises, from one root: :class:`CloudflareError`.

Cloudflare answers failures with the v4 envelope ``{"success": false, "errors": [...]}``,
sometimes under HTTP 200. :func:`error_for` maps a status and the envelope's error codes to
one class of the hierarchy; it is pure, so the mapping is tested as a table.

No error ever holds a credential: ``path`` is the URL path without its query string, and
messages come from Cloudflare's ``errors[]`` (which never echo a token).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Codes Cloudflare uses for missing, malformed or unknown credentials. [V: the 400/6003 answer
# with the 6111 error chain and 9106 for missing headers are quoted in public issue threads;
# 6102/6103 are the X-Auth-Email/X-Auth-Key format variants of 6111, 9103 "Unknown X-Auth-Key
# or X-Auth-Email" — I for the exact statuses.]
AUTH_CODES = frozenset({9106, 6003, 6111, 6102, 6103, 9103})
# 10000 "Authentication error": a well-formed token Cloudflare does not accept. [I: observed
# with 403 for unknown tokens and with 400 for rejected legacy keys in public threads]
CODE_AUTHENTICATION = 10000
# 9109 "Unauthorized to access requested resource": a valid token without the permission.
CODE_NOT_PERMITTED = 9109
# The 11th concurrent tail of a Worker. Cloudflare documents the limit (10) but not its error;
# 10057 is what flarewatch's simulator answers [I]. A 429 on a tail creation without the API's
# rate-limit codes is read as this limit too, so it never pauses the whole client.
CODE_TOO_MANY_TAILS = 10057
RATE_LIMIT_CODES = frozenset({971, 10000})


@dataclass(frozen=True)
class ErrorDetail:
    """One item of the envelope's ``errors[]`` (or of an ``error_chain``)."""

    code: int | None
    message: str
    chain: tuple[ErrorDetail, ...] = ()

    def codes(self) -> tuple[int, ...]:
        """This error's code followed by the codes of its chain, depth first."""
        own = () if self.code is None else (self.code,)
        return own + tuple(c for item in self.chain for c in item.codes())

    def describe(self) -> str:
        """``[code] message`` with the chain in parentheses."""
        text = f"[{self.code}] {self.message}" if self.code is not None else self.message
        if self.chain:
            text += " (" + "; ".join(item.describe() for item in self.chain) + ")"
        return text


def parse_error_details(raw: Any) -> tuple[ErrorDetail, ...]:
    """Read ``errors[]`` leniently: unknown shapes become messages rather than crashes."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        return ()
    details: list[ErrorDetail] = []
    for item in raw:
        if isinstance(item, Mapping):
            code = item.get("code")
            details.append(
                ErrorDetail(
                    code=code if isinstance(code, int) and not isinstance(code, bool) else None,
                    message=str(item.get("message", "")),
                    chain=parse_error_details(item.get("error_chain")),
                )
            )
        else:
            details.append(ErrorDetail(code=None, message=str(item)))
    return tuple(details)


class CloudflareError(Exception):
    """Root of every cfapi failure: what was asked, what Cloudflare (or the network) said."""

    def __init__(
        self,
        summary: str,
        *,
        status: int | None = None,
        errors: Sequence[ErrorDetail] = (),
        messages: Sequence[str] = (),
        method: str = "",
        path: str = "",
    ) -> None:
        self.summary = summary
        self.status = status
        self.errors = tuple(errors)
        self.messages = tuple(messages)
        self.method = method
        self.path = path
        super().__init__(self._text())

    @property
    def codes(self) -> tuple[int, ...]:
        """Every Cloudflare error code, chains included, in order."""
        return tuple(c for e in self.errors for c in e.codes())

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed if retried later."""
        return False

    def _text(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f"HTTP {self.status}" if self.status is not None else ""
        head = ": ".join(p for p in (where, status) if p)
        detail = "; ".join(e.describe() for e in self.errors) or self.summary
        return f"{head}: {detail}" if head else detail


class AuthError(CloudflareError):
    """The credentials are missing, malformed, unknown or expired (never retried)."""


class PermissionDenied(CloudflareError):
    """The credentials are valid but not allowed to do this (HTTP 403)."""


class NotFound(CloudflareError):
    """The object does not exist (HTTP 404)."""


class ApiError(CloudflareError):
    """Any other refusal: validation errors, conflicts, unexpected answers (4xx, or 200 + false)."""


class ServerError(CloudflareError):
    """Cloudflare failed (HTTP 5xx); transient."""

    @property
    def transient(self) -> bool:
        """5xx answers are worth retrying."""
        return True


class RateLimited(CloudflareError):
    """Too many requests: HTTP 429 from Cloudflare, or the local budget refused to wait.

    ``retry_after`` is the number of seconds to wait (``None`` when unknown); ``local`` is true
    when the request never left the process because the shared budget's wait would have
    outlasted its deadline.
    """

    def __init__(
        self,
        summary: str,
        *,
        retry_after: float | None = None,
        local: bool = False,
        **kwargs: Any,
    ) -> None:
        self.retry_after = retry_after
        self.local = local
        super().__init__(summary, **kwargs)

    @property
    def transient(self) -> bool:
        """A 429 from Cloudflare is transient; a local refusal already knows it cannot wait."""
        return not self.local

    def _text(self) -> str:
        text = super()._text()
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g} s)"
        return text


class TransportError(CloudflareError):
    """The request did not get an answer: timeout, refused or broken connection."""

    def __init__(self, summary: str, *, timeout: bool = False, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(summary, **kwargs)

    @property
    def transient(self) -> bool:
        """Network trouble is worth retrying."""
        return True


@dataclass(frozen=True)
class GraphqlErrorItem:
    """One item of a GraphQL ``errors[]``."""

    message: str
    path: tuple[str | int, ...] = ()
    extensions: Mapping[str, Any] = field(default_factory=dict)


def graphql_errors(raw: Any) -> tuple[GraphqlErrorItem, ...]:
    """Read a GraphQL ``errors`` list leniently."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        return ()
    items: list[GraphqlErrorItem] = []
    for item in raw:
        if not isinstance(item, Mapping):
            items.append(GraphqlErrorItem(message=str(item)))
            continue
        raw_path = item.get("path")
        path = raw_path if isinstance(raw_path, list) else []
        extensions = item.get("extensions")
        items.append(
            GraphqlErrorItem(
                message=str(item.get("message", "")),
                path=tuple(p for p in path if isinstance(p, str | int)),
                extensions=extensions if isinstance(extensions, Mapping) else {},
            )
        )
    return tuple(items)


class GraphqlError(CloudflareError):
    """The GraphQL endpoint refused the query: ``errors`` under HTTP 200, or a 400 answer."""

    def __init__(
        self, summary: str, *, graphql_errors: Sequence[GraphqlErrorItem] = (), **kwargs: Any
    ) -> None:
        self.graphql_errors = tuple(graphql_errors)
        super().__init__(summary, **kwargs)

    def _text(self) -> str:
        where = f"{self.method} {self.path}".strip()
        detail = "; ".join(e.message for e in self.graphql_errors) or self.summary
        return f"{where}: {detail}" if where else detail


class JobFailed(CloudflareError):
    """A long-running job (D1 export or import) reported an error or did not finish in time."""


class TailError(CloudflareError):
    """The Tail WebSocket could not be opened or kept alive."""


class TailLimitReached(TailError):
    """The script already has the maximum number of tails (10) attached."""


def error_for(
    status: int,
    errors: Sequence[ErrorDetail],
    *,
    method: str,
    path: str,
    messages: Sequence[str] = (),
    retry_after: float | None = None,
) -> CloudflareError:
    """Choose the error class for a failed answer (pure; table-tested).

    The HTTP status decides first; within 400 and 403, Cloudflare's codes tell a credential
    problem (:class:`AuthError`) from a permission or validation problem.
    """
    codes = {c for e in errors for c in e.codes()}
    kwargs: dict[str, Any] = {
        "status": status,
        "errors": errors,
        "messages": messages,
        "method": method,
        "path": path,
    }
    if CODE_TOO_MANY_TAILS in codes or (
        status == 429
        and method == "POST"
        and path.endswith("/tails")
        and not codes & RATE_LIMIT_CODES
    ):
        return TailLimitReached("too many tails", **kwargs)
    if status == 429:
        return RateLimited("rate limited", retry_after=retry_after, **kwargs)
    if status >= 500:
        return ServerError("server error", **kwargs)
    if status == 401:
        return AuthError("not authenticated", **kwargs)
    if status in (400, 403) and codes & AUTH_CODES:
        return AuthError("invalid credentials", **kwargs)
    if status == 403:
        if CODE_AUTHENTICATION in codes and CODE_NOT_PERMITTED not in codes:
            return AuthError("authentication error", **kwargs)
        return PermissionDenied("permission denied", **kwargs)
    if status == 404:
        return NotFound("not found", **kwargs)
    if status == 400 and CODE_AUTHENTICATION in codes:
        return AuthError("authentication error", **kwargs)
    return ApiError("request failed", **kwargs)
