"""R2: buckets per jurisdiction, their configuration, custom and r2.dev domains, Sippy and
event notifications.

Objects are modelled as numbers (stored bytes and object count per bucket): enough for
capacity monitoring and for refusing to delete a non-empty bucket. A bucket lives in one
jurisdiction (``cf-r2-jurisdiction`` header: ``default``, ``eu``, ``us``, ``fedramp``,
``fedramp-high``); asked for with another jurisdiction it is not found, as in R2.

Error codes [V: developers.cloudflare.com/r2/api/error-codes and real API answers quoted by a
third-party error survey]: 10005 invalid bucket name (400), 10006 no such bucket (404),
10008 bucket not empty (409), 10073 bucket already exists (409); 11015 no event
notification configuration (404) is the official schema's example. 10059 for a bucket
without CORS is [I] (two independent third-party notes); 10040 for invalid configuration is
[I] (:mod:`cfsim.services.r2_config`).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cfsim.analytics import Sample
from cfsim.envelope import CfHttpError, ok, query_int, read_model
from cfsim.ids import new_id
from cfsim.services.accounts import require_account
from cfsim.services.r2_config import (
    CODE_INVALID_ARGUMENT,
    MAX_CUSTOM_DOMAINS,
    CorsBody,
    CustomDomainBody,
    CustomDomainUpdate,
    LifecycleBody,
    ManagedDomainBody,
    NotificationBody,
    SippyBody,
    check_lifecycle,
    default_lifecycle,
)

if TYPE_CHECKING:
    from cfsim.state import SimState

CODE_INVALID_BUCKET_NAME = 10005
CODE_NO_SUCH_BUCKET = 10006
CODE_BUCKET_NOT_EMPTY = 10008
CODE_NO_CORS = 10059
CODE_BUCKET_EXISTS = 10073
CODE_NO_NOTIFICATIONS = 11015

JURISDICTIONS = ("default", "eu", "us", "fedramp", "fedramp-high")
LOCATIONS = ("apac", "eeur", "enam", "weur", "wnam", "oc")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_QUEUE_ID = re.compile(r"^[0-9a-f]{32}$")
# Where a bucket lands when no location hint is given (R2 picks the closest region) [I].
_DEFAULT_LOCATION = {"eu": "weur"}

Handler = Callable[[web.Request], Awaitable[web.Response]]
# The bucket a create call names, for its analytics sample (it is not in the path).
CREATED_BUCKET: web.RequestKey[str] = web.RequestKey("cfsim_r2_created_bucket", str)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Bucket:
    """One bucket: identity, reported usage and configuration."""

    name: str
    jurisdiction: str
    location: str
    storage_class: str
    creation_date: str
    bucket_id: str = field(default_factory=new_id)
    stored_bytes: int = 0
    object_count: int = 0
    cors: list[dict[str, Any]] | None = None
    lifecycle: list[dict[str, Any]] = field(default_factory=default_lifecycle)
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    managed_enabled: bool = False
    sippy: dict[str, Any] | None = None
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """The name analytics know the bucket by (``eu_<name>`` outside the default)."""
        return bucket_subject(self.name, self.jurisdiction)

    def as_dict(self) -> dict[str, Any]:
        """The bucket object of the v4 API."""
        return {
            "name": self.name,
            "creation_date": self.creation_date,
            "location": self.location,
            "storage_class": self.storage_class,
            "jurisdiction": self.jurisdiction,
        }

    def managed(self) -> dict[str, Any]:
        """The r2.dev managed domain."""
        return {
            "bucketId": self.bucket_id,
            "domain": f"pub-{self.bucket_id}.r2.dev",
            "enabled": self.managed_enabled,
        }


def bucket_subject(name: str, jurisdiction: str) -> str:
    """GraphQL's ``bucketName`` for a bucket: the name, prefixed outside the default."""
    return name if jurisdiction == "default" else f"{jurisdiction}_{name}"


