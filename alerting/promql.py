"""Alert rules as Prometheus alerting rules: CEL conditions → PromQL, templates → Go templates.

Pure: given a loaded :class:`alerting.rules.Rule` and how each probe type exports its values
(:class:`ValueMetric`, built by the caller from the probe registry: ``alerting`` does not
import ``probes``), :func:`translate_rule` returns the Prometheus rule or raises
:class:`Untranslatable` naming why. Nothing approximate is emitted: a construct whose PromQL
would not decide exactly what flarewatch decides is refused. docs/prometheus.md is the
mapping table and its limits.

How a condition becomes PromQL. flarewatch decides a condition per probe with three outcomes:
true, false, and undecided (a value the probe did not publish, an error). Prometheus keeps a
series for each probe where an expression holds. Each CEL sub-expression therefore becomes two
PromQL vectors: the probes where it is *true* and the probes where it is *false* (undecided
probes are in neither). ``&&`` is ``and on(probe)`` of the true sets and ``or`` of the false
sets, ``||`` the reverse, ``!`` swaps the two, which is CEL's own logic of errors
(``false && error`` is false, ``true || error`` true). A numeric comparison's false set is the
inverted comparison, which, like the comparison, is empty for a missing or NaN value.

The final expression joins the condition with ``flarewatch_probe_info`` (the probe's type and
configured labels): ``flarewatch_probe_info{<select>} * on(probe) group_left max by (probe)
(<true set>)``. The join applies the rule's ``select`` and gives the alert the labels
flarewatch's own alerts carry: ``probe``, ``probe_type`` and the probe's labels.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from alerting.conditions import tokenize
from alerting.matchers import MatchOp
from alerting.model import prometheus_probe_label
from alerting.rules import Rule
from alerting.templates import Placeholder, Template, compile_template

ALL = "flarewatch_probe_success"
"""One series per probe that has run: the universe conditions are decided over."""
INFO = "flarewatch_probe_info"
STATUS = "flarewatch_probe_status"
REASON = "flarewatch_probe_failure_reason"
RUN_DURATION = "flarewatch_probe_last_run_duration_seconds"

_ALERT_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_RE2_UNSUPPORTED = re.compile(r"\(\?[=!<]|\\[1-9]|\(\?P=")


class Untranslatable(ValueError):
    """A rule (or a part of it) that has no exact Prometheus equivalent; the message says why."""


@dataclass(frozen=True)
class ValueMetric:
    """How one probe value is exported: ``metric{labels}`` holds ``value * scale``."""

    metric: str
    labels: tuple[tuple[str, str], ...] = ()
    scale: float = 1.0

    def selector(self, probe: str | None = None) -> str:
        """``metric{const labels}``, with ``probe=<probe>`` first when given (a printf verb)."""
        parts = [] if probe is None else [f"probe={probe}"]
        parts += [f"{k}={_quote(v)}" for k, v in self.labels]
        return f"{self.metric}{{{','.join(parts)}}}" if parts else self.metric


RUN_DURATION_METRIC = ValueMetric(RUN_DURATION, (), 0.001)
"""``duration_ms``, which the runner adds to every probe type's values."""


@dataclass(frozen=True)
class Exports:
    """What the caller knows about probe types: the values each publishes, and the metric
    (if any) each value is exported as. A counter-backed value is not listed in ``metrics``."""

    published: Mapping[str, frozenset[str]]
    metrics: Mapping[str, Mapping[str, ValueMetric]]


@dataclass(frozen=True)
class PromRule:
    """One Prometheus alerting rule, ready to be written as YAML; ``notes`` say what of the
    annotations could not be shown (a value exported only as a counter, ``$message``)."""

    alert: str
    expr: str
    for_: str | None
    keep_firing_for: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    notes: tuple[str, ...] = ()

    def as_yaml(self) -> dict[str, object]:
        """The mapping Prometheus reads, in its usual key order."""
        out: dict[str, object] = {"alert": self.alert, "expr": self.expr}
        if self.for_ is not None:
            out["for"] = self.for_
        if self.keep_firing_for is not None:
            out["keep_firing_for"] = self.keep_firing_for
        out["labels"] = dict(self.labels)
        out["annotations"] = dict(self.annotations)
        return out


