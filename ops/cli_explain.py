"""``flarewatch explain``: what a Cloudflare error code or message means, and what to do.

Exit codes: 0 the catalogue explains it, 1 nothing documented matches, 2 bad input.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Sequence

import click

from ops.cli_common import BadInput
from ops.errors_catalog import (
    ENTRIES,
    SERVICES,
    CatalogEntry,
    Explanation,
    explain,
    parse_service,
)

_LABELS = {
    "api": "API",
    "graphql": "GraphQL",
    "workers": "Workers",
    "kv": "KV",
    "r2": "R2",
    "d1": "D1",
    "dns": "DNS",
    "edge": "Edge",
}
_WIDTH = 100


def _wrap(label: str, text: str) -> list[str]:
    head = f"  {label:<15}"
    return textwrap.wrap(
        text,
        width=_WIDTH,
        initial_indent=head,
        subsequent_indent=" " * len(head),
        break_long_words=False,
        break_on_hyphens=False,
    ) or [head.rstrip()]


def format_entry(entry: CatalogEntry) -> str:
    """One entry as the command prints it: a heading, then what, why, fix and source."""
    code = f" {entry.code}" if entry.code is not None else ""
    status = f", HTTP {entry.http_status}" if entry.http_status is not None else ""
    lines = [f"{_LABELS[entry.service]}{code}: {entry.title}", f"  ({entry.context}{status})"]
    lines += _wrap("What it means:", entry.explanation)
    lines += _wrap("What to do:", entry.fix)
    if entry.retry:
        lines += _wrap("Retry:", "yes, retrying is the documented remedy")
    if entry.note:
        lines += _wrap("Note:", entry.note)
    lines += _wrap("Source:", entry.source)
    return "\n".join(lines)


def format_explanations(query: str, found: Sequence[Explanation]) -> str:
    """Every match, best first, with a line saying how many and which fits best."""
    parts = [format_entry(item.entry) for item in found]
    text = "\n\n".join(parts)
    if len(found) > 1:
        services = ", ".join(dict.fromkeys(_LABELS[i.entry.service] for i in found))
        text += (
            f"\n\n-- {len(found)} entries match {query!r} ({services}); the first fits best. "
            "Narrow with --service."
        )
    return text


@click.command("explain")
@click.argument("words", nargs=-1, metavar="CODE|MESSAGE")
@click.option(
    "--service",
    type=click.Choice(SERVICES),
    help="Only this product's errors (codes overlap: 10007 is Workers' and R2's).",
)
@click.option("--list", "list_all", is_flag=True, help="List the whole catalogue.")
@click.option("--json", "as_json", is_flag=True, help="Print the matches as JSON.")
def explain_command(
    words: tuple[str, ...], service: str | None, list_all: bool, as_json: bool
) -> None:
    """Explain a Cloudflare error code or message, with a fix and the documentation it cites.

    \b
    Examples:
      flarewatch explain 10000
      flarewatch explain "D1_ERROR: Network connection lost."
      flarewatch explain --service r2 10007
    """
    chosen = parse_service(service) if service else None
    if list_all:
        entries = [e for e in ENTRIES if chosen is None or e.service == chosen]
        if as_json:
            click.echo(json.dumps([e.to_dict() for e in entries], ensure_ascii=False))
        else:
            for e in entries:
                code = str(e.code) if e.code is not None else "-"
                click.echo(f"{_LABELS[e.service]:<8} {code:>7}  {e.title}")
        return
    query = " ".join(words).strip()
    if not query:
        raise BadInput(
            "give an error code or message, e.g. 'flarewatch explain 10000' or "
            "'flarewatch explain \"D1_ERROR: Network connection lost.\"' (--list shows all)"
        )
    found = explain(query, service=chosen)
    if as_json:
        click.echo(
            json.dumps(
                {"query": query, "matches": [f.to_dict() for f in found]}, ensure_ascii=False
            )
        )
    elif found:
        click.echo(format_explanations(query, found))
    if not found:
        where = f" among {_LABELS[chosen]} errors" if chosen else ""
        click.echo(
            f"-- nothing documented matches {query!r}{where}; 'flarewatch explain --list' "
            "shows what the catalogue holds",
            err=True,
        )
        sys.exit(1)
