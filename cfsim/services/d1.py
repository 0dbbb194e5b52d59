"""D1: databases backed by real SQLite, query/raw, export, import and time travel.

Each database is an in-memory SQLite connection (:mod:`cfsim.services.d1_engine`); SQL is
split, limited and its errors worded as D1 words them (:mod:`cfsim.services.d1_sql`).
Every write records a time-travel bookmark with a snapshot, so restores really restore.

Error codes: 7404 ``The database <id> could not be found`` and 7400 ``Invalid property:
databaseId => Invalid uuid`` [V: real API answers quoted by third parties]; 7500 for SQL
[V]; 7502 ``A database with that name already exists.`` (message [V: wrangler output], code
[I]); 7429 for the time-travel restore limit [I].
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from cfsim.analytics import Sample
from cfsim.context import state_of
from cfsim.envelope import (
    CfHttpError,
    ok,
    page_params,
    paginate,
    read_json,
    read_model,
    validate,
)
from cfsim.ids import new_uuid
from cfsim.services.accounts import require_account
from cfsim.services.d1_engine import SqliteDatabase, StatementResult
from cfsim.services.d1_seed import (
    ANALYTICS_SCHEMA,
    APP_SCHEMA,
    Rows,
    analytics_rows,
    app_rows,
    seed_time,
)
from cfsim.services.d1_sql import check_batch, split_statements
from cfsim.services.d1_transfer import (
    SIGNED_PREFIX,
    SIGNED_URL_TTL_S,
    ExportTask,
    ImportTask,
    SignedObject,
    SignedObjects,
    import_failure,
    md5_hex,
)

if TYPE_CHECKING:
    from cfsim.state import SimState

CODE_BAD_REQUEST = 7400
CODE_NOT_FOUND = 7404
CODE_RESTORE_LIMIT = 7429
CODE_EXISTS = 7502

BOOKMARK_RETENTION_S = 30 * 86_400
MAX_BOOKMARKS = 1000
MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024
RESTORES_PER_WINDOW = 10
RESTORE_WINDOW_S = 600.0
LocationHint = Literal["wnam", "enam", "weur", "eeur", "apac", "oc"]

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-_]*$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Bookmark:
    """A point in a database's history: when, its id, and the content at that point."""

    ts: float
    id: str
    snapshot: bytes


@dataclass
class D1Database:
    """One D1 database: identity, its SQLite engine, history and transfers."""

    uuid: str
    name: str
    created_at: str
    location: str
    engine: SqliteDatabase = field(default_factory=SqliteDatabase)
    bookmarks: list[Bookmark] = field(default_factory=list)
    sequence: int = 0
    generation: int = 1
    restores: list[float] = field(default_factory=list)
    exports: dict[str, ExportTask] = field(default_factory=dict)
    imports: dict[str, ImportTask] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)

    def mark(self, now: float) -> str:
        """Record a bookmark for the current content (after every write)."""
        snapshot = self.engine.snapshot()
        self.sequence += 1
        pages = len(snapshot) // 4096
        bookmark = f"{self.sequence:08x}-{self.generation:08x}-{pages:08x}-{md5_hex(snapshot)}"
        self.bookmarks.append(Bookmark(now, bookmark, snapshot))
        horizon = now - BOOKMARK_RETENTION_S
        kept = sum(len(b.snapshot) for b in self.bookmarks)
        # Keep the newest bookmark older than the horizon: it is the state at the horizon.
        # Past the count or memory budget the oldest history goes first.
        while len(self.bookmarks) > 1 and (
            self.bookmarks[1].ts <= horizon
            or len(self.bookmarks) > MAX_BOOKMARKS
            or kept > MAX_SNAPSHOT_BYTES
        ):
            kept -= len(self.bookmarks.pop(0).snapshot)
        return bookmark

    @property
    def current(self) -> str:
        """The bookmark of the current content."""
        return self.bookmarks[-1].id

    def at(self, ts: float) -> Bookmark | None:
        """The latest bookmark at or before ``ts``."""
        found = None
        for bookmark in self.bookmarks:
            if bookmark.ts <= ts:
                found = bookmark
        return found

    def find(self, bookmark_id: str) -> Bookmark | None:
        """A bookmark by id."""
        return next((b for b in self.bookmarks if b.id == bookmark_id), None)

    def as_dict(self, size: int) -> dict[str, Any]:
        """The database object of the v4 API, reporting ``size`` bytes."""
        return {
            "uuid": self.uuid,
            "name": self.name,
            "version": "production",
            "created_at": self.created_at,
            "num_tables": len(self.engine.tables()),
            "file_size": size,
            "running_in_region": self.location.upper(),
            "read_replication": {"mode": "disabled"},
        }