def alert_name(rule_name: str) -> str:
    """The Prometheus ``alert`` name of a rule: as is, with ``-`` written ``_``."""
    name = rule_name.replace("-", "_")
    if not _ALERT_NAME.fullmatch(name):  # rule names are [a-z][a-z0-9_-]*: cannot happen
        raise Untranslatable(f"{rule_name!r} cannot be a Prometheus alert name")
    return name


def prom_duration(seconds: float) -> str | None:
    """``90`` → ``1m30s``; ``None`` for zero (the key is left out)."""
    ms = round(seconds * 1000)
    if ms <= 0:
        return None
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, ms = divmod(ms, size)
        if count:
            out.append(f"{count}{unit}")
    if ms:
        out.append(f"{ms}ms")
    return "".join(out)


def translate_rule(rule: Rule, exports: Exports) -> PromRule:
    """``rule`` as a Prometheus alerting rule; raise :class:`Untranslatable` with the reason."""
    types = tuple(rule.select.types) or tuple(sorted(exports.published))
    scope = _Scope(types, exports)
    tree = _Parser(rule.condition).parse()
    cond = scope.boolean(tree)
    if cond.const is False:
        raise Untranslatable("the condition never holds")
    true_set = ALL if cond.const is True else cond.true
    assert true_set is not None
    expr = (
        f"{INFO}{_info_selector(rule)}\n"
        f"* on(probe) group_left max by (probe) (\n  {_unwrap(true_set)}\n)"
    )
    notes: list[str] = []
    fixed = {"rule": rule.name, "severity": str(rule.severity)}
    labels = {**rule.labels, "severity": str(rule.severity)}
    annotations = {
        "summary": _template(compile_template(rule.summary), scope, fixed, labels, notes).strip()
    }
    if rule.description:
        annotations["description"] = _template(
            compile_template(rule.description), scope, fixed, labels, notes
        ).strip()
    if rule.runbook_url:
        annotations["runbook_url"] = _escape_text(rule.runbook_url)
    return PromRule(
        alert=alert_name(rule.name),
        expr=expr,
        for_=prom_duration(rule.for_),
        keep_firing_for=prom_duration(rule.keep_firing_for),
        labels=labels,
        annotations=annotations,
        notes=tuple(dict.fromkeys(notes)),
    )


# --- select --------------------------------------------------------------------------------


def _unwrap(text: str) -> str:
    """``text`` without parentheses around all of it (quoted text is skipped)."""
    while text.startswith("(") and text.endswith(")") and _closing(text, 0) == len(text) - 1:
        text = text[1:-1]
    return text


def _closing(text: str, start: int) -> int:
    """The index of the parenthesis closing the one at ``start`` (-1 if none)."""
    depth = 0
    quote = ""
    i = start
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in '"`':
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _info_selector(rule: Rule) -> str:
    select = rule.select
    matchers: list[str] = []
    if select.types:
        matchers.append(_set_matcher("probe_type", select.types))
    if select.probes:
        matchers.append(_set_matcher("probe", select.probes))
    for m in select.labels:
        if m.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            _check_re2(m.value)
        matchers.append(f"{m.name}{m.op.value}{_quote(m.value)}")
    return "{" + ", ".join(matchers) + "}" if matchers else ""


def _set_matcher(label: str, names: Sequence[str], *, negate: bool = False) -> str:
    unique = list(dict.fromkeys(names))
    if len(unique) == 1:
        return f"{label}{'!=' if negate else '='}{_quote(unique[0])}"
    pattern = "|".join(_regex_escape(n) for n in unique)
    return f"{label}{'!~' if negate else '=~'}{_quote(pattern)}"


