"""The pages probe's pure parts: judging a deployment, its source, the failed build's log line."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from cfapi.pages import PagesDeployment
from probes.base import Reason, Status
from probes.pages import PagesProbe, PagesSettings, describe_source, failure_line, judge_deployment

CREATED = "2027-01-15T08:00:00Z"
NOW = datetime.fromisoformat(CREATED).timestamp() + 2 * 3600


def deployment(stage: str, status: str, **extra: Any) -> PagesDeployment:
    """A production deployment of commit fdf49a0 on main, created two hours before NOW."""
    return PagesDeployment.parse(
        {
            "id": "356e6851-f8ca-7c05-dbaf-6a47dab457b2",
            "short_id": "356e6851",
            "environment": "production",
            "created_on": CREATED,
            "latest_stage": {"name": stage, "status": status},
            "deployment_trigger": {
                "type": "github:push",
                "metadata": {
                    "branch": "main",
                    "commit_hash": "fdf49a01a8cb2aa9d74b182f1020633414d3d41c",
                    "commit_message": "Fix StarField import\n\nLong body",
                },
            },
            **extra,
        }
    )


def test_live_deployment_is_ok_and_named() -> None:
    """A deployed build is ok; the message says which commit is live and since when."""
    state = judge_deployment(deployment("deploy", "success"), NOW, 1200.0)
    assert (None, False, 7200.0) == (state.finding, state.failed, state.age_s)
    assert 'deployment 356e6851 (main fdf49a0 "Fix StarField import") live, built 2 h ago' == (
        state.text
    )


def test_failed_build_is_crit_assertion_with_stage_and_cause() -> None:
    """A failed build is crit (reason assertion), naming the stage and the log's error line."""
    state = judge_deployment(
        deployment("build", "failure"), NOW, 1200.0, "Error: npm ERR! code ELIFECYCLE"
    )
    assert state.finding is not None
    assert (Status.CRIT, Reason.ASSERTION, True) == (
        state.finding.status,
        state.finding.reason,
        state.failed,
    )
    assert (
        'deployment 356e6851 (main fdf49a0 "Fix StarField import") failed at stage build '
        "2 h ago: Error: npm ERR! code ELIFECYCLE"
    ) == state.finding.text


def test_failed_deploy_stage_is_crit_too() -> None:
    """A build that compiled but did not deploy failed all the same."""
    state = judge_deployment(deployment("deploy", "failure"), NOW, 1200.0)
    assert state.finding is not None
    assert (Status.CRIT, True) == (state.finding.status, state.failed)
    assert "failed at stage deploy 2 h ago" in state.finding.text


def test_canceled_build_warns() -> None:
    """Someone canceled the build: the old deployment serves; worth a warning, not a page."""
    state = judge_deployment(deployment("build", "canceled"), NOW, 1200.0)
    assert state.finding is not None
    assert (Status.WARN, Reason.ASSERTION, False) == (
        state.finding.status,
        state.finding.reason,
        state.failed,
    )


@pytest.mark.parametrize(("stage", "status"), [("queued", "active"), ("build", "active")])
def test_build_in_progress_is_ok(stage: str, status: str) -> None:
    """A running build is normal: ok, and the message says how far it got."""
    state = judge_deployment(deployment(stage, status), NOW, 3 * 3600.0)
    assert (None, False) == (state.finding, state.failed)
    assert f"in progress: stage {stage} {status}, started 2 h ago" in state.text


def test_build_running_past_the_build_timeout_warns() -> None:
    """A build still running after build_timeout is stuck: warn (assertion)."""
    state = judge_deployment(deployment("build", "active"), NOW, 1200.0)
    assert state.finding is not None
    assert (Status.WARN, Reason.ASSERTION) == (state.finding.status, state.finding.reason)
    assert "longer than build_timeout 20 min" in state.finding.text


def test_deployment_without_stage_or_trigger_still_reads() -> None:
    """Sparse answers (no trigger metadata, no stage) give a message, not an exception."""
    bare = PagesDeployment.parse({"id": "abcdef0123456789", "latest_stage": None})
    state = judge_deployment(bare, NOW, 1200.0)
    assert "deployment abcdef01" in state.text
    assert state.age_s is None


@pytest.mark.parametrize(
    ("metadata", "text"),
    [
        (
            {"branch": "main", "commit_hash": "abcdef0123", "commit_message": "Hi"},
            'main abcdef0 "Hi"',
        ),
        ({"branch": "main"}, "main"),
        ({"commit_message": "x" * 60}, '"' + "x" * 47 + '…"'),
        ({}, ""),
    ],
)
def test_source_names_branch_commit_and_subject(metadata: dict[str, str], text: str) -> None:
    """The trigger's branch, short commit and first line of the message, trimmed."""
    dep = PagesDeployment.parse({"id": "x", "deployment_trigger": {"metadata": metadata}})
    assert text == describe_source(dep)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            [
                "Executing user command: npm run build",
                "Error: npm ERR! code ELIFECYCLE",
                "Failed: build command exited with code: 1",
            ],
            "Error: npm ERR! code ELIFECYCLE",
        ),
        (["Deploying", "Failed: an internal error occurred"], "Failed: an internal error occurred"),
        (["Success: Build command completed"], None),
        ([], None),
        (["Error:    " + "y" * 300], "Error: " + "y" * 152 + "…"),
    ],
)
def test_failure_line_picks_the_cause(lines: list[str], expected: str | None) -> None:
    """The first Error line says why; else the last Failed line; long lines are trimmed."""
    assert expected == failure_line(lines)


def test_pages_values_include_the_rule_contract() -> None:
    """docs/rules.md: pages probes publish deployment_failed and deployment_age_s."""
    assert {"deployment_failed", "deployment_age_s"} <= PagesProbe.values
    assert set(PagesProbe.metrics) <= PagesProbe.values


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ({}, "project"),
        ({"project": "web", "build_timeout": "soon"}, "build_timeout"),
        ({"project": "web", "url": "spacevision.app"}, "absolute http"),
    ],
)
def test_bad_pages_settings_are_config_errors(entry: dict[str, Any], complaint: str) -> None:
    """A missing project or a bad duration is refused at load."""
    with pytest.raises(ValidationError, match=complaint):
        PagesSettings.model_validate({"name": "web", "type": "pages", **entry})
