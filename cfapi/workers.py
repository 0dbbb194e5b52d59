"""Workers: scripts, versions, deployments (and rollbacks), settings, subdomains and tails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from pydantic import Field

from cfapi.models import CfModel
from cfapi.pagination import page_items
from cfapi.service import Part, Service, json_part, multipart, segment

MODULE_TYPE = "application/javascript+module"
# A deployment annotation's workers/message is limited to 50 characters [V: schema maxLength].
MESSAGE_MAX = 50


class WorkerScript(CfModel):
    """A Worker script as the scripts list and uploads describe it."""

    id: str | None = None
    etag: str | None = None
    created_on: str | None = None
    modified_on: str | None = None
    usage_model: str | None = None
    logpush: bool | None = None
    placement_mode: str | None = None
    tail_consumers: list[dict[str, Any]] | None = None


class ScriptContent(CfModel):
    """A script's code as downloaded: its content type and the raw bytes."""

    content_type: str
    body: bytes


class ScriptSettings(CfModel):
    """A script's settings (bindings, compatibility, limits, logpush…)."""

    bindings: list[dict[str, Any]] | None = None
    compatibility_date: str | None = None
    compatibility_flags: list[str] | None = None
    limits: dict[str, Any] | None = None
    logpush: bool | None = None
    placement: dict[str, Any] | None = None
    tags: list[str] | None = None
    tail_consumers: list[dict[str, Any]] | None = None
    usage_model: str | None = None


class VersionMetadata(CfModel):
    """Who uploaded a version, when, and from where."""

    author_email: str | None = None
    author_id: str | None = None
    created_on: str | None = None
    modified_on: str | None = None
    source: str | None = None


class WorkerVersion(CfModel):
    """One uploaded version of a script."""

    id: str
    number: int | None = None
    metadata: VersionMetadata | None = None
    annotations: dict[str, Any] | None = None
    resources: dict[str, Any] | None = None


class DeploymentVersion(CfModel):
    """A version and the share of traffic it gets in a deployment."""

    version_id: str
    percentage: float


class Deployment(CfModel):
    """A deployment: which versions serve traffic, in what split."""

    id: str | None = None
    source: str | None = None
    strategy: str | None = None
    author_email: str | None = None
    created_on: str | None = None
    annotations: dict[str, Any] | None = None
    versions: list[DeploymentVersion] = Field(default_factory=list)

    @property
    def message(self) -> str | None:
        """The ``workers/message`` annotation, if any."""
        value = (self.annotations or {}).get("workers/message")
        return value if isinstance(value, str) else None


class AccountSubdomain(CfModel):
    """The account's ``<subdomain>.workers.dev``."""

    subdomain: str


class ScriptSubdomain(CfModel):
    """Whether a script is served on workers.dev (and its previews)."""

    enabled: bool
    previews_enabled: bool | None = None


class TailInfo(CfModel):
    """A tail session: its id, the WebSocket URL (a capability) and when it expires."""

    id: str
    url: str | None = None
    expires_at: str | None = None


def deployment_body(versions: Sequence[tuple[str, float]], message: str | None) -> dict[str, Any]:
    """The body of ``POST …/deployments``: percentage strategy, optional message."""
    if not versions:
        raise ValueError("a deployment needs at least one version")
    total = sum(p for _, p in versions)
    if abs(total - 100) > 1e-9:
        raise ValueError(f"version percentages must add up to 100, not {total:g}")
    body: dict[str, Any] = {
        "strategy": "percentage",
        "versions": [{"version_id": v, "percentage": p} for v, p in versions],
    }
    if message is not None:
        body["annotations"] = {"workers/message": message[:MESSAGE_MAX]}
    return body


def module_parts(modules: Mapping[str, bytes | str]) -> list[Part]:
    """One part per ES module, named after its file."""
    return [
        Part(name, code, filename=name, content_type=MODULE_TYPE) for name, code in modules.items()
    ]


