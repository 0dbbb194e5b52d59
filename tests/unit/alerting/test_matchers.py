"""Label matchers: Alertmanager's text and structured forms, anchored regexes, clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.matchers import (
    Matcher,
    MatcherError,
    MatchOp,
    is_label_name,
    matches_all,
    parse_matcher,
    parse_matchers,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('env="prod"', Matcher("env", MatchOp.EQUAL, "prod")),
        ('env!="prod"', Matcher("env", MatchOp.NOT_EQUAL, "prod")),
        ('service=~"workers|pages"', Matcher("service", MatchOp.REGEX, "workers|pages")),
        ('service!~"kv|r2"', Matcher("service", MatchOp.NOT_REGEX, "kv|r2")),
        ("env=prod", Matcher("env", MatchOp.EQUAL, "prod")),
        ("service=~workers|pages", Matcher("service", MatchOp.REGEX, "workers|pages")),
        ('  zone = "example.com"  ', Matcher("zone", MatchOp.EQUAL, "example.com")),
        ('env=""', Matcher("env", MatchOp.EQUAL, "")),
        (r'msg="say \"hi\""', Matcher("msg", MatchOp.EQUAL, 'say "hi"')),
        (r'path="C:\\tmp"', Matcher("path", MatchOp.EQUAL, "C:\\tmp")),
        (r'text="a\nb"', Matcher("text", MatchOp.EQUAL, "a\nb")),
        (r'host=~"api\.example\.com"', Matcher("host", MatchOp.REGEX, r"api\.example\.com")),
        ('list="a,b"', Matcher("list", MatchOp.EQUAL, "a,b")),
        ("_private=x", Matcher("_private", MatchOp.EQUAL, "x")),
    ],
)
def test_parse_matcher(text: str, expected: Matcher) -> None:
    """Every operator, quoted and bare values, escapes and spacing parse as Alertmanager reads
    them; an unknown escape such as ``\\.`` stays a backslash for the regex."""
    assert expected == parse_matcher(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a label name .* at column 1"),
        ("env", r"expected one of =, !=, =~, !~ after 'env' at column 4"),
        ("env<prod", r"expected one of =, !=, =~, !~ after 'env' at column 4"),
        ("1env=prod", "expected a label name .* at column 1"),
        ("env=", r'expected a value \(write "" for the empty value\) at column 5'),
        ('env="prod', "unterminated quoted value at column 5"),
        ("env='prod'", "use double quotes around values at column 5"),
        ("env==prod", "a value starting with '=' must be quoted at column 5"),
        ("env=prod extra", "unexpected text after the matcher at column 10"),
        ('a="1", b="2"', "unexpected text after the matcher at column 6"),
        ('service=~"("', "invalid regular expression '\\(' for label 'service'"),
    ],
)
def test_parse_matcher_errors(text: str, message: str) -> None:
    """Bad matcher text is refused with what is wrong and the column, so a config or API
    error can be fixed without guessing."""
    with pytest.raises(MatcherError, match=message):
        parse_matcher(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("{}", ()),
        ('env="prod"', (Matcher("env", MatchOp.EQUAL, "prod"),)),
        (
            '{env="prod", service=~"workers|pages"}',
            (
                Matcher("env", MatchOp.EQUAL, "prod"),
                Matcher("service", MatchOp.REGEX, "workers|pages"),
            ),
        ),
        (
            'env="prod",zone!="a,b",',
            (Matcher("env", MatchOp.EQUAL, "prod"), Matcher("zone", MatchOp.NOT_EQUAL, "a,b")),
        ),
    ],
)
def test_parse_matchers(text: str, expected: tuple[Matcher, ...]) -> None:
    """A list parses with or without braces, commas inside quotes stay in the value and a
    trailing comma is fine."""
    assert expected == parse_matchers(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{env="prod"', r"expected ',' or a closing '}' at column 12"),
        ('env="prod" zone="a"', "expected ',' between matchers at column 12"),
        ('{env="prod"} x', r"unexpected text after '}' at column 14"),
        ('{env="prod",,}', "expected a label name .* at column 13"),
    ],
)
def test_parse_matchers_errors(text: str, message: str) -> None:
    """A malformed list names the column where it goes wrong."""
    with pytest.raises(MatcherError, match=message):
        parse_matchers(text)


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        ('env="prod"', {"env": "prod"}, True),
        ('env="prod"', {"env": "staging"}, False),
        ('env="prod"', {}, False),
        ('env=""', {}, True),
        ('env!="prod"', {"env": "staging"}, True),
        ('env!="prod"', {}, True),
        ('env!="prod"', {"env": "prod"}, False),
        ('service=~"workers|pages"', {"service": "pages"}, True),
        ('service=~"work"', {"service": "workers"}, False),
        ('service=~"work"', {"service": "homework"}, False),
        ('service=~"work.*"', {"service": "workers"}, True),
        ('service!~"kv|r2"', {"service": "kv"}, False),
        ('service!~"kv|r2"', {"service": "d1"}, True),
        ('service!~"kv|r2"', {}, True),
        ('env=~"prod"', {"env": "prod\n"}, False),
        ('env=~"(?i)prod"', {"env": "PROD"}, True),
    ],
)
def test_matches(matcher: str, labels: dict[str, str], expected: bool) -> None:
    """Regexes are anchored at both ends and a missing label is the empty string, exactly as
    in Alertmanager, so a silence copied from there selects the same alerts."""
    assert expected == parse_matcher(matcher).matches(labels)


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [
        ('x=~".*"', True),
        ('x=""', True),
        ('x!="a"', True),
        ('x!~"a|b"', True),
        ('x="a"', False),
        ('x=~".+"', False),
        ('x!~""', False),
    ],
)
def test_matches_empty(matcher: str, expected: bool) -> None:
    """``matches_empty`` tells which matchers would also select alerts lacking the label —
    what makes a silence match everything."""
    assert expected == parse_matcher(matcher).matches_empty()


@pytest.mark.parametrize(
    "matcher",
    [
        Matcher("env", MatchOp.EQUAL, "prod"),
        Matcher("msg", MatchOp.NOT_EQUAL, 'quote " and backslash \\ and\nnewline'),
        Matcher("host", MatchOp.REGEX, r"api\.example\.com|\d+"),
        Matcher("env", MatchOp.NOT_REGEX, ""),
    ],
)
def test_text_form_round_trips(matcher: Matcher) -> None:
    """``str(matcher)`` is canonical text that parses back to the same matcher, so stored
    silences and API answers can be read again."""
    assert matcher == parse_matcher(str(matcher))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "env", "value": "prod"}, Matcher("env", MatchOp.EQUAL, "prod")),
        (
            {"name": "env", "value": "prod", "isRegex": False, "isEqual": False},
            Matcher("env", MatchOp.NOT_EQUAL, "prod"),
        ),
        (
            {"name": "svc", "value": "kv|r2", "isRegex": True},
            Matcher("svc", MatchOp.REGEX, "kv|r2"),
        ),
        (
            {"name": "svc", "value": "kv|r2", "isRegex": True, "isEqual": False},
            Matcher("svc", MatchOp.NOT_REGEX, "kv|r2"),
        ),
    ],
)
def test_from_dict(data: dict[str, Any], expected: Matcher) -> None:
    """Alertmanager's API v2 matcher objects are read, ``isEqual`` defaulting to true."""
    assert expected == Matcher.from_dict(data)


