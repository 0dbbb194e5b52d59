"""Rule evaluation per round: 1,000 probes x 21 rules, target < 20 ms on the 2-vCPU VM.

Workload (stated, not tuned to the result):

- 1,000 probes of six types: 300 ``workers``, 150 each of ``kv``, ``r2``, ``d1`` and
  ``dns``, 100 ``pages``; each with three labels (``env``, ``team``, ``zone``) and the values
  its type publishes (docs/rules.md), 3 to 7 numbers, drawn at random (seeded) so that a few
  per cent of conditions hold.
- 21 rules: the 16 of ``config/rules/*.yaml`` plus 5 a user would add (a stricter
  error ratio for ``env="prod"`` Workers, KV latency critical, DNS propagation stuck, a slow
  probe rule over every probe, stale Pages deployments). Three rules select every probe, the
  rest select by type (one also by label), so a probe meets 5.8 rules on average: 5,821
  (rule, probe) pairs a round (5,671 with the 15 pack rules of the first figures).
- Scenarios: ``cold`` (a fresh cache: the first round after a start or reload), ``steady``
  at 10 % and 25 % of observations changed since the last round, the rest unchanged apart
  from their time (25 %: probes every 60 s, a round every 15 s, every run changing its
  values), ``all-changed`` (a warm cache that never hits), and two worst cases where every
  rule selects every probe (21,000 pairs a round, cold): ``worst`` starts from every probe
  publishing every value, but its timed rounds re-measure each probe with its own type's
  values, so most conditions name values the probe lacks (as when broad rules meet probes
  of other types); ``worst-full`` keeps every value in every round, so every condition
  runs and decides.

Each scenario runs ``--rounds`` timed rounds after two untimed ones; the figures are the
median and the slowest round, wall time of what :func:`alerting.engine.evaluate_round` asks
of the rules: :func:`alerting.rules.evaluate` and building the verdicts the lifecycle can use
(``Verdicts.relevant``, with an alert watched for every (rule, probe) whose condition held
the round before). Each round's observations are made just before its call, outside the
timing; garbage collector on, with what was loaded before the scenarios frozen
(``gc.freeze()``), as the daemon freezes its start-up heap. ``built`` is how many verdicts
a round built.
Recorded figures and where the time goes: docs/rules.md, "Evaluation cost".

    .venv/bin/python benchmarks/rule_evaluation.py [--rounds N] [--probes N] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerting.model import Observation
from alerting.rules import EvaluationCache, RuleSet, evaluate, load_rules

TARGET_MS = 20.0
PACKS = Path(__file__).resolve().parent.parent / "config" / "rules"
MIX = {"workers": 0.30, "kv": 0.15, "r2": 0.15, "d1": 0.15, "dns": 0.15, "pages": 0.10}

EXTRA_RULES: list[dict[str, Any]] = [
    {
        "name": "worker_error_ratio_prod",
        "select": {"types": ["workers"], "labels": ['env="prod"']},
        "condition": "values.error_ratio > 0.01 && values.requests >= 1000.0",
        "for": "10m",
        "severity": "warning",
        "summary": "Worker $probe (prod): ${values.error_ratio:.2%} errors",
    },
    {
        "name": "kv_latency_critical",
        "select": {"types": ["kv"]},
        "condition": "values.latency_p99_ms > 500.0",
        "for": "5m",
        "severity": "critical",
        "summary": "KV $probe: p99 ${values.latency_p99_ms:.0f} ms",
    },
    {
        "name": "dns_propagation_stuck",
        "select": {"types": ["dns"]},
        "condition": "values.propagation_ratio < 0.5",
        "for": "30m",
        "severity": "critical",
        "summary": "DNS $probe: ${values.propagation_ratio:.0%} propagated",
    },
    {
        "name": "probe_slow",
        "condition": "values.duration_ms > 5000.0",
        "for": "5m",
        "severity": "info",
        "summary": "$probe took ${values.duration_ms:.0f} ms",
    },
    {
        "name": "pages_deployment_stale",
        "select": {"types": ["pages"]},
        "condition": "values.deployment_age_s > 2592000.0",
        "severity": "info",
        "summary": "Pages $probe: last deployment ${values.deployment_age_s:.0f} s ago",
    },
]


def pack_rules() -> list[dict[str, Any]]:
    """The rules of every pack in ``config/rules``, as parsed from YAML."""
    rules: list[dict[str, Any]] = []
    for path in sorted(PACKS.glob("*.yaml")):
        rules.extend(yaml.safe_load(path.read_text())["rules"])
    return rules


def values_for(probe_type: str, rng: random.Random) -> dict[str, float]:
    """Plausible values for one probe of ``probe_type``: mostly healthy, a few not."""
    values = {"duration_ms": rng.uniform(50.0, 800.0) if rng.random() > 0.01 else 6000.0}
    if probe_type == "workers":
        requests = float(rng.randint(0, 50_000))
        ratio = rng.choice([0.0, 0.001, 0.004, 0.01, 0.03, 0.07]) if requests else 0.0
        limit = rng.choice([10.0, 50.0, 30_000.0])
        values |= {
            "requests": requests,
            "errors": round(requests * ratio),
            "error_ratio": ratio,
            "cpu_time_p50_ms": limit * rng.uniform(0.01, 0.2),
            "cpu_time_p99_ms": limit * rng.uniform(0.1, 0.9),
            "cpu_limit_ms": limit,
        }
    elif probe_type == "kv":
        p99 = rng.uniform(5.0, 260.0)
        values |= {
            "latency_p50_ms": p99 / 5,
            "latency_p99_ms": p99,
            "operations": float(rng.randint(0, 100_000)),
        }
    elif probe_type == "r2":
        quota = 10e9
        values |= {
            "bytes_used": quota * rng.uniform(0.0, 0.97),
            "quota_bytes": quota,
            "objects": float(rng.randint(0, 1_000_000)),
        }
    elif probe_type == "d1":
        limit = rng.choice([500e6, 10e9])
        values |= {
            "size_bytes": limit * rng.uniform(0.0, 0.97),
            "size_limit_bytes": limit,
            "attempts": 1.0,
            "rows_read": float(rng.randint(0, 10_000_000)),
        }
    elif probe_type == "dns":
        resolvers = 8.0
        current = float(rng.choice([8, 8, 8, 8, 7, 3]))
        values |= {
            "propagation_ratio": current / resolvers,
            "resolvers": resolvers,
            "resolvers_current": current,
        }
    else:
        values |= {
            "deployment_failed": 1.0 if rng.random() < 0.02 else 0.0,
            "deployment_age_s": rng.uniform(60.0, 4e6),
        }
    return values


def observations(count: int, rng: random.Random, at: float) -> list[Observation]:
    """``count`` observations in the type mix, three labels each."""
    types = [t for t, share in MIX.items() for _ in range(round(share * count))][:count]
    while len(types) < count:
        types.append("workers")
    result = []
    for i, probe_type in enumerate(types):
        status = rng.choices(["ok", "warn", "crit", "unknown"], weights=[94, 3, 2, 1])[0]
        result.append(
            Observation(
                probe=f"{probe_type}-{i:04d}",
                probe_type=probe_type,
                status=status,  # type: ignore[arg-type]
                at=at,
                values=values_for(probe_type, rng),
                labels={
                    "env": rng.choice(["prod", "prod", "staging"]),
                    "team": rng.choice(["web", "data", "platform"]),
                    "zone": f"zone{i % 20}.example",
                },
                reason=None if status == "ok" else rng.choice(["timeout", "http_status", "auth"]),
            )
        )
    return result


def next_round(
    previous: list[Observation],
    changed: float,
    rng: random.Random,
    at: float,
    base: dict[str, float] | None = None,
) -> list[Observation]:
    """The next round: a share ``changed`` re-measured (over ``base`` values, if given), the
    rest the same but for the time."""
    out = []
    for obs in previous:
        if rng.random() < changed:
            values = (base or {}) | values_for(obs.probe_type, rng)
            out.append(replace(obs, at=at, values=values))
        else:
            out.append(replace(obs, at=at))
    return out


def timed(
    rules: RuleSet, rounds: Iterator[list[Observation]], count: int, *, warm: bool
) -> tuple[list[float], int, int]:
    """Milliseconds per round over ``count`` rounds after two untimed ones, the verdicts a
    round holds and the verdicts the last round built.

    Each round's observations are made just before its call (outside the timing), so the
    heap holds what a daemon's would: one round of observations and the cache.
    """
    cache = EvaluationCache()
    times: list[float] = []
    verdicts = built = 0
    watched: set[tuple[str, str | None]] = set()
    for k in range(count + 2):
        batch = next(rounds)
        memo = cache if warm else EvaluationCache()
        started = time.perf_counter()
        result = evaluate(rules, batch, memo)
        relevant = result.relevant(watched)
        elapsed = (time.perf_counter() - started) * 1000.0
        verdicts, built = len(result), len(relevant)
        watched = {(v.rule, v.labels["probe"]) for v in relevant if v.active}
        if k >= 2:
            times.append(elapsed)
    return times, verdicts, built


def rounds_of(
    first: list[Observation],
    changed: float,
    rng: random.Random,
    base: dict[str, float] | None = None,
) -> Iterator[list[Observation]]:
    """An endless sequence of rounds 15 s apart, ``changed`` of each re-measured."""
    batch = first
    k = 0
    while True:
        yield batch
        k += 1
        batch = next_round(batch, changed, rng, at=15.0 * k, base=base)


def main() -> None:
    """Run every scenario and print a table (or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    raw_rules = pack_rules() + EXTRA_RULES
    rules = load_rules(raw_rules)
    everywhere = load_rules([{k: v for k, v in r.items() if k != "select"} for r in raw_rules])
    # As the daemon does once its configuration is loaded (monitor.daemon.settle_startup_heap):
    # what lives as long as the process stays out of the collector's full passes.
    gc.freeze()

    first = observations(args.probes, rng, at=0.0)
    every_value = {k: v for obs in first for k, v in obs.values.items()}
    worst_first = [replace(o, values=every_value | dict(o.values)) for o in first]
    scenarios: list[tuple[str, RuleSet, Iterator[list[Observation]], bool]] = [
        ("cold", rules, rounds_of(first, 1.0, rng), False),
        ("steady-10%", rules, rounds_of(first, 0.10, rng), True),
        ("steady-25%", rules, rounds_of(first, 0.25, rng), True),
        ("all-changed", rules, rounds_of(first, 1.0, rng), True),
        ("worst", everywhere, rounds_of(worst_first, 1.0, rng), False),
        ("worst-full", everywhere, rounds_of(worst_first, 1.0, rng, every_value), False),
    ]
    results: dict[str, dict[str, float]] = {}
    for name, rule_set, rounds, warm in scenarios:
        times, verdicts, built = timed(rule_set, rounds, args.rounds, warm=warm)
        results[name] = {
            "median_ms": round(statistics.median(times), 2),
            "max_ms": round(max(times), 2),
            "verdicts": verdicts,
            "built": built,
            "us_per_verdict": round(statistics.median(times) * 1000.0 / max(verdicts, 1), 2),
            "rules": len(rule_set),
        }
    summary = {
        "probes": args.probes,
        "rounds": args.rounds,
        "target_ms": TARGET_MS,
        "scenarios": results,
        "cold_ms": results["cold"]["median_ms"],
        "steady_ms": results["steady-25%"]["median_ms"],
        "worst_ms": results["worst"]["median_ms"],
        "worst_full_ms": results["worst-full"]["median_ms"],
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"{args.probes} probes, {args.rounds} timed rounds each; target {TARGET_MS} ms/round")
    header = ("scenario", "rules", "verdicts", "built", "median ms", "max ms", "us/verdict")
    widths = (-12, 5, 8, 6, 10, 8, 10)
    print(
        " ".join(
            f"{h:<{-w}}" if w < 0 else f"{h:>{w}}" for h, w in zip(header, widths, strict=True)
        )
    )
    for name, row in results.items():
        print(
            f"{name:<12} {row['rules']:>5} {row['verdicts']:>8} {row['built']:>6}"
            f" {row['median_ms']:>10.2f}"
            f" {row['max_ms']:>8.2f} {row['us_per_verdict']:>10.2f}"
        )


if __name__ == "__main__":
    main()
