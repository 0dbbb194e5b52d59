"""Accounts, the user, memberships, token verification and audit logs."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cfsim.context import state_of
from cfsim.envelope import CODE_VALIDATION, CfHttpError, ok, page_params, paginate, query_int
from cfsim.ids import iso, new_id

if TYPE_CHECKING:
    from cfsim.state import SimState


@dataclass
class AccountsStore:
    """The one simulated account, its user and the API token's metadata."""

    account_id: str = field(default_factory=new_id)
    account_name: str = "Example Account"
    created_on: str = field(default_factory=iso)
    token_id: str = field(default_factory=new_id)
    user_id: str = field(default_factory=new_id)
    user_email: str = "ops@example.com"
    audit_log: list[dict[str, Any]] = field(default_factory=list)

    def aliases(self, value: str) -> tuple[str, ...]:
        """Accounts have no alternative names."""
        return ()

    def account(self) -> dict[str, Any]:
        """The account object as ``GET /accounts/{id}`` returns it."""
        return {
            "id": self.account_id,
            "name": self.account_name,
            "type": "standard",
            "settings": {
                "enforce_twofactor": False,
                "default_nameservers": "cloudflare.standard",
                "use_account_custom_ns_by_default": False,
                "abuse_contact_email": f"abuse@{self.user_email.partition('@')[2]}",
            },
            "created_on": self.created_on,
        }

    def audit(self, state: SimState, action: str, resource_type: str, resource_id: str) -> None:
        """Record a change in the account's audit log (newest first when listed)."""
        self.audit_log.append(
            {
                "id": new_id(),
                "action": {"type": action, "result": True, "info": ""},
                "actor": {
                    "id": self.user_id,
                    "email": self.user_email,
                    "type": "user",
                    "ip": "127.0.0.1",
                },
                "interface": "API",
                "metadata": {},
                "newValue": "",
                "oldValue": "",
                "owner": {"id": self.account_id},
                "resource": {"id": resource_id, "type": resource_type},
                "when": iso(),
            }
        )


def require_account(request: web.Request) -> SimState:
    """Return the state if the path's ``account_id`` is the simulated account, else 403."""
    state = state_of(request)
    if request.match_info.get("account_id") != state.account_id:
        raise CfHttpError(403, 9109, "Unauthorized to access requested resource")
    return state


async def list_accounts(request: web.Request) -> web.Response:
    """GET /accounts."""
    state = state_of(request)
    page, per_page = page_params(request, default_per_page=20, min_per_page=5, max_per_page=50)
    items, info = paginate([state.accounts.account()], page, per_page)
    return ok(items, result_info=info)


async def get_account(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}."""
    state = require_account(request)
    return ok(state.accounts.account())


async def get_user(request: web.Request) -> web.Response:
    """GET /user."""
    store = state_of(request).accounts
    return ok(
        {
            "id": store.user_id,
            "email": store.user_email,
            "first_name": "Ops",
            "last_name": "Team",
            "username": "ops",
            "telephone": None,
            "country": "US",
            "zipcode": None,
            "two_factor_authentication_enabled": True,
            "two_factor_authentication_locked": False,
            "has_pro_zones": False,
            "has_business_zones": False,
            "has_enterprise_zones": False,
            "suspended": False,
            "betas": [],
            "organizations": [],
        }
    )


async def list_memberships(request: web.Request) -> web.Response:
    """GET /memberships."""
    store = state_of(request).accounts
    page, per_page = page_params(request, default_per_page=20, min_per_page=5, max_per_page=50)
    membership = {
        "id": store.token_id[:16] + store.account_id[:16],
        "status": "accepted",
        "account": store.account(),
        "permissions": {},
        "roles": ["Administrator"],
    }
    items, info = paginate([membership], page, per_page)
    return ok(items, result_info=info)


async def verify_token(request: web.Request) -> web.Response:
    """GET /user/tokens/verify and GET /accounts/{account_id}/tokens/verify."""
    state = state_of(request)
    if "account_id" in request.match_info:
        state = require_account(request)
    return ok(
        {
            "id": state.accounts.token_id,
            "status": "active",
            "expires_on": "2030-01-01T00:00:00Z",
            "not_before": "2024-01-01T00:00:00Z",
        },
        messages=[{"code": 10000, "message": "This API Token is valid and active", "type": None}],
    )


async def list_audit_logs(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/audit_logs and GET /user/audit_logs (v1, page/per_page)."""
    state = state_of(request)
    if "account_id" in request.match_info:
        state = require_account(request)
    page, per_page = page_params(request, default_per_page=100, min_per_page=1, max_per_page=1000)
    entries = list(reversed(state.accounts.audit_log))
    items, info = paginate(entries, page, per_page)
    return ok(items, result_info=info)


