"""How long the simulator takes to answer a month of GraphQL analytics grouped by minute.

The query a dashboard sends for a 31-day chart: ``workersInvocationsAdaptive`` grouped by
``scriptName`` and ``datetimeMinute`` over the whole retention window, with CPU quantiles,
``limit: 10000``, newest first. The account has ``--subjects`` Workers with steady background
traffic (``--rps`` each, 1 % errors) and ``--samples`` served requests spread over the month,
recorded through :class:`cfsim.analytics.Analytics` (so the per-minute index is used). The
query runs in-process (no HTTP), ``--runs`` times; the figures are wall time per query.

    .venv/bin/python benchmarks/graphql_minutes.py [--subjects 5] [--rps 50] [--samples 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from cfsim.analytics import Analytics, BackgroundTraffic, Sample
from cfsim.graphql_engine import AnalyticsSnapshot, run_query
from cfsim.graphql_model import RETENTION_S, format_time

NOW = 1_795_000_000.0
QUERY = """query($a: string!, $s: Time!, $e: Time!) { viewer { accounts(filter: {accountTag: $a}) {
  workersInvocationsAdaptive(limit: 10000, filter: {datetime_geq: $s, datetime_lt: $e},
                             orderBy: [datetimeMinute_DESC]) {
    dimensions { scriptName datetimeMinute } sum { requests errors }
    quantiles { cpuTimeP50 cpuTimeP99 } } } } }"""


def build(subjects: int, rps: float, samples: int) -> AnalyticsSnapshot:
    """The account's analytics: background Workers plus served requests over the month."""
    analytics = Analytics(maxlen=max(samples, 1))
    step = (RETENTION_S - 120) / max(samples, 1)
    for i in range(samples):
        ts = NOW - RETENTION_S + 60 + i * step
        analytics.record(Sample(ts=ts, kind="workers", subject="api", cpu_ms=2.0, duration_ms=5.0))
    background = tuple(
        BackgroundTraffic("workers", f"worker-{i}", rps=rps, error_ratio=0.01)
        for i in range(subjects)
    )
    return AnalyticsSnapshot(
        now=NOW,
        account_id="a" * 32,
        zone_ids=frozenset(),
        index=analytics.index,
        background=background,
    )


def main() -> None:
    """Run the query ``--runs`` times and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=5)
    parser.add_argument("--rps", type=float, default=50.0)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    snap = build(args.subjects, args.rps, args.samples)
    variables = {"a": "a" * 32, "s": format_time(NOW - RETENTION_S + 60), "e": format_time(NOW)}
    body = {"query": QUERY, "variables": variables}
    times = []
    rows = 0
    for _ in range(args.runs):
        started = time.perf_counter()
        status, answer = run_query(snap, body)
        times.append(time.perf_counter() - started)
        if status != 200:
            raise SystemExit(f"query failed: {answer}")
        rows = len(answer["data"]["viewer"]["accounts"][0]["workersInvocationsAdaptive"])
    result = {
        "subjects": args.subjects,
        "rps": args.rps,
        "samples": args.samples,
        "rows": rows,
        "min_s": round(min(times), 3),
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"31 days by minute, {args.subjects} busy Workers + {args.samples} samples: "
            f"{rows} rows, min {result['min_s']} s, median {result['median_s']} s, "
            f"max {result['max_s']} s over {args.runs} runs"
        )


if __name__ == "__main__":
    main()
