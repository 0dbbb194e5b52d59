"""The probe protocol: settings, context, result, and the metrics a probe type declares.

A probe is small: one ``async def run(self, ctx) -> ProbeResult``. It never touches metrics,
notifiers or globals; the runner (``monitor``) does, from what the probe type declares here.
Expected failures are *returned* as a result with a :class:`Reason`; anything raised is
caught by the runner and becomes an ``unknown`` result.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from probes.units import Duration

if TYPE_CHECKING:
    import aiohttp
    from structlog.typing import FilteringBoundLogger

    from cfapi import CloudflareClient
    from probes.analytics import AnalyticsHub
    from probes.resources import ResourceIndex


class Status(StrEnum):
    """How a probe found its target, best first (``unknown``: the probe itself failed)."""

    OK = "ok"
    WARN = "warn"
    CRIT = "crit"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """0 for ok … 3 for unknown; :func:`worst` picks the highest."""
        return _RANK[self]


_RANK = {Status.OK: 0, Status.WARN: 1, Status.CRIT: 2, Status.UNKNOWN: 3}


def worst(*statuses: Status) -> Status:
    """The worst of ``statuses`` (``ok`` for none)."""
    return max(statuses, key=lambda s: s.rank, default=Status.OK)


class Reason(StrEnum):
    """Why a probe failed: a fixed, bounded set (a metric label; never error text).

    The same list as ``alerting.conditions.REASONS`` and docs/rules.md; a test keeps them equal.
    """

    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    TLS = "tls"
    HTTP_STATUS = "http_status"
    ASSERTION = "assertion"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    CAPACITY = "capacity"
    API_ERROR = "api_error"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ProbeEvent:
    """Something worth telling people that is not a status, e.g. DNS propagation progress.

    ``kind`` is a snake_case event name (``dns_propagation_progress``); ``fields`` carry the
    numbers. The runner logs every event and keeps the latest ones in the status API.
    """

    kind: str
    message: str
    fields: Mapping[str, str | float | int | bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Series:
    """One sample of a labelled metric the probe type declares in ``Probe.labelled``."""

    metric: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe run found.

    ``values`` use the documented names of the probe type (docs/rules.md, "Value names per
    probe type"): rules read them, and the runner exports the ones the type maps to metrics.
    ``latency_ms`` is the latency of the checked thing (an HTTP answer, a KV round trip), not
    of the probe run, which the runner measures itself. ``rerun_in_s`` asks the runner to run
    the probe again sooner than its interval (e.g. while a DNS change propagates).
    ``trace_id`` is the W3C trace id the probe sent with its request (HTTP checks), so the
    run's stored log row joins the events of that request across Workers and Pages.
    """

    status: Status
    message: str = ""
    reason: Reason | None = None
    latency_ms: float | None = None
    values: Mapping[str, float] = field(default_factory=dict)
    series: tuple[Series, ...] = ()
    events: tuple[ProbeEvent, ...] = ()
    rerun_in_s: float | None = None
    trace_id: str | None = None

    @classmethod
    def failed(
        cls, reason: Reason, message: str, *, status: Status = Status.CRIT, **values: float
    ) -> ProbeResult:
        """A failed run: ``crit`` (or ``status``) with ``reason`` and ``message``."""
        return cls(status=status, message=message, reason=reason, values=values)


MetricKind = Literal["gauge", "counter"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """How one value becomes a Prometheus sample.

    The metric is ``flarewatch_<name>`` labelled ``probe`` plus ``labels`` (constant, e.g.
    ``{"quantile": "0.99"}``), its value ``value * scale`` (ms → seconds: ``scale=0.001``).
    A ``counter`` is increased by the value on every run (e.g. retries made this run).
    Several values may share a metric when they differ in constant labels.
    """

    name: str
    help: str
    labels: Mapping[str, str] = field(default_factory=dict)
    scale: float = 1.0
    kind: MetricKind = "gauge"


@dataclass(frozen=True, slots=True)
class LabelledSpec:
    """A gauge with labels only known at run time but bounded by config (e.g. ``nameserver``)."""

    name: str
    help: str
    label_names: tuple[str, ...]


class ProbeSettings(BaseModel):
    """Keys every probe entry accepts; each probe type subclasses this with its own.

    Frozen and ``extra="forbid"``: a misspelt key is an error, not a silent default.
    ``interval`` and ``timeout`` default to the config's ``defaults``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    type: str
    interval: Duration | None = Field(default=None, gt=0)
    timeout: Duration | None = Field(default=None, gt=0)
    enabled: bool = True
    labels: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class ProbeContext:
    """What a probe run may use; built by the daemon, shared by every probe.

    ``cf`` is the one Cloudflare client (one session, one budget); ``http`` the session for
    checks of public URLs (it honours the config's ``connect_to`` overrides); ``analytics``
    batches GraphQL for all probes; ``resources`` resolves names users write to ids.
    ``timeout_s`` is this run's deadline, which the runner also enforces.
    """

    cf: CloudflareClient
    account_id: str
    http: aiohttp.ClientSession
    analytics: AnalyticsHub
    resources: ResourceIndex
    log: FilteringBoundLogger
    timeout_s: float
    clock: Callable[[], float]


S = TypeVar("S", bound=ProbeSettings)


class Probe(abc.ABC, Generic[S]):
    """A probe plugin. Subclasses set the class attributes and implement :meth:`run`.

    - ``type_name``: the ``type:`` users write; ``service``: the concurrency group (one slow
      service never starves the others);
    - ``settings_model``: the pydantic model of its config entry;
    - ``values``: every value name ``run`` may publish (the contract with alert rules);
    - ``metrics``: which of them become Prometheus samples, and how;
    - ``labelled``: labelled gauges it fills through ``ProbeResult.series``;
    - ``analytics``: the datasets of :mod:`probes.analytics` it reads (fetched together).

    One instance lives as long as its config entry, so it may keep memory across runs
    (the DNS probe remembers the records it saw).
    """

    type_name: ClassVar[str]
    service: ClassVar[str]
    settings_model: ClassVar[type[ProbeSettings]]
    values: ClassVar[frozenset[str]] = frozenset()
    metrics: ClassVar[Mapping[str, MetricSpec]] = {}
    labelled: ClassVar[Mapping[str, LabelledSpec]] = {}
    analytics: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, settings: S) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        """The probe's configured name."""
        return self.settings.name

    @abc.abstractmethod
    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Probe once and say what was found. Return expected failures; never log per poll."""