# Audit logs v2 (``GET /accounts/{account_id}/logs/audit``): cursor pages over the same entries.
AUDIT_V2_LIMIT_DEFAULT = 100
AUDIT_V2_LIMIT_MAX = 1000  # [I] the SDK documents no bound; 1000 keeps pages sane
# v1 action names as Cloudflare logs them (``rec_add``…) mapped to v2's action types.
_V2_ACTIONS = {"rec_add": "create", "rec_set": "update", "rec_del": "delete"}
_V2_FILTERS: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
    ("action_type", lambda e: e["action"]["type"]),
    ("action_result", lambda e: e["action"]["result"]),
    ("resource_type", lambda e: e["resource"]["type"]),
    ("resource_id", lambda e: e["resource"]["id"]),
    ("resource_product", lambda e: e["resource"]["product"]),
    ("zone_id", lambda e: e.get("zone", {}).get("id", "")),
    ("zone_name", lambda e: e.get("zone", {}).get("name", "")),
    ("actor_email", lambda e: e["actor"]["email"]),
    ("actor_type", lambda e: e["actor"]["type"]),
    ("audit_log_id", lambda e: e["id"]),
    ("id", lambda e: e["id"]),
)


def _v2_action(v1_type: str) -> str:
    if v1_type in _V2_ACTIONS:
        return _V2_ACTIONS[v1_type]
    if v1_type in ("create", "update", "delete", "view"):
        return v1_type
    if "del" in v1_type or "remove" in v1_type:
        return "delete"
    if "add" in v1_type or "create" in v1_type:
        return "create"
    return "update"


def audit_v2_entry(store: AccountsStore, entry: dict[str, Any]) -> dict[str, Any]:
    """A v1 audit-log entry in the v2 shape (SDK ``AuditListResponse``)."""
    metadata = entry.get("metadata") or {}
    resource_type = entry["resource"]["type"]
    v2: dict[str, Any] = {
        "id": entry["id"],
        "account": {"id": store.account_id, "name": store.account_name},
        "action": {
            "description": f"{entry['action']['type']} {resource_type}",
            "result": "success" if entry["action"]["result"] else "failure",
            "time": entry["when"],
            "type": _v2_action(entry["action"]["type"]),
        },
        "actor": {
            "id": entry["actor"]["id"],
            "context": "api_token",
            "email": entry["actor"]["email"],
            "ip_address": entry["actor"]["ip"],
            "token_id": store.token_id,
            "token_name": "flarewatch",
            "type": entry["actor"]["type"],
        },
        "resource": {
            "id": entry["resource"]["id"],
            "product": resource_type.lower(),
            "scope": {"type": "zones" if "zone_id" in metadata else "accounts"},
            "type": resource_type,
            "request": {},
            "response": {k: v for k, v in metadata.items() if k not in ("zone_id", "zone_name")},
        },
    }
    if "zone_id" in metadata:
        v2["zone"] = {"id": metadata["zone_id"], "name": metadata.get("zone_name", "")}
    return v2


