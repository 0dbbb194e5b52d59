"""The probe framework: units, statuses, reasons, the registry and the analytics query."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import pytest
from pydantic import ValidationError

from alerting.conditions import REASONS
from probes.analytics import DATASETS, build_query, flatten_rows
from probes.base import (
    MetricSpec,
    Probe,
    ProbeContext,
    ProbeResult,
    ProbeSettings,
    Reason,
    Status,
    worst,
)
from probes.registry import BUILTIN, Registry, RegistryError, builtin_registry, default_registry
from probes.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("2m", 120.0),
        ("1m30s", 90.0),
        ("250ms", 0.25),
        ("1h", 3600.0),
        ("1d", 86400.0),
        (5, 5.0),
        (0.5, 0.5),
        (" 10S ", 10.0),
    ],
)
def test_durations_parse_as_users_write_them(text: object, seconds: float) -> None:
    """Every duration form the docs show becomes seconds."""
    assert seconds == parse_duration(text)


@pytest.mark.parametrize("text", ["30 seconds", "", "s", "10x", "-5", "1m 30s", True, -1, [1]])
def test_bad_durations_say_how_to_write_one(text: object) -> None:
    """A bad duration is refused with a hint naming the units."""
    with pytest.raises(ValueError, match=r"ms, s, m, h, d|negative|boolean|expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10GB", 10**10),
        ("512MiB", 512 * 2**20),
        ("1.5 kb", 1500),
        ("100", 100),
        (42, 42),
        ("3B", 3),
    ],
)
def test_sizes_parse_in_si_and_binary_units(text: object, size: int) -> None:
    """Quotas are written in SI or binary units and become bytes."""
    assert size == parse_size(text)


@pytest.mark.parametrize("text", ["ten GB", "10 XB", "", -3, False])
def test_bad_sizes_are_refused(text: object) -> None:
    """A bad size is refused with the accepted units in the message."""
    with pytest.raises(ValueError, match=r"KB|negative|boolean"):
        parse_size(text)


def test_worst_status_ranks_unknown_above_crit() -> None:
    """An unknown result (the probe itself failed) outranks every real status."""
    assert Status.UNKNOWN == worst(Status.OK, Status.CRIT, Status.UNKNOWN)
    assert Status.CRIT == worst(Status.WARN, Status.CRIT)
    assert Status.OK == worst()


def test_probe_reasons_are_the_alert_engines_reasons() -> None:
    """Probes and rules agree on the fixed set of failure reasons (docs/rules.md)."""
    assert REASONS == {r.value for r in Reason}


def test_failed_result_carries_reason_and_values() -> None:
    """The shorthand for a failed run keeps its reason, message and values."""
    result = ProbeResult.failed(Reason.TIMEOUT, "no answer in 10 s", attempts=3)
    assert (Status.CRIT, Reason.TIMEOUT, {"attempts": 3}) == (
        result.status,
        result.reason,
        dict(result.values),
    )


def test_settings_reject_unknown_keys_and_bad_names() -> None:
    """A misspelt key or a name unfit for a metric label is an error, not a default."""
    with pytest.raises(ValidationError):
        ProbeSettings(name="ok", type="x", intervall="30s")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ProbeSettings(name="Has Spaces", type="x")
    assert 90.0 == ProbeSettings(name="web", type="x", interval="1m30s").interval  # type: ignore[arg-type]


class _Settings(ProbeSettings):
    target: str = "x"


class _GoodProbe(Probe[_Settings]):
    type_name: ClassVar[str] = "good"
    service: ClassVar[str] = "test"
    settings_model: ClassVar[type[ProbeSettings]] = _Settings
    values: ClassVar[frozenset[str]] = frozenset({"latency_ms"})
    metrics: ClassVar[Mapping[str, MetricSpec]] = {
        "latency_ms": MetricSpec("good_latency_seconds", "Latency.", scale=0.001)
    }

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        return ProbeResult(Status.OK)


class _UndeclaredMetricProbe(_GoodProbe):
    type_name: ClassVar[str] = "bad"
    metrics: ClassVar[Mapping[str, MetricSpec]] = {"nope": MetricSpec("bad_nope", "Undeclared.")}


def test_registry_refuses_a_name_that_differs_from_type_name() -> None:
    """A plugin registered under another name than its type_name would never be found."""
    with pytest.raises(RegistryError, match="type_name"):
        Registry({"other": _GoodProbe})


def test_registry_refuses_metrics_for_undeclared_values() -> None:
    """A metric mapping must name a value the probe declares, or rules and metrics drift."""
    with pytest.raises(RegistryError, match="undeclared"):
        Registry({"bad": _UndeclaredMetricProbe})


def test_registry_adds_duration_to_every_types_values() -> None:
    """The runner publishes duration_ms for every type, so rules may read it everywhere."""
    values = Registry({"good": _GoodProbe}).values_by_type()
    assert {"good": frozenset({"latency_ms", "duration_ms"})} == values


def test_plugin_cannot_replace_a_builtin_type() -> None:
    """A third-party entry point claiming 'workers' is an error naming both."""
    with pytest.raises(RegistryError, match="already provides"):
        default_registry(extra=[("workers", "tests.unit.probes.test_framework:_GoodProbe")])


def test_plugin_that_cannot_load_is_named() -> None:
    """A broken plugin's error names the plugin and its target."""
    with pytest.raises(RegistryError, match="'ghost'"):
        default_registry(extra=[("ghost", "no_such_module:Probe")])


def test_plugin_adds_a_type() -> None:
    """An entry point adds a new probe type next to the built-in ones."""
    registry = default_registry(extra=[("good", "tests.unit.probes.test_framework:_GoodProbe")])
    assert {"good", *BUILTIN} == set(registry.names())


def test_one_query_fetches_every_wanted_dataset() -> None:
    """The hub's document asks each dataset once, under its short name as alias."""
    query = build_query(["workers", "r2_storage"])
    assert 1 == query.count("workers: workersInvocationsAdaptive(")
    assert 1 == query.count("r2_storage: r2StorageAdaptiveGroups(")
    assert "$storageSince" in query.split("r2_storage:")[1]
    assert "datetime_DESC" not in query.split("r2_storage:")[0]


def test_every_dataset_selects_its_key() -> None:
    """Rows can only be keyed if the key dimension is selected."""
    for name, ds in DATASETS.items():
        assert f"dimensions {{ {ds.key}" in build_query([name])


def test_rows_flatten_and_storage_keeps_the_newest() -> None:
    """Storage rows arrive newest first; the first one per key wins."""
    rows = [
        {
            "dimensions": {"bucketName": "uploads", "datetime": "t2"},
            "max": {"objectCount": 5, "payloadSize": 10},
        },
        {
            "dimensions": {"bucketName": "uploads", "datetime": "t1"},
            "max": {"objectCount": 4, "payloadSize": 9},
        },
        {"dimensions": {"bucketName": ""}, "max": {"objectCount": 1}},
    ]
    assert {"uploads": {"max.objectCount": 5.0, "max.payloadSize": 10.0}} == flatten_rows(
        "r2_storage", rows
    )


def test_docs_list_exactly_the_values_each_probe_type_publishes() -> None:
    """docs/rules.md is the contract rules are checked against: it must match the probes."""
    from tests.unit.alerting.test_rule_packs import documented_values

    assert builtin_registry().values_by_type() == documented_values()