@dataclass
class R2Store:
    """Every bucket of the account, keyed by (jurisdiction, name)."""

    buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)

    def aliases(self, value: str) -> tuple[str, ...]:
        """Buckets are addressed by name already."""
        return ()

    def close(self) -> None:
        """R2 holds nothing open."""

    def add(
        self,
        name: str,
        now: float,
        *,
        jurisdiction: str = "default",
        location: str | None = None,
        storage_class: str = "Standard",
    ) -> Bucket:
        """Create a bucket, checking the name and that it is free in its jurisdiction."""
        check_bucket_name(name)
        if (jurisdiction, name) in self.buckets:
            raise CfHttpError(
                409,
                CODE_BUCKET_EXISTS,
                "The bucket you tried to create already exists, and you own it.",
            )
        bucket = Bucket(
            name=name,
            jurisdiction=jurisdiction,
            location=location or _DEFAULT_LOCATION.get(jurisdiction, "enam"),
            storage_class=storage_class,
            creation_date=_iso(now),
        )
        self.buckets[(jurisdiction, name)] = bucket
        return bucket

    def get(self, name: str, jurisdiction: str = "default") -> Bucket:
        """A bucket in a jurisdiction, or R2's invalid-name / no-such-bucket error."""
        check_bucket_name(name)
        bucket = self.buckets.get((jurisdiction, name))
        if bucket is None:
            raise CfHttpError(404, CODE_NO_SUCH_BUCKET, "The specified bucket does not exist.")
        return bucket

    def usage(self, state: SimState, bucket: str, jurisdiction: str = "default") -> tuple[int, int]:
        """Stored bytes and object count of a bucket, as R2 storage analytics report them.

        A capacity fault on the bucket (by name, or ``eu_<name>`` style) overrides them.
        """
        found = self.get(bucket, jurisdiction)
        capacity = state.faults.capacity("r2", (found.name, found.subject), state.clock())
        size, objects = found.stored_bytes, found.object_count
        if capacity is not None:
            size = capacity.bytes if capacity.bytes is not None else size
            objects = capacity.objects if capacity.objects is not None else objects
        return size, objects


def check_bucket_name(name: str) -> None:
    """3 to 63 lowercase letters, digits and hyphens, starting and ending alphanumeric."""
    if not _BUCKET_NAME.match(name):
        raise CfHttpError(400, CODE_INVALID_BUCKET_NAME, "The specified bucket name is not valid.")


def jurisdiction_of(request: web.Request) -> str:
    """The ``cf-r2-jurisdiction`` header (``default`` when absent)."""
    value = request.headers.get("cf-r2-jurisdiction", "default").strip().lower() or "default"
    if value not in JURISDICTIONS:
        raise CfHttpError(
            400,
            CODE_INVALID_ARGUMENT,
            f"Invalid cf-r2-jurisdiction {value!r}: use one of {', '.join(JURISDICTIONS)}",
        )
    return value


def _bucket(request: web.Request) -> tuple[SimState, Bucket]:
    state = require_account(request)
    return state, state.r2.get(request.match_info["bucket_name"], jurisdiction_of(request))


def _recorded(action: str, handler: Handler) -> Handler:
    """Record an ``r2`` analytics sample for every call of ``handler``."""

    async def serve(request: web.Request) -> web.Response:
        state = require_account(request)
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except CfHttpError as err:
            status = err.status
            raise
        finally:
            name = request.match_info.get("bucket_name") or request.get(CREATED_BUCKET, "")
            jurisdiction = request.headers.get("cf-r2-jurisdiction", "default").lower()
            outcome = "success" if status < 400 else "userError" if status < 500 else "error"
            state.analytics.record(
                Sample(
                    ts=state.clock(),
                    kind="r2",
                    subject=bucket_subject(name, jurisdiction) if name else "",
                    action=action,
                    status=outcome,
                    http_status=status,
                    duration_ms=(time.perf_counter() - started) * 1000,
                )
            )

    serve.__doc__ = handler.__doc__
    return serve


