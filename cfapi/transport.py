"""The one place requests leave the process: session, auth, budget, retries, errors, logging.

Every request goes: budget (wait for a token, or fail fast past the deadline) → aiohttp with a
timeout → learn the server's rate-limit headers → map failures to :mod:`cfapi.errors` →
retry transient failures of idempotent requests (``backoff``) → log. Logging is
edge-triggered: one line when a group starts failing or gets rate limited, one when it
recovers; per-request lines are debug only and carry no secrets.
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote

import aiohttp
import backoff
import structlog
from multidict import CIMultiDictProxy
from yarl import URL

from cfapi.budget import RequestBudget, group_for, identity_key, shared_budget
from cfapi.credentials import Credentials
from cfapi.envelope import Envelope, decode_envelope, failure_from
from cfapi.errors import CloudflareError, RateLimited, TransportError
from cfapi.headers import limit_state, retry_delay
from cfapi.retry import (
    Retryable,
    RetryEvent,
    RetryPolicy,
    RetryStats,
    is_idempotent,
    reason_of,
    retry_waits,
    should_retry,
)

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
ENV_BASE_URL = "CLOUDFLARE_API_BASE_URL"

log = structlog.get_logger("cfapi")

ParamValue = str | int | float | bool | None
Params = Mapping[str, ParamValue]


def segment(value: str) -> str:
    """Percent-encode one path segment (KV key names may hold ``/``, ``?`` or spaces)."""
    return quote(value, safe="")


def base_url_from(explicit: str | None, env: Mapping[str, str] | None = None) -> str:
    """The API base: the argument, else ``CLOUDFLARE_API_BASE_URL``, else Cloudflare's."""
    source = os.environ if env is None else env
    url = explicit or source.get(ENV_BASE_URL, "").strip() or DEFAULT_BASE_URL
    return url.rstrip("/")


def query_params(params: Params | None) -> dict[str, str] | None:
    """Drop ``None`` values and spell booleans the way the API expects (``true``/``false``)."""
    if not params:
        return None
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


_SECRET_HEADERS = frozenset({"authorization", "x-auth-key"})


class RequestHeaders(dict[str, str]):
    """Request headers whose repr hides credentials (tracebacks that show locals print it)."""

    def __repr__(self) -> str:
        shown = {k: ("**********" if k.lower() in _SECRET_HEADERS else v) for k, v in self.items()}
        return f"RequestHeaders({shown!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class Timeouts:
    """Per-request timeouts in seconds (the official SDK uses 60 s total, 5 s connect)."""

    total_s: float = 60.0
    connect_s: float = 5.0

    def client_timeout(self) -> aiohttp.ClientTimeout:
        """As aiohttp wants it."""
        return aiohttp.ClientTimeout(total=self.total_s, connect=self.connect_s)