def parse_audit_time(raw: str, *, end_of_day: bool) -> datetime:
    """``2019-04-30`` (UTC; the day's end when ``end_of_day``) or an RFC 3339 timestamp."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
        return day + timedelta(days=1) if end_of_day else day
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _v2_filters(query: Any) -> list[Callable[[dict[str, Any]], bool]]:
    """``name=value`` keeps matching entries; ``name.not=value`` (repeatable) drops them."""
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for name, getter in _V2_FILTERS:
        if name in query:
            checks.append(_keeps(getter, {query[name]}, keep=True))
        # SDK 5.9.0 sends ``name.not=value`` (nested "dots" format); deepObject clients
        # send ``name[not]=value``: accept both.
        excluded = set(query.getall(f"{name}.not", [])) | set(query.getall(f"{name}[not]", []))
        if excluded:
            checks.append(_keeps(getter, excluded, keep=False))
    return checks


def _keeps(
    getter: Callable[[dict[str, Any]], Any], values: set[str], *, keep: bool
) -> Callable[[dict[str, Any]], bool]:
    return lambda entry: (str(getter(entry)) in values) is keep


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode("ascii")


def _offset(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
        prefix, _, number = text.partition(":")
        if prefix != "o" or not number.isdigit():
            raise ValueError(cursor)
    except ValueError as err:
        raise CfHttpError(400, CODE_VALIDATION, "Invalid value for 'cursor'") from err
    return int(number)


async def list_audit_logs_v2(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/logs/audit: v2 entries, ``since``/``before`` required.

    Cursor pagination: ``result_info`` carries ``count`` and ``cursor`` (CursorLimitPagination,
    SDK 4.x) and ``cursors.after`` (CursorPaginationAfter, SDK 5.9); both are empty when the
    last page is served.
    """
    state = require_account(request)
    query = request.query
    try:
        since = parse_audit_time(query["since"], end_of_day=False)
        before = parse_audit_time(query["before"], end_of_day=True)
    except KeyError as err:
        raise CfHttpError(
            400, CODE_VALIDATION, f"Missing required query parameter {err.args[0]!r}"
        ) from err
    except ValueError as err:
        raise CfHttpError(
            400, CODE_VALIDATION, "'since' and 'before' must be YYYY-MM-DD or RFC 3339"
        ) from err
    direction = query.get("direction", "desc")
    if direction not in ("asc", "desc"):
        raise CfHttpError(400, CODE_VALIDATION, "Invalid value for 'direction': asc or desc")
    limit = query_int(
        request, "limit", AUDIT_V2_LIMIT_DEFAULT, minimum=1, maximum=AUDIT_V2_LIMIT_MAX
    )
    offset = _offset(query["cursor"]) if query.get("cursor") else 0
    checks = _v2_filters(query)
    store = state.accounts
    entries = []
    for entry in store.audit_log:
        when = parse_audit_time(entry["when"], end_of_day=False)
        v2 = audit_v2_entry(store, entry)
        if since <= when < before and all(check(v2) for check in checks):
            entries.append(v2)
    if direction == "desc":
        entries.reverse()
    page = entries[offset : offset + limit]
    after = _cursor(offset + limit) if offset + limit < len(entries) else ""
    info = {"count": len(page), "cursor": after, "cursors": {"after": after} if after else {}}
    return ok(page, result_info=info)


def add_routes(app: web.Application, prefix: str) -> None:
    """Register account, user, membership, token and audit-log endpoints."""
    app.router.add_get(f"{prefix}/accounts", list_accounts)
    app.router.add_get(f"{prefix}/accounts/{{account_id}}", get_account)
    app.router.add_get(f"{prefix}/accounts/{{account_id}}/tokens/verify", verify_token)
    app.router.add_get(f"{prefix}/accounts/{{account_id}}/audit_logs", list_audit_logs)
    app.router.add_get(f"{prefix}/accounts/{{account_id}}/logs/audit", list_audit_logs_v2)
    app.router.add_get(f"{prefix}/user", get_user)
    app.router.add_get(f"{prefix}/user/tokens/verify", verify_token)
    app.router.add_get(f"{prefix}/user/audit_logs", list_audit_logs)
    app.router.add_get(f"{prefix}/memberships", list_memberships)


def seed(state: SimState) -> None:
    """Name the account after SpaceVision."""
    state.accounts.account_name = "SpaceVision"
    state.accounts.user_email = "ops@spacevision.app"