class CreateBucketBody(BaseModel):
    """Body of ``POST …/r2/buckets``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    location_hint: Literal["apac", "eeur", "enam", "weur", "wnam", "oc"] | None = Field(
        default=None, alias="locationHint"
    )
    storage_class: Literal["Standard", "InfrequentAccess"] = Field(
        default="Standard", alias="storageClass"
    )


def _encode_cursor(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as err:
        raise CfHttpError(400, CODE_INVALID_ARGUMENT, "Invalid cursor") from err


async def list_buckets(request: web.Request) -> web.Response:
    """GET …/r2/buckets with cursor, per_page, start_after, name_contains, order, direction."""
    state = require_account(request)
    jurisdiction = jurisdiction_of(request)
    q = request.query
    per_page = query_int(
        request, "per_page", 20, minimum=1, maximum=1000, code=CODE_INVALID_ARGUMENT
    )
    if q.get("order", "name") != "name":
        raise CfHttpError(400, CODE_INVALID_ARGUMENT, "Buckets can only be ordered by name")
    direction = q.get("direction", "asc")
    if direction not in {"asc", "desc"}:
        raise CfHttpError(400, CODE_INVALID_ARGUMENT, "direction must be asc or desc")
    descending = direction == "desc"
    names = sorted(
        (b.name for (j, _), b in state.r2.buckets.items() if j == jurisdiction),
        reverse=descending,
    )
    contains = q.get("name_contains", "")
    names = [n for n in names if contains in n]
    after = _decode_cursor(q["cursor"]) if q.get("cursor") else q.get("start_after")
    if after:
        names = [n for n in names if (n < after if descending else n > after)]
    page = names[:per_page]
    cursor = _encode_cursor(page[-1]) if len(names) > per_page else ""
    buckets = [state.r2.buckets[(jurisdiction, n)].as_dict() for n in page]
    return ok({"buckets": buckets}, result_info={"cursor": cursor, "per_page": per_page})


async def create_bucket(request: web.Request) -> web.Response:
    """POST /accounts/{a}/r2/buckets {name, locationHint, storageClass}."""
    state = require_account(request)
    jurisdiction = jurisdiction_of(request)
    body = await read_model(request, CreateBucketBody, code=CODE_INVALID_ARGUMENT)
    request[CREATED_BUCKET] = body.name
    bucket = state.r2.add(
        body.name,
        state.clock(),
        jurisdiction=jurisdiction,
        location=body.location_hint,
        storage_class=body.storage_class,
    )
    state.accounts.audit(state, "create", "r2_bucket", bucket.name)
    return ok(bucket.as_dict())


async def get_bucket(request: web.Request) -> web.Response:
    """GET …/buckets/{bucket_name}."""
    _, bucket = _bucket(request)
    return ok(bucket.as_dict())


async def patch_bucket(request: web.Request) -> web.Response:
    """PATCH …/buckets/{bucket_name}: the ``cf-r2-storage-class`` header sets the default class."""
    _, bucket = _bucket(request)
    storage_class = request.headers.get("cf-r2-storage-class")
    if storage_class not in {"Standard", "InfrequentAccess"}:
        raise CfHttpError(
            400,
            CODE_INVALID_ARGUMENT,
            "Header cf-r2-storage-class must be Standard or InfrequentAccess",
        )
    bucket.storage_class = storage_class
    return ok(bucket.as_dict())


async def delete_bucket(request: web.Request) -> web.Response:
    """DELETE …/buckets/{bucket_name}: only an empty bucket can go."""
    state, bucket = _bucket(request)
    if bucket.object_count > 0:
        raise CfHttpError(
            409, CODE_BUCKET_NOT_EMPTY, "The bucket you tried to delete is not empty."
        )
    del state.r2.buckets[(bucket.jurisdiction, bucket.name)]
    state.accounts.audit(state, "delete", "r2_bucket", bucket.name)
    return ok({})


async def get_cors(request: web.Request) -> web.Response:
    """GET …/cors."""
    _, bucket = _bucket(request)
    if bucket.cors is None:
        raise CfHttpError(404, CODE_NO_CORS, "The CORS configuration does not exist.")
    return ok({"rules": bucket.cors})


async def put_cors(request: web.Request) -> web.Response:
    """PUT …/cors {rules}: replaces the CORS policy."""
    _, bucket = _bucket(request)
    body = await read_model(request, CorsBody, code=CODE_INVALID_ARGUMENT)
    bucket.cors = [rule.as_json() for rule in body.rules]
    return ok({})


async def delete_cors(request: web.Request) -> web.Response:
    """DELETE …/cors."""
    _, bucket = _bucket(request)
    bucket.cors = None
    return ok({})


async def get_lifecycle(request: web.Request) -> web.Response:
    """GET …/lifecycle."""
    _, bucket = _bucket(request)
    return ok({"rules": bucket.lifecycle})


async def put_lifecycle(request: web.Request) -> web.Response:
    """PUT …/lifecycle {rules}: replaces every rule."""
    _, bucket = _bucket(request)
    body = await read_model(request, LifecycleBody, code=CODE_INVALID_ARGUMENT)
    bucket.lifecycle = check_lifecycle(body)
    return ok({})


def _zone_for(state: SimState, domain: str) -> dict[str, Any]:
    labels = domain.lower().rstrip(".").split(".")
    for i in range(len(labels) - 1):
        zone = state.zones.by_name(".".join(labels[i:]))
        if zone is not None:
            return zone
    raise CfHttpError(
        400,
        CODE_INVALID_ARGUMENT,
        f"{domain} is not in a zone of this account; add the zone first",
    )


def _domain_record(bucket: Bucket, domain: str) -> dict[str, Any]:
    record = bucket.domains.get(domain.lower())
    if record is None:
        raise CfHttpError(
            404,
            CODE_INVALID_ARGUMENT,
            f"The custom domain {domain} is not attached to this bucket.",
        )
    return record


async def list_custom_domains(request: web.Request) -> web.Response:
    """GET …/domains/custom."""
    _, bucket = _bucket(request)
    return ok({"domains": list(bucket.domains.values())})


async def create_custom_domain(request: web.Request) -> web.Response:
    """POST …/domains/custom {domain, zoneId, enabled, minTLS, ciphers}."""
    state, bucket = _bucket(request)
    body = await read_model(request, CustomDomainBody, code=CODE_INVALID_ARGUMENT)
    domain = body.domain.lower().rstrip(".")
    zone = _zone_for(state, domain)
    if body.zone_id is not None and body.zone_id != zone["id"]:
        raise CfHttpError(
            400, CODE_INVALID_ARGUMENT, f"zoneId {body.zone_id} is not the zone of {domain}"
        )
    if any(domain in b.domains for b in state.r2.buckets.values()):
        raise CfHttpError(400, CODE_INVALID_ARGUMENT, f"{domain} is already in use by a bucket")
    if len(bucket.domains) >= MAX_CUSTOM_DOMAINS:
        raise CfHttpError(
            400, CODE_INVALID_ARGUMENT, f"A bucket can have at most {MAX_CUSTOM_DOMAINS} domains"
        )
    active = zone["status"] == "active"
    record: dict[str, Any] = {
        "domain": domain,
        "enabled": body.enabled,
        "status": {
            "ownership": "active" if active else "pending",
            "ssl": "active" if active else "initializing",
        },
        "minTLS": body.min_tls,
        "zoneId": zone["id"],
        "zoneName": zone["name"],
    }
    if body.ciphers is not None:
        record["ciphers"] = body.ciphers
    bucket.domains[domain] = record
    created = {k: record[k] for k in ("domain", "enabled", "zoneId", "minTLS")}
    if body.ciphers is not None:
        created["ciphers"] = body.ciphers
    return ok(created)


async def get_custom_domain(request: web.Request) -> web.Response:
    """GET …/domains/custom/{domain}."""
    _, bucket = _bucket(request)
    return ok(_domain_record(bucket, request.match_info["domain"]))


async def update_custom_domain(request: web.Request) -> web.Response:
    """PUT …/domains/custom/{domain} {enabled, minTLS, ciphers}."""
    _, bucket = _bucket(request)
    record = _domain_record(bucket, request.match_info["domain"])
    body = await read_model(request, CustomDomainUpdate, code=CODE_INVALID_ARGUMENT)
    if body.enabled is not None:
        record["enabled"] = body.enabled
    if body.min_tls is not None:
        record["minTLS"] = body.min_tls
    if body.ciphers is not None:
        record["ciphers"] = body.ciphers
    updated = {k: record[k] for k in ("domain", "enabled", "minTLS")}
    if "ciphers" in record:
        updated["ciphers"] = record["ciphers"]
    return ok(updated)


async def delete_custom_domain(request: web.Request) -> web.Response:
    """DELETE …/domains/custom/{domain}."""
    _, bucket = _bucket(request)
    record = _domain_record(bucket, request.match_info["domain"])
    del bucket.domains[record["domain"]]
    return ok({"domain": record["domain"]})


async def get_managed_domain(request: web.Request) -> web.Response:
    """GET …/domains/managed: the bucket's r2.dev URL."""
    _, bucket = _bucket(request)
    return ok(bucket.managed())


