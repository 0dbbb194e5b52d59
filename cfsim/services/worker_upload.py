"""Decoding Worker uploads: multipart forms, the ``metadata`` part and its bindings.

Pure functions over bytes, so the parsing can be tested without a server. The request body is
read as bytes (the contract recorder has already consumed the stream) and parsed with the
standard library's MIME parser.

The metadata fields are those of Cloudflare's multipart upload metadata [V: schema
``workers_script_upload``, ``workers_version-post``; docs "multipart upload metadata"]; unknown
fields are refused with their names, as the rest of the simulator does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cfsim.envelope import describe_validation_error
from cfsim.services.worker_models import Module

# Content types a module part may have [V: schema encoding of ``<any part name>``].
MODULE_TYPES = frozenset(
    {
        "application/javascript+module",
        "text/javascript+module",
        "application/javascript",
        "text/javascript",
        "text/x-python",
        "text/x-python-requirement",
        "application/wasm",
        "text/plain",
        "application/octet-stream",
        "application/source-map",
    }
)

# Required fields per binding type (the rest of a binding is kept as sent).
_BINDING_FIELDS: dict[str, tuple[str, ...]] = {
    "kv_namespace": ("namespace_id",),
    "r2_bucket": ("bucket_name",),
    "d1": ("id",),
    "service": ("service",),
    "queue": ("queue_name",),
    "durable_object_namespace": ("class_name",),
    "plain_text": ("text",),
    "secret_text": ("text",),
    "json": ("json",),
    "analytics_engine": ("dataset",),
    "dispatch_namespace": ("namespace",),
    "mtls_certificate": ("certificate_id",),
}
_FREE_TYPES = frozenset({"inherit", "ai", "browser", "version_metadata", "assets", "hyperdrive"})


class UploadError(ValueError):
    """An upload Cloudflare would refuse, with the message it would give."""


class Binding(BaseModel):
    """One binding of the metadata: ``type`` and ``name`` plus the fields its type needs."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=255)

    @model_validator(mode="after")
    def _has_type_fields(self) -> Binding:
        extra = self.model_extra or {}
        if self.type not in _BINDING_FIELDS and self.type not in _FREE_TYPES:
            raise ValueError(f"unknown binding type {self.type!r}")
        missing = [f for f in _BINDING_FIELDS.get(self.type, ()) if f not in extra]
        if missing:
            raise ValueError(f"binding {self.name!r} of type {self.type} needs {missing}")
        return self


class Annotations(BaseModel):
    """Version annotations a client may set [V: schema ``workers_version-post``]."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    message: str | None = Field(default=None, alias="workers/message", max_length=50)
    tag: str | None = Field(default=None, alias="workers/tag", max_length=20)

    def as_dict(self) -> dict[str, str]:
        """The annotations as stored (only those given)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class Placement(BaseModel):
    """Smart placement settings."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["smart"] | None = None


class Limits(BaseModel):
    """Per-invocation limits (``cpu_ms`` up to 5 minutes [V: changelog 2025-03-25])."""

    model_config = ConfigDict(extra="forbid")

    cpu_ms: int | None = Field(default=None, ge=1, le=300_000)


class TailConsumer(BaseModel):
    """A Tail Worker receiving this Worker's events."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1)
    environment: str | None = None
    namespace: str | None = None


class UploadMetadata(BaseModel):
    """The ``metadata`` part of a script or version upload."""

    model_config = ConfigDict(extra="forbid")

    main_module: str | None = None
    body_part: str | None = None
    bindings: list[Binding] = Field(default_factory=list)
    keep_bindings: list[str] = Field(default_factory=list)
    compatibility_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    compatibility_flags: list[str] = Field(default_factory=list)
    usage_model: Literal["bundled", "unbound", "standard"] | None = None
    logpush: bool | None = None
    tags: list[str] | None = None
    tail_consumers: list[TailConsumer] | None = None
    placement: Placement | None = None
    limits: Limits | None = None
    migrations: dict[str, Any] | None = None
    observability: dict[str, Any] | None = None
    annotations: Annotations | None = None
    keep_assets: bool | None = None
    assets: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_entry_point(self) -> UploadMetadata:
        if self.main_module and self.body_part:
            raise ValueError(
                "give main_module (ES modules) or body_part (service worker), not both"
            )
        return self


