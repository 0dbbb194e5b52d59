"""What every service namespace of the client shares: the transport and small helpers."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from cfapi.envelope import Envelope
from cfapi.models import CfModel
from cfapi.pagination import Fetch
from cfapi.transport import Params, Transport, segment

M = TypeVar("M", bound=CfModel)

__all__ = ["Part", "Service", "json_part", "multipart", "segment"]


@dataclass(frozen=True)
class Part:
    """One part of a multipart/form-data body."""

    name: str
    value: bytes | str
    filename: str | None = None
    content_type: str | None = None


def json_part(name: str, value: Any) -> Part:
    """A part holding JSON (Workers ``metadata``, ``settings``)."""
    return Part(name, jsonlib.dumps(value), filename=None, content_type="application/json")


def multipart(parts: Sequence[Part]) -> Callable[[], aiohttp.FormData]:
    """A factory of the form (a FormData can be sent only once; retries need a fresh one)."""
    frozen = tuple(parts)

    def build() -> aiohttp.FormData:
        form = aiohttp.FormData(default_to_multipart=True)
        for part in frozen:
            form.add_field(
                part.name, part.value, filename=part.filename, content_type=part.content_type
            )
        return form

    return build


class Service:
    """A group of typed methods over one :class:`~cfapi.transport.Transport`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def _fetcher(self, path: str, *, headers: Mapping[str, str] | None = None) -> Fetch:
        """A ``GET path`` with the paginator's query, for :mod:`cfapi.pagination`."""

        async def fetch(params: dict[str, Any]) -> Envelope:
            return await self._transport.request("GET", path, params=params, headers=headers)

        return fetch

    async def _result(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        params: Params | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> M:
        """Call the API and validate ``result`` into ``model``."""
        env = await self._transport.request(
            method,
            path,
            params=params,
            json=json,
            data=data,
            headers=headers,
            idempotent=idempotent,
        )
        return model.parse(env.result if env.result is not None else {})

    async def _list(
        self,
        path: str,
        model: type[M],
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[M]:
        """``GET`` a list that is not paginated (``SinglePage``)."""
        env = await self._transport.request("GET", path, params=params, headers=headers)
        result = env.result if isinstance(env.result, list) else []
        return [model.parse(item) for item in result]
