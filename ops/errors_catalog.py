"""What a Cloudflare error means and what to do about it, from Cloudflare's own sources.

A catalogue of the errors a SpaceVision-like estate meets: v4 API error codes, GraphQL
Analytics errors, Worker upload and runtime errors, the errors KV, R2 and D1 bindings throw,
and the 1xxx/5xx error pages of the edge. Every entry names the page or file it was taken
from (:attr:`CatalogEntry.source`); nothing here is invented. Where Cloudflare documents a
condition but not the exact text an API returns for it, the entry has no code and matches the
message only (:attr:`CatalogEntry.code` is ``None``).

Error codes are namespaced by product: 10007 is "Worker not found" to the Workers API and
"NoSuchKey" to R2; 10054 is an oversized secret to Workers and a client disconnect to R2.
:func:`explain` therefore returns every candidate, best first, ranked by what the input says
about its origin (an R2 message ends ``(10007)``, a wrangler one ``[code: 10007]``; a
``service`` hint, or the API path of a :class:`~cfapi.errors.CloudflareError`, narrows it).

Pure: no I/O, so probes, alert templates and the ``flarewatch explain`` command share it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from cfapi.errors import CloudflareError

Service = Literal["api", "graphql", "workers", "kv", "r2", "d1", "dns", "edge"]
SERVICES: tuple[Service, ...] = ("api", "graphql", "workers", "kv", "r2", "d1", "dns", "edge")
MatchKind = Literal["code", "message", "code+message"]

# Sources. Paths under developers.cloudflare.com mirror cloudflare/cloudflare-docs'
# src/content/docs tree, where each table below was read.
_DOCS = "https://developers.cloudflare.com"
R2_CODES = f"{_DOCS}/r2/api/error-codes/"
D1_ERRORS = f"{_DOCS}/d1/observability/debug-d1/"
WORKERS_ERRORS = f"{_DOCS}/workers/observability/errors/"
KV_WRITES = f"{_DOCS}/kv/api/write-key-value-pairs/"
KV_LIMITS = f"{_DOCS}/kv/platform/limits/"
GRAPHQL_ERRORS = f"{_DOCS}/analytics/graphql-api/errors/"
DNS_SAME_NAME = f"{_DOCS}/dns/manage-dns-records/troubleshooting/records-with-same-name/"
EDGE_1XXX = f"{_DOCS}/support/troubleshooting/http-status-codes/cloudflare-1xxx-errors"
EDGE_5XX = f"{_DOCS}/support/troubleshooting/http-status-codes/cloudflare-5xx-errors"
API_SCHEMA = "https://github.com/cloudflare/api-schemas/blob/main/openapi.json"
WRANGLER = "https://github.com/cloudflare/workers-sdk/blob/main/packages/wrangler/src"
API_TROUBLESHOOTING = f"{_DOCS}/fundamentals/api/troubleshooting/"


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One documented error: what it is, what it means, what to do, and where it is written.

    ``key`` is unique (``r2:10007``, ``d1:overloaded-queued``); ``context`` says where the
    error shows up (an API response, a binding exception, an error page); ``patterns`` are
    regular expressions (case-insensitive) that recognise its message; ``retry`` is whether
    simply trying again is the documented remedy; ``note`` says what the source does not
    (for instance that a message text is recognised from public reports, not quoted there).
    """

    key: str
    service: Service
    context: str
    code: int | None
    title: str
    explanation: str
    fix: str
    source: str
    patterns: tuple[str, ...] = ()
    http_status: int | None = None
    retry: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain JSON-ready data."""
        data = asdict(self)
        data["patterns"] = list(self.patterns)
        return data


@dataclass(frozen=True, slots=True)
class Explanation:
    """A catalogue entry that fits the input, how it fits, and how well (higher is better)."""

    entry: CatalogEntry
    matched: MatchKind
    score: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the entry's fields plus ``matched`` and ``score``."""
        return {**self.entry.to_dict(), "matched": self.matched, "score": self.score}


def _s3_pattern(s3: str) -> str:
    """How an S3 error code shows in a message: as written (it is CamelCase), or, for a
    plain word such as ``Unauthorized``, only inside the S3 answer's ``<Code>`` element."""
    if sum(1 for c in s3 if c.isupper()) > 1:
        return rf"(?-i:\b{s3}\b)"
    return rf"<Code>{s3}</Code>"


def _r2(
    code: int,
    s3: str,
    status: int,
    explanation: str,
    fix: str,
    *patterns: str,
    retry: bool = False,
) -> CatalogEntry:
    return CatalogEntry(
        key=f"r2:{code}",
        service="r2",
        context="R2 binding exception (message ends with the code) or S3 API <Code>",
        code=code,
        title=s3,
        explanation=explanation,
        fix=fix,
        source=R2_CODES,
        patterns=(_s3_pattern(s3), *patterns),
        http_status=status,
        retry=retry,
    )


