"""Audit logs: v1 (page/per_page, account and user) and v2 (cursor, account)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from cfapi.models import CfModel
from cfapi.pagination import after_pages, pages
from cfapi.service import Service, segment


class AuditLogEntry(CfModel):
    """One audit log entry (v1 shape; v2 entries keep their own fields as extras)."""

    id: str | None = None
    action: dict[str, Any] | None = None
    actor: dict[str, Any] | None = None
    interface: str | None = None
    resource: dict[str, Any] | None = None
    owner: dict[str, Any] | None = None
    when: str | None = None


class AuditApi(Service):
    """Who changed what, when."""

    def account_logs(
        self,
        account_id: str,
        *,
        since: str | None = None,
        before: str | None = None,
        direction: str = "desc",
        per_page: int = 100,
    ) -> AsyncIterator[AuditLogEntry]:
        """The account's audit log (v1), newest first by default."""
        fetch = self._fetcher(f"/accounts/{segment(account_id)}/audit_logs")
        params = {"since": since, "before": before, "direction": direction}
        return pages(fetch, AuditLogEntry.parse, per_page=per_page, params=params)

    def user_logs(
        self,
        *,
        since: str | None = None,
        before: str | None = None,
        direction: str = "desc",
        per_page: int = 100,
    ) -> AsyncIterator[AuditLogEntry]:
        """The user's audit log (v1)."""
        params = {"since": since, "before": before, "direction": direction}
        return pages(
            self._fetcher("/user/audit_logs"), AuditLogEntry.parse, per_page=per_page, params=params
        )

    def account_logs_v2(
        self,
        account_id: str,
        *,
        since: str,
        before: str,
        direction: str = "desc",
        limit: int = 100,
    ) -> AsyncIterator[AuditLogEntry]:
        """The account's audit log (v2, cursor pages) between ``since`` and ``before``."""
        fetch = self._fetcher(f"/accounts/{segment(account_id)}/logs/audit")
        params = {"since": since, "before": before, "direction": direction, "limit": limit}
        return after_pages(fetch, AuditLogEntry.parse, params=params)
