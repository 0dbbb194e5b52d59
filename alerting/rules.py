"""Alert rules: their config, their loading and checking, and their pure evaluation.

A rule selects probes (by name, type and label matchers), states a CEL condition over one
probe's observation (:mod:`alerting.conditions`), and carries ``for`` / ``keep_firing_for``,
a severity, labels and summary / description templates (:mod:`alerting.templates`).

Loading checks everything a load can know and reports every problem at once, each with the
rule's name and key path (``rules[3].condition``) for the daemon to turn into file:line.
:func:`evaluate` turns one round of observations into one :class:`~alerting.model.RuleVerdict`
per (rule, selected probe); the lifecycle takes it from there. docs/rules.md is the user guide.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
)

from alerting.celengine import cel
from alerting.conditions import (
    ACTIVE,
    FLAT_PREFIX,
    INACTIVE,
    REASONS,
    Condition,
    ConditionError,
    Outcome,
    check_condition,
    compile_condition,
    flat_missing,
    run_condition,
)
from alerting.matchers import Matcher, matches_all, parse_matcher
from alerting.model import SEVERITIES, Observation, RuleVerdict, Severity
from alerting.templates import Template, TemplateError, TemplateFields, compile_template

_T = TypeVar("_T")

RESERVED_LABELS: frozenset[str] = frozenset({"probe", "probe_type", "severity", "rule"})
"""Labels every verdict gets from its probe and rule; a rule cannot set them."""

_NAME = re.compile(r"[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*")
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_URL = re.compile(r"https?://[^\s/$.?#][^\s]*")
_MAX_NAME = 128
_SHAREABLE = frozenset({"status", "type", "reason"})

# --- durations -------------------------------------------------------------------------
#
# The same syntax as probe settings and the daemon's config (probes.units.parse_duration),
# parsed here because alerting does not import probes; tests/unit/alerting/
# test_durations_agree.py runs one table through both. Where both refuse, this parser's
# message is the probes one with a more specific suggestion appended when there is one.

_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_UNIT_ALIASES: dict[str, str] = {
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "day": "d",
    "days": "d",
    "wk": "w",
    "week": "w",
    "weeks": "w",
    "msec": "ms",
    "millis": "ms",
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_ANY_PART = re.compile(r"(\d+(?:\.\d+)?)([a-z]*)")
_EXAMPLES = "30s, 2m or 250ms"


class DurationError(ValueError):
    """A duration that does not parse; the message says how to write it."""


def parse_duration(value: object) -> float:
    """Seconds in ``value``: a number of seconds, or text such as ``"1h30m"``, ``"45s"``,
    ``"250ms"`` (units ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``; case and surrounding blanks do
    not matter).

    Accepts exactly what :func:`probes.units.parse_duration` accepts; raises
    :class:`DurationError` with the same message, plus a suggestion where one fits.
    """
    if isinstance(value, bool):
        raise DurationError(f"expected a duration such as {_EXAMPLES}, got a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise DurationError("a duration cannot be negative")
        if not math.isfinite(value):
            raise DurationError(f"{value!r} is not a duration: write a number of seconds")
        return float(value)
    if not isinstance(value, str):
        raise DurationError(f"expected a duration such as {_EXAMPLES}, got {type(value).__name__}")
    text = value.strip().lower()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise DurationError(
            f"{value!r} is not a duration: write a number with a unit (ms, s, m, h, d, w), "
            f"e.g. 30s, 1m30s or 250ms{_suggestion(text)}"
        )
    return total


def _suggestion(text: str) -> str:
    """A fix for a refused duration, when one is plain: spaces, a spelled-out unit, a
    missing unit, a minus sign."""
    if text.startswith("-"):
        return "; durations cannot be negative"
    compact = "".join(text.split())
    parts = list(_ANY_PART.finditer(compact))
    if not compact or not parts or "".join(p.group(0) for p in parts) != compact:
        return ""
    fixed = ""
    for part in parts:
        number, unit = part.group(1), part.group(2)
        unit = _UNIT_ALIASES.get(unit, unit)
        if unit not in _UNITS:
            return "" if unit else f"; for seconds write '{compact}s'"
        fixed += number + unit
    return f"; did you mean '{fixed}'?" if fixed != text else ""


def _duration_from_config(raw: object) -> float:
    return parse_duration(raw)


Duration = Annotated[float, PlainValidator(_duration_from_config)]
"""A duration in config (``'5m'``, or a number of seconds), held as seconds."""


# --- label matchers --------------------------------------------------------------------


def _matcher_from_config(raw: object) -> Matcher:
    if isinstance(raw, Matcher):
        return raw
    if not isinstance(raw, str):
        raise ValueError(f'a label matcher is text such as env="prod", not {type(raw).__name__}')
    return parse_matcher(raw)


SelectorMatcher = Annotated[Matcher, PlainValidator(_matcher_from_config), PlainSerializer(str)]
"""A label matcher in config, in Alertmanager's syntax (:mod:`alerting.matchers`)."""


# --- config models ---------------------------------------------------------------------


