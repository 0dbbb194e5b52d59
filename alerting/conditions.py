"""Rule conditions: CEL expressions over one probe observation, compiled and checked at load.

A condition is a `CEL <https://cel.dev>`_ expression evaluated by the maintained
``common-expression-language`` package (a Rust interpreter): no ``eval``, no loops, no I/O,
bounded run time. The expression sees six variables:

``status`` (``"ok"``, ``"warn"``, ``"crit"``, ``"unknown"``), ``values`` (a map of the
probe's named numbers, all doubles), ``labels`` (the probe's labels), ``probe`` (its name),
``type`` (its probe type) and ``reason`` (its failure reason, ``null`` when it succeeded).

The library has no type checker, so :func:`check_condition` does what one would: it reads the
expression's tokens for the names it uses (``values.error_ratio``, ``reason == "auth"``) and
evaluates it once per status and reason against a representative context, so that a type
error or a non-boolean result is a load error rather than a silent never-firing rule.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alerting.celengine import cel

VARIABLES: tuple[str, ...] = ("status", "values", "labels", "probe", "type", "reason")
STATUSES: tuple[str, ...] = ("ok", "warn", "crit", "unknown")
REASONS: frozenset[str] = frozenset(
    {
        "timeout",
        "unreachable",
        "tls",
        "http_status",
        "assertion",
        "auth",
        "rate_limited",
        "not_found",
        "capacity",
        "api_error",
        "error",
    }
)
"""The fixed set of failure reasons a probe reports (``null`` when it succeeded); docs/rules.md."""

# Names CEL reports as variables although they denote types (``type(x) == double``).
_TYPE_NAMES = frozenset({"int", "uint", "double", "bool", "string", "bytes", "list", "map"})
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_LITERAL_VARIABLES = ("status", "reason", "type")
_EVALUATION_ERRORS = (TypeError, ValueError, RuntimeError, ArithmeticError)

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*)
    |(?P<string>
        [bB]?[rR][bB]?(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"[^"\n]*"|'[^'\n]*')
        |[bB]?(?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''
                 |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
    )
    |(?P<number>0[xX][0-9a-fA-F]+[uU]?|\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?
        |\d+[eE][+-]?\d+|\d+[uU]?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>==|!=|<=|>=|&&|\|\||[-+*/%!<>?:.,()\[\]{}])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


class ConditionError(ValueError):
    """A condition that does not compile; ``problems`` lists every fault found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems: tuple[str, ...] = tuple(problems)


@dataclass(frozen=True, eq=False)
class Condition:
    """A compiled condition and what it reads.

    ``value_names`` / ``label_names`` are the ``values.X`` / ``labels.X`` (or ``values["X"]``)
    it names; ``reads_all_values`` / ``reads_all_labels`` say it also uses the map as a whole
    (``size(values)``, ``values[k]``, ``"env" in labels``), so the engine must hand it every
    entry. ``literals`` are the ``(variable, text)`` pairs of comparisons such as
    ``reason == "auth"``, checked against the known statuses, reasons and probe types.

    ``flat`` is the same expression with each ``values.X`` read as a variable of its own
    (:data:`FLAT_PREFIX` + ``X``; ``program`` itself when it reads no values), or ``None``
    when the condition reads ``values`` any other way (whole, by a quoted key, through
    ``has()``). Handing a probe's numbers to CEL as a map costs about twice as much as
    handing them as variables (each map key goes through three failed integer conversions
    in the CEL binding), so the engine runs ``flat`` where it can; a present value reads the
    same either way, and a run that fails is repeated with ``program`` on the map, which
    decides what the outcome is.
    """

    source: str
    program: cel.Program
    variables: frozenset[str]
    value_names: frozenset[str]
    label_names: frozenset[str]
    reads_all_values: bool
    reads_all_labels: bool
    literals: tuple[tuple[str, str], ...]
    flat: cel.Program | None = None


@dataclass(frozen=True)
class Outcome:
    """One evaluation: whether the condition holds, else what was missing or went wrong."""

    active: bool
    missing: tuple[str, ...] = ()
    error: str | None = None


ACTIVE = Outcome(active=True)
INACTIVE = Outcome(active=False)


