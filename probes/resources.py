"""Names users write (``SESSIONS``, ``spacevision-db``, ``spacevision.app``) → Cloudflare ids.

Config may name a KV namespace by title, a D1 database by name and a zone by name, or give the
id directly. Resolutions are cached for ``ttl_s`` and forgotten on demand (a probe that gets
``not_found`` for an id calls :meth:`ResourceIndex.forget`, so a re-created resource is found
again). A lookup that finds nothing raises :class:`cfapi.NotFound`-like :class:`Unresolved`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cfapi import CloudflareClient

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Unresolved(LookupError):
    """No resource of that kind has that name in the account."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"no {kind} named {name!r} in the account")
        self.kind = kind
        self.name = name


class ResourceIndex:
    """Cached name → id lookups through the Cloudflare client."""

    def __init__(
        self,
        cf: CloudflareClient,
        account_id: str,
        *,
        clock: Callable[[], float],
        ttl_s: float = 600.0,
    ) -> None:
        self._cf = cf
        self._account_id = account_id
        self._clock = clock
        self._ttl_s = ttl_s
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def forget(self, kind: str, name: str) -> None:
        """Drop a cached resolution (after the id answered ``not found``)."""
        self._cache.pop((kind, name), None)

    async def kv_namespace(self, name_or_id: str) -> str:
        """The id of the KV namespace titled ``name_or_id`` (or the id itself)."""
        if _HEX32.match(name_or_id):
            return name_or_id
        return await self._resolve("kv namespace", name_or_id, self._find_kv)

    async def d1_database(self, name_or_id: str) -> str:
        """The uuid of the D1 database named ``name_or_id`` (or the uuid itself)."""
        if _UUID.match(name_or_id):
            return name_or_id
        return await self._resolve("d1 database", name_or_id, self._find_d1)

    async def zone(self, name_or_id: str) -> str:
        """The id of the zone named ``name_or_id`` (or the id itself)."""
        if _HEX32.match(name_or_id):
            return name_or_id
        return await self._resolve("zone", name_or_id, self._find_zone)

    async def _resolve(
        self, kind: str, name: str, find: Callable[[str], Awaitable[str | None]]
    ) -> str:
        key = (kind, name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._cache.get(key)
            if hit is not None and self._clock() - hit[1] < self._ttl_s:
                return hit[0]
            found = await find(name)
            if found is None:
                raise Unresolved(kind, name)
            self._cache[key] = (found, self._clock())
            return found

    async def _find_kv(self, title: str) -> str | None:
        async for ns in self._cf.kv.namespaces(self._account_id):
            if ns.title == title:
                return ns.id
        return None

    async def _find_d1(self, name: str) -> str | None:
        async for db in self._cf.d1.databases(self._account_id, name=name):
            if db.name == name:
                return db.uuid
        return None

    async def _find_zone(self, name: str) -> str | None:
        zone = await self._cf.zones.find(name, account_id=self._account_id)
        return None if zone is None else zone.id