@pytest.mark.parametrize(
    "matcher",
    [
        Matcher("env", MatchOp.EQUAL, "prod"),
        Matcher("env", MatchOp.NOT_EQUAL, "prod"),
        Matcher("svc", MatchOp.REGEX, "kv|r2"),
        Matcher("svc", MatchOp.NOT_REGEX, "kv|r2"),
    ],
)
def test_structured_form_round_trips(matcher: Matcher) -> None:
    """``to_dict`` writes what ``from_dict`` reads, for every operator."""
    assert matcher == Matcher.from_dict(matcher.to_dict())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "env"}, "'value' must be a string"),
        ({"name": 3, "value": "x"}, "'name' must be a string"),
        ({"name": "env", "value": "x", "isRegex": "yes"}, "must be true or false"),
        ({"name": "env", "value": "x", "op": "="}, "unknown matcher field"),
        ({"name": "bad-name", "value": "x"}, "invalid label name 'bad-name'"),
        ({"name": "env", "value": "(", "isRegex": True}, "invalid regular expression"),
    ],
)
def test_from_dict_errors(data: dict[str, Any], message: str) -> None:
    """Malformed structured matchers are refused with the field named."""
    with pytest.raises(MatcherError, match=message):
        Matcher.from_dict(data)


def test_unknown_operator_is_refused() -> None:
    """Building a matcher with an operator outside the four is an error, not a silent
    equality."""
    with pytest.raises(MatcherError, match="unknown matcher operator '=='"):
        Matcher("env", "==", "prod")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"env": "prod", "service": "kv"}, True),
        ({"env": "prod", "service": "d1"}, False),
        ({"env": "dev", "service": "kv"}, False),
    ],
)
def test_matches_all_requires_every_matcher(labels: dict[str, str], expected: bool) -> None:
    """A matcher list is a conjunction: every matcher must hold."""
    matchers = parse_matchers('env="prod", service=~"kv|r2"')
    assert expected == matches_all(matchers, labels)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("zone", True),
        ("_x1", True),
        ("needs_api", True),
        ("1x", False),
        ("a-b", False),
        ("", False),
    ],
)
def test_is_label_name(name: str, expected: bool) -> None:
    """Label names follow Prometheus: letters, digits and underscores, no leading digit."""
    assert expected == is_label_name(name)
