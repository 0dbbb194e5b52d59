"""Everything the daemon builds from one :class:`monitor.config.Config`.

One :class:`cfapi.CloudflareClient` (one session, the token's :class:`cfapi.RequestBudget`
sized to ``cloudflare.budget_share``), one aiohttp session for public URLs that honours
``http.connect_to``, the :class:`probes.analytics.AnalyticsHub` told up front about every
dataset the configured probes read (refreshed at most once per the shortest probe
interval), the :class:`probes.resources.ResourceIndex`, and one probe instance per enabled
entry, each with its own :class:`probes.base.ProbeContext`.

A reload builds a new :class:`App` from the new config *and the running one*: whatever did
not change is carried over rather than rebuilt — the Cloudflare client (and with it the
budget's state, analytics cache and name lookups) when ``cloudflare`` is unchanged, the
public-URL session when ``http`` is unchanged, and each probe instance whose settings are
unchanged (a DNS probe keeps remembering the records it saw). :meth:`App.aclose` then closes
only what the new app does not use.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from cfapi import CloudflareClient, Credentials, RequestBudget, RetryStats
from cfapi.budget import identity_key, shared_budget
from cfapi.transport import base_url_from
from monitor.config import Config
from monitor.netmap import connect_to_resolver
from monitor.runner import ScheduledProbe
from probes.analytics import AnalyticsHub
from probes.base import Probe, ProbeContext
from probes.registry import Registry
from probes.resources import ResourceIndex

log = structlog.get_logger("flarewatch")

ANALYTICS_AGE_FACTOR = 0.9
"""The analytics cache may be this share of the shortest interval old: a probe that runs a
hair early (scheduling jitter) still gets fresh numbers every round, and a round still costs
one GraphQL query."""


def analytics_max_age(config: Config, registry: Registry) -> float:
    """How old cached analytics may be: 0.9 times the shortest interval of a probe that reads them.

    Without such a probe, the shortest interval of any probe (or the default interval).
    """
    readers = [
        p.interval or config.defaults.interval
        for p in config.probes
        if p.enabled and p.type in registry and registry[p.type].analytics
    ]
    every = [p.interval or config.defaults.interval for p in config.probes if p.enabled]
    shortest = min(readers or every or [config.defaults.interval])
    return shortest * ANALYTICS_AGE_FACTOR


def secrets_of(config: Config) -> list[str]:
    """Every secret value in ``config`` (for the log redactor): API and admin tokens."""
    out = [config.cloudflare.api_token.get_secret_value()]
    if config.server.admin_token is not None:
        out.append(config.server.admin_token.get_secret_value())
    return out


@dataclass
class App:
    """The clients and probes of one configuration (see the module docstring)."""

    config: Config
    registry: Registry
    cf: CloudflareClient
    http: aiohttp.ClientSession
    analytics: AnalyticsHub
    resources: ResourceIndex
    probes: list[ScheduledProbe]

    @classmethod
    async def build(
        cls,
        config: Config,
        registry: Registry,
        *,
        previous: App | None = None,
        clock: Callable[[], float] = time.time,
        log: Any = log,
    ) -> App:
        """Build the app for ``config`` inside the running loop, reusing what ``previous`` has.

        Raises ``ValueError`` for what validation could not see (a probe that refuses its
        settings); nothing is left open in that case.
        """
        cf_reused = previous is not None and previous.config.cloudflare == config.cloudflare
        http_reused = previous is not None and previous.config.http == config.http
        cf: CloudflareClient
        http: aiohttp.ClientSession
        if cf_reused:
            assert previous is not None
            cf, analytics, resources = previous.cf, previous.analytics, previous.resources
        else:
            cf = new_client(config)
            analytics = AnalyticsHub(cf, config.cloudflare.account_id, clock=clock)
            resources = ResourceIndex(cf, config.cloudflare.account_id, clock=time.monotonic)
        try:
            if http_reused:
                assert previous is not None
                http = previous.http
            else:
                http = new_http_session(config)
            try:
                analytics.max_age_s = analytics_max_age(config, registry)
                kept = {} if previous is None else {p.name: p.probe for p in previous.probes}
                probes = [
                    ScheduledProbe(
                        probe=probe,
                        ctx=ProbeContext(
                            cf=cf,
                            account_id=config.cloudflare.account_id,
                            http=http,
                            analytics=analytics,
                            resources=resources,
                            log=log.bind(probe=probe.name, probe_type=probe.type_name),
                            timeout_s=timeout,
                            clock=clock,
                        ),
                        interval_s=interval,
                        timeout_s=timeout,
                    )
                    for probe, interval, timeout in _instances(config, registry, kept)
                ]
                for item in probes:
                    if item.probe.analytics:
                        analytics.want(*item.probe.analytics)
                    if item.timeout_s > item.interval_s:
                        log.warning(
                            "probe_timeout_exceeds_interval",
                            probe=item.name,
                            timeout_s=item.timeout_s,
                            interval_s=item.interval_s,
                            hint="a run that takes its whole timeout makes the next one skip",
                        )
            except BaseException:
                if not http_reused:
                    await http.close()
                raise
        except BaseException:
            if not cf_reused:
                await cf.aclose()
            raise
        return cls(config, registry, cf, http, analytics, resources, probes)

    async def aclose(self, *, keep: App | None = None) -> None:
        """Close the sessions, except those ``keep`` (the app replacing this one) still uses."""
        if keep is None or keep.cf is not self.cf:
            await self.cf.aclose()
        if keep is None or keep.http is not self.http:
            await self.http.close()

    def by_name(self) -> dict[str, ScheduledProbe]:
        """The probes by name."""
        return {p.name: p for p in self.probes}


def new_client(config: Config) -> CloudflareClient:
    """A Cloudflare client for ``config``, drawing on the process-wide budget of its token.

    Every cfapi client of the same (base URL, token) in this process shares that budget, sized
    to ``budget_share``. If it already exists with another share (a reload changed
    ``budget_share``), the daemon gets a budget of its own with the new share.
    """
    cfg = config.cloudflare
    secret = cfg.api_token.get_secret_value()
    share = cfg.budget_share
    budget = shared_budget(
        identity_key(base_url_from(cfg.api_base_url), secret),
        lambda: RequestBudget(share=share),
    )
    if budget.share != share:
        budget = RequestBudget(share=share)
    return CloudflareClient(
        Credentials.bearer(secret), base_url=cfg.api_base_url, budget=budget, stats=RetryStats()
    )


def new_http_session(config: Config) -> aiohttp.ClientSession:
    """The session probes use for public URLs (``connect_to`` applied, no session timeout:
    each check has its own deadline)."""
    connector = aiohttp.TCPConnector(
        resolver=connect_to_resolver(config.http.connect_to), limit=0, ttl_dns_cache=60
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": config.http.user_agent},
        timeout=aiohttp.ClientTimeout(total=None),
    )


def _instances(
    config: Config, registry: Registry, kept: Mapping[str, Probe[Any]]
) -> list[tuple[Probe[Any], float, float]]:
    out: list[tuple[Probe[Any], float, float]] = []
    for settings in config.probes:
        if not settings.enabled:
            continue
        interval = settings.interval or config.defaults.interval
        timeout = settings.timeout or config.defaults.timeout
        old = kept.get(settings.name)
        if old is not None and old.settings == settings and old.type_name == settings.type:
            probe = old
        else:
            probe = registry[settings.type](settings)
        out.append((probe, interval, timeout))
    return out


def probe_summary(probes: Sequence[ScheduledProbe]) -> dict[str, int]:
    """How many probes of each type (for the start log line)."""
    counts: dict[str, int] = {}
    for p in probes:
        counts[p.type_name] = counts.get(p.type_name, 0) + 1
    return dict(sorted(counts.items()))
