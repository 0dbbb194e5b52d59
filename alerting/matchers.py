"""Label matchers, as Alertmanager writes them: ``name="value"``, ``!=``, ``=~``, ``!~``.

Silences and inhibit rules select alerts with matchers. The text form is Alertmanager's
(``service=~"workers|pages"``, a list optionally in braces: ``{env="prod", zone!="x"}``), the
structured form is Alertmanager's API v2 (``{"name", "value", "isRegex", "isEqual"}``), so
silences and inhibit rules copy between flarewatch and Alertmanager unchanged.

Semantics follow Alertmanager: a regex is anchored at both ends (``=~"work"`` does not match
``workers``), and a label the alert does not have counts as the empty string, so
``env=""`` matches alerts without ``env`` and ``env!="prod"`` matches them too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Longest operators first, so "=~" is not read as "=" followed by a value starting with "~".
_OPERATORS = ("=~", "!~", "!=", "=")
# A value may be written without quotes if it holds none of these.
_BARE_STOP = frozenset(" \t\r\n\",{}'")


class MatcherError(ValueError):
    """A matcher that cannot be parsed or built; the message says what and where."""


class MatchOp(StrEnum):
    """How a matcher compares a label's value."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True)
class Matcher:
    """One condition on one label: ``name op value``.

    Built directly, parsed with :func:`parse_matcher`, or read from Alertmanager's structured
    form with :meth:`from_dict`. A regex is compiled once, here, and matched against the
    whole value.
    """

    name: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if not is_label_name(self.name):
            raise MatcherError(
                f"invalid label name {self.name!r}: use letters, digits and '_', "
                "not starting with a digit"
            )
        try:
            op = MatchOp(self.op)
        except ValueError:
            raise MatcherError(
                f"unknown matcher operator {self.op!r}: use one of =, !=, =~, !~"
            ) from None
        object.__setattr__(self, "op", op)
        if op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            try:
                regex = re.compile(self.value)
            except re.error as err:
                raise MatcherError(
                    f"invalid regular expression {self.value!r} for label {self.name!r}: {err}"
                ) from None
            object.__setattr__(self, "_regex", regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher; a missing label counts as ``""``."""
        actual = labels.get(self.name, "")
        if self._regex is None:
            return (actual == self.value) == (self.op is MatchOp.EQUAL)
        return (self._regex.fullmatch(actual) is not None) == (self.op is MatchOp.REGEX)

    def matches_empty(self) -> bool:
        """Whether this matcher also selects alerts that lack the label altogether."""
        return self.matches({})

    def __str__(self) -> str:
        """The canonical text form, which :func:`parse_matcher` reads back unchanged."""
        return f'{self.name}{self.op.value}"{_escape(self.value)}"'

    def to_dict(self) -> dict[str, str | bool]:
        """Alertmanager's API v2 form: ``name``, ``value``, ``isRegex``, ``isEqual``."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX),
            "isEqual": self.op in (MatchOp.EQUAL, MatchOp.REGEX),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Matcher:
        """Read Alertmanager's API v2 form; ``isEqual`` defaults to true as there."""
        unknown = sorted(set(data) - {"name", "value", "isRegex", "isEqual"})
        if unknown:
            raise MatcherError(f"unknown matcher field(s): {', '.join(unknown)}")
        name, value = data.get("name"), data.get("value")
        is_regex, is_equal = data.get("isRegex", False), data.get("isEqual", True)
        if not isinstance(name, str):
            raise MatcherError("matcher field 'name' must be a string")
        if not isinstance(value, str):
            raise MatcherError("matcher field 'value' must be a string")
        if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
            raise MatcherError("matcher fields 'isRegex' and 'isEqual' must be true or false")
        op = {
            (False, True): MatchOp.EQUAL,
            (False, False): MatchOp.NOT_EQUAL,
            (True, True): MatchOp.REGEX,
            (True, False): MatchOp.NOT_REGEX,
        }[(is_regex, is_equal)]
        return cls(name, op, value)


def is_label_name(name: str) -> bool:
    """Whether ``name`` is a valid label name: letters, digits and ``_``, not starting with a
    digit (Prometheus' rule)."""
    return _LABEL_NAME.fullmatch(name) is not None


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher is satisfied by ``labels`` (an empty set matches everything)."""
    return all(m.matches(labels) for m in matchers)


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as ``service=~"workers|pages"`` or ``env=prod``.

    Values may be double-quoted (``\\"``, ``\\\\`` and ``\\n`` are escapes; any other
    backslash is kept, so ``"\\d+"`` is the regex ``\\d+``) or bare when they hold no
    whitespace, quotes, commas or braces.
    """
    scanner = _Scanner(text)
    scanner.skip_space()
    matcher = scanner.matcher()
    scanner.skip_space()
    if not scanner.at_end():
        raise scanner.error("unexpected text after the matcher")
    return matcher


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """Parse a comma-separated list, optionally in braces: ``{env="prod", zone=~"a|b"}``.

    An empty text or ``{}`` is an empty list; a trailing comma is allowed.
    """
    scanner = _Scanner(text)
    scanner.skip_space()
    braced = scanner.take("{")
    matchers: list[Matcher] = []
    while True:
        scanner.skip_space()
        if scanner.at_end() or (braced and scanner.peek() == "}"):
            break
        matchers.append(scanner.matcher())
        scanner.skip_space()
        if not scanner.take(","):
            break
    scanner.skip_space()
    if braced and not scanner.take("}"):
        raise scanner.error("expected ',' or a closing '}'")
    scanner.skip_space()
    if not scanner.at_end():
        raise scanner.error(
            "expected ',' between matchers" if not braced else "unexpected text after '}'"
        )
    return tuple(matchers)


MATCHER_HINT = "write matchers such as 'rule=\"probe_down\"' or 'probe=~\"api|web\"'"
"""What a problem with a matcher list suggests (docs/alerts.md, "Matchers")."""


def parse_matcher_list(
    raw: object, *, field: str = "matchers", allow_text: bool = True
) -> tuple[tuple[Matcher, ...], list[str]]:
    """Matchers as silences take them, and every problem with them (pure).

    ``raw`` is a list whose items are matcher texts (each may hold several, comma-separated,
    as :func:`parse_matchers` reads them) or Alertmanager's structured form
    (``{"name", "value", "isRegex", "isEqual"}``); with ``allow_text`` one text alone is
    read as a one-item list. Each problem names the field and the item
    (``matchers[1]: invalid matcher 'x="': …``) and ends with :data:`MATCHER_HINT` when the
    shape is wrong. The API, the silences file and ``flarewatch silence add`` all read
    matchers through here.
    """
    if isinstance(raw, str) and allow_text:
        items: list[object] = [raw]
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        return (), [f"{field} must be a list of matchers; {MATCHER_HINT}"]
    out: list[Matcher] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        try:
            if isinstance(item, str):
                out.extend(parse_matchers(item))
            elif isinstance(item, Mapping):
                out.append(Matcher.from_dict(item))
            else:
                problems.append(
                    f"{field}[{index}] must be text or Alertmanager's mapping "
                    f"{{name, value, isRegex, isEqual}}; {MATCHER_HINT}"
                )
        except MatcherError as err:
            problems.append(f"{field}[{index}]: {err}")
    return tuple(out), problems


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Scanner:
    """A cursor over matcher text that raises :class:`MatcherError` naming the column."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, problem: str) -> MatcherError:
        return MatcherError(f"invalid matcher {self.text!r}: {problem} at column {self.pos + 1}")

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def skip_space(self) -> None:
        while not self.at_end() and self.text[self.pos].isspace():
            self.pos += 1

    def matcher(self) -> Matcher:
        name_match = _LABEL_NAME.match(self.text, self.pos)
        if name_match is None:
            raise self.error(
                "expected a label name (letters, digits and '_', not starting with a digit)"
            )
        self.pos = name_match.end()
        self.skip_space()
        op = next((o for o in _OPERATORS if self.take(o)), None)
        if op is None:
            raise self.error(f"expected one of =, !=, =~, !~ after {name_match.group()!r}")
        self.skip_space()
        value = self.quoted() if self.peek() == '"' else self.bare()
        try:
            return Matcher(name_match.group(), MatchOp(op), value)
        except MatcherError as err:
            raise MatcherError(f"invalid matcher {self.text!r}: {err}") from None

    def quoted(self) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\" and self.pos + 1 < len(self.text):
                escaped = self.text[self.pos + 1]
                out.append({"n": "\n", '"': '"', "\\": "\\"}.get(escaped, "\\" + escaped))
                self.pos += 2
                continue
            out.append(char)
            self.pos += 1
        self.pos = start
        raise self.error("unterminated quoted value")

    def bare(self) -> str:
        start = self.pos
        if self.peek() in ("=", "!", "~"):
            # "a==b" or "a=!b" is a mistyped operator far more often than a value.
            raise self.error(f"a value starting with {self.peek()!r} must be quoted")
        while not self.at_end() and self.text[self.pos] not in _BARE_STOP:
            self.pos += 1
        if self.pos == start:
            if self.peek() == "'":
                raise self.error("use double quotes around values")
            raise self.error('expected a value (write "" for the empty value)')
        return self.text[start : self.pos]