def compile_condition(source: str) -> Condition:
    """Compile ``source``; raise :class:`ConditionError` for syntax errors and unknown names."""
    if not source.strip():
        raise ConditionError(["the condition is empty"])
    try:
        program = cel.compile(source)
    except ValueError as err:
        raise ConditionError([f"does not parse: {_syntax_message(str(err))}"]) from err
    tokens = tokenize(source)
    bound = _bound_names(tokens)
    variables = frozenset(program.variables()) - bound - _TYPE_NAMES
    unknown = sorted(variables - set(VARIABLES))
    if unknown:
        raise ConditionError(
            [
                f"unknown variable {name!r}{_did_you_mean(name, VARIABLES, 'variables')}"
                for name in unknown
            ]
        )
    value_names, all_values = _map_reads(tokens, "values", bound)
    label_names, all_labels = _map_reads(tokens, "labels", bound)
    return Condition(
        source=source,
        program=program,
        variables=variables,
        value_names=value_names,
        label_names=label_names,
        reads_all_values=all_values,
        reads_all_labels=all_labels,
        literals=_literals(tokens, bound),
        flat=_flat_program(program, variables, source, value_names, all_values, bound),
    )


def check_condition(
    condition: Condition,
    *,
    known_values: frozenset[str] | None,
    values_of: str,
    known_types: frozenset[str] | None,
    reasons: frozenset[str] = REASONS,
) -> list[str]:
    """Every problem a load can find in a compiled condition (empty when it is sound).

    ``known_values`` is what the rule's probe types publish (``None``: unknown, not checked)
    and ``values_of`` names them for the message (``"probe type workers"``); ``known_types``
    the probe types that exist (``None``: not checked).
    """
    problems = _literal_problems(condition, known_types, reasons)
    if known_values is not None:
        problems.extend(
            f"values.{name} is not published by {values_of}"
            + _did_you_mean(name, sorted(known_values), "published", prefix="values.")
            for name in sorted(condition.value_names - known_values)
        )
    if not problems:
        problems.extend(_representative_problems(condition, known_values, reasons))
    return problems


def run_condition(
    condition: Condition,
    context: cel.Context,
    values: Mapping[str, float],
    labels: Mapping[str, str],
) -> Outcome:
    """Evaluate against one observation's context; never raises for the data's sake.

    A value or label the observation lacks makes the condition false and is named in
    :attr:`Outcome.missing`; a CEL error (a type mismatch, an integer division by zero) or a
    non-boolean result makes it false with :attr:`Outcome.error` set.
    """
    try:
        result = condition.program.execute(context)
    except KeyError as err:
        return Outcome(active=False, missing=_missing(condition, values, labels, err))
    except _EVALUATION_ERRORS as err:
        return Outcome(active=False, error=_first_sentence(str(err)))
    if result is True:
        return ACTIVE
    if result is False:
        return INACTIVE
    return Outcome(active=False, error=f"the condition returned {_describe(result)}, not a bool")


_UNDEFINED_FLAT = "Undefined variable or function: '" + "values__"


def flat_missing(
    condition: Condition,
    error: Exception,
    values: Mapping[str, float],
    labels: Mapping[str, str],
) -> Outcome | None:
    """What :func:`run_condition` says on the map of values when :attr:`Condition.flat`
    raised ``error`` because a value is not there, without running it again; ``None`` for
    any other error.

    Both programs evaluate the same expression in the same order, reading ``values__x``
    where the other reads ``values.x``: the flat one stops at an undefined variable exactly
    where the map one stops at a missing key.
    """
    if not isinstance(error, RuntimeError):
        return None
    message = str(error)
    if not message.startswith(_UNDEFINED_FLAT):
        return None
    name = message[len(_UNDEFINED_FLAT) :].partition("'")[0]
    if name not in condition.value_names:
        return None
    return Outcome(active=False, missing=_missing(condition, values, labels, KeyError(name)))


def _missing(
    condition: Condition,
    values: Mapping[str, float],
    labels: Mapping[str, str],
    err: KeyError,
) -> tuple[str, ...]:
    names = [f"values.{n}" for n in sorted(condition.value_names) if not _present(values, n)]
    names += [f"labels.{n}" for n in sorted(condition.label_names) if n not in labels]
    if names:
        return tuple(names)
    key = str(err.args[0]) if err.args else ""
    if condition.reads_all_values and not _present(values, key):
        return (f"values.{key}",)
    return (f"labels.{key}",)


def _present(values: Mapping[str, float], name: str) -> bool:
    """Published this round: there, and not NaN (which CEL cannot compare)."""
    value = values.get(name)
    return value is not None and value == value


FLAT_PREFIX = "values__"  # also in _UNDEFINED_FLAT
"""The variable ``values.X`` becomes in :attr:`Condition.flat` (``values__X``)."""