def _d1(key: str, message: str, explanation: str, fix: str, *, retry: bool) -> CatalogEntry:
    return CatalogEntry(
        key=f"d1:{key}",
        service="d1",
        context="D1 binding exception (D1_ERROR) or D1 query API error",
        code=None,
        title=f"D1_ERROR: {message}",
        explanation=explanation,
        fix=fix,
        source=D1_ERRORS,
        patterns=(re.escape(message.rstrip(".")),),
        retry=retry,
    )


def _upload(code: int, title: str, explanation: str, fix: str) -> CatalogEntry:
    return CatalogEntry(
        key=f"workers:{code}",
        service="workers",
        context="Workers API (upload, settings, deployments)",
        code=code,
        title=title,
        explanation=explanation,
        fix=fix,
        source=f"{WORKERS_ERRORS}#errors-on-worker-upload",
    )


def _edge(code: int, title: str, explanation: str, fix: str, *patterns: str) -> CatalogEntry:
    family = EDGE_1XXX if code < 2000 else EDGE_5XX
    return CatalogEntry(
        key=f"edge:{code}",
        service="edge",
        context="error page served by Cloudflare's edge to a visitor",
        code=code,
        title=f"Error {code}: {title}",
        explanation=explanation,
        fix=fix,
        source=f"{family}/error-{code}/",
        patterns=(rf"\berror\s*{code}\b", *patterns),
        http_status=code if 500 <= code < 600 else None,
    )


_FROM_REPORTS = (
    "The source documents the condition; the message text is recognised from public "
    "reports, not quoted there."
)
_RETRY_D1 = "Retry the operation (only if the query is idempotent: a read, or IF NOT EXISTS)."
_SPREAD_D1 = (
    "Make each query cheaper (indexes, smaller batches), spread the requests over time, "
    "or shard the data across databases."
)

