"""DNS records of a zone: list, read, write, batch, BIND export and import."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from cfapi.models import CfModel, Deleted
from cfapi.pagination import pages
from cfapi.service import Part, Service, multipart, segment

AUTO_TTL = 1  # Cloudflare's "automatic" TTL


class DnsRecord(CfModel):
    """One DNS record."""

    id: str
    name: str
    type: str
    content: str | None = None
    proxied: bool | None = None
    proxiable: bool | None = None
    ttl: float | None = None
    priority: int | None = None
    comment: str | None = None
    tags: list[str] | None = None
    data: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    created_on: str | None = None
    modified_on: str | None = None


class DnsBatchResult(CfModel):
    """What a batch did, per kind of change."""

    deletes: list[DnsRecord] | None = None
    patches: list[DnsRecord] | None = None
    puts: list[DnsRecord] | None = None
    posts: list[DnsRecord] | None = None


class DnsImportResult(CfModel):
    """What a BIND import added."""

    recs_added: int | None = None
    total_records_parsed: int | None = None


def record_body(
    *,
    type: str,
    name: str,
    content: str | None = None,
    ttl: float = AUTO_TTL,
    proxied: bool | None = None,
    priority: int | None = None,
    comment: str | None = None,
    tags: Sequence[str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A record as create/update/batch bodies want it (unset fields are left out)."""
    body: dict[str, Any] = {"type": type, "name": name, "ttl": ttl}
    optional = {
        "content": content,
        "proxied": proxied,
        "priority": priority,
        "comment": comment,
        "tags": list(tags) if tags is not None else None,
        "data": dict(data) if data is not None else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


class DnsApi(Service):
    """``/zones/{zone_id}/dns_records``."""

    def _base(self, zone_id: str) -> str:
        return f"/zones/{segment(zone_id)}/dns_records"

    def list(
        self,
        zone_id: str,
        *,
        type: str | None = None,
        name: str | None = None,
        content: str | None = None,
        per_page: int = 100,
    ) -> AsyncIterator[DnsRecord]:
        """The zone's records, optionally filtered by type, exact name or content."""
        params = {"type": type, "name": name, "content": content}
        return pages(
            self._fetcher(self._base(zone_id)), DnsRecord.parse, per_page=per_page, params=params
        )

    async def get(self, zone_id: str, record_id: str) -> DnsRecord:
        """One record by id."""
        return await self._result("GET", f"{self._base(zone_id)}/{segment(record_id)}", DnsRecord)

    async def create(self, zone_id: str, record: Mapping[str, Any]) -> DnsRecord:
        """Create a record (see :func:`record_body`); not retried, a repeat would duplicate."""
        return await self._result("POST", self._base(zone_id), DnsRecord, json=dict(record))

    async def update(self, zone_id: str, record_id: str, record: Mapping[str, Any]) -> DnsRecord:
        """Replace a record entirely (PUT)."""
        path = f"{self._base(zone_id)}/{segment(record_id)}"
        return await self._result("PUT", path, DnsRecord, json=dict(record))

    async def patch(self, zone_id: str, record_id: str, fields: Mapping[str, Any]) -> DnsRecord:
        """Change only the given fields of a record (PATCH), e.g. ``{"ttl": 300}``.

        Fields left out keep their value, unlike :meth:`update` (PUT), which resets them.
        The 2024 schema types a PATCH body like a whole record, but Cloudflare accepts
        partial bodies (docs/sim/dns.md cites the evidence); an empty mapping is refused here
        because it would change nothing.
        """
        if not fields:
            raise ValueError("a DNS record PATCH needs at least one field to change")
        path = f"{self._base(zone_id)}/{segment(record_id)}"
        return await self._result("PATCH", path, DnsRecord, json=dict(fields))

    async def delete(self, zone_id: str, record_id: str) -> Deleted:
        """Delete a record."""
        path = f"{self._base(zone_id)}/{segment(record_id)}"
        return await self._result("DELETE", path, Deleted)

    async def batch(
        self,
        zone_id: str,
        *,
        deletes: Sequence[str] = (),
        patches: Sequence[Mapping[str, Any]] = (),
        puts: Sequence[Mapping[str, Any]] = (),
        posts: Sequence[Mapping[str, Any]] = (),
    ) -> DnsBatchResult:
        """Apply deletes, patches, puts and posts in one transaction (in that order).

        Patches and puts carry the record ``id``; deletes are record ids. The schema types a
        patch item like a record (``name``, ``ttl``, ``type`` required): :func:`record_body`
        plus ``id`` builds one.
        """
        body: dict[str, Any] = {}
        if deletes:
            body["deletes"] = [{"id": record_id} for record_id in deletes]
        for key, items in (("patches", patches), ("puts", puts), ("posts", posts)):
            if items:
                body[key] = [dict(item) for item in items]
        return await self._result("POST", f"{self._base(zone_id)}/batch", DnsBatchResult, json=body)

    async def export(self, zone_id: str) -> str:
        """The zone as a BIND file."""
        raw = await self._transport.send("GET", f"{self._base(zone_id)}/export")
        return raw.body.decode("utf-8")

    async def import_bind(
        self, zone_id: str, bind: str | bytes, *, proxied: bool = False
    ) -> DnsImportResult:
        """Import records from a BIND file (multipart upload)."""
        payload = bind.encode() if isinstance(bind, str) else bind
        form = multipart(
            [
                Part("file", payload, filename="zone.txt", content_type="text/plain"),
                Part("proxied", "true" if proxied else "false"),
            ]
        )
        path = f"{self._base(zone_id)}/import"
        return await self._result("POST", path, DnsImportResult, data=form)
