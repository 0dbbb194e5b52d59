"""R2: buckets and their configuration (CORS, lifecycle, domains, Sippy, event notifications).

Most R2 calls take an optional ``cf-r2-jurisdiction`` header (``default|eu|us|fedramp|
fedramp-high``) [V: SDK 5.9.0]; a bucket in the EU jurisdiction is invisible without it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from cfapi.models import CfModel
from cfapi.pagination import cursor_pages
from cfapi.service import Service, segment

Jurisdiction = Literal["default", "eu", "us", "fedramp", "fedramp-high"]
JURISDICTION_HEADER = "cf-r2-jurisdiction"


def jurisdiction_headers(jurisdiction: Jurisdiction | None) -> dict[str, str] | None:
    """The header that selects a jurisdiction (none for the default one)."""
    if jurisdiction is None or jurisdiction == "default":
        return None
    return {JURISDICTION_HEADER: jurisdiction}


class R2Bucket(CfModel):
    """An R2 bucket."""

    name: str
    creation_date: str | None = None
    location: str | None = None
    storage_class: str | None = None
    jurisdiction: str | None = None


class R2Rules(CfModel):
    """A ``{rules: [...]}`` configuration (CORS, lifecycle)."""

    rules: list[dict[str, Any]] = Field(default_factory=list)


class R2CustomDomain(CfModel):
    """A custom domain serving a bucket."""

    domain: str
    enabled: bool | None = None
    zone_id: str | None = Field(default=None, alias="zoneId")
    zone_name: str | None = Field(default=None, alias="zoneName")
    min_tls: str | None = Field(default=None, alias="minTLS")
    ciphers: list[str] | None = None
    status: dict[str, Any] | None = None


class R2ManagedDomain(CfModel):
    """The bucket's ``r2.dev`` domain and whether it is public."""

    bucket_id: str = Field(alias="bucketId")
    domain: str
    enabled: bool


class R2Sippy(CfModel):
    """Sippy (incremental migration) settings of a bucket."""

    enabled: bool | None = None
    source: dict[str, Any] | None = None
    destination: dict[str, Any] | None = None


class R2QueueNotification(CfModel):
    """The event notification rules that send a bucket's events to one queue."""

    queue_id: str | None = Field(default=None, alias="queueId")
    queue_name: str | None = Field(default=None, alias="queueName")
    rules: list[dict[str, Any]] = Field(default_factory=list)


