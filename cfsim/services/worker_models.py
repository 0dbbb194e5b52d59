"""Workers scripts, versions and deployments as plain data, with the rules that govern them.

Pure logic: no clock, no randomness and no I/O inside; callers pass ``now`` (epoch seconds)
and a random source. :mod:`cfsim.services.workers` wires this to HTTP.

Facts and their sources ([V] verified, [I] inferred):

- A Worker upload creates a version and a deployment sending 100 % of traffic to it; a
  version upload (``POST …/versions``) creates a version only [V: wrangler ``versions upload``
  vs ``deploy``].
- A deployment has ``strategy: percentage`` and one or two versions whose percentages sum to
  100 [V: schema, wrangler ``versions deploy``].
- Secrets are version bindings (``secret_text``); deploying a version whose secrets differ from
  the latest version's fails with 10220 "… The following secrets have changed: A, B" unless
  ``?force=true`` [V: wrangler ``versions/api.ts`` parses exactly that sentence].
- The latest deployment cannot be deleted [V: SDK docstring of ``deployments.delete``].
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Binding types whose value is a secret: stored as a digest, never returned.
SECRET_TYPES = frozenset({"secret_text", "secret_key"})
PERCENT_TOLERANCE = 1e-6


def iso_at(ts: float) -> str:
    """Format epoch seconds as Cloudflare does: RFC 3339, microseconds, ``Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def digest(data: bytes | str) -> str:
    """SHA-256 hex of ``data`` (etags and secret fingerprints)."""
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Module:
    """One uploaded part of a Worker: a JS module, WASM, source map, text or data."""

    name: str
    content: bytes
    content_type: str


@dataclass
class Version:
    """An immutable snapshot of a Worker's code and configuration."""

    id: str
    number: int
    created_ts: float
    modules: tuple[Module, ...]
    main_module: str
    bindings: list[dict[str, Any]]
    secrets: dict[str, str] = field(default_factory=dict)
    compatibility_date: str | None = None
    compatibility_flags: list[str] = field(default_factory=list)
    limits: dict[str, Any] = field(default_factory=dict)
    placement_mode: str | None = None
    service_worker: bool = False
    source: str = "api"
    author_email: str = ""
    author_id: str = ""
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        """Content hash over every module (what Cloudflare calls the script etag)."""
        return digest(b"".join(m.name.encode() + m.content for m in self.modules))

    @property
    def main(self) -> Module:
        """The entry module (``main_module`` or ``body_part``)."""
        return next(m for m in self.modules if m.name == self.main_module)

    def public_bindings(self) -> list[dict[str, Any]]:
        """Bindings as the API shows them: secret values never leave the store."""
        return [
            {k: v for k, v in b.items() if not (b["type"] in SECRET_TYPES and k == "text")}
            for b in self.bindings
        ]

    def metadata(self) -> dict[str, Any]:
        """The ``metadata`` object of a version item."""
        created = iso_at(self.created_ts)
        return {
            "author_email": self.author_email,
            "author_id": self.author_id,
            "created_on": created,
            "modified_on": created,
            "source": self.source,
            "hasPreview": True,
        }

    def item_short(self) -> dict[str, Any]:
        """A version as ``GET …/versions`` lists it."""
        return {
            "id": self.id,
            "number": self.number,
            "metadata": self.metadata(),
            "annotations": dict(self.annotations),
        }

    def item_full(self, last_deployed_from: str) -> dict[str, Any]:
        """A version as ``GET …/versions/{id}`` shows it, with its resources."""
        script: dict[str, Any] = {
            "etag": self.etag,
            "handlers": ["fetch"],
            "last_deployed_from": last_deployed_from,
        }
        if self.placement_mode:
            script["placement_mode"] = self.placement_mode
        runtime: dict[str, Any] = {
            "compatibility_flags": list(self.compatibility_flags),
            "usage_model": "standard",
            "limits": dict(self.limits),
        }
        if self.compatibility_date:
            runtime["compatibility_date"] = self.compatibility_date
        return {
            **self.item_short(),
            "resources": {
                "bindings": self.public_bindings(),
                "script": script,
                "script_runtime": runtime,
            },
        }


@dataclass
class Deployment:
    """Which versions serve a Worker's traffic, and in what share."""

    id: str
    created_ts: float
    versions: list[tuple[str, float]]
    source: str = "api"
    author_email: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    strategy: str = "percentage"

    def as_dict(self) -> dict[str, Any]:
        """The deployment object of the Deployments API."""
        return {
            "id": self.id,
            "source": self.source,
            "strategy": self.strategy,
            "author_email": self.author_email,
            "created_on": iso_at(self.created_ts),
            "annotations": dict(self.annotations),
            "versions": [{"version_id": v, "percentage": p} for v, p in self.versions],
        }


