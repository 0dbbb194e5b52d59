"""Pages projects and deployments as plain data: build stages, logs and the live deployment.

Pure logic: every method that depends on time takes ``now`` (epoch seconds). A deployment
walks ``queued → initialize → clone_repo → build → deploy``; each stage lasts a fixed time from
creation, so its state is a function of ``now``. Whether the build fails is decided once, by
the store, when the build stage ends (a ``pages`` fault may be active then).

Facts and sources ([V] verified, [I] inferred):

- The deployment object, stage names and statuses [V: schema ``pages_deployments``,
  ``pages_stage``]; ``deployment_trigger.type`` ``github:push`` / ``ad_hoc`` [V: SDK 5.9].
- The live production deployment cannot be deleted, not even with ``?force=true``; ``force``
  allows deleting a preview deployment that still carries a branch alias [V: SDK docstring
  "Allow deletion when a non-production deployment has an active alias"; third-party reports
  that Cloudflare refuses to delete the active production deployment].
- Rollback targets an earlier successful production deployment [I: cloudflare-api.md §8].
- Branch aliases are ``<branch slug>.<project>.pages.dev``, the slug cut to 28 characters [I].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cfsim.services.worker_models import iso_at

STAGES = ("queued", "initialize", "clone_repo", "build", "deploy")
BUILD = STAGES.index("build")
DEPLOY = STAGES.index("deploy")


def branch_slug(branch: str) -> str:
    """The alias label of a branch: lowercase, runs of other characters become ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", branch.lower()).strip("-")[:28].rstrip("-")


@dataclass
class PagesDeployment:
    """One build and deployment of a Pages project."""

    id: str
    project_id: str
    project_name: str
    environment: str
    branch: str
    commit_hash: str
    commit_message: str
    created_ts: float
    durations: tuple[float, float, float, float, float]
    trigger_type: str = "github:push"
    commit_dirty: bool = False
    outcome: str | None = None
    failed_stage: int | None = None
    failure_message: str = ""
    retry_of: str | None = None
    promoted: bool = False

    @property
    def short_id(self) -> str:
        """The first eight characters of the id (the ``<short_id>.<project>.pages.dev`` label)."""
        return self.id[:8]

    def stage_start(self, index: int) -> float:
        """When stage ``index`` starts (stages run back to back from creation)."""
        return self.created_ts + sum(self.durations[:index])

    def stage_end(self, index: int) -> float:
        """When stage ``index`` ends."""
        return self.stage_start(index + 1)

    @property
    def decision_ts(self) -> float:
        """When the build's outcome is known: the end of the build stage."""
        return self.stage_end(BUILD)

    def done(self, now: float) -> bool:
        """Whether the deployment has finished, successfully or not."""
        if self.outcome == "failure" and self.failed_stage is not None:
            return now >= self.stage_end(self.failed_stage)
        return self.outcome == "success" and now >= self.stage_end(DEPLOY)

    def live(self, now: float) -> bool:
        """Whether it finished successfully (and so can serve traffic)."""
        return self.outcome == "success" and now >= self.stage_end(DEPLOY)

    def failed(self, now: float) -> bool:
        """Whether it finished with a failed stage."""
        return self.outcome == "failure" and self.done(now)

    def stages(self, now: float) -> list[dict[str, Any]]:
        """Every stage with its status and times as of ``now``."""
        result = []
        for index, name in enumerate(STAGES):
            start, end = self.stage_start(index), self.stage_end(index)
            failed_here = self.failed_stage == index and self.outcome == "failure"
            after_failure = (
                self.outcome == "failure"
                and self.failed_stage is not None
                and index > self.failed_stage
            )
            if after_failure or now < start:
                status, started, ended = "idle", None, None
            elif now < end:
                status, started, ended = "active", iso_at(start), None
            else:
                status = "failure" if failed_here else "success"
                started, ended = iso_at(start), iso_at(end)
            result.append(
                {"name": name, "started_on": started, "ended_on": ended, "status": status}
            )
        return result

    def latest_stage(self, now: float) -> dict[str, Any]:
        """The stage that is running, failed, or last succeeded."""
        stages = self.stages(now)
        for stage in stages:
            if stage["status"] in {"active", "failure"}:
                return stage
        started = [s for s in stages if s["status"] != "idle"]
        return started[-1] if started else stages[0]

    def log_lines(self, now: float, repo: str) -> list[tuple[float, str]]:
        """The build log up to ``now``: (time, line) pairs."""
        script: list[tuple[int, float, str]] = [
            (0, 0.0, "Initializing build environment. This may take up to a few minutes."),
            (1, 0.5, "Success: Finished initializing build environment"),
            (2, 0.1, "Cloning repository..."),
            (2, 0.3, f"From https://github.com/{repo}"),
            (2, 0.5, f" * branch            {self.commit_hash} -> FETCH_HEAD"),
            (2, 0.7, f"HEAD is now at {self.commit_hash[:7]} {self.commit_message}"),
            (2, 1.0, "Success: Finished cloning repository files"),
            (3, 0.05, "Executing user command: npm run build"),
            (3, 0.3, "vite v5.4.10 building for production..."),
        ]
        if self.failed_stage == BUILD and self.outcome == "failure":
            script += [
                (3, 0.9, f"Error: {self.failure_message}"),
                (3, 1.0, "Failed: build command exited with code: 1"),
                (3, 1.0, "Failed: error occurred while running build command"),
            ]
        else:
            script += [
                (3, 0.8, "✓ 412 modules transformed."),
                (3, 1.0, "Success: Build command completed"),
                (4, 0.1, "Deploying your site to Cloudflare's global network..."),
            ]
            if self.failed_stage == DEPLOY and self.outcome == "failure":
                script += [(4, 1.0, f"Failed: {self.failure_message}")]
            else:
                script += [(4, 1.0, "Success: Your site was deployed!")]
        lines = []
        for index, fraction, line in script:
            ts = self.stage_start(index) + fraction * self.durations[index]
            if ts <= now:
                lines.append((ts, line))
        return lines


