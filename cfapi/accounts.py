"""Accounts, the user, memberships and token verification."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from cfapi.models import CfModel
from cfapi.pagination import pages
from cfapi.service import Service, segment


class TokenStatus(CfModel):
    """``GET /user/tokens/verify``: whether the token works (``active|disabled|expired``)."""

    id: str
    status: str
    expires_on: str | None = None
    not_before: str | None = None


class Account(CfModel):
    """An account the credentials can see."""

    id: str
    name: str | None = None
    type: str | None = None
    settings: dict[str, Any] | None = None
    created_on: str | None = None


class User(CfModel):
    """The user the credentials belong to (user tokens and legacy keys)."""

    id: str | None = None
    email: str | None = None
    suspended: bool | None = None


class Membership(CfModel):
    """The user's membership of an account."""

    id: str | None = None
    status: str | None = None
    account: Account | None = None
    roles: list[str] | None = None


class AccountsApi(Service):
    """Token verification, accounts, the user and memberships."""

    async def verify_token(self) -> TokenStatus:
        """Verify a user-owned API token (``GET /user/tokens/verify``)."""
        return await self._result("GET", "/user/tokens/verify", TokenStatus)

    async def verify_account_token(self, account_id: str) -> TokenStatus:
        """Verify an account-owned API token on its account's path."""
        path = f"/accounts/{segment(account_id)}/tokens/verify"
        return await self._result("GET", path, TokenStatus)

    def list(self, *, name: str | None = None, per_page: int = 50) -> AsyncIterator[Account]:
        """Every account the credentials can see."""
        return pages(
            self._fetcher("/accounts"), Account.parse, per_page=per_page, params={"name": name}
        )

    async def get(self, account_id: str) -> Account:
        """One account."""
        return await self._result("GET", f"/accounts/{segment(account_id)}", Account)

    async def user(self) -> User:
        """The user behind the credentials."""
        return await self._result("GET", "/user", User)

    def memberships(self, *, per_page: int = 50) -> AsyncIterator[Membership]:
        """The user's account memberships."""
        return pages(self._fetcher("/memberships"), Membership.parse, per_page=per_page)
