"""The alert engine's data: what it observes, the alerts it keeps and the events it emits.

All values are immutable; the engine is a pure function of
``(rules, observations, previous alerts, now) -> (new alerts, events)``. The daemon builds an
:class:`Observation` from each probe result; nothing here imports :mod:`probes` or
:mod:`monitor`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

ProbeStatus = Literal["ok", "warn", "crit", "unknown"]
Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")

_PROMETHEUS_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_PROBE_IDENTITY = frozenset({"probe", "probe_type"})


def prometheus_probe_label(name: str) -> bool:
    """Whether a probe's configured label ``name`` can stand as a Prometheus label beside
    ``probe`` and ``probe_type`` (``flarewatch_probe_info`` and the exported rules): a
    Prometheus label name, neither of those two, and not ``__``-reserved."""
    return (
        name not in _PROBE_IDENTITY
        and not name.startswith("__")
        and _PROMETHEUS_LABEL.fullmatch(name) is not None
    )


@dataclass(frozen=True)
class Observation:
    """One probe result as the alert engine sees it.

    ``values`` are the probe's named numbers (``error_ratio``, ``bytes_used``,
    ``latency_ms``…); ``reason`` is the probe's failure reason from its fixed set, or
    ``None`` when it succeeded; ``at`` is the epoch time the result was taken.
    """

    probe: str
    probe_type: str
    status: ProbeStatus
    at: float
    values: Mapping[str, float] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    message: str = ""
    reason: str | None = None


class AlertState(StrEnum):
    """Where an alert instance is in its lifecycle."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """A stable id for one alert instance: the rule and its labels (order-independent).

    Used as PagerDuty's ``dedup_key`` and to match instances across restarts.
    """
    material = rule + "\x00" + "\x00".join(f"{k}={labels[k]}" for k in sorted(labels))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RuleVerdict:
    """The outcome of one rule for one observed probe in one evaluation round.

    The rule engine (:mod:`alerting.rules`) produces verdicts; the lifecycle
    (:mod:`alerting.lifecycle`) turns them into alert state and events. ``labels`` are the
    rule's labels, the probe's labels and ``probe`` / ``probe_type``; together with ``rule``
    they identify the alert instance (:func:`fingerprint`). ``annotations`` are the rendered
    ``summary``, ``description`` and ``runbook_url``. A condition the engine could not decide
    is inactive and says why: ``missing`` names what the probe did not publish this round
    (``values.error_ratio``), ``error`` carries a CEL evaluation error.
    """

    rule: str
    severity: Severity
    labels: Mapping[str, str]
    active: bool
    at: float
    values: Mapping[str, float] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    missing: tuple[str, ...] = ()
    error: str | None = None

    @property
    def fingerprint(self) -> str:
        """The alert instance this verdict is about."""
        return fingerprint(self.rule, self.labels)
