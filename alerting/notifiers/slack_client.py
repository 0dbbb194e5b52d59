"""slack-sdk's side of the Slack notifier, imported when a Slack notifier first sends.

slack-sdk costs about 3 MB and tens of milliseconds to import; a daemon without a Slack
receiver (or before its first notification) never pays for it.
"""

from __future__ import annotations

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState


class ShortRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's rate-limit retry handler, for short waits only: a 429 whose numeric
    ``Retry-After`` is at most ``max_wait`` seconds is retried once in place (slack-sdk
    sleeps it); a longer wait returns the 429 so the outbox schedules the retry instead of a
    worker sleeping for minutes."""

    def __init__(self, max_wait: float) -> None:
        super().__init__(max_retry_count=1)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        values = {k.lower(): v for k, v in response.headers.items()}.get("retry-after") or []
        try:
            wait = float(values[0])
        except (IndexError, ValueError):
            return False
        return 0 <= wait <= self.max_wait
