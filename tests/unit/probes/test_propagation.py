"""Propagation math: which servers are current, and how a change is tracked run by run.

Everything here is pure: answers are data, time is a number the test chooses.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from probes.propagation import (
    Answer,
    Expected,
    Failure,
    PropagationTracker,
    RecordKey,
    ServerView,
    absent,
    changed_keys,
    judge,
    newest_serial,
    serial_lt,
    span,
)

STATUS = RecordKey("status.example.com.", "A")
WWW = RecordKey("www.example.com.", "A")
OLD = frozenset({"203.0.113.10"})
NEW = frozenset({"203.0.113.11"})
T0 = 1_800_000_000.0
DEADLINE = 600.0


def want(values: frozenset[str] | None, ttl: int | None = 300) -> dict[RecordKey, Expected]:
    """The API holding ``status`` A with ``values``."""
    return {STATUS: Expected("A", values, ttl)}


def server(
    name: str, values: frozenset[str], *, ttl: int = 300, serial: int | None = None
) -> ServerView:
    """A server answering ``status`` A with ``values``."""
    return ServerView(name, {STATUS: Answer(values, ttl)}, serial=serial)


def servers(
    prefix: str, *values: frozenset[str], ttl: int = 300, serial: int | None = None
) -> list[ServerView]:
    """One server per value set, named ``prefix1``, ``prefix2`` …"""
    return [
        server(f"{prefix}{i}", v, ttl=ttl, serial=serial) for i, v in enumerate(values, start=1)
    ]


def event_kinds(
    tracker: PropagationTracker,
    now: float,
    expected: Mapping[RecordKey, Expected],
    nameservers: list[ServerView],
    resolvers: list[ServerView],
) -> list[str]:
    """Observe and return the kinds of the events."""
    return [e.kind for e in tracker.observe(now, expected, nameservers, resolvers).events]


@pytest.mark.parametrize(
    ("expected", "answer", "current"),
    [
        (Expected("A", OLD), Answer(OLD), True),
        (Expected("A", OLD), Answer(NEW), False),
        (Expected("A", OLD), Answer(OLD | NEW), False),
        (Expected("A", OLD | NEW), Answer(NEW | OLD), True),
        (Expected("A", None), Answer(NEW), True),
        (Expected("A", None), Answer(frozenset()), False),
        (absent("A"), Answer(frozenset()), True),
        (absent("A"), Answer(OLD), False),
    ],
    ids=[
        "same",
        "other value",
        "extra value",
        "same set in any order",
        "proxied: any address",
        "proxied: no address",
        "gone and gone",
        "gone but answered",
    ],
)
def test_a_server_is_current_when_it_answers_what_the_api_holds(
    expected: Expected, answer: Answer, current: bool
) -> None:
    """The core comparison: the exact set of values (or any address for proxied records, or
    nothing for a deleted record)."""
    state = judge({STATUS: expected}, ServerView("ns1", {STATUS: answer}))
    assert current == state.current
    assert (not current) == bool(state.stale)


def test_a_failed_question_is_not_a_stale_answer() -> None:
    """A timeout says nothing about the record: it is reported as broken, not as old data,
    so it never starts a propagation by itself."""
    failure = Failure("timeout", "no answer from 192.0.2.1 within 2 s")
    state = judge(want(OLD), ServerView("ns1", {STATUS: failure}))
    assert failure == state.broken
    assert not state.disagrees
    assert not state.current


def test_a_nameserver_behind_the_newest_serial_disagrees() -> None:
    """A lagging nameserver may still give the right answer for the watched records, but its
    older serial means other records differ: it is not current."""
    state = judge(want(OLD), server("ns2", OLD, serial=41), newest=42)
    assert state.behind
    assert not state.current


@pytest.mark.parametrize(
    ("a", "b", "older"),
    [
        (1, 2, True),
        (2, 1, False),
        (5, 5, False),
        (2**32 - 1, 0, True),  # wrapped: 0 follows 4294967295
        (0, 2**32 - 1, False),
        (2_350_000_000, 2_350_000_001, True),
    ],
)
def test_serials_compare_as_rfc_1982_says(a: int, b: int, older: bool) -> None:
    """SOA serials wrap at 2^32; Cloudflare's are above 2^31, so plain < would misjudge."""
    assert older == serial_lt(a, b)


def test_the_newest_serial_survives_a_wrap() -> None:
    """After a wrap the numerically smallest serial is the newest."""
    assert 3 == newest_serial([2**32 - 2, 3, 2**32 - 1])
    assert newest_serial([]) is None


