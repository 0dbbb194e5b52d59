"""Routes: which receivers hear about an alert, and how its notifications are grouped.

A route tree as in Alertmanager: a route has label ``matchers``, ``receivers`` (notifier
names), ``group_by``, the timers ``group_wait``, ``group_interval`` and ``repeat_interval``,
``continue`` and child ``routes``. A child inherits every setting it leaves out from its parent;
the root must match everything and name its receivers, and its unset timers take
Alertmanager's defaults (30 s, 5 m, 4 h). :func:`match` walks the tree with Alertmanager's
rule: the deepest matching routes win, and among siblings the first match stops the search
unless it says ``continue``.

:func:`load_routes` validates a tree as parsed from YAML and reports every problem at once with
its key path (``route.routes[1].receivers[0]``). The grouping state machine that uses the
matches is :mod:`alerting.grouping`; docs/alerts.md ("Routing and grouping") is the user guide.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from alerting.matchers import Matcher, is_label_name, matches_all
from alerting.rules import Duration, SelectorMatcher

GROUP_BY_ALL = "..."
"""``group_by: ["..."]``: group by every label, so each alert is its own group."""

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0

_CONTEXT_KEY = "known_notifiers"


def _close(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _known_receiver(name: str, info: ValidationInfo) -> str:
    """A receiver must be a notifier the daemon knows (when the loader says which)."""
    if not name.strip():
        raise ValueError("a receiver name cannot be empty")
    known = (info.context or {}).get(_CONTEXT_KEY)
    if known is not None and name not in known:
        listed = ", ".join(sorted(known)) or "none are configured"
        raise ValueError(f"unknown notifier {name!r}{_close(name, known)} (notifiers: {listed})")
    return name


ReceiverName = Annotated[str, AfterValidator(_known_receiver)]
"""A notifier name, checked against the known notifiers passed to :func:`load_routes`."""


def _group_by_label(name: str) -> str:
    if name != GROUP_BY_ALL and not is_label_name(name):
        raise ValueError(
            f"{name!r} is not a label name (letters, digits and '_', not starting with a digit),"
            f" nor {GROUP_BY_ALL!r} for every label"
        )
    return name


GroupByLabel = Annotated[str, AfterValidator(_group_by_label)]


class RouteConfig(BaseModel):
    """One route as written in config; ``None`` means "inherit from the parent route".

    The YAML key ``continue`` is the attribute ``continue_``, so build routes from mappings:
    ``RouteConfig.model_validate({...})``. Durations are text (``"5m"``) held as seconds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    matchers: tuple[SelectorMatcher, ...] = ()
    """Label matchers (Alertmanager syntax), all of which must hold; ``rule`` and
    ``severity`` can be matched like labels. None: the route matches every alert."""
    receivers: tuple[ReceiverName, ...] | None = None
    """Notifier names that get this route's notifications."""
    group_by: tuple[GroupByLabel, ...] | None = None
    """Label names whose values split alerts into groups; ``[]`` puts every alert of the
    route in one group, ``["..."]`` makes each alert its own group."""
    group_wait: Duration | None = None
    """How long a new group collects alerts before its first notification."""
    group_interval: Duration | None = None
    """How often, at most, a group that has notified sends its changes."""
    repeat_interval: Duration | None = None
    """How long after its last notification an unchanged firing group is sent again."""
    continue_: bool = Field(default=False, alias="continue")
    """Whether sibling routes after this one are still tried when it matches."""
    routes: tuple[RouteConfig, ...] = ()
    """Child routes, tried in order."""

    @field_validator("receivers")
    @classmethod
    def _receivers_listed(cls, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if names is None:
            return None
        if not names:
            raise ValueError(
                "a route needs at least one receiver: leave 'receivers' out to inherit them"
            )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"receiver(s) listed twice: {', '.join(duplicates)}")
        return names

    @field_validator("group_by")
    @classmethod
    def _group_by_coherent(cls, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if names is None:
            return None
        if GROUP_BY_ALL in names and len(names) > 1:
            raise ValueError(f"{GROUP_BY_ALL!r} already means every label: write it alone")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"label(s) listed twice: {', '.join(duplicates)}")
        return names

    @field_validator("group_interval", "repeat_interval")
    @classmethod
    def _positive(cls, seconds: float | None) -> float | None:
        if seconds is not None and seconds <= 0:
            raise ValueError("must be longer than zero")
        return seconds


