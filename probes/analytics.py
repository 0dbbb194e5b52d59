"""Cloudflare GraphQL Analytics for every probe at once: one request per refresh.

Probes ask for one resource's numbers (``await hub.get("workers", "api")``); the hub answers
from a cache that it refreshes at most every ``max_age_s`` with ONE GraphQL request covering
every dataset any probe wants and every resource in it. So ten probes at 30 s intervals cost
one analytics query per 30 s, not ten, which keeps flarewatch inside Cloudflare's GraphQL
budget (300 queries per 5 minutes).

Rows are flattened to ``{"sum.requests": 12.0, "quantiles.cpuTimeP99": 850.0, ...}``.
Invocation datasets are aggregated over the last ``window_s``; storage datasets report the
newest sample of the last ``storage_window_s``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cfapi import CloudflareError

if TYPE_CHECKING:
    from cfapi import CloudflareClient


@dataclass(frozen=True, slots=True)
class Dataset:
    """One GraphQL dataset: its field, the dimension that names a resource, what to select."""

    field: str
    key: str
    selection: str
    storage: bool = False


_INVOCATIONS = (
    "sum { requests errors subrequests } "
    "quantiles { cpuTimeP50 cpuTimeP99 wallTimeP50 wallTimeP99 }"
)

DATASETS: Mapping[str, Dataset] = {
    "workers": Dataset("workersInvocationsAdaptive", "scriptName", _INVOCATIONS),
    "pages_functions": Dataset(
        "pagesFunctionsInvocationsAdaptiveGroups", "scriptName", _INVOCATIONS
    ),
    "kv_operations": Dataset(
        "kvOperationsAdaptiveGroups",
        "namespaceId",
        "sum { requests } quantiles { latencyMsP50 latencyMsP99 }",
    ),
    "kv_storage": Dataset(
        "kvStorageAdaptiveGroups", "namespaceId", "max { keyCount byteCount }", storage=True
    ),
    "r2_storage": Dataset(
        "r2StorageAdaptiveGroups",
        "bucketName",
        "max { objectCount payloadSize metadataSize }",
        storage=True,
    ),
    "d1_analytics": Dataset(
        "d1AnalyticsAdaptiveGroups",
        "databaseId",
        "sum { readQueries writeQueries rowsRead rowsWritten } "
        "quantiles { queryBatchTimeMsP50 queryBatchTimeMsP99 }",
    ),
    "d1_storage": Dataset(
        "d1StorageAdaptiveGroups", "databaseId", "max { databaseSizeBytes }", storage=True
    ),
}
"""Every dataset the hub can fetch, by the short name probes use."""

Rows = dict[str, dict[str, float]]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_query(names: Iterable[str]) -> str:
    """The one GraphQL document that fetches ``names`` (aliases are the short names)."""
    parts = []
    for name in sorted(names):
        ds = DATASETS[name]
        since = "$storageSince" if ds.storage else "$since"
        dims = f"{ds.key} datetime" if ds.storage else ds.key
        order = ", orderBy: [datetime_DESC]" if ds.storage else ""
        parts.append(
            f"{name}: {ds.field}(limit: 10000, filter: {{datetime_geq: {since}, "
            f"datetime_leq: $until}}{order}) {{ dimensions {{ {dims} }} {ds.selection} }}"
        )
    return (
        "query Flarewatch($account: String!, $since: Time!, $storageSince: Time!, "
        "$until: Time!) { viewer { accounts(filter: {accountTag: $account}) { "
        + " ".join(parts)
        + " } } }"
    )


def flatten_rows(name: str, rows: Iterable[Mapping[str, Any]]) -> Rows:
    """Rows of one dataset keyed by resource; storage datasets keep each key's newest row."""
    ds = DATASETS[name]
    out: Rows = {}
    for row in rows:
        key = str((row.get("dimensions") or {}).get(ds.key, ""))
        if not key or (ds.storage and key in out):
            continue
        flat: dict[str, float] = {}
        for group, fields in row.items():
            if group == "dimensions" or not isinstance(fields, Mapping):
                continue
            for field_name, value in fields.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    flat[f"{group}.{field_name}"] = float(value)
        out[key] = flat
    return out


class AnalyticsHub:
    """The shared, batching cache in front of GraphQL Analytics (see the module docstring)."""

    def __init__(
        self,
        cf: CloudflareClient,
        account_id: str,
        *,
        clock: Callable[[], float],
        max_age_s: float = 30.0,
        window_s: float = 300.0,
        storage_window_s: float = 86_400.0,
    ) -> None:
        self._cf = cf
        self._account_id = account_id
        self._clock = clock
        self.max_age_s = max_age_s
        self.window_s = window_s
        self.storage_window_s = storage_window_s
        self._wanted: set[str] = set()
        self._fetched: frozenset[str] = frozenset()
        self._data: dict[str, Rows] = {}
        self._error: CloudflareError | None = None
        self._fetched_at: float | None = None
        self._inflight: asyncio.Future[None] | None = None
        self.requests = 0

    def want(self, *names: str) -> None:
        """Declare datasets probes will read, so the first refresh fetches them all at once."""
        unknown = set(names) - set(DATASETS)
        if unknown:
            raise KeyError(f"unknown analytics datasets: {sorted(unknown)}")
        self._wanted.update(names)

    async def get(self, name: str, key: str) -> Mapping[str, float] | None:
        """The numbers of resource ``key`` in dataset ``name`` (``None``: no data for it).

        Raises the :class:`cfapi.CloudflareError` of the last refresh while it is fresh, so a
        failing analytics API is asked once per ``max_age_s``, not once per probe.
        """
        if name not in self._wanted:
            self.want(name)
        await self._refresh_if_stale()
        if self._error is not None:
            raise self._error
        return self._data.get(name, {}).get(key)

    async def _refresh_if_stale(self) -> None:
        """Refresh unless the cache is fresh and covers every wanted dataset.

        A refresh already in flight is joined; if it was started before a dataset was
        wanted, it does not cover it, so the loop refreshes once more (rather than answer
        "no data" for that dataset until the cache ages out).
        """
        while True:
            now = self._clock()
            fresh = self._fetched_at is not None and now - self._fetched_at < self.max_age_s
            if fresh and self._wanted <= self._fetched:
                return
            if self._inflight is None:
                self._inflight = asyncio.ensure_future(self._refresh(now))
                self._inflight.add_done_callback(self._clear_inflight)
                await asyncio.shield(self._inflight)
                return
            await asyncio.shield(self._inflight)

    def _clear_inflight(self, _: asyncio.Future[None]) -> None:
        self._inflight = None

    async def _refresh(self, now: float) -> None:
        names = sorted(self._wanted)
        variables = {
            "account": self._account_id,
            "since": _iso(now - self.window_s),
            "storageSince": _iso(now - self.storage_window_s),
            "until": _iso(now),
        }
        self.requests += 1
        try:
            data = await self._cf.graphql.query(build_query(names), variables)
        except CloudflareError as err:  # cached and re-raised to every reader
            self._error = err
            self._fetched = frozenset(names)
            self._fetched_at = now
            return
        accounts = (data.get("viewer") or {}).get("accounts") or [{}]
        account = accounts[0] if accounts else {}
        self._data = {name: flatten_rows(name, account.get(name) or []) for name in names}
        self._error = None
        self._fetched = frozenset(names)
        self._fetched_at = now
