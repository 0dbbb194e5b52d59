"""The ``r2`` probe: a bucket exists, and how full it is against a quota (Requirement 2.6).

Each run asks the API for the bucket (one request: a deleted bucket is ``not_found``, a
refused token ``auth``) and reads the bucket's storage from GraphQL Analytics
(``r2StorageAdaptiveGroups``: ``payloadSize + metadataSize`` and ``objectCount``) through the
shared :class:`~probes.analytics.AnalyticsHub`. R2 itself has no per-bucket quota; ``quota`` is
the size you plan for (a budget, or what the downstream backup can hold), and the probe warns
at ``warn_ratio`` of it and goes crit with reason ``capacity`` at ``crit_ratio``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from cfapi.errors import CloudflareError
from cfapi.r2 import Jurisdiction
from probes.base import MetricSpec, Probe, ProbeContext, ProbeResult, ProbeSettings, Reason, Status
from probes.checks import (
    Deadline,
    Unavailable,
    analytics_row,
    failure,
    human_bytes,
    paused,
    usable_time,
    usage,
)
from probes.units import ByteSize


class R2Settings(ProbeSettings):
    """Settings of an ``r2`` probe (see docs/probes/r2.md)."""

    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
        description="the bucket's name (3-63 lowercase letters, digits and hyphens)",
    )
    quota: Annotated[ByteSize, Field(gt=0)] | None = Field(
        default=None, description="the size to compare with (10GB, 512GiB); none: report only"
    )
    warn_ratio: float = Field(default=0.8, gt=0, le=1, description="share of quota: warn")
    crit_ratio: float = Field(default=0.95, gt=0, le=1, description="share of quota: crit")
    jurisdiction: Jurisdiction | None = Field(
        default=None, description="the bucket's jurisdiction (eu, fedramp…) when not default"
    )

    @model_validator(mode="after")
    def _ratios(self) -> R2Settings:
        if self.warn_ratio > self.crit_ratio:
            raise ValueError("warn_ratio must not be above crit_ratio")
        return self


def evaluate(
    settings: R2Settings,
    storage: Mapping[str, float] | None,
    unavailable: Unavailable | None,
) -> ProbeResult:
    """Judge a reachable bucket by its storage analytics (pure).

    Without analytics the quota cannot be checked: ``warn`` with the reason GraphQL failed;
    ``ok`` with a note when the bucket has no storage sample yet (a new or empty bucket).
    """
    bucket = settings.bucket
    quota = settings.quota
    values: dict[str, float] = {"quota_bytes": float(quota or 0)}
    if unavailable is not None:
        return ProbeResult(
            status=Status.WARN,
            reason=unavailable.reason,
            message=f"bucket {bucket} reachable; storage unknown: {unavailable.message}",
            values=values,
        )
    if storage is None:
        return ProbeResult(
            status=Status.OK,
            message=f"bucket {bucket} reachable; no storage sample yet (new or empty bucket)",
            values=values,
        )
    used = storage.get("max.payloadSize", 0.0) + storage.get("max.metadataSize", 0.0)
    objects = storage.get("max.objectCount", 0.0)
    values.update(bytes_used=used, objects=objects)
    held = f"bucket {bucket} holds {human_bytes(used)} in {objects:,.0f} objects"
    if quota is None:
        return ProbeResult(status=Status.OK, message=held, values=values)
    found = usage(used, quota, settings.warn_ratio, settings.crit_ratio)
    values["quota_ratio"] = found.ratio
    message = f"{held}, {found.ratio:.0%} of its {human_bytes(quota)} quota"
    if found.status is Status.CRIT:
        message += f" (crit at {settings.crit_ratio:.0%})"
    elif found.status is Status.WARN:
        message += f" (warn at {settings.warn_ratio:.0%})"
    return ProbeResult(
        status=found.status,
        reason=Reason.CAPACITY if found.status is Status.CRIT else None,
        message=message,
        values=values,
    )


class R2Probe(Probe[R2Settings]):
    """Reachability and storage against a quota of one R2 bucket."""

    type_name: ClassVar[str] = "r2"
    service: ClassVar[str] = "r2"
    settings_model: ClassVar[type[ProbeSettings]] = R2Settings
    analytics: ClassVar[frozenset[str]] = frozenset({"r2_storage"})
    values: ClassVar[frozenset[str]] = frozenset(
        {"bytes_used", "quota_bytes", "objects", "quota_ratio"}
    )
    metrics: ClassVar[Mapping[str, MetricSpec]] = {
        "bytes_used": MetricSpec(
            "r2_stored_bytes", "Bytes stored in the bucket (payload + metadata)"
        ),
        "objects": MetricSpec("r2_objects", "Objects stored in the bucket"),
        "quota_bytes": MetricSpec("r2_quota_bytes", "The bucket's configured quota (0: none)"),
        "quota_ratio": MetricSpec("r2_quota_ratio", "Stored bytes / the configured quota"),
    }

    def __init__(
        self, settings: R2Settings, *, timer: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(settings)
        self._timer = timer

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """GET the bucket, then judge its storage analytics."""
        s = self.settings
        deadline = Deadline(usable_time(ctx.timeout_s), self._timer)
        ctx.analytics.want(*self.analytics)  # one GraphQL refresh covers them all
        held = paused(ctx, "r2", deadline)
        if held is not None:
            return held
        try:
            async with asyncio.timeout(max(0.0, deadline.remaining())):
                await ctx.cf.r2.bucket(ctx.account_id, s.bucket, jurisdiction=s.jurisdiction)
        except CloudflareError as err:
            return failure(err, f"reading bucket {s.bucket}")
        except TimeoutError:
            return ProbeResult.failed(
                Reason.TIMEOUT,
                f"reading bucket {s.bucket}: no answer within {deadline.seconds:.1f} s",
            )
        storage, unavailable = await analytics_row(ctx, "r2_storage", s.bucket, deadline)
        return evaluate(s, storage, unavailable)