class Selector(BaseModel):
    """Which probes a rule looks at; every given criterion must hold, none selects all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    probes: tuple[str, ...] = ()
    """Probe names (exact)."""
    types: tuple[str, ...] = ()
    """Probe types: ``workers``, ``pages``, ``kv``, ``r2``, ``d1``, ``dns``, ``http``, ``api``."""
    labels: tuple[SelectorMatcher, ...] = ()
    """Label matchers, all of which must match; ``probe`` and ``probe_type`` match the
    probe's name and type, and a label the probe lacks counts as empty."""

    @field_validator("probes", "types")
    @classmethod
    def _non_empty(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if any(not n for n in names):
            raise ValueError("names cannot be empty")
        return names

    def matches(self, observation: Observation) -> bool:
        """Whether this selector picks ``observation``'s probe."""
        if self.probes and observation.probe not in self.probes:
            return False
        if self.types and observation.probe_type not in self.types:
            return False
        if not self.labels:
            return True
        labels = {
            **observation.labels,
            "probe": observation.probe,
            "probe_type": observation.probe_type,
        }
        return matches_all(self.labels, labels)


class Rule(BaseModel):
    """One alert rule as written in config.

    The YAML key ``for`` is the attribute ``for_``; durations are given as text (``"5m"``)
    and held as seconds, so build a rule from a mapping: ``Rule.model_validate({...})``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """Unique, lower-case snake_case or kebab-case."""
    select: Selector = Selector()
    condition: str
    """A CEL expression over ``status``, ``values``, ``labels``, ``probe``, ``type``, ``reason``."""
    for_: Duration = Field(default=0.0, alias="for")
    """How long the condition must hold before the alert fires (seconds)."""
    keep_firing_for: Duration = 0.0
    """How long the alert keeps firing after the condition clears (seconds)."""
    severity: Severity
    labels: Mapping[str, str] = Field(default_factory=dict)
    """Added to every verdict's labels (overriding the probe's labels of the same name)."""
    summary: str
    """A one-line template (:mod:`alerting.templates`)."""
    description: str = ""
    """A longer template showing the numbers."""
    runbook_url: str | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if len(name) > _MAX_NAME or not _NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a rule name: lower-case letters and digits in"
                " snake_case or kebab-case, starting with a letter, at most 128 characters"
            )
        return name

    @field_validator("condition")
    @classmethod
    def _check_condition(cls, condition: str) -> str:
        try:
            compile_condition(condition)
        except ConditionError as err:
            raise ValueError("; ".join(err.problems)) from err
        return condition

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, labels: Mapping[str, str]) -> Mapping[str, str]:
        problems = [
            f"{name!r} is not a label name (letters, digits, underscores)"
            for name in labels
            if not _LABEL_NAME.fullmatch(name)
        ]
        problems += [
            f"{name!r} is set on every verdict from the probe and rule; choose another name"
            for name in labels
            if name in RESERVED_LABELS
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return labels

    @field_validator("summary", "description")
    @classmethod
    def _check_template(cls, text: str) -> str:
        try:
            compile_template(text)
        except TemplateError as err:
            raise ValueError("; ".join(err.problems)) from err
        return text

    @field_validator("summary")
    @classmethod
    def _summary_not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("the summary cannot be empty")
        return text

    @field_validator("runbook_url")
    @classmethod
    def _check_url(cls, url: str | None) -> str | None:
        if url is not None and not _URL.fullmatch(url):
            raise ValueError(f"{url!r} is not an http(s) URL")
        return url


# --- problems --------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleProblem:
    """One fault in the rules: where (``source``, ``path``), which rule, and what."""

    path: str
    message: str
    rule: str | None = None
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        which = f" (rule {self.rule})" if self.rule else ""
        return f"{where}{self.path}{which}: {self.message}"


class RuleError(ValueError):
    """The rules do not load; ``problems`` holds every fault found, in file order."""

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        self.problems: tuple[RuleProblem, ...] = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the rules:\n{lines}")


# --- compiled rules --------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CompiledRule:
    """A loaded rule with its condition and templates compiled."""

    index: int
    rule: Rule
    condition: Condition
    summary: Template
    description: Template
    labels: Mapping[str, str]
    """What the rule adds to a verdict's labels: its own labels and ``severity``."""
    shared_context: bool
    """The condition reads only ``status``, ``type`` and ``reason``, so one context per
    distinct (status, type, reason) serves every probe."""
    source: str = ""
    """Where the rule was loaded from: its rule pack's path, or the configuration's for
    inline rules (``flarewatch rules export`` groups by it)."""

    @classmethod
    def of(
        cls,
        index: int,
        rule: Rule,
        condition: Condition,
        summary: Template,
        description: Template,
        *,
        source: str = "",
    ) -> CompiledRule:
        """Assemble a compiled rule, working out the labels it adds."""
        return cls(
            index=index,
            rule=rule,
            condition=condition,
            summary=summary,
            description=description,
            labels={**rule.labels, "severity": rule.severity},
            shared_context=condition.variables <= _SHAREABLE,
            source=source,
        )

    @property
    def name(self) -> str:
        """The rule's name."""
        return self.rule.name