class RootRouteConfig(RouteConfig):
    """The root of the tree: it matches every alert, names receivers and never continues."""

    receivers: tuple[ReceiverName, ...]
    """Required at the root: every alert needs somewhere to go."""

    @field_validator("matchers")
    @classmethod
    def _no_matchers(cls, matchers: tuple[Matcher, ...]) -> tuple[Matcher, ...]:
        if matchers:
            raise ValueError(
                "the root route matches every alert: move these matchers to a child route"
            )
        return matchers

    @field_validator("continue_")
    @classmethod
    def _no_continue(cls, value: bool) -> bool:
        if value:
            raise ValueError("the root route has no siblings to continue to")
        return value


@dataclass(frozen=True)
class Route:
    """One route of a loaded tree, with every inherited setting filled in.

    ``id`` is Alertmanager's route key: the parent's id, ``/`` and this route's matchers in
    braces (``{}/{severity="critical"}``); a route whose siblings before it have the same
    matchers gets ``#`` and its index appended. Ids survive reordering routes, so groups
    survive a config reload that only reorders. ``group_by`` holds label names, or
    ``("...",)`` for every label. Times are seconds.
    """

    id: str
    matchers: tuple[Matcher, ...]
    receivers: tuple[str, ...]
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    continue_: bool
    routes: tuple[Route, ...]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that name an alert's group in this route: the ``group_by`` labels the
        alert has (or all of them for ``...``)."""
        if self.group_by == (GROUP_BY_ALL,):
            return dict(labels)
        return {name: labels[name] for name in self.group_by if name in labels}


@dataclass(frozen=True)
class RouteTree:
    """A loaded route tree: its root and every route by id."""

    root: Route

    def __iter__(self) -> Iterator[Route]:
        """Every route, parents before children, siblings in order."""
        pending = [self.root]
        while pending:
            route = pending.pop()
            yield route
            pending.extend(reversed(route.routes))

    def route(self, route_id: str) -> Route | None:
        """The route with this id, if the tree has it."""
        return next((r for r in self if r.id == route_id), None)


@dataclass(frozen=True)
class RouteMatch:
    """A route an alert goes to, and the group it joins there.

    ``group_key`` is Alertmanager's: the route id, ``:`` and the group labels in braces
    (``{}/{severity="critical"}:{zone="example.com"}``); it is stable across restarts and
    names the group in :mod:`alerting.grouping`.
    """

    route: Route
    group_labels: Mapping[str, str]

    @property
    def group_key(self) -> str:
        """The group this match puts the alert in."""
        return group_key(self.route.id, self.group_labels)


def group_key(route_id: str, group_labels: Mapping[str, str]) -> str:
    """Alertmanager's group key: ``<route id>:{name="value", ...}`` with names sorted."""
    pairs = (f'{name}="{_escape(group_labels[name])}"' for name in sorted(group_labels))
    return f"{route_id}:{{{', '.join(pairs)}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def match(tree: RouteTree, labels: Mapping[str, str]) -> list[RouteMatch]:
    """The routes an alert with these labels goes to, in tree order (Alertmanager's rule).

    Pass :attr:`alerting.lifecycle.Alert.match_labels`, so ``rule`` and ``severity`` can be
    matched. A route matches when all its matchers hold; its children are tried in order and
    the first that matches stops the search unless it has ``continue``; a matching route whose
    children all miss is itself the match. The root matches everything, so the result is
    never empty.
    """
    routes = _match(tree.root, labels)
    return [RouteMatch(route=r, group_labels=r.group_labels(labels)) for r in routes]


def _match(route: Route, labels: Mapping[str, str]) -> list[Route]:
    if not matches_all(route.matchers, labels):
        return []
    found: list[Route] = []
    for child in route.routes:
        matched = _match(child, labels)
        found += matched
        if matched and not child.continue_:
            break
    return found or [route]