class WorkersApi(Service):
    """``/accounts/{account_id}/workers``."""

    def _scripts(self, account_id: str) -> str:
        return f"/accounts/{segment(account_id)}/workers/scripts"

    def _script(self, account_id: str, script: str) -> str:
        return f"{self._scripts(account_id)}/{segment(script)}"

    async def list_scripts(self, account_id: str) -> list[WorkerScript]:
        """Every script of the account (one page)."""
        return await self._list(self._scripts(account_id), WorkerScript)

    async def download(self, account_id: str, script: str) -> ScriptContent:
        """The script's code (raw JavaScript, or multipart for module Workers)."""
        raw = await self._transport.send("GET", self._script(account_id, script))
        return ScriptContent(
            content_type=raw.headers.get("Content-Type", "application/octet-stream"),
            body=raw.body,
        )

    async def content(self, account_id: str, script: str) -> ScriptContent:
        """The script's content as ``GET …/content/v2`` serves it."""
        raw = await self._transport.send("GET", self._script(account_id, script) + "/content/v2")
        return ScriptContent(
            content_type=raw.headers.get("Content-Type", "application/octet-stream"),
            body=raw.body,
        )

    async def upload(
        self,
        account_id: str,
        script: str,
        *,
        modules: Mapping[str, bytes | str],
        main_module: str,
        compatibility_date: str | None = None,
        bindings: Sequence[Mapping[str, Any]] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> WorkerScript:
        """Upload (create or replace) a module Worker: a multipart body, metadata first."""
        if main_module not in modules:
            raise ValueError(f"main_module {main_module!r} is not among the modules")
        meta: dict[str, Any] = {"main_module": main_module, "bindings": [dict(b) for b in bindings]}
        if compatibility_date is not None:
            meta["compatibility_date"] = compatibility_date
        meta.update(metadata or {})
        form = multipart([json_part("metadata", meta), *module_parts(modules)])
        return await self._result("PUT", self._script(account_id, script), WorkerScript, data=form)

    async def put_content(
        self, account_id: str, script: str, *, modules: Mapping[str, bytes | str], main_module: str
    ) -> WorkerScript:
        """Replace only the code of a script, keeping its settings."""
        meta = json_part("metadata", {"main_module": main_module})
        form = multipart([meta, *module_parts(modules)])
        path = self._script(account_id, script) + "/content"
        return await self._result("PUT", path, WorkerScript, data=form)

    async def delete(self, account_id: str, script: str, *, force: bool = False) -> None:
        """Delete a script (``force`` also when other scripts bind to it)."""
        params = {"force": True} if force else None
        await self._transport.request("DELETE", self._script(account_id, script), params=params)

    async def settings(self, account_id: str, script: str) -> ScriptSettings:
        """The script's settings."""
        path = self._script(account_id, script) + "/settings"
        return await self._result("GET", path, ScriptSettings)

    async def patch_settings(
        self, account_id: str, script: str, settings: Mapping[str, Any]
    ) -> ScriptSettings:
        """Change some settings (a multipart body with one ``settings`` JSON part)."""
        path = self._script(account_id, script) + "/settings"
        form = multipart([json_part("settings", dict(settings))])
        return await self._result("PATCH", path, ScriptSettings, data=form)

    def versions(
        self,
        account_id: str,
        script: str,
        *,
        deployable: bool | None = None,
        per_page: int = 100,
    ) -> AsyncIterator[WorkerVersion]:
        """The script's versions, newest first (``result.items`` pages)."""
        path = self._script(account_id, script) + "/versions"
        return page_items(
            self._fetcher(path),
            WorkerVersion.parse,
            per_page=per_page,
            params={"deployable": deployable},
        )

    async def version(self, account_id: str, script: str, version_id: str) -> WorkerVersion:
        """One version with its resources."""
        path = f"{self._script(account_id, script)}/versions/{segment(version_id)}"
        return await self._result("GET", path, WorkerVersion)

    async def upload_version(
        self,
        account_id: str,
        script: str,
        *,
        modules: Mapping[str, bytes | str],
        main_module: str,
        compatibility_date: str | None = None,
        message: str | None = None,
        tag: str | None = None,
    ) -> WorkerVersion:
        """Upload a new version without deploying it."""
        meta: dict[str, Any] = {"main_module": main_module, "bindings": []}
        if compatibility_date is not None:
            meta["compatibility_date"] = compatibility_date
        annotations = {"workers/message": message, "workers/tag": tag}
        if any(v is not None for v in annotations.values()):
            meta["annotations"] = {k: v for k, v in annotations.items() if v is not None}
        form = multipart([json_part("metadata", meta), *module_parts(modules)])
        path = self._script(account_id, script) + "/versions"
        return await self._result("POST", path, WorkerVersion, data=form)

    async def deployments(self, account_id: str, script: str) -> list[Deployment]:
        """The script's deployments, newest first (``result.deployments``)."""
        path = self._script(account_id, script) + "/deployments"
        env = await self._transport.request("GET", path)
        result = env.result if isinstance(env.result, Mapping) else {}
        items = result.get("deployments")
        return [Deployment.parse(d) for d in items] if isinstance(items, list) else []

    async def deployment(self, account_id: str, script: str, deployment_id: str) -> Deployment:
        """One deployment."""
        path = f"{self._script(account_id, script)}/deployments/{segment(deployment_id)}"
        return await self._result("GET", path, Deployment)

    async def delete_deployment(self, account_id: str, script: str, deployment_id: str) -> None:
        """Delete a (non-active) deployment."""
        path = f"{self._script(account_id, script)}/deployments/{segment(deployment_id)}"
        await self._transport.request("DELETE", path)

    async def create_deployment(
        self,
        account_id: str,
        script: str,
        versions: Sequence[tuple[str, float]],
        *,
        message: str | None = None,
        force: bool = False,
    ) -> Deployment:
        """Deploy versions with a traffic split (percentages adding up to 100).

        ``force`` overrides error 10220 (secrets changed since the version), as
        ``wrangler rollback`` does after asking.
        """
        path = self._script(account_id, script) + "/deployments"
        params = {"force": True} if force else None
        body = deployment_body(versions, message)
        return await self._result("POST", path, Deployment, json=body, params=params)

    async def rollback(
        self,
        account_id: str,
        script: str,
        version_id: str,
        *,
        message: str | None = None,
        force: bool = False,
    ) -> Deployment:
        """Roll back by deploying ``version_id`` to 100 % of traffic."""
        return await self.create_deployment(
            account_id, script, [(version_id, 100.0)], message=message, force=force
        )

    async def account_subdomain(self, account_id: str) -> AccountSubdomain:
        """The account's workers.dev subdomain."""
        path = f"/accounts/{segment(account_id)}/workers/subdomain"
        return await self._result("GET", path, AccountSubdomain)

    async def set_account_subdomain(self, account_id: str, subdomain: str) -> AccountSubdomain:
        """Create or change the account's workers.dev subdomain."""
        path = f"/accounts/{segment(account_id)}/workers/subdomain"
        return await self._result("PUT", path, AccountSubdomain, json={"subdomain": subdomain})

    async def script_subdomain(self, account_id: str, script: str) -> ScriptSubdomain:
        """Whether the script is served on workers.dev."""
        path = self._script(account_id, script) + "/subdomain"
        return await self._result("GET", path, ScriptSubdomain)

    async def set_script_subdomain(
        self, account_id: str, script: str, *, enabled: bool, previews_enabled: bool | None = None
    ) -> ScriptSubdomain:
        """Serve the script on workers.dev or stop (repeating it is harmless)."""
        body: dict[str, Any] = {"enabled": enabled}
        if previews_enabled is not None:
            body["previews_enabled"] = previews_enabled
        path = self._script(account_id, script) + "/subdomain"
        return await self._result("POST", path, ScriptSubdomain, json=body, idempotent=True)

    async def tails(self, account_id: str, script: str) -> list[TailInfo]:
        """The script's active tails."""
        env = await self._transport.request("GET", self._script(account_id, script) + "/tails")
        items = env.result if isinstance(env.result, list) else [env.result]
        return [TailInfo.parse(t) for t in items if isinstance(t, Mapping)]

    async def create_tail(
        self, account_id: str, script: str, filters: Sequence[Mapping[str, Any]] = ()
    ) -> TailInfo:
        """Start a tail (see :mod:`cfapi.tail` for the WebSocket); not retried."""
        path = self._script(account_id, script) + "/tails"
        body = {"filters": [dict(f) for f in filters]}
        return await self._result("POST", path, TailInfo, json=body)

    async def delete_tail(self, account_id: str, script: str, tail_id: str) -> None:
        """Stop a tail."""
        path = f"{self._script(account_id, script)}/tails/{segment(tail_id)}"
        await self._transport.request("DELETE", path)