@dataclass
class D1Store:
    """Every D1 database of the account, by uuid, plus the signed transfer URLs."""

    databases: dict[str, D1Database] = field(default_factory=dict)
    signed: SignedObjects = field(default_factory=SignedObjects)

    def aliases(self, value: str) -> tuple[str, ...]:
        """A database id is also known by its name."""
        database = self.databases.get(value)
        return (database.name,) if database else ()

    def close(self) -> None:
        """Close every SQLite connection."""
        for database in self.databases.values():
            database.engine.close()

    def create(self, name: str, now: float, location: str = "wnam") -> D1Database:
        """Create an empty database; names are unique within the account."""
        if not _NAME.match(name):
            raise CfHttpError(
                400,
                CODE_BAD_REQUEST,
                "Invalid property: name => must start with a lowercase letter or digit and "
                "contain only lowercase letters, digits, '-' and '_'",
            )
        if any(d.name == name for d in self.databases.values()):
            raise CfHttpError(400, CODE_EXISTS, "A database with that name already exists.")
        database = D1Database(uuid=new_uuid(), name=name, created_at=_iso(now), location=location)
        database.mark(now)
        self.databases[database.uuid] = database
        return database

    def get(self, database_id: str) -> D1Database:
        """A database by uuid, or D1's invalid-uuid / not-found error."""
        database = self.databases.get(database_id)
        if database is not None:
            return database
        if not _UUID.match(database_id):
            raise CfHttpError(400, CODE_BAD_REQUEST, "Invalid property: databaseId => Invalid uuid")
        raise CfHttpError(404, CODE_NOT_FOUND, f"The database {database_id} could not be found")

    def size(self, state: SimState, database_id: str) -> int:
        """Database size in bytes; a capacity fault on the database (id or name) overrides it."""
        database = self.get(database_id)
        capacity = state.faults.capacity("d1", (database.uuid, database.name), state.clock())
        if capacity is not None and capacity.bytes is not None:
            return capacity.bytes
        return database.engine.size()


def _database(request: web.Request) -> tuple[SimState, D1Database]:
    state = require_account(request)
    return state, state.d1.get(request.match_info["database_id"])


class CreateDatabaseBody(BaseModel):
    """Body of ``POST …/d1/database``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    primary_location_hint: LocationHint | None = None


class QueryBody(BaseModel):
    """Body of ``POST …/query`` and ``…/raw``."""

    model_config = ConfigDict(extra="forbid")

    sql: str
    params: list[str | int | float | bool | None] = Field(default_factory=list)


class DumpOptions(BaseModel):
    """What an export contains."""

    model_config = ConfigDict(extra="forbid")

    no_data: bool = False
    no_schema: bool = False
    tables: list[str] = Field(default_factory=list)


class ExportBody(BaseModel):
    """Body of ``POST …/export``."""

    model_config = ConfigDict(extra="forbid")

    output_format: Literal["polling"]
    dump_options: DumpOptions = Field(default_factory=DumpOptions)
    current_bookmark: str | None = None


class ImportInit(BaseModel):
    """First import step: announce the file by its md5."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["init"]
    etag: str