def test_changed_keys_treat_missing_as_absent() -> None:
    """A record that disappears is a change; one that was expected gone and is now simply
    not listed is not."""
    assert frozenset({STATUS}) == changed_keys(want(OLD), {})
    assert frozenset() == changed_keys({STATUS: absent("A")}, {})
    assert frozenset({STATUS}) == changed_keys(want(OLD), want(NEW))
    assert frozenset() == changed_keys(want(OLD, ttl=300), want(OLD, ttl=60))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (45.4, "45 s"),
        (119, "119 s"),
        (120, "2 min"),
        (200, "3 min 20 s"),
        (7200, "2 h"),
        (7500, "2 h 5 min"),
    ],
)
def test_spans_read_naturally(seconds: float, text: str) -> None:
    """Durations in messages read the way people say them."""
    assert text == span(seconds)


def test_a_consistent_first_run_starts_nothing() -> None:
    """No change, no disagreement: no events, nothing in flight."""
    tracker = PropagationTracker(DEADLINE)
    found = tracker.observe(T0, want(OLD), servers("ns", OLD, OLD), servers("r", OLD, OLD))
    assert () == found.events
    assert found.propagation is None
    assert 1.0 == found.ratio


def test_a_change_is_tracked_until_every_resolver_has_it() -> None:
    """Req 2.8: detected through the API, then progress each run with the counts, the age
    and the old TTL, then complete once the last resolver answers the new value."""
    tracker = PropagationTracker(DEADLINE)
    tracker.observe(T0, want(OLD), servers("ns", OLD, OLD), servers("r", OLD, OLD, OLD))

    first = tracker.observe(
        T0 + 30, want(NEW), servers("ns", NEW, NEW), servers("r", NEW, OLD, OLD, ttl=250)
    )
    assert ["dns_change_detected", "dns_propagation_progress"] == [e.kind for e in first.events]
    assert "change in the API: A status.example.com 203.0.113.10 → 203.0.113.11" == (
        first.events[0].message
    )
    progress = first.events[1]
    assert "1/3 resolvers updated, 0 s since change, TTL 300 s" == progress.message
    assert 250 == progress.fields["expected_in_s"]
    assert "r2, r3" == progress.fields["waiting_for"]
    assert first.propagation is not None

    second = tracker.observe(
        T0 + 75, want(NEW), servers("ns", NEW, NEW), servers("r", NEW, NEW, OLD, ttl=205)
    )
    assert "2/3 resolvers updated, 45 s since change, TTL 300 s" == second.events[0].message

    third = tracker.observe(
        T0 + 330, want(NEW), servers("ns", NEW, NEW), servers("r", NEW, NEW, NEW)
    )
    assert ["dns_propagation_complete"] == [e.kind for e in third.events]
    assert "3/3 resolvers updated, 5 min after the change (TTL 300 s)" == third.events[0].message
    assert third.propagation is None
    assert (
        ()
        == tracker.observe(
            T0 + 360, want(NEW), servers("ns", NEW, NEW), servers("r", NEW, NEW, NEW)
        ).events
    )


def test_a_change_is_dated_from_the_apis_modified_on() -> None:
    """The age counts from when the record changed, not from when the probe noticed — but
    never from before the previous run, which saw the old value."""
    tracker = PropagationTracker(DEADLINE)
    tracker.observe(T0, want(OLD), servers("ns", OLD), servers("r", OLD))
    found = tracker.observe(
        T0 + 30,
        want(NEW),
        servers("ns", NEW),
        servers("r", OLD),
        modified_at={STATUS: T0 + 12},
    )
    assert found.propagation is not None
    assert T0 + 12 == found.propagation.changed_at
    early = PropagationTracker(DEADLINE)
    early.observe(T0, want(OLD), servers("ns", OLD), servers("r", OLD))
    found = early.observe(
        T0 + 30, want(NEW), servers("ns", NEW), servers("r", OLD), modified_at={STATUS: T0 - 99}
    )
    assert found.propagation is not None
    assert T0 == found.propagation.changed_at


def test_the_ttl_is_the_one_old_answers_were_cached_with() -> None:
    """Caches hold the old answer for the TTL the nameservers gave *before* the change."""
    tracker = PropagationTracker(DEADLINE)
    tracker.observe(T0, want(OLD), servers("ns", OLD, ttl=3600), servers("r", OLD))
    found = tracker.observe(T0 + 1, want(NEW), servers("ns", NEW, ttl=60), servers("r", OLD))
    assert found.propagation is not None
    assert 3600 == found.propagation.ttl_s


def test_the_deadline_ends_a_propagation_with_a_timeout() -> None:
    """A resolver that still gives the old value at the deadline: a timeout event naming it;
    the same disagreement then stays reported as overdue without new events."""
    tracker = PropagationTracker(60.0)
    tracker.observe(T0, want(OLD), servers("ns", OLD), servers("r", OLD, OLD))
    assert "dns_propagation_progress" in event_kinds(
        tracker, T0 + 10, want(NEW), servers("ns", NEW), servers("r", NEW, OLD)
    )
    timed_out = tracker.observe(T0 + 70, want(NEW), servers("ns", NEW), servers("r", NEW, OLD))
    assert ["dns_propagation_timeout"] == [e.kind for e in timed_out.events]
    assert (
        "1/2 resolvers updated 60 s after the change (deadline 60 s, TTL 300 s); "
        "still waiting for r2"
    ) == timed_out.events[0].message
    assert timed_out.overdue
    later = tracker.observe(T0 + 100, want(NEW), servers("ns", NEW), servers("r", NEW, OLD))
    assert () == later.events
    assert later.overdue
    healed = tracker.observe(T0 + 130, want(NEW), servers("ns", NEW), servers("r", NEW, NEW))
    assert () == healed.events
    assert not healed.overdue