@dataclass
class Script:
    """A Worker: its versions (oldest first), deployments (oldest first) and settings."""

    name: str
    tag: str
    created_ts: float
    modified_ts: float
    versions: list[Version] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    logpush: bool = False
    tags: list[str] = field(default_factory=list)
    tail_consumers: list[dict[str, Any]] = field(default_factory=list)
    subdomain_enabled: bool = True
    previews_enabled: bool = True
    last_deployed_from: str = "api"

    def version(self, version_id: str) -> Version | None:
        """The version with ``version_id``, if it belongs to this script."""
        return next((v for v in self.versions if v.id == version_id), None)

    def latest_version(self) -> Version:
        """The newest version (highest number)."""
        return self.versions[-1]

    def active_deployment(self) -> Deployment | None:
        """The latest deployment: the one actively serving traffic."""
        return self.deployments[-1] if self.deployments else None

    def deployment(self, deployment_id: str) -> Deployment | None:
        """The deployment with ``deployment_id``, if it belongs to this script."""
        return next((d for d in self.deployments if d.id == deployment_id), None)

    def serving_version(self) -> Version:
        """The version with the largest share of the active deployment (the newest if none)."""
        active = self.active_deployment()
        if active is None:
            return self.latest_version()
        version_id = max(active.versions, key=lambda vp: vp[1])[0]
        return self.version(version_id) or self.latest_version()

    def as_dict(self) -> dict[str, Any]:
        """The script object of ``GET …/workers/scripts``."""
        served = self.serving_version()
        body: dict[str, Any] = {
            "id": self.name,
            "tag": self.tag,
            "etag": served.etag,
            "handlers": ["fetch"],
            "created_on": iso_at(self.created_ts),
            "modified_on": iso_at(self.modified_ts),
            "logpush": self.logpush,
            "has_assets": False,
            "has_modules": not served.service_worker,
            "compatibility_date": served.compatibility_date,
            "compatibility_flags": list(served.compatibility_flags),
            "last_deployed_from": self.last_deployed_from,
            "tags": list(self.tags),
        }
        active = self.active_deployment()
        if active is not None:
            body["deployment_id"] = active.id
        if served.placement_mode:
            body["placement_mode"] = served.placement_mode
        if self.tail_consumers:
            body["tail_consumers"] = [dict(c) for c in self.tail_consumers]
        return body

    def settings(self) -> dict[str, Any]:
        """Script and version settings as ``GET …/settings`` shows them (latest version)."""
        latest = self.latest_version()
        body: dict[str, Any] = {
            "bindings": latest.public_bindings(),
            "compatibility_flags": list(latest.compatibility_flags),
            "logpush": self.logpush,
            "tags": list(self.tags),
            "tail_consumers": [dict(c) for c in self.tail_consumers],
        }
        if latest.compatibility_date:
            body["compatibility_date"] = latest.compatibility_date
        if latest.limits:
            body["limits"] = dict(latest.limits)
        if latest.placement_mode:
            body["placement"] = {"mode": latest.placement_mode}
        return body


class DeploymentRejected(ValueError):
    """A deployment request breaks a rule; ``kind`` says which (for the error code)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_split(versions: Sequence[tuple[str, float]], known: Mapping[str, Version]) -> None:
    """Validate the versions of a percentage deployment, raising :class:`DeploymentRejected`.

    One or two distinct versions of this script, each 0.01..100 %, summing to 100.
    """
    if not 1 <= len(versions) <= 2:
        raise DeploymentRejected(
            "split", f"A deployment must have 1 or 2 versions, got {len(versions)}."
        )
    ids = [v for v, _ in versions]
    if len(set(ids)) != len(ids):
        raise DeploymentRejected("split", "Each version can appear only once in a deployment.")
    for version_id, _ in versions:
        if version_id not in known:
            raise DeploymentRejected("unknown_version", f"Version {version_id} does not exist.")
    total = sum(p for _, p in versions)
    if abs(total - 100.0) > PERCENT_TOLERANCE:
        raise DeploymentRejected("split", f"Version percentages must sum to 100, got {total:g}.")


def changed_secrets(target: Version, latest: Version) -> list[str]:
    """Names of secrets that differ between ``target`` and the latest version (sorted)."""
    names = set(target.secrets) | set(latest.secrets)
    return sorted(n for n in names if target.secrets.get(n) != latest.secrets.get(n))


def secret_change_message(version_id: str, names: Sequence[str]) -> str:
    """The 10220 message; wrangler splits the names after "have changed: " on ", "."""
    return (
        f"A secret has changed since version {version_id} was deployed. "
        "Please redeploy with `?force=true` to deploy anyway. "
        f"The following secrets have changed: {', '.join(names)}"
    )


def triggered_by(versions: Sequence[tuple[str, float]], script: Script) -> str:
    """``workers/triggered_by`` for a deployment made through the Deployments API.

    A single version at 100 % that is older than what currently serves is a rollback;
    anything else is a plain deployment [I: annotation values seen in the dashboard].
    """
    if len(versions) == 1:
        target = script.version(versions[0][0])
        serving = script.serving_version()
        if target is not None and target.number < serving.number:
            return "rollback"
    return "deployment"


def pick_version(deployment: Deployment, rand: Callable[[], float]) -> str:
    """Choose the version that serves one request, weighted by percentage."""
    point = rand() * 100.0
    running = 0.0
    for version_id, percentage in deployment.versions:
        running += percentage
        if point < running:
            return version_id
    return deployment.versions[-1][0]


def merge_bindings(
    new: Sequence[Mapping[str, Any]], previous: Version | None, keep_types: Sequence[str]
) -> list[dict[str, Any]]:
    """Apply ``keep_bindings`` and ``inherit`` bindings against the previous version.

    ``keep_bindings: ["secret_text"]`` keeps every previous binding of those types that the
    upload does not redefine; ``{"type": "inherit", "name": X}`` keeps binding X as it was.
    """
    before = {b["name"]: b for b in previous.bindings} if previous else {}
    result: list[dict[str, Any]] = []
    for binding in new:
        if binding["type"] == "inherit":
            kept = before.get(binding["name"])
            if kept is None:
                raise DeploymentRejected(
                    "binding", f"Cannot inherit binding {binding['name']!r}: it does not exist."
                )
            result.append(dict(kept))
        else:
            result.append(dict(binding))
    names = {b["name"] for b in result}
    for name, binding in before.items():
        if name not in names and binding["type"] in keep_types:
            result.append(dict(binding))
    return result


def secrets_of(bindings: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Fingerprints of the secret bindings (name → digest of the value)."""
    return {
        b["name"]: digest(str(b.get("text", ""))) for b in bindings if b["type"] in SECRET_TYPES
    }
