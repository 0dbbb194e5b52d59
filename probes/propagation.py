"""DNS propagation, judged: which servers give the current records, and how a change spreads.

Pure: no sockets, no clock. The DNS probe asks the servers and reads the API, then hands
what it found to :meth:`PropagationTracker.observe` with ``now``; the tracker remembers what
it needs across runs (the records the API held last time, the change in flight) and says,
as data, what to report.

How a change is judged (Req 2.8):

- *Current* means a server answers every watched record with the values the Cloudflare API
  holds (:class:`Expected`): the same set of values, or, for a proxied record whose addresses
  are Cloudflare's own, any address at all. A nameserver is also current only if its SOA
  serial is not behind the newest serial any nameserver gave.
- A *change* starts a propagation when the API's records differ from the previous run's, or
  when a server that answers disagrees with the API while nothing was in flight (a change
  seen through the nameservers' serial or answers, or through a resolver). A failure to
  answer (timeout, refused) is not a change: the probe reports it as such.
- Each run while a change propagates yields a ``dns_propagation_progress`` event; it ends with
  ``dns_propagation_complete`` when no server disagrees and every resolver is current, or
  ``dns_propagation_timeout`` when the deadline passes first. After a timeout, the same
  disagreement does not start another propagation; only a new change, or everything agreeing
  once, resets that.
- The TTL in messages is how long resolvers may keep the *old* answer: the longest TTL the
  nameservers gave for the changed records before the change. The expected completion is the
  longest remaining TTL among the stale resolvers' answers (a resolver's TTL counts down).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from probes.base import ProbeEvent

FailureKind = Literal[
    "timeout", "unreachable", "refused", "servfail", "lame", "rcode", "malformed", "unresolved"
]

SERIAL_HALF = 2**31  # RFC 1982 serial number arithmetic on 32-bit serials


@dataclass(frozen=True, slots=True, order=True)
class RecordKey:
    """A watched name and type; ``name`` absolute, lower-case, with the trailing dot."""

    name: str
    type: str

    def __str__(self) -> str:
        return f"{self.type} {self.name.removesuffix('.') or '.'}"


@dataclass(frozen=True, slots=True)
class Answer:
    """What a server answered for one name and type: canonical values and their TTL.

    Empty ``values`` is a negative answer (no such name, or no data of that type), with the
    negative-caching TTL when the server gave one. A resolver's TTL is what is left of its
    cached copy.
    """

    values: frozenset[str]
    ttl: int | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A question a server did not answer usefully, and why (``kind`` is bounded)."""

    kind: FailureKind
    detail: str


Outcome = Answer | Failure


@dataclass(frozen=True, slots=True)
class Expected:
    """What the API says a watched record should answer.

    ``qtype`` is the type to ask (``A`` for a proxied CNAME, whose answer is Cloudflare's
    addresses); ``values`` the canonical values, or ``None`` when any non-empty answer is
    right (proxied records); an empty set means the record must not exist.
    """

    qtype: str
    values: frozenset[str] | None
    ttl: int | None = None

    def matches(self, answer: Answer) -> bool:
        """Whether ``answer`` is what the API holds."""
        if self.values is None:
            return bool(answer.values)
        return answer.values == self.values

    def same_as(self, other: Expected) -> bool:
        """Whether two expectations ask the same and accept the same (TTL aside)."""
        return self.qtype == other.qtype and self.values == other.values

    def describe(self) -> str:
        """The values for a message: ``203.0.113.10``, ``any address (proxied)``, ``none``."""
        if self.values is None:
            return "any address (proxied)"
        if not self.values:
            return "none"
        return ", ".join(sorted(self.values))


def absent(qtype: str) -> Expected:
    """The expectation of a record that must not exist (deleted, or not in the API)."""
    return Expected(qtype=qtype, values=frozenset())


@dataclass(frozen=True, slots=True)
class ServerView:
    """What one nameserver or resolver answered this run.

    ``failure`` is set when the server could not be asked at all (its name did not resolve,
    or its SOA query failed); ``serial`` is the SOA serial a nameserver gave.
    """

    name: str
    answers: Mapping[RecordKey, Outcome] = field(default_factory=dict)
    serial: int | None = None
    failure: Failure | None = None


def serial_lt(a: int, b: int) -> bool:
    """``a`` is older than ``b`` in RFC 1982 serial arithmetic (32-bit, wrapping)."""
    return a != b and ((a < b and b - a < SERIAL_HALF) or (a > b and a - b > SERIAL_HALF))