@dataclass(frozen=True)
class RouteProblem:
    """One fault in the route tree: where (``source``, key ``path``) and what."""

    path: str
    message: str
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.path}: {self.message}"


class RouteError(ValueError):
    """The route tree does not load; ``problems`` holds every fault found."""

    def __init__(self, problems: Sequence[RouteProblem]) -> None:
        self.problems: tuple[RouteProblem, ...] = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the routes:\n{lines}")


def load_routes(
    raw: object,
    *,
    known_notifiers: Collection[str],
    source: str = "",
    path: str = "route",
) -> RouteTree:
    """Validate a route tree as parsed from YAML and fill in what routes inherit.

    ``known_notifiers`` are the notifier names the daemon has configured; a receiver naming
    another is an error with a suggestion. Raises :class:`RouteError` with every problem,
    each with its key path under ``path`` and its ``source`` (a file name).
    """
    try:
        config = RootRouteConfig.model_validate(
            raw, context={_CONTEXT_KEY: frozenset(known_notifiers)}
        )
    except ValidationError as err:
        raise RouteError([_problem(e, path, source) for e in err.errors()]) from None
    return RouteTree(root=_resolve(config, None, ROOT_ID))


def _resolve(config: RouteConfig, parent: Route | None, route_id: str) -> Route:
    """The route with its parent's settings filled in where it has none (root: defaults)."""
    base = parent or _DEFAULTS
    shell = Route(
        id=route_id,
        matchers=config.matchers,
        receivers=base.receivers if config.receivers is None else config.receivers,
        group_by=base.group_by if config.group_by is None else config.group_by,
        group_wait=base.group_wait if config.group_wait is None else config.group_wait,
        group_interval=(
            base.group_interval if config.group_interval is None else config.group_interval
        ),
        repeat_interval=(
            base.repeat_interval if config.repeat_interval is None else config.repeat_interval
        ),
        continue_=config.continue_,
        routes=(),
    )
    children: list[Route] = []
    seen: dict[str, int] = {}
    for index, child in enumerate(config.routes):
        key = f"{route_id}/{_braced(child.matchers)}"
        child_id = key if key not in seen else f"{key}#{index}"
        seen.setdefault(key, index)
        children.append(_resolve(child, shell, child_id))
    return replace(shell, routes=tuple(children))


# What the root inherits: Alertmanager's defaults (the root always names its receivers).
_DEFAULTS = Route(
    id="",
    matchers=(),
    receivers=(),
    group_by=(),
    group_wait=DEFAULT_GROUP_WAIT,
    group_interval=DEFAULT_GROUP_INTERVAL,
    repeat_interval=DEFAULT_REPEAT_INTERVAL,
    continue_=False,
    routes=(),
)

ROOT_ID = "{}"
"""The root route's id (the braced, empty matcher list)."""

SILENT_ROUTES = RouteTree(root=replace(_DEFAULTS, id=ROOT_ID))
"""The route tree of a config without notifiers: alerts are tracked and listed, never sent."""


def _braced(matchers: Iterable[Matcher]) -> str:
    return "{" + ", ".join(str(m) for m in matchers) + "}"


_ROUTE_KEYS = tuple(f.alias or name for name, f in RouteConfig.model_fields.items())


def _problem(error: Any, path: str, source: str) -> RouteProblem:
    """A pydantic error as a problem with a YAML key path (``routes[0].receivers[1]``)."""
    loc = tuple(error["loc"])
    # Pydantic names the field by its alias in 'loc' except for the Python-only name.
    loc = tuple("continue" if part == "continue_" else part for part in loc)
    where = path + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    kind = error["type"]
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        message = f"unknown key{_close(key, _ROUTE_KEYS)} (keys: {', '.join(_ROUTE_KEYS)})"
    elif kind == "missing":
        message = "required"
    elif kind == "model_type" and not loc:
        message = "a route is a mapping of keys (receivers, matchers, group_by, routes, …)"
    return RouteProblem(path=where, message=message, source=source)