@dataclass(frozen=True, eq=False)
class RuleSet:
    """Compiled rules, indexed so that a probe meets only the rules that may select it.

    ``by_type`` holds, per probe type, the rules selecting that type plus those selecting
    every probe, in rule order; ``everywhere`` serves probe types no rule names;
    ``by_probe`` the rules naming probes. Only rules with label matchers (or naming probes)
    are checked against each observation; the others are selected by the index alone.
    """

    rules: tuple[CompiledRule, ...]
    by_probe: Mapping[str, tuple[CompiledRule, ...]]
    by_type: Mapping[str, tuple[CompiledRule, ...]]
    everywhere: tuple[CompiledRule, ...]
    checked: frozenset[int]
    """Indexes of the rules the index alone cannot decide."""
    needs_check: frozenset[str]
    """Probe types whose candidate rules include checked ones (``""``: the types no rule
    names)."""

    @classmethod
    def of(cls, rules: Sequence[CompiledRule]) -> RuleSet:
        """Index ``rules``: by probe name if they name probes, else by type, else everywhere."""
        by_probe: dict[str, list[CompiledRule]] = {}
        by_type: dict[str, list[CompiledRule]] = {}
        everywhere: list[CompiledRule] = []
        checked: set[int] = set()
        for compiled in rules:
            select = compiled.rule.select
            if select.probes:
                checked.add(compiled.index)
                for probe in dict.fromkeys(select.probes):
                    by_probe.setdefault(probe, []).append(compiled)
                continue
            if select.labels:
                checked.add(compiled.index)
            if select.types:
                for probe_type in dict.fromkeys(select.types):
                    by_type.setdefault(probe_type, []).append(compiled)
            else:
                everywhere.append(compiled)
        typed = {k: _in_order([*v, *everywhere]) for k, v in by_type.items()}
        needs_check = {t for t, candidates in typed.items() if _any_in(candidates, checked)}
        if _any_in(everywhere, checked):
            needs_check.add("")
        return cls(
            rules=tuple(rules),
            by_probe={k: tuple(v) for k, v in by_probe.items()},
            by_type=typed,
            everywhere=tuple(everywhere),
            checked=frozenset(checked),
            needs_check=frozenset(needs_check),
        )

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[CompiledRule]:
        return iter(self.rules)

    def select(self, observation: Observation) -> tuple[CompiledRule, ...]:
        """The rules that select ``observation``'s probe, in rule order."""
        probe_type = observation.probe_type
        candidates = self.by_type.get(probe_type)
        if candidates is None:
            candidates, probe_type = self.everywhere, ""
        named = self.by_probe.get(observation.probe)
        if named is not None:
            candidates = _in_order([*candidates, *named])
        elif probe_type not in self.needs_check:
            return candidates
        checked = self.checked
        return tuple(
            c for c in candidates if c.index not in checked or c.rule.select.matches(observation)
        )


def _any_in(rules: Iterable[CompiledRule], indexes: frozenset[int] | set[int]) -> bool:
    return any(c.index in indexes for c in rules)


def _in_order(rules: Iterable[CompiledRule]) -> tuple[CompiledRule, ...]:
    return tuple(sorted(rules, key=lambda c: c.index))


# --- loading ---------------------------------------------------------------------------


@dataclass
class _Loader:
    """Accumulates compiled rules and problems over one or more lists of rules."""

    known_values: Mapping[str, frozenset[str]] | None
    reasons: frozenset[str]
    compiled: list[CompiledRule] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)
    first: dict[str, tuple[str, str]] = field(default_factory=dict)

    def load(self, raw: object, *, source: str, path: str) -> None:
        """Validate and compile every item of ``raw``, recording every problem."""
        if not isinstance(raw, list):
            kind = "nothing" if raw is None else type(raw).__name__
            self.problems.append(
                RuleProblem(
                    path=path, message=f"expected a list of rules, got {kind}", source=source
                )
            )
            return
        for i, item in enumerate(raw):
            item_path = f"{path}[{i}]"
            name = item.get("name") if isinstance(item, Mapping) else None
            rule_name = name if isinstance(name, str) else None
            try:
                rule: Rule | None = Rule.model_validate(item)
            except ValidationError as err:
                rule = None
                self.problems.extend(_from_validation(err, item_path, rule_name, source))
            parts = _Parts.of_rule(rule) if rule is not None else _Parts.of_raw(item)
            self.add(rule, parts, rule_name, source=source, path=item_path)

    def add(
        self, rule: Rule | None, parts: _Parts, name: str | None, *, source: str, path: str
    ) -> None:
        """Check one rule (or what is usable of an invalid one) and keep it if sound."""
        problems: list[tuple[str, str]] = []
        if name is not None:
            if name in self.first:
                first_source, first_path = self.first[name]
                where = first_path if first_source == source else f"{first_source}: {first_path}"
                problems.append(("name", f"duplicate rule name (first at {where})"))
            else:
                self.first[name] = (source, path)
        problems += _semantic_problems(parts, known_values=self.known_values, reasons=self.reasons)
        self.problems.extend(
            RuleProblem(path=f"{path}.{key}", message=message, rule=name, source=source)
            for key, message in problems
        )
        condition, summary, description = parts.condition, parts.summary, parts.description
        if rule is None or problems or condition is None or summary is None or description is None:
            return
        self.compiled.append(
            CompiledRule.of(
                len(self.compiled), rule, condition, summary, description, source=source
            )
        )

    def result(self) -> RuleSet:
        """The rule set, or :class:`RuleError` with every problem found."""
        if self.problems:
            raise RuleError(self.problems)
        return RuleSet.of(self.compiled)


@dataclass(frozen=True)
class _Parts:
    """The pieces of a rule the semantic checks need; ``None`` where they are unusable."""

    condition: Condition | None
    types: tuple[str, ...]
    summary: Template | None
    description: Template | None

    @classmethod
    def of_rule(cls, rule: Rule) -> _Parts:
        return cls(
            condition=compile_condition(rule.condition),
            types=rule.select.types,
            summary=compile_template(rule.summary),
            description=compile_template(rule.description),
        )

    @classmethod
    def of_raw(cls, item: object) -> _Parts:
        """What can still be checked in a rule that failed validation elsewhere."""
        if not isinstance(item, Mapping):
            return cls(condition=None, types=(), summary=None, description=None)
        select = item.get("select")
        types = select.get("types") if isinstance(select, Mapping) else None
        valid_types = isinstance(types, list) and all(isinstance(t, str) and t for t in types)
        return cls(
            condition=_try(compile_condition, item.get("condition")),
            types=tuple(types) if valid_types and isinstance(types, list) else (),
            summary=_try(compile_template, item.get("summary")),
            description=_try(compile_template, item.get("description")),
        )