def newest_serial(serials: Iterable[int]) -> int | None:
    """The serial no other serial is newer than (``None`` for none)."""
    values = sorted(set(serials))
    for candidate in reversed(values):
        if not any(serial_lt(candidate, other) for other in values):
            return candidate
    return values[-1] if values else None


@dataclass(frozen=True, slots=True)
class ServerState:
    """How one server compares with the API this run."""

    name: str
    failure: Failure | None = None
    serial: int | None = None
    behind: bool = False
    stale: tuple[RecordKey, ...] = ()
    failed: tuple[tuple[RecordKey, Failure], ...] = ()
    stale_ttl: int | None = None

    @property
    def disagrees(self) -> bool:
        """It answered, but not with what the API holds (or its serial is behind)."""
        return self.behind or bool(self.stale)

    @property
    def broken(self) -> Failure | None:
        """The first failure to answer, if any."""
        if self.failure is not None:
            return self.failure
        return self.failed[0][1] if self.failed else None

    @property
    def current(self) -> bool:
        """It answered every watched record as the API holds it."""
        return self.broken is None and not self.disagrees


def judge(
    expected: Mapping[RecordKey, Expected], view: ServerView, newest: int | None = None
) -> ServerState:
    """Compare one server's answers with the API (and its serial with ``newest``)."""
    if view.failure is not None:
        return ServerState(name=view.name, failure=view.failure)
    stale: list[RecordKey] = []
    failed: list[tuple[RecordKey, Failure]] = []
    stale_ttls: list[int] = []
    for key in sorted(expected):
        outcome = view.answers.get(key)
        if outcome is None:
            failed.append((key, Failure("malformed", f"{key} was not asked")))
        elif isinstance(outcome, Failure):
            failed.append((key, outcome))
        elif not expected[key].matches(outcome):
            stale.append(key)
            if outcome.ttl is not None:
                stale_ttls.append(outcome.ttl)
    behind = newest is not None and view.serial is not None and serial_lt(view.serial, newest)
    return ServerState(
        name=view.name,
        serial=view.serial,
        behind=behind,
        stale=tuple(stale),
        failed=tuple(failed),
        stale_ttl=max(stale_ttls, default=None),
    )


def changed_keys(
    before: Mapping[RecordKey, Expected], after: Mapping[RecordKey, Expected]
) -> frozenset[RecordKey]:
    """The records whose expectation differs (a missing record is the same as an absent one)."""
    changed: set[RecordKey] = set()
    for key in set(before) | set(after):
        old, new = before.get(key), after.get(key)
        old_values = old.values if old is not None else frozenset()
        new_values = new.values if new is not None else frozenset()
        if old_values != new_values or (old and new and old.qtype != new.qtype):
            changed.add(key)
    return frozenset(changed)


def span(seconds: float) -> str:
    """A duration for people: ``45 s``, ``3 min 20 s``, ``2 h 5 min``."""
    total = max(0, round(seconds))
    if total < 120:
        return f"{total} s"
    if total < 7200:
        minutes, secs = divmod(total, 60)
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, rest = divmod(total, 3600)
    minutes = rest // 60
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@dataclass(frozen=True, slots=True)
class Propagation:
    """A change in flight."""

    changed_at: float
    deadline_at: float
    keys: frozenset[RecordKey]
    ttl_s: int | None
    cause: Literal["api", "disagreement"]


@dataclass(frozen=True, slots=True)
class Assessment:
    """What one run found, and what to tell people."""

    nameservers: tuple[ServerState, ...]
    resolvers: tuple[ServerState, ...]
    propagation: Propagation | None
    overdue_since: float | None
    events: tuple[ProbeEvent, ...]
    serial_min: int | None
    serial_max: int | None

    @property
    def counted(self) -> tuple[ServerState, ...]:
        """The servers propagation is counted over: the resolvers, else the nameservers."""
        return self.resolvers or self.nameservers

    @property
    def ratio(self) -> float:
        """The share of :attr:`counted` servers that are current (0 with none)."""
        counted = self.counted
        if not counted:
            return 0.0
        return sum(s.current for s in counted) / len(counted)

    @property
    def overdue(self) -> bool:
        """A disagreement has outlived the deadline."""
        return self.overdue_since is not None


def _names(states: Iterable[ServerState], limit: int = 5) -> str:
    names = [s.name for s in states]
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


def _keys_text(keys: Iterable[RecordKey], limit: int = 3) -> str:
    ordered = [str(k) for k in sorted(keys)]
    shown = ", ".join(ordered[:limit])
    return f"{shown} and {len(ordered) - limit} more" if len(ordered) > limit else shown


