"""R2 bucket configuration bodies: CORS, lifecycle, custom domains, r2.dev, Sippy, notifications.

Request bodies are validated here (pydantic, unknown fields refused) and turned into the
camelCase JSON the API answers with. The wire format is camelCase — the SDK maps
``max_age_seconds`` to ``maxAgeSeconds``, ``zone_id`` to ``zoneId`` and so on through
``PropertyInfo(alias=…)`` [V: cloudflare-python 5.9.0 ``types/r2/buckets``]; the schema subset
kept the SDK's snake_case for nested fields, so both spellings are accepted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from cfsim.envelope import CfHttpError

# [I] R2 answers configuration mistakes as InvalidArgument; its numeric code is not in the
# public error table, so the simulator uses 10040 for every R2 validation failure.
CODE_INVALID_ARGUMENT = 10040

MAX_CORS_RULES = 100
MAX_LIFECYCLE_RULES = 1000
MAX_CUSTOM_DOMAINS = 50
DEFAULT_ABORT_RULE_ID = "Default Multipart Abort Rule"
SEVEN_DAYS_S = 7 * 86_400

_ORIGIN = re.compile(r"^https?://[^/\s]+$")
CorsMethod = Literal["GET", "PUT", "POST", "DELETE", "HEAD"]
NotificationAction = Literal[
    "PutObject",
    "CopyObject",
    "DeleteObject",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "LifecycleDeletion",
]


def _alias(camel: str, snake: str) -> Any:
    return AliasChoices(camel, snake)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CorsAllowed(_Body):
    """Origins, methods and request headers a CORS rule allows."""

    origins: list[str] = Field(min_length=1)
    methods: list[CorsMethod] = Field(min_length=1)
    headers: list[str] = Field(default_factory=list)

    @field_validator("origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin != "*" and not (_ORIGIN.match(origin) and origin.count("*") <= 1):
                raise ValueError(f"{origin!r} is not '*' or an http(s) origin")
        return origins


class CorsRule(_Body):
    """One CORS rule."""

    id: str | None = None
    allowed: CorsAllowed
    expose_headers: list[str] = Field(
        default_factory=list, validation_alias=_alias("exposeHeaders", "expose_headers")
    )
    max_age_seconds: int | None = Field(
        default=None, ge=0, le=86_400, validation_alias=_alias("maxAgeSeconds", "max_age_seconds")
    )

    def as_json(self) -> dict[str, Any]:
        """The rule as ``GET …/cors`` returns it."""
        rule: dict[str, Any] = {
            "allowed": {
                "origins": self.allowed.origins,
                "methods": self.allowed.methods,
                "headers": self.allowed.headers,
            },
            "exposeHeaders": self.expose_headers,
        }
        if self.id is not None:
            rule["id"] = self.id
        if self.max_age_seconds is not None:
            rule["maxAgeSeconds"] = self.max_age_seconds
        return rule


class CorsBody(_Body):
    """Body of ``PUT …/cors``."""

    rules: list[CorsRule] = Field(default_factory=list, max_length=MAX_CORS_RULES)


class AgeCondition(_Body):
    """Applies once an object is ``maxAge`` seconds old."""

    type: Literal["Age"]
    max_age: int = Field(gt=0, validation_alias=_alias("maxAge", "max_age"))

    def as_json(self) -> dict[str, Any]:
        """Wire form."""
        return {"type": "Age", "maxAge": self.max_age}


class DateCondition(_Body):
    """Applies from a date on."""

    type: Literal["Date"]
    date: datetime

    def as_json(self) -> dict[str, Any]:
        """Wire form (RFC 3339, UTC)."""
        when = self.date if self.date.tzinfo else self.date.replace(tzinfo=UTC)
        return {"type": "Date", "date": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


Condition = Annotated[AgeCondition | DateCondition, Field(discriminator="type")]


class DeleteTransition(_Body):
    """Delete objects once the condition holds."""

    condition: Condition


class AbortTransition(_Body):
    """Abort incomplete multipart uploads after an age."""

    condition: AgeCondition


class StorageClassTransition(_Body):
    """Move objects to Infrequent Access once the condition holds."""

    condition: Condition
    storage_class: Literal["InfrequentAccess"] = Field(
        validation_alias=_alias("storageClass", "storage_class")
    )


class RuleConditions(_Body):
    """Which objects a lifecycle rule applies to."""

    prefix: str


class LifecycleRule(_Body):
    """One object lifecycle rule."""

    id: str = Field(min_length=1)
    conditions: RuleConditions
    enabled: bool
    abort_multipart_uploads_transition: AbortTransition | None = Field(
        default=None,
        validation_alias=_alias(
            "abortMultipartUploadsTransition", "abort_multipart_uploads_transition"
        ),
    )
    delete_objects_transition: DeleteTransition | None = Field(
        default=None,
        validation_alias=_alias("deleteObjectsTransition", "delete_objects_transition"),
    )
    storage_class_transitions: list[StorageClassTransition] | None = Field(
        default=None,
        validation_alias=_alias("storageClassTransitions", "storage_class_transitions"),
    )

    def as_json(self) -> dict[str, Any]:
        """The rule as ``GET …/lifecycle`` returns it."""
        rule: dict[str, Any] = {
            "id": self.id,
            "conditions": {"prefix": self.conditions.prefix},
            "enabled": self.enabled,
        }
        if self.abort_multipart_uploads_transition is not None:
            condition = self.abort_multipart_uploads_transition.condition.as_json()
            rule["abortMultipartUploadsTransition"] = {"condition": condition}
        if self.delete_objects_transition is not None:
            condition = self.delete_objects_transition.condition.as_json()
            rule["deleteObjectsTransition"] = {"condition": condition}
        if self.storage_class_transitions:
            rule["storageClassTransitions"] = [
                {"condition": t.condition.as_json(), "storageClass": t.storage_class}
                for t in self.storage_class_transitions
            ]
        return rule


class LifecycleBody(_Body):
    """Body of ``PUT …/lifecycle``: the complete rule set (it replaces the previous one)."""

    rules: list[LifecycleRule] = Field(default_factory=list, max_length=MAX_LIFECYCLE_RULES)


def check_lifecycle(body: LifecycleBody) -> list[dict[str, Any]]:
    """Check rules the schema cannot express and return them in wire form.

    Rule ids are unique, and every rule does something (a transition of some kind).
    """
    seen: set[str] = set()
    for rule in body.rules:
        if rule.id in seen:
            raise CfHttpError(
                400, CODE_INVALID_ARGUMENT, f"Duplicate lifecycle rule id {rule.id!r}"
            )
        seen.add(rule.id)
        if not (
            rule.abort_multipart_uploads_transition
            or rule.delete_objects_transition
            or rule.storage_class_transitions
        ):
            raise CfHttpError(
                400,
                CODE_INVALID_ARGUMENT,
                f"Lifecycle rule {rule.id!r} has no transition: set "
                "deleteObjectsTransition, storageClassTransitions or "
                "abortMultipartUploadsTransition",
            )
    return [rule.as_json() for rule in body.rules]


def default_lifecycle() -> list[dict[str, Any]]:
    """The rule every new bucket gets: abort incomplete multipart uploads after 7 days [I]."""
    return [
        {
            "id": DEFAULT_ABORT_RULE_ID,
            "conditions": {"prefix": ""},
            "enabled": True,
            "abortMultipartUploadsTransition": {
                "condition": {"type": "Age", "maxAge": SEVEN_DAYS_S}
            },
        }
    ]


TlsVersion = Literal["1.0", "1.1", "1.2", "1.3"]


class CustomDomainBody(_Body):
    """Body of ``POST …/domains/custom``."""

    domain: str = Field(min_length=3, max_length=253)
    zone_id: str | None = Field(default=None, validation_alias=_alias("zoneId", "zone_id"))
    enabled: bool = True
    min_tls: TlsVersion = Field(default="1.0", validation_alias=_alias("minTLS", "min_tls"))
    ciphers: list[str] | None = None


class CustomDomainUpdate(_Body):
    """Body of ``PUT …/domains/custom/{domain}``."""

    enabled: bool | None = None
    min_tls: TlsVersion | None = Field(default=None, validation_alias=_alias("minTLS", "min_tls"))
    ciphers: list[str] | None = None


class ManagedDomainBody(_Body):
    """Body of ``PUT …/domains/managed``."""

    enabled: bool


class SippyAws(_Body):
    """An S3 source bucket."""

    provider: Literal["aws"]
    bucket: str = Field(min_length=1)
    region: str = Field(min_length=1)
    access_key_id: str = Field(
        min_length=1, validation_alias=_alias("accessKeyId", "access_key_id")
    )
    secret_access_key: str = Field(
        min_length=1, validation_alias=_alias("secretAccessKey", "secret_access_key")
    )


class SippyGcs(_Body):
    """A Google Cloud Storage source bucket."""

    provider: Literal["gcs"]
    bucket: str = Field(min_length=1)
    client_email: str = Field(min_length=1, validation_alias=_alias("clientEmail", "client_email"))
    private_key: str = Field(min_length=1, validation_alias=_alias("privateKey", "private_key"))


class SippyDestination(_Body):
    """The R2 credentials Sippy writes with."""

    provider: Literal["r2"] = "r2"
    access_key_id: str = Field(
        min_length=1, validation_alias=_alias("accessKeyId", "access_key_id")
    )
    secret_access_key: str = Field(
        min_length=1, validation_alias=_alias("secretAccessKey", "secret_access_key")
    )


class SippyBody(_Body):
    """Body of ``PUT …/sippy`` (secrets are kept out of every answer)."""

    source: Annotated[SippyAws | SippyGcs, Field(discriminator="provider")]
    destination: SippyDestination

    def as_json(self, account_id: str, bucket: str) -> dict[str, Any]:
        """The configuration as ``GET …/sippy`` returns it."""
        region = self.source.region if isinstance(self.source, SippyAws) else None
        return {
            "enabled": True,
            "source": {
                "provider": self.source.provider,
                "bucket": self.source.bucket,
                "region": region,
            },
            "destination": {
                "provider": "r2",
                "account": account_id,
                "bucket": bucket,
                "accessKeyId": self.destination.access_key_id,
            },
        }


class NotificationRule(_Body):
    """Which object events go to the queue."""

    actions: list[NotificationAction] = Field(min_length=1)
    prefix: str | None = None
    suffix: str | None = None
    description: str | None = None

    @field_validator("actions")
    @classmethod
    def _unique(cls, actions: list[str]) -> list[str]:
        if len(set(actions)) != len(actions):
            raise ValueError("actions must not repeat")
        return actions


class NotificationBody(_Body):
    """Body of ``PUT …/configuration/queues/{queue_id}``."""

    rules: list[NotificationRule] = Field(min_length=1)
