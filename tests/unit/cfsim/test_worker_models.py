"""Workers rules: deployment splits, secret changes, rollbacks, version picking, bindings."""

from __future__ import annotations

from typing import Any

import pytest

from cfsim.services.worker_models import (
    Deployment,
    DeploymentRejected,
    Module,
    Script,
    Version,
    changed_secrets,
    check_split,
    merge_bindings,
    pick_version,
    secret_change_message,
    secrets_of,
    triggered_by,
)


def version(number: int, bindings: list[dict[str, Any]] | None = None) -> Version:
    """A one-module version with ``bindings``."""
    bound = bindings or []
    return Version(
        id=f"v{number}",
        number=number,
        created_ts=float(number),
        modules=(Module("index.js", b"export default {}", "application/javascript+module"),),
        main_module="index.js",
        bindings=bound,
        secrets=secrets_of(bound),
    )


def script_with(*versions: Version, serving: str) -> Script:
    """A script whose active deployment sends 100 % to ``serving``."""
    script = Script(name="api", tag="t", created_ts=0.0, modified_ts=0.0, versions=list(versions))
    script.deployments.append(Deployment(id="d1", created_ts=0.0, versions=[(serving, 100.0)]))
    return script


KNOWN = {v.id: v for v in (version(1), version(2), version(3))}


@pytest.mark.parametrize(
    "split",
    [
        [("v1", 100.0)],
        [("v1", 90.0), ("v2", 10.0)],
        [("v1", 33.33), ("v2", 66.67)],
    ],
)
def test_valid_splits_pass(split: list[tuple[str, float]]) -> None:
    """One version at 100 %, or two summing to 100, are valid deployments."""
    check_split(split, KNOWN)


@pytest.mark.parametrize(
    ("split", "kind"),
    [
        ([], "split"),
        ([("v1", 50.0), ("v2", 25.0), ("v3", 25.0)], "split"),
        ([("v1", 60.0), ("v2", 30.0)], "split"),
        ([("v1", 50.0), ("v1", 50.0)], "split"),
        ([("v9", 100.0)], "unknown_version"),
    ],
)
def test_invalid_splits_are_rejected(split: list[tuple[str, float]], kind: str) -> None:
    """Empty, three-way, non-100, duplicate and unknown-version splits are refused."""
    with pytest.raises(DeploymentRejected) as err:
        check_split(split, KNOWN)
    assert kind == err.value.kind


def test_changed_secrets_names_differing_values() -> None:
    """A secret whose value differs, or that exists on one side only, has changed."""
    old = version(1, [{"type": "secret_text", "name": "A", "text": "1"}])
    new = version(
        2,
        [
            {"type": "secret_text", "name": "A", "text": "2"},
            {"type": "secret_text", "name": "B", "text": "x"},
        ],
    )
    assert ["A", "B"] == changed_secrets(old, new)


def test_unchanged_secrets_are_not_reported() -> None:
    """Equal secret values mean nothing changed."""
    same = [{"type": "secret_text", "name": "A", "text": "1"}]
    assert [] == changed_secrets(version(1, same), version(2, same))


def test_secret_message_parses_as_wrangler_expects() -> None:
    """wrangler reads the changed names after "The following secrets have changed:" on ", "."""
    message = secret_change_message("v1", ["A", "B"])
    target = "The following secrets have changed:"
    assert ["A", "B"] == message[message.index(target) + len(target) + 1 :].split(", ")


def test_public_bindings_hide_secret_text() -> None:
    """Secret values never appear in API output."""
    v = version(1, [{"type": "secret_text", "name": "A", "text": "1"}])
    assert [{"type": "secret_text", "name": "A"}] == v.public_bindings()


def test_older_single_version_is_a_rollback() -> None:
    """Sending all traffic to an older version than the serving one is a rollback."""
    script = script_with(version(1), version(2), serving="v2")
    assert "rollback" == triggered_by([("v1", 100.0)], script)


def test_newer_version_is_a_deployment() -> None:
    """Sending traffic to a newer version is a plain deployment."""
    script = script_with(version(1), version(2), serving="v1")
    assert "deployment" == triggered_by([("v2", 100.0)], script)


@pytest.mark.parametrize(("roll", "expected"), [(0.0, "v1"), (0.899, "v1"), (0.9, "v2")])
def test_pick_version_follows_percentages(roll: float, expected: str) -> None:
    """A 90/10 split serves the first version for rolls below 0.9."""
    deployment = Deployment(id="d", created_ts=0.0, versions=[("v1", 90.0), ("v2", 10.0)])
    assert expected == pick_version(deployment, lambda: roll)


def test_keep_bindings_keeps_previous_secrets() -> None:
    """keep_bindings ["secret_text"] carries secrets the upload does not redefine."""
    previous = version(1, [{"type": "secret_text", "name": "A", "text": "1"}])
    new = [{"type": "plain_text", "name": "ENV", "text": "prod"}]
    merged = merge_bindings(new, previous, ["secret_text"])
    assert ["ENV", "A"] == [b["name"] for b in merged]


def test_inherit_binding_copies_the_previous_one() -> None:
    """An ``inherit`` binding keeps the previous binding of that name as it was."""
    kv = {"type": "kv_namespace", "name": "KV", "namespace_id": "n1"}
    merged = merge_bindings([{"type": "inherit", "name": "KV"}], version(1, [kv]), ())
    assert [kv] == merged


def test_inheriting_a_missing_binding_is_rejected() -> None:
    """Inheriting a binding the previous version lacks is refused."""
    with pytest.raises(DeploymentRejected):
        merge_bindings([{"type": "inherit", "name": "KV"}], version(1), ())


def test_serving_version_is_the_largest_share() -> None:
    """The serving version of a split is the one with the largest percentage."""
    script = script_with(version(1), version(2), serving="v1")
    script.deployments.append(
        Deployment(id="d2", created_ts=1.0, versions=[("v1", 30.0), ("v2", 70.0)])
    )
    assert "v2" == script.serving_version().id
