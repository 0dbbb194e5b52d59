"""Probe types that exist only for the daemon's tests: scripted, crashing, hanging, API-backed.

They are registered through :class:`probes.registry.Registry` like any plugin, so the daemon
runs them through exactly the path real probes take. ``CONTROL`` lets a test change what a
``script`` probe returns while the daemon runs (keyed by probe name; cleared per test by the
``control`` fixture).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, Literal

from cfapi import AuthError, CloudflareError, NotFound, RateLimited, TransportError
from probes.base import (
    LabelledSpec,
    MetricSpec,
    Probe,
    ProbeContext,
    ProbeEvent,
    ProbeResult,
    ProbeSettings,
    Reason,
    Series,
    Status,
)
from probes.registry import Registry

Mode = Literal["ok", "warn", "crit", "crash", "hang", "gate"]

CONTROL: dict[str, Mode] = {}
"""Per-probe-name override of a ``script`` probe's mode (tests set it while the daemon runs)."""

GATES: dict[str, asyncio.Event] = {}
"""``gate`` mode waits for ``GATES[name]`` to be set, then answers ok."""


class ScriptSettings(ProbeSettings):
    """A scripted probe: what it returns (``mode``) and a value to publish."""

    mode: Mode = "ok"
    value: float = 1.0
    rerun_in: float | None = None


class ScriptProbe(Probe[ScriptSettings]):
    """Returns what its mode says: a status, a crash (``RuntimeError``), a hang or a gate."""

    type_name: ClassVar[str] = "script"
    service: ClassVar[str] = "scripted"
    settings_model: ClassVar[type[ProbeSettings]] = ScriptSettings
    values: ClassVar[frozenset[str]] = frozenset({"answer", "retries"})
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "answer": MetricSpec("script_answer", "The scripted probe's value."),
        "retries": MetricSpec("script_retries_total", "Retries made.", kind="counter"),
    }
    labelled: ClassVar[dict[str, LabelledSpec]] = {
        "script_shard_value": LabelledSpec(
            "script_shard_value", "A labelled value per shard.", ("shard",)
        )
    }

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Do what the mode says."""
        settings = self.settings
        assert isinstance(settings, ScriptSettings)
        mode = CONTROL.get(self.name, settings.mode)
        if mode == "crash":
            raise RuntimeError("scripted crash")
        if mode == "hang":
            await asyncio.Event().wait()
        if mode == "gate":
            await GATES.setdefault(self.name, asyncio.Event()).wait()
            mode = "ok"
        status = Status(mode)
        return ProbeResult(
            status=status,
            message=f"scripted {mode}",
            reason=None if status == Status.OK else Reason.ASSERTION,
            latency_ms=12.5,
            values={"answer": settings.value, "retries": 1.0},
            series=(Series("script_shard_value", {"shard": "a"}, settings.value),),
            events=(ProbeEvent("script_ran", f"ran in mode {mode}", {"mode": mode}),),
            rerun_in_s=settings.rerun_in,
        )


class SlowSettings(ProbeSettings):
    """A probe of another service that hangs (or not)."""

    hang: bool = True


class SlowProbe(Probe[SlowSettings]):
    """Hangs until cancelled (its own service, ``slow``), or answers at once."""

    type_name: ClassVar[str] = "slow"
    service: ClassVar[str] = "slow"
    settings_model: ClassVar[type[ProbeSettings]] = SlowSettings

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Hang, or answer ok."""
        settings = self.settings
        assert isinstance(settings, SlowSettings)
        if settings.hang:
            await asyncio.Event().wait()
        return ProbeResult(Status.OK, "fast")


class KvListSettings(ProbeSettings):
    """Lists the account's KV namespaces through the Cloudflare client."""


def reason_of(err: CloudflareError) -> Reason:
    """The failure reason a Cloudflare error maps to."""
    if isinstance(err, AuthError):
        return Reason.AUTH
    if isinstance(err, RateLimited):
        return Reason.RATE_LIMITED
    if isinstance(err, NotFound):
        return Reason.NOT_FOUND
    if isinstance(err, TransportError):
        return Reason.TIMEOUT if err.timeout else Reason.UNREACHABLE
    return Reason.API_ERROR


class KvListProbe(Probe[KvListSettings]):
    """One real API call per run (``GET /accounts/{id}/storage/kv/namespaces``)."""

    type_name: ClassVar[str] = "kvlist"
    service: ClassVar[str] = "kv"
    settings_model: ClassVar[type[ProbeSettings]] = KvListSettings
    values: ClassVar[frozenset[str]] = frozenset({"namespaces"})

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Count the namespaces; a Cloudflare error is a crit result with its reason."""
        try:
            names = [ns.title async for ns in ctx.cf.kv.namespaces(ctx.account_id)]
        except CloudflareError as err:
            return ProbeResult.failed(reason_of(err), f"listing KV namespaces failed: {err}")
        return ProbeResult(
            Status.OK, f"{len(names)} namespaces", values={"namespaces": float(len(names))}
        )


class D1ListSettings(ProbeSettings):
    """Lists the account's D1 databases through the Cloudflare client."""


class D1ListProbe(Probe[D1ListSettings]):
    """One real API call per run (``GET /accounts/{id}/d1/database``)."""

    type_name: ClassVar[str] = "d1list"
    service: ClassVar[str] = "d1"
    settings_model: ClassVar[type[ProbeSettings]] = D1ListSettings
    values: ClassVar[frozenset[str]] = frozenset({"databases"})

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Count the databases; a Cloudflare error is a crit result with its reason."""
        try:
            names = [db.name async for db in ctx.cf.d1.databases(ctx.account_id)]
        except CloudflareError as err:
            return ProbeResult.failed(reason_of(err), f"listing D1 databases failed: {err}")
        return ProbeResult(
            Status.OK, f"{len(names)} databases", values={"databases": float(len(names))}
        )


def make_registry() -> Registry:
    """A registry of only the test probe types."""
    return Registry(
        {
            "script": ScriptProbe,
            "slow": SlowProbe,
            "kvlist": KvListProbe,
            "d1list": D1ListProbe,
        }
    )
