"""Workers KV: namespaces, keys, values (raw bytes), metadata and bulk operations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from cfapi.models import CfModel
from cfapi.pagination import cursor_pages, pages
from cfapi.service import Part, Service, json_part, multipart, segment

# Documented limits [V: kv/platform/limits.mdx, SDK docstrings].
KEYS_PAGE_MAX = 1000
BULK_GET_MAX = 100
BULK_WRITE_MAX = 10_000


class KvNamespace(CfModel):
    """A KV namespace."""

    id: str
    title: str
    supports_url_encoding: bool | None = None


class KvKey(CfModel):
    """A key as listed: its name, expiry (epoch seconds) and metadata."""

    name: str
    expiration: float | None = None
    metadata: Any = None


class KvWrite(CfModel):
    """One pair of a bulk write (``base64`` when ``value`` is base64-encoded bytes)."""

    key: str
    value: str
    base64: bool | None = None
    expiration: int | None = None
    expiration_ttl: int | None = None
    metadata: dict[str, Any] | None = None


class KvApi(Service):
    """``/accounts/{account_id}/storage/kv/namespaces``."""

    def _namespaces(self, account_id: str) -> str:
        return f"/accounts/{segment(account_id)}/storage/kv/namespaces"

    def _ns(self, account_id: str, namespace_id: str) -> str:
        return f"{self._namespaces(account_id)}/{segment(namespace_id)}"

    def namespaces(self, account_id: str, *, per_page: int = 100) -> AsyncIterator[KvNamespace]:
        """The account's namespaces (page/per_page, 5..100)."""
        fetch = self._fetcher(self._namespaces(account_id))
        return pages(fetch, KvNamespace.parse, per_page=per_page)

    async def namespace(self, account_id: str, namespace_id: str) -> KvNamespace:
        """One namespace."""
        return await self._result("GET", self._ns(account_id, namespace_id), KvNamespace)

    async def create_namespace(self, account_id: str, title: str) -> KvNamespace:
        """Create a namespace."""
        path = self._namespaces(account_id)
        return await self._result("POST", path, KvNamespace, json={"title": title})

    async def delete_namespace(self, account_id: str, namespace_id: str) -> None:
        """Delete a namespace and everything in it."""
        await self._transport.request("DELETE", self._ns(account_id, namespace_id))

    def keys(
        self,
        account_id: str,
        namespace_id: str,
        *,
        prefix: str | None = None,
        limit: int = KEYS_PAGE_MAX,
    ) -> AsyncIterator[KvKey]:
        """The namespace's keys (cursor pages of ``limit``, 10..1000)."""
        fetch = self._fetcher(self._ns(account_id, namespace_id) + "/keys")
        return cursor_pages(fetch, KvKey.parse, size=limit, params={"prefix": prefix})

    async def get(self, account_id: str, namespace_id: str, key: str) -> bytes:
        """A value, as the raw bytes stored."""
        path = f"{self._ns(account_id, namespace_id)}/values/{segment(key)}"
        return (await self._transport.send("GET", path)).body

    async def put(
        self,
        account_id: str,
        namespace_id: str,
        key: str,
        value: bytes | str,
        *,
        metadata: Mapping[str, Any] | None = None,
        expiration: int | None = None,
        expiration_ttl: int | None = None,
    ) -> None:
        """Write a value: a raw body, or multipart when it carries metadata."""
        path = f"{self._ns(account_id, namespace_id)}/values/{segment(key)}"
        params = {"expiration": expiration, "expiration_ttl": expiration_ttl}
        payload = value.encode() if isinstance(value, str) else value
        if metadata is None:
            headers = {"Content-Type": "application/octet-stream"}
            await self._transport.request("PUT", path, params=params, data=payload, headers=headers)
            return
        form = multipart(
            [
                Part("value", payload, filename="value", content_type="application/octet-stream"),
                json_part("metadata", dict(metadata)),
            ]
        )
        await self._transport.request("PUT", path, params=params, data=form)

    async def delete(self, account_id: str, namespace_id: str, key: str) -> None:
        """Delete one key."""
        path = f"{self._ns(account_id, namespace_id)}/values/{segment(key)}"
        await self._transport.request("DELETE", path)

    async def metadata(self, account_id: str, namespace_id: str, key: str) -> Any:
        """A key's metadata (``None`` when it has none)."""
        path = f"{self._ns(account_id, namespace_id)}/metadata/{segment(key)}"
        return (await self._transport.request("GET", path)).result

    async def bulk_write(
        self, account_id: str, namespace_id: str, pairs: Sequence[KvWrite]
    ) -> None:
        """Write up to 10,000 pairs at once."""
        if len(pairs) > BULK_WRITE_MAX:
            raise ValueError(f"at most {BULK_WRITE_MAX} pairs per bulk write")
        body = [p.model_dump(exclude_none=True) for p in pairs]
        path = self._ns(account_id, namespace_id) + "/bulk"
        await self._transport.request("PUT", path, json=body)

    async def bulk_get(
        self,
        account_id: str,
        namespace_id: str,
        keys: Sequence[str],
        *,
        as_json: bool = False,
        with_metadata: bool = False,
    ) -> dict[str, Any]:
        """Read up to 100 values at once: ``{key: value}`` (``None`` for missing keys).

        With ``with_metadata`` each value is ``{"value": ..., "metadata": ...}``. A read, so
        it is retried like a GET although it is a POST.
        """
        if len(keys) > BULK_GET_MAX:
            raise ValueError(f"at most {BULK_GET_MAX} keys per bulk get")
        body: dict[str, Any] = {"keys": list(keys), "type": "json" if as_json else "text"}
        if with_metadata:
            body["withMetadata"] = True
        path = self._ns(account_id, namespace_id) + "/bulk/get"
        env = await self._transport.request("POST", path, json=body, idempotent=True)
        values = env.result.get("values") if isinstance(env.result, Mapping) else None
        return dict(values) if isinstance(values, Mapping) else {}

    async def bulk_delete(self, account_id: str, namespace_id: str, keys: Sequence[str]) -> None:
        """Delete up to 10,000 keys (deleting twice is harmless, so it is retried)."""
        if len(keys) > BULK_WRITE_MAX:
            raise ValueError(f"at most {BULK_WRITE_MAX} keys per bulk delete")
        path = self._ns(account_id, namespace_id) + "/bulk/delete"
        await self._transport.request("POST", path, json=list(keys), idempotent=True)