ENTRIES: tuple[CatalogEntry, ...] = (
    # ------------------------------------------------------------------ v4 API, general
    CatalogEntry(
        key="api:7003",
        service="api",
        context="v4 API response",
        code=7003,
        title="No route for the URI",
        explanation=(
            "The API has no endpoint for that method and path, usually because an identifier "
            "in the path is wrong: a zone name where the zone id belongs, an account id of "
            "another account, or a typo."
        ),
        fix=(
            "Check every id in the path (zone ids and account ids are 32 hex characters; "
            "look them up with GET /zones?name=… or GET /accounts) and the HTTP method."
        ),
        source=API_SCHEMA,
        patterns=(r"no route for (the|that) uri", r"could not route to"),
        note=(
            "The schema's example says 'No route for the URI'; answers also read 'Could not "
            "route to <path>, perhaps your object identifier is invalid?' (public reports)."
        ),
    ),
    CatalogEntry(
        key="api:10000",
        service="api",
        context="v4 API response (wrangler: 'Authentication error [code: 10000]')",
        code=10000,
        title="Authentication error",
        explanation=(
            "Cloudflare did not accept the credentials for this request: the API token is "
            "invalid, expired or revoked, or it lacks the permission (or the account or zone "
            "resource) the endpoint needs. wrangler treats code 10000 as its authentication "
            "failure."
        ),
        fix=(
            "Verify the token (GET /user/tokens/verify must answer status 'active'), then "
            "check that its permission groups and account/zone resources cover this call; "
            "use 'Authorization: Bearer <token>', not the email + key headers."
        ),
        source=f"{WRANGLER}/core/handle-errors.ts",
        patterns=(r"authentication error",),
    ),
    CatalogEntry(
        key="workers:10220",
        service="workers",
        context="Workers API: POST …/scripts/{name}/deployments",
        code=10220,
        title="Secrets changed since that version was deployed",
        explanation=(
            "A deployment (usually a rollback) names a version whose secrets differ from the "
            "current ones; the message lists them after 'The following secrets have "
            "changed:'. Rolling back restores the old code but not the old secret values."
        ),
        fix=(
            "Confirm the old version works with today's secrets, then repeat the request "
            "with ?force=true (what 'wrangler rollback' does after asking)."
        ),
        source=f"{WRANGLER}/versions/rollback/index.ts",
        patterns=(r"secrets have changed", r"secret has changed"),
    ),
    # ------------------------------------------------------------------ GraphQL Analytics
    CatalogEntry(
        key="graphql:budget-depleted",
        service="graphql",
        context="GraphQL Analytics error (HTTP 429)",
        code=None,
        title="rate limiter budget depleted, try again after 5 minutes",
        explanation=(
            "GraphQL Analytics allows about 300 queries per 5 minutes per user or token, on "
            "top of the API-wide limit, and this credential has used them up."
        ),
        fix=(
            "Wait for the window to pass; query less often, ask for several datasets in one "
            "query with aliases, and give dashboards their own token."
        ),
        source=GRAPHQL_ERRORS,
        patterns=(r"rate limiter budget depleted",),
        http_status=429,
        retry=True,
    ),
    CatalogEntry(
        key="graphql:too-many-in-progress",
        service="graphql",
        context="GraphQL Analytics error (HTTP 503)",
        code=None,
        title="too many queries in progress",
        explanation="Too many of this account's queries are running at the same time.",
        fix="Run fewer queries concurrently and retry with backoff.",
        source=GRAPHQL_ERRORS,
        patterns=(r"too many queries in progress",),
        http_status=503,
        retry=True,
    ),
    CatalogEntry(
        key="graphql:too-old",
        service="graphql",
        context="GraphQL Analytics error (HTTP 400)",
        code=None,
        title="cannot request data older than …",
        explanation=(
            "The query's time filter starts before the dataset's retention (31 days for the "
            "adaptive datasets, less for some plans)."
        ),
        fix="Move datetime_geq / date_geq inside the retention window.",
        source=GRAPHQL_ERRORS,
        patterns=(r"cannot request data older than",),
        http_status=400,
    ),
    # ------------------------------------------------------------------ Workers upload
    _upload(
        10006,
        "Could not parse your Worker's code",
        "The uploaded script is not valid JavaScript/WebAssembly for the runtime.",
        "Build the bundle locally (wrangler deploy --dry-run) and fix the syntax error.",
    ),
    _upload(
        10007,
        "Worker or workers.dev subdomain not found",
        "The script name (or the account's workers.dev subdomain) does not exist in this account.",
        "Check the script name and CLOUDFLARE_ACCOUNT_ID; list scripts with GET "
        "/accounts/{account_id}/workers/scripts.",
    ),
    _upload(
        10015,
        "Account is not entitled to use Workers",
        "The account cannot run Workers (no Workers subscription or it is disabled).",
        "Enable Workers for the account in the dashboard (Workers & Pages).",
    ),
    _upload(
        10016,
        "Invalid Worker name",
        "The script name breaks Workers' naming rules.",
        "Use lower-case letters, digits and dashes.",
    ),
    _upload(
        10021,
        "Validation error",
        "Cloudflare loaded the Worker's top-level scope and it failed: a SyntaxError, a "
        "module that throws at import, the upload size limit, or startup CPU over 400 ms.",
        "Read the message that follows the code; move heavy initialisation into the handler "
        "and trim dependencies to get under the size and startup limits.",
    ),
    _upload(
        10026,
        "Could not parse request body",
        "The upload request itself was malformed (multipart parts or metadata JSON).",
        "Send the script as multipart/form-data with a valid 'metadata' JSON part.",
    ),
    _upload(
        10027,
        "Worker exceeded the size limit",
        "The compressed Worker is over the plan's limit (1 MB Free, 10 MB Paid).",
        "Remove unused dependencies; move static data to KV, R2 or D1; split into Workers "
        "joined by service bindings.",
    ),
    _upload(
        10035,
        "Multiple attempts to modify a resource at the same time",
        "Another change to the same Worker was in progress.",
        "Serialise deploys of one Worker (one pipeline at a time) and retry.",
    ),
    _upload(
        10037,
        "Too many Workers",
        "The account has reached its number of Workers.",
        "Delete unused Workers or ask for a higher limit.",
    ),
    _upload(
        10052,
        "A binding is uploaded without a name",
        "A binding in the upload metadata has no name.",
        "Give every binding a name in wrangler.toml / the metadata.",
    ),
    _upload(
        10054,
        "An environment variable or secret exceeds the size limit",
        "A variable or secret value is larger than Workers allow.",
        "Store large values in KV or R2 and keep only a reference in the variable.",
    ),
    _upload(
        10055,
        "Too many environment variables or secrets",
        "The Worker has more variables or secrets than allowed.",
        "Group settings into one JSON variable, or move them to KV.",
    ),
    _upload(
        10056,
        "Binding not found",
        "A binding refers to a resource (namespace, bucket, database…) that does not exist.",
        "Create the resource or fix its id in the binding.",
    ),
    _upload(
        10068,
        "No registered event handlers",
        "The uploaded Worker exports no fetch/scheduled/queue… handler.",
        "Export a default object with at least one handler.",
    ),
    _upload(
        10069,
        "Unsupported event handlers",
        "The Worker exports handlers the Workers runtime does not support.",
        "Remove or rename the unsupported handlers.",
    ),
    # ------------------------------------------------------------------ Workers runtime
    CatalogEntry(
        key="workers:network-connection-lost",
        service="workers",
        context="Worker runtime error (in logs, not shown to visitors)",
        code=None,
        title="Network connection lost",
        explanation="A connection failure while the Worker called fetch() or a binding.",
        fix="Catch the failed fetch or binding call and retry it (idempotent calls only).",
        source=f"{WORKERS_ERRORS}#runtime-errors",
        patterns=(r"network connection lost",),
        retry=True,
    ),
    CatalogEntry(
        key="workers:memory-limit",
        service="workers",
        context="Worker runtime error (in logs, not shown to visitors)",
        code=None,
        title="Memory limit would be exceeded before EOF",
        explanation=(
            "The Worker tried to buffer a stream or body that would take it over the 128 MB "
            "memory limit."
        ),
        fix="Stream the body instead of reading it whole (no await response.text() on big "
        "payloads).",
        source=f"{WORKERS_ERRORS}#runtime-errors",
        patterns=(r"memory limit would be exceeded",),
    ),
    CatalogEntry(
        key="workers:daemon-down",
        service="workers",
        context="Worker runtime error (in logs, not shown to visitors)",
        code=None,
        title="daemonDown",
        explanation="A temporary problem invoking the Worker.",
        fix="Retry; check www.cloudflarestatus.com if it persists.",
        source=f"{WORKERS_ERRORS}#runtime-errors",
        patterns=(r"\bdaemonDown\b",),
        retry=True,
    ),
    CatalogEntry(
        key="workers:never-generate-response",
        service="workers",
        context="Error 1101 with 'The script will never generate a response'",
        code=None,
        title="The script will never generate a response",
        explanation=(
            "Everything the request started has finished without a Response: a Promise that "
            "never settles, or a WebSocket whose server side is never closed."
        ),
        fix=(
            "Make sure every Promise the response waits for resolves or rejects (lint with "
            "no-floating-promises) and close server-side WebSockets on 'close'."
        ),
        source=f"{WORKERS_ERRORS}#the-script-will-never-generate-a-response-errors",
        patterns=(r"will never generate a response",),
    ),
    CatalogEntry(
        key="workers:illegal-invocation",
        service="workers",
        context="Worker exception",
        code=None,
        title="TypeError: Illegal invocation",
        explanation=(
            "A runtime method was called without its object as 'this', typically after "
            "destructuring it (const { waitUntil } = ctx)."
        ),
        fix="Call it on its object (ctx.waitUntil(p)) or bind it first.",
        source=f"{WORKERS_ERRORS}#illegal-invocation-errors",
        patterns=(r"illegal invocation",),
    ),
    # ------------------------------------------------------------------ KV binding
    CatalogEntry(
        key="kv:put-429",
        service="kv",
        context="KV binding exception on put()",
        code=None,
        title="KV PUT failed: 429 Too Many Requests",
        explanation=(
            "KV allows one write per second to the same key; writes to one key within a "
            "second are rate limited. On the Free plan the daily write allowance (1,000 "
            "writes to different keys) ends the same way."
        ),
        fix=(
            "Write a key at most once per second: merge the writes of one invocation into "
            "one put(), keep counters in Durable Objects or D1, and check the plan's daily "
            "limits."
        ),
        source=KV_WRITES,
        patterns=(r"kv put failed:\s*429",),
        http_status=429,
    ),
    CatalogEntry(
        key="kv:operations-per-invocation",
        service="kv",
        context="KV/R2/D1 limit per Worker invocation",
        code=None,
        title="Too many API requests by single Worker invocation",
        explanation=(
            "One Worker invocation may make at most 1,000 operations to external services "
            "(KV, R2 and the like together)."
        ),
        fix="Batch the work: fewer, larger reads (list + get in bulk over the REST API), or "
        "split it across invocations (Queues, Workflows).",
        source=KV_LIMITS,
        patterns=(r"too many api requests by single worker invocation",),
        note=_FROM_REPORTS,
    ),
    # ------------------------------------------------------------------ R2
    _r2(
        10001,
        "InternalError",
        500,
        "An internal error in R2.",
        "Retry the request; if it persists check www.cloudflarestatus.com or contact support.",
        r"we encountered an internal error",
        retry=True,
    ),
    _r2(
        10002,
        "Unauthorized",
        401,
        "The request carries missing or invalid credentials.",
        "Check the API token or S3 access key and that it has not expired.",
    ),
    _r2(
        10003,
        "AccessDenied",
        403,
        "The credentials lack permission for this bucket or operation.",
        "Give the token R2 permissions on this bucket (read or edit as needed).",
    ),
    _r2(
        10005,
        "InvalidBucketName",
        400,
        "The bucket name breaks the naming rules.",
        "Use 3-63 lower-case letters, digits and hyphens, starting and ending alphanumeric.",
    ),
    _r2(
        10006,
        "NoSuchBucket",
        404,
        "The bucket does not exist in this account (or jurisdiction).",
        "Check the bucket name, the account and the jurisdiction header (eu, fedramp).",
    ),
    _r2(
        10007,
        "NoSuchKey",
        404,
        "The object does not exist. The Workers API's get() and head() return null instead "
        "of throwing.",
        "Check the key (case, leading slash, URL encoding) and whether a lifecycle rule or a "
        "delete removed it.",
    ),
    _r2(
        10008,
        "BucketNotEmpty",
        409,
        "A bucket that still holds objects cannot be deleted.",
        "Delete every object (and abort pending multipart uploads) first.",
    ),
    _r2(
        10009,
        "TooManyBuckets",
        400,
        "The account has reached its bucket limit.",
        "Delete unused buckets or request a higher limit.",
    ),
    _r2(
        10011,
        "EntityTooSmall",
        400,
        "A multipart part (other than the last) is smaller than 5 MiB.",
        "Upload parts of at least 5 MiB except the last.",
    ),
    _r2(
        10012,
        "MetadataTooLarge",
        400,
        "Custom metadata exceeds 8,192 bytes in total.",
        "Shrink the custom metadata or store it in the object or in D1.",
        r"metadata headers exceed",
    ),
    _r2(
        10013,
        "IncompleteBody",
        400,
        "The body ended before the announced Content-Length.",
        "Send the whole body; check for client timeouts and network interruptions.",
    ),
    _r2(
        10014,
        "InvalidDigest",
        400,
        "A checksum header is malformed.",
        "Encode checksums correctly (base64 for SHA and CRC checksums).",
    ),
    _r2(
        10018,
        "ExpiredRequest",
        400,
        "A presigned URL or request signature has expired.",
        "Generate a new presigned URL or signature.",
    ),
    _r2(
        10020,
        "InvalidObjectName",
        400,
        "The key has invalid characters or is longer than 1,024 bytes.",
        "Use valid UTF-8 keys of at most 1,024 bytes.",
    ),
    _r2(
        10024,
        "NoSuchUpload",
        404,
        "The multipart upload does not exist, was aborted, or expired (7 days by default).",
        "Check the uploadId; restart the upload.",
    ),
    _r2(
        10025,
        "InvalidPart",
        400,
        "A part named when completing a multipart upload cannot be found.",
        "Use the exact ETag each UploadPart returned, and check every part succeeded.",
    ),
    _r2(
        10031,
        "PreconditionFailed",
        412,
        "A conditional header (If-Match, If-Unmodified-Since…) did not hold.",
        "Read the object again and retry with its current ETag.",
    ),
    _r2(
        10033,
        "MissingContentLength",
        411,
        "A PUT/POST was sent without Content-Length.",
        "Send Content-Length (or use a client that does).",
    ),
    _r2(
        10035,
        "SignatureDoesNotMatch",
        403,
        "The request signature does not match the one R2 computed.",
        "Check the secret key, the signing algorithm and URL encoding of the key.",
    ),
    _r2(
        10037,
        "BadDigest",
        400,
        "The checksum sent does not match the uploaded content.",
        "Verify the data and retry the upload.",
    ),
    _r2(
        10039,
        "InvalidRange",
        416,
        "The requested byte range cannot be satisfied.",
        "Ask for a range that starts inside the object; check the Range header's format.",
    ),
    _r2(
        10042,
        "NotEntitled",
        403,
        "The account is not entitled to this feature.",
        "Subscribe to R2 (or the feature) for the account.",
    ),
    _r2(
        10043,
        "ServiceUnavailable",
        503,
        "R2 is temporarily unavailable.",
        "Retry with exponential backoff; check www.cloudflarestatus.com.",
        retry=True,
    ),
    _r2(
        10048,
        "InvalidPart",
        400,
        "The non-trailing parts of a multipart upload are not all the same size.",
        "Give every part except the last the same size.",
    ),
    _r2(
        10054,
        "ClientDisconnect",
        400,
        "The client disconnected before the request completed.",
        "Check connectivity and retry.",
        retry=True,
    ),
    _r2(
        10058,
        "TooManyRequests",
        429,
        "Rate limited, often by concurrent writes to the same key (1 write per second per key).",
        "Find the clients writing the same key and serialise or spread their writes.",
        r"reduce your rate of requests",
        retry=True,
    ),
    _r2(
        10069,
        "ObjectLockedByBucketPolicy",
        403,
        "A bucket lock rule protects the object from being changed or deleted.",
        "Wait for the retention period to end, or change the bucket lock rule.",
    ),
    _r2(
        10073,
        "BucketConflict",
        409,
        "A bucket of that name already exists in the account.",
        "Choose another name.",
    ),
    _r2(
        100100,
        "EntityTooLarge",
        400,
        "The object is over the size limit (5 GiB per single upload, 5 TiB in total).",
        "Use multipart upload above 5 GiB.",
    ),
    # ------------------------------------------------------------------ D1
    CatalogEntry(
        key="d1:D1_TYPE_ERROR",
        service="d1",
        context="D1 binding exception",
        code=None,
        title="D1_TYPE_ERROR",
        explanation=(
            "A value's type does not match its column, most often undefined bound where "
            "null was meant (undefined is not supported)."
        ),
        fix="Bind null instead of undefined and make value types match the columns.",
        source=D1_ERRORS,
        patterns=(r"\bD1_TYPE_ERROR\b",),
    ),
    CatalogEntry(
        key="d1:D1_COLUMN_NOTFOUND",
        service="d1",
        context="D1 binding exception",
        code=None,
        title="D1_COLUMN_NOTFOUND",
        explanation="The query selects a column that does not exist.",
        fix="Check the column names against the schema (and that migrations ran).",
        source=D1_ERRORS,
        patterns=(r"\bD1_COLUMN_NOTFOUND\b",),
    ),
    CatalogEntry(
        key="d1:D1_EXEC_ERROR",
        service="d1",
        context="D1 binding exception from exec()",
        code=None,
        title="D1_EXEC_ERROR",
        explanation="A statement run with exec() failed; the message names the line and the "
        "SQLite error.",
        fix="Fix the SQL at the line given (syntax, missing table, constraint).",
        source=D1_ERRORS,
        patterns=(r"\bD1_EXEC_ERROR\b",),
    ),
    _d1(
        "code-updated",
        "D1 DB reset because its code was updated.",
        "Cloudflare updated D1 (or the Durable Object behind it) and the database restarted.",
        _RETRY_D1,
        retry=True,
    ),
    _d1(
        "startup-reset",
        "Internal error while starting up D1 DB storage caused object to be reset.",
        "The Durable Object holding the database failed to start.",
        _RETRY_D1,
        retry=True,
    ),
    _d1(
        "network-connection-lost",
        "Network connection lost.",
        "A network error between the Worker and the database.",
        _RETRY_D1,
        retry=True,
    ),
    _d1(
        "storage-reset",
        "Internal error in D1 DB storage caused object to be reset.",
        "An error made the database restart.",
        _RETRY_D1,
        retry=True,
    ),
    _d1(
        "transient-remote",
        "Cannot resolve D1 DB due to transient issue on remote node.",
        "The query could not reach the Durable Object holding the database.",
        _RETRY_D1,
        retry=True,
    ),
    _d1(
        "client-disconnected",
        "Can't read from request stream because client disconnected.",
        "The connection closed while a query (e.g. an upload of SQL) was still running.",
        "Retry, and keep the connection open until the query has finished.",
        retry=True,
    ),
    _d1(
        "storage-timeout",
        "D1 DB storage operation exceeded timeout which caused object to be reset.",
        "A query wrote so much (gigabytes) that it ran past the storage timeout.",
        _SPREAD_D1,
        retry=False,
    ),
    _d1(
        "overloaded-queued-too-long",
        "D1 DB is overloaded. Requests queued for too long.",
        "Requests waited in the database's queue too long: too many of them, or each too slow.",
        _SPREAD_D1,
        retry=False,
    ),
    _d1(
        "overloaded-too-many-queued",
        "D1 DB is overloaded. Too many requests queued.",
        "The database's request queue is full: too many requests, or each too slow.",
        _SPREAD_D1,
        retry=False,
    ),
    _d1(
        "memory-limit",
        "D1 DB's isolate exceeded its memory limit and was reset.",
        "A query loaded too much into memory and the database crashed.",
        _SPREAD_D1,
        retry=False,
    ),
    _d1(
        "cpu-limit",
        "D1 DB exceeded its CPU time limit and was reset.",
        "A query used too much CPU time (scanning a huge table, a large import/export).",
        "Split the query into smaller pieces; add the index the scan is missing.",
        retry=False,
    ),
    # ------------------------------------------------------------------ DNS
    CatalogEntry(
        key="dns:same-name-cname",
        service="dns",
        context="DNS API when creating a record",
        code=None,
        title="Record with that host already exists (CNAME conflict)",
        explanation=(
            "A CNAME cannot share its name with an A, AAAA or CNAME record (and an A/AAAA "
            "cannot be added where a CNAME exists): resolvers expect a CNAME to be the only "
            "data for its name (RFC 1034)."
        ),
        fix="Find the existing record of that name and either keep it or delete it before "
        "creating the new one. Several A/AAAA records per name are fine.",
        source=DNS_SAME_NAME,
        patterns=(r"record with that host already exists",),
        note=_FROM_REPORTS,
    ),
    # ------------------------------------------------------------------ the edge: 1xxx
    _edge(
        1000,
        "DNS points to prohibited IP",
        "A proxied record points at a Cloudflare address (or at a proxy that sends the "
        "request back through Cloudflare).",
        "Point the A record at the origin's own address; remove the loop through the proxy.",
    ),
    _edge(
        1001,
        "DNS resolution error",
        "The host is not on Cloudflare, or its CNAME target does not resolve.",
        "Make sure the CNAME target resolves and the zone is active on Cloudflare.",
    ),
    _edge(
        1002,
        "DNS points to Prohibited IP",
        "A record points at a Cloudflare address or a CNAME target is wrong.",
        "Update the record to the origin's address.",
    ),
    _edge(
        1003,
        "Direct IP Access Not Allowed",
        "A client requested a Cloudflare IP address directly.",
        "Use the hostname, not the IP address.",
    ),
    _edge(
        1004,
        "Host Not Configured to Serve Web Traffic",
        "Proxying is disabled for the host, or DNS changes have not propagated / the records "
        "point at Cloudflare addresses.",
        "Wait five minutes for propagation; if it persists, contact Cloudflare Support.",
    ),
    _edge(
        1014,
        "CNAME Cross-User Banned",
        "A CNAME points at a domain in another Cloudflare account (or an R2 custom domain "
        "is held by a zone hold).",
        "Use Cloudflare for SaaS for cross-account CNAMEs; release the zone hold for R2.",
    ),
    _edge(
        1015,
        "You are being rate limited",
        "A rate limiting rule matched, or the Worker hit its burst limit.",
        "Review the rate limiting rules (and Workers limits) for this traffic.",
    ),
    _edge(
        1016,
        "Origin DNS error",
        "Cloudflare cannot resolve the origin: no A record, or a CNAME to a name that does "
        "not resolve.",
        "Add the A record or fix the CNAME target so it resolves.",
    ),
    _edge(
        1019,
        "Compute server error",
        "A Worker calls itself (or Workers call each other) more than the loop limit allows.",
        "Stop the Worker from fetching a URL routed back to itself; use service bindings.",
    ),
    _edge(
        1101,
        "Worker threw a JavaScript exception",
        "The Worker threw an uncaught JavaScript exception while handling the request.",
        "Tail the Worker (flarewatch logs tail --worker NAME --status error) to see the "
        "exception and its stack, fix it, and redeploy or roll back.",
        r"worker threw (a javascript )?exception",
    ),
    _edge(
        1102,
        "Worker exceeded CPU time limit",
        "The Worker went over its CPU time limit (time spent executing, not waiting on "
        "the network).",
        "Profile the hot path (JSON parsing, loops); raise limits.cpu_ms on Paid plans; "
        "move heavy work to Queues.",
        r"exceeded (its )?cpu time limit",
        r"(?-i:\bexceededCpu\b)",
    ),
    _edge(
        1027,
        "Worker exceeded free tier daily request limit",
        "The account's Workers Free plan has used its daily requests.",
        "Upgrade to Workers Paid, or wait for the daily reset.",
    ),
    _edge(
        1200,
        "Cache connection limit",
        "Too many requests are queued at the edge waiting for the origin.",
        "Make the origin accept connections faster and raise the cache hit rate.",
    ),
    # ------------------------------------------------------------------ the edge: 5xx
    _edge(
        520,
        "Web server returns an unknown error",
        "The origin answered with something empty, unexpected or invalid.",
        "Check the origin's logs for crashes and oversized headers.",
    ),
    _edge(
        521,
        "Web server is down",
        "The origin refused the connection.",
        "Start the web server; allow Cloudflare's IP ranges in its firewall.",
    ),
    _edge(
        522,
        "Connection timed out",
        "Cloudflare could not complete a TCP connection to the origin in time.",
        "Check the origin is up and reachable from Cloudflare's ranges, and not overloaded.",
    ),
    _edge(
        523,
        "Origin is unreachable",
        "Cloudflare has no route to the origin (a wrong address or a routing problem).",
        "Check the DNS record's address and the origin's network routing.",
    ),
    _edge(
        524,
        "A timeout occurred",
        "The origin accepted the connection but did not answer in time (100 s by default).",
        "Make the request faster or run it in the background and poll.",
    ),
    _edge(
        525,
        "SSL handshake failed",
        "The TLS handshake between Cloudflare and the origin failed.",
        "Fix the origin's TLS configuration (SNI, supported ciphers).",
    ),
    _edge(
        526,
        "Invalid SSL certificate",
        "With SSL mode Full (strict) the origin's certificate is invalid.",
        "Install a valid certificate (or a Cloudflare Origin CA certificate) on the origin.",
    ),
)

