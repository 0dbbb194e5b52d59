"""Tail ingest into the log store: trace-v1 messages per second, target >= 5,000 events/s.

What is timed is everything ``flarewatch logs tail --store`` (and the daemon) does per event
once a WebSocket message has arrived: :func:`cfapi.tail_events.parse_tail_message` (JSON +
pydantic), :func:`ops.logevents.normalise_tail_event` (level, trace id, request context, the
raw event), and :class:`ops.logstore.StoreWriter` (batches of 500, one ``executemany`` in one
``BEGIN IMMEDIATE`` transaction on its own thread, FTS5 index, four B-tree indexes, the raw
event compressed). The clock stops when the last batch is committed.

Workload (stated, not tuned to the result): ``--events`` messages shaped like the
simulator's and Cloudflare's (a browser-like header set with ``traceparent`` and ``cf-ray``,
the ``cf`` object, ``scriptVersion``, response status), 1 ms apart, from 3 Workers and a
Pages project: 84 % ``GET``/``POST`` answered 200 with one ``console.log``, 6 % 404 with a
``console.warn``, 5 % uncaught exceptions with a three-frame stack, 5 % D1 failures answering
503 after ``console.error``. Every URL is distinct. Each run writes a fresh store in a
temporary directory.

``cpu_us_per_event`` is the CPU time of both threads per event (``time.process_time``), a
figure less sensitive than wall time to other work on a shared machine. Also reported, each
alone: parse, normalise and store (prebuilt rows, synchronous
``LogStore.add`` in batches), so a regression shows where it is.

    .venv/bin/python benchmarks/log_ingest.py [--events N] [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cfapi.tail_events import TailEvent, parse_tail_message
from ops.logevents import LogRow, normalise_tail_event
from ops.logstore import LogStore, StoreWriter

TARGET_EVENTS_PER_S = 5_000.0
BATCH = 500
T0_MS = 1_795_000_000_000
SERVICES = (
    ("worker", "api", "api.spacevision.app"),
    ("worker", "image-processor", "images.spacevision.app"),
    ("worker", "auth", "auth.spacevision.app"),
    ("pages", "spacevision-web", "spacevision.app"),
)
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)


def message(i: int, rng: random.Random) -> tuple[str, str, str]:
    """The i-th trace-v1 message as JSON text, with its source kind and service."""
    kind, service, host = SERVICES[i % len(SERVICES)]
    ts = T0_MS + i
    roll = rng.random()
    method = "POST" if rng.random() < 0.15 else "GET"
    path = f"/v1/{rng.choice(['stars', 'orbits', 'images', 'users'])}/{i}"
    logs: list[dict[str, Any]] = [
        {"message": [f"{method} {path}"], "level": "log", "timestamp": ts + 1}
    ]
    exceptions: list[dict[str, Any]] = []
    outcome, status = "ok", 200
    if roll < 0.05:
        outcome, status = "exception", 500
        text = f"Cannot read properties of undefined (reading 'id{i % 97}')"
        logs.append({"message": ["Unhandled error:", text], "level": "error", "timestamp": ts + 2})
        exceptions.append(
            {
                "name": "TypeError",
                "message": text,
                "timestamp": ts + 2,
                "stack": f"TypeError: {text}\n    at handleRequest (index.js:42:11)\n"
                "    at Object.fetch (index.js:12:12)\n    at async route (router.js:88:5)",
            }
        )
    elif roll < 0.10:
        status = 503
        logs.append(
            {
                "message": ["health check failed", "D1_ERROR: Network connection lost."],
                "level": "error",
                "timestamp": ts + 2,
            }
        )
    elif roll < 0.16:
        status = 404
        logs.append({"message": [f"no route for {path}"], "level": "warn", "timestamp": ts + 1})
    trace = f"{rng.getrandbits(128):032x}"
    ray = f"{rng.getrandbits(64):016x}"
    event = {
        "outcome": outcome,
        "scriptName": service if kind == "worker" else "pages-worker--4827159-production",
        "entrypoint": None,
        "eventTimestamp": ts,
        "exceptions": exceptions,
        "logs": logs,
        "event": {
            "request": {
                "url": f"https://{host}{path}?page={i % 7}",
                "method": method,
                "headers": {
                    "accept": "application/json",
                    "accept-encoding": "gzip, br",
                    "accept-language": "en-US,en;q=0.9",
                    "cf-connecting-ip": f"203.0.113.{i % 250}",
                    "cf-ipcountry": "US",
                    "cf-ray": f"{ray}-SJC",
                    "host": host,
                    "traceparent": f"00-{trace}-{rng.getrandbits(64):016x}-01",
                    "user-agent": USER_AGENT,
                    "x-forwarded-proto": "https",
                },
                "cf": {
                    "colo": "SJC",
                    "asn": 13335,
                    "asOrganization": "Cloudflare",
                    "country": "US",
                    "city": "San Jose",
                    "continent": "NA",
                    "region": "California",
                    "regionCode": "CA",
                    "timezone": "America/Los_Angeles",
                    "httpProtocol": "HTTP/2",
                    "tlsVersion": "TLSv1.3",
                    "tlsCipher": "AEAD-AES128-GCM-SHA256",
                    "clientTcpRtt": 12,
                },
            },
            "response": {"status": status},
        },
        "scriptVersion": {"id": "3f1c9a52-7f51-4a8e-9d3a-1b2c3d4e5f60"},
    }
    return json.dumps(event), kind, service


def workload(events: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """``events`` messages (seeded, so every run sees the same workload)."""
    rng = random.Random(seed)
    return [message(i, rng) for i in range(events)]


def to_row(text: str, kind: str, service: str) -> LogRow:
    """What the stream does per message: parse, then normalise."""
    parsed = parse_tail_message(text)
    assert isinstance(parsed, TailEvent)
    return normalise_tail_event(parsed, kind=kind, service=service, now_ms=T0_MS)  # type: ignore[arg-type]


async def pipeline(messages: list[tuple[str, str, str]], path: Path) -> tuple[float, float]:
    """Wall and CPU seconds (both threads) from the first message to the last commit."""
    writer = StoreWriter(path, batch_size=BATCH, flush_interval_s=0.2)
    await writer.open()
    started = time.perf_counter()
    cpu_started = time.process_time()
    try:
        for i, (text, kind, service) in enumerate(messages):
            writer.add(to_row(text, kind, service))
            if i % BATCH == BATCH - 1:
                # Yield like the stream does between WebSocket messages, so the flusher runs.
                await asyncio.sleep(0)
        await writer.flush()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        await writer.aclose()
    if writer.written != len(messages):
        raise RuntimeError(f"wrote {writer.written} of {len(messages)} events")
    return elapsed, cpu


def stage_rates(messages: list[tuple[str, str, str]], path: Path) -> dict[str, float]:
    """Events per second of each stage alone."""
    started = time.perf_counter()
    parsed = [parse_tail_message(text) for text, _, _ in messages]
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    rows = [
        normalise_tail_event(p, kind=k, service=s, now_ms=T0_MS)  # type: ignore[arg-type]
        for p, (_, k, s) in zip(parsed, messages, strict=True)
        if isinstance(p, TailEvent)
    ]
    normalise_s = time.perf_counter() - started
    with LogStore(path) as store:
        started = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            store.add(rows[i : i + BATCH])
        store_s = time.perf_counter() - started
    n = len(messages)
    return {
        "parse_per_s": round(n / parse_s),
        "normalise_per_s": round(n / normalise_s),
        "store_per_s": round(n / store_s),
    }


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="messages per run")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (the median is kept)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    messages = workload(args.events)
    rates: list[float] = []
    cpu_us: list[float] = []
    sizes: list[int] = []
    stages: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            path = Path(tmp) / f"ingest-{run}.db"
            elapsed, cpu = asyncio.run(pipeline(messages, path))
            rates.append(len(messages) / elapsed)
            cpu_us.append(cpu / len(messages) * 1e6)
            sizes.append(path.stat().st_size)
        stages = stage_rates(messages, Path(tmp) / "stages.db")
    median = statistics.median(rates)
    result = {
        "events": args.events,
        "runs": [round(r) for r in rates],
        "events_per_s": round(median),
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "met": median >= TARGET_EVENTS_PER_S,
        "cpu_us_per_event": round(statistics.median(cpu_us), 1),
        "db_bytes_per_event": round(statistics.median(sizes) / args.events),
        **stages,
        "errors": 0,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
