"""The Prometheus export against the real tools: the CLI, promtool's check and unit tests, and
a cross-check of the translated PromQL against flarewatch's own CEL evaluation.

promtool (Debian's ``prometheus`` package) is required: a missing binary fails these tests.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerting.model import Observation
from alerting.promql import translate_rule
from alerting.rules import evaluate, load_rules
from monitor.cli_rules import exports_of, render
from probes.registry import builtin_registry

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "flarewatch.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "rules" / "tests" / "flarewatch.rules.test.yml"
EXAMPLE = ROOT / "config" / "example.yaml"
ACCOUNT = "0123456789abcdef0123456789abcdef"
TOKEN = "cf-secret-token-0123456789abcdefghijklmn"


def promtool() -> str:
    """promtool's path; the test fails (CI installs the prometheus package) when missing."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is not installed: install Debian's prometheus package")
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """``promtool ARGS`` with its output captured."""
    return subprocess.run(  # noqa: S603 - promtool with our own files
        [promtool(), *args], capture_output=True, text=True, timeout=120, check=False
    )


def export(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``flarewatch rules export ARGS`` in a fresh process, from the repository root."""
    ours = ("CLOUDFLARE_", "FLAREWATCH_", "CREDENTIALS_DIRECTORY")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "monitor", "rules", "export", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def example_env(credentials: Path) -> dict[str, str]:
    """What production gives config/example.yaml: secrets as files, the account id."""
    (credentials / "cloudflare-api-token").write_text(TOKEN + "\n")
    (credentials / "flarewatch-admin-token").write_text("admin-0123456789abcdef0123456789\n")
    (credentials / "slack-webhook-url").write_text("https://hooks.slack.com/services/T0/B0/x\n")
    (credentials / "pagerduty-routing-key").write_text("R0UT1NGk3yR0UT1NGk3yR0UT1NGk3y00\n")
    return {"CREDENTIALS_DIRECTORY": str(credentials), "CLOUDFLARE_ACCOUNT_ID": ACCOUNT}


def test_the_checked_in_rules_are_what_the_export_writes(tmp_path: Path) -> None:
    """deploy/prometheus/rules/flarewatch.rules.yml never goes stale: regenerating it from
    config/example.yaml gives the same bytes, with every default rule and --strict passing."""
    out = tmp_path / "rules.yml"
    done = export(
        "-c",
        "config/example.yaml",
        "--format",
        "prometheus",
        "--strict",
        "-o",
        str(out),
        env=example_env(tmp_path),
    )
    assert 0 == done.returncode, done.stderr
    assert RULES.read_bytes() == out.read_bytes(), (
        "regenerate: flarewatch rules export -c config/example.yaml --format prometheus "
        "-o deploy/prometheus/rules/flarewatch.rules.yml"
    )
    document = yaml.safe_load(out.read_text())
    exported = {r["alert"] for g in document["groups"] for r in g["rules"]}
    assert 16 == len(exported)


def test_promtool_accepts_the_exported_rules() -> None:
    """`promtool check rules` is what Prometheus runs on load: a refused file loads nothing."""
    done = run_promtool("check", "rules", str(RULES))
    assert 0 == done.returncode, done.stdout + done.stderr
    assert "SUCCESS: 16 rules found" in done.stdout


def test_the_promtool_unit_tests_of_the_rules_pass() -> None:
    """for, keep_firing_for, a scaled threshold, a reason, select by type and a ratio behave
    in Prometheus as flarewatch's rules do, annotations rendered included."""
    done = run_promtool("test", "rules", str(RULE_TESTS))
    assert 0 == done.returncode, done.stdout + done.stderr


def test_an_untranslatable_rule_is_skipped_with_a_comment_and_a_warning(tmp_path: Path) -> None:
    """A rule reading a counter-only value is left out, named in the file and on stderr;
    the export still succeeds without --strict and fails with it."""
    config = tmp_path / "flarewatch.yaml"
    config.write_text(
        f"""\
cloudflare: {{account_id: "{ACCOUNT}", api_token: "{TOKEN}"}}
probes:
  - {{name: db, type: d1, database: spacevision-db}}
alerting:
  rules:
    - {{name: db_down, condition: 'status == "crit"', severity: critical, summary: down}}
    - name: db_retrying
      select: {{types: [d1]}}
      condition: values.attempts > 2.0
      severity: warning
      summary: retrying
"""
    )
    done = export("-c", str(config), "--format", "prometheus")
    assert 0 == done.returncode, done.stderr
    assert "rule db_retrying skipped: values.attempts of probe type 'd1'" in done.stderr
    assert "# skipped db_retrying: values.attempts" in done.stdout
    assert "alert: db_down" in done.stdout
    assert 1 == export("-c", str(config), "--format", "prometheus", "--strict").returncode


def test_rules_are_grouped_by_their_pack_and_inline_rules_last(tmp_path: Path) -> None:
    """One group per rule pack, named after the pack, in rule_files order and each pack's own
    rule order; the configuration's inline rules in ``flarewatch.config`` after them."""
    (tmp_path / "b.yaml").write_text(
        "rules:\n"
        "  - {name: b_two, condition: 'status == \"crit\"', severity: critical, summary: x}\n"
        "  - {name: b_one, condition: 'status == \"warn\"', severity: warning, summary: x}\n"
    )
    (tmp_path / "a.yaml").write_text(
        "rules:\n"
        "  - {name: a_one, condition: 'status == \"unknown\"', severity: info, summary: x}\n"
    )
    config = tmp_path / "flarewatch.yaml"
    config.write_text(
        f"""\
cloudflare: {{account_id: "{ACCOUNT}", api_token: "{TOKEN}"}}
probes:
  - {{name: db, type: d1, database: spacevision-db}}
alerting:
  rule_files: [b.yaml, a.yaml]
  rules:
    - {{name: inline_one, condition: 'reason == "auth"', severity: critical, summary: x}}
"""
    )
    done = export("-c", str(config), "--format", "prometheus", "--strict")
    assert 0 == done.returncode, done.stderr
    groups = [
        (g["name"], [r["alert"] for r in g["rules"]]) for g in yaml.safe_load(done.stdout)["groups"]
    ]
    assert [
        ("flarewatch.b", ["b_two", "b_one"]),
        ("flarewatch.a", ["a_one"]),
        ("flarewatch.config", ["inline_one"]),
    ] == groups


def test_a_bad_config_exits_2_with_the_problem(tmp_path: Path) -> None:
    """Bad input is a clear message and exit code 2, never a traceback."""
    missing = export("-c", str(tmp_path / "nope.yaml"), "--format", "prometheus")
    assert 2 == missing.returncode
    assert "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    wrong = export("-c", str(tmp_path / "nope.yaml"), "--format", "nagios")
    assert 2 == wrong.returncode


# --- cross-check: PromQL against flarewatch's CEL on random observations --------------------

CHECKED: list[tuple[str | None, str]] = [
    ("kv", "values.latency_p99_ms > 200.0"),
    ("kv", "!(values.latency_p99_ms > 200.0) && values.operations >= 100.0"),
    ("kv", 'labels.env == "prod" && values.latency_p99_ms - values.latency_p50_ms > 60.0'),
    ("kv", 'labels.env != "prod" || reason == null'),
    ("r2", "values.quota_bytes > 0.0 && values.bytes_used / values.quota_bytes >= 0.8"),
    ("workers", "values.cpu_limit_ms > 0.0 && values.cpu_time_p99_ms >= 0.8 * values.cpu_limit_ms"),
    ("workers", 'values.error_ratio > 0.05 || status == "crit"'),
    ("workers", "values.error_ratio > 0.02 && values.requests >= 100.0"),
    ("d1", 'reason == "unreachable" || reason == "timeout"'),
    ("d1", 'reason != "unreachable"'),
    ("d1", 'status in ["warn", "crit"] && !(reason == "auth")'),
    ("dns", "values.propagation_ratio != 1.0"),
    ("dns", "has(values.propagating) && values.propagating == 1.0"),
    ("dns", "!(values.propagation_ratio < 1.0 || values.resolvers >= 100.0)"),
    (None, 'status == "crit" && values.duration_ms > 500.0'),
    (None, 'type == "kv" || probe.startsWith("workers-1")'),
]
POOL = (0.0, 0.02, 0.05, 0.5, 0.8, 0.95, 1.0, 45.0, 100.0, 200.0, 250.0, 1e9)
STATUSES = ("ok", "warn", "crit", "unknown")
REASONS = (None, None, "unreachable", "timeout", "auth", "capacity")


def observations(rng: random.Random, per_type: int) -> list[Observation]:
    """Random results of probes of five types: statuses, reasons, labels and values (each
    present or not) drawn near the thresholds above."""
    registry = builtin_registry()
    found: list[Observation] = []
    for type_name in ("kv", "r2", "workers", "d1", "dns"):
        gauges = [v for v, s in registry[type_name].metrics.items() if s.kind == "gauge"]
        for i in range(per_type):
            values = {v: rng.choice(POOL) for v in gauges if rng.random() < 0.8}
            if type_name == "workers" and "cpu_limit_ms" in values:
                values["cpu_limit_ms"] = 50.0
            values["duration_ms"] = rng.choice((100.0, 600.0))
            env = rng.choice((None, "prod", "staging"))
            found.append(
                Observation(
                    probe=f"{type_name}-{i}",
                    probe_type=type_name,
                    status=rng.choice(STATUSES),  # type: ignore[arg-type]
                    at=0.0,
                    values=values,
                    labels={} if env is None else {"env": env},
                    reason=rng.choice(REASONS),
                )
            )
    return found


def series_of(obs: Observation) -> list[dict[str, str]]:
    """What the daemon's /metrics would show for ``obs`` (one sample each)."""
    registry = builtin_registry()
    pl = f'probe="{obs.probe}", type="{obs.probe_type}"'
    labels = "".join(f', {k}="{v}"' for k, v in obs.labels.items())
    rows = [
        (
            f'flarewatch_probe_info{{probe="{obs.probe}", probe_type="{obs.probe_type}"{labels}}}',
            1.0,
        ),
        (f"flarewatch_probe_success{{{pl}}}", 1.0 if obs.status in ("ok", "warn") else 0.0),
        *(
            (f'flarewatch_probe_status{{{pl}, status="{s}"}}', 1.0 if s == obs.status else 0.0)
            for s in STATUSES
        ),
        (
            f"flarewatch_probe_last_run_duration_seconds{{{pl}}}",
            obs.values["duration_ms"] * 0.001,
        ),
    ]
    if obs.reason is not None:
        rows.append((f'flarewatch_probe_failure_reason{{{pl}, reason="{obs.reason}"}}', 1.0))
    for value, spec in registry[obs.probe_type].metrics.items():
        if value in obs.values and spec.kind == "gauge":
            constant = "".join(f', {k}="{v}"' for k, v in sorted(spec.labels.items()))
            name = f'flarewatch_{spec.name}{{probe="{obs.probe}"{constant}}}'
            rows.append((name, obs.values[value] * spec.scale))
    return [{"series": name, "values": repr(value)} for name, value in rows]


def test_the_promql_decides_as_flarewatch_does_on_random_observations(tmp_path: Path) -> None:
    """For 200 random probe results and 16 conditions (every construct the export
    translates), the probes Prometheus alerts on are exactly those flarewatch's CEL finds
    active: promtool evaluates the exported rules on the same data as series."""
    rng = random.Random(20261127)
    raw: list[dict[str, Any]] = [
        {
            "name": f"check_{i}",
            "condition": condition,
            "severity": "warning",
            "summary": "s",
            **({"select": {"types": [t]}} if t else {}),
        }
        for i, (t, condition) in enumerate(CHECKED)
    ]
    registry = builtin_registry()
    rules = load_rules(raw, known_values=registry.values_by_type())
    seen = observations(rng, per_type=40)
    active: dict[str, list[Observation]] = {r["name"]: [] for r in raw}
    by_probe = {o.probe: o for o in seen}
    for verdict in evaluate(rules, seen):
        if verdict.active:
            active[verdict.rule].append(by_probe[verdict.labels["probe"]])
    assert sum(map(len, active.values())) > 200  # the draw exercises the conditions
    exports = exports_of(registry)
    for compiled in rules:  # everything here translates
        translate_rule(compiled.rule, exports)
    text = render([("cross_check", [c.rule for c in rules])], exports, source="test").text
    (tmp_path / "rules.yml").write_text(text)
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [s for o in seen for s in series_of(o)],
                "alert_rule_test": [
                    {
                        "eval_time": "0m",
                        "alertname": name,
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "probe": o.probe,
                                    "probe_type": o.probe_type,
                                    **o.labels,
                                },
                                "exp_annotations": {"summary": "s"},
                            }
                            for o in found
                        ],
                    }
                    for name, found in active.items()
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    done = run_promtool("test", "rules", str(tmp_path / "test.yml"))
    assert 0 == done.returncode, done.stdout[-6000:] + done.stderr