@dataclass(frozen=True)
class RawResponse:
    """A successful (status < 400) answer before decoding."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass(slots=True)
class _Call:
    method: str
    path: str
    url: URL
    params: dict[str, str] | None
    json: Any
    data: Any
    headers: Mapping[str, str]
    group: str
    idempotent: bool
    deadline: float
    timeout: aiohttp.ClientTimeout
    budgeted: bool


def _describe_transport_error(err: BaseException) -> str:
    if isinstance(err, aiohttp.ClientConnectorError):
        return f"cannot connect ({err.os_error.strerror or type(err.os_error).__name__})"
    return f"connection failed ({type(err).__name__})"


class Transport:
    """Authenticated, budgeted, retrying HTTP for the v4 API over one aiohttp session."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        budget: RequestBudget | None = None,
        stats: RetryStats | None = None,
        rand: Callable[[], float] = random.random,
        user_agent: str = "flarewatch-cfapi",
    ) -> None:
        self.base_url = base_url_from(base_url)
        self.credentials = credentials
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.budget = budget or shared_budget(identity_key(self.base_url, credentials.secret()))
        self.stats = stats or RetryStats()
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._auth_headers = RequestHeaders(credentials.headers(), **{"User-Agent": user_agent})
        self._plain_headers = {"User-Agent": user_agent}
        self._timeout = self.timeouts.client_timeout()
        self._failing: set[str] = set()
        # backoff's stubs type the generator's send() as None; it really sends the exception.
        wait_gen = cast(
            "Callable[..., Generator[float, None, None]]",
            functools.partial(retry_waits, policy=self.retry, rand=rand),
        )
        self._send_with_retries = backoff.on_exception(
            wait_gen,
            Retryable,
            max_tries=self.retry.max_attempts,
            max_time=self.retry.max_time_s,
            jitter=None,
            on_backoff=self._on_backoff,
            on_giveup=self._on_giveup,
            logger=None,
        )(self._attempt)

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r}, auth={self.credentials.scheme!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session, created on first use (inside the running event loop)."""
        if self._closed:
            raise RuntimeError("the Cloudflare client is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def aclose(self) -> None:
        """Close the session if this transport created it (an injected one is the owner's)."""
        self._closed = True
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        timeouts: Timeouts | None = None,
        deadline_s: float | None = None,
    ) -> RawResponse:
        """Send an API request (``path`` relative to the base, segments already encoded).

        ``data`` may be a zero-argument factory (e.g. of an ``aiohttp.FormData``), called once
        per attempt, so a multipart body can be retried.
        """
        method = method.upper()
        merged = (
            self._auth_headers if not headers else RequestHeaders(self._auth_headers, **headers)
        )
        call = _Call(
            method=method,
            path=path,
            url=URL(self.base_url + path, encoded=True),
            params=query_params(params),
            json=json,
            data=data,
            headers=merged,
            group=group_for(path),
            idempotent=is_idempotent(method, idempotent),
            deadline=self.budget.clock() + (deadline_s or self.retry.max_time_s),
            timeout=self._timeout if timeouts is None else timeouts.client_timeout(),
            budgeted=True,
        )
        return await self._run(call)

    async def fetch_external(
        self,
        method: str,
        url: str,
        *,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
    ) -> RawResponse:
        """Call a pre-signed URL (D1 export download, import upload): no auth, no API budget.

        The URL is a capability (its query, and in some stores its path, hold the signature),
        so logs and errors name only its host.
        """
        target = URL(url, encoded=True)
        method = method.upper()
        call = _Call(
            method=method,
            path=f"(pre-signed URL on {target.host})",
            url=target,
            params=None,
            json=None,
            data=data,
            headers={**self._plain_headers, **(headers or {})},
            group="external",
            idempotent=is_idempotent(method),
            deadline=self.budget.clock() + self.retry.max_time_s,
            timeout=self._timeout if timeouts is None else timeouts.client_timeout(),
            budgeted=False,
        )
        return await self._run(call)

    async def request(self, method: str, path: str, **kwargs: Any) -> Envelope:
        """Send an API request and decode the v4 envelope (``success: false`` raises)."""
        raw = await self.send(method, path, **kwargs)
        return decode_envelope(raw.status, raw.body, method=method.upper(), path=path)

    async def _run(self, call: _Call) -> RawResponse:
        try:
            response = await self._send_with_retries(call)
        except Retryable as failure:
            self._mark_failing(call, failure.error)
            raise failure.error from None
        except CloudflareError as err:
            if err.transient or (isinstance(err, RateLimited) and err.local):
                self._mark_failing(call, err)
            raise
        if call.group in self._failing:
            self._failing.discard(call.group)
            log.info("cloudflare_api_recovered", group=call.group)
        return response

    def _mark_failing(self, call: _Call, error: CloudflareError) -> None:
        if call.group not in self._failing:
            self._failing.add(call.group)
            log.warning(
                "cloudflare_api_failing",
                group=call.group,
                method=call.method,
                path=call.path,
                reason=reason_of(error),
                status=error.status,
            )

    async def _attempt(self, call: _Call) -> RawResponse:
        budget = self.budget
        if call.budgeted:
            try:
                await budget.acquire(call.group, call.deadline)
            except RateLimited as err:
                raise RateLimited(
                    err.summary,
                    retry_after=err.retry_after,
                    local=True,
                    method=call.method,
                    path=call.path,
                ) from None
        self.stats.attempted(call.group)
        started = time.perf_counter()
        try:
            async with self.session.request(
                call.method,
                call.url,
                params=call.params,
                json=call.json,
                # A multipart form can be sent once only: services pass a factory instead.
                data=call.data() if callable(call.data) else call.data,
                headers=call.headers,
                timeout=call.timeout,
            ) as resp:
                body = await resp.read()
                status = resp.status
                headers = resp.headers
        except TimeoutError:
            error: CloudflareError = TransportError(
                f"no answer within {call.timeout.total:g} s",
                timeout=True,
                method=call.method,
                path=call.path,
            )
            log.debug("cloudflare_request", method=call.method, path=call.path, error="timeout")
            raise self._retryable_or(call, error, None) from None
        except aiohttp.ClientError as err:
            error = TransportError(
                _describe_transport_error(err), method=call.method, path=call.path
            )
            log.debug("cloudflare_request", method=call.method, path=call.path, error="connection")
            raise self._retryable_or(call, error, None) from None
        log.debug(
            "cloudflare_request",
            method=call.method,
            path=call.path,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            cf_ray=headers.get("cf-ray"),
        )
        if not call.budgeted:
            if status < 400:
                return RawResponse(status, headers, body)
            error = failure_from(status, body, method=call.method, path=call.path)
            raise self._retryable_or(call, error, None)
        now = budget.clock()
        wall = time.time()
        state = limit_state(headers, wall)
        if state is not None and budget.observe(call.group, state, now):
            log.warning(
                "cloudflare_rate_limit_exhausted",
                group=call.group,
                pause_s=round(state.reset_s, 3),
            )
        if status < 400:
            return RawResponse(status, headers, body)
        hint = retry_delay(headers, wall) if status == 429 or status >= 500 else None
        error = failure_from(status, body, method=call.method, path=call.path, retry_after=hint)
        if isinstance(error, RateLimited):
            if budget.rate_limited(call.group, hint, now):
                log.warning(
                    "cloudflare_rate_limited",
                    group=call.group,
                    retry_after_s=hint,
                    pause_s=round(budget.paused_for(call.group, now), 3),
                )
            hint = budget.paused_for(call.group, now)
        raise self._retryable_or(call, error, hint)

    def _retryable_or(
        self, call: _Call, error: CloudflareError, hint: float | None
    ) -> CloudflareError | Retryable:
        if should_retry(error, call.idempotent):
            return Retryable(error, hint_s=hint, now=self.budget.clock(), deadline=call.deadline)
        return error

    def _event(self, details: Mapping[str, Any], wait: float | None) -> RetryEvent:
        call: _Call = details["args"][0]
        failure: Retryable = details["exception"]
        return RetryEvent(
            method=call.method,
            path=call.path,
            group=call.group,
            attempt=int(details["tries"]),
            reason=reason_of(failure.error),
            wait_s=wait,
            error=failure.error,
        )

    def _on_backoff(self, details: Mapping[str, Any]) -> None:
        event = self._event(details, float(details["wait"]))
        log.debug(
            "cloudflare_retry",
            method=event.method,
            path=event.path,
            attempt=event.attempt,
            reason=event.reason,
            wait_s=round(event.wait_s or 0.0, 3),
        )
        self.stats.retried(event)

    def _on_giveup(self, details: Mapping[str, Any]) -> None:
        self.stats.gave_up(self._event(details, None))