def _try(compile_text: Callable[[str], _T], text: object) -> _T | None:
    if not isinstance(text, str):
        return None
    try:
        return compile_text(text)
    except (ConditionError, TemplateError):
        return None


def load_rules(
    raw: object,
    *,
    known_values: Mapping[str, frozenset[str]] | None = None,
    reasons: frozenset[str] = REASONS,
    source: str = "",
    path: str = "rules",
) -> RuleSet:
    """Validate and compile a list of rules as parsed from YAML; raise :class:`RuleError`.

    ``known_values`` maps each probe type to the value names it publishes (the daemon
    passes its probe registry's); with it, unknown probe types and value names are errors.
    ``source`` (a file name) and ``path`` (the list's key path) locate each problem.
    """
    loader = _Loader(known_values=known_values, reasons=reasons)
    loader.load(raw, source=source, path=path)
    return loader.result()


def load_rule_packs(
    packs: Sequence[tuple[str, object]],
    *,
    known_values: Mapping[str, frozenset[str]] | None = None,
    reasons: frozenset[str] = REASONS,
) -> RuleSet:
    """Load several rule pack documents (``{"rules": [...]}``), each named by its source.

    Problems from every pack are reported together; names must be unique across packs.
    """
    loader = _Loader(known_values=known_values, reasons=reasons)
    for source, document in packs:
        if not isinstance(document, Mapping) or "rules" not in document:
            loader.problems.append(
                RuleProblem(
                    path="rules",
                    message="a rule pack is a mapping with a 'rules' list",
                    source=source,
                )
            )
            continue
        loader.problems.extend(
            RuleProblem(
                path=str(key), message="unknown key: a pack holds only 'rules'", source=source
            )
            for key in document
            if key != "rules"
        )
        loader.load(document["rules"], source=source, path="rules")
    return loader.result()


def compile_rules(
    rules: Sequence[Rule],
    *,
    known_values: Mapping[str, frozenset[str]] | None = None,
    reasons: frozenset[str] = REASONS,
    source: str = "",
    path: str = "rules",
) -> RuleSet:
    """Compile rules already validated as :class:`Rule` models (for example inside the
    daemon's config model); raise :class:`RuleError` for what needs the whole set."""
    loader = _Loader(known_values=known_values, reasons=reasons)
    for i, rule in enumerate(rules):
        loader.add(rule, _Parts.of_rule(rule), rule.name, source=source, path=f"{path}[{i}]")
    return loader.result()


_RULE_KEYS = tuple(f.alias or n for n, f in Rule.model_fields.items())
_SELECT_KEYS = tuple(Selector.model_fields)


def _from_validation(
    err: ValidationError, path: str, rule: str | None, source: str
) -> list[RuleProblem]:
    problems: list[RuleProblem] = []
    for error in err.errors():
        loc = error["loc"]
        where = path + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        kind = error["type"]
        if kind == "extra_forbidden" and loc:
            keys = _SELECT_KEYS if loc[:-1] == ("select",) else _RULE_KEYS
            message = f"unknown key{_did_you_mean(str(loc[-1]), keys)} (keys: {', '.join(keys)})"
        elif kind == "missing":
            message = "required"
        elif kind == "literal_error" and loc == ("severity",):
            message += _did_you_mean(str(error["input"]), SEVERITIES)
        elif kind == "model_type" and not loc:
            message = "a rule is a mapping of keys (name, select, condition, …)"
        problems.append(RuleProblem(path=where, message=message, rule=rule, source=source))
    return problems


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _semantic_problems(
    parts: _Parts,
    *,
    known_values: Mapping[str, frozenset[str]] | None,
    reasons: frozenset[str],
) -> list[tuple[str, str]]:
    """What needs more than the rule's own text: probe types, value names, typing."""
    problems: list[tuple[str, str]] = []
    published: frozenset[str] | None = None
    values_of = ""
    if known_values is not None:
        types = parts.types
        listed = ", ".join(sorted(known_values))
        problems.extend(
            (
                f"select.types[{i}]",
                f"unknown probe type {probe_type!r}"
                f"{_did_you_mean(probe_type, sorted(known_values))} (types: {listed})",
            )
            for i, probe_type in enumerate(types)
            if probe_type not in known_values
        )
        selected = [t for t in types if t in known_values] if types else sorted(known_values)
        if selected:
            published = frozenset().union(*(known_values[t] for t in selected))
            plural = "s" if len(selected) > 1 else ""
            values_of = f"probe type{plural} {', '.join(selected)}" if types else "any probe type"
    if parts.condition is not None:
        problems.extend(
            ("condition", message)
            for message in check_condition(
                parts.condition,
                known_values=published,
                values_of=values_of,
                known_types=frozenset(known_values) if known_values is not None else None,
                reasons=reasons,
            )
        )
    if published is not None:
        for key, template in (("summary", parts.summary), ("description", parts.description)):
            if template is None:
                continue
            problems.extend(
                (
                    key,
                    f"${{values.{name}}} is not published by {values_of}"
                    + _did_you_mean(name, sorted(published)).replace("'", "'values.", 1),
                )
                for name in sorted(template.value_names - published)
            )
    return problems