BY_KEY: dict[str, CatalogEntry] = {e.key: e for e in ENTRIES}

# Where a message says where it came from.
_WRANGLER_CODE = re.compile(r"\[code:\s*(\d{3,7})\]", re.IGNORECASE)
_TRAILING_CODE = re.compile(r"\((\d{4,7})\)\s*\.?\s*$")
_LABELLED_CODE = re.compile(r"\b(?:code|error)\s*[:#]?\s*(\d{3,7})\b", re.IGNORECASE)
_R2_OPERATION = re.compile(
    r"^\s*(get|put|head|delete|list|createMultipartUpload|uploadPart|completeMultipartUpload"
    r"|abortMultipartUpload|resumeMultipartUpload)\s*:",
    re.IGNORECASE,
)
_SERVICE_PATHS: tuple[tuple[str, Service], ...] = (
    ("/graphql", "graphql"),
    ("/r2/", "r2"),
    ("/d1/", "d1"),
    ("/storage/kv/", "kv"),
    ("/workers/", "workers"),
    ("/dns_records", "dns"),
)


@functools.cache
def _compiled() -> dict[str, tuple[re.Pattern[str], ...]]:
    """Every entry's patterns, compiled on first use (the CLI imports this module eagerly)."""
    return {e.key: tuple(re.compile(p, re.IGNORECASE) for p in e.patterns) for e in ENTRIES}


