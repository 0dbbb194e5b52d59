"""Read a configuration file into :class:`monitor.config.Config`, or say everything wrong with it.

The steps, each of which adds problems rather than stopping at the first:

1. YAML is composed into nodes, so every value keeps the line and column it was written at
   (duplicate keys, which YAML loaders silently overwrite, are an error here).
2. ``${VAR}`` and ``${VAR:-default}`` are expanded in string values (``$$`` is a ``$``).
3. ``X_file: PATH`` sets ``X`` from the file's content (trailing newline stripped), wherever
   the model at that place has a key ``X`` and no key ``X_file`` of its own.
4. ``cloudflare.api_token``, ``account_id`` and ``api_base_url`` fall back to
   ``CLOUDFLARE_API_TOKEN``, ``CLOUDFLARE_ACCOUNT_ID`` and ``CLOUDFLARE_API_BASE_URL``.
5. The data is validated into frozen pydantic models; each validation error becomes a
   :class:`Problem` with ``file:line:column``, the key path (``probes[2].interval``), a message
   and a hint.

Secrets never reach a message: values read from ``*_file``, values of secret fields and of
environment variables whose names look secret (``*TOKEN*``, ``*KEY*``…) are cut out of every
message and hint, whatever the mistake (a token given where a duration belongs, say).
"""

from __future__ import annotations

import functools
import json
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import click
import yaml
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from alerting.engine import EngineConfig
from alerting.inhibition import InhibitRule, InhibitRuleError, default_inhibit_rules
from alerting.lifecycle import LifecycleSettings
from alerting.matchers import MatcherError
from alerting.routing import SILENT_ROUTES, RouteError, RouteTree, load_routes
from alerting.rules import RuleError, RuleSet, load_rule_packs
from monitor.config import AlertingSettings, Config, did_you_mean
from probes.registry import Registry, RegistryError, default_registry
from probes.units import parse_duration, parse_size

Loc: TypeAlias = tuple[str | int, ...]

_Reader = Callable[[Path], bytes]

ENV_FALLBACKS: Mapping[str, str] = {
    "api_token": "CLOUDFLARE_API_TOKEN",
    "account_id": "CLOUDFLARE_ACCOUNT_ID",
    "api_base_url": "CLOUDFLARE_API_BASE_URL",
}
"""``cloudflare.<key>`` → the environment variable used when the key is left out."""

_SECRET_VAR = re.compile(r"TOKEN|SECRET|PASSW|KEY|CREDENTIAL|AUTH|PRIVATE", re.IGNORECASE)
_REF = re.compile(r"\$(?:(\$)|\{([^}]*)\}|(\{))")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_REDACTED = "<redacted>"
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DURATION_HINT = "write a number with a unit (ms, s, m, h, d, w), e.g. 250ms, 30s, 2m or 1h30m"
SIZE_HINT = "write a number with a unit (B, KB, MB, GB, TB or KiB, MiB, GiB, TiB), e.g. 10GB"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a configuration: where, what, and how to fix it.

    ``line`` and ``column`` count from 1 and are ``None`` for problems with the file as a
    whole (missing, unreadable). ``path`` is the key path (``probes[2].interval``), ``""``
    at the top.
    """

    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text

    def as_dict(self) -> dict[str, str | int | None]:
        """The JSON shape of ``check-config --json``."""
        return asdict(self)


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = sorted(
            problems, key=lambda p: (p.file, p.line or 0, p.column or 0)
        )
        super().__init__(self.report())

    def report(self) -> str:
        """The multi-line human report: a count, then each problem with its hint."""
        files = sorted({p.file for p in self.problems})
        count = len(self.problems)
        head = f"{', '.join(files) or 'configuration'}: {count} problem{'s' if count != 1 else ''}"
        return "\n".join([head, *(str(p) for p in self.problems)])

    def __str__(self) -> str:
        return self.report()


def expand_env(text: str, environ: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """``text`` with ``${VAR}`` / ``${VAR:-default}`` replaced, and the variables it used.

    ``$$`` is a literal ``$``; any other ``$`` is left alone. ``:-`` takes the default when
    the variable is unset or empty, as in the shell. Raises ``ValueError`` for an unset
    variable without a default or a malformed reference.
    """
    used: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        if match.group(3):
            raise ValueError("'${' without a closing '}'")
        inner = match.group(2)
        name, sep, default = inner.partition(":-")
        if not _VAR_NAME.fullmatch(name):
            raise ValueError(f"'${{{inner}}}' is not a variable reference")
        used.append(name)
        value = environ.get(name)
        if sep:
            return value if value else default
        if value is None:
            raise ValueError(f"the environment variable {name} is not set")
        return value

    return _REF.sub(replace, text), tuple(used)


@dataclass
class _Place:
    """Where a value was written: its key (for mapping entries) and the value itself."""

    key: tuple[int, int] | None
    value: tuple[int, int]


@dataclass
class _Reading:
    """The state of one read: data, where each piece came from, problems and secrets."""

    source: str
    environ: Mapping[str, str]
    registry: Registry
    base_dir: Path
    read_file: _Reader
    places: dict[Loc, _Place] = field(default_factory=dict)
    origins: dict[Loc, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    broken: set[Loc] = field(default_factory=set)
    verbatim: tuple[Loc, ...] = (("alerting", "rules"),)
    """Values under these paths are not ``${VAR}``-expanded: rule templates use ``${…}``."""

    def add(self, loc: Loc, message: str, hint: str = "", *, at_key: bool = False) -> None:
        line, column = self.position(loc, at_key=at_key)
        self.problems.append(Problem(self.source, line, column, format_path(loc), message, hint))

    def position(self, loc: Loc, *, at_key: bool = False) -> tuple[int | None, int | None]:
        for end in range(len(loc), -1, -1):
            place = self.places.get(loc[:end])
            if place is not None:
                spot = place.key if (at_key or end < len(loc)) and place.key else place.value
                return spot[0] + 1, spot[1] + 1
        return None, None

    def scrub(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, _REDACTED)
        return text


def format_path(loc: Loc) -> str:
    """``probes[2].interval``, ``http.connect_to["api.spacevision.app:80"]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _mark(mark: Any) -> tuple[int, int]:
    return int(mark.line), int(mark.column)