# --- evaluation ------------------------------------------------------------------------


class Annotations(Mapping[str, str]):
    """A verdict's ``summary``, ``description`` and ``runbook_url``, rendered when first read.

    Most verdicts of a round are never shown to anyone, so rendering waits for a reader; the
    result depends only on what the verdict was built from, so when it renders is invisible.
    """

    __slots__ = ("_labels", "_observation", "_rendered", "_rule", "_values")

    def __init__(
        self,
        rule: CompiledRule,
        observation: Observation,
        values: Mapping[str, float],
        labels: Mapping[str, str],
    ) -> None:
        self._rule = rule
        self._observation = observation
        self._values = values
        self._labels = labels
        self._rendered: dict[str, str] | None = None

    def _render(self) -> dict[str, str]:
        if self._rendered is None:
            rule, obs = self._rule, self._observation
            fields = TemplateFields(
                probe=obs.probe,
                type=obs.probe_type,
                status=obs.status,
                reason=obs.reason,
                message=obs.message,
                rule=rule.name,
                severity=rule.rule.severity,
                values=self._values,
                labels=self._labels,
            )
            rendered = {"summary": rule.summary.render(fields)}
            if rule.rule.description:
                rendered["description"] = rule.description.render(fields)
            if rule.rule.runbook_url:
                rendered["runbook_url"] = rule.rule.runbook_url
            self._rendered = rendered
        return self._rendered

    def __getitem__(self, key: str) -> str:
        return self._render()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._render())

    def __len__(self) -> int:
        return len(self._render())

    def __repr__(self) -> str:
        return f"Annotations({self._render()!r})"


@dataclass(frozen=True)
class _Needs:
    """What the conditions of some rules read, so that a context carries nothing more."""

    variables: frozenset[str]
    value_names: frozenset[str] | None
    label_names: frozenset[str] | None

    @classmethod
    def of(cls, rules: Sequence[CompiledRule]) -> _Needs:
        """The union of what ``rules`` read, leaving out the rules a shared context serves."""
        conditions = [r.condition for r in rules if not r.shared_context]
        all_values = any(c.reads_all_values for c in conditions)
        all_labels = any(c.reads_all_labels for c in conditions)
        return cls(
            variables=frozenset().union(*(c.variables for c in conditions)),
            value_names=None
            if all_values
            else frozenset().union(*(c.value_names for c in conditions)),
            label_names=None
            if all_labels
            else frozenset().union(*(c.label_names for c in conditions)),
        )


@dataclass(frozen=True, eq=False)
class _Plan:
    """How to evaluate one selection of rules (the rules a probe meets, in rule order).

    Worked out once per distinct selection: the programs to run, which of them a shared
    context serves, and what the probe's own context must hold. When every rule on the own
    context has a :attr:`~alerting.conditions.Condition.flat` program and names the values
    it reads, those run instead, on a context holding each value as a variable (``flat``:
    the value names and their variables).
    """

    rules: tuple[CompiledRule, ...]
    programs: tuple[cel.Program, ...]
    steps: tuple[tuple[cel.Program, bool], ...]
    """Per rule: the program to run and whether it runs on the shared context."""
    needs: _Needs
    flat: tuple[tuple[str, str], ...] | None
    pure: tuple[int, ...]
    """With ``flat``: the rules whose condition reads nothing but named values. When none
    of those values is there, such a condition has one outcome whatever the probe, so it is
    decided once (:attr:`EvaluationCache._void`) rather than run and failed per probe."""
    any_shared: bool
    any_own: bool

    @classmethod
    def of(cls, rules: tuple[CompiledRule, ...]) -> _Plan:
        """The plan for ``rules``."""
        needs = _Needs.of(rules)
        own = [c.condition for c in rules if not c.shared_context]
        flat = None
        if own and needs.value_names is not None and all(c.flat is not None for c in own):
            flat = tuple((name, FLAT_PREFIX + name) for name in sorted(needs.value_names))

        def program(c: CompiledRule) -> cel.Program:
            if flat is None or c.shared_context or c.condition.flat is None:
                return c.condition.program
            return c.condition.flat

        return cls(
            rules=rules,
            programs=tuple(program(c) for c in rules),
            steps=tuple((program(c), c.shared_context) for c in rules),
            needs=needs,
            flat=flat,
            pure=()
            if flat is None
            else tuple(
                i
                for i, c in enumerate(rules)
                if not c.shared_context
                and c.condition.variables == {"values"}
                and c.condition.value_names
            ),
            any_shared=len(own) < len(rules),
            any_own=bool(own),
        )


_NO_OUTCOMES: dict[int, Outcome] = {}
_MAX_VOID_SETS = 1024
"""Bounds :attr:`EvaluationCache._void_sets` (one entry per plan and set of values present)."""
_FLOAT = {float}


