"""Pages rules: stage progression in time, failures, logs, delete and rollback refusals."""

from __future__ import annotations

import pytest

from cfsim.services.pages_models import (
    PagesDeployment,
    PagesProject,
    branch_slug,
    delete_refusal,
    rollback_refusal,
)

DURATIONS = (1.0, 1.0, 1.0, 1.0, 1.0)


def deployment(
    dep_id: str, created: float, *, branch: str = "main", outcome: str | None = "success"
) -> PagesDeployment:
    """A deployment whose five stages take a second each."""
    return PagesDeployment(
        id=dep_id,
        project_id="p",
        project_name="site",
        environment="production" if branch == "main" else "preview",
        branch=branch,
        commit_hash="a" * 40,
        commit_message="msg",
        created_ts=created,
        durations=DURATIONS,
        outcome=outcome,
    )


def project(*deps: PagesDeployment, canonical: str | None = None) -> PagesProject:
    """A project holding ``deps``."""
    return PagesProject(
        id="p",
        name="site",
        production_branch="main",
        created_ts=0.0,
        domains=[],
        repo="org/site",
        script_number=1,
        deployments=list(deps),
        canonical_id=canonical,
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (0.5, ["active", "idle", "idle", "idle", "idle"]),
        (3.5, ["success", "success", "success", "active", "idle"]),
        (5.0, ["success"] * 5),
    ],
)
def test_stages_progress_with_time(now: float, expected: list[str]) -> None:
    """Stages run back to back from creation."""
    assert expected == [s["status"] for s in deployment("d", 0.0).stages(now)]


def test_failed_build_stops_at_the_build_stage() -> None:
    """A failed build marks build as failure and leaves deploy idle."""
    dep = deployment("d", 0.0, outcome="failure")
    dep.failed_stage = 3
    assert ("build", "failure") == (
        dep.latest_stage(10.0)["name"],
        dep.latest_stage(10.0)["status"],
    )
    assert "idle" == dep.stages(10.0)[4]["status"]
    assert dep.failed(10.0)
    assert not dep.live(10.0)


def test_build_log_grows_with_time() -> None:
    """Only the lines of stages already reached are in the log."""
    dep = deployment("d", 0.0)
    early = dep.log_lines(2.5, "org/site")
    done = dep.log_lines(5.0, "org/site")
    assert len(early) < len(done)
    assert "Success: Your site was deployed!" == done[-1][1]


@pytest.mark.parametrize(
    ("branch", "slug"),
    [("main", "main"), ("feature/Dark_Mode", "feature-dark-mode"), ("a" * 40, "a" * 28)],
)
def test_branch_slug(branch: str, slug: str) -> None:
    """Branch names become DNS-safe alias labels of at most 28 characters."""
    assert slug == branch_slug(branch)


def test_live_production_deployment_cannot_be_deleted_even_forced() -> None:
    """Force does not allow deleting the live production deployment."""
    live = deployment("d1", 0.0)
    assert delete_refusal(project(live, canonical="d1"), live, True, 10.0) is not None


def test_aliased_preview_needs_force() -> None:
    """A preview heading its branch is deletable only with force."""
    preview = deployment("d2", 0.0, branch="dev")
    site = project(deployment("d1", 0.0), preview, canonical="d1")
    assert delete_refusal(site, preview, False, 10.0) is not None
    assert delete_refusal(site, preview, True, 10.0) is None


@pytest.mark.parametrize(
    ("target", "refused"),
    [("old", False), ("live", True), ("failed", True), ("preview", True), ("newer", True)],
)
def test_rollback_targets(target: str, refused: bool) -> None:
    """Only an older, successful, production deployment that is not live can be rolled back to."""
    failed = deployment("failed", 2.0, outcome="failure")
    failed.failed_stage = 3
    deps = {
        "old": deployment("old", 0.0),
        "failed": failed,
        "live": deployment("live", 3.0),
        "newer": deployment("newer", 4.0),
        "preview": deployment("preview", 1.0, branch="dev"),
    }
    site = project(*deps.values(), canonical="live")
    assert refused == (rollback_refusal(site, deps[target], 20.0) is not None)
