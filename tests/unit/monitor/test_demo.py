"""The demo's incident schedule and timeline: pure data and functions (monitor/demo.py)."""

from __future__ import annotations

import itertools

import pytest

from monitor.demo import (
    BASELINE,
    INCIDENTS,
    Cue,
    EdgeLoad,
    Fault,
    Timing,
    Traffic,
    accelerated_clock,
    clear_line,
    human_s,
    incidents_named,
    plan,
    start_line,
)


def test_timeline_starts_a_quarter_period_after_ready_and_alternates_start_and_clear() -> None:
    """A newcomer first sees a green estate, then incidents one after another, each cleared."""
    cues = list(itertools.islice(plan(INCIDENTS, Timing(every_s=120, length_s=60)), 4))
    assert [(30.0, 1, "kv-latency", "start"), (90.0, 1, "kv-latency", "clear")] == [
        (c.at_s, c.number, c.incident.key, c.phase) for c in cues[:2]
    ]
    assert (150.0, 2, "worker-errors", "start") == (
        cues[2].at_s,
        cues[2].number,
        cues[2].incident.key,
        cues[2].phase,
    )


def test_timeline_goes_round_the_incidents_forever() -> None:
    """After the last incident the first comes again: the demo can run all day."""
    starts = [c for c in itertools.islice(plan(INCIDENTS, Timing()), 20) if c.phase == "start"]
    keys = [c.incident.key for c in starts]
    assert keys[: len(INCIDENTS)] == keys[len(INCIDENTS) : 2 * len(INCIDENTS)]
    assert list(range(1, 11)) == [c.number for c in starts]


def test_timeline_of_nothing_is_empty() -> None:
    """No incidents chosen: nothing to play (rather than a division by zero)."""
    assert [] == list(plan((), Timing()))


@pytest.mark.parametrize(("every", "length"), [(60.0, 60.0), (60.0, 90.0), (0.0, 1.0)])
def test_timing_refuses_incidents_that_overlap(every: float, length: float) -> None:
    """Two incidents at once would blur which probe reacts to which: refused up front."""
    with pytest.raises(ValueError, match=r"run into the next one|more than 0"):
        Timing(every_s=every, length_s=length)


def test_incidents_are_chosen_by_key_in_the_order_given() -> None:
    """The hidden --incidents option picks and orders incidents (tests compress the timeline)."""
    chosen = incidents_named(["dns-change", "kv-latency"])
    assert ["dns-change", "kv-latency"] == [i.key for i in chosen]
    assert INCIDENTS == incidents_named([])


def test_an_unknown_incident_names_the_known_ones() -> None:
    """A typo gets the list to choose from."""
    with pytest.raises(ValueError, match=r"unknown incident 'meteor'.*kv-latency, worker-errors"):
        incidents_named(["meteor"])


def test_every_incident_is_caught_by_a_named_probe_and_can_be_undone() -> None:
    """Each incident says which probe to watch; a held one changes only what clear undoes."""
    assert len({i.key for i in INCIDENTS}) == len(INCIDENTS)
    for incident in INCIDENTS:
        assert incident.probes
        assert all(name in incident.watch for name in incident.probes)
        if incident.held:
            assert all(isinstance(step, Fault | Traffic | EdgeLoad) for step in incident.steps)


def test_incident_traffic_replaces_a_baseline_subject() -> None:
    """Clearing puts the baseline back, so incident traffic must be for a baseline subject."""
    baseline = {(t.kind, t.subject) for t in BASELINE}
    for incident in INCIDENTS:
        for step in incident.steps:
            if isinstance(step, Traffic):
                assert (step.kind, step.subject) in baseline


def test_announcements_say_what_how_long_and_what_to_watch() -> None:
    """The console line a newcomer reads when an incident starts and when it is cleared."""
    kv = INCIDENTS[0]
    cue = Cue(30.0, 1, kv, "start")
    assert (
        "incident 1: KV latency spike on SESSIONS for 60 s — watch sessions-kv go warn, "
        "and api-worker slow down: its /health reads SESSIONS"
    ) == start_line(cue, Timing())
    assert clear_line(Cue(90.0, 1, kv, "clear")).startswith(
        "cleared: KV latency spike on SESSIONS — "
    )


def test_a_change_that_is_not_held_has_no_duration() -> None:
    """A DNS change is not held and undone: it is announced with what changed, then 'over'."""
    dns = next(i for i in INCIDENTS if i.key == "dns-change")
    line = start_line(Cue(0, 4, dns, "start"), Timing(), "A 203.0.113.10 → 203.0.113.11")
    assert line.startswith(
        "incident 4: DNS change of status.spacevision.app (A 203.0.113.10 → 203.0.113.11) — "
    )
    assert " for " not in line
    assert clear_line(Cue(60, 4, dns, "clear")).startswith("over: ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2.5, "2.5 s"),
        (12, "12 s"),
        (60, "60 s"),
        (90, "90 s"),
        (120, "2 min"),
        (150, "2 min 30 s"),
        (7200, "2 h"),
        (9000, "2 h 30 min"),
    ],
)
def test_human_seconds(seconds: float, text: str) -> None:
    """Durations on the console read like a person would say them."""
    assert text == human_s(seconds)


def test_accelerated_clock_runs_faster_by_its_speed() -> None:
    """A resolver at speed 10 sees ten seconds pass for each real one (its TTLs run out so)."""
    now = [100.0]
    clock = accelerated_clock(10.0, lambda: now[0])
    before = clock()
    now[0] += 1.5
    assert 15.0 == clock() - before
