"""D1: databases, queries, export and import flows, and Time Travel.

Export and import are jobs polled to completion, as wrangler does [V: wrangler
``d1/export.ts``, ``d1/execute.ts``]: the export is re-POSTed with ``current_bookmark`` until
``complete``, then its ``signed_url`` is downloaded without auth; the import is ``init`` →
PUT the file to ``upload_url`` (its ETag must equal the file's MD5) → ``ingest`` → ``poll``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from pydantic import Field

from cfapi.errors import ApiError, ErrorDetail, JobFailed
from cfapi.models import CfModel
from cfapi.pagination import pages
from cfapi.service import Service, segment

Sleep = Callable[[float], Awaitable[None]]


class D1Database(CfModel):
    """A D1 database."""

    uuid: str
    name: str | None = None
    version: str | None = None
    created_at: str | None = None
    file_size: float | None = None
    num_tables: int | None = None


class D1Meta(CfModel):
    """What a statement cost and changed."""

    duration: float | None = None
    changes: int | None = None
    last_row_id: int | None = None
    changed_db: bool | None = None
    size_after: int | None = None
    rows_read: int | None = None
    rows_written: int | None = None


class D1QueryResult(CfModel):
    """The rows of one statement, as objects."""

    results: list[dict[str, Any]] = Field(default_factory=list)
    success: bool | None = None
    meta: D1Meta | None = None


class D1Rows(CfModel):
    """Rows as arrays, with their column names."""

    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)


class D1RawResult(CfModel):
    """The rows of one statement, as arrays."""

    results: D1Rows = Field(default_factory=D1Rows)
    success: bool | None = None
    meta: D1Meta | None = None


class D1Export(CfModel):
    """A finished export: the dump's file name and its SQL."""

    filename: str
    at_bookmark: str | None = None
    sql: bytes


class D1ImportResult(CfModel):
    """A finished import: the bookmark after it and what it ran."""

    final_bookmark: str | None = None
    num_queries: int | None = None
    meta: D1Meta | None = None


class D1Restore(CfModel):
    """A Time Travel restore: the bookmark restored and the one to undo it with."""

    bookmark: str | None = None
    previous_bookmark: str | None = None
    message: str | None = None