class _Entry:
    """One probe's evaluated observation: the outcome of every rule selecting it.

    Only the outcomes are computed up front: ``active`` lists the positions (in ``rules``)
    whose condition held and ``undecided`` maps the positions that could not be decided to
    their :class:`~alerting.conditions.Outcome`; every other position is decided inactive.
    A verdict is built when first asked for and kept in ``built``; a later round asking
    again (the observation unchanged but for its time) copies it with the new time.
    ``labels`` holds the verdict labels made so far and is shared with the probe's next
    entry while its type and labels stay the same, since verdict labels depend on nothing
    else. Nothing is allocated that a round without verdicts to build does not need: entries
    are most of what a round leaves behind, and what it leaves behind the garbage collector
    walks.
    """

    __slots__ = ("active", "built", "labels", "observation", "rules", "undecided", "values")

    def __init__(
        self,
        observation: Observation,
        values: dict[str, float],
        rules: tuple[CompiledRule, ...],
        labels: dict[int, Mapping[str, str]] | None,
        active: tuple[int, ...],
        undecided: dict[int, Outcome],
    ) -> None:
        self.observation = observation
        self.values = values
        self.rules = rules
        self.labels = labels
        self.active = active
        self.undecided = undecided
        self.built: dict[int, RuleVerdict] | None = None

    def verdict(self, i: int, at: float) -> RuleVerdict:
        """The verdict of rule ``rules[i]`` for an observation taken at ``at``."""
        built = self.built
        if built is None:
            built = self.built = {}
        known = built.get(i)
        if known is None:
            known = built[i] = self._first(i, at)
        elif known.at != at:
            known = built[i] = _with_time(known, at)
        return known

    def _first(self, i: int, at: float) -> RuleVerdict:
        compiled = self.rules[i]
        rule = compiled.rule
        made = self.labels
        if made is None:
            made = self.labels = {}
        labels = made.get(i)
        if labels is None:
            obs = self.observation
            labels = made[i] = {
                **obs.labels,
                "probe": obs.probe,
                "probe_type": obs.probe_type,
                **compiled.labels,
            }
        outcome = self.undecided.get(i) if self.undecided else None
        if outcome is None:
            outcome = ACTIVE if i in self.active else INACTIVE
        verdict = _new_verdict(RuleVerdict)
        verdict.__dict__.update(
            rule=rule.name,
            severity=rule.severity,
            labels=labels,
            active=outcome.active,
            at=at,
            values=self.values,
            annotations=Annotations(compiled, self.observation, self.values, labels),
            for_s=rule.for_,
            keep_firing_for_s=rule.keep_firing_for,
            missing=outcome.missing,
            error=outcome.error,
        )
        return verdict


# RuleVerdict is a frozen dataclass: its __init__ sets each of the eleven fields through
# object.__setattr__, which is most of the cost of a verdict (1.3 us against 0.4 us). Filling
# the instance dictionary directly builds an equal object and skips no check (RuleVerdict has
# no __post_init__); test_rules_evaluation compares the result with verdicts built by
# keyword, field for field, so a field added to RuleVerdict and not here fails there.
_new_verdict = object.__new__


def _with_time(verdict: RuleVerdict, at: float) -> RuleVerdict:
    """``dataclasses.replace(verdict, at=at)`` at a third of the cost."""
    copy = _new_verdict(RuleVerdict)
    fields = copy.__dict__
    fields.update(verdict.__dict__)
    fields["at"] = at
    return copy


class Verdicts:
    """One round's verdicts: one per (rule, observation it selects), built when asked for.

    A round of 1,000 probes holds thousands of verdicts, nearly all of them inactive and
    about no alert; the lifecycle can only use the active ones and the inactive ones about
    alerts it already holds. So :func:`evaluate` computes every outcome but builds no
    :class:`~alerting.model.RuleVerdict`: :meth:`relevant` builds just what the lifecycle can
    use, :meth:`active` and :meth:`undecided` what their names say, and iterating builds
    every verdict, in observation order then rule order. Every way yields equal verdicts.
    """

    __slots__ = ("_count", "_entries", "_observations")

    def __init__(self, observations: list[Observation], entries: list[_Entry], count: int) -> None:
        self._observations = observations
        self._entries = entries
        self._count = count

    def _rows(self) -> Iterator[tuple[Observation, _Entry]]:
        return zip(self._observations, self._entries, strict=True)

    def __len__(self) -> int:
        """How many verdicts the round holds (its (rule, probe) pairs)."""
        return self._count

    def __iter__(self) -> Iterator[RuleVerdict]:
        """Every verdict, in observation order then rule order."""
        for obs, entry in self._rows():
            at = obs.at
            for i in range(len(entry.rules)):
                yield entry.verdict(i, at)

    def active(self) -> list[RuleVerdict]:
        """The verdicts whose condition held, in round order."""
        return [entry.verdict(i, obs.at) for obs, entry in self._rows() for i in entry.active]

    def undecided(self) -> list[RuleVerdict]:
        """The verdicts that could not be decided (``missing`` or ``error`` set), in round
        order."""
        return [
            entry.verdict(i, obs.at)
            for obs, entry in self._rows()
            if entry.undecided
            for i in sorted(entry.undecided)
        ]

    def relevant(self, watched: Iterable[tuple[str, str | None]]) -> list[RuleVerdict]:
        """The verdicts that can change an alert, in round order.

        ``watched`` holds the (rule, probe) of every alert the lifecycle keeps
        (:func:`alerting.lifecycle.watched`). The result is every active verdict and every
        decided inactive verdict whose (rule, probe) is watched or has an active verdict
        this round. The rest cannot change anything: an undecided verdict counts as none,
        and an inactive one about no alert opens none. :func:`alerting.lifecycle.step` given
        this list advances alerts exactly as given every verdict.
        """
        wanted: dict[str | None, set[str]] = {}
        for rule, probe in watched:
            wanted.setdefault(probe, set()).add(rule)
        for obs, entry in self._rows():
            if entry.active:
                names = wanted.setdefault(obs.probe, set())
                names.update(entry.rules[i].rule.name for i in entry.active)
        verdicts: list[RuleVerdict] = []
        for obs, entry in self._rows():
            rules = wanted.get(obs.probe)
            if rules is None:
                continue
            at, undecided = obs.at, entry.undecided
            if len(rules) == len(entry.active):  # only this entry's active rules are wanted
                verdicts.extend(entry.verdict(i, at) for i in entry.active)
                continue
            verdicts.extend(
                entry.verdict(i, at)
                for i, compiled in enumerate(entry.rules)
                if compiled.rule.name in rules and not (undecided and i in undecided)
            )
        return verdicts