MAX_VALUES = 100_000
"""More values than this, once aliases are expanded, is refused (a YAML "billion laughs")."""


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """How many values ``node`` becomes once aliases are expanded (counted, not built)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:  # a recursive alias: the builder reports it
        return 1
    active.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo, active) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(
            _expanded_size(k, memo, active) + _expanded_size(v, memo, active) for k, v in node.value
        )
    active.discard(key)
    memo[key] = min(size, MAX_VALUES + 1)
    return memo[key]


class _Builder:
    """YAML nodes → plain data, recording places, expanding ``${VAR}``."""

    def __init__(self, reading: _Reading) -> None:
        self.reading = reading
        self.constructor = yaml.constructor.SafeConstructor()
        self.active: set[int] = set()

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        if id(node) in self.active:
            self.reading.add(loc, "an alias refers to itself", "remove the recursive alias")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, yaml.SequenceNode):
                return [self._item(i, child, loc) for i, child in enumerate(node.value)]
            return self._scalar(node, loc)
        finally:
            self.active.discard(id(node))

    def _item(self, index: int, node: yaml.Node, loc: Loc) -> Any:
        self.reading.places[(*loc, index)] = _Place(None, _mark(node.start_mark))
        return self.build(node, (*loc, index))

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[Any, Any]:
        # Keys written here may repeat a merged (`<<: *anchor`) key: that overrides it.
        written = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
        try:
            self.constructor.flatten_mapping(node)
        except yaml.MarkedYAMLError as err:
            self.reading.add(loc, f"cannot merge: {err.problem}", "`<<:` takes a mapping")
        out: dict[Any, Any] = {}
        own: set[Any] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.reading.add(loc, "a key must be a plain word", "write `key: value`")
                continue
            key = self._construct(key_node, loc)
            if isinstance(key, float | int | bool) or key is None:
                key = key_node.value
            child = (*loc, key)
            earlier = self.reading.places.get(child) if key in own else None
            if id(key_node) in written:
                own.add(key)
            self.reading.places[child] = _Place(
                _mark(key_node.start_mark), _mark(value_node.start_mark)
            )
            if earlier is not None:
                first_line = (earlier.key or earlier.value)[0] + 1
                self.reading.add(
                    child,
                    f"the key {key!r} is given twice (first on line {first_line})",
                    "keep one of them: YAML would silently use the last",
                    at_key=True,
                )
            out[key] = self.build(value_node, child)
        return out

    def _scalar(self, node: yaml.Node, loc: Loc) -> Any:
        value = self._construct(node, loc)
        if not isinstance(value, str) or "$" not in value:
            return value
        if any(loc[: len(prefix)] == prefix for prefix in self.reading.verbatim):
            return value
        try:
            expanded, names = expand_env(value, self.reading.environ)
        except ValueError as err:
            self.reading.broken.add(loc)
            self.reading.add(
                loc,
                str(err),
                "set the variable, give a default with ${NAME:-default}, or write $$ for a "
                "literal $",
            )
            return value
        if names:
            self.reading.origins[loc] = ", ".join(f"${{{n}}}" for n in names)
            for name in names:
                secret = self.reading.environ.get(name)
                if secret and _SECRET_VAR.search(name):
                    self.reading.secrets.add(secret)
        return expanded

    def _construct(self, node: yaml.Node, loc: Loc) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
            return node.value
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as err:
            self.reading.broken.add(loc)
            self.reading.add(
                loc, f"cannot read this value: {err.problem}", "remove the YAML tag (`!…`)"
            )
            return None


def _compose(text: str, reading: _Reading) -> Any:
    """The document's data, or ``None`` with problems recorded."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        message = "not valid YAML: " + ", ".join(
            part for part in (err.context, err.problem) if part
        )
        reading.problems.append(
            Problem(
                reading.source,
                mark.line + 1 if mark else None,
                mark.column + 1 if mark else None,
                "",
                message,
                _yaml_hint(str(err.problem), _line(text, mark.line if mark else None)),
            )
        )
        return None
    except yaml.YAMLError as err:
        reading.problems.append(Problem(reading.source, None, None, "", f"not valid YAML: {err}"))
        return None
    data = None
    if node is not None:
        reading.places[()] = _Place(None, _mark(node.start_mark))
        try:
            too_large = _expanded_size(node, {}, set()) > MAX_VALUES
            data = None if too_large else _Builder(reading).build(node, ())
        except RecursionError:
            too_large = True
        if too_large:
            reading.problems.append(
                Problem(
                    reading.source,
                    None,
                    None,
                    "",
                    f"the configuration is too large or too deeply nested (more than "
                    f"{MAX_VALUES:,} values once aliases are expanded, or nested hundreds of "
                    "levels deep)",
                    "write the values out instead of nesting aliases of aliases",
                )
            )
            return None
    if data is None:
        reading.problems.append(
            Problem(
                reading.source,
                None,
                None,
                "",
                "the configuration file is empty",
                "start from config/example.yaml; docs/config.md describes every key",
            )
        )
        return None
    if not isinstance(data, dict):
        reading.add(
            (),
            "the configuration must be a mapping of keys (cloudflare, server, probes…)",
            "start from config/example.yaml; docs/config.md describes every key",
        )
        return None
    return data


