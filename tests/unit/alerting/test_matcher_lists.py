"""One reader for silence matcher lists (``alerting.matchers.parse_matcher_list``): the API,
the silences file and ``flarewatch silence add`` accept the same forms and word the same
problems, each naming its field and item."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.matchers import MATCHER_HINT, MatchOp, parse_matcher_list
from alerting.silences import SilenceError, from_record
from monitor.silencestore import silence_from_request

RECORD: dict[str, Any] = {
    "id": "s1",
    "starts_at": 0.0,
    "ends_at": 10.0,
    "created_by": "alice",
    "comment": "deploy",
    "created_at": 0.0,
}


def test_texts_comma_lists_and_alertmanagers_form_are_read_alike() -> None:
    """A text may hold several matchers; the structured form is Alertmanager's API v2."""
    raw = ['rule="worker_down", probe=api', {"name": "env", "value": "prod", "isEqual": False}]
    matchers, problems = parse_matcher_list(raw)
    assert [] == problems
    assert [("rule", MatchOp.EQUAL), ("probe", MatchOp.EQUAL), ("env", MatchOp.NOT_EQUAL)] == [
        (m.name, m.op) for m in matchers
    ]


def test_every_problem_names_its_field_and_item() -> None:
    """All problems at once, each pointing at the item to fix."""
    _, problems = parse_matcher_list(['x="', 42, {"name": "a"}], field="matchers")
    assert [p.split(":")[0].split(" ")[0] for p in problems] == [
        "matchers[0]",
        "matchers[1]",
        "matchers[2]",
    ]
    assert "unterminated quoted value" in problems[0]
    assert problems[1].endswith(MATCHER_HINT)


def test_a_wrong_shape_says_what_to_write() -> None:
    """A number where matchers belong gets the hint, not just "wrong type"."""
    assert ((), [f"matchers must be a list of matchers; {MATCHER_HINT}"]) == parse_matcher_list(3)


def test_a_stored_record_must_list_its_matchers() -> None:
    """The silences file always holds a list; one text there is a damaged record."""
    _, problems = parse_matcher_list('rule="x"', allow_text=False)
    assert problems[0].startswith("matchers must be a list")


def test_the_api_and_the_silences_file_word_a_bad_matcher_the_same() -> None:
    """Before, the store and the API had their own loops with different messages."""
    with pytest.raises(SilenceError) as stored:
        from_record({**RECORD, "matchers": ['x="']})
    with pytest.raises(SilenceError) as requested:
        silence_from_request(
            {"matchers": ['x="'], "duration": "1h", "created_by": "a", "comment": "c"}, now=0.0
        )
    [from_file] = [p for p in stored.value.problems if p.startswith("matchers")]
    [from_api] = [p for p in requested.value.problems if p.startswith("matchers")]
    assert from_file == from_api


def test_a_stored_comma_list_is_read_as_the_api_reads_it() -> None:
    """A record holding ``'a="1", b="2"'`` (as an API text would) is no longer refused."""
    silence = from_record({**RECORD, "matchers": ['rule="x", probe="api"']})
    assert ['rule="x"', 'probe="api"'] == [str(m) for m in silence.matchers]
