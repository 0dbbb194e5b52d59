"""Zones and cache purge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from cfapi.models import CfModel
from cfapi.pagination import pages
from cfapi.service import Service, segment


class ZoneAccount(CfModel):
    """The account a zone belongs to."""

    id: str | None = None
    name: str | None = None


class Zone(CfModel):
    """A zone (domain) of the account."""

    id: str
    name: str
    status: str | None = None
    paused: bool | None = None
    type: str | None = None
    name_servers: list[str] | None = None
    account: ZoneAccount | None = None
    plan: dict[str, Any] | None = None
    created_on: str | None = None
    modified_on: str | None = None
    activated_on: str | None = None


class PurgeResult(CfModel):
    """What a purge answers: the zone id."""

    id: str | None = None


class ZonesApi(Service):
    """Zones: list, look up, purge the cache."""

    def list(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        account_id: str | None = None,
        per_page: int = 50,
    ) -> AsyncIterator[Zone]:
        """Zones, optionally filtered by name, status or account (page/per_page, 5..50)."""
        params = {"name": name, "status": status, "account.id": account_id}
        return pages(self._fetcher("/zones"), Zone.parse, per_page=per_page, params=params)

    async def get(self, zone_id: str) -> Zone:
        """One zone by id."""
        return await self._result("GET", f"/zones/{segment(zone_id)}", Zone)

    async def find(self, name: str, *, account_id: str | None = None) -> Zone | None:
        """The zone called ``name`` (exact match), or ``None``."""
        async for zone in self.list(name=name, account_id=account_id):
            if zone.name == name:
                return zone
        return None

    async def purge_cache(
        self,
        zone_id: str,
        *,
        everything: bool = False,
        files: Sequence[str] = (),
        tags: Sequence[str] = (),
        hosts: Sequence[str] = (),
        prefixes: Sequence[str] = (),
    ) -> PurgeResult:
        """Purge everything, or by files, tags, hosts or prefixes (a repeat is harmless)."""
        body: dict[str, Any] = {}
        if everything:
            body["purge_everything"] = True
        lists = {"files": files, "tags": tags, "hosts": hosts, "prefixes": prefixes}
        for key, values in lists.items():
            if values:
                body[key] = list(values)
        if not body:
            raise ValueError("say what to purge: everything, files, tags, hosts or prefixes")
        path = f"/zones/{segment(zone_id)}/purge_cache"
        return await self._result("POST", path, PurgeResult, json=body, idempotent=True)
