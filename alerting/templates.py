"""Summary and description templates: ``$field`` and ``${field:spec}`` substitution, nothing more.

The language is deliberately tiny, so that a template can never run code or reach an
attribute: a placeholder names one documented field, optionally followed by a Python format
spec that is checked when the template is compiled.

==========================  ==================================================================
``$probe``, ``${probe}``    the probe's name; likewise ``type``, ``status``, ``message``,
                            ``rule``, ``severity`` and ``reason`` (``none`` when it succeeded)
``${values.NAME}``          one of the probe's named numbers
``${labels.NAME}``          one of the verdict's labels (rule labels, probe labels,
                            ``probe``, ``probe_type``, ``severity``)
``${values.NAME:.1%}``      a format spec (Python's mini-language: fill, align, sign, width,
                            grouping, precision, type ``e f g n %``)
``${values.NAME:bytes}``    a byte count in decimal units (``8.6 GB``), as Cloudflare shows them
``$$``                      a literal ``$``
==========================  ==================================================================

A field the round does not have renders visibly as ``<missing values.x>``; unknown fields,
bad specs and stray ``$`` signs are compile errors.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

SCALAR_FIELDS: tuple[str, ...] = (
    "probe",
    "type",
    "status",
    "reason",
    "message",
    "rule",
    "severity",
)
MAP_FIELDS: tuple[str, ...] = ("values", "labels")

_PLACEHOLDER = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[A-Za-z_][A-Za-z0-9_]*)|\{(?P<braced>[^{}]*)\}|(?P<invalid>))"
)
_PATH = re.compile(r"(?P<root>[A-Za-z_][A-Za-z0-9_]*)(?:\.(?P<key>[A-Za-z_][A-Za-z0-9_]*))?")
_SPEC = re.compile(
    r"(?:(?P<fill>[^{}])?(?P<align>[<>=^]))?(?P<sign>[-+ ])?z?#?0?(?P<width>\d+)?[,_]?"
    r"(?:\.(?P<precision>\d+))?(?P<type>[bcdeEfFgGnosxX%])?"
)
_MAX_WIDTH = 64
_MAX_PRECISION = 20
_BYTE_UNITS: tuple[str, ...] = ("B", "kB", "MB", "GB", "TB", "PB")


class TemplateError(ValueError):
    """A template that does not compile; ``problems`` lists every fault found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems: tuple[str, ...] = tuple(problems)


@dataclass(frozen=True)
class TemplateFields:
    """What a template can show: one verdict's probe, rule and numbers."""

    probe: str
    type: str
    status: str
    reason: str | None
    message: str
    rule: str
    severity: str
    values: Mapping[str, float]
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Placeholder:
    """One ``${root.key:spec}`` in a template, as written in ``text``."""

    text: str
    root: str
    key: str | None
    spec: str