async def put_managed_domain(request: web.Request) -> web.Response:
    """PUT …/domains/managed {enabled}."""
    _, bucket = _bucket(request)
    body = await read_model(request, ManagedDomainBody, code=CODE_INVALID_ARGUMENT)
    bucket.managed_enabled = body.enabled
    return ok(bucket.managed())


async def get_sippy(request: web.Request) -> web.Response:
    """GET …/sippy."""
    _, bucket = _bucket(request)
    return ok(bucket.sippy or {"enabled": False})


async def put_sippy(request: web.Request) -> web.Response:
    """PUT …/sippy: enable incremental migration from S3 or GCS."""
    state, bucket = _bucket(request)
    body = await read_model(request, SippyBody, code=CODE_INVALID_ARGUMENT)
    bucket.sippy = body.as_json(state.account_id, bucket.name)
    return ok(bucket.sippy)


async def delete_sippy(request: web.Request) -> web.Response:
    """DELETE …/sippy."""
    _, bucket = _bucket(request)
    bucket.sippy = None
    return ok({"enabled": False})


def _queue_id(request: web.Request) -> str:
    queue_id = request.match_info["queue_id"]
    if not _QUEUE_ID.match(queue_id):
        raise CfHttpError(400, CODE_INVALID_ARGUMENT, f"Invalid queue id {queue_id!r}")
    return queue_id


