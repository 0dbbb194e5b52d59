"""Small builders shared by the daemon's unit tests (no I/O)."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from monitor.runner import ProbeRun
from probes.base import (
    LabelledSpec,
    MetricSpec,
    Probe,
    ProbeContext,
    ProbeEvent,
    ProbeResult,
    ProbeSettings,
    Reason,
    Status,
)


def run_of(
    status: Status = Status.OK,
    *,
    probe: str = "p1",
    type_name: str = "fake",
    service: str = "fakesvc",
    at: float = 1_000.0,
    duration_s: float = 0.05,
    reason: Reason | None = None,
    latency_ms: float | None = 10.0,
    values: dict[str, float] | None = None,
    events: tuple[ProbeEvent, ...] = (),
    crashed: bool = False,
    message: str = "",
) -> ProbeRun:
    """A finished run with the given outcome."""
    return ProbeRun(
        probe=probe,
        type=type_name,
        service=service,
        result=ProbeResult(
            status=status,
            message=message or str(status),
            reason=reason,
            latency_ms=latency_ms,
            values={"duration_ms": duration_s * 1000.0, **(values or {})},
            events=events,
        ),
        started_at=at,
        duration_s=duration_s,
        crashed=crashed,
        error=RuntimeError("boom") if crashed else None,
    )


class FakeProbe(Probe[ProbeSettings]):
    """A probe type declaring a scaled gauge, a counter and a labelled gauge."""

    type_name: ClassVar[str] = "fake"
    service: ClassVar[str] = "fakesvc"
    settings_model: ClassVar[type[ProbeSettings]] = ProbeSettings
    values: ClassVar[frozenset[str]] = frozenset({"latency_p99_ms", "retries", "ratio"})
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "latency_p99_ms": MetricSpec(
            "fake_latency_seconds", "Latency.", labels={"quantile": "0.99"}, scale=0.001
        ),
        "retries": MetricSpec("fake_retries_total", "Retries.", kind="counter"),
        "ratio": MetricSpec("fake_ratio", "A ratio."),
    }
    labelled: ClassVar[dict[str, LabelledSpec]] = {
        "fake_serial": LabelledSpec("fake_serial", "Serial per server.", ("server",))
    }

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Never run in these tests."""
        raise NotImplementedError


def fake_context(timeout_s: float = 1.0) -> ProbeContext:
    """A context whose clients are absent: for probes that do not use them."""
    nothing = cast(Any, None)
    return ProbeContext(
        cf=nothing,
        account_id="0" * 32,
        http=nothing,
        analytics=nothing,
        resources=nothing,
        log=cast(Any, _NullLog()),
        timeout_s=timeout_s,
        clock=lambda: 0.0,
    )


class _NullLog:
    def bind(self, **_: Any) -> _NullLog:
        return self

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None