class ImportIngest(BaseModel):
    """Second import step: process the uploaded file."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["ingest"]
    etag: str
    filename: str


class ImportPoll(BaseModel):
    """Third import step: poll until complete."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["poll"]
    current_bookmark: str


class ImportBody(
    RootModel[Annotated[ImportInit | ImportIngest | ImportPoll, Field(discriminator="action")]]
):
    """Body of ``POST …/import``: one of the three steps, told apart by ``action``."""


async def list_databases(request: web.Request) -> web.Response:
    """GET /accounts/{a}/d1/database?name=&page=&per_page= (10..10000, default 1000)."""
    state = require_account(request)
    page, per_page = page_params(
        request, default_per_page=1000, min_per_page=10, max_per_page=10_000
    )
    name = request.query.get("name", "")
    items = [
        d.as_dict(state.d1.size(state, d.uuid))
        for d in sorted(state.d1.databases.values(), key=lambda d: d.created_at)
        if name in d.name
    ]
    chunk, info = paginate(items, page, per_page)
    return ok(chunk, result_info={k: info[k] for k in ("page", "per_page", "count", "total_count")})


async def create_database(request: web.Request) -> web.Response:
    """POST /accounts/{a}/d1/database {name, primary_location_hint}."""
    state = require_account(request)
    body = await read_model(request, CreateDatabaseBody, code=CODE_BAD_REQUEST)
    database = state.d1.create(body.name, state.clock(), body.primary_location_hint or "wnam")
    state.accounts.audit(state, "create", "d1_database", database.uuid)
    return ok(database.as_dict(state.d1.size(state, database.uuid)))


async def get_database(request: web.Request) -> web.Response:
    """GET …/d1/database/{database_id}."""
    state, database = _database(request)
    return ok(database.as_dict(state.d1.size(state, database.uuid)))


async def delete_database(request: web.Request) -> web.Response:
    """DELETE …/d1/database/{database_id}."""
    state, database = _database(request)
    database.engine.close()
    del state.d1.databases[database.uuid]
    state.accounts.audit(state, "delete", "d1_database", database.uuid)
    return ok(None)


def _meta(result: StatementResult, database: D1Database, size: int) -> dict[str, Any]:
    return {
        "served_by": "v3-prod",
        "served_by_region": database.location.upper(),
        "served_by_primary": True,
        "timings": {"sql_duration_ms": result.duration_ms},
        "duration": result.duration_ms,
        "changes": result.changes,
        "last_row_id": result.last_row_id,
        "changed_db": result.changed_db,
        "size_after": size,
        "rows_read": result.rows_read,
        "rows_written": result.rows_written,
    }


def _execute(
    state: SimState, database: D1Database, body: QueryBody
) -> tuple[list[str], list[StatementResult], int]:
    """Run a query body, bookmark it if it wrote, and record one sample per statement."""
    statements = split_statements(body.sql)
    check_batch(statements, list(body.params))
    results = database.engine.run_batch(statements, list(body.params))
    now = state.clock()
    if any(r.changed_db for r in results):
        database.mark(now)
    for sql, result in zip(statements, results, strict=True):
        state.analytics.record(
            Sample(
                ts=now,
                kind="d1",
                subject=database.uuid,
                action="write" if result.changed_db else "read",
                duration_ms=result.duration_ms,
                rows_read=result.rows_read,
                rows_written=result.rows_written,
                bytes=len(json.dumps(result.rows, default=str)),
                item=sql,
            )
        )
    return statements, results, state.d1.size(state, database.uuid)


async def query_database(request: web.Request) -> web.Response:
    """POST …/query {sql, params}: one result per statement, rows as objects."""
    state, database = _database(request)
    body = await read_model(request, QueryBody, code=CODE_BAD_REQUEST)
    _, results, size = _execute(state, database, body)
    return ok(
        [
            {"results": r.objects(), "success": True, "meta": _meta(r, database, size)}
            for r in results
        ]
    )


