"""GraphQL Analytics queries answered from a snapshot of the simulated account's traffic.

Pure: :func:`run_query` takes the request body and an :class:`AnalyticsSnapshot` (samples,
background traffic, storage readings, zone sources, ``now``) and returns the HTTP status and
the ``{data, errors}`` body Cloudflare would send. graphql-core parses the document; the walk
over it follows Cloudflare's shape::

    viewer { accounts(filter: {accountTag: $a}) { <dataset>(limit:, filter:, orderBy:) {
      dimensions {...} sum {...} avg {...} max {...} quantiles {...} count } } }

and ``viewer { zones(filter: {zoneTag: $z}) { ... } }`` for the zone-scoped datasets.
Errors follow developers.cloudflare.com/analytics/graphql-api/errors: ``data: null``, each
error with ``message``, ``path`` and ``extensions.timestamp``; HTTP 400 for parse errors,
unknown fields and dataset limits, 403 for accounts or zones the token cannot see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLSyntaxError, parse
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    ListValueNode,
    NonNullTypeNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    print_ast,
)
from graphql.utilities import value_from_ast_untyped

from cfsim.analytics import BackgroundTraffic, Sample, SampleIndex
from cfsim.graphql_datasets import (
    DATASETS,
    SAMPLE_BUILDERS,
    DatasetSpec,
    Measure,
    Quantile,
    StorageReading,
    background_records,
    storage_record,
)
from cfsim.graphql_filters import (
    Filter,
    QueryError,
    compile_filter,
    matches,
    time_bounds,
    unbounded_time_fields,
    window_only,
)
from cfsim.graphql_model import (
    MIN_SLICE_S,
    RETENTION_S,
    TIME_DIMENSIONS,
    DimValue,
    Group,
    Record,
    time_dimension,
)

MAX_LIMIT = 10_000
MAX_ZONES = 10
MAX_ACCOUNTS = 1

# Zone-scoped rows are synthesised for a window by whoever knows the zone's resources:
# (zone_id, start, end, slice width or None) -> records.
ZoneSource = Callable[[str, float, float, int | None], list[Record]]


@dataclass(frozen=True)
class AnalyticsSnapshot:
    """Everything a query may read, captured at one instant.

    ``zone_sources`` maps a zone-scoped dataset to a function ``(zone_id, start, end,
    width)`` returning that zone's records in the window, cut in ``width``-second slices.
    The served operations are ``index`` (pre-bucketed per minute: a query reads only the
    minutes in its range) when given, else ``samples``.
    """

    now: float
    account_id: str
    zone_ids: frozenset[str]
    samples: Sequence[Sample] = ()
    index: SampleIndex | None = None
    background: Sequence[BackgroundTraffic] = ()
    storage: Mapping[str, Sequence[StorageReading]] = field(default_factory=dict)
    zone_sources: Mapping[str, ZoneSource] = field(default_factory=dict)


@dataclass
class _Context:
    snapshot: AnalyticsSnapshot
    variables: dict[str, Any]
    fragments: dict[str, FragmentDefinitionNode]
    accounts: set[str] = field(default_factory=set)


def error_body(snapshot_now: float, errors: Iterable[QueryError]) -> dict[str, Any]:
    """Cloudflare's GraphQL failure body: ``data`` null and every error with its timestamp."""
    stamp = datetime.fromtimestamp(snapshot_now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "data": None,
        "errors": [
            {"message": e.message, "path": e.path, "extensions": {"timestamp": stamp}}
            for e in errors
        ],
    }


def run_query(snapshot: AnalyticsSnapshot, body: object) -> tuple[int, dict[str, Any]]:
    """Answer one GraphQL request body; returns ``(http_status, response_body)``."""
    try:
        query, variables, operation_name = _request_parts(body)
        try:
            document = parse(query)
        except GraphQLSyntaxError as err:
            raise QueryError(f"error parsing query: {err.message}") from err
        operation = _operation(document, operation_name)
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        ctx = _Context(snapshot, _variables(operation, variables), fragments)
        data = _resolve_root(ctx, operation.selection_set)
    except QueryError as err:
        return err.status, error_body(snapshot.now, [err])
    return 200, {"data": data, "errors": None}


