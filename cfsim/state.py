"""Everything the simulator remembers, composed from one store per service."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cfsim.analytics import Analytics
from cfsim.faults import FaultTable
from cfsim.ratelimit import RateLimiter
from cfsim.requestlog import RequestLog
from cfsim.services.accounts import AccountsStore
from cfsim.services.d1 import D1Store
from cfsim.services.dns import DnsStore
from cfsim.services.kv import KvStore
from cfsim.services.lb import LbStore
from cfsim.services.pages import PagesStore
from cfsim.services.r2 import R2Store
from cfsim.services.tail import TailHub
from cfsim.services.workers import WorkersStore
from cfsim.services.zones import ZonesStore


@dataclass
class SimState:
    """The whole simulated account: one store per service plus the simulator's own machinery."""

    token: str
    seed_name: str = "empty"
    clock: Callable[[], float] = time.time
    accounts: AccountsStore = field(default_factory=AccountsStore)
    zones: ZonesStore = field(default_factory=ZonesStore)
    dns: DnsStore = field(default_factory=DnsStore)
    workers: WorkersStore = field(default_factory=WorkersStore)
    pages: PagesStore = field(default_factory=PagesStore)
    kv: KvStore = field(default_factory=KvStore)
    r2: R2Store = field(default_factory=R2Store)
    d1: D1Store = field(default_factory=D1Store)
    lb: LbStore = field(default_factory=LbStore)
    analytics: Analytics = field(default_factory=Analytics)
    tails: TailHub = field(default_factory=TailHub)
    faults: FaultTable = field(default_factory=FaultTable)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    log: RequestLog = field(default_factory=RequestLog)
    legacy_email: str = "ops@spacevision.app"
    legacy_key: str = ""

    @property
    def account_id(self) -> str:
        """The simulated account's id (discoverable through ``GET /accounts``)."""
        return self.accounts.account_id

    def aliases(self, param: str, value: str) -> tuple[str, ...]:
        """Other names of the resource a path parameter identifies (e.g. a KV id's title)."""
        if param == "zone_id":
            return self.zones.aliases(value)
        if param == "namespace_id":
            return self.kv.aliases(value)
        if param == "database_id":
            return self.d1.aliases(value)
        return ()

    def close(self) -> None:
        """Release what the stores hold open (D1's SQLite connections)."""
        self.d1.close()
