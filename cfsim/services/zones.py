"""Zones and cache purge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cfsim.context import state_of
from cfsim.envelope import (
    CfHttpError,
    bad_request,
    not_found,
    ok,
    page_params,
    paginate,
    read_model,
)
from cfsim.ids import iso, new_id

if TYPE_CHECKING:
    from cfsim.state import SimState

CODE_ZONE_NOT_FOUND = 1001
CODE_INVALID_ZONE_ID = 7003


@dataclass
class ZonesStore:
    """Zones of the account, by id."""

    zones: dict[str, dict[str, Any]] = field(default_factory=dict)
    purges: list[dict[str, Any]] = field(default_factory=list)

    def add(self, state: SimState, name: str, *, status: str = "active") -> dict[str, Any]:
        """Create a zone named ``name`` and return it."""
        zone_id = new_id()
        created = iso()
        zone = {
            "id": zone_id,
            "name": name,
            "status": status,
            "paused": False,
            "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": None,
            "original_registrar": None,
            "original_dnshost": None,
            "vanity_name_servers": [],
            "created_on": created,
            "modified_on": created,
            "activated_on": created,
            "meta": {
                "step": 2,
                "custom_certificate_quota": 0,
                "page_rule_quota": 3,
                "phishing_detected": False,
                "multiple_railguns_allowed": False,
            },
            "owner": {
                "id": state.account_id,
                "type": "organization",
                "name": state.accounts.account_name,
            },
            "account": {"id": state.account_id, "name": state.accounts.account_name},
            "permissions": ["#zone:read", "#zone:edit", "#dns_records:read", "#dns_records:edit"],
            "plan": {
                "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
                "name": "Free Website",
                "price": 0,
                "currency": "USD",
                "frequency": "",
                "is_subscribed": False,
                "can_subscribe": False,
                "legacy_id": "free",
                "legacy_discount": False,
                "externally_managed": False,
            },
        }
        self.zones[zone_id] = zone
        return zone

    def get(self, zone_id: str) -> dict[str, Any]:
        """Return a zone or raise Cloudflare's not-found error."""
        zone = self.zones.get(zone_id)
        if zone is None:
            if len(zone_id) != 32:
                raise CfHttpError(
                    400,
                    CODE_INVALID_ZONE_ID,
                    "Could not route to /zones/"
                    + zone_id
                    + ", perhaps your object identifier is invalid?",
                )
            raise not_found(CODE_ZONE_NOT_FOUND, "Invalid zone identifier")
        return zone

    def by_name(self, name: str) -> dict[str, Any] | None:
        """Find a zone by its domain name."""
        return next((z for z in self.zones.values() if z["name"] == name), None)

    def aliases(self, value: str) -> tuple[str, ...]:
        """A zone id is also known by its domain name."""
        zone = self.zones.get(value)
        return (zone["name"],) if zone else ()


def _name_filter(expr: str) -> tuple[str, str]:
    op, sep, value = expr.partition(":")
    ops = {
        "equal",
        "not_equal",
        "starts_with",
        "ends_with",
        "contains",
        "starts_with_case_sensitive",
        "ends_with_case_sensitive",
        "contains_case_sensitive",
    }
    if sep and op in ops:
        return op, value
    return "equal", expr


def _matches(op: str, value: str, candidate: str) -> bool:
    sensitive = op.endswith("_case_sensitive")
    base = op.removesuffix("_case_sensitive")
    if not sensitive:
        value, candidate = value.lower(), candidate.lower()
    return {
        "equal": candidate == value,
        "not_equal": candidate != value,
        "starts_with": candidate.startswith(value),
        "ends_with": candidate.endswith(value),
        "contains": value in candidate,
    }[base]


async def list_zones(request: web.Request) -> web.Response:
    """GET /zones with Cloudflare's filters, ordering and page/per_page (5..50)."""
    state = state_of(request)
    page, per_page = page_params(request, default_per_page=20, min_per_page=5, max_per_page=50)
    q = request.query
    checks: list[bool] = []
    zones = list(state.zones.zones.values())
    status = q.get("status")
    if status and status not in {"initializing", "pending", "active", "moved"}:
        raise bad_request(1001, f"Invalid value for 'status': {status!r}")
    match_any = q.get("match", "all") == "any"
    result = []
    for zone in zones:
        checks = []
        if "name" in q:
            op, value = _name_filter(q["name"])
            checks.append(_matches(op, value, zone["name"]))
        if status:
            checks.append(zone["status"] == status)
        if "account.id" in q:
            checks.append(zone["account"]["id"] == q["account.id"])
        if "account.name" in q:
            op, value = _name_filter(q["account.name"])
            checks.append(_matches(op, value, zone["account"]["name"]))
        if not checks or (any(checks) if match_any else all(checks)):
            result.append(zone)
    order = q.get("order")
    if order:
        if order not in {"name", "status", "account.id", "account.name"}:
            raise bad_request(1001, f"Invalid value for 'order': {order!r}")
        key = order.split(".")

        def sort_key(z: dict[str, Any]) -> str:
            value: Any = z
            for part in key:
                value = value[part]
            return str(value)

        result.sort(key=sort_key, reverse=q.get("direction") == "desc")
    items, info = paginate(result, page, per_page)
    return ok(items, result_info=info)


async def get_zone(request: web.Request) -> web.Response:
    """GET /zones/{zone_id}."""
    return ok(state_of(request).zones.get(request.match_info["zone_id"]))


class PurgeBody(BaseModel):
    """Body of a cache purge: everything, or by files, tags, hosts or prefixes."""

    model_config = ConfigDict(extra="forbid")

    purge_everything: bool | None = None
    files: list[str | dict[str, Any]] | None = Field(default=None, max_length=30)
    tags: list[str] | None = None
    hosts: list[str] | None = None
    prefixes: list[str] | None = None


async def purge_cache(request: web.Request) -> web.Response:
    """POST /zones/{zone_id}/purge_cache."""
    state = state_of(request)
    zone = state.zones.get(request.match_info["zone_id"])
    body = await read_model(request, PurgeBody)
    if not (body.purge_everything or body.files or body.tags or body.hosts or body.prefixes):
        raise bad_request(1015, "purge_everything, files, tags, hosts or prefixes is required")
    state.zones.purges.append({"zone_id": zone["id"], **body.model_dump(exclude_none=True)})
    return ok({"id": zone["id"]})


def add_routes(app: web.Application, prefix: str) -> None:
    """Register zone endpoints."""
    app.router.add_get(f"{prefix}/zones", list_zones)
    app.router.add_get(f"{prefix}/zones/{{zone_id}}", get_zone)
    app.router.add_post(f"{prefix}/zones/{{zone_id}}/purge_cache", purge_cache)


def seed(state: SimState) -> None:
    """Create the ``spacevision.app`` zone."""
    state.zones.add(state, "spacevision.app")
