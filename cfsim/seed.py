"""Seeds: what the simulated account holds at start and after ``POST /__sim/reset``."""

from __future__ import annotations

import secrets
from dataclasses import fields
from typing import Literal

from cfsim.services import accounts, d1, dns, kv, lb, pages, r2, workers, zones
from cfsim.state import SimState

SeedName = Literal["spacevision", "empty"]
SEEDS: tuple[str, ...] = ("spacevision", "empty")

# Fields of SimState rebuilt from scratch on reset (everything but identity and settings).
_STORES = (
    "accounts",
    "zones",
    "dns",
    "workers",
    "pages",
    "kv",
    "r2",
    "d1",
    "lb",
    "analytics",
    "tails",
    "faults",
    "log",
)


def new_token() -> str:
    """A 40-character token in the alphabet of Cloudflare API tokens."""
    return secrets.token_urlsafe(30)[:40]


def build_state(seed: SeedName = "spacevision", token: str | None = None) -> SimState:
    """Create a simulator state holding ``seed``."""
    state = SimState(token=token or new_token(), seed_name=seed)
    _apply(state)
    return state


def reseed(state: SimState) -> None:
    """Reset ``state`` in place to its seed (the app keeps its reference to it)."""
    state.close()
    # The account keeps its id: clients configured with CLOUDFLARE_ACCOUNT_ID keep working.
    account_id = state.accounts.account_id
    defaults = {f.name: f.default_factory for f in fields(SimState)}
    for name in _STORES:
        factory = defaults[name]
        assert callable(factory), f"SimState.{name} needs a default_factory"
        setattr(state, name, factory())
    state.accounts.account_id = account_id
    state.limiter.reset()
    _apply(state)


def _apply(state: SimState) -> None:
    if state.seed_name != "spacevision":
        return
    # Order matters: DNS needs the zone, Workers routes and Pages domains need DNS.
    for module in (accounts, zones, dns, kv, r2, d1, workers, pages, lb):
        module.seed(state)
