"""Creating silences from API requests: every problem at once, times in two notations, and
when muting next changes."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.silences import Silence, SilenceError
from monitor.silencestore import next_change, parse_time, silence_document, silence_from_request

NOW = 1_800_000_000.0
GOOD: dict[str, Any] = {
    "matchers": ['rule="worker_down"', "probe=api-worker"],
    "duration": "2h",
    "created_by": "alice",
    "comment": "deploying api, CHG-42",
}


def make(body: Any) -> Silence:
    """``body`` as a silence created at NOW with id ``s1``."""
    return silence_from_request(body, now=NOW, new_id=lambda: "s1")


def problems_of(body: Any) -> tuple[str, ...]:
    """The problems a request has (fails when it is accepted)."""
    with pytest.raises(SilenceError) as caught:
        make(body)
    return caught.value.problems


def test_a_request_becomes_a_silence_starting_now() -> None:
    """Matchers, author, comment; duration counts from now."""
    silence = make(GOOD)
    assert ("s1", NOW, NOW + 7200, "alice", "deploying api, CHG-42") == (
        silence.id,
        silence.starts_at,
        silence.ends_at,
        silence.created_by,
        silence.comment,
    )
    assert ['rule="worker_down"', 'probe="api-worker"'] == [str(m) for m in silence.matchers]


def test_matchers_may_come_as_one_text_or_alertmanagers_structured_form() -> None:
    """``'a="1", b="2"'`` and ``{"name", "value", "isRegex"}`` mean the same as a list."""
    text = make({**GOOD, "matchers": 'rule="worker_down", probe=api-worker'})
    structured = make(
        {
            **GOOD,
            "matchers": [
                {"name": "rule", "value": "worker_down", "isRegex": False},
                {"name": "probe", "value": "api-worker"},
            ],
        }
    )
    assert text.matchers == structured.matchers == make(GOOD).matchers


def test_times_may_be_epoch_seconds_or_iso_8601() -> None:
    """A scheduled maintenance window, written either way."""
    silence = make(
        {
            **{k: v for k, v in GOOD.items() if k != "duration"},
            "starts_at": "2027-01-15T10:00:00Z",
            "ends_at": NOW + 9000,
        }
    )
    assert (parse_time("2027-01-15T10:00:00+00:00", "t"), NOW + 9000) == (
        silence.starts_at,
        silence.ends_at,
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"matchers": None}, "matchers must be a list"),
        ({"matchers": ['x="']}, "matchers[0]: invalid matcher"),
        ({"matchers": ["env!=prod"]}, "must not match the empty string"),
        ({"created_by": ""}, "created_by is required"),
        ({"comment": None}, "comment is required"),
        ({"duration": "2 hours"}, "duration: "),
        ({"duration": "0s"}, "duration must be longer than zero"),
        ({"ends_at": NOW + 60}, "give ends_at or duration, not both"),
        ({"starts_at": "tomorrow"}, "starts_at: 'tomorrow' is not an ISO 8601 time"),
        ({"starts_at": "2027-01-15T10:00:00"}, "has no time zone"),
        ({"id": "mine"}, "id is chosen by flarewatch"),
        ({"tags": []}, "unknown key 'tags'"),
    ],
)
def test_a_bad_request_says_what_is_wrong(change: dict[str, Any], problem: str) -> None:
    """Each mistake is named so the caller can fix it."""
    found = problems_of({**GOOD, **change})
    assert any(problem in p for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    """An empty body lists everything missing, not just the first thing."""
    found = problems_of({})
    assert 4 == len(found), found


def test_a_silence_that_would_never_mute_is_refused() -> None:
    """An end in the past: the silence could never be active."""
    body = {**GOOD, "ends_at": NOW - 60}
    del body["duration"]
    assert any("in the past" in p for p in problems_of(body))


def test_the_body_must_be_an_object() -> None:
    """A JSON list or text is not a silence."""
    assert ("the body must be a JSON object",) == problems_of(["rule=x"])


def test_next_change_is_the_next_start_or_end() -> None:
    """The engine wakes when muting changes, not on a timer."""
    later = make({**GOOD, "starts_at": NOW + 600})
    running = make(GOOD)
    assert NOW + 600 == next_change([later, running], NOW)
    assert NOW + 7200 == next_change([running], NOW + 1)
    assert next_change([running], NOW + 7200) is None


def test_the_api_shows_a_silence_with_its_state() -> None:
    """pending, active or expired, computed at the time asked."""
    silence = make({**GOOD, "starts_at": NOW + 600})
    assert "pending" == silence_document(silence, NOW)["state"]
    assert "active" == silence_document(silence, NOW + 600)["state"]
    assert "expired" == silence_document(silence, NOW + 600 + 7200)["state"]