def parse_service(text: str) -> Service:
    """``text`` as a :data:`Service`; raises ``ValueError`` naming the accepted values."""
    value = text.strip().lower()
    for service in SERVICES:
        if value == service:
            return service
    raise ValueError(f"unknown service {text!r}: use one of {', '.join(SERVICES)}")


def service_of_path(path: str) -> Service:
    """The catalogue's service for an API path (``/accounts/…/r2/buckets`` → ``r2``)."""
    for fragment, service in _SERVICE_PATHS:
        if fragment in path:
            return service
    return "api"


def codes_in(text: str) -> tuple[tuple[int, Service | None], ...]:
    """The error codes a message carries, each with the service its form reveals.

    ``[code: N]`` is wrangler's form (an API error), a trailing ``(N)`` after an operation
    name is an R2 binding error, and ``code N`` / ``error N`` is anything else.
    """
    found: list[tuple[int, Service | None]] = []
    stripped = text.strip()
    if stripped.isdigit():
        return ((int(stripped), None),)
    for match in _WRANGLER_CODE.finditer(text):
        found.append((int(match.group(1)), None))
    trailing = _TRAILING_CODE.search(text)
    if trailing is not None:
        service: Service | None = "r2" if _R2_OPERATION.search(text) else None
        found.append((int(trailing.group(1)), service))
    for match in _LABELLED_CODE.finditer(text):
        found.append((int(match.group(1)), None))
    seen: dict[int, Service | None] = {}
    for code, hint in found:
        if code not in seen or seen[code] is None:
            seen[code] = hint
    return tuple(seen.items())


