"""The ``http`` probe: one HTTP(S) endpoint — status, latency, body/JSON, TLS expiry.

Everything is in :mod:`probes.httpcheck`; this class only names the type, its settings and
its metrics. Reference: docs/probes/http.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from probes.base import MetricSpec, Probe, ProbeContext, ProbeResult, ProbeSettings
from probes.httpcheck import HTTP_METRICS, HttpCheck, check_http, deadline_for


class HttpSettings(ProbeSettings, HttpCheck):
    """``type: http``: a URL and what to expect of it (see :class:`HttpCheckOptions`)."""


class HttpProbe(Probe[HttpSettings]):
    """Checks one URL the way a user's browser would meet it."""

    type_name: ClassVar[str] = "http"
    service: ClassVar[str] = "http"
    settings_model: ClassVar[type[ProbeSettings]] = HttpSettings
    values: ClassVar[frozenset[str]] = frozenset({"status_code", "latency_ms", "tls_expiry_days"})
    metrics: ClassVar[Mapping[str, MetricSpec]] = HTTP_METRICS

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Request the URL once and judge the answer."""
        settings = self.settings
        outcome = await check_http(
            ctx.http, settings.url, settings, deadline_for(ctx.timeout_s), now=ctx.clock
        )
        return outcome.result()