@dataclass
class PagesProject:
    """A Pages project with its deployments (oldest first) and its live production one."""

    id: str
    name: str
    production_branch: str
    created_ts: float
    domains: list[str]
    repo: str
    script_number: int
    deployments: list[PagesDeployment] = field(default_factory=list)
    canonical_id: str | None = None
    build_config: dict[str, Any] = field(default_factory=dict)
    env_vars: dict[str, Any] = field(default_factory=dict)

    @property
    def subdomain(self) -> str:
        """The project's ``pages.dev`` hostname."""
        return f"{self.name}.pages.dev"

    def script_name(self, environment: str) -> str:
        """The Workers script behind the project's Functions in ``environment``."""
        return f"pages-worker--{self.script_number}-{environment}"

    def deployment(self, deployment_id: str) -> PagesDeployment | None:
        """A deployment by id."""
        return next((d for d in self.deployments if d.id == deployment_id), None)

    def canonical(self) -> PagesDeployment | None:
        """The live production deployment."""
        return self.deployment(self.canonical_id) if self.canonical_id else None

    def branch_head(self, slug: str, now: float) -> PagesDeployment | None:
        """The newest live deployment of the branch whose slug is ``slug``."""
        live = [d for d in self.deployments if branch_slug(d.branch) == slug and d.live(now)]
        return live[-1] if live else None

    def aliases(self, dep: PagesDeployment, now: float) -> list[str] | None:
        """Alias URLs of a deployment: a preview that heads its branch has one."""
        if dep.environment == "preview" and self.branch_head(branch_slug(dep.branch), now) is dep:
            return [f"https://{branch_slug(dep.branch)}.{self.subdomain}"]
        return None

    def deployment_dict(self, dep: PagesDeployment, now: float) -> dict[str, Any]:
        """The deployment object of the Pages API."""
        created = iso_at(dep.created_ts)
        modified = iso_at(max(dep.created_ts, min(now, dep.stage_end(DEPLOY))))
        return {
            "id": dep.id,
            "short_id": dep.short_id,
            "project_id": self.id,
            "project_name": self.name,
            "environment": dep.environment,
            "url": f"https://{dep.short_id}.{self.subdomain}",
            "created_on": created,
            "modified_on": modified,
            "aliases": self.aliases(dep, now),
            "latest_stage": dep.latest_stage(now),
            "stages": dep.stages(now),
            "deployment_trigger": {
                "type": dep.trigger_type,
                "metadata": {
                    "branch": dep.branch,
                    "commit_hash": dep.commit_hash,
                    "commit_message": dep.commit_message,
                    "commit_dirty": dep.commit_dirty,
                },
            },
            "env_vars": dict(self.env_vars),
            "build_config": dict(self.build_config),
            "source": self.source(),
            "is_skipped": False,
            "production_branch": self.production_branch,
            "uses_functions": True,
        }

    def source(self) -> dict[str, Any]:
        """The Git source of the project."""
        owner, _, repo = self.repo.partition("/")
        return {
            "type": "github",
            "config": {
                "owner": owner,
                "repo_name": repo,
                "production_branch": self.production_branch,
                "pr_comments_enabled": True,
                "deployments_enabled": True,
                "production_deployments_enabled": True,
                "preview_deployment_setting": "all",
                "preview_branch_includes": ["*"],
                "preview_branch_excludes": [],
                "path_includes": ["*"],
                "path_excludes": [],
            },
        }

    def as_dict(self, now: float) -> dict[str, Any]:
        """The project object of the Pages API."""
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "subdomain": self.subdomain,
            "domains": [self.subdomain, *self.domains],
            "production_branch": self.production_branch,
            "created_on": iso_at(self.created_ts),
            "source": self.source(),
            "build_config": dict(self.build_config),
            "deployment_configs": {
                "preview": self._config(),
                "production": self._config(),
            },
            "production_script_name": self.script_name("production"),
            "preview_script_name": self.script_name("preview"),
            "uses_functions": True,
        }
        if self.deployments:
            body["latest_deployment"] = self.deployment_dict(self.deployments[-1], now)
        canonical = self.canonical()
        if canonical is not None:
            body["canonical_deployment"] = self.deployment_dict(canonical, now)
        return body

    def _config(self) -> dict[str, Any]:
        return {
            "compatibility_date": "2025-09-01",
            "compatibility_flags": ["nodejs_compat"],
            "env_vars": dict(self.env_vars),
            "fail_open": True,
            "always_use_latest_compatibility_date": False,
            "usage_model": "standard",
        }


def delete_refusal(
    project: PagesProject, dep: PagesDeployment, force: bool, now: float
) -> str | None:
    """Why ``dep`` cannot be deleted, or ``None`` when it can."""
    if dep.id == project.canonical_id:
        return (
            "Cannot delete the active production deployment. Roll back to or deploy another "
            "production deployment first."
        )
    if not force and project.aliases(dep, now):
        return (
            "Cannot delete a deployment that has an active alias; "
            "use ?force=true to delete it anyway."
        )
    return None


def rollback_refusal(project: PagesProject, dep: PagesDeployment, now: float) -> str | None:
    """Why production cannot roll back to ``dep``, or ``None`` when it can."""
    if dep.environment != "production":
        return "Only production deployments can be rolled back to."
    if not dep.live(now):
        return "Only successful deployments can be rolled back to."
    if dep.id == project.canonical_id:
        return "This deployment is already the active production deployment."
    canonical = project.canonical()
    if canonical is not None and dep.created_ts > canonical.created_ts:
        return "You can only roll back to a deployment older than the active one."
    return None