async def raw_query(request: web.Request) -> web.Response:
    """POST …/raw {sql, params}: one result per statement, rows as arrays."""
    state, database = _database(request)
    body = await read_model(request, QueryBody, code=CODE_BAD_REQUEST)
    _, results, size = _execute(state, database, body)
    return ok(
        [
            {
                "results": {"columns": r.columns, "rows": r.rows},
                "success": True,
                "meta": _meta(r, database, size),
            }
            for r in results
        ]
    )


def _signed_url(request: web.Request, path: str) -> str:
    expires = int(SIGNED_URL_TTL_S)
    return f"{request.url.origin()}{path}?X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"


async def export_database(request: web.Request) -> web.Response:
    """POST …/export: start or poll a polling export; complete answers a signed URL."""
    state, database = _database(request)
    body = await read_model(request, ExportBody, code=CODE_BAD_REQUEST)
    now = state.clock()
    if body.current_bookmark is None:
        task = database.exports.get(database.current)
        if task is None:
            options = body.dump_options
            dump = database.engine.dump(
                no_data=options.no_data, no_schema=options.no_schema, tables=options.tables
            )
            task = ExportTask(
                at_bookmark=database.current,
                filename=f"{database.uuid}-{database.current}.sql",
                dump=dump.encode(),
            )
            database.exports[task.at_bookmark] = task
    else:
        found = database.exports.get(body.current_bookmark)
        if found is None:
            raise CfHttpError(
                400, CODE_BAD_REQUEST, f"No export in progress at bookmark {body.current_bookmark}"
            )
        task = found
    if task.polls_left > 0:
        answer = task.active()
        task.polls_left -= 1
        return ok(answer, status=202)
    if task.signed_path is None or now >= task.signed_expires_at:
        task.signed_expires_at = now + SIGNED_URL_TTL_S
        task.signed_path = state.d1.signed.issue(
            now,
            SignedObject(
                kind="export",
                database_id=database.uuid,
                filename=task.filename,
                expires_at=task.signed_expires_at,
                body=task.dump,
            ),
        )
    return ok(task.complete(_signed_url(request, task.signed_path)))


def _start_import(database: D1Database, filename: str, data: bytes) -> web.Response:
    try:
        sql = data.decode()
    except UnicodeDecodeError:
        return ok(import_failure("The uploaded file is not UTF-8 SQL text"))
    task = ImportTask(at_bookmark=database.current, filename=filename, sql=sql)
    database.imports[task.at_bookmark] = task
    task.polls_left -= 1
    return ok(task.active(), status=202)


def _finish_import(state: SimState, database: D1Database, task: ImportTask) -> dict[str, Any]:
    try:
        statements = split_statements(task.sql)
        check_batch(statements, [])
        results = database.engine.run_batch(statements, [])
    except CfHttpError as err:
        return import_failure(str(err.errors[0]["message"]), task.at_bookmark)
    now = state.clock()
    final = database.mark(now)
    rows_read = sum(r.rows_read for r in results)
    rows_written = sum(r.rows_written for r in results)
    duration = sum(r.duration_ms for r in results)
    state.analytics.record(
        Sample(
            ts=now,
            kind="d1",
            subject=database.uuid,
            action="write",
            duration_ms=duration,
            rows_read=rows_read,
            rows_written=rows_written,
            item=f"import {task.filename}",
        )
    )
    return {
        "success": True,
        "type": "import",
        "status": "complete",
        "at_bookmark": task.at_bookmark,
        "messages": [f"Imported {len(statements)} queries from {task.filename}"],
        "result": {
            "final_bookmark": final,
            "num_queries": len(statements),
            "meta": {
                "served_by": "v3-prod",
                "duration": duration,
                "changes": sum(r.changes for r in results),
                "last_row_id": results[-1].last_row_id if results else 0,
                "changed_db": any(r.changed_db for r in results),
                "size_after": state.d1.size(state, database.uuid),
                "rows_read": rows_read,
                "rows_written": rows_written,
            },
        },
    }


