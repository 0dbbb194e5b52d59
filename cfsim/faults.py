"""Fault injection: what the simulator should break, where and until when.

Pure logic: the table is given the time by its caller, so tests can
drive it with an injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Service = Literal["workers", "pages", "kv", "r2", "d1", "dns", "graphql", "api"]
SERVICES: tuple[str, ...] = ("workers", "pages", "kv", "r2", "d1", "dns", "graphql", "api")


class Capacity(BaseModel):
    """Reported usage for capacity faults (e.g. an R2 bucket at 95 % of its quota)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bytes: int | None = Field(default=None, ge=0, description="Stored bytes to report.")
    objects: int | None = Field(default=None, ge=0, description="Object or key count to report.")


class FaultSpec(BaseModel):
    """A fault as posted to ``POST /__sim/faults``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: Service
    resource: str | None = Field(
        default=None, description="Name or id of one resource; all of the service when omitted."
    )
    error_status: int | None = Field(default=None, ge=400, le=599)
    error_code: int | None = Field(default=None, ge=1000)
    error_message: str | None = None
    latency_ms: float = Field(default=0, ge=0, le=120_000)
    outage: bool = False
    rate_limit: bool = False
    error_ratio: float = Field(default=1.0, ge=0, le=1)
    capacity: Capacity | None = None
    exception: str | None = Field(
        default=None, description="Edge only: the exception message Workers throw (tail shows it)."
    )
    duration_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _has_effect(self) -> FaultSpec:
        if not (
            self.error_status
            or self.latency_ms
            or self.outage
            or self.rate_limit
            or self.capacity
            or self.exception
        ):
            raise ValueError(
                "a fault needs at least one effect: error_status, latency_ms, outage, "
                "rate_limit, capacity or exception"
            )
        return self


@dataclass
class Fault:
    """An active fault with its id and expiry."""

    id: str
    spec: FaultSpec
    created_at: float
    expires_at: float | None
    hits: int = 0
    credit: float = 0.0

    def as_dict(self, now: float) -> dict[str, Any]:
        """Describe the fault for ``GET /__sim/faults``."""
        return {
            "id": self.id,
            **self.spec.model_dump(exclude_none=True),
            "hits": self.hits,
            "remaining_s": None if self.expires_at is None else max(0.0, self.expires_at - now),
        }


@dataclass(frozen=True)
class Decision:
    """What to do to one request, merged from every matching fault."""

    latency_s: float = 0.0
    outage: bool = False
    rate_limit: bool = False
    error_status: int | None = None
    error_code: int | None = None
    error_message: str | None = None
    exception: str | None = None

    @property
    def fails(self) -> bool:
        """Whether the request must fail (rather than just be slow)."""
        return (
            self.outage or self.rate_limit or self.error_status is not None or bool(self.exception)
        )


@dataclass
class FaultTable:
    """The set of active faults."""

    faults: dict[str, Fault] = field(default_factory=dict)
    _seq: int = 0

    def add(self, spec: FaultSpec, now: float) -> Fault:
        """Activate a fault; it lasts ``duration_s`` or until cleared."""
        self._seq += 1
        fid = f"fault-{self._seq}"
        expires = now + spec.duration_s if spec.duration_s else None
        fault = Fault(id=fid, spec=spec, created_at=now, expires_at=expires)
        self.faults[fid] = fault
        return fault

    def remove(self, fault_id: str) -> bool:
        """Clear one fault; return whether it existed."""
        return self.faults.pop(fault_id, None) is not None

    def clear(self) -> None:
        """Clear every fault."""
        self.faults.clear()

    def active(self, now: float) -> list[Fault]:
        """Return the faults still in force, dropping the expired ones."""
        for fid in [
            f.id for f in self.faults.values() if f.expires_at is not None and f.expires_at <= now
        ]:
            del self.faults[fid]
        return list(self.faults.values())

    def matching(self, service: str, resources: tuple[str, ...], now: float) -> list[Fault]:
        """Faults that apply to ``service`` and any of the names/ids in ``resources``."""
        return [
            f
            for f in self.active(now)
            if f.spec.service == service
            and (f.spec.resource is None or f.spec.resource in resources)
        ]

    def decide(self, service: str, resources: tuple[str, ...], now: float) -> Decision:
        """Merge the matching faults into one decision for a request.

        A partial fault (``error_ratio`` < 1) fails exactly that share of the requests it
        matches, spread evenly (0.25: every fourth), so a drill or a test that retries sees
        the same sequence every time.
        """
        latency = 0.0
        outage = rate_limit = False
        status: int | None = None
        code: int | None = None
        message: str | None = None
        exception: str | None = None
        for fault in self.matching(service, resources, now):
            spec = fault.spec
            latency += spec.latency_ms / 1000.0
            if spec.error_ratio < 1.0:
                fault.credit += spec.error_ratio
                if fault.credit < 1.0 - 1e-9:
                    continue
                fault.credit -= 1.0
            failing = spec.outage or spec.rate_limit or spec.error_status or spec.exception
            if failing:
                fault.hits += 1
            outage = outage or spec.outage
            rate_limit = rate_limit or spec.rate_limit
            if spec.error_status and status is None:
                status, code, message = spec.error_status, spec.error_code, spec.error_message
            exception = exception or spec.exception
        return Decision(latency, outage, rate_limit, status, code, message, exception)

    def steady(self, service: str, resources: tuple[str, ...], now: float) -> Decision:
        """What a health monitor sees: only the faults that fail every request.

        Partial faults (``error_ratio`` < 1) count as healthy, since a monitor marks an origin
        down only after repeated failures; nothing is counted as a hit.
        """
        latency = 0.0
        outage = False
        status: int | None = None
        for fault in self.matching(service, resources, now):
            spec = fault.spec
            latency += spec.latency_ms / 1000.0
            if spec.error_ratio < 1.0:
                continue
            outage = outage or spec.outage
            status = status or spec.error_status
        return Decision(latency_s=latency, outage=outage, error_status=status)

    def capacity(self, service: str, resources: tuple[str, ...], now: float) -> Capacity | None:
        """The capacity override in force for a resource, if any."""
        for fault in self.matching(service, resources, now):
            if fault.spec.capacity is not None:
                return fault.spec.capacity
        return None
