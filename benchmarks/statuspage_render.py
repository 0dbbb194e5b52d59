"""Status page render time: 200 probes with 120 history points each.

:func:`monitor.statuspage.render` runs on every load of ``/`` (and every open page reloads
itself every few seconds), so it must stay cheap. Workload (stated, not tuned to the result):

- 200 probes over the seven probe types; statuses 80 % ok, 10 % warn, 7 % crit, 3 % unknown;
  each with 120 history points (a failure run in one history in ten), two values, and the
  DNS probes with 20 events each.
- Scenarios: ``cold`` (the sparkline memo empty: the first load after a start), ``warm``
  (the same document again: several readers between two probe runs), and ``steady`` (a
  fifth of the probes gained a history point since the last load, as with 30 s probes and
  a page refreshed every 6 s).

Each scenario reports the fastest, median and slowest of ``--rounds`` renders, wall time of
``render`` only (documents are prepared outside the timing), garbage collector on. On a
shared VM the fastest round is the best estimate of the cost itself; the median and slowest
show what other load adds.

    .venv/bin/python benchmarks/statuspage_render.py [--rounds N] [--probes N] [--json]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.statuspage import _draw, render
from tests.integration.statuspage.documents import NOW, document, history, iso, probe

TYPES = ("workers", "pages", "kv", "r2", "d1", "dns", "http")


def workload(probes: int, seed: int = 7) -> dict[str, Any]:
    """The status document described in the module docstring."""
    rng = random.Random(seed)
    entries = []
    for i in range(probes):
        type_ = TYPES[i % len(TYPES)]
        status = rng.choices(["ok", "warn", "crit", "unknown"], [80, 10, 7, 3])[0]
        bad = {}
        if rng.random() < 0.1:
            start = rng.randrange(100)
            bad = dict.fromkeys(range(start, start + 8), "crit")
        events = [
            {
                "at": iso(NOW - timedelta(seconds=30 * (20 - k))),
                "kind": "dns_propagation_progress",
                "message": f"{k % 8}/8 resolvers updated, {30 * k} s since change, TTL 300 s",
                "fields": {},
            }
            for k in range(20 if type_ == "dns" else 0)
        ]
        entries.append(
            probe(
                f"{type_}-{i:03d}",
                type_,
                status,
                message=f"200 in {40 + i % 50} ms; version 3f2a9c1",
                reason=None if status == "ok" else "http_status",
                latency_ms=40.0 + i % 50,
                values={"error_ratio": rng.random() / 50, "requests": float(rng.randrange(5000))},
                hist=history(20 + rng.random() * 200, bad=bad),
                events=events,
            )
        )
    return document(entries)


def advance(status: dict[str, Any], share: float, rng: random.Random) -> dict[str, Any]:
    """A copy of ``status`` where ``share`` of the probes gained one history point."""
    status = copy.deepcopy(status)
    for entry in status["probes"]:
        if rng.random() < share:
            last = entry["history"][-1]
            latency = (last["latency_ms"] or 40.0) * rng.uniform(0.9, 1.1)
            entry["history"] = [*entry["history"][1:], {**last, "latency_ms": latency}]
    return status


def timed(documents: list[dict[str, Any]], before: Callable[[], None]) -> list[float]:
    """Render each document once, calling ``before`` (untimed) first; times in ms."""
    times = []
    for status in documents:
        before()
        start = time.perf_counter()
        render(status)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def main() -> None:
    """Run the three scenarios and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    base = workload(args.probes)
    rng = random.Random(11)
    steady = []
    current = base
    for _ in range(args.rounds):
        current = advance(current, 0.2, rng)
        steady.append(current)

    render(base)  # warm up imports and the memo for "warm" and "steady"
    results = {
        "cold": timed([base] * args.rounds, _draw.cache_clear),
        "warm": timed([base] * args.rounds, lambda: None),
        "steady": timed(steady, lambda: None),
    }
    summary = {
        name: {"min_ms": min(t), "median_ms": statistics.median(t), "max_ms": max(t)}
        for name, t in results.items()
    }
    summary["page_kib"] = {"size": len(render(base).encode()) / 1024}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{args.probes} probes x 120 history points, {args.rounds} rounds")
    for name, figures in summary.items():
        print(f"  {name:7s}", "  ".join(f"{k} {v:7.2f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