async def import_database(request: web.Request) -> web.Response:
    """POST …/import: init (upload URL), ingest, then poll until complete."""
    state, database = _database(request)
    step = validate(ImportBody, await read_json(request), code=CODE_BAD_REQUEST).root
    if isinstance(step, ImportInit):
        if not _MD5.match(step.etag):
            raise CfHttpError(400, CODE_BAD_REQUEST, "etag must be the md5 of the file, in hex")
        filename = f"{database.uuid}-{step.etag}.sql"
        uploaded = database.uploads.get(filename)
        if uploaded is not None and md5_hex(uploaded) == step.etag:
            return _start_import(database, filename, uploaded)
        path = state.d1.signed.issue(
            state.clock(),
            SignedObject(
                kind="import",
                database_id=database.uuid,
                filename=filename,
                expires_at=state.clock() + SIGNED_URL_TTL_S,
            ),
        )
        return ok(
            {
                "success": True,
                "type": "import",
                "upload_url": _signed_url(request, path),
                "filename": filename,
            }
        )
    if isinstance(step, ImportIngest):
        uploaded = database.uploads.get(step.filename)
        if uploaded is None:
            return ok(import_failure(f"File {step.filename} was not uploaded"))
        if md5_hex(uploaded) != step.etag:
            return ok(
                import_failure(
                    f"Etag mismatch: {step.filename} has md5 {md5_hex(uploaded)}, "
                    f"not {step.etag}; upload it again"
                )
            )
        return _start_import(database, step.filename, uploaded)
    task = database.imports.get(step.current_bookmark)
    if task is None:
        raise CfHttpError(
            400, CODE_BAD_REQUEST, f"No import in progress at bookmark {step.current_bookmark}"
        )
    if task.final is not None:
        return ok(task.final)
    if task.polls_left > 0:
        task.polls_left -= 1
        return ok(task.active(), status=202)
    task.final = _finish_import(state, database, task)
    return ok(task.final)


def _timestamp(raw: str) -> float:
    """An RFC 3339 timestamp (or epoch seconds) from a query parameter."""
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as err:
        raise CfHttpError(
            400, CODE_BAD_REQUEST, f"Invalid property: timestamp => {raw!r} is not RFC 3339"
        ) from err
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _bookmark_at(database: D1Database, raw: str, now: float) -> Bookmark:
    ts = _timestamp(raw)
    if ts < now - BOOKMARK_RETENTION_S:
        raise CfHttpError(
            400, CODE_BAD_REQUEST, "Timestamp is older than the 30-day time travel window"
        )
    bookmark = database.at(ts)
    if bookmark is None:
        raise CfHttpError(
            400, CODE_BAD_REQUEST, f"No bookmark at or before {raw}: the database did not exist"
        )
    return bookmark


async def get_bookmark(request: web.Request) -> web.Response:
    """GET …/time_travel/bookmark[?timestamp=]: the bookmark now, or at that time."""
    state, database = _database(request)
    raw = request.query.get("timestamp")
    if not raw:
        return ok({"bookmark": database.current})
    return ok({"bookmark": _bookmark_at(database, raw, state.clock()).id})


