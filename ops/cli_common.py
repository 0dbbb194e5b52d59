"""What the commands share: the bad-input error (every command's exit code 2; the
``monitor`` CLI's too), and for the operator commands (``logs``, ``perf``, ``dns check``,
``explain``) reading Cloudflare credentials from the environment, and keeping the
client library's logs out of a command's output.

Imported by the command modules at start-up: ``cfapi`` and ``structlog`` are imported
inside the functions that need them.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from cfapi.credentials import Credentials

ENV_ACCOUNT = "CLOUDFLARE_ACCOUNT_ID"


class BadInput(click.ClickException):
    """Bad input (arguments, environment): exit code 2 and a message, never a traceback."""

    exit_code = 2


def credentials_from_env() -> Credentials:
    """The API credentials from ``CLOUDFLARE_*``; :class:`BadInput` saying what is missing."""
    from cfapi.credentials import Credentials

    try:
        return Credentials.from_env()
    except ValueError as err:
        raise BadInput(f"no Cloudflare credentials: {err}") from None


def account_from_env() -> str | None:
    """``CLOUDFLARE_ACCOUNT_ID``, or ``None`` when it is unset or blank."""
    return os.environ.get(ENV_ACCOUNT, "").strip() or None


def account_required(owns: str) -> str:
    """``CLOUDFLARE_ACCOUNT_ID`` for a command that needs it; :class:`BadInput` naming what
    the account ``owns`` when it is missing."""
    account_id = account_from_env()
    if account_id is None:
        raise BadInput(f"set {ENV_ACCOUNT} to the account that owns {owns}")
    return account_id


def quiet_library_logs() -> None:
    """cfapi logs through structlog: keep warnings and above, on stderr, out of the
    command's output."""
    import logging

    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
