"""D1 export and import: polling tasks, bookmarks and the simulator's signed URLs.

The real flows hand out presigned R2 URLs; the simulator serves its own under
``/__r2-signed/`` (no API auth, the token is the capability, valid one hour), so clients
download and upload exactly as they would against R2.

Export [V: cloudflare-api.md §6, wrangler ``d1/export.ts``]: the first ``POST …/export``
starts a task keyed by the current bookmark and answers ``status: active`` (HTTP 202, as the
schema describes it); the client re-POSTs with ``current_bookmark`` until ``complete``, which
carries ``result.filename`` and ``result.signed_url``.

Import [V: wrangler ``d1/execute.ts``]: ``init`` (etag = md5) answers ``upload_url`` and
``filename`` (or, when that file was already uploaded, starts ingesting it at once);
``PUT upload_url`` answers the md5 as ``ETag``; ``ingest`` starts the task; ``poll`` until
``complete``, when the SQL has really been applied.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

EXPORT_ACTIVE_POLLS = 2
IMPORT_ACTIVE_POLLS = 2
SIGNED_URL_TTL_S = 3600.0
SIGNED_PREFIX = "/__r2-signed"


def md5_hex(data: bytes) -> str:
    """The md5 of ``data`` as lowercase hex (D1's import etag, R2's ETag)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class SignedObject:
    """What a signed URL points at: an export dump to GET or an import file to PUT."""

    kind: Literal["export", "import"]
    database_id: str
    filename: str
    expires_at: float
    body: bytes = b""


@dataclass
class SignedObjects:
    """Signed-URL tokens handed out by export and import."""

    objects: dict[str, SignedObject] = field(default_factory=dict)

    def issue(self, now: float, obj: SignedObject) -> str:
        """Register ``obj`` and return the URL path that reaches it (expired ones are dropped)."""
        for stale in [t for t, o in self.objects.items() if o.expires_at <= now]:
            del self.objects[stale]
        token = secrets.token_urlsafe(24)
        self.objects[token] = obj
        return f"{SIGNED_PREFIX}/d1-{obj.kind}/{token}"

    def find(self, kind: str, token: str) -> SignedObject | None:
        """The object behind a token of the given kind, expired or not."""
        obj = self.objects.get(token)
        return obj if obj is not None and obj.kind == kind else None


@dataclass
class ExportTask:
    """An export in progress (or done) at one bookmark."""

    at_bookmark: str
    filename: str
    dump: bytes
    polls_left: int = EXPORT_ACTIVE_POLLS
    signed_path: str | None = None
    signed_expires_at: float = 0.0

    def active(self) -> dict[str, Any]:
        """The polling answer while the dump is being "uploaded"."""
        part = EXPORT_ACTIVE_POLLS - self.polls_left + 1
        return {
            "success": True,
            "type": "export",
            "status": "active",
            "at_bookmark": self.at_bookmark,
            "messages": [f"Generating {self.filename}" if part == 1 else f"Uploaded part {part}"],
        }

    def complete(self, signed_url: str) -> dict[str, Any]:
        """The final answer with the download URL."""
        return {
            "success": True,
            "type": "export",
            "status": "complete",
            "at_bookmark": self.at_bookmark,
            "messages": [f"Uploaded part {EXPORT_ACTIVE_POLLS + 1}", "Export complete"],
            "result": {"filename": self.filename, "signed_url": signed_url},
        }


@dataclass
class ImportTask:
    """An import being ingested from an uploaded file."""

    at_bookmark: str
    filename: str
    sql: str
    polls_left: int = IMPORT_ACTIVE_POLLS
    final: dict[str, Any] | None = None

    def active(self) -> dict[str, Any]:
        """The polling answer while the file is being processed."""
        return {
            "success": True,
            "type": "import",
            "status": "active",
            "at_bookmark": self.at_bookmark,
            "messages": [f"Processing {self.filename}"],
        }


def import_failure(message: str, at_bookmark: str | None = None) -> dict[str, Any]:
    """The answer for an import that cannot proceed (wrangler shows ``error``)."""
    result: dict[str, Any] = {
        "success": False,
        "type": "import",
        "status": "error",
        "error": message,
        "messages": [],
    }
    if at_bookmark is not None:
        result["at_bookmark"] = at_bookmark
    return result
