"""GraphQL Analytics: ``POST /graphql`` answering ``{data, errors}``.

Errors can arrive under HTTP 200 [V: docs ``analytics/graphql-api/errors.mdx``]; they raise
:class:`~cfapi.errors.GraphqlError`. HTTP failures map like every other call (429 and 503
"too many queries in progress" are transient and retried). Queries count against the
``graphql`` budget group, which has its own limit (300 per 5 minutes) on top of the REST one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cfapi.envelope import decode_json
from cfapi.errors import GraphqlError, GraphqlErrorItem, graphql_errors
from cfapi.service import Service

PATH = "/graphql"


def graphql_data(body: bytes, *, allow_partial: bool = False) -> dict[str, Any]:
    """``data`` of a GraphQL answer, raising :class:`GraphqlError` for ``errors`` (pure)."""
    decoded = decode_json(body)
    if not isinstance(decoded, Mapping):
        raise GraphqlError(
            "not a GraphQL answer",
            graphql_errors=(GraphqlErrorItem("the answer is not a JSON object"),),
            method="POST",
            path=PATH,
        )
    errors = graphql_errors(decoded.get("errors"))
    data = decoded.get("data")
    if errors and not (allow_partial and isinstance(data, Mapping)):
        raise GraphqlError("query failed", graphql_errors=errors, method="POST", path=PATH)
    if not isinstance(data, Mapping):
        missing = (GraphqlErrorItem("answer has no data"),)
        raise GraphqlError("no data", graphql_errors=missing, method="POST", path=PATH)
    return dict(data)


class GraphqlApi(Service):
    """Analytics queries."""

    async def query(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        allow_partial: bool = False,
    ) -> dict[str, Any]:
        """Run a query and return its ``data`` (a read: retried on transient failures)."""
        body = {"query": query, "variables": dict(variables or {})}
        raw = await self._transport.send("POST", PATH, json=body, idempotent=True)
        return graphql_data(raw.body, allow_partial=allow_partial)