def _request_parts(body: object) -> tuple[str, dict[str, Any], str | None]:
    if not isinstance(body, Mapping):
        raise QueryError("error parsing request: the body must be a JSON object")
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise QueryError("error parsing request: query is required")
    variables = body.get("variables") or {}
    if not isinstance(variables, Mapping):
        raise QueryError("error parsing request: variables must be an object")
    name = body.get("operationName") or None
    if name is not None and not isinstance(name, str):
        raise QueryError("error parsing request: operationName must be a string")
    return query, dict(variables), name


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        operations = [op for op in operations if op.name is not None and op.name.value == name]
        if not operations:
            raise QueryError(f'Unknown operation named "{name}".')
    if len(operations) != 1:
        raise QueryError(
            "Must provide operation name if query contains multiple operations."
            if operations
            else "query contains error, please review it and retry"
        )
    operation = operations[0]
    if operation.operation is not OperationType.QUERY:
        raise QueryError(f"{operation.operation.value} operations are not supported")
    return operation


def _variables(operation: OperationDefinitionNode, given: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name in given:
            values[name] = given[name]
        elif definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
        elif isinstance(definition.type, NonNullTypeNode):
            raise QueryError(
                f'Variable "${name}" of required type "{print_ast(definition.type)}" '
                "was not provided."
            )
    return values


def _value(ctx: _Context, node: ValueNode, path: Sequence[str]) -> Any:
    """An argument's value with variables substituted; unknown variables are errors."""
    if isinstance(node, VariableNode):
        name = node.name.value
        if name not in ctx.variables:
            raise QueryError(f'Variable "${name}" is not defined.', path)
        return ctx.variables[name]
    if isinstance(node, ListValueNode):
        return [_value(ctx, item, path) for item in node.values]
    if isinstance(node, ObjectValueNode):
        return {f.name.value: _value(ctx, f.value, path) for f in node.fields}
    return value_from_ast_untyped(node)


def _arguments(
    ctx: _Context, node: FieldNode, allowed: set[str], path: list[str]
) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for arg in node.arguments or ():
        name = arg.name.value
        if name not in allowed:
            raise QueryError(f'unknown argument "{name}" on field "{node.name.value}"', path)
        args[name] = _value(ctx, arg.value, path)
    return args


def _fields(ctx: _Context, selection_set: SelectionSetNode | None) -> list[FieldNode]:
    """The fields of a selection set, fragments expanded and ``@skip``/``@include`` applied."""
    result: list[FieldNode] = []
    for selection in selection_set.selections if selection_set else ():
        if not _included(ctx, selection.directives or ()):
            continue
        if isinstance(selection, FieldNode):
            result.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            result.extend(_fields(ctx, selection.selection_set))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = ctx.fragments.get(selection.name.value)
            if fragment is None:
                raise QueryError(f'Unknown fragment "{selection.name.value}".')
            result.extend(_fields(ctx, fragment.selection_set))
    return result


def _included(ctx: _Context, directives: Iterable[Any]) -> bool:
    for directive in directives:
        name = directive.name.value
        if name not in {"skip", "include"}:
            continue
        flag = next(
            (_value(ctx, a.value, []) for a in directive.arguments if a.name.value == "if"), False
        )
        if (name == "skip") == bool(flag):
            return False
    return True


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _object(node: FieldNode, path: list[str]) -> None:
    if node.selection_set is None:
        raise QueryError("object field must have selections", path)


def _scalar(node: FieldNode, path: list[str]) -> None:
    if node.selection_set is not None:
        raise QueryError("scalar fields must have no selections", path)


def _resolve_root(ctx: _Context, selection_set: SelectionSetNode) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for node in _fields(ctx, selection_set):
        key, name = _key(node), node.name.value
        if name == "__typename":
            data[key] = "Query"
        elif name == "viewer":
            _object(node, [key])
            data[key] = _resolve_viewer(ctx, node, [key])
        else:
            raise QueryError(f'unknown field "{name}"', [key])
    return data


def _resolve_viewer(ctx: _Context, viewer: FieldNode, path: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for node in _fields(ctx, viewer.selection_set):
        key, name = _key(node), node.name.value
        where = [*path, key]
        if name == "__typename":
            result[key] = "viewer"
        elif name == "accounts":
            _object(node, where)
            tags = _scope_tags(ctx, node, "accountTag", [ctx.snapshot.account_id], where)
            ctx.accounts.update(tags)
            if len(ctx.accounts) > MAX_ACCOUNTS:
                raise QueryError(
                    f"an account-scoped query can include only {MAX_ACCOUNTS} account", where
                )
            if tags != [ctx.snapshot.account_id]:
                raise QueryError("not authorized for that account", where, status=403)
            result[key] = [_resolve_scope(ctx, node, "account", tags[0], [*where, "0"])]
        elif name == "zones":
            _object(node, where)
            tags = _scope_tags(ctx, node, "zoneTag", sorted(ctx.snapshot.zone_ids), where)
            if len(tags) > MAX_ZONES:
                raise QueryError(f"a zone-scoped query can include up to {MAX_ZONES} zones", where)
            unknown = [t for t in tags if t not in ctx.snapshot.zone_ids]
            if unknown:
                raise QueryError(
                    f"zones [{' '.join(unknown)}] are not authorized", where, status=403
                )
            result[key] = [
                _resolve_scope(ctx, node, "zone", tag, [*where, str(i)])
                for i, tag in enumerate(tags)
            ]
        else:
            raise QueryError(f'unknown field "{name}"', where)
    return result


def _scope_tags(
    ctx: _Context, node: FieldNode, tag: str, known: Sequence[str], path: list[str]
) -> list[str]:
    """The accounts or zones a scope names (docs ``graphql-api/features/filtering``).

    One of ``{tag: t}``, ``{tag_in: [t, ...]}`` or ``{tag_gt: t}`` (the known ones after
    ``t``, in order, to walk them with ``limit``); compound filters are not supported. A
    zone scope without a filter means every zone of the account, up to the zone limit.
    """
    args = _arguments(ctx, node, {"filter", "limit"}, path)
    flt = args.get("filter")
    cap = args.get("limit")
    if flt is None and tag == "zoneTag":
        flt = {f"{tag}_gt": ""}
    if not isinstance(flt, Mapping) or len(flt) != 1:
        raise QueryError(
            f"error parsing args: the filter must be one of {tag}, {tag}_in or {tag}_gt", path
        )
    ((key, value),) = flt.items()
    if key == tag:
        tags = [value]
    elif key == f"{tag}_in":
        tags = value if isinstance(value, list) else [value]
    elif key == f"{tag}_gt":
        limit = cap if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0 else None
        tags = [t for t in sorted(known) if isinstance(value, str) and t > value]
        tags = tags[: min(limit or MAX_ZONES, MAX_ZONES)]
    else:
        raise QueryError(f'unknown field "{key}" in filter', path)
    if not all(isinstance(t, str) for t in tags):
        raise QueryError(f"error parsing args: {tag} must be a string", path)
    return list(dict.fromkeys(tags))


def _resolve_scope(
    ctx: _Context, scope_node: FieldNode, scope: str, tag: str, path: list[str]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    tag_field = "accountTag" if scope == "account" else "zoneTag"
    for node in _fields(ctx, scope_node.selection_set):
        key, name = _key(node), node.name.value
        where = [*path, key]
        spec = DATASETS.get(name)
        if name == "__typename":
            result[key] = scope
        elif name == tag_field:
            _scalar(node, where)
            result[key] = tag
        elif spec is not None and spec.scope == scope:
            _object(node, where)
            result[key] = _resolve_dataset(ctx, spec, node, tag, where)
        else:
            raise QueryError(f'unknown field "{name}"', where)
    return result


@dataclass(frozen=True)
class _Order:
    kind: str  # "dim", "count" or a block name
    name: str
    descending: bool


def _orders(spec: DatasetSpec, raw: object, path: list[str]) -> list[_Order]:
    items = raw if isinstance(raw, list) else [] if raw is None else [raw]
    orders: list[_Order] = []
    for item in items:
        text = str(item)
        target, _, direction = text.rpartition("_")
        if direction not in {"ASC", "DESC"} or not target:
            raise QueryError(f'error parsing args: unknown orderBy value "{text}"', path)
        descending = direction == "DESC"
        if target in spec.dimensions or target in TIME_DIMENSIONS:
            orders.append(_Order("dim", target, descending))
            continue
        if target == "count" and spec.has_count:
            orders.append(_Order("count", "count", descending))
            continue
        block, _, name = target.partition("_")
        if name in spec.blocks().get(block, {}):
            orders.append(_Order(block, name, descending))
            continue
        raise QueryError(f'error parsing args: unknown orderBy value "{text}"', path)
    return orders


def _limit(raw: object, path: list[str]) -> int:
    # [I] every documented example passes ``limit``; it is treated as required.
    if raw is None:
        raise QueryError("error parsing args: limit is required", path)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise QueryError(f"error parsing args: limit must be an integer, got {raw!r}", path)
    if not 0 < raw <= MAX_LIMIT:
        raise QueryError(f"limit must be positive number and not greater than {MAX_LIMIT}", path)
    return raw


def _resolve_dataset(
    ctx: _Context, spec: DatasetSpec, node: FieldNode, tag: str, path: list[str]
) -> list[dict[str, Any]]:
    args = _arguments(ctx, node, {"limit", "filter", "orderBy"}, path)
    limit = _limit(args.get("limit"), path)
    flt = compile_filter(spec, args.get("filter"), path)
    orders = _orders(spec, args.get("orderBy"), path)
    selection = _selection(ctx, spec, node, path)
    now = ctx.snapshot.now
    lo, hi = time_bounds(flt)
    if lo is not None and lo < now - RETENTION_S:
        raise QueryError(f"cannot request data older than {RETENTION_S}s", path)
    start = lo if lo is not None else now - RETENTION_S
    group_dims = list(dict.fromkeys([*selection.dimension_names(), *_order_dims(orders)]))
    width = _slice_width(group_dims, flt)
    quantiles = [*selection.quantile_names(), *(o.name for o in orders if o.kind == "quantiles")]
    wanted = frozenset(spec.quantiles[name].source for name in quantiles)
    in_window = [
        r
        for r in _records(ctx.snapshot, spec, tag, start, hi, width, wanted)
        if start <= r.ts and (hi is None or r.ts < hi)
    ]
    records = in_window if window_only(flt) else [r for r in in_window if matches(flt, r)]
    groups = _group(records, group_dims)
    _sort(groups, orders, spec)
    return [selection.render(g) for g in groups[:limit]]


def _slice_width(group_dims: Sequence[str], flt: Filter) -> int | None:
    """How finely synthetic traffic must be cut: the finest time field grouped or compared."""
    names = [d for d in group_dims if d in TIME_DIMENSIONS] + sorted(unbounded_time_fields(flt))
    if not names:
        return None
    return max(MIN_SLICE_S, min(TIME_DIMENSIONS[n] for n in names))


def _order_dims(orders: Sequence[_Order]) -> list[str]:
    return [o.name for o in orders if o.kind == "dim"]


def _records(
    snapshot: AnalyticsSnapshot,
    spec: DatasetSpec,
    tag: str,
    start: float,
    hi: float | None,
    width: int | None,
    wanted: frozenset[str],
) -> list[Record]:
    end = min(hi, snapshot.now) if hi is not None else snapshot.now
    if spec.scope == "zone":
        source = snapshot.zone_sources.get(spec.name)
        return source(tag, start, end, width) if source is not None else []
    if spec.storage:
        # Storage datasets report current usage, read once at the end of the window.
        at = end - 1 if hi is not None and hi <= snapshot.now else snapshot.now
        if at < start:
            return []
        return [storage_record(at, spec, r) for r in snapshot.storage.get(spec.name, ())]
    build = SAMPLE_BUILDERS[spec.name]
    if snapshot.index is not None:
        served: Iterable[Sample] = snapshot.index.between((spec.kind,), start, hi)
    else:
        served = (
            s
            for s in snapshot.samples
            if s.kind == spec.kind and start <= s.ts and (hi is None or s.ts < hi)
        )
    records = [rec for s in served for rec in build(s, wanted)]
    for traffic in snapshot.background:
        if traffic.kind == spec.kind:
            records.extend(background_records(spec.name, traffic, start, end, width))
    return records


def _group(records: Iterable[Record], dims: Sequence[str]) -> list[Group]:
    groups: dict[tuple[DimValue, ...], Group] = {}
    # Time dimensions render the same text for every record of a slice: format each once.
    times: dict[tuple[str, float], str] = {}
    for record in records:
        values: list[DimValue] = []
        for d in dims:
            if d in TIME_DIMENSIONS:
                text = times.get((d, record.ts))
                if text is None:
                    text = times[d, record.ts] = time_dimension(d, record.ts)
                values.append(text)
            else:
                values.append(record.dims.get(d, ""))
        key = tuple(values)
        group = groups.get(key)
        if group is None:
            groups[key] = Group.of(key, dict(zip(dims, key, strict=True)), record)
        else:
            group.add(record)
    return list(groups.values())


def _sort_key(value: object) -> tuple[int, Any]:
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


def _sort(groups: list[Group], orders: Sequence[_Order], spec: DatasetSpec) -> None:
    """Sort by the default order (dimensions ascending), then by ``orderBy``, last key first."""
    groups.sort(key=lambda g: tuple(_sort_key(v) for v in g.key))
    for order in reversed(orders):

        def by_order(group: Group, order: _Order = order) -> tuple[int, Any]:
            return _sort_key(_order_value(spec, group, order))

        groups.sort(key=by_order, reverse=order.descending)


def _order_value(spec: DatasetSpec, group: Group, order: _Order) -> object:
    if order.kind == "dim":
        return group.dims[order.name]
    if order.kind == "count":
        return group.count
    return metric(spec, group, order.kind, order.name)


def metric(spec: DatasetSpec, group: Group, block: str, name: str) -> float:
    """The value of ``block { name }`` (``sum``, ``avg``, ``max``, ``quantiles``) for a group."""
    if block == "quantiles":
        quant = spec.quantiles[name]
        return group.quantile(quant.source, quant.q)
    measure = spec.blocks()[block][name]
    assert isinstance(measure, Measure)
    if block == "sum":
        return group.sums.get(measure.source, 0.0)
    if block == "max":
        return group.maxes.get(measure.source, 0.0)
    # avg: a summed measure over the events; sampleInterval is 1 (nothing is sampled here).
    return group.avg(measure.source) if measure.source else 1.0


def _integer(spec: DatasetSpec, block: str, name: str) -> bool:
    field_spec = spec.blocks()[block][name]
    assert isinstance(field_spec, Measure | Quantile)
    return field_spec.integer


@dataclass
class _Selection:
    """What a dataset field asks for, in the order asked, keyed by response name."""

    spec: DatasetSpec
    parts: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)

    def quantile_names(self) -> list[str]:
        return [name for _, kind, fields in self.parts if kind == "quantiles" for _, name in fields]

    def dimension_names(self) -> list[str]:
        return [
            name for key, kind, fields in self.parts if kind == "dimensions" for _, name in fields
        ]

    def render(self, group: Group) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for key, kind, fields in self.parts:
            if kind == "count":
                row[key] = round(group.count)
            elif kind == "__typename":
                row[key] = self.spec.name
            elif kind == "dimensions":
                row.setdefault(key, {}).update({alias: group.dims[name] for alias, name in fields})
            else:
                row.setdefault(key, {}).update(
                    {
                        alias: _number(
                            metric(self.spec, group, kind, name), _integer(self.spec, kind, name)
                        )
                        for alias, name in fields
                    }
                )
        return row


def _number(value: float, integer: bool) -> int | float:
    return round(value) if integer else round(value, 6)


def _selection(ctx: _Context, spec: DatasetSpec, node: FieldNode, path: list[str]) -> _Selection:
    selection = _Selection(spec)
    for child in _fields(ctx, node.selection_set):
        key, name = _key(child), child.name.value
        where = [*path, key]
        if name in {"count", "__typename"} and (name != "count" or spec.has_count):
            _scalar(child, where)
            selection.parts.append((key, name, []))
            continue
        if name == "dimensions":
            allowed: Mapping[str, object] = {**spec.dimensions, **TIME_DIMENSIONS}
        elif name in spec.blocks() and spec.blocks()[name]:
            allowed = spec.blocks()[name]
        else:
            raise QueryError(f'unknown field "{name}"', where)
        _object(child, where)
        fields: list[tuple[str, str]] = []
        for leaf in _fields(ctx, child.selection_set):
            leaf_key, leaf_name = _key(leaf), leaf.name.value
            if leaf_name == "__typename":
                continue
            if leaf_name not in allowed:
                raise QueryError(f'unknown field "{leaf_name}"', [*where, leaf_key])
            _scalar(leaf, [*where, leaf_key])
            fields.append((leaf_key, leaf_name))
        selection.parts.append((key, name, fields))
    return selection
