"""The simulator's request log (``GET /__sim/requests``), with secrets redacted."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SECRET_HEADERS = frozenset({"authorization", "x-auth-key", "x-auth-user-service-key", "cookie"})
REDACTED = "[redacted]"
_SECRET_QUERY = re.compile(r"(?i)(token|key|secret|signature|x-amz-signature)=[^&]*")


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Copy headers with every credential replaced by ``[redacted]``."""
    return {k: (REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def redact_query(query: str) -> str:
    """Blank out secret-looking query parameters (signed URLs, tokens)."""
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}={REDACTED}", query)


@dataclass(frozen=True)
class LoggedRequest:
    """One request the simulator served."""

    ts: float
    method: str
    path: str
    query: str
    service: str
    status: int
    duration_ms: float
    headers: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {
            "ts": self.ts,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "service": self.service,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "headers": self.headers,
        }


class RequestLog:
    """A bounded ring of recent requests."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._items: deque[LoggedRequest] = deque(maxlen=maxlen)

    def add(self, item: LoggedRequest) -> None:
        """Record one request."""
        self._items.append(item)

    def clear(self) -> None:
        """Forget every request."""
        self._items.clear()

    def items(self) -> Iterable[LoggedRequest]:
        """Requests in arrival order."""
        return tuple(self._items)