def test_a_disagreement_without_an_api_change_starts_a_propagation() -> None:
    """A change seen through the nameservers (one behind on serial) or a resolver: tracked
    like any other change, dated from now."""
    tracker = PropagationTracker(DEADLINE)
    found = tracker.observe(
        T0,
        want(NEW),
        [server("ns1", NEW, serial=8), server("ns2", OLD, serial=7)],
        servers("r", NEW),
    )
    assert ["dns_change_detected", "dns_propagation_progress"] == [e.kind for e in found.events]
    assert (
        "servers disagree with the API: ns2 (serial 7 behind; A status.example.com)"
    ) == found.events[0].message
    assert "ns2" == found.events[1].fields["nameservers_behind"]
    assert found.propagation is not None
    assert T0 == found.propagation.changed_at


def test_a_failing_server_alone_starts_nothing() -> None:
    """A nameserver that is down is reported by the probe; it is not a change."""
    tracker = PropagationTracker(DEADLINE)
    down = ServerView("ns2", failure=Failure("unreachable", "192.0.2.2 refused"))
    found = tracker.observe(T0, want(OLD), [server("ns1", OLD), down], servers("r", OLD))
    assert () == found.events
    assert found.propagation is None


def test_a_resolver_that_cannot_be_asked_holds_completion_back() -> None:
    """ "Every resolver returns the new value" is not true of a resolver that does not answer."""
    tracker = PropagationTracker(DEADLINE)
    tracker.observe(T0, want(OLD), servers("ns", OLD), servers("r", OLD, OLD))
    silent = ServerView("r2", failure=Failure("timeout", "no answer"))
    found = tracker.observe(T0 + 5, want(NEW), servers("ns", NEW), [server("r1", NEW), silent])
    assert ["dns_change_detected", "dns_propagation_progress"] == [e.kind for e in found.events]


def test_a_second_change_extends_the_propagation() -> None:
    """Another API change while one propagates: both records are tracked, the clock and the
    deadline restart from the newer change."""
    tracker = PropagationTracker(60.0)
    both: Mapping[RecordKey, Expected] = {STATUS: Expected("A", OLD), WWW: Expected("A", OLD)}
    old_answers = {STATUS: Answer(OLD, 300), WWW: Answer(OLD, 300)}
    tracker.observe(T0, both, [ServerView("ns1", old_answers)], [ServerView("r1", old_answers)])
    changed = {STATUS: Expected("A", NEW), WWW: Expected("A", OLD)}
    tracker.observe(T0 + 10, changed, [ServerView("ns1", old_answers)], [])
    again = {STATUS: Expected("A", NEW), WWW: Expected("A", NEW)}
    found = tracker.observe(T0 + 50, again, [ServerView("ns1", old_answers)], [])
    assert found.propagation is not None
    assert frozenset({STATUS, WWW}) == found.propagation.keys
    assert T0 + 50 + 60 == found.propagation.deadline_at


def test_a_deleted_record_is_watched_until_it_is_gone() -> None:
    """A record removed from the API is still asked for (expected absent) while the deletion
    propagates, and dropped after."""
    tracker = PropagationTracker(DEADLINE)
    tracker.observe(T0, tracker.watch(want(OLD)), servers("ns", OLD), servers("r", OLD))
    watched = tracker.watch({})
    assert {STATUS: absent("A")} == watched
    gone = Answer(frozenset(), 60)
    found = tracker.observe(T0 + 5, watched, [ServerView("ns1", {STATUS: gone})], servers("r", OLD))
    assert "203.0.113.10 → none" in found.events[0].message
    assert found.propagation is not None
    watched = tracker.watch({})
    assert {STATUS: absent("A")} == watched
    done = tracker.observe(
        T0 + 70, watched, [ServerView("ns1", {STATUS: gone})], [ServerView("r1", {STATUS: gone})]
    )
    assert ["dns_propagation_complete"] == [e.kind for e in done.events]
    assert {} == tracker.watch({})


def test_without_resolvers_propagation_counts_nameservers() -> None:
    """With no resolvers configured, the ratio and the messages are about the nameservers."""
    tracker = PropagationTracker(DEADLINE)
    tracker.observe(T0, want(OLD), servers("ns", OLD, OLD), [])
    found = tracker.observe(T0 + 1, want(NEW), servers("ns", NEW, OLD), [])
    assert 0.5 == found.ratio
    assert found.events[1].message.startswith("1/2 nameservers updated")