async def restore_database(request: web.Request) -> web.Response:
    """POST …/time_travel/restore?bookmark= (or ?timestamp=): really restores the content."""
    state, database = _database(request)
    now = state.clock()
    database.restores = [t for t in database.restores if t > now - RESTORE_WINDOW_S]
    if len(database.restores) >= RESTORES_PER_WINDOW:
        raise CfHttpError(
            429,
            CODE_RESTORE_LIMIT,
            f"Too many restores: at most {RESTORES_PER_WINDOW} per 10 minutes per database",
        )
    bookmark_id = request.query.get("bookmark")
    timestamp = request.query.get("timestamp")
    if bookmark_id:
        target = database.find(bookmark_id)
        if target is None:
            raise CfHttpError(400, CODE_BAD_REQUEST, f"Invalid bookmark {bookmark_id}")
    elif timestamp:
        target = _bookmark_at(database, timestamp, now)
    else:
        raise CfHttpError(400, CODE_BAD_REQUEST, "Either bookmark or timestamp is required")
    previous = database.current
    database.engine.restore(target.snapshot)
    database.generation += 1
    database.restores.append(now)
    bookmark = database.mark(now)
    state.accounts.audit(state, "restore", "d1_database", database.uuid)
    return ok(
        {
            "bookmark": bookmark,
            "previous_bookmark": previous,
            "message": f"Database restored to bookmark {target.id}",
        }
    )


def _signed_object(request: web.Request, kind: str) -> SignedObject:
    state = state_of(request)
    obj = state.d1.signed.find(kind, request.match_info["token"])
    if obj is None or obj.database_id not in state.d1.databases:
        raise web.HTTPNotFound(text=_s3_error("NoSuchKey", "The specified key does not exist."))
    if state.clock() >= obj.expires_at:
        raise web.HTTPForbidden(text=_s3_error("ExpiredRequest", "Request has expired"))
    return obj


def _s3_error(code: str, message: str) -> str:
    declaration = '<?xml version="1.0" encoding="UTF-8"?>'
    return f"{declaration}<Error><Code>{code}</Code><Message>{message}</Message></Error>"


async def download_export(request: web.Request) -> web.Response:
    """GET /__r2-signed/d1-export/{token}: the SQL dump (no API auth: the URL is the grant)."""
    obj = _signed_object(request, "export")
    return web.Response(
        body=obj.body,
        content_type="application/sql",
        headers={
            "ETag": f'"{md5_hex(obj.body)}"',
            "Content-Disposition": f'attachment; filename="{obj.filename}"',
        },
    )


async def upload_import(request: web.Request) -> web.Response:
    """PUT /__r2-signed/d1-import/{token}: store the SQL file; the ETag is its md5."""
    obj = _signed_object(request, "import")
    data = await request.read()
    database = state_of(request).d1.databases[obj.database_id]
    database.uploads[obj.filename] = data
    return web.Response(status=200, headers={"ETag": f'"{md5_hex(data)}"'})


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the D1 endpoints under ``prefix`` and the signed transfer URLs at the root."""
    base = f"{prefix}/accounts/{{account_id}}/d1/database"
    one = f"{base}/{{database_id}}"
    r = app.router
    r.add_get(base, list_databases)
    r.add_post(base, create_database)
    r.add_get(one, get_database)
    r.add_delete(one, delete_database)
    r.add_post(f"{one}/query", query_database)
    r.add_post(f"{one}/raw", raw_query)
    r.add_post(f"{one}/export", export_database)
    r.add_post(f"{one}/import", import_database)
    r.add_get(f"{one}/time_travel/bookmark", get_bookmark)
    r.add_post(f"{one}/time_travel/restore", restore_database)
    r.add_get(f"{SIGNED_PREFIX}/d1-export/{{token}}", download_export)
    r.add_put(f"{SIGNED_PREFIX}/d1-import/{{token}}", upload_import)


def _load(database: D1Database, schema: list[str], rows: Rows, now: float) -> None:
    database.engine.load(schema, rows)
    database.mark(now)


def seed(state: SimState) -> None:
    """``spacevision-db`` (users, missions, images) and ``spacevision-analytics``."""
    now = state.clock()
    when = seed_time(now)
    app_db = state.d1.create("spacevision-db", now, "weur")
    _load(app_db, APP_SCHEMA, app_rows(when), now)
    analytics = state.d1.create("spacevision-analytics", now, "weur")
    _load(analytics, ANALYTICS_SCHEMA, analytics_rows(when), now)