class SettingsPatch(BaseModel):
    """The ``settings`` part of ``PATCH …/settings``; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    bindings: list[Binding] | None = None
    compatibility_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    compatibility_flags: list[str] | None = None
    limits: Limits | None = None
    logpush: bool | None = None
    placement: Placement | None = None
    tags: list[str] | None = None
    tail_consumers: list[TailConsumer] | None = None
    usage_model: Literal["bundled", "unbound", "standard"] | None = None
    migrations: dict[str, Any] | None = None
    observability: dict[str, Any] | None = None


@dataclass(frozen=True)
class Part:
    """One part of a multipart form."""

    name: str
    filename: str | None
    content_type: str
    data: bytes


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """Split a ``multipart/form-data`` body into its parts.

    Raises :class:`UploadError` when the body is not a well-formed form.
    """
    if not content_type.lower().startswith("multipart/form-data"):
        raise UploadError("Expected a multipart/form-data body.")
    if "boundary=" not in content_type:
        raise UploadError("The multipart/form-data Content-Type has no boundary.")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise UploadError("The multipart/form-data body could not be parsed.")
    parts: list[Part] = []
    payload = message.get_payload()
    assert isinstance(payload, list)
    for sub in payload:
        assert isinstance(sub, Message)
        name = sub.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise UploadError("Every form part needs a name in its Content-Disposition.")
        data = sub.get_payload(decode=True)
        filename = sub.get_filename()
        parts.append(
            Part(
                name=name,
                filename=filename,
                content_type=sub.get_content_type() if sub.get("content-type") else "",
                data=data if isinstance(data, bytes) else b"",
            )
        )
    if not parts:
        raise UploadError("The multipart/form-data body has no parts.")
    return parts


def decode_json_part(part: Part, model: type[Any]) -> Any:
    """Decode a JSON form part into ``model``, naming every invalid field."""
    try:
        data = json.loads(part.data)
    except (ValueError, UnicodeDecodeError) as err:
        raise UploadError(f"The {part.name!r} part is not valid JSON: {err}") from err
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise UploadError(f"Invalid {part.name!r} part: " + describe_validation_error(err)) from err


def find_part(parts: list[Part], name: str) -> Part | None:
    """The first part called ``name``."""
    return next((p for p in parts if p.name == name), None)


def module_parts(parts: list[Part], skip: frozenset[str]) -> tuple[Module, ...]:
    """Every part that is a module (not metadata), checked for an allowed content type."""
    modules: list[Module] = []
    for part in parts:
        if part.name in skip:
            continue
        ctype = part.content_type or "application/javascript+module"
        if ctype not in MODULE_TYPES:
            raise UploadError(
                f"Part {part.name!r} has unsupported Content-Type {ctype!r}; "
                f"use one of: {', '.join(sorted(MODULE_TYPES))}."
            )
        modules.append(
            Module(name=part.filename or part.name, content=part.data, content_type=ctype)
        )
    return tuple(modules)


@dataclass(frozen=True)
class Upload:
    """A decoded upload: its metadata and modules, the entry module checked."""

    metadata: UploadMetadata
    modules: tuple[Module, ...]
    main_module: str
    service_worker: bool


def decode_upload(content_type: str, body: bytes) -> Upload:
    """Decode a script or version upload (multipart with ``metadata``, or a raw script).

    A raw ``application/javascript`` body is a service-worker script with no bindings
    [V: schema lists ``application/javascript`` and ``text/javascript`` request bodies].
    """
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in {"application/javascript", "text/javascript"}:
        if not body.strip():
            raise UploadError("No script was uploaded: the body is empty.")
        module = Module("worker.js", body, "application/javascript")
        return Upload(UploadMetadata(body_part="worker.js"), (module,), "worker.js", True)
    parts = parse_multipart(content_type, body)
    meta_part = find_part(parts, "metadata")
    if meta_part is None:
        raise UploadError("The upload needs a 'metadata' part describing the script.")
    metadata: UploadMetadata = decode_json_part(meta_part, UploadMetadata)
    modules = module_parts(parts, frozenset({"metadata"}))
    entry = metadata.main_module or metadata.body_part
    if not entry:
        raise UploadError("metadata needs main_module (ES modules) or body_part (service worker).")
    if not modules:
        raise UploadError("No modules were uploaded: at least one module part is required.")
    if entry not in {m.name for m in modules}:
        raise UploadError(
            f"The entry module {entry!r} named in metadata is not among the uploaded parts."
        )
    return Upload(metadata, modules, entry, service_worker=metadata.body_part is not None)


def encode_multipart(modules: tuple[Module, ...], boundary: str) -> bytes:
    """Render modules as a ``multipart/form-data`` body (``content/v2`` downloads)."""
    chunks: list[bytes] = []
    for module in modules:
        chunks.append(
            (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="{module.name}"; '
                f'filename="{module.name}"\r\n'
                f"Content-Type: {module.content_type}\r\n\r\n"
            ).encode()
        )
        chunks.append(module.content + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks)