class EvaluationCache:
    """What the last round computed per probe, owned by the caller across rounds.

    :func:`evaluate` reuses a probe's outcomes when its observation is unchanged apart from
    its time, and re-evaluates otherwise; the verdicts are the same with or without a cache.
    Entries belong to one :class:`RuleSet` (a new one empties the cache), and a probe missing
    from a round is forgotten, so the cache holds at most one entry per probe.
    """

    def __init__(self) -> None:
        self._rules: RuleSet | None = None
        self._entries: dict[str, _Entry] = {}
        self._plans: dict[tuple[CompiledRule, ...], _Plan] = {}
        self._needs: dict[CompiledRule, _Needs] = {}
        self._void: dict[CompiledRule, Outcome] = {}
        self._void_sets: dict[tuple[_Plan, frozenset[str]], frozenset[int]] = {}
        self._shared: dict[tuple[str, str, str | None], cel.Context] = {}
        self.hits = 0
        """Observations whose results were reused, over this cache's life."""
        self.misses = 0
        """Observations evaluated afresh, over this cache's life."""

    def __len__(self) -> int:
        return len(self._entries)


def evaluate(
    rules: RuleSet,
    observations: Iterable[Observation],
    cache: EvaluationCache | None = None,
) -> Verdicts:
    """One verdict per (rule, observation it selects), in observation order then rule order.

    A verdict's labels are the probe's labels, then the rule's labels (which win), then
    ``probe``, ``probe_type`` and ``severity``; its values are the observation's values as
    doubles; its ``at`` is the observation's time (so the lifecycle can tell a probe that
    stopped reporting: its old result keeps its old time). A condition that cannot be
    decided (a value not published this round, a CEL error) is inactive and says why in
    ``missing`` / ``error``. Every condition is evaluated here; the verdicts themselves are
    built as :class:`Verdicts` hands them out. Pass the same ``cache`` every round to skip
    unchanged observations; pass every probe's latest observation each round.
    """
    memo = cache if cache is not None else EvaluationCache()
    if memo._rules is not rules:
        memo._rules = rules
        memo._entries = {}
        memo._plans = {}
        memo._needs = {}
        memo._void = {}
        memo._void_sets = {}
        memo._shared = {}
    known = memo._entries.get
    entries: dict[str, _Entry] = {}
    round_observations = list(observations)
    round_entries: list[_Entry] = []
    add = round_entries.append
    count = 0
    hits = 0
    for obs in round_observations:
        probe = obs.probe
        entry = known(probe)
        if entry is not None and _unchanged(entry.observation, obs):
            hits += 1
        else:
            entry = _evaluate_one(rules, obs, memo, entry)
        entries[probe] = entry
        add(entry)
        count += len(entry.rules)
    memo.hits += hits
    memo.misses += len(round_entries) - hits
    memo._entries = entries
    return Verdicts(round_observations, round_entries, count)


def _unchanged(before: Observation, now: Observation) -> bool:
    """Same probe content, whatever the time it was taken."""
    return before is now or (
        before.status == now.status
        and before.reason == now.reason
        and before.probe_type == now.probe_type
        and before.values == now.values
        and before.labels == now.labels
        and before.message == now.message
    )


def _evaluate_one(
    rules: RuleSet, obs: Observation, memo: EvaluationCache, before: _Entry | None
) -> _Entry:
    """Evaluate every rule selecting ``obs``; ``before`` is the probe's previous entry, whose
    selection and verdict labels still hold when its type and labels are the same."""
    values = dict(obs.values)
    if not set(map(type, values.values())) <= _FLOAT:
        values = {k: float(v) for k, v in values.items()}
    if (
        before is not None
        and before.observation.probe_type == obs.probe_type
        and before.observation.labels == obs.labels
    ):
        selected, labels = before.rules, before.labels
    else:
        selected, labels = rules.select(obs), None
    if not selected:
        return _Entry(obs, values, selected, labels, (), _NO_OUTCOMES)
    plan = memo._plans.get(selected)
    if plan is None:
        plan = memo._plans[selected] = _Plan.of(selected)
    void: frozenset[int] = _NOTHING_VOID
    if plan.flat is not None:
        variables = _flat_variables(plan.needs, plan.flat, obs, values)
        own = cel.Context(variables)
        if plan.pure:
            void = _void_rules(memo, plan, variables)
    elif plan.any_own:
        own = _context(plan.needs, obs, values)
    else:
        own = _shared_context(memo, obs)  # never read: every rule runs on the shared one
    shared = _shared_context(memo, obs) if plan.any_shared else own
    try:
        # The common case in one comprehension: every condition decides.
        if void:
            results = _run_each(plan.steps, own, shared, void)
        elif not plan.any_shared:
            results = [program.execute(own) for program in plan.programs]
        elif not plan.any_own:
            results = [program.execute(shared) for program in plan.programs]
        else:
            results = [
                program.execute(shared if on_shared else own) for program, on_shared in plan.steps
            ]
    except Exception:  # a missing value or a CEL error: run them one by one
        results = _run_each(plan.steps, own, shared)
    active: list[int] = []
    undecided: dict[int, Outcome] = _NO_OUTCOMES
    for i, result in enumerate(results):
        if result is True:
            active.append(i)
        elif result is not False:
            # It raised or returned something else: run_condition runs the condition's own
            # program again (on the map of values, not the flat context) and decides the
            # outcome and why, or raises what is no fault of the data.
            compiled = selected[i]
            outcome = None
            if result is _VOID:
                outcome = memo._void.get(compiled)
                if outcome is None:
                    context = _map_context(memo, compiled, obs, values)
                    outcome = memo._void[compiled] = run_condition(
                        compiled.condition, context, values, obs.labels
                    )
            elif plan.steps[i][1]:
                context = shared
            elif plan.flat is None:
                context = own
            else:
                if isinstance(result, _Raised):
                    outcome = flat_missing(compiled.condition, result.error, values, obs.labels)
                context = own if outcome is not None else _map_context(memo, compiled, obs, values)
            if outcome is None:
                outcome = run_condition(compiled.condition, context, values, obs.labels)
            if outcome.active:
                active.append(i)
            elif outcome.missing or outcome.error is not None:
                if undecided is _NO_OUTCOMES:
                    undecided = {}
                undecided[i] = outcome
    return _Entry(obs, values, selected, labels, tuple(active) if active else (), undecided)


