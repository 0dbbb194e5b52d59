"""``logs query`` over 1,000,000 stored events: p95 latency per query shape, target < 100 ms.

The store (built once, or reused with ``--db``) holds ``--events`` events spread evenly over
the 7 days before a fixed "now", as a week of SpaceVision traffic would leave them:

- sources: Workers ``api`` 35 %, ``image-processor`` 20 %, ``auth`` 10 %, the Pages project
  ``spacevision-web`` 25 %, eight probes 10 %;
- levels: info 85 %, warn 7 %, error 5 %, debug 3 %; errors are uncaught ``TypeError``\\s
  (with a stack) or ``D1_ERROR`` failures answering 503;
- every event has a request (method, URL with a user id among 100,000, status, colo), a
  ray id, a trace id and its original event (compressed, ~300 bytes).

Each query shape runs ``--repeat`` times with its parameters drawn at random (seeded): the
service, the past window, the user or trace looked for. What is timed is what the command
does after start-up: ``LogStore.search`` (or ``trace``) with the default ``--limit 100``
and formatting every returned row for the terminal. The page cache is warm (the store was
just built or read), as it is for an operator running several queries in an incident.
The start-up of the ``flarewatch`` process itself is reported apart (``cli_process_ms``).

    .venv/bin/python benchmarks/log_query.py [--events N] [--repeat N] [--db PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ops.logevents import ConsoleLine, ExceptionInfo, Level, LogRow
from ops.logformat import format_row
from ops.logstore import LogQuery, LogStore

TARGET_MS = 100.0
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
NOW_MS = 1_795_000_000_000
SPAN_MS = 7 * DAY_MS
USERS = 100_000
BATCH = 5_000
SOURCES: tuple[tuple[str, str, float], ...] = (
    ("worker", "api", 0.35),
    ("worker", "image-processor", 0.20),
    ("worker", "auth", 0.10),
    ("pages", "spacevision-web", 0.25),
    *(("probe", f"probe-{i}", 0.10 / 8) for i in range(8)),
)
LEVELS = ((Level.INFO, 0.85), (Level.WARN, 0.07), (Level.ERROR, 0.05), (Level.DEBUG, 0.03))


def _pick(rng: random.Random, table: tuple[tuple[str, str, float], ...]) -> tuple[str, str]:
    roll, acc = rng.random(), 0.0
    for kind, name, share in table:
        acc += share
        if roll < acc:
            return kind, name
    return table[-1][0], table[-1][1]


def _level(rng: random.Random) -> Level:
    roll, acc = rng.random(), 0.0
    for level, share in LEVELS:
        acc += share
        if roll < acc:
            return level
    return Level.INFO


def make_row(i: int, n: int, rng: random.Random) -> LogRow:
    """The i-th of n events (time increases with i)."""
    kind, service = _pick(rng, SOURCES)
    level = _level(rng)
    ts = NOW_MS - SPAN_MS + (i * SPAN_MS) // n
    user = rng.randrange(USERS)
    method = "POST" if rng.random() < 0.15 else "GET"
    path = f"/v1/{rng.choice(['stars', 'orbits', 'images', 'users'])}/user-{user}"
    host = f"{service}.spacevision.app"
    logs = [ConsoleLine("log", f"{method} {path}", ts)]
    exceptions: tuple[ExceptionInfo, ...] = ()
    status, outcome = 200, "ok"
    if level is Level.ERROR:
        if rng.random() < 0.5:
            text = f"Cannot read properties of undefined (reading 'id{user % 97}')"
            exceptions = (
                ExceptionInfo(
                    "TypeError",
                    text,
                    f"TypeError: {text}\n    at handleRequest (index.js:42:11)\n"
                    "    at Object.fetch (index.js:12:12)",
                    ts + 1,
                ),
            )
            logs.append(ConsoleLine("error", f"Unhandled error: {text}", ts + 1))
            status, outcome = 500, "exception"
        else:
            logs.append(ConsoleLine("error", "D1_ERROR: Network connection lost.", ts + 1))
            status = 503
    elif level is Level.WARN:
        logs.append(ConsoleLine("warn", f"slow upstream for user-{user}", ts + 1))
        status = 404 if rng.random() < 0.5 else 200
    elif level is Level.DEBUG:
        logs.append(ConsoleLine("debug", f"cache hit for {path}", ts + 1))
    trace = f"{rng.getrandbits(128):032x}"
    raw = {
        "outcome": outcome,
        "scriptName": service,
        "eventTimestamp": ts,
        "logs": [{"message": [c.text], "level": c.level, "timestamp": c.ts_ms} for c in logs],
        "event": {
            "request": {
                "url": f"https://{host}{path}",
                "method": method,
                "headers": {"cf-ray": f"{rng.getrandbits(64):016x}-SJC", "user-agent": "bench"},
                "cf": {"colo": "SJC", "country": "US", "asn": 13335},
            },
            "response": {"status": status},
        },
    }
    return LogRow(
        ts_ms=ts,
        kind=kind,  # type: ignore[arg-type]
        service=service,
        level=level,
        script=service,
        outcome=outcome,
        method=method,
        url=f"https://{host}{path}",
        status=status,
        colo="SJC",
        ray_id=f"{rng.getrandbits(64):016x}",
        trace_id=trace,
        trace_source="traceparent",
        duration_ms=round(rng.uniform(2, 80), 1) if kind == "probe" else None,
        message="\n".join(c.text for c in logs),
        logs=tuple(logs),
        exceptions=exceptions,
        raw_json=json.dumps(raw, separators=(",", ":")).encode(),
    )


def build(path: Path, events: int, seed: int = 11) -> float:
    """Fill a fresh store; return the seconds it took."""
    rng = random.Random(seed)
    started = time.perf_counter()
    with LogStore(path) as store:
        for start in range(0, events, BATCH):
            store.add([make_row(i, events, rng) for i in range(start, min(events, start + BATCH))])
    return time.perf_counter() - started


def shapes(store: LogStore, rng: random.Random) -> dict[str, Callable[[], list[LogRow]]]:
    """The queries an operator runs, each drawing its own parameters."""
    workers = ("api", "image-processor", "auth", "spacevision-web")
    traces = [r.trace_id for r in store.query(0, NOW_MS / 1000, limit=500)]

    def window(hours: float) -> tuple[int, int]:
        end = NOW_MS - rng.randrange(int(SPAN_MS - hours * HOUR_MS))
        return end - int(hours * HOUR_MS), end

    def search(q: LogQuery) -> list[LogRow]:
        return store.search(q)

    return {
        "last 1h": lambda: search(LogQuery(NOW_MS - HOUR_MS, NOW_MS)),
        "any 1h in the week": lambda: search(LogQuery(*window(1))),
        "errors, 24h": lambda: search(LogQuery(NOW_MS - DAY_MS, NOW_MS, min_level=Level.ERROR)),
        "one service, 24h": lambda: search(
            LogQuery(NOW_MS - DAY_MS, NOW_MS, services=(rng.choice(workers),))
        ),
        "warn+, two services, 7d": lambda: search(
            LogQuery(
                NOW_MS - SPAN_MS,
                NOW_MS,
                min_level=Level.WARN,
                services=tuple(rng.sample(workers, 2)),
            )
        ),
        "probe errors, 7d": lambda: search(
            LogQuery(NOW_MS - SPAN_MS, NOW_MS, min_level=Level.ERROR, kinds=("probe",))
        ),
        "search a user id, 7d": lambda: search(
            LogQuery(NOW_MS - SPAN_MS, NOW_MS, search=f"user-{rng.randrange(USERS)}")
        ),
        "search D1_ERROR, 7d": lambda: search(
            LogQuery(NOW_MS - SPAN_MS, NOW_MS, search="D1_ERROR")
        ),
        "search GET (every event), 7d": lambda: search(
            LogQuery(NOW_MS - SPAN_MS, NOW_MS, search="GET")
        ),
        "search + error + service, 24h": lambda: search(
            LogQuery(
                NOW_MS - DAY_MS,
                NOW_MS,
                min_level=Level.ERROR,
                services=(rng.choice(workers),),
                search="undefined",
            )
        ),
        "trace id": lambda: store.trace(rng.choice(traces)),
    }


def cli_process_ms(path: Path, runs: int = 5) -> float:
    """Median wall time of a whole ``flarewatch logs query`` process (start-up included)."""
    times = []
    env = {**os.environ, "TZ": "UTC"}
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(  # noqa: S603  (our own interpreter and arguments)
            [sys.executable, "-m", "monitor", "logs", "query", "--store", str(path)],
            check=True,
            capture_output=True,
            env=env,
        )
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> None:
    """Build or open the store, time every query shape, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the store")
    parser.add_argument("--repeat", type=int, default=50, help="runs of each query shape")
    parser.add_argument("--db", type=Path, help="reuse (or build once into) this store")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "logs.db"
        build_s = None if path.exists() else build(path, args.events)
        rng = random.Random(3)
        per_shape: dict[str, dict[str, float]] = {}
        samples: list[float] = []
        with LogStore(path, create=False) as store:
            stats = store.stats()
            for name, run in shapes(store, rng).items():
                run()  # first touch
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    for row in run():
                        format_row(row, color=True)
                    times.append((time.perf_counter() - started) * 1000)
                samples += times
                per_shape[name] = {
                    "p50_ms": round(statistics.median(times), 2),
                    "p95_ms": round(quantile(times, 0.95), 2),
                    "max_ms": round(max(times), 2),
                }
        process_ms = cli_process_ms(path)
    p95 = quantile(samples, 0.95)
    result = {
        "events": stats.rows,
        "db_bytes": stats.file_bytes,
        "build_s": round(build_s, 1) if build_s is not None else None,
        "shapes": per_shape,
        "p95_ms": round(p95, 2),
        "target_ms": TARGET_MS,
        "met": p95 < TARGET_MS and all(s["p95_ms"] < TARGET_MS for s in per_shape.values()),
        "cli_process_ms": round(process_ms, 1),
        "errors": 0,
    }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        if key != "shapes":
            print(f"{key:>16}: {value}")
    for name, figures in per_shape.items():
        print(
            f"  {name:<32} p50 {figures['p50_ms']:>8} ms  p95 {figures['p95_ms']:>8} ms  "
            f"max {figures['max_ms']:>8} ms"
        )


if __name__ == "__main__":
    main()