def _flat_program(
    program: cel.Program,
    variables: frozenset[str],
    source: str,
    value_names: frozenset[str],
    all_values: bool,
    bound: frozenset[str],
) -> cel.Program | None:
    """:attr:`Condition.flat`: ``program`` itself when it does not read ``values``."""
    if "values" not in variables:
        return program
    if all_values or "values" in bound:
        return None
    return _flatten(source, value_names)


def _flatten(source: str, value_names: frozenset[str]) -> cel.Program | None:
    """``source`` with every ``values.X`` replaced by the variable ``values__X``, compiled;
    ``None`` unless that covers every use of ``values`` and compiles to the same variables."""
    spans = [
        (m.start(), m.end(), m.lastgroup or "op", m.group(0))
        for m in _TOKEN.finditer(source)
        if m.lastgroup != "space"
    ]
    pieces: list[str] = []
    done = 0
    for i, (start, _, kind, text) in enumerate(spans):
        if kind != "ident" or text != "values" or (i and spans[i - 1][3] == "."):
            continue
        before = spans[i - 2][3] if i >= 2 else ""
        dot, name = spans[i + 1 : i + 2], spans[i + 2 : i + 3]
        after = spans[i + 3][3] if i + 3 < len(spans) else ""
        if (
            before == "has"
            or not dot
            or dot[0][3] != "."
            or not name
            or name[0][2] != "ident"
            or after == "("
        ):
            return None  # has(values.x), values[...], values.f(...): only the map will do
        pieces += [source[done:start], FLAT_PREFIX + name[0][3]]
        done = name[0][1]
    if not pieces:
        return None
    try:
        program = cel.compile("".join(pieces) + source[done:])
    except ValueError:
        return None
    flat_names = {v for v in program.variables() if v.startswith(FLAT_PREFIX)}
    if flat_names != {FLAT_PREFIX + n for n in value_names}:
        return None
    return program


def tokenize(source: str) -> list[_Token]:
    """A CEL expression's tokens (kind and text), spaces and comments dropped; the
    condition checks here and :mod:`alerting.promql`'s parser read the same ones."""
    tokens: list[_Token] = []
    for match in _TOKEN.finditer(source):
        kind = match.lastgroup or "op"
        if kind != "space":
            tokens.append(_Token(kind, match.group(0)))
    return tokens


def _at(tokens: Sequence[_Token], i: int) -> _Token:
    return tokens[i] if 0 <= i < len(tokens) else _Token("end", "")


def _is_variable(tokens: Sequence[_Token], i: int, name: str, bound: frozenset[str]) -> bool:
    """Token ``i`` is the top-level variable ``name`` (not a field, not a macro's variable)."""
    return (
        tokens[i].kind == "ident"
        and tokens[i].text == name
        and name not in bound
        and _at(tokens, i - 1).text != "."
    )


def _bound_names(tokens: Sequence[_Token]) -> frozenset[str]:
    """Names a comprehension macro binds: the ``k`` in ``values.exists(k, …)``."""
    return frozenset(
        _at(tokens, i + 3).text
        for i, tok in enumerate(tokens)
        if tok.text == "."
        and _at(tokens, i + 1).text in _MACROS
        and _at(tokens, i + 2).text == "("
        and _at(tokens, i + 3).kind == "ident"
        and _at(tokens, i + 4).text == ","
    )


def _map_reads(
    tokens: Sequence[_Token], name: str, bound: frozenset[str]
) -> tuple[frozenset[str], bool]:
    """The keys read from map ``name`` by ``name.key`` / ``name["key"]``, and whether it is
    also used whole."""
    keys: set[str] = set()
    whole = False
    for i in range(len(tokens)):
        if not _is_variable(tokens, i, name, bound):
            continue
        nxt, key, after = _at(tokens, i + 1), _at(tokens, i + 2), _at(tokens, i + 3)
        if nxt.text == "." and key.kind == "ident" and after.text != "(":
            keys.add(key.text)
        elif nxt.text == "[" and key.kind == "string" and after.text == "]":
            literal = _string_value(key.text)
            if literal is None:
                whole = True
            else:
                keys.add(literal)
        else:
            whole = True
    return frozenset(keys), whole