def _no_notifications() -> CfHttpError:
    return CfHttpError(404, CODE_NO_NOTIFICATIONS, "workers.api.error.no_configs_found_for_bucket")


async def get_notification_config(request: web.Request) -> web.Response:
    """GET /accounts/{a}/event_notifications/r2/{bucket}/configuration."""
    _, bucket = _bucket(request)
    if not bucket.notifications:
        raise _no_notifications()
    details = {
        config["detail_id"]: {
            "queue": queue_id,
            "rules": [
                {k: rule[k] for k in ("actions", "prefix", "suffix") if rule.get(k) is not None}
                for rule in config["rules"]
            ],
        }
        for queue_id, config in bucket.notifications.items()
    }
    return ok({bucket.name: details})


async def put_notification(request: web.Request) -> web.Response:
    """PUT …/configuration/queues/{queue_id} {rules}: adds rules for the queue."""
    state, bucket = _bucket(request)
    queue_id = _queue_id(request)
    body = await read_model(request, NotificationBody, code=CODE_INVALID_ARGUMENT)
    config = bucket.notifications.setdefault(queue_id, {"detail_id": new_id(), "rules": []})
    created_at = _iso(state.clock())
    for rule in body.rules:
        config["rules"].append(
            {
                "ruleId": new_id(),
                "createdAt": created_at,
                "actions": list(rule.actions),
                "prefix": rule.prefix,
                "suffix": rule.suffix,
                "description": rule.description,
            }
        )
    return ok({"event_notification_detail_id": config["detail_id"]})


async def get_notification(request: web.Request) -> web.Response:
    """GET …/configuration/queues/{queue_id}."""
    state, bucket = _bucket(request)
    queue_id = _queue_id(request)
    config = bucket.notifications.get(queue_id)
    if config is None:
        raise _no_notifications()
    return ok(
        {
            "queueId": queue_id,
            "queueName": state.r2.queues.get(queue_id),
            "rules": config["rules"],
        }
    )