def _line(text: str, index: int | None) -> str:
    lines = text.splitlines()
    return lines[index] if index is not None and 0 <= index < len(lines) else ""


def _yaml_hint(problem: str, line: str) -> str:
    if "${" in line and ("{" in line.split("${", 1)[0] or "[" in line.split("${", 1)[0]):
        return 'inside {…} or […], quote values that use ${…}: key: "${VAR}"'
    if "\t" in line or "tab" in problem:
        return "indent with spaces, not tabs"
    if "mapping values" in problem:
        return "quote a value that contains ': ', or fix the indentation of this key"
    if "cannot start any token" in problem:
        return "quote a value that starts with `@`, `` ` ``, `%` or another special character"
    return "check the indentation and quoting on this line and the one before it"


# --- models at a key path -------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """``X`` from ``Annotated[X, …]``, from ``X | None``, and the one model of a union."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in args if _is_model(_unwrap(a))]
            if len(args) == 1:
                annotation = args[0]
            elif len(models) == 1:  # a mapping can only be meant for the model
                annotation = models[0]
            else:
                return annotation
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


@functools.cache
def keys_of(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """The keys users write for ``model`` (aliases where a field has one) and their fields."""
    out: dict[str, FieldInfo] = {}
    for name, info in model.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
        out[alias or name] = info
    return out


def _step(annotation: Any, part: str | int) -> Any:
    """The annotation one key or index below ``annotation`` (``None``: unknown)."""
    annotation = _unwrap(annotation)
    if _is_model(annotation):
        field_info = keys_of(annotation).get(part) if isinstance(part, str) else None
        if field_info is None:
            return None
        if field_info.metadata:  # pydantic moves Annotated[...] metadata here
            return typing.Annotated[(field_info.annotation, *field_info.metadata)]
        return field_info.annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, Sequence, frozenset, set) and isinstance(part, int) and args:
        return args[0]
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    return None


def _below(annotation: Any, loc: Loc, part: str | int, node: Any, registry: Registry) -> Any:
    """The annotation of ``node``, found at ``part`` below ``loc`` whose is ``annotation``."""
    if loc == ("probes",) and isinstance(part, int):
        kind = node.get("type") if isinstance(node, dict) else None
        return registry[kind].settings_model if isinstance(kind, str) and kind in registry else None
    return _member(_step(annotation, part), node) if annotation is not None else None


def _member(annotation: Any, node: Any) -> Any:
    """The member of a union of models tagged by ``type`` (notifiers, remediation actions)
    that a mapping with that ``type`` is meant for; anything else unchanged."""
    kind = node.get("type") if isinstance(node, dict) else None
    union = _unwrap(annotation)
    if not isinstance(kind, str) or typing.get_origin(union) not in (typing.Union, types.UnionType):
        return annotation
    for arg in typing.get_args(union):
        model = _unwrap(arg)
        tag = keys_of(model).get("type") if _is_model(model) else None
        if tag is not None and kind in typing.get_args(tag.annotation):
            return model
    return annotation


def _annotation_at(loc: Loc, data: Any, registry: Registry) -> Any:
    """The annotation governing the value at ``loc`` (probe entries: their type's model)."""
    annotation: Any = Config
    node = data
    for depth, part in enumerate(loc):
        node = _child(node, part)
        annotation = _below(annotation, loc[:depth], part, node, registry)
        if annotation is None:
            return None
    return annotation


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _mentions(annotation: Any, what: Callable[[Any], bool]) -> bool:
    """Whether ``annotation`` or anything inside it (args, metadata) satisfies ``what``."""
    if what(annotation):
        return True
    metadata = getattr(annotation, "__metadata__", ())
    for item in metadata:
        if what(item) or what(getattr(item, "func", None)):
            return True
    return any(_mentions(arg, what) for arg in typing.get_args(annotation))


def _is_secret_type(annotation: Any) -> bool:
    return _mentions(annotation, lambda a: a is SecretStr)


# --- secrets from files, environment fallbacks ----------------------------------------------


