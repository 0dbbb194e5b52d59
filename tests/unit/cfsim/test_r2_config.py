"""R2 configuration bodies: CORS and lifecycle validation and their wire form (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cfsim.envelope import CfHttpError
from cfsim.services.r2 import check_bucket_name
from cfsim.services.r2_config import (
    CorsBody,
    LifecycleBody,
    check_lifecycle,
    default_lifecycle,
)


def test_cors_accepts_camel_and_snake_case_alike() -> None:
    """The API's camelCase and the SDK schema's snake_case describe the same rule."""
    camel = {"allowed": {"origins": ["*"], "methods": ["GET"]}, "maxAgeSeconds": 60}
    snake = {"allowed": {"origins": ["*"], "methods": ["GET"]}, "max_age_seconds": 60}
    as_camel = CorsBody.model_validate({"rules": [camel]}).rules[0].as_json()
    as_snake = CorsBody.model_validate({"rules": [snake]}).rules[0].as_json()
    assert as_camel == as_snake


@pytest.mark.parametrize(
    "origin",
    ["spacevision.app", "ftp://spacevision.app", "https://a.example/path", "https://*.*.x"],
)
def test_cors_refuses_malformed_origins(origin: str) -> None:
    """Origins are ``*`` or scheme://host with at most one wildcard."""
    with pytest.raises(ValidationError):
        CorsBody.model_validate({"rules": [{"allowed": {"origins": [origin], "methods": ["GET"]}}]})


@pytest.mark.parametrize("origin", ["*", "https://spacevision.app", "https://*.spacevision.app"])
def test_cors_accepts_well_formed_origins(origin: str) -> None:
    """Wildcard, exact and single-wildcard origins are valid."""
    CorsBody.model_validate({"rules": [{"allowed": {"origins": [origin], "methods": ["GET"]}}]})


def test_lifecycle_date_condition_is_answered_in_utc() -> None:
    """A Date condition comes back as an RFC 3339 UTC time."""
    body = LifecycleBody.model_validate(
        {
            "rules": [
                {
                    "id": "sunset",
                    "enabled": True,
                    "conditions": {"prefix": "old/"},
                    "deleteObjectsTransition": {
                        "condition": {"type": "Date", "date": "2030-01-01T02:00:00+02:00"}
                    },
                }
            ]
        }
    )
    rule = check_lifecycle(body)[0]
    assert {"type": "Date", "date": "2030-01-01T00:00:00Z"} == rule["deleteObjectsTransition"][
        "condition"
    ]


def test_lifecycle_refuses_duplicate_rule_ids() -> None:
    """Two rules may not share an id."""
    rule = {
        "id": "same",
        "enabled": True,
        "conditions": {"prefix": ""},
        "abortMultipartUploadsTransition": {"condition": {"type": "Age", "maxAge": 86400}},
    }
    with pytest.raises(CfHttpError):
        check_lifecycle(LifecycleBody.model_validate({"rules": [rule, rule]}))


def test_default_lifecycle_aborts_multipart_uploads_after_seven_days() -> None:
    """New buckets abort incomplete multipart uploads after 7 days."""
    rule = default_lifecycle()[0]
    assert {"type": "Age", "maxAge": 604800} == rule["abortMultipartUploadsTransition"]["condition"]


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("abc", True),
        ("a-1", True),
        ("x" * 63, True),
        ("ab", False),
        ("x" * 64, False),
        ("a_b", False),
        ("Abc", False),
        ("abc-", False),
    ],
)
def test_bucket_name_rules(name: str, valid: bool) -> None:
    """3 to 63 lowercase letters, digits and hyphens, alphanumeric at both ends."""
    try:
        check_bucket_name(name)
        accepted = True
    except CfHttpError:
        accepted = False
    assert valid == accepted
