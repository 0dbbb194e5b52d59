"""``flarewatch logs``: live tails of Workers and Pages, the local log store, trace lookup.

Imported by ``monitor.cli`` at start-up, so this module stays cheap: the Cloudflare client,
aiohttp and SQLite are imported inside the commands that use them.
"""

from __future__ import annotations

import click


@click.group("logs")
def logs() -> None:
    """Live logs from Workers and Pages, and the logs flarewatch has stored."""
