"""The rule packs in config/rules load against the documented value names and behave."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerting.conditions import REASONS
from alerting.model import Observation, ProbeStatus
from alerting.rules import RuleSet, evaluate, load_rule_packs

ROOT = Path(__file__).resolve().parents[3]
PACKS = sorted((ROOT / "config" / "rules").glob("*.yaml"))
DOC = (ROOT / "docs" / "rules.md").read_text()


def doc_section(title: str) -> str:
    """The text of the ``## title`` section of docs/rules.md."""
    start = DOC.index(f"## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else len(DOC)]


def documented_values() -> dict[str, frozenset[str]]:
    """The value-name contract as docs/rules.md states it, per probe type."""
    common: set[str] = set()
    per_type: dict[str, set[str]] = {}
    for line in doc_section("Value names per probe type").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[1].startswith("`"):
            continue
        names = set(re.findall(r"`([a-z0-9_]+)`", cells[1].split("(")[0]))
        if cells[0] == "every type":
            common |= names
        else:
            per_type[cells[0].strip("`")] = names
    return {t: frozenset(v | common) for t, v in per_type.items()}


def documented_reasons() -> frozenset[str]:
    """The failure reasons as docs/rules.md lists them."""
    return frozenset(re.findall(r"^\| `([a-z_]+)` \|", doc_section("Failure reasons"), re.M))


def load_packs() -> RuleSet:
    """Every pack, loaded and checked against the documented value names."""
    documents = [(p.name, yaml.safe_load(p.read_text())) for p in PACKS]
    return load_rule_packs(documents, known_values=documented_values())


def test_documented_reasons_match_the_code() -> None:
    """docs/rules.md and alerting.conditions.REASONS name the same failure reasons."""
    assert REASONS == documented_reasons()


def test_the_contract_covers_every_probe_type() -> None:
    """The value table names every probe type flarewatch has."""
    expected = {"workers", "pages", "kv", "r2", "d1", "dns", "http", "api"}
    assert expected == set(documented_values())


def test_every_pack_loads() -> None:
    """All packs load together: conditions compile, return bools and read published values."""
    assert 16 == len(load_packs())


@pytest.mark.parametrize(
    ("pack", "expected"),
    [
        ("general.yaml", ["probe_down", "probe_unknown"]),
        (
            "workers.yaml",
            ["worker_error_ratio_warning", "worker_error_ratio_critical", "worker_cpu_near_limit"],
        ),
        ("pages.yaml", ["pages_deployment_failed"]),
        ("kv.yaml", ["kv_latency_high"]),
        ("r2.yaml", ["r2_quota_warning", "r2_quota_critical"]),
        ("d1.yaml", ["d1_unreachable", "d1_size_warning", "d1_size_critical"]),
        ("dns.yaml", ["dns_propagation_slow", "dns_change_propagating"]),
        ("api.yaml", ["api_budget_low", "api_token_invalid"]),
    ],
)
def test_each_service_has_its_pack(pack: str, expected: list[str]) -> None:
    """One file per service, holding the rules the issue asks for."""
    document = yaml.safe_load((ROOT / "config" / "rules" / pack).read_text())
    assert expected == [r["name"] for r in document["rules"]]


@pytest.mark.parametrize("path", PACKS, ids=lambda p: p.name)
def test_every_rule_explains_itself(path: Path) -> None:
    """Each pack rule has a description and a runbook link, not only a summary."""
    document: dict[str, list[dict[str, Any]]] = yaml.safe_load(path.read_text())
    lacking = [
        r["name"] for r in document["rules"] if not r.get("description") or not r.get("runbook_url")
    ]
    assert [] == lacking


def observation(
    probe_type: str,
    values: dict[str, float] | None = None,
    status: ProbeStatus = "ok",
    reason: str | None = None,
) -> Observation:
    """One probe of ``probe_type`` named after it."""
    return Observation(
        probe=f"{probe_type}-1",
        probe_type=probe_type,
        status=status,
        at=0.0,
        values=values or {},
        reason=reason,
    )


WORKER = {"requests": 1000.0, "errors": 30.0, "error_ratio": 0.03, "cpu_time_p50_ms": 2.0}


@pytest.mark.parametrize(
    ("obs", "active"),
    [
        (observation("kv", status="crit", reason="timeout"), {"probe_down"}),
        (observation("kv", status="unknown", reason="error"), {"probe_unknown"}),
        (
            observation("workers", WORKER | {"cpu_time_p99_ms": 5.0, "cpu_limit_ms": 50.0}),
            {"worker_error_ratio_warning"},
        ),
        (
            observation(
                "workers",
                WORKER | {"error_ratio": 0.07, "cpu_time_p99_ms": 45.0, "cpu_limit_ms": 50.0},
            ),
            {"worker_error_ratio_warning", "worker_error_ratio_critical", "worker_cpu_near_limit"},
        ),
        (
            observation(
                "workers",
                WORKER
                | {
                    "requests": 20.0,
                    "error_ratio": 0.5,
                    "cpu_time_p99_ms": 1.0,
                    "cpu_limit_ms": 0.0,
                },
            ),
            set(),
        ),
        (
            observation("pages", {"deployment_failed": 1.0, "deployment_age_s": 60.0}),
            {"pages_deployment_failed"},
        ),
        (observation("kv", {"latency_p99_ms": 250.0}), {"kv_latency_high"}),
        (observation("kv", {"latency_p99_ms": 200.0}), set()),
        (observation("r2", {"bytes_used": 8.5e9, "quota_bytes": 10e9}), {"r2_quota_warning"}),
        (
            observation("r2", {"bytes_used": 9.6e9, "quota_bytes": 10e9}),
            {"r2_quota_warning", "r2_quota_critical"},
        ),
        (observation("r2", {"bytes_used": 1.0, "quota_bytes": 0.0}), set()),
        (
            observation("d1", {"attempts": 3.0}, status="crit", reason="unreachable"),
            {"probe_down", "d1_unreachable"},
        ),
        (observation("d1", {"size_bytes": 4.2e8, "size_limit_bytes": 5e8}), {"d1_size_warning"}),
        (
            observation("d1", {"size_bytes": 4.9e8, "size_limit_bytes": 5e8}),
            {"d1_size_warning", "d1_size_critical"},
        ),
        (observation("dns", {"propagation_ratio": 0.75}), {"dns_propagation_slow"}),
        (observation("dns", {"propagation_ratio": 1.0}), set()),
        (
            observation("dns", {"propagation_ratio": 0.75, "propagating": 1.0}),
            {"dns_propagation_slow", "dns_change_propagating"},
        ),
        (observation("api", {"budget_remaining_ratio": 0.05}), {"api_budget_low"}),
        (
            observation("api", {"budget_remaining_ratio": 0.9}, status="crit", reason="auth"),
            {"probe_down", "api_token_invalid"},
        ),
    ],
)
def test_pack_rules_fire_on_what_they_describe(obs: Observation, active: set[str]) -> None:
    """Each pack rule holds for the situation it is about and not for a healthy probe."""
    verdicts = evaluate(load_packs(), [obs])
    assert active == {v.rule for v in verdicts if v.active}


def test_pack_descriptions_show_the_numbers() -> None:
    """The rendered description of a firing pack rule carries the figures that matter."""
    obs = observation("r2", {"bytes_used": 9.6e9, "quota_bytes": 10e9, "objects": 120_000.0})
    verdicts = evaluate(load_packs(), [obs])
    critical = next(v for v in verdicts if v.rule == "r2_quota_critical")
    expected = "Bucket r2-1 holds 9.6 GB in 120,000 objects, over 95 % of its 10.0 GB quota."
    assert expected == critical.annotations["description"]


def test_propagation_notice_says_how_far_the_change_has_spread() -> None:
    """Req 2.8's notice: resolvers updated out of all, and the time since the change."""
    values = {
        "propagating": 1.0,
        "propagation_ratio": 0.375,
        "resolvers": 8.0,
        "resolvers_current": 3.0,
        "nameservers": 2.0,
        "nameservers_current": 2.0,
        "propagation_age_s": 45.0,
    }
    verdicts = evaluate(load_packs(), [observation("dns", values)])
    notice = next(v for v in verdicts if v.rule == "dns_change_propagating")
    assert "DNS dns-1: 3/8 resolvers updated, 45 s since change" == notice.annotations["summary"]
