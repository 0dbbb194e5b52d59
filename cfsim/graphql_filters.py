"""Dataset filters of the GraphQL Analytics API: checked once, then applied to records.

A filter is an object whose keys are a dimension (equality) or a dimension with an operator
suffix (``datetime_geq``, ``scriptName_in``…), plus ``AND``/``OR`` lists of filters. Time
dimensions compare on their truncated value (``datetimeHour_geq`` compares hours), so a
filter reads the same whether it names ``datetime`` or ``date``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cfsim.graphql_datasets import DatasetSpec
from cfsim.graphql_model import TIME_DIMENSIONS, DimValue, Record, parse_time, truncate

OPERATORS = ("geq", "gt", "leq", "lt", "neq", "in", "notin", "like", "notlike")


class QueryError(Exception):
    """A query Cloudflare would refuse: message, GraphQL path and HTTP status."""

    def __init__(self, message: str, path: Sequence[str] | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.path = list(path) if path is not None else None
        self.status = status


@dataclass(frozen=True)
class Condition:
    """``field <op> value`` with the value already coerced to the field's type."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Junction:
    """All (``AND``) or any (``OR``) of several filters."""

    all_of: bool
    parts: tuple[Condition | Junction, ...]


Filter = Condition | Junction
MATCH_ALL = Junction(all_of=True, parts=())


def compile_filter(spec: DatasetSpec, raw: object, path: Sequence[str]) -> Filter:
    """Check a filter argument against the dataset's fields and coerce its values."""
    if raw is None:
        return MATCH_ALL
    if not isinstance(raw, Mapping):
        raise QueryError(f"error parsing args: filter must be an object, got {raw!r}", path)
    parts: list[Filter] = []
    for key, value in raw.items():
        if key in {"AND", "OR"}:
            items = value if isinstance(value, list) else [value]
            parts.append(
                Junction(
                    all_of=key == "AND",
                    parts=tuple(compile_filter(spec, item, path) for item in items),
                )
            )
            continue
        name, op = _split(spec, key, path)
        parts.append(Condition(name, op, _coerce(spec, name, op, value, key, path)))
    return Junction(all_of=True, parts=tuple(parts))


def _split(spec: DatasetSpec, key: str, path: Sequence[str]) -> tuple[str, str]:
    if _known(spec, key):
        return key, "eq"
    name, _, op = key.rpartition("_")
    if name and op in OPERATORS and _known(spec, name):
        return name, op
    raise QueryError(f'unknown field "{key}" in filter of {spec.name}', path)


def _known(spec: DatasetSpec, name: str) -> bool:
    return name in spec.dimensions or name in TIME_DIMENSIONS


def _coerce(
    spec: DatasetSpec, name: str, op: str, value: object, key: str, path: Sequence[str]
) -> Any:
    if op in {"in", "notin"}:
        if not isinstance(value, list):
            raise QueryError(f'error parsing args: "{key}" must be a list', path)
        return tuple(_scalar(spec, name, item, key, path) for item in value)
    if op in {"like", "notlike"}:
        if not isinstance(value, str):
            raise QueryError(f'error parsing args: "{key}" must be a string', path)
        return re.compile(
            "^" + ".*".join(re.escape(part) for part in value.split("%")) + "$", re.DOTALL
        )
    return _scalar(spec, name, value, key, path)


def _scalar(spec: DatasetSpec, name: str, value: object, key: str, path: Sequence[str]) -> Any:
    if name in TIME_DIMENSIONS:
        try:
            return truncate(parse_time(value), TIME_DIMENSIONS[name])
        except ValueError as err:
            raise QueryError(f'error parsing args: "{key}": {err}', path) from err
    if spec.dimensions[name] == "int":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise QueryError(f'error parsing args: "{key}" must be an integer', path)
        try:
            return int(value)
        except ValueError as err:
            raise QueryError(f'error parsing args: "{key}" must be an integer', path) from err
    if not isinstance(value, str):
        raise QueryError(f'error parsing args: "{key}" must be a string', path)
    return value


def field_value(record: Record, name: str) -> DimValue | float:
    """A record's value for a filterable field (time fields as truncated epoch seconds)."""
    width = TIME_DIMENSIONS.get(name)
    if width is not None:
        return truncate(record.ts, width)
    return record.dims.get(name, "")


def matches(flt: Filter, record: Record) -> bool:
    """Whether ``record`` passes ``flt``."""
    if isinstance(flt, Junction):
        checks = (matches(part, record) for part in flt.parts)
        return all(checks) if flt.all_of else any(checks)
    actual = field_value(record, flt.field)
    op, want = flt.op, flt.value
    if op == "eq":
        return bool(actual == want)
    if op == "neq":
        return bool(actual != want)
    if op == "in":
        return actual in want
    if op == "notin":
        return actual not in want
    if op in {"like", "notlike"}:
        hit = want.match(str(actual)) is not None
        return hit if op == "like" else not hit
    try:
        if op == "geq":
            return bool(actual >= want)
        if op == "gt":
            return bool(actual > want)
        if op == "leq":
            return bool(actual <= want)
        return bool(actual < want)
    except TypeError:
        return False


def time_bounds(flt: Filter) -> tuple[float | None, float | None]:
    """The ``[start, end)`` of event time every matching record must fall in.

    Only conditions that must all hold (the top level and ``AND`` lists) narrow the
    window; an ``OR`` could widen it, so it is left to per-record matching.
    """
    lo: float | None = None
    hi: float | None = None
    for cond in _required(flt):
        width = TIME_DIMENSIONS.get(cond.field)
        if width is None or not isinstance(cond.value, float):
            continue
        start, end = {
            "geq": (cond.value, None),
            "gt": (cond.value + width, None),
            "leq": (None, cond.value + width),
            "lt": (None, cond.value),
            "eq": (cond.value, cond.value + width),
        }.get(cond.op, (None, None))
        if start is not None:
            lo = start if lo is None else max(lo, start)
        if end is not None:
            hi = end if hi is None else min(hi, end)
    return lo, hi


def window_only(flt: Filter) -> bool:
    """Whether ``flt`` says nothing but the window :func:`time_bounds` returns.

    Time values are truncated to their field's width when compiled, so a record whose time
    lies in that window passes every such condition: matching it again would change nothing.
    """
    required = _required(flt)
    return len(required) == len(_conditions(flt)) and all(
        c.field in TIME_DIMENSIONS and c.op in _BOUND_OPS and isinstance(c.value, float)
        for c in required
    )


def _required(flt: Filter) -> list[Condition]:
    if isinstance(flt, Condition):
        return [flt]
    if not flt.all_of and len(flt.parts) != 1:
        return []
    return [cond for part in flt.parts for cond in _required(part)]


_BOUND_OPS = frozenset({"geq", "gt", "leq", "lt", "eq"})


def unbounded_time_fields(flt: Filter) -> set[str]:
    """Time fields compared in ways :func:`time_bounds` cannot turn into the window.

    Rows must then be cut at least as fine as those fields for the comparison to hold.
    """
    required = {id(c) for c in _required(flt)}
    return {
        c.field
        for c in _conditions(flt)
        if c.field in TIME_DIMENSIONS and (id(c) not in required or c.op not in _BOUND_OPS)
    }


def _conditions(flt: Filter) -> list[Condition]:
    if isinstance(flt, Condition):
        return [flt]
    return [cond for part in flt.parts for cond in _conditions(part)]
