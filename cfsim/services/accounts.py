"""Accounts, the user, memberships, token verification and audit logs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cfsim.context import state_of
from cfsim.envelope import CfHttpError, ok, page_params, paginate
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
                "api_access_enabled": None,
                "use_account_custom_ns_by_default": False,
                "abuse_contact_email": None,
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


def add_routes(app: web.Application, prefix: str) -> None:
    """Register account, user, membership, token and audit-log endpoints."""
    app.router.add_get(f"{prefix}/accounts", list_accounts)
    app.router.add_get(f"{prefix}/accounts/{{account_id}}", get_account)
    app.router.add_get(f"{prefix}/accounts/{{account_id}}/tokens/verify", verify_token)
    app.router.add_get(f"{prefix}/accounts/{{account_id}}/audit_logs", list_audit_logs)
    app.router.add_get(f"{prefix}/user", get_user)
    app.router.add_get(f"{prefix}/user/tokens/verify", verify_token)
    app.router.add_get(f"{prefix}/user/audit_logs", list_audit_logs)
    app.router.add_get(f"{prefix}/memberships", list_memberships)


def seed(state: SimState) -> None:
    """Name the account after SpaceVision."""
    state.accounts.account_name = "SpaceVision"
    state.accounts.user_email = "ops@spacevision.app"
