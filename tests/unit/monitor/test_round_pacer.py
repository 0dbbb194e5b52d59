"""The alert engine's pacing (:class:`monitor.alerts.RoundPacer`): a status change is
evaluated within the minimum gap, results that only bring new numbers wait for the routine
gap (one round a second instead of four at 20 results a second), and neither delays a round
the clock owes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

from monitor.alerts import RoundPacer

FOREVER = 3600.0


async def spin(times: int = 20) -> None:
    """Let every ready task run a few times (no wall-clock wait)."""
    for _ in range(times):
        await asyncio.sleep(0)


async def test_urgent_news_cuts_the_routine_wait_short() -> None:
    """A probe whose status changed while routine news waits is evaluated at once: the alert
    latency of a status change does not pay for the batching of routine results."""
    pacer = RoundPacer(min_gap=0.0, routine_gap=FOREVER)
    pacer.note(urgent=False)
    waiting = asyncio.create_task(pacer.pace(time.monotonic(), lambda: FOREVER))
    await spin()
    assert not waiting.done()
    pacer.note(urgent=True)
    await asyncio.wait_for(waiting, 5)


async def test_routine_news_waits_at_most_the_routine_gap() -> None:
    """Results that repeat their probe's status still reach a round, one routine gap after
    the last round at the latest."""
    pacer = RoundPacer(min_gap=0.0, routine_gap=0.05)
    pacer.note(urgent=False)
    await asyncio.wait_for(pacer.pace(time.monotonic(), lambda: FOREVER), 5)


async def test_a_round_the_clock_owes_is_not_held_back_by_routine_news() -> None:
    """A group's group_wait or a silence's end is due now: routine news must not push that
    round a routine gap later."""
    pacer = RoundPacer(min_gap=0.0, routine_gap=FOREVER)
    pacer.note(urgent=False)
    await asyncio.wait_for(pacer.pace(time.monotonic(), lambda: 0.0), 5)


async def test_the_first_round_does_not_wait() -> None:
    """Before any round (``last`` = -inf) nothing is owed: the first round starts at once."""
    pacer = RoundPacer(min_gap=FOREVER, routine_gap=FOREVER)
    pacer.note(urgent=False)
    await asyncio.wait_for(pacer.pace(-math.inf, lambda: FOREVER), 5)


async def test_idle_wakes_on_news_and_pace_takes_it() -> None:
    """After a round the engine sleeps until news arrives; once paced, the news is taken, so
    the next idle sleeps again instead of spinning."""
    pacer = RoundPacer(min_gap=0.0, routine_gap=0.0)
    sleeping = asyncio.create_task(pacer.idle(FOREVER))
    await spin()
    assert not sleeping.done()
    pacer.note(urgent=False)
    await asyncio.wait_for(sleeping, 5)
    await pacer.pace(time.monotonic(), lambda: FOREVER)
    again = asyncio.create_task(pacer.idle(FOREVER))
    await spin()
    assert not again.done()
    again.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await again