def _secret_files(value: Any, loc: Loc, annotation: Any, reading: _Reading) -> None:
    """Replace ``X_file`` keys by ``X`` read from the file, depth first."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            below = _below(annotation, loc, index, item, reading.registry)
            _secret_files(item, (*loc, index), below, reading)
        return
    if not isinstance(value, dict):
        return
    model = _unwrap(annotation)
    if _is_model(model):
        fields = keys_of(model)
        for key in list(value):
            if not (isinstance(key, str) and key.endswith("_file")):
                continue
            target = key.removesuffix("_file")
            if key in fields or target not in fields:
                continue
            _read_secret(value, key, target, loc, reading)
    for key, item in value.items():
        _secret_files(
            item, (*loc, key), _below(annotation, loc, key, item, reading.registry), reading
        )


def _read_secret(
    mapping: dict[Any, Any], key: str, target: str, loc: Loc, reading: _Reading
) -> None:
    where = (*loc, key)
    name = mapping.pop(key)
    # Reported here if anything goes wrong: no "missing key", no environment fallback.
    reading.broken.add((*loc, target))
    if target in mapping:
        reading.add(
            where,
            f"both {target!r} and {key!r} are given",
            f"keep one: {target} holds the value itself, {key} the path of a file holding it",
            at_key=True,
        )
        return
    if not isinstance(name, str) or not name:
        reading.add(where, f"{key} is the path of a file", "e.g. /run/secrets/cloudflare-api-token")
        return
    path = Path(name)
    if not path.is_absolute():
        path = reading.base_dir / path
    try:
        raw = reading.read_file(path)
    except OSError as err:
        reading.add(
            where,
            f"cannot read {path}: {err.strerror or type(err).__name__}",
            "check the path, and that the user flarewatch runs as may read the file",
        )
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        reading.add(where, f"{path} is not UTF-8 text", "the file should hold the value only")
        return
    text = text.rstrip("\r\n")
    reading.broken.discard((*loc, target))
    reading.secrets.add(text)
    mapping[target] = text
    reading.places[(*loc, target)] = reading.places[where]
    reading.origins[(*loc, target)] = f"the file {path}"


def _env_fallbacks(data: dict[Any, Any], reading: _Reading) -> None:
    """Fill ``cloudflare`` keys left out from ``CLOUDFLARE_*`` variables."""
    token = reading.environ.get(ENV_FALLBACKS["api_token"])
    if token:
        reading.secrets.add(token)
    section = data.setdefault("cloudflare", {})
    if not isinstance(section, dict):
        return
    for key, variable in ENV_FALLBACKS.items():
        value = reading.environ.get(variable)
        if key not in section and value and ("cloudflare", key) not in reading.broken:
            section[key] = value
            reading.origins[("cloudflare", key)] = f"the environment variable {variable}"


def _collect_secret_values(value: Any, loc: Loc, annotation: Any, reading: _Reading) -> None:
    """Remember every value given for a secret field, wherever it came from."""
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for part, item in items:
            below = _below(annotation, loc, part, item, reading.registry)
            _collect_secret_values(item, (*loc, part), below, reading)
    elif isinstance(value, str) and annotation is not None and _is_secret_type(annotation):
        reading.secrets.add(value)


# --- validation errors → problems -----------------------------------------------------------


def _clean(loc: Loc, data: Any, kind: str) -> tuple[Loc, bool]:
    """``loc`` as a path in the data, and whether it went through a union member.

    pydantic names the member of a union it tried (``urls[1]["function-after[…, HttpCheck]"]
    .url``): such names are dropped. The key of a ``missing`` error is kept; anything else
    that leaves the data ends the path.
    """
    out: list[str | int] = []
    node = data
    through_union = False
    for depth, part in enumerate(loc):
        if _has(node, part):
            out.append(part)
            node = _child(node, part)
        elif kind == "missing" and isinstance(node, dict) and depth == len(loc) - 1:
            out.append(part)
        elif isinstance(part, str):
            through_union = True
        else:
            break
    return tuple(out), through_union


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


_CONTAINER_TYPES = frozenset({"dict_type", "model_type", "list_type", "tuple_type"})
_SHAPES: Mapping[str, str] = {
    "string_type": "text",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
    "dict_type": "a mapping of keys",
    "list_type": "a list",
    "tuple_type": "a list",
}
"""Errors saying the value has the wrong shape, and the shape each wanted."""


def _problems_from(errors: list[ErrorDetails], data: Any, reading: _Reading) -> None:
    """Turn validation errors into problems, one per place and message.

    A union tries each member: a member whose shape does not fit says so at the same place
    where the member that fits reports the real mistake. Shape errors are dropped where a
    real mistake was found; where every member has only a shape error, they become one
    ("expected text or a mapping of keys, not a number").
    """
    items = [(*_clean(tuple(e["loc"]), data, e["type"]), e) for e in errors]
    real = [loc for loc, _, e in items if e["type"] not in _SHAPES]
    shapes: dict[Loc, list[ErrorDetails]] = {}
    kept: list[tuple[Loc, ErrorDetails]] = []
    for loc, through_union, err in items:
        if through_union and err["type"] in _SHAPES:
            if not any(other[: len(loc)] == loc for other in real):
                shapes.setdefault(loc, []).append(err)
        else:
            kept.append((loc, err))
    for loc, group in shapes.items():
        if len(group) == 1:
            kept.append((loc, group[0]))
            continue
        wanted = list(dict.fromkeys(_SHAPES[e["type"]] for e in group))
        given = _kind_of(group[0].get("input"))
        merged: ErrorDetails = {
            "type": "union_shape",
            "loc": loc,
            "msg": f"expected {' or '.join(wanted)}, not {given}",
            "input": group[0].get("input"),
        }
        kept.append((loc, merged))
    before = len(reading.problems)
    for loc, err in kept:
        _problem_from(err, loc, data, reading)
    seen: set[tuple[str, str]] = set()
    fresh = reading.problems[before:]
    del reading.problems[before:]
    for found in fresh:
        if (found.path, found.message) not in seen:
            seen.add((found.path, found.message))
            reading.problems.append(found)


_TYPE_HINTS: Mapping[str, str] = {
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "int_type": "write a whole number",
    "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_type": "write a number, e.g. 0.5",
    "float_parsing": "write a number, e.g. 0.5",
    "string_type": 'write text; quote it if YAML reads it as something else ("yes", "1.0")',
    "dict_type": "write a mapping: `key: value` lines indented under this key",
    "model_type": "write a mapping: `key: value` lines indented under this key",
    "list_type": "write a list: `- item` lines indented under this key",
    "tuple_type": "write a list: `- item` lines indented under this key",
}


def _problem_from(err: ErrorDetails, loc: Loc, data: Any, reading: _Reading) -> None:
    if any(loc[:end] in reading.broken for end in range(len(loc) + 1)):
        return  # already reported: an unset variable, an unknown tag, an unreadable file
    kind = err["type"]
    ctx = err.get("ctx") or {}
    message = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    hint = str(ctx.get("hint", ""))
    # A mapping key that is itself the bad input (a connect_to key): point at the key.
    at_key = bool(loc) and isinstance(loc[-1], str) and err.get("input") == loc[-1]
    field_annotation = _annotation_at(loc, data, reading.registry) if loc else None
    if kind == "extra_forbidden" and loc:
        key = loc[-1]
        message = f"unknown key {key!r}"
        hint = _unknown_key_hint(key, _annotation_at(loc[:-1], data, reading.registry))
        at_key = True
    elif kind == "missing" and loc:
        key = loc[-1]
        message, hint = _missing(loc, _annotation_at(loc[:-1], data, reading.registry))
    elif kind in {"model_type", "model_attributes_type", "dict_type"}:
        message = f"expected a mapping of keys, not {_kind_of(err.get('input'))}"
        hint = _TYPE_HINTS["dict_type"]
        if err.get("input") is None:
            hint = "the section is empty: remove it, or indent its keys under it"
    elif not hint and _mentions(field_annotation, lambda f: f is parse_duration):
        hint = DURATION_HINT
    elif not hint and _mentions(field_annotation, lambda f: f is parse_size):
        hint = SIZE_HINT
    elif not hint and kind == "string_pattern_mismatch" and len(loc) == 3 and loc[2] == "name":
        hint = (
            "probe names use lowercase letters, digits, '.', '_' and '-', start with a letter "
            "or digit, and are at most 63 characters"
        )
    elif not hint:
        if err.get("input") is None and kind in _CONTAINER_TYPES:
            hint = "the section is empty: remove it, or indent its keys under it"
        else:
            hint = _TYPE_HINTS.get(kind, "")
    if hint in (DURATION_HINT, SIZE_HINT):
        message = message.split(": write a number", 1)[0]
    origin = reading.origins.get(loc)
    if origin and kind != "extra_forbidden":
        message += f" (the value comes from {origin})"
    line, column = reading.position(loc, at_key=at_key)
    reading.problems.append(
        Problem(
            reading.source,
            line,
            column,
            format_path(loc),
            reading.scrub(message),
            reading.scrub(hint),
        )
    )


def _kind_of(value: object) -> str:
    """What YAML made of a value, in words (never the value: it may be a secret)."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _unknown_key_hint(key: str | int, parent: Any) -> str:
    parent = _unwrap(parent)
    if not _is_model(parent):
        return "remove it"
    known = list(keys_of(parent))
    listing = f"the keys here are: {', '.join(known)}"
    if isinstance(key, str) and key.endswith("_file"):
        return (
            f"{key} would read {key.removesuffix('_file')!r} from a file, but there is no "
            f"such key here; {listing}"
        )
    guess = did_you_mean(str(key), known)
    return f"{guess} ({listing})" if guess else listing