def md5_hex(data: bytes) -> str:
    """The MD5 of a file as D1 import wants it (an integrity check, not security)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def etag_matches(etag_header: str | None, md5: str) -> bool:
    """Whether an upload's ETag (maybe quoted or weak) is the file's MD5."""
    if not etag_header:
        return False
    value = etag_header.strip().removeprefix("W/").strip('"')
    return value.lower() == md5.lower()


class D1Api(Service):
    """``/accounts/{account_id}/d1/database``."""

    def __init__(self, *args: Any, sleep: Sleep = asyncio.sleep, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sleep = sleep

    def _databases(self, account_id: str) -> str:
        return f"/accounts/{segment(account_id)}/d1/database"

    def _db(self, account_id: str, database_id: str) -> str:
        return f"{self._databases(account_id)}/{segment(database_id)}"

    def databases(
        self, account_id: str, *, name: str | None = None, per_page: int = 100
    ) -> AsyncIterator[D1Database]:
        """The account's databases."""
        fetch = self._fetcher(self._databases(account_id))
        return pages(fetch, D1Database.parse, per_page=per_page, params={"name": name})

    async def database(self, account_id: str, database_id: str) -> D1Database:
        """One database, with its size and table count."""
        return await self._result("GET", self._db(account_id, database_id), D1Database)

    async def create_database(
        self, account_id: str, name: str, *, location_hint: str | None = None
    ) -> D1Database:
        """Create a database."""
        body: dict[str, Any] = {"name": name}
        if location_hint is not None:
            body["primary_location_hint"] = location_hint
        return await self._result("POST", self._databases(account_id), D1Database, json=body)

    async def delete_database(self, account_id: str, database_id: str) -> None:
        """Delete a database."""
        await self._transport.request("DELETE", self._db(account_id, database_id))

    async def query(
        self,
        account_id: str,
        database_id: str,
        sql: str,
        params: Sequence[str] = (),
        *,
        read_only: bool = False,
    ) -> list[D1QueryResult]:
        """Run SQL; one result per statement. ``read_only`` lets a failed call be retried."""
        results = await self._run(account_id, database_id, "/query", sql, params, read_only)
        return [D1QueryResult.parse(r) for r in results]

    async def raw(
        self,
        account_id: str,
        database_id: str,
        sql: str,
        params: Sequence[str] = (),
        *,
        read_only: bool = False,
    ) -> list[D1RawResult]:
        """Run SQL; rows come back as arrays with their column names."""
        results = await self._run(account_id, database_id, "/raw", sql, params, read_only)
        return [D1RawResult.parse(r) for r in results]

    async def _run(
        self,
        account_id: str,
        database_id: str,
        endpoint: str,
        sql: str,
        params: Sequence[str],
        read_only: bool,
    ) -> list[Any]:
        """POST SQL to ``/query`` or ``/raw``; the per-statement results, unparsed."""
        env = await self._transport.request(
            "POST",
            self._db(account_id, database_id) + endpoint,
            json=self._sql_body(sql, params),
            idempotent=read_only,
        )
        return list(env.result or [])

    @staticmethod
    def _sql_body(sql: str, params: Sequence[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"sql": sql}
        if params:
            body["params"] = list(params)
        return body

    async def export(
        self,
        account_id: str,
        database_id: str,
        *,
        no_data: bool = False,
        no_schema: bool = False,
        tables: Sequence[str] = (),
        poll_interval_s: float = 1.0,
        timeout_s: float = 900.0,
    ) -> D1Export:
        """Export the database as SQL: start, poll to ``complete``, download the dump."""
        path = self._db(account_id, database_id) + "/export"
        options = {"no_data": no_data, "no_schema": no_schema, "tables": list(tables)}
        deadline = time.monotonic() + timeout_s
        bookmark: str | None = None
        while True:
            body: dict[str, Any] = {"output_format": "polling", "dump_options": options}
            if bookmark is not None:
                body["current_bookmark"] = bookmark
            # Polling the same job again is harmless, so it may be retried.
            env = await self._transport.request("POST", path, json=body, idempotent=True)
            job = env.result if isinstance(env.result, Mapping) else {}
            status = job.get("status")
            bookmark = job.get("at_bookmark") or bookmark
            if status == "complete":
                return await self._download(job, path)
            self._check_job(job, path, "export", deadline)
            await self._sleep(poll_interval_s)

    async def _download(self, job: Mapping[str, Any], path: str) -> D1Export:
        raw_result = job.get("result")
        done: Mapping[str, Any] = raw_result if isinstance(raw_result, Mapping) else {}
        url, filename = done.get("signed_url"), done.get("filename")
        if not isinstance(url, str) or not isinstance(filename, str):
            raise JobFailed(
                "export finished without a download",
                errors=(ErrorDetail(None, "complete export has no signed_url or filename"),),
                method="POST",
                path=path,
            )
        raw = await self._transport.fetch_external("GET", url)
        return D1Export(filename=filename, at_bookmark=job.get("at_bookmark"), sql=raw.body)

    @staticmethod
    def _check_job(job: Mapping[str, Any], path: str, kind: str, deadline: float) -> None:
        if job.get("status") == "error" or job.get("success") is False:
            message = str(job.get("error") or f"{kind} failed")
            raise JobFailed(
                f"{kind} failed", errors=(ErrorDetail(None, message),), method="POST", path=path
            )
        if time.monotonic() > deadline:
            raise JobFailed(
                f"{kind} did not finish in time",
                errors=(ErrorDetail(None, f"{kind} still {job.get('status')!r} at the deadline"),),
                method="POST",
                path=path,
            )

    async def import_sql(
        self,
        account_id: str,
        database_id: str,
        sql: bytes | str,
        *,
        poll_interval_s: float = 1.0,
        timeout_s: float = 900.0,
    ) -> D1ImportResult:
        """Import a SQL file: init, upload (MD5-checked), ingest, poll to ``complete``."""
        data = sql.encode() if isinstance(sql, str) else sql
        etag = md5_hex(data)
        path = self._db(account_id, database_id) + "/import"
        deadline = time.monotonic() + timeout_s
        init = await self._import_step(path, {"action": "init", "etag": etag}, idempotent=True)
        upload_url = init.get("upload_url")
        if isinstance(upload_url, str) and upload_url:
            uploaded = await self._transport.fetch_external("PUT", upload_url, data=data)
            if not etag_matches(uploaded.headers.get("ETag"), etag):
                raise ApiError(
                    "upload corrupted",
                    errors=(ErrorDetail(None, "the uploaded file's ETag is not its MD5"),),
                    method="PUT",
                    path=path,
                )
        filename = init.get("filename")
        if not isinstance(filename, str):
            raise JobFailed(
                "import init gave no filename",
                errors=(ErrorDetail(None, "init answered without a filename"),),
                method="POST",
                path=path,
            )
        job = await self._import_step(
            path, {"action": "ingest", "etag": etag, "filename": filename}, idempotent=False
        )
        while job.get("status") != "complete":
            self._check_job(job, path, "import", deadline)
            await self._sleep(poll_interval_s)
            bookmark = job.get("at_bookmark")
            job = await self._import_step(
                path, {"action": "poll", "current_bookmark": bookmark}, idempotent=True
            )
        result = job.get("result")
        return D1ImportResult.parse(result if isinstance(result, Mapping) else {})

    async def _import_step(
        self, path: str, body: Mapping[str, Any], *, idempotent: bool
    ) -> Mapping[str, Any]:
        env = await self._transport.request("POST", path, json=dict(body), idempotent=idempotent)
        job = env.result if isinstance(env.result, Mapping) else {}
        if job.get("success") is False or job.get("status") == "error":
            self._check_job(job, path, "import", float("inf"))
        return job

    async def bookmark(
        self, account_id: str, database_id: str, *, timestamp: str | None = None
    ) -> str:
        """The Time Travel bookmark for ``timestamp`` (RFC 3339), or for now."""
        path = self._db(account_id, database_id) + "/time_travel/bookmark"
        env = await self._transport.request("GET", path, params={"timestamp": timestamp})
        value = env.result.get("bookmark") if isinstance(env.result, Mapping) else None
        if not isinstance(value, str):
            raise ApiError(
                "no bookmark", errors=(ErrorDetail(None, "answer has no bookmark"),), path=path
            )
        return value

    async def restore(
        self,
        account_id: str,
        database_id: str,
        *,
        bookmark: str | None = None,
        timestamp: str | None = None,
    ) -> D1Restore:
        """Restore the database to a bookmark or a point in time (10 per 10 minutes)."""
        if (bookmark is None) == (timestamp is None):
            raise ValueError("restore to either a bookmark or a timestamp")
        path = self._db(account_id, database_id) + "/time_travel/restore"
        params = {"bookmark": bookmark, "timestamp": timestamp}
        return await self._result("POST", path, D1Restore, params=params)