class R2Api(Service):
    """``/accounts/{account_id}/r2/buckets`` and R2 event notifications."""

    def _buckets(self, account_id: str) -> str:
        return f"/accounts/{segment(account_id)}/r2/buckets"

    def _bucket(self, account_id: str, bucket: str) -> str:
        return f"{self._buckets(account_id)}/{segment(bucket)}"

    def _queue(self, account_id: str, bucket: str, queue_id: str) -> str:
        return (
            f"/accounts/{segment(account_id)}/event_notifications/r2/{segment(bucket)}"
            f"/configuration/queues/{segment(queue_id)}"
        )

    def buckets(
        self,
        account_id: str,
        *,
        name_contains: str | None = None,
        per_page: int = 1000,
        jurisdiction: Jurisdiction | None = None,
    ) -> AsyncIterator[R2Bucket]:
        """The account's buckets (``result.buckets``, cursor pages of up to 1,000)."""
        fetch = self._fetcher(self._buckets(account_id), headers=jurisdiction_headers(jurisdiction))
        return cursor_pages(
            fetch,
            R2Bucket.parse,
            size_param="per_page",
            size=per_page,
            key="buckets",
            params={"name_contains": name_contains},
        )

    async def bucket(
        self, account_id: str, bucket: str, *, jurisdiction: Jurisdiction | None = None
    ) -> R2Bucket:
        """One bucket."""
        return await self._result(
            "GET",
            self._bucket(account_id, bucket),
            R2Bucket,
            headers=jurisdiction_headers(jurisdiction),
        )

    async def create_bucket(
        self,
        account_id: str,
        name: str,
        *,
        location_hint: str | None = None,
        storage_class: str | None = None,
        jurisdiction: Jurisdiction | None = None,
    ) -> R2Bucket:
        """Create a bucket."""
        body: dict[str, Any] = {"name": name}
        if location_hint is not None:
            body["locationHint"] = location_hint
        if storage_class is not None:
            body["storageClass"] = storage_class
        return await self._result(
            "POST",
            self._buckets(account_id),
            R2Bucket,
            json=body,
            headers=jurisdiction_headers(jurisdiction),
        )

    async def set_storage_class(
        self,
        account_id: str,
        bucket: str,
        storage_class: str,
        *,
        jurisdiction: Jurisdiction | None = None,
    ) -> R2Bucket:
        """Change the bucket's default storage class (``Standard|InfrequentAccess``)."""
        headers = {"cf-r2-storage-class": storage_class}
        headers.update(jurisdiction_headers(jurisdiction) or {})
        return await self._result(
            "PATCH", self._bucket(account_id, bucket), R2Bucket, headers=headers, idempotent=True
        )

    async def delete_bucket(
        self, account_id: str, bucket: str, *, jurisdiction: Jurisdiction | None = None
    ) -> None:
        """Delete an empty bucket."""
        await self._transport.request(
            "DELETE", self._bucket(account_id, bucket), headers=jurisdiction_headers(jurisdiction)
        )

    async def _get(
        self,
        account_id: str,
        bucket: str,
        suffix: str,
        model: type[Any],
        jurisdiction: Jurisdiction | None,
    ) -> Any:
        path = self._bucket(account_id, bucket) + suffix
        return await self._result("GET", path, model, headers=jurisdiction_headers(jurisdiction))

    async def _put(
        self,
        account_id: str,
        bucket: str,
        suffix: str,
        body: Mapping[str, Any],
        jurisdiction: Jurisdiction | None,
    ) -> Any:
        path = self._bucket(account_id, bucket) + suffix
        env = await self._transport.request(
            "PUT", path, json=dict(body), headers=jurisdiction_headers(jurisdiction)
        )
        return env.result

    async def _delete(
        self, account_id: str, bucket: str, suffix: str, jurisdiction: Jurisdiction | None
    ) -> Any:
        path = self._bucket(account_id, bucket) + suffix
        env = await self._transport.request(
            "DELETE", path, headers=jurisdiction_headers(jurisdiction)
        )
        return env.result

    async def cors(
        self, account_id: str, bucket: str, *, jurisdiction: Jurisdiction | None = None
    ) -> R2Rules:
        """The bucket's CORS rules."""
        rules: R2Rules = await self._get(account_id, bucket, "/cors", R2Rules, jurisdiction)
        return rules

    async def put_cors(
        self,
        account_id: str,
        bucket: str,
        rules: Sequence[Mapping[str, Any]],
        *,
        jurisdiction: Jurisdiction | None = None,
    ) -> None:
        """Replace the bucket's CORS rules."""
        body = {"rules": [dict(r) for r in rules]}
        await self._put(account_id, bucket, "/cors", body, jurisdiction)

    async def delete_cors(
        self, account_id: str, bucket: str, *, jurisdiction: Jurisdiction | None = None
    ) -> None:
        """Remove every CORS rule."""
        await self._delete(account_id, bucket, "/cors", jurisdiction)

    async def lifecycle(
        self, account_id: str, bucket: str, *, jurisdiction: Jurisdiction | None = None
    ) -> R2Rules:
        """The bucket's object lifecycle rules."""
        rules: R2Rules = await self._get(account_id, bucket, "/lifecycle", R2Rules, jurisdiction)
        return rules

    async def put_lifecycle(
        self,
        account_id: str,
        bucket: str,
        rules: Sequence[Mapping[str, Any]],
        *,
        jurisdiction: Jurisdiction | None = None,
    ) -> None:
        """Replace the bucket's lifecycle rules."""
        body = {"rules": [dict(r) for r in rules]}
        await self._put(account_id, bucket, "/lifecycle", body, jurisdiction)

    async def custom_domains(
        self, account_id: str, bucket: str, *, jurisdiction: Jurisdiction | None = None
    ) -> list[R2CustomDomain]:
        """The custom domains serving the bucket."""
        path = self._bucket(account_id, bucket) + "/domains/custom"
        env = await self._transport.request("GET", path, headers=jurisdiction_headers(jurisdiction))
        domains = env.result.get("domains") if isinstance(env.result, Mapping) else None
        return [R2CustomDomain.parse(d) for d in domains] if isinstance(domains, list) else []

    async def custom_domain(
        self,
        account_id: str,
        bucket: str,
        domain: str,
        *,
        jurisdiction: Jurisdiction | None = None,
    ) -> R2CustomDomain:
        """One custom domain, with its ownership and TLS status."""
        suffix = f"/domains/custom/{segment(domain)}"
        found: R2CustomDomain = await self._get(
            account_id, bucket, suffix, R2CustomDomain, jurisdiction
        )
        return found

    async def add_custom_domain(
        self,
        account_id: str,
        bucket: str,
        domain: str,
        *,
        zone_id: str,
        enabled: bool = True,
        min_tls: str | None = None,
        jurisdiction: Jurisdiction | None = None,
    ) -> R2CustomDomain:
        """Serve the bucket on ``domain`` (a hostname in zone ``zone_id``)."""
        body: dict[str, Any] = {"domain": domain, "zoneId": zone_id, "enabled": enabled}
        if min_tls is not None:
            body["minTLS"] = min_tls
        path = self._bucket(account_id, bucket) + "/domains/custom"
        return await self._result(
            "POST", path, R2CustomDomain, json=body, headers=jurisdiction_headers(jurisdiction)
        )

    async def update_custom_domain(
        self,
        account_id: str,
        bucket: str,
        domain: str,
        *,
        enabled: bool | None = None,
        min_tls: str | None = None,
        jurisdiction: Jurisdiction | None = None,
    ) -> R2CustomDomain:
        """Enable, disable or retune a custom domain."""
        body: dict[str, Any] = {}
        if enabled is not None:
            body["enabled"] = enabled
        if min_tls is not None:
            body["minTLS"] = min_tls
        path = f"{self._bucket(account_id, bucket)}/domains/custom/{segment(domain)}"
        return await self._result(
            "PUT", path, R2CustomDomain, json=body, headers=jurisdiction_headers(jurisdiction)
        )

    async def delete_custom_domain(
        self,
        account_id: str,
        bucket: str,
        domain: str,
        *,
        jurisdiction: Jurisdiction | None = None,
    ) -> None:
        """Stop serving the bucket on ``domain``."""
        await self._delete(account_id, bucket, f"/domains/custom/{segment(domain)}", jurisdiction)

    async def managed_domain(
        self, account_id: str, bucket: str, *, jurisdiction: Jurisdiction | None = None
    ) -> R2ManagedDomain:
        """The bucket's r2.dev domain."""
        found: R2ManagedDomain = await self._get(
            account_id, bucket, "/domains/managed", R2ManagedDomain, jurisdiction
        )
        return found

    async def set_managed_domain(
        self,
        account_id: str,
        bucket: str,
        *,
        enabled: bool,
        jurisdiction: Jurisdiction | None = None,
    ) -> R2ManagedDomain:
        """Turn public r2.dev access on or off."""
        path = self._bucket(account_id, bucket) + "/domains/managed"
        return await self._result(
            "PUT",
            path,
            R2ManagedDomain,
            json={"enabled": enabled},
            headers=jurisdiction_headers(jurisdiction),
        )

    async def sippy(
        self, account_id: str, bucket: str, *, jurisdiction: Jurisdiction | None = None
    ) -> R2Sippy:
        """The bucket's Sippy configuration."""
        found: R2Sippy = await self._get(account_id, bucket, "/sippy", R2Sippy, jurisdiction)
        return found

    async def put_sippy(
        self,
        account_id: str,
        bucket: str,
        config: Mapping[str, Any],
        *,
        jurisdiction: Jurisdiction | None = None,
    ) -> R2Sippy:
        """Enable Sippy with a source and destination (credentials inside ``config``)."""
        return R2Sippy.parse(await self._put(account_id, bucket, "/sippy", config, jurisdiction))

    async def delete_sippy(
        self, account_id: str, bucket: str, *, jurisdiction: Jurisdiction | None = None
    ) -> None:
        """Disable Sippy."""
        await self._delete(account_id, bucket, "/sippy", jurisdiction)

    async def event_notifications(self, account_id: str, bucket: str) -> dict[str, Any]:
        """Every event notification rule of the bucket, by queue."""
        path = (
            f"/accounts/{segment(account_id)}/event_notifications/r2/{segment(bucket)}"
            "/configuration"
        )
        env = await self._transport.request("GET", path)
        return dict(env.result) if isinstance(env.result, Mapping) else {}

    async def queue_notification(
        self,
        account_id: str,
        bucket: str,
        queue_id: str,
        *,
        jurisdiction: Jurisdiction | None = None,
    ) -> R2QueueNotification:
        """The rules sending the bucket's events to one queue."""
        return await self._result(
            "GET",
            self._queue(account_id, bucket, queue_id),
            R2QueueNotification,
            headers=jurisdiction_headers(jurisdiction),
        )

    async def put_queue_notification(
        self, account_id: str, bucket: str, queue_id: str, rules: Sequence[Mapping[str, Any]]
    ) -> None:
        """Send the bucket's events matching ``rules`` to a queue."""
        body = {"rules": [dict(r) for r in rules]}
        await self._transport.request("PUT", self._queue(account_id, bucket, queue_id), json=body)

    async def delete_queue_notification(self, account_id: str, bucket: str, queue_id: str) -> None:
        """Stop sending the bucket's events to a queue."""
        await self._transport.request("DELETE", self._queue(account_id, bucket, queue_id))