def _missing(loc: Loc, parent: Any) -> tuple[str, str]:
    key = loc[-1]
    if loc[:1] == ("cloudflare",) and key in ENV_FALLBACKS:
        variable = ENV_FALLBACKS[str(key)]
        what = {"api_token": "API token", "account_id": "account id"}.get(str(key), str(key))
        return (
            f"no Cloudflare {what}",
            f"give cloudflare.{key} (or {key}_file: PATH) in the config, or set the "
            f"environment variable {variable}",
        )
    parent = _unwrap(parent)
    description = ""
    if _is_model(parent) and isinstance(key, str) and key in keys_of(parent):
        description = keys_of(parent)[key].description or ""
    hint = f"add `{key}:`" + (f" ({description})" if description else "")
    return f"the required key {key!r} is missing", hint


# --- public entry points --------------------------------------------------------------------


def parse_config(
    text: str,
    source: str,
    *,
    registry: Registry | None = None,
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    read_file: _Reader | None = None,
) -> Config:
    """Validate configuration ``text`` (named ``source`` in messages) into a :class:`Config`.

    ``environ`` defaults to ``os.environ``; ``*_file`` paths are relative to ``base_dir``
    (default: the current directory) and read with ``read_file`` (default: from disk).
    Raises :class:`ConfigError` listing every problem.
    """
    reading = _Reading(
        source=source,
        environ=os.environ if environ is None else environ,
        registry=registry or Registry({}),
        base_dir=base_dir or Path.cwd(),
        read_file=read_file or Path.read_bytes,
    )
    data = _compose(text, reading)
    if data is None:
        raise ConfigError(reading.problems)
    if registry is None:
        # After reading the YAML: a syntax error is reported even with a broken plugin.
        registry = reading.registry = _default_registry(source)
    _secret_files(data, (), Config, reading)
    _env_fallbacks(data, reading)
    _collect_secret_values(data, (), Config, reading)
    try:
        config = Config.model_validate(data, context={"registry": registry})
    except ValidationError as err:
        _problems_from(err.errors(), data, reading)
        raw = _AlertingInput.of_raw(data)
        if raw is not None:  # the rules, routes… have problems of their own: report them too
            _check_alerting(raw, registry, reading)
    else:
        if not reading.problems and config.alerting is not None:
            config._alerting_plan = _compile_alerting(config, registry, reading)
        if not reading.problems:
            return config
    raise ConfigError(reading.problems)