def _map_context(
    memo: EvaluationCache, compiled: CompiledRule, obs: Observation, values: Mapping[str, float]
) -> cel.Context:
    """A context with ``values`` as a map, holding what ``compiled`` alone reads."""
    needs = memo._needs.get(compiled)
    if needs is None:
        needs = memo._needs[compiled] = _Needs.of((compiled,))
    return _context(needs, obs, values)


class _Raised:
    """What :func:`_run_each` records for a program that raised."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


_VOID = object()
"""What :func:`_run_each` records for a rule it did not run (see :attr:`_Plan.pure`)."""
_NOTHING_VOID: frozenset[int] = frozenset()


def _run_each(
    steps: tuple[tuple[cel.Program, bool], ...],
    own: cel.Context,
    shared: cel.Context,
    void: frozenset[int] = _NOTHING_VOID,
) -> list[object]:
    """Each program's result, :class:`_Raised` where it raised, :data:`_VOID` for the rules
    in ``void``."""
    results: list[object] = []
    for i, (program, on_shared) in enumerate(steps):
        if i in void:
            results.append(_VOID)
            continue
        try:
            results.append(program.execute(shared if on_shared else own))
        except Exception as err:  # classified by the caller
            results.append(_Raised(err))
    return results


def _void_rules(memo: EvaluationCache, plan: _Plan, variables: dict[str, Any]) -> frozenset[int]:
    """The rules of ``plan.pure`` none of whose values the flat ``variables`` hold."""
    key = (plan, frozenset(variables))
    void = memo._void_sets.get(key)
    if void is None:
        if len(memo._void_sets) >= _MAX_VOID_SETS:
            memo._void_sets.clear()
        present = {name for name, variable in plan.flat or () if variable in variables}
        void = memo._void_sets[key] = frozenset(
            i for i in plan.pure if not plan.rules[i].condition.value_names & present
        )
    return void


def _shared_context(memo: EvaluationCache, obs: Observation) -> cel.Context:
    key = (obs.status, obs.probe_type, obs.reason)
    context = memo._shared.get(key)
    if context is None:
        context = memo._shared[key] = cel.Context(
            {"status": obs.status, "type": obs.probe_type, "reason": obs.reason}
        )
    return context


def _flat_variables(
    needs: _Needs,
    flat: tuple[tuple[str, str], ...],
    obs: Observation,
    values: Mapping[str, float],
) -> dict[str, Any]:
    """What :func:`_context` holds, with each value a variable of its own (``flat``) rather
    than an entry of ``values``."""
    variables = {
        variable: value
        for name, variable in flat
        if (value := values.get(name)) is not None and value == value
    }
    _add_scalars(variables, needs, obs)
    return variables


def _context(needs: _Needs, obs: Observation, values: Mapping[str, float]) -> cel.Context:
    """The CEL context for one observation, holding only what the conditions read.

    Converting a Python value into CEL costs about a microsecond per entry, so the values
    and labels no condition names are left out. A NaN value counts as not published.
    """
    variables: dict[str, Any] = {}
    if "values" in needs.variables:
        variables["values"] = (
            {k: v for k, v in values.items() if v == v}
            if needs.value_names is None
            else {k: v for k in needs.value_names if (v := values.get(k)) is not None and v == v}
        )
    _add_scalars(variables, needs, obs)
    return cel.Context(variables)


def _add_scalars(variables: dict[str, Any], needs: _Needs, obs: Observation) -> None:
    """Add what ``needs`` reads besides ``values`` to ``variables``."""
    wanted = needs.variables
    if "status" in wanted:
        variables["status"] = obs.status
    if "labels" in wanted:
        if needs.label_names is None:
            variables["labels"] = dict(obs.labels)
        else:
            variables["labels"] = {
                k: label for k in needs.label_names if (label := obs.labels.get(k)) is not None
            }
    if "probe" in wanted:
        variables["probe"] = obs.probe
    if "type" in wanted:
        variables["type"] = obs.probe_type
    if "reason" in wanted:
        variables["reason"] = obs.reason
