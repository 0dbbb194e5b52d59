"""Pages: projects, deployments (rollback, retry, logs), domains and deployment tails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from cfapi.models import CfModel
from cfapi.pagination import pages
from cfapi.service import Part, Service, multipart, segment
from cfapi.workers import TailInfo


class Stage(CfModel):
    """A build stage: ``queued|initialize|clone_repo|build|deploy`` and its status."""

    name: str | None = None
    status: str | None = None
    started_on: str | None = None
    ended_on: str | None = None


class PagesDeployment(CfModel):
    """One Pages deployment."""

    id: str
    short_id: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    environment: str | None = None
    url: str | None = None
    aliases: list[str] | None = None
    latest_stage: Stage | None = None
    stages: list[Stage] | None = None
    deployment_trigger: dict[str, Any] | None = None
    is_skipped: bool | None = None
    created_on: str | None = None
    modified_on: str | None = None

    @property
    def succeeded(self) -> bool:
        """Whether the deployment's last stage is a successful deploy."""
        stage = self.latest_stage
        return stage is not None and stage.name == "deploy" and stage.status == "success"


class PagesProject(CfModel):
    """A Pages project."""

    id: str | None = None
    name: str
    subdomain: str | None = None
    domains: list[str] | None = None
    production_branch: str | None = None
    created_on: str | None = None
    canonical_deployment: PagesDeployment | None = None
    latest_deployment: PagesDeployment | None = None


class LogLine(CfModel):
    """One line of a deployment's build log."""

    line: str | None = None
    ts: str | None = None


class DeploymentLogs(CfModel):
    """A deployment's build log."""

    total: int | None = None
    includes_container_logs: bool | None = None
    data: list[LogLine] | None = None


class PagesDomain(CfModel):
    """A custom domain of a project and its status."""

    id: str | None = None
    name: str | None = None
    status: str | None = None


class PagesApi(Service):
    """``/accounts/{account_id}/pages/projects``."""

    def _projects(self, account_id: str) -> str:
        return f"/accounts/{segment(account_id)}/pages/projects"

    def _project(self, account_id: str, project: str) -> str:
        return f"{self._projects(account_id)}/{segment(project)}"

    def _deployment(self, account_id: str, project: str, deployment_id: str) -> str:
        return f"{self._project(account_id, project)}/deployments/{segment(deployment_id)}"

    def projects(self, account_id: str, *, per_page: int = 10) -> AsyncIterator[PagesProject]:
        """The account's projects."""
        fetch = self._fetcher(self._projects(account_id))
        return pages(fetch, PagesProject.parse, per_page=per_page)

    async def project(self, account_id: str, project: str) -> PagesProject:
        """One project."""
        return await self._result("GET", self._project(account_id, project), PagesProject)

    def deployments(
        self, account_id: str, project: str, *, env: str | None = None, per_page: int = 25
    ) -> AsyncIterator[PagesDeployment]:
        """A project's deployments, newest first (``env``: ``production`` or ``preview``)."""
        fetch = self._fetcher(self._project(account_id, project) + "/deployments")
        return pages(fetch, PagesDeployment.parse, per_page=per_page, params={"env": env})

    async def deployment(
        self, account_id: str, project: str, deployment_id: str
    ) -> PagesDeployment:
        """One deployment."""
        path = self._deployment(account_id, project, deployment_id)
        return await self._result("GET", path, PagesDeployment)

    async def create_deployment(
        self, account_id: str, project: str, *, branch: str | None = None
    ) -> PagesDeployment:
        """Start a deployment (of ``branch``, for Git-connected projects)."""
        parts = [Part("branch", branch)] if branch is not None else []
        path = self._project(account_id, project) + "/deployments"
        return await self._result("POST", path, PagesDeployment, data=multipart(parts))

    async def delete_deployment(
        self, account_id: str, project: str, deployment_id: str, *, force: bool = False
    ) -> None:
        """Delete a deployment (``force`` also when it has aliases)."""
        path = self._deployment(account_id, project, deployment_id)
        await self._transport.request("DELETE", path, params={"force": True} if force else None)

    async def logs(self, account_id: str, project: str, deployment_id: str) -> DeploymentLogs:
        """The deployment's build log."""
        path = self._deployment(account_id, project, deployment_id) + "/history/logs"
        return await self._result("GET", path, DeploymentLogs)

    async def retry(self, account_id: str, project: str, deployment_id: str) -> PagesDeployment:
        """Re-run a deployment (a new deployment is created)."""
        path = self._deployment(account_id, project, deployment_id) + "/retry"
        return await self._result("POST", path, PagesDeployment, json={})

    async def rollback(self, account_id: str, project: str, deployment_id: str) -> PagesDeployment:
        """Make an earlier successful production deployment live again."""
        path = self._deployment(account_id, project, deployment_id) + "/rollback"
        return await self._result("POST", path, PagesDeployment, json={})

    async def domains(self, account_id: str, project: str) -> list[PagesDomain]:
        """The project's custom domains."""
        return await self._list(self._project(account_id, project) + "/domains", PagesDomain)

    async def create_tail(
        self,
        account_id: str,
        project: str,
        deployment_id: str,
        filters: Sequence[Mapping[str, Any]] = (),
    ) -> TailInfo:
        """Start a tail of a deployment's Functions (WebSocket: :mod:`cfapi.tail`)."""
        path = self._deployment(account_id, project, deployment_id) + "/tails"
        return await self._result(
            "POST", path, TailInfo, json={"filters": [dict(f) for f in filters]}
        )

    async def delete_tail(
        self, account_id: str, project: str, deployment_id: str, tail_id: str
    ) -> None:
        """Stop a deployment tail."""
        path = f"{self._deployment(account_id, project, deployment_id)}/tails/{segment(tail_id)}"
        await self._transport.request("DELETE", path)