def _default_registry(source: str) -> Registry:
    try:
        return default_registry()
    except (RegistryError, ImportError) as err:
        raise ConfigError(
            [
                Problem(
                    source,
                    None,
                    None,
                    "",
                    f"the probe types cannot be loaded: {err}",
                    "reinstall flarewatch, or remove the broken probe plugin",
                )
            ]
        ) from err


def load_config(
    path: Path,
    *,
    registry: Registry | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read and validate the configuration file at ``path``.

    ``*_file`` paths are relative to the file's directory. Raises :class:`ConfigError`
    (every problem at once) for a missing, unreadable, empty, non-YAML or invalid file.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _file_error(source, "no such file", "check the path") from None
    except IsADirectoryError:
        raise _file_error(source, "is a directory, not a file", "give the YAML file") from None
    except UnicodeDecodeError:
        raise _file_error(
            source, "is not UTF-8 text", "a configuration is a YAML text file"
        ) from None
    except OSError as err:
        raise _file_error(
            source,
            f"cannot be read: {err.strerror or type(err).__name__}",
            "check that the user flarewatch runs as may read it",
        ) from None
    return parse_config(
        text,
        source,
        registry=registry,
        environ=environ,
        base_dir=path.parent.absolute(),
    )


def _file_error(source: str, message: str, hint: str) -> ConfigError:
    return ConfigError([Problem(source, None, None, "", message, hint)])


def probe_counts(config: Config) -> dict[str, int]:
    """How many probes of each type ``config`` has, by type name."""
    counts: dict[str, int] = {}
    for probe in config.probes:
        counts[probe.type] = counts.get(probe.type, 0) + 1
    return dict(sorted(counts.items()))


def summary(source: str, config: Config) -> str:
    """``ok: FILE: 9 probes (1 api, 1 d1, …)``, then the alert rules and notifiers if any."""
    count = len(config.probes)
    parts = [f"{n} {kind}" for kind, n in probe_counts(config).items()]
    disabled = sum(1 for p in config.probes if not p.enabled)
    if disabled:
        parts.append(f"{disabled} disabled")
    detail = f" ({', '.join(parts)})" if parts else ""
    text = f"ok: {source}: {count} probe{'s' if count != 1 else ''}{detail}"
    plan = config._alerting_plan
    if isinstance(plan, AlertingPlan):
        rules, notifiers = len(plan.engine.rules), len(plan.settings.notifiers)
        text += (
            f"; {rules} alert rule{'s' if rules != 1 else ''}, "
            f"{notifiers} notifier{'s' if notifiers != 1 else ''}"
        )
    return text


def load_for_command(path: Path) -> tuple[Config, Registry] | None:
    """Load ``path`` with the installed probe types (plugins included), as commands do.

    On failure, every problem is printed to stderr and ``None`` is returned: exit code 2.
    """
    try:
        registry = default_registry()
    except (RegistryError, ImportError) as err:
        click.echo(f"flarewatch: the probe types cannot be loaded: {err}", err=True)
        return None
    try:
        return load_config(path, registry=registry), registry
    except ConfigError as err:
        click.echo(err.report(), err=True)
        return None


def check_config_file(path: Path, *, as_json: bool) -> int:
    """``flarewatch check-config``: print the verdict; 0 when valid, 2 with every problem."""
    try:
        registry = default_registry()
    except (RegistryError, ImportError) as err:
        click.echo(f"flarewatch: the probe types cannot be loaded: {err}", err=True)
        return 2
    try:
        config = load_config(path, registry=registry)
    except ConfigError as err:
        if as_json:
            _echo_json(False, 0, {}, err.problems)
        else:
            click.echo(err.report(), err=True)
        return 2
    if as_json:
        _echo_json(True, len(config.probes), probe_counts(config), [])
    else:
        click.echo(summary(str(path), config))
    return 0


def _echo_json(ok: bool, probes: int, types: dict[str, int], problems: list[Problem]) -> None:
    document = {
        "ok": ok,
        "probes": probes,
        "types": types,
        "problems": [p.as_dict() for p in problems],
    }
    click.echo(json.dumps(document, indent=2))


# --- alerting: rules, routes, inhibition, remediation triggers ------------------------------


@dataclass(frozen=True)
class AlertingPlan:
    """The ``alerting`` section compiled: what the alert service runs.

    ``engine`` holds the compiled rules (packs and inline), the route tree, the inhibit rules
    and the lifecycle timers; ``settings`` the section as validated (notifiers, remediations,
    outbox…); ``rule_files`` the pack files the rules were read from.
    """

    settings: AlertingSettings
    engine: EngineConfig
    rule_files: tuple[str, ...] = ()


def alerting_plan(
    config: Config, registry: Registry, *, base_dir: Path | None = None
) -> AlertingPlan | None:
    """The compiled ``alerting`` section of ``config`` (``None`` without one).

    :func:`load_config` compiles it, with file:line for every problem; a config built
    another way is compiled here (rule files relative to ``base_dir``, default the current
    directory). Raises :class:`ConfigError`.
    """
    if config.alerting is None:
        return None
    plan = config._alerting_plan
    if isinstance(plan, AlertingPlan):
        return plan
    reading = _Reading(
        source="<config>",
        environ=os.environ,
        registry=registry,
        base_dir=base_dir or Path.cwd(),
        read_file=Path.read_bytes,
    )
    compiled = _compile_alerting(config, registry, reading)
    if reading.problems:
        raise ConfigError(reading.problems)
    config._alerting_plan = compiled
    return compiled


_PATH_PART = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def _loc_of(path: str) -> Loc:
    """``("rules", 3, "select", "types", 1)`` from ``rules[3].select.types[1]``."""
    out: list[str | int] = []
    for match in _PATH_PART.finditer(path):
        out.append(int(match.group(2)) if match.group(2) is not None else match.group(1))
    return tuple(out)


@dataclass(frozen=True)
class _AlertingInput:
    """What the alerting checks need, from a validated section or (when the rest of the
    file has problems) from the raw data, so that every problem is reported at once."""

    rule_files: Sequence[str] = ()
    rules: Sequence[object] = ()
    notifiers: Sequence[str] = ()
    route: object = None
    inhibit_rules: Sequence[object] = ()
    remediation_rules: Sequence[tuple[int, str]] = ()
    """(index, ``when.rule``) of each remediation naming a rule."""
    probes: Sequence[str] = ()

    @classmethod
    def of(cls, config: Config) -> _AlertingInput:
        """From a validated configuration."""
        settings = config.alerting
        assert settings is not None
        return cls(
            rule_files=settings.rule_files,
            rules=settings.rules,
            notifiers=sorted(settings.notifiers),
            route=settings.route,
            inhibit_rules=settings.inhibit_rules,
            remediation_rules=[
                (i, h.when.rule)
                for i, h in enumerate(settings.remediations)
                if h.when.rule is not None
            ],
            probes=sorted(p.name for p in config.probes),
        )

    @classmethod
    def of_raw(cls, data: Mapping[str, Any]) -> _AlertingInput | None:
        """From raw data, keeping only what has the right shape (validation reports the rest)."""
        section = data.get("alerting")
        if not isinstance(section, Mapping):
            return None

        def listed(key: str) -> list[Any]:
            value = section.get(key)
            return list(value) if isinstance(value, list) else []

        hooks = [
            (i, h["when"]["rule"])
            for i, h in enumerate(listed("remediations"))
            if isinstance(h, Mapping)
            and isinstance(h.get("when"), Mapping)
            and isinstance(h["when"].get("rule"), str)
        ]
        notifiers = section.get("notifiers")
        probes = data.get("probes")
        return cls(
            rule_files=[f for f in listed("rule_files") if isinstance(f, str)],
            rules=listed("rules"),
            notifiers=sorted(str(n) for n in notifiers) if isinstance(notifiers, Mapping) else [],
            route=section.get("route") if isinstance(section.get("route"), Mapping) else None,
            inhibit_rules=listed("inhibit_rules"),
            remediation_rules=hooks,
            probes=sorted(
                p["name"]
                for p in (probes if isinstance(probes, list) else [])
                if isinstance(p, Mapping) and isinstance(p.get("name"), str)
            ),
        )


def _compile_alerting(config: Config, registry: Registry, reading: _Reading) -> AlertingPlan:
    """Compile the alerting section, adding every problem (located) to ``reading``."""
    settings = config.alerting
    assert settings is not None
    rules, routes, inhibit, files = _check_alerting(_AlertingInput.of(config), registry, reading)
    timers = settings.lifecycle
    engine = EngineConfig(
        rules=rules,
        routes=routes,
        inhibit_rules=(
            *(default_inhibit_rules() if settings.builtin_inhibit_rules else ()),
            *inhibit,
        ),
        lifecycle=LifecycleSettings(
            repeat_interval=None,
            flap_window=timers.flap_window,
            flap_threshold=timers.flap_threshold,
            stale_after=timers.stale_after,
            resolved_retention=timers.resolved_retention,
        ),
    )
    return AlertingPlan(settings=settings, engine=engine, rule_files=tuple(files))


def _check_alerting(
    given: _AlertingInput, registry: Registry, reading: _Reading
) -> tuple[RuleSet, RouteTree, list[InhibitRule], list[str]]:
    """Load rules, route and inhibit rules; every problem goes to ``reading`` (pack files'
    problems located in those files)."""
    here: Loc = ("alerting",)
    packs, files, readings = _rule_packs(given.rule_files, reading)
    inline = reading.source
    if given.rules:
        packs.append((inline, {"rules": list(given.rules)}))
        readings[inline] = reading
    for source, document in packs:
        prefix = here if source == inline else ()
        _unknown_probes(document, given.probes, readings[source], prefix)
    rules = RuleSet.of([])
    rules_ok = not any(r.problems for r in readings.values() if r is not reading)
    try:
        rules = load_rule_packs(packs, known_values=registry.values_by_type())
    except RuleError as err:
        rules_ok = False
        for found in err.problems:
            where = readings.get(found.source, reading)
            loc = (*(here if found.source == inline else ()), *_loc_of(found.path))
            which = f"rule {found.rule!r}: " if found.rule else ""
            where.add(loc, which + found.message, _RULE_HINT)
    routes = _routes(given.notifiers, given.route, reading)
    inhibit = _inhibit_rules(given.inhibit_rules, reading)
    known_rules = sorted(r.name for r in rules)
    for index, rule in given.remediation_rules:
        if rules_ok and rule not in known_rules:
            reading.add(
                (*here, "remediations", index, "when", "rule"),
                f"no alert rule is called {rule!r}",
                _choices_hint(rule, known_rules, "rules"),
            )
    for pack in readings.values():
        if pack is not reading:
            reading.problems.extend(pack.problems)
    return rules, routes, inhibit, files


_RULE_HINT = "docs/rules.md describes rules and lists the value names each probe type publishes"
_GLOB = re.compile(r"[*?\[]")


def _rule_packs(
    rule_files: Sequence[str], reading: _Reading
) -> tuple[list[tuple[str, object]], list[str], dict[str, _Reading]]:
    """Read every rule file ``rule_files`` names (globs expanded, each file once, in order)."""
    packs: list[tuple[str, object]] = []
    files: list[str] = []
    readings: dict[str, _Reading] = {}
    seen: set[Path] = set()
    for index, pattern in enumerate(rule_files):
        loc: Loc = ("alerting", "rule_files", index)
        base = Path(pattern) if Path(pattern).is_absolute() else reading.base_dir / pattern
        if _GLOB.search(pattern):
            found = sorted(p for p in base.parent.glob(base.name) if p.is_file())
            if not found:
                reading.add(
                    loc,
                    f"{pattern!r} matches no file (looked in {base.parent})",
                    "rule_files are relative to this configuration file's directory",
                )
        else:
            found = [base]
        for path in found:
            resolved = Path(os.path.normpath(path))
            if resolved in seen:
                continue
            seen.add(resolved)
            source = str(path)
            pack = _Reading(
                source=source,
                environ=reading.environ,
                registry=reading.registry,
                base_dir=path.parent,
                read_file=reading.read_file,
                verbatim=((),),
            )
            readings[source] = pack
            document = _read_pack(path, pack, loc, reading)
            if document is not None:
                packs.append((source, document))
                files.append(source)
    return packs, files, readings


def _read_pack(path: Path, pack: _Reading, loc: Loc, reading: _Reading) -> Any:
    """One rule file's data with the place of every value, or ``None`` (problems recorded)."""
    try:
        text = pack.read_file(path).decode("utf-8")
    except FileNotFoundError:
        reading.add(loc, f"no such rule file: {path}", "rule_files are relative to this file")
        return None
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        reading.add(loc, f"cannot read the rule file {path}: {why}", "check the path")
        return None
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        pack.problems.append(
            Problem(
                pack.source,
                mark.line + 1 if mark else None,
                mark.column + 1 if mark else None,
                "",
                f"not valid YAML: {err.problem}",
                _yaml_hint(str(err.problem), _line(text, mark.line if mark else None)),
            )
        )
        return None
    if node is None:
        pack.add((), "the rule file is empty", "a rule pack is a mapping with a `rules:` list")
        return None
    if _expanded_size(node, {}, set()) > MAX_VALUES:
        pack.add((), "the rule file is too large once aliases are expanded", "write it out")
        return None
    pack.places[()] = _Place(None, _mark(node.start_mark))
    return _Builder(pack).build(node, ())


def _unknown_probes(document: object, probes: Sequence[str], where: _Reading, prefix: Loc) -> None:
    """A rule selecting a probe by a name no probe has is an error (a typo mutes it)."""
    items = document.get("rules") if isinstance(document, Mapping) else None
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        select = item.get("select") if isinstance(item, Mapping) else None
        names = select.get("probes") if isinstance(select, Mapping) else None
        if not isinstance(names, list):
            continue
        for position, name in enumerate(names):
            if isinstance(name, str) and name not in probes:
                where.add(
                    (*prefix, "rules", index, "select", "probes", position),
                    f"no probe is called {name!r}",
                    _choices_hint(name, probes, "probes"),
                )


def _choices_hint(word: str, choices: Sequence[str], what: str) -> str:
    guess = did_you_mean(word, choices)
    listed = ", ".join(choices) if choices else "none"
    return f"{guess} ({what}: {listed})" if guess else f"{what}: {listed}"


def _routes(names: Sequence[str], raw: object, reading: _Reading) -> RouteTree:
    """The route tree; without ``route``, one root sending every alert to every notifier."""
    if raw is None:
        if not names:
            return SILENT_ROUTES
        raw = {"receivers": list(names)}
    try:
        return load_routes(raw, known_notifiers=names, path="route")
    except RouteError as err:
        for found in err.problems:
            reading.add(
                ("alerting", *_loc_of(found.path)),
                found.message,
                "docs/alerts.md describes routes (Alertmanager's)",
            )
    return SILENT_ROUTES


def _inhibit_rules(given: Sequence[object], reading: _Reading) -> list[InhibitRule]:
    out: list[InhibitRule] = []
    for index, raw in enumerate(given):
        loc: Loc = ("alerting", "inhibit_rules", index)
        if not isinstance(raw, Mapping):
            reading.add(loc, "an inhibit rule is a mapping", _INHIBIT_HINT)
            continue
        try:
            out.append(InhibitRule.from_config(raw))
        except (InhibitRuleError, MatcherError) as err:
            reading.add(loc, str(err), _INHIBIT_HINT)
    return out


_INHIBIT_HINT = (
    "write source_matchers and target_matchers as lists of matchers "
    "('rule=\"probe_down\"'), equal as a list of label names"
)