def _check_re2(pattern: str) -> None:
    if _RE2_UNSUPPORTED.search(pattern):
        raise Untranslatable(
            f"regex {pattern!r} uses look-around or a back-reference, which Prometheus (RE2) "
            "does not support"
        )


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


_REGEX_META = re.compile(r"([.^$*+?()\[\]{}|\\])")


def _regex_escape(text: str) -> str:
    return _REGEX_META.sub(r"\\\1", text)


def number(value: float) -> str:
    """A PromQL number literal for ``value`` (``0.0008``, ``+Inf``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return format(value, ".15g")


# --- the CEL subset: parsing ---------------------------------------------------------------


@dataclass(frozen=True)
class _Lit:
    value: float | str | bool | None


@dataclass(frozen=True)
class _Var:
    name: str


@dataclass(frozen=True)
class _Field:
    obj: _Node
    name: str


@dataclass(frozen=True)
class _Call:
    target: _Node | None
    name: str
    args: tuple[_Node, ...]


@dataclass(frozen=True)
class _Un:
    op: str
    operand: _Node


@dataclass(frozen=True)
class _Bin:
    op: str
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _List:
    items: tuple[_Node, ...]


_Node = _Lit | _Var | _Field | _Call | _Un | _Bin | _List

_RELATIONS = ("==", "!=", "<", "<=", ">", ">=", "in")
_STRING_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}


class _Parser:
    """Recursive descent over the condition module's tokens, CEL's precedence."""

    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.i = 0

    def parse(self) -> _Node:
        node = self.expr()
        if self.i != len(self.tokens):
            raise Untranslatable(f"unexpected {self.tokens[self.i].text!r} in the condition")
        return node

    def peek(self) -> str:
        return self.tokens[self.i].text if self.i < len(self.tokens) else ""

    def take(self, text: str | None = None) -> str:
        if self.i >= len(self.tokens) or (text is not None and self.peek() != text):
            raise Untranslatable(f"expected {text!r} in the condition")
        self.i += 1
        return self.tokens[self.i - 1].text

    def expr(self) -> _Node:
        node = self.binary(0)
        if self.peek() == "?":
            raise Untranslatable("the conditional operator ?: has no PromQL form")
        return node

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("||",),
        ("&&",),
        _RELATIONS,
        ("+", "-"),
        ("*", "/", "%"),
    )

    def binary(self, level: int) -> _Node:
        if level == len(self._LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek() in self._LEVELS[level] and self._is_op():
            op = self.take()
            node = _Bin(op, node, self.binary(level + 1))
        return node

    def _is_op(self) -> bool:
        token = self.tokens[self.i]
        return token.kind == "op" or (token.kind == "ident" and token.text == "in")

    def unary(self) -> _Node:
        if self.peek() in ("!", "-") and self.tokens[self.i].kind == "op":
            op = self.take()
            return _Un(op, self.unary())
        return self.member()

    def member(self) -> _Node:
        node = self.primary()
        while self.peek() in (".", "["):
            if self.take() == ".":
                name = self.take()
                is_call = self.peek() == "("
                node = _Call(node, name, self.args()) if is_call else _Field(node, name)
            else:
                key = self.expr()
                self.take("]")
                if not (isinstance(key, _Lit) and isinstance(key.value, str)):
                    raise Untranslatable('only a quoted key can index a map (values["x"])')
                node = _Field(node, key.value)
        return node

    def args(self) -> tuple[_Node, ...]:
        self.take("(")
        items: list[_Node] = []
        while self.peek() != ")":
            items.append(self.expr())
            if self.peek() != ",":
                break
            self.take(",")
        self.take(")")
        return tuple(items)

    def primary(self) -> _Node:
        if self.i >= len(self.tokens):
            raise Untranslatable("the condition ends too early")
        token = self.tokens[self.i]
        self.i += 1
        if token.kind == "number":
            return _Lit(_number_literal(token.text))
        if token.kind == "string":
            return _Lit(_string_literal(token.text))
        if token.kind == "ident":
            if token.text in ("true", "false"):
                return _Lit(token.text == "true")
            if token.text == "null":
                return _Lit(None)
            if self.peek() == "(":
                return _Call(None, token.text, self.args())
            return _Var(token.text)
        if token.text == "(":
            node = self.expr()
            self.take(")")
            return node
        if token.text == "[":
            items: list[_Node] = []
            while self.peek() != "]":
                items.append(self.expr())
                if self.peek() != ",":
                    break
                self.take(",")
            self.take("]")
            return _List(tuple(items))
        raise Untranslatable(f"{token.text!r} is outside the translatable subset of CEL")


def _number_literal(text: str) -> float:
    if text[-1] in "uU" or text.lower().startswith("0x"):
        raise Untranslatable(f"the literal {text} (unsigned or hexadecimal) is not translated")
    return float(text)


def _string_literal(text: str) -> str:
    quote = text[0]
    if quote not in "\"'" or text.startswith(quote * 3):
        raise Untranslatable(f"the string {text} (raw, bytes or triple-quoted) is not translated")
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            nxt = body[i + 1 : i + 2]
            if nxt not in _STRING_ESCAPES:
                raise Untranslatable(f"the escape \\{nxt} in {text} is not translated")
            out.append(_STRING_ESCAPES[nxt])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


# --- translation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Num:
    """A number per probe: ``text`` holds ``flarewatch value * scale`` (``const`` for literals,
    in flarewatch's units, scaled when combined)."""

    text: str = ""
    scale: float = 1.0
    const: float | None = None


@dataclass(frozen=True)
class _Bool:
    """Where a condition is true and where false (``None``: that set has no PromQL form)."""

    true: str | None = None
    false: str | None = None
    const: bool | None = None


_INVERSE = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_FLIP = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_STRING_VARS = ("status", "reason", "type", "probe")


@dataclass
class _Scope:
    types: tuple[str, ...]
    exports: Exports
    cache: dict[str, tuple[ValueMetric, ...]] = field(default_factory=dict)

    # values -------------------------------------------------------------------------------

    def metrics_of(self, name: str) -> tuple[ValueMetric, ...]:
        """The metrics ``values.<name>`` is exported as for the rule's probe types."""
        if name in self.cache:
            return self.cache[name]
        found: list[ValueMetric] = []
        for type_name in self.types:
            if name not in self.exports.published.get(type_name, frozenset()):
                continue
            if name == "duration_ms":
                spec: ValueMetric | None = RUN_DURATION_METRIC
            else:
                spec = self.exports.metrics.get(type_name, {}).get(name)
            if spec is None:
                raise Untranslatable(
                    f"values.{name} of probe type {type_name!r} is not exported as a gauge"
                )
            if spec not in found:
                found.append(spec)
        if not found:
            raise Untranslatable(f"no selected probe type publishes values.{name}")
        self.cache[name] = tuple(found)
        return self.cache[name]

    def value(self, name: str) -> _Num:
        specs = self.metrics_of(name)
        scale = specs[0].scale
        parts = [_rescaled(s.selector(), s.scale, scale) for s in specs]
        text = parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"
        return _Num(text=text, scale=scale)

    # numbers ------------------------------------------------------------------------------

    def numeric(self, node: _Node) -> _Num:
        if isinstance(node, _Lit):
            if isinstance(node.value, bool) or not isinstance(node.value, float):
                raise Untranslatable(f"{node.value!r} is not a number")
            return _Num(const=node.value)
        name = _value_name(node)
        if name is not None:
            return self.value(name)
        if isinstance(node, _Call) and node.target is None and node.name == "double":
            if len(node.args) != 1:
                raise Untranslatable("double() takes one argument")
            return self.numeric(node.args[0])
        if isinstance(node, _Un) and node.op == "-":
            inner = self.numeric(node.operand)
            if inner.const is not None:
                return _Num(const=-inner.const)
            return _Num(text=f"-{inner.text}", scale=inner.scale)
        if isinstance(node, _Bin) and node.op in ("+", "-", "*", "/"):
            return self.arithmetic(node.op, self.numeric(node.left), self.numeric(node.right))
        raise Untranslatable(f"{_show(node)} is not a number this export can translate")

    def arithmetic(self, op: str, a: _Num, b: _Num) -> _Num:
        if a.const is not None and b.const is not None:
            if op == "/" and b.const == 0.0:
                raise Untranslatable("a division by the constant zero")
            folded = {"+": a.const + b.const, "-": a.const - b.const, "*": a.const * b.const}
            return _Num(const=folded[op] if op != "/" else a.const / b.const)
        if op in ("+", "-"):
            if a.const is not None:
                return _Num(text=f"({number(a.const * b.scale)} {op} {b.text})", scale=b.scale)
            if b.const is not None:
                return _Num(text=f"({a.text} {op} {number(b.const * a.scale)})", scale=a.scale)
            right = _rescaled(b.text, b.scale, a.scale)
            return _Num(text=f"({a.text} {op} on(probe) {right})", scale=a.scale)
        if a.const is not None:
            scale = b.scale if op == "*" else 1.0 / b.scale
            return _Num(text=f"({number(a.const)} {op} {b.text})", scale=scale)
        if b.const is not None:
            return _Num(text=f"({a.text} {op} {number(b.const)})", scale=a.scale)
        scale = a.scale * b.scale if op == "*" else a.scale / b.scale
        return _Num(text=f"({a.text} {op} on(probe) {b.text})", scale=scale)

    def compare(self, op: str, a: _Num, b: _Num) -> _Bool:
        if a.const is not None and b.const is not None:
            return _Bool(const=_fold(op, a.const, b.const))
        if a.const is not None:
            return self.compare(_FLIP[op], b, a)
        return _Bool(true=_comparison(op, a, b), false=_comparison(_INVERSE[op], a, b))

    # conditions ---------------------------------------------------------------------------

    def boolean(self, node: _Node) -> _Bool:
        if isinstance(node, _Lit) and isinstance(node.value, bool):
            return _Bool(const=node.value)
        if isinstance(node, _Un) and node.op == "!":
            inner = self.boolean(node.operand)
            if inner.const is not None:
                return _Bool(const=not inner.const)
            if inner.false is None:
                raise Untranslatable(f"!({_show(node.operand)}) cannot be negated exactly")
            return _Bool(true=inner.false, false=inner.true)
        if isinstance(node, _Bin) and node.op in ("&&", "||"):
            return _logic(node.op, self.boolean(node.left), self.boolean(node.right))
        if isinstance(node, _Bin) and node.op in _RELATIONS:
            return self.relation(node)
        if isinstance(node, _Call):
            return self.call(node)
        raise Untranslatable(f"{_show(node)} is not a condition this export can translate")

    def relation(self, node: _Bin) -> _Bool:
        op, left, right = node.op, node.left, node.right
        if op == "in":
            return self.membership(left, right)
        for this, other, this_op in ((left, right, op), (right, left, _FLIP[op])):
            target = _string_target(this)
            if (
                target is not None
                and isinstance(other, _Lit)
                and (isinstance(other.value, str) or (other.value is None and target == "reason"))
            ):
                if this_op not in ("==", "!="):
                    raise Untranslatable(f"{_show(node)}: strings are compared with == or !=")
                return self.string_set(target, [other.value], this_op == "!=")
        return self.compare(op, self.numeric(left), self.numeric(right))

    def membership(self, left: _Node, right: _Node) -> _Bool:
        if isinstance(right, _List):
            target = _string_target(left)
            items = [i.value for i in right.items if isinstance(i, _Lit)]
            if target is None or len(items) != len(right.items) or not items:
                raise Untranslatable(f"{_show(left)} in [...] is translated for strings only")
            if not all(isinstance(i, str) or (i is None and target == "reason") for i in items):
                raise Untranslatable(f"{_show(left)} in [...] needs a list of strings")
            return self.string_set(target, items, negate=False)  # type: ignore[arg-type]
        if isinstance(left, _Lit) and isinstance(left.value, str) and isinstance(right, _Var):
            if right.name == "values":
                return self.has(left.value)
            if right.name == "labels":
                return self.label_present(left.value)
        raise Untranslatable(f"{_show(left)} in {_show(right)} is not translated")

    def call(self, node: _Call) -> _Bool:
        if node.target is None and node.name == "has" and len(node.args) == 1:
            arg = node.args[0]
            name = _value_name(arg)
            if name is not None:
                return self.has(name)
            if isinstance(arg, _Field) and arg.obj == _Var("labels"):
                return self.label_present(arg.name)
        if node.target is not None and len(node.args) == 1:
            target = _string_target(node.target)
            arg = node.args[0]
            if target is not None and isinstance(arg, _Lit) and isinstance(arg.value, str):
                pattern = _string_function(node.name, arg.value)
                if pattern is not None:
                    return self.string_regex(target, pattern)
        raise Untranslatable(f"{_show(node)} is not translated")

    def has(self, name: str) -> _Bool:
        present = f"({self.value(name).text} >= -Inf)"
        return _Bool(true=present, false=f"({ALL} unless on(probe) {present})")

    def label_present(self, label: str) -> _Bool:
        _check_label(label)
        return _Bool(true=_info_filter(f'{label}!=""'), false=_info_filter(f'{label}=""'))

    def string_set(self, target: str, items: Sequence[str | None], negate: bool) -> _Bool:
        strings = list(dict.fromkeys(i for i in items if i is not None))
        has_null = len(strings) != len(items)
        if has_null and target != "reason":
            raise Untranslatable(f"{target} is never null")
        if len(strings) == 1:
            found = self.string_match(target, "=", "!=", strings[0])
        elif strings:
            pattern = "|".join(_regex_escape(s) for s in strings)
            found = self.string_match(target, "=~", "!~", pattern)
        if target == "reason" and has_null:
            no_reason = f"({ALL} unless on(probe) {REASON})"
            if strings:
                found = _Bool(true=f"({found.true} or {no_reason})", false=found.false)
            else:
                found = _Bool(true=no_reason, false=f"({REASON} == 1)")
        return _Bool(true=found.false, false=found.true) if negate else found

    def string_regex(self, target: str, pattern: str) -> _Bool:
        _check_re2(pattern)
        return self.string_match(target, "=~", "!~", pattern)

    def string_match(self, target: str, yes: str, no: str, value: str) -> _Bool:
        """Where ``target`` matches ``value`` with operator ``yes``, and where with ``no``."""
        quoted = _quote(value)
        if target == "status":
            return _Bool(
                true=f"({STATUS}{{status{yes}{quoted}}} == 1)",
                false=f"({STATUS}{{status{no}{quoted}}} == 1)",
            )
        if target in ("type", "probe"):
            return _Bool(
                true=f"{ALL}{{{target}{yes}{quoted}}}", false=f"{ALL}{{{target}{no}{quoted}}}"
            )
        if target == "reason":
            # No reason is neither equal nor unequal to a reason: null != "auth" is true.
            no_reason = f"({ALL} unless on(probe) {REASON})"
            return _Bool(
                true=f"({REASON}{{reason{yes}{quoted}}} == 1)",
                false=f"(({REASON}{{reason{no}{quoted}}} == 1) or {no_reason})",
            )
        label = target.removeprefix("labels.")
        _check_label(label)
        return _Bool(
            true=_info_filter(f"{label}{yes}{quoted}"),
            false=_info_filter(f'{label}{no}{quoted}, {label}!=""'),
        )


def _info_filter(matchers: str) -> str:
    return f"({ALL} and on(probe) {INFO}{{{matchers}}})"


def _check_label(label: str) -> None:
    if not prometheus_probe_label(label):
        raise Untranslatable(
            f"labels.{label} is not exported on {INFO} (not a Prometheus label name, or reserved)"
        )


def _value_name(node: _Node) -> str | None:
    if isinstance(node, _Field) and node.obj == _Var("values"):
        return node.name
    return None


def _string_target(node: _Node) -> str | None:
    """``status``, ``reason``, ``type``, ``probe`` or ``labels.NAME`` when ``node`` is one."""
    if isinstance(node, _Var) and node.name in _STRING_VARS:
        return node.name
    if isinstance(node, _Field) and node.obj == _Var("labels"):
        return f"labels.{node.name}"
    return None


def _string_function(name: str, arg: str) -> str | None:
    escaped = _regex_escape(arg)
    return {
        "startsWith": f"{escaped}.*",
        "endsWith": f".*{escaped}",
        "contains": f".*{escaped}.*",
        "matches": f".*(?:{arg}).*",  # CEL's matches() is unanchored; PromQL's =~ anchored
    }.get(name)


def _logic(op: str, a: _Bool, b: _Bool) -> _Bool:
    if op == "&&":
        if a.const is False or b.const is False:
            return _Bool(const=False)
        if a.const is True:
            return b
        if b.const is True:
            return a
        false = f"({a.false} or {b.false})" if a.false and b.false else None
        return _Bool(true=f"({a.true} and on(probe) {b.true})", false=false)
    if a.const is True or b.const is True:
        return _Bool(const=True)
    if a.const is False:
        return b
    if b.const is False:
        return a
    false = f"({a.false} and on(probe) {b.false})" if a.false and b.false else None
    return _Bool(true=f"({a.true} or {b.true})", false=false)


def _comparison(op: str, a: _Num, b: _Num) -> str:
    if b.const is not None:
        right = number(b.const * a.scale)
        if op == "!=":  # NaN != x holds in PromQL; flarewatch treats NaN as absent
            return f"({a.text} < {right} or {a.text} > {right})"
        return f"({a.text} {op} {right})"
    right = _rescaled(b.text, b.scale, a.scale)
    if op == "!=":
        return f"({a.text} < on(probe) {right} or {a.text} > on(probe) {right})"
    return f"({a.text} {op} on(probe) {right})"


def _rescaled(text: str, scale: float, wanted: float) -> str:
    """``text`` (holding value * ``scale``) brought to value * ``wanted``."""
    if math.isclose(scale, wanted):
        return text
    return f"({text} * {number(wanted / scale)})"


_FOLD: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _fold(op: str, a: float, b: float) -> bool:
    return _FOLD[op](a, b)


def _show(node: _Node) -> str:
    """A readable rendering of ``node`` for messages."""
    match node:
        case _Lit(value=value):
            return "null" if value is None else repr(value)
        case _Var(name=name):
            return name
        case _Field(obj=obj, name=name):
            return f"{_show(obj)}.{name}"
        case _Call(target=target, name=name, args=args):
            head = f"{_show(target)}." if target is not None else ""
            return f"{head}{name}({', '.join(_show(a) for a in args)})"
        case _Un(op=op, operand=operand):
            return f"{op}{_show(operand)}"
        case _Bin(op=op, left=left, right=right):
            return f"{_show(left)} {op} {_show(right)}"
        case _:
            return "[" + ", ".join(_show(i) for i in node.items) + "]"


# --- templates -----------------------------------------------------------------------------

_GO_SPEC = re.compile(
    r"(?P<align>[<>])?(?P<sign>[-+ ])?(?P<zero>0)?(?P<width>\d+)?(?P<group>[,_])?"
    r"(?:\.(?P<precision>\d+))?(?P<type>[eEfFgG%])?"
)


def _template(
    template: Template,
    scope: _Scope,
    fixed: Mapping[str, str],
    rule_labels: Mapping[str, str],
    notes: list[str],
) -> str:
    out: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            out.append(_escape_text(part))
        else:
            out.append(_placeholder(part, scope, fixed, rule_labels, notes))
    return "".join(out)


def _escape_text(text: str) -> str:
    return text.replace("{{", '{{ "{{" }}')


def _placeholder(
    part: Placeholder,
    scope: _Scope,
    fixed: Mapping[str, str],
    rule_labels: Mapping[str, str],
    notes: list[str],
) -> str:
    if part.root == "values":
        return _value_placeholder(part, scope, notes)
    if part.spec:
        raise Untranslatable(f"{part.text}: a format spec on text is not translated")
    if part.root == "labels":
        key = part.key or ""
        if key in rule_labels:
            return _escape_text(rule_labels[key])
        if key == "probe_type":
            return "{{ $labels.probe_type }}"
        if key != "probe":
            _check_label(key)
        return (
            f"{{{{ with $labels.{key} }}}}{{{{ . }}}}"
            f"{{{{ else }}}}<missing labels.{key}>{{{{ end }}}}"
        )
    match part.root:
        case "probe":
            return "{{ $labels.probe }}"
        case "type":
            return "{{ $labels.probe_type }}"
        case "rule" | "severity":
            return _escape_text(fixed[part.root])
        case "status":
            query = f"{STATUS}{{probe=%q}} == 1"
            return (
                f"{{{{ with query (printf `{query}` $labels.probe) }}}}"
                '{{ . | first | label "status" }}{{ end }}'
            )
        case "reason":
            query = f"{REASON}{{probe=%q}} == 1"
            return (
                f"{{{{ with query (printf `{query}` $labels.probe) }}}}"
                '{{ . | first | label "reason" }}{{ else }}none{{ end }}'
            )
    notes.append("$message is not shown: a probe's message is free text, never a metric label")
    return ""


def _value_placeholder(part: Placeholder, scope: _Scope, notes: list[str]) -> str:
    name = part.key or ""
    missing = f"<missing values.{name}>"
    try:
        specs = scope.metrics_of(name)
    except Untranslatable as err:
        notes.append(f"{part.text} shows {missing}: {err}")
        return missing
    factor = 1.0
    fmt, suffix = _go_format(part.spec, notes)
    if part.spec.endswith("%"):
        factor = 100.0
    alternatives = []
    for spec in specs:
        multiplier = factor / spec.scale
        selector = spec.selector("%q")
        alternatives.append(
            selector if math.isclose(multiplier, 1.0) else f"{selector} * {number(multiplier)}"
        )
    query = alternatives[0] if len(alternatives) == 1 else " or ".join(alternatives)
    args = " ".join("$labels.probe" for _ in specs)
    return (
        f"{{{{ with query (printf `{query}` {args}) }}}}"
        f"{{{{ . | first | value | {fmt} }}}}{suffix}{{{{ else }}}}{missing}{{{{ end }}}}"
    )


def _go_format(spec: str, notes: list[str]) -> tuple[str, str]:
    """The Go template function for a flarewatch format spec, and text to follow it."""
    if spec == "bytes":
        return "humanize", "B"
    if spec == "":
        return 'printf "%g"', ""
    match = _GO_SPEC.fullmatch(spec)
    if match is None:
        raise Untranslatable(f"the format spec {spec!r} has no printf equivalent")
    if match.group("group"):
        notes.append("thousands separators (',' in a format spec) are not shown")
    flags = ""
    if match.group("align") == "<":
        flags += "-"
    if match.group("sign") in ("+", " "):
        flags += match.group("sign")
    if match.group("zero"):
        flags += "0"
    width = match.group("width") or ""
    precision = match.group("precision")
    kind = match.group("type") or "g"
    verb = "f" if kind in "%fF" else kind
    explicit = match.group("type") is not None
    dot = f".{precision}" if precision is not None else (".6" if explicit else "")
    percent = "%%" if kind == "%" else ""
    return f'printf "%{flags}{width}{dot}{verb}{percent}"', ""
