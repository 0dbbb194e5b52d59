"""The only code that talks to Cloudflare: REST v4, GraphQL Analytics and the Tail WebSocket.

Start with :class:`CloudflareClient`; every failure is a :class:`CloudflareError`.
"""

from cfapi.budget import BudgetSnapshot, RequestBudget
from cfapi.client import CloudflareClient
from cfapi.credentials import Credentials
from cfapi.errors import (
    ApiError,
    AuthError,
    CloudflareError,
    GraphqlError,
    JobFailed,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TailError,
    TailLimitReached,
    TransportError,
)
from cfapi.retry import RetryPolicy, RetryStats
from cfapi.transport import Timeouts

__all__ = [
    "ApiError",
    "AuthError",
    "BudgetSnapshot",
    "CloudflareClient",
    "CloudflareError",
    "Credentials",
    "GraphqlError",
    "JobFailed",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "RequestBudget",
    "RetryPolicy",
    "RetryStats",
    "ServerError",
    "TailError",
    "TailLimitReached",
    "Timeouts",
    "TransportError",
]