class PropagationTracker:
    """The DNS probe's memory: one per probe, fed once per run with ``now``."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self._expected: dict[RecordKey, Expected] | None = None
        self._active: Propagation | None = None
        self._overdue_since: float | None = None
        self._auth_ttl: dict[RecordKey, int] = {}
        self._last_at: float | None = None

    @property
    def active(self) -> Propagation | None:
        """The change in flight, if any."""
        return self._active

    def watch(self, api: Mapping[RecordKey, Expected]) -> dict[RecordKey, Expected]:
        """What to ask this run: the API's records, plus records that were removed since the
        last run or during the change in flight (expected to be gone)."""
        watched = dict(api)
        before = self._expected or {}
        lingering = set(self._active.keys) if self._active else set()
        lingering |= {k for k, e in before.items() if k not in api and e.values != frozenset()}
        for key in lingering - set(api):
            watched[key] = absent(before[key].qtype if key in before else key.type)
        return watched

    def observe(
        self,
        now: float,
        expected: Mapping[RecordKey, Expected],
        nameservers: Sequence[ServerView],
        resolvers: Sequence[ServerView],
        *,
        modified_at: Mapping[RecordKey, float] | None = None,
    ) -> Assessment:
        """Judge this run's answers against ``expected`` and advance the propagation.

        ``modified_at`` holds when the API says records last changed (epoch seconds): a change
        seen through the API is dated from it, kept between the previous run and ``now``.
        """
        modified = modified_at or {}
        serials = [v.serial for v in nameservers if v.failure is None and v.serial is not None]
        newest = newest_serial(serials)
        ns_states = tuple(judge(expected, v, newest) for v in nameservers)
        res_states = tuple(judge(expected, v) for v in resolvers)
        previous_ttl = dict(self._auth_ttl)
        self._learn_ttls(nameservers)
        disagreeing = [s for s in (*ns_states, *res_states) if s.disagrees]
        events: list[ProbeEvent] = []

        api_keys = (
            changed_keys(self._expected, expected) if self._expected is not None else frozenset()
        )
        active = self._active
        if api_keys:
            dated = [modified[k] for k in api_keys if k in modified]
            low = self._last_at if self._last_at is not None else now - self.deadline_s
            changed_at = min(max(max(dated), low), now) if dated else now
            ttl = self._ttl_of(api_keys, previous_ttl, expected)
            if active is not None:
                keys = active.keys | api_keys
                ttl = max((t for t in (ttl, active.ttl_s) if t is not None), default=None)
            else:
                keys = api_keys
            active = Propagation(changed_at, changed_at + self.deadline_s, keys, ttl, "api")
            self._overdue_since = None
            events.append(self._detected(api_keys, self._expected or {}, expected))
        elif active is None and disagreeing and self._overdue_since is None:
            keys = frozenset(k for s in disagreeing for k in s.stale)
            dated = [modified[k] for k in keys if k in modified]
            changed_at = now
            if dated and now - self.deadline_s <= max(dated) <= now:
                changed_at = max(dated)
            ttl = self._ttl_of(keys or frozenset(expected), previous_ttl, expected)
            active = Propagation(
                changed_at, changed_at + self.deadline_s, keys, ttl, "disagreement"
            )
            events.append(self._disagreement(disagreeing))

        if active is not None:
            done = not disagreeing and all(s.current for s in res_states)
            if done:
                events.append(
                    self._event("dns_propagation_complete", now, active, ns_states, res_states)
                )
                active = None
                self._overdue_since = None
            elif now >= active.deadline_at:
                events.append(
                    self._event("dns_propagation_timeout", now, active, ns_states, res_states)
                )
                self._overdue_since = active.changed_at
                active = None
            else:
                events.append(
                    self._event("dns_propagation_progress", now, active, ns_states, res_states)
                )
        elif not disagreeing:
            self._overdue_since = None

        self._active = active
        self._expected = dict(expected)
        self._auth_ttl = {k: t for k, t in self._auth_ttl.items() if k in expected}
        self._last_at = now
        return Assessment(
            nameservers=ns_states,
            resolvers=res_states,
            propagation=active,
            overdue_since=self._overdue_since if disagreeing else None,
            events=tuple(events),
            serial_min=min(serials, default=None),
            serial_max=newest,
        )

    def _learn_ttls(self, nameservers: Sequence[ServerView]) -> None:
        seen: dict[RecordKey, int] = {}
        for view in nameservers:
            if view.failure is not None:
                continue
            for key, outcome in view.answers.items():
                if isinstance(outcome, Answer) and outcome.ttl is not None:
                    seen[key] = max(seen.get(key, 0), outcome.ttl)
        self._auth_ttl.update(seen)

    def _ttl_of(
        self,
        keys: Iterable[RecordKey],
        previous: Mapping[RecordKey, int],
        expected: Mapping[RecordKey, Expected],
    ) -> int | None:
        """How long caches may keep the old answers of ``keys``: the TTL the nameservers gave
        before (else now), else the API's."""
        ttls: list[int] = []
        for key in keys:
            ttl = previous.get(key, self._auth_ttl.get(key))
            if ttl is None:
                prior = (self._expected or {}).get(key) or expected.get(key)
                ttl = prior.ttl if prior is not None else None
            if ttl is not None:
                ttls.append(ttl)
        return max(ttls, default=None)

    def _detected(
        self,
        keys: frozenset[RecordKey],
        before: Mapping[RecordKey, Expected],
        after: Mapping[RecordKey, Expected],
    ) -> ProbeEvent:
        parts = []
        for key in sorted(keys)[:3]:
            old, new = before.get(key), after.get(key)
            old_text = old.describe() if old is not None else "none"
            new_text = new.describe() if new is not None else "none"
            parts.append(f"{key} {old_text} → {new_text}")
        more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
        return ProbeEvent(
            kind="dns_change_detected",
            message="change in the API: " + "; ".join(parts) + more,
            fields={"cause": "api", "records": _keys_text(keys, limit=10), "changed": len(keys)},
        )

    def _disagreement(self, disagreeing: Sequence[ServerState]) -> ProbeEvent:
        described = []
        for state in disagreeing[:3]:
            what = []
            if state.behind:
                what.append(f"serial {state.serial} behind")
            if state.stale:
                what.append(_keys_text(state.stale, limit=2))
            described.append(f"{state.name} ({'; '.join(what)})")
        more = f" and {len(disagreeing) - 3} more" if len(disagreeing) > 3 else ""
        keys = frozenset(k for s in disagreeing for k in s.stale)
        return ProbeEvent(
            kind="dns_change_detected",
            message="servers disagree with the API: " + ", ".join(described) + more,
            fields={
                "cause": "disagreement",
                "servers": _names(disagreeing, limit=10),
                "records": _keys_text(keys, limit=10),
                "changed": len(keys),
            },
        )

    def _event(
        self,
        kind: str,
        now: float,
        active: Propagation,
        nameservers: Sequence[ServerState],
        resolvers: Sequence[ServerState],
    ) -> ProbeEvent:
        counted = resolvers or nameservers
        noun = "resolvers" if resolvers else "nameservers"
        current = sum(s.current for s in counted)
        age = now - active.changed_at
        ttl_text = f"TTL {active.ttl_s} s" if active.ttl_s is not None else "TTL unknown"
        lagging = [s for s in counted if not s.current]
        ns_lagging = [s for s in nameservers if s.disagrees]
        fields: dict[str, str | float | int | bool] = {
            noun: len(counted),
            f"{noun}_current": current,
            "since_change_s": round(age, 3),
            "deadline_s": self.deadline_s,
            "records": _keys_text(active.keys, limit=10),
            "cause": active.cause,
        }
        if resolvers:
            fields["nameservers"] = len(nameservers)
            fields["nameservers_current"] = sum(s.current for s in nameservers)
        if active.ttl_s is not None:
            fields["ttl_s"] = active.ttl_s
        if lagging:
            fields["waiting_for"] = _names(lagging, limit=10)
        if ns_lagging:
            fields["nameservers_behind"] = _names(ns_lagging, limit=10)
        if kind == "dns_propagation_complete":
            message = (
                f"{current}/{len(counted)} {noun} updated, {span(age)} after the change "
                f"({ttl_text})"
            )
        elif kind == "dns_propagation_timeout":
            message = (
                f"{current}/{len(counted)} {noun} updated {span(age)} after the change "
                f"(deadline {span(self.deadline_s)}, {ttl_text}); still waiting for "
                f"{_names(lagging) or _names(ns_lagging)}"
            )
        else:
            message = (
                f"{current}/{len(counted)} {noun} updated, {span(age)} since change, {ttl_text}"
            )
            remaining = [s.stale_ttl for s in lagging if s.stale_ttl is not None]
            if remaining:
                fields["expected_in_s"] = max(remaining)
            elif active.ttl_s is not None:
                fields["expected_in_s"] = round(max(0.0, active.changed_at + active.ttl_s - now), 3)
        return ProbeEvent(kind=kind, message=message, fields=fields)