async def delete_notification(request: web.Request) -> web.Response:
    """DELETE …/configuration/queues/{queue_id}."""
    _, bucket = _bucket(request)
    if bucket.notifications.pop(_queue_id(request), None) is None:
        raise _no_notifications()
    return ok({})


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the R2 endpoints under ``prefix``."""
    base = f"{prefix}/accounts/{{account_id}}/r2/buckets"
    one = f"{base}/{{bucket_name}}"
    events = (
        f"{prefix}/accounts/{{account_id}}/event_notifications/r2/{{bucket_name}}/configuration"
    )
    table: list[tuple[str, str, Handler, str]] = [
        ("GET", base, list_buckets, "ListBuckets"),
        ("POST", base, create_bucket, "CreateBucket"),
        ("GET", one, get_bucket, "GetBucket"),
        ("PATCH", one, patch_bucket, "PatchBucket"),
        ("DELETE", one, delete_bucket, "DeleteBucket"),
        ("GET", f"{one}/cors", get_cors, "GetBucketCors"),
        ("PUT", f"{one}/cors", put_cors, "PutBucketCors"),
        ("DELETE", f"{one}/cors", delete_cors, "DeleteBucketCors"),
        ("GET", f"{one}/lifecycle", get_lifecycle, "GetBucketLifecycleConfiguration"),
        ("PUT", f"{one}/lifecycle", put_lifecycle, "PutBucketLifecycleConfiguration"),
        ("GET", f"{one}/domains/custom", list_custom_domains, "ListCustomDomains"),
        ("POST", f"{one}/domains/custom", create_custom_domain, "PutCustomDomain"),
        ("GET", f"{one}/domains/custom/{{domain}}", get_custom_domain, "GetCustomDomain"),
        ("PUT", f"{one}/domains/custom/{{domain}}", update_custom_domain, "UpdateCustomDomain"),
        ("DELETE", f"{one}/domains/custom/{{domain}}", delete_custom_domain, "DeleteCustomDomain"),
        ("GET", f"{one}/domains/managed", get_managed_domain, "GetManagedDomain"),
        ("PUT", f"{one}/domains/managed", put_managed_domain, "PutManagedDomain"),
        ("GET", f"{one}/sippy", get_sippy, "GetBucketSippy"),
        ("PUT", f"{one}/sippy", put_sippy, "PutBucketSippy"),
        ("DELETE", f"{one}/sippy", delete_sippy, "DeleteBucketSippy"),
        ("GET", events, get_notification_config, "GetEventNotificationConfigs"),
        ("GET", f"{events}/queues/{{queue_id}}", get_notification, "GetEventNotificationConfig"),
        ("PUT", f"{events}/queues/{{queue_id}}", put_notification, "PutEventNotificationConfig"),
        (
            "DELETE",
            f"{events}/queues/{{queue_id}}",
            delete_notification,
            "DeleteEventNotificationConfig",
        ),
    ]
    for method, path, handler, action in table:
        app.router.add_route(method, path, _recorded(action, handler))


GB = 1_000_000_000
IMAGE_PIPELINE_QUEUE = "5c4a1f0e9b7d4e2a8f3c6b1d0a9e8f7c"


def seed(state: SimState) -> None:
    """Buckets ``uploads`` (CORS, tmp/ expiry, custom domain), ``backups``, ``public-assets``."""
    now = state.clock()
    r2 = state.r2
    r2.queues[IMAGE_PIPELINE_QUEUE] = "image-pipeline"
    uploads = r2.add("uploads", now, location="enam")
    uploads.stored_bytes, uploads.object_count = int(3.4 * GB), 18_432
    uploads.cors = [
        {
            "id": "spacevision-app",
            "allowed": {
                "origins": ["https://spacevision.app"],
                "methods": ["GET", "PUT", "POST", "HEAD"],
                "headers": ["content-type", "x-upload-id"],
            },
            "exposeHeaders": ["ETag"],
            "maxAgeSeconds": 3600,
        }
    ]
    uploads.lifecycle = [
        *default_lifecycle(),
        {
            "id": "expire-tmp",
            "conditions": {"prefix": "tmp/"},
            "enabled": True,
            "deleteObjectsTransition": {"condition": {"type": "Age", "maxAge": 7 * 86_400}},
        },
    ]
    zone = state.zones.by_name("spacevision.app")
    if zone is not None:
        uploads.domains["uploads.spacevision.app"] = {
            "domain": "uploads.spacevision.app",
            "enabled": True,
            "status": {"ownership": "active", "ssl": "active"},
            "minTLS": "1.2",
            "zoneId": zone["id"],
            "zoneName": zone["name"],
        }
    uploads.notifications[IMAGE_PIPELINE_QUEUE] = {
        "detail_id": new_id(),
        "rules": [
            {
                "ruleId": new_id(),
                "createdAt": _iso(now),
                "actions": ["PutObject", "CompleteMultipartUpload"],
                "prefix": "raw/",
                "suffix": None,
                "description": "New uploads to the thumbnailer",
            }
        ],
    }
    backups = r2.add("backups", now, location="weur", storage_class="InfrequentAccess")
    backups.stored_bytes, backups.object_count = 12 * GB, 240
    assets = r2.add("public-assets", now, location="enam")
    assets.stored_bytes, assets.object_count = int(0.85 * GB), 1_240
    assets.managed_enabled = True