def service_hints(text: str) -> frozenset[Service]:
    """Services a message's wording points to (``D1_ERROR`` → d1, ``KV PUT failed`` → kv…)."""
    hints: set[Service] = set()
    if re.search(r"\bD1_[A-Z_]+\b", text):
        hints.add("d1")
    if re.search(r"\bKV (GET|PUT|DELETE|LIST) failed", text, re.IGNORECASE):
        hints.add("kv")
    if _R2_OPERATION.search(text) and _TRAILING_CODE.search(text):
        hints.add("r2")
    if re.search(r"\bR2\b", text):
        hints.add("r2")
    return frozenset(hints)


def _rank(
    entry: CatalogEntry,
    *,
    by_code: bool,
    code_hint: Service | None,
    by_message: bool,
    hints: frozenset[Service],
    service: Service | None,
) -> Explanation | None:
    if not (by_code or by_message):
        return None
    if service is not None and entry.service != service:
        return None
    score = 0
    if by_code:
        score += 50
        if code_hint is not None and entry.service == code_hint:
            score += 30
    if by_message:
        score += 40
    if entry.service in hints:
        score += 20
    matched: MatchKind = (
        "code+message" if by_code and by_message else "code" if by_code else "message"
    )
    return Explanation(entry, matched, score)


def explain(code_or_text: int | str, *, service: Service | None = None) -> list[Explanation]:
    """Every catalogue entry that fits an error code or an error message, best first.

    ``code_or_text`` is a code (``10000``, ``"1101"``) or a message as a user saw it
    (``"D1_ERROR: Network connection lost."``, ``"put: … (10012)"``,
    ``"Authentication error [code: 10000]"``). ``service`` keeps only that product's
    entries. An empty list means the catalogue has nothing documented for it.
    """
    text = str(code_or_text).strip()
    if not text:
        return []
    codes = codes_in(text)
    code_hints = dict(codes)
    numeric = text.isdigit()
    hints = service_hints(text)
    results: list[Explanation] = []
    for entry in ENTRIES:
        by_code = entry.code is not None and entry.code in code_hints
        by_message = not numeric and any(p.search(text) for p in _compiled()[entry.key])
        ranked = _rank(
            entry,
            by_code=by_code,
            code_hint=code_hints.get(entry.code) if entry.code is not None else None,
            by_message=by_message,
            hints=hints,
            service=service,
        )
        if ranked is not None:
            results.append(ranked)
    results.sort(key=lambda r: (-r.score, ENTRIES.index(r.entry)))
    return results


def explain_error(error: CloudflareError) -> list[Explanation]:
    """Explanations for a failure cfapi raised: its codes (chains included) and messages.

    The request's path says which product answered, so Workers' 10007 is not read as R2's.
    """
    service = service_of_path(error.path or "")
    texts: list[str] = [str(code) for code in error.codes]
    texts += [detail.message for detail in error.errors if detail.message]
    return merge(explain(text, service=service) for text in texts) or merge(
        explain(text) for text in texts if not text.isdigit()
    )


def merge(groups: Iterable[Sequence[Explanation]]) -> list[Explanation]:
    """Several lists of explanations as one: each entry once, with its best score."""
    best: dict[str, Explanation] = {}
    for group in groups:
        for item in group:
            known = best.get(item.entry.key)
            if known is None or item.score > known.score:
                best[item.entry.key] = item
    return sorted(best.values(), key=lambda r: (-r.score, ENTRIES.index(r.entry)))


def summary(explanations: Sequence[Explanation]) -> str | None:
    """One line for an alert or a probe message: the best entry's title and fix, or None."""
    if not explanations:
        return None
    entry = explanations[0].entry
    code = f"{entry.code} " if entry.code is not None else ""
    return f"{code}{entry.title}: {entry.fix}"