def _literals(tokens: Sequence[_Token], bound: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """``(variable, text)`` for ``var == "x"``, ``"x" != var`` and ``var in ["x", "y"]``."""
    found: list[tuple[str, str]] = []
    for i in range(len(tokens)):
        for name in _LITERAL_VARIABLES:
            if not _is_variable(tokens, i, name, bound) or _at(tokens, i + 1).text in (
                ".",
                "(",
                "[",
            ):
                continue
            op, other = _at(tokens, i + 1), _at(tokens, i + 2)
            if op.text in ("==", "!=") and other.kind == "string":
                found.extend(_pair(name, other.text))
            before, left = _at(tokens, i - 1), _at(tokens, i - 2)
            if before.text in ("==", "!=") and left.kind == "string":
                found.extend(_pair(name, left.text))
            if op.text == "in" and other.text == "[":
                j = i + 3
                while _at(tokens, j).kind == "string":
                    found.extend(_pair(name, tokens[j].text))
                    if _at(tokens, j + 1).text != ",":
                        break
                    j += 2
    return tuple(found)


def _pair(name: str, literal: str) -> list[tuple[str, str]]:
    value = _string_value(literal)
    return [] if value is None else [(name, value)]


def _string_value(literal: str) -> str | None:
    """The text of a CEL string literal (CEL itself decodes the escapes); ``None`` for bytes."""
    value = cel.evaluate(literal)
    return value if isinstance(value, str) else None


def _literal_problems(
    condition: Condition, known_types: frozenset[str] | None, reasons: frozenset[str]
) -> list[str]:
    problems: list[str] = []
    for name, text in condition.literals:
        if name == "status" and text not in STATUSES:
            problems.append(f"status is never {text!r}{_did_you_mean(text, STATUSES, 'statuses')}")
        elif name == "reason" and text not in reasons:
            problems.append(
                f"reason is never {text!r}{_did_you_mean(text, sorted(reasons), 'reasons')}"
            )
        elif name == "type" and known_types is not None and text not in known_types:
            problems.append(
                f"type is never {text!r}{_did_you_mean(text, sorted(known_types), 'probe types')}"
            )
    return problems


def _representative_problems(
    condition: Condition, known_values: frozenset[str] | None, reasons: frozenset[str]
) -> list[str]:
    """Evaluate once per status and reason the condition can see; report the first failure.

    Every value the condition names is ``1.0`` and every label ``""``, so a failure here is
    a type error that real data would hit too, not a quirk of the sample.
    """
    names = set(condition.value_names)
    if condition.reads_all_values and known_values is not None:
        names |= known_values
    base: dict[str, Any] = {
        "values": dict.fromkeys(sorted(names), 1.0),
        "labels": dict.fromkeys(sorted(condition.label_names), ""),
        "probe": "probe",
        "type": "type",
    }
    statuses = STATUSES if "status" in condition.variables else STATUSES[:1]
    reason_cases: list[str | None] = [None]
    if "reason" in condition.variables:
        reason_cases.extend(sorted(reasons))
    for status in statuses:
        for reason in reason_cases:
            context = {**base, "status": status, "reason": reason}
            when = _when(condition, status, reason)
            try:
                result = condition.program.execute(context)
            except KeyError:
                continue
            except _EVALUATION_ERRORS as err:
                message = str(err)
                return [f"fails{when}: {_first_sentence(message)}{_hint(message, reason)}"]
            if not isinstance(result, bool):
                return [f"returns {_describe(result)}, not a bool{when}"]
    return []


def _when(condition: Condition, status: str, reason: str | None) -> str:
    cases = []
    if "status" in condition.variables:
        cases.append(f"status is {status!r}")
    if "reason" in condition.variables:
        cases.append("reason is " + ("null" if reason is None else repr(reason)))
    return f" when {' and '.join(cases)}" if cases else ""


def _syntax_message(message: str) -> str:
    _, found, rest = message.partition("ERROR: <input>:")
    return rest if found else message


def _first_sentence(message: str) -> str:
    head, found, _ = message.partition(". ")
    return head + "." if found else message


def _hint(message: str, reason: str | None) -> str:
    if reason is None and "Undefined variable or function" in message:
        return " (reason is null when the probe succeeded: test reason != null first)"
    if "overload" in message or "Unsupported operation" in message:
        return (
            " (values are doubles and CEL does not mix int and double in arithmetic:"
            " write 2.0 rather than 2, or convert with double(...))"
        )
    return ""


def _describe(result: object) -> str:
    kinds = {int: "an int", float: "a double", str: "a string", list: "a list", dict: "a map"}
    kind = kinds.get(type(result), "null" if result is None else type(result).__name__)
    return f"{kind} ({result!r})" if result is not None else kind


def _did_you_mean(name: str, choices: Iterable[str], what: str, *, prefix: str = "") -> str:
    options = list(choices)
    close = difflib.get_close_matches(name, options, n=1)
    hint = f"; did you mean {prefix + close[0]!r}?" if close else ""
    listed = ", ".join(options) if options else "none"
    return f"{hint} ({what}: {listed})"