@dataclass(frozen=True)
class Template:
    """A compiled template: literal text and placeholders, rendered without any evaluation."""

    source: str
    parts: tuple[str | Placeholder, ...]

    @property
    def value_names(self) -> frozenset[str]:
        """The ``values.NAME`` fields the template shows."""
        return self._keys("values")

    @property
    def label_names(self) -> frozenset[str]:
        """The ``labels.NAME`` fields the template shows."""
        return self._keys("labels")

    def _keys(self, root: str) -> frozenset[str]:
        return frozenset(
            p.key
            for p in self.parts
            if isinstance(p, Placeholder) and p.root == root and p.key is not None
        )

    def render(self, fields: TemplateFields) -> str:
        """The text with every placeholder replaced; missing fields show as ``<missing …>``."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(_render_placeholder(part, fields))
        return "".join(out)


def compile_template(source: str) -> Template:
    """Parse and check ``source``; raise :class:`TemplateError` listing every fault."""
    parts: list[str | Placeholder] = []
    problems: list[str] = []
    literal: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(source):
        literal.append(source[pos : match.start()])
        pos = match.end()
        if match.group("escaped") is not None:
            literal.append("$")
            continue
        if match.group("invalid") is not None:
            problems.append(
                f"stray '$' at column {match.start() + 1}: write $$ for a dollar sign,"
                " $field or ${field} for a field"
            )
            continue
        named = match.group("named")
        body = named if named is not None else match.group("braced")
        try:
            placeholder = _parse_placeholder(match.group(0), body)
        except ValueError as err:
            problems.append(str(err))
            continue
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(placeholder)
    literal.append(source[pos:])
    if any(literal):
        parts.append("".join(literal))
    if problems:
        raise TemplateError(problems)
    return Template(source=source, parts=tuple(parts))


def format_number(value: float, spec: str = "") -> str:
    """Show ``value`` with ``spec``; without one, whole numbers lose their ``.0`` and others
    keep six decimals at most (``0.061235``), never an exponent below 10**15."""
    if spec == "bytes":
        return _format_bytes(value)
    if spec:
        return format(value, spec)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(round(value, 6))


def _format_bytes(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    size = abs(value)
    unit = 0
    while size >= 1000.0 and unit < len(_BYTE_UNITS) - 1:
        size /= 1000.0
        unit += 1
    sign = "-" if value < 0 else ""
    if unit == 0:
        return f"{sign}{size:.0f} B"
    return f"{sign}{size:.1f} {_BYTE_UNITS[unit]}"


def _parse_placeholder(text: str, body: str) -> Placeholder:
    path, _, spec = body.partition(":")
    path = path.strip()
    match = _PATH.fullmatch(path)
    if match is None:
        raise ValueError(f"{text}: not a field name (write ${{values.NAME}} or ${{probe}})")
    root, key = match.group("root"), match.group("key")
    if root in MAP_FIELDS:
        if key is None:
            raise ValueError(f"{text}: {root} needs a name, as in ${{{root}.NAME}}")
    elif root in SCALAR_FIELDS:
        if key is not None:
            raise ValueError(f"{text}: {root} has no fields; write ${{{root}}}")
    else:
        raise ValueError(f"{text}: unknown field {root!r}{_did_you_mean(root)}")
    problem = _check_spec(spec, numeric=root == "values")
    if problem is not None:
        raise ValueError(f"{text}: {problem}")
    return Placeholder(text=text, root=root, key=key, spec=spec)


def _check_spec(spec: str, *, numeric: bool) -> str | None:
    if not spec:
        return None
    if spec == "bytes":
        return None if numeric else "the bytes format applies to values only"
    match = _SPEC.fullmatch(spec)
    if match is None:
        form = "[[fill]align][sign][width][,][.precision][type]"
        return f"format spec {spec!r} is not of the form {form}"
    for part, limit in (("width", _MAX_WIDTH), ("precision", _MAX_PRECISION)):
        number = match.group(part)
        if number is not None and int(number) > limit:
            return f"format spec {spec!r}: {part} {number} is over {limit}"
    try:
        format(1.5 if numeric else "text", spec)
    except ValueError as err:
        kind = "a number" if numeric else "text"
        return f"format spec {spec!r} does not apply to {kind}: {err}"
    return None


def _did_you_mean(root: str) -> str:
    choices = [*SCALAR_FIELDS, *MAP_FIELDS]
    close = difflib.get_close_matches(root, choices, n=1)
    known = ", ".join([*SCALAR_FIELDS, *(f"{m}.NAME" for m in MAP_FIELDS)])
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (fields: {known})"


def _render_placeholder(part: Placeholder, fields: TemplateFields) -> str:
    if part.root == "values":
        number = fields.values.get(part.key or "")
        if number is None:
            return f"<missing values.{part.key}>"
        return format_number(float(number), part.spec)
    if part.root == "labels":
        label = fields.labels.get(part.key or "")
        if label is None:
            return f"<missing labels.{part.key}>"
        return format(label, part.spec) if part.spec else label
    text = _scalar(part.root, fields)
    return format(text, part.spec) if part.spec else text


def _scalar(root: str, fields: TemplateFields) -> str:
    match root:
        case "probe":
            return fields.probe
        case "type":
            return fields.type
        case "status":
            return fields.status
        case "reason":
            return fields.reason if fields.reason is not None else "none"
        case "message":
            return fields.message
        case "rule":
            return fields.rule
        case _:
            return fields.severity
