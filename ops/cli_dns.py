"""``flarewatch dns check``: test a zone's DNS against what the Cloudflare API holds.

Imported by ``monitor.cli`` at start-up, so the DNS machinery, the Cloudflare client and
aiohttp are imported inside the command.

Exit codes: 0 no error-level finding (warnings allowed), 1 at least one error-level finding
(or the zone could not be read from the API), 2 bad input (arguments, credentials, a zone
the account does not have).
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from typing import TYPE_CHECKING

import click

from ops.cli_common import BadInput, account_from_env, credentials_from_env, quiet_library_logs

if TYPE_CHECKING:
    from cfapi.credentials import Credentials
    from ops.dnscheck import Finding, Report
    from ops.dnsobserve import CheckOptions

_WIDTH = 100
_STYLE = {"error": ("ERROR", "red"), "warning": ("WARNING", "yellow"), "info": ("INFO", "blue")}


class CheckFailed(click.ClickException):
    """The check could not run (the API failed): exit code 1."""

    exit_code = 1


def format_finding(finding: Finding) -> str:
    """A finding as three indented parts: severity, check and subject; message; fix."""
    label, colour = _STYLE[finding.severity]
    head = f"{click.style(f'{label:<8}', fg=colour, bold=True)} {finding.check:<28} "
    head += finding.subject
    body = textwrap.fill(
        finding.message, width=_WIDTH, initial_indent=" " * 9, subsequent_indent=" " * 9
    )
    fix = textwrap.fill(
        finding.fix, width=_WIDTH, initial_indent=" " * 9 + "fix: ", subsequent_indent=" " * 14
    )
    return "\n".join((head, body, fix))


def format_report(report: Report) -> str:
    """The whole report: a summary line, what was checked, every finding."""
    errors, warnings, notes = (report.count(s) for s in ("error", "warning", "info"))

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    verdict = "OK" if report.exit_code == 0 else "FAILED"
    colour = "green" if report.exit_code == 0 else "red"
    lines = [
        f"dns check {report.zone}: {click.style(verdict, fg=colour, bold=True)} — "
        f"{plural(errors, 'error')}, {plural(warnings, 'warning')}, {plural(notes, 'note')}",
        f"  nameservers: {', '.join(report.nameservers) or 'none'}",
        f"  parent:      {report.parent or 'not checked'}",
        f"  checked:     {plural(report.records, 'record')}, "
        f"{plural(report.questions, 'question')}, {plural(report.targets, 'CNAME target')}",
    ]
    if report.findings:
        lines.append("")
        lines += [format_finding(f) for f in report.findings]
    return "\n".join(lines)


def build_options(
    nameservers: tuple[str, ...],
    resolvers: tuple[str, ...],
    parent: str | None,
    cas: tuple[str, ...],
    timeout: str,
) -> CheckOptions:
    """Check options from the command line (raises ``ValueError`` naming the bad value)."""
    from ops.cli_logs import parse_age
    from ops.dnsobserve import CheckOptions, parse_nameserver
    from probes.dnsquery import ServerAddress

    seconds = parse_age(timeout)
    if not 0 < seconds <= 30:
        raise ValueError(f"--timeout {timeout}: give a duration above 0 and at most 30s")
    return CheckOptions(
        nameservers=tuple(parse_nameserver(n) for n in nameservers),
        resolvers=tuple(ServerAddress.parse(r) for r in resolvers),
        parent=ServerAddress.parse(parent) if parent else None,
        cas=tuple(ca.strip().lower() for ca in cas if ca.strip()),
        timeout_s=seconds,
    )


async def run_check(
    credentials: Credentials, account_id: str | None, zone_name: str, options: CheckOptions
) -> Report:
    """Read the zone from the API, ask the DNS, judge (raises BadInput / CheckFailed)."""
    from cfapi.client import CloudflareClient
    from cfapi.errors import AuthError, CloudflareError, PermissionDenied
    from ops.dnscheck import assess
    from ops.dnsobserve import observe

    async with CloudflareClient(credentials) as cf:
        try:
            zone = await cf.zones.find(zone_name, account_id=account_id)
            if zone is None:
                where = f" in account {account_id}" if account_id else ""
                raise BadInput(
                    f"no zone {zone_name!r}{where}: check the name (the apex, e.g. "
                    "example.com) and the token's zone access"
                )
            records = [r async for r in cf.dns.list(zone.id)]
        except (AuthError, PermissionDenied) as err:
            raise BadInput(f"the API token was refused: {err}") from None
        except CloudflareError as err:
            raise CheckFailed(f"cannot read the zone from the Cloudflare API: {err}") from None
    observations = await observe(
        zone.name, records, options, assigned_ns=tuple(zone.name_servers or ())
    )
    return assess(observations)


@click.group("dns")
def dns() -> None:
    """DNS diagnostics for Cloudflare zones."""


@dns.command("check")
@click.argument("zone")
@click.option(
    "--nameserver",
    "nameservers",
    multiple=True,
    metavar="[NAME=]ADDR",
    help="An authoritative server to check (default: those Cloudflare assigned).",
)
@click.option(
    "--resolver",
    "resolvers",
    multiple=True,
    metavar="ADDR",
    help="A recursive resolver for CNAME targets and names (default: /etc/resolv.conf).",
)
@click.option("--parent", metavar="ADDR", help="A server of the parent zone (default: found).")
@click.option(
    "--ca",
    "cas",
    multiple=True,
    metavar="DOMAIN",
    help="A CA that issues the zone's certificates, e.g. letsencrypt.org "
    "(default: any CA Cloudflare uses).",
)
@click.option("--timeout", default="2s", show_default=True, help="Time per DNS question.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check(
    zone: str,
    nameservers: tuple[str, ...],
    resolvers: tuple[str, ...],
    parent: str | None,
    cas: tuple[str, ...],
    timeout: str,
    as_json: bool,
) -> None:
    """Check ZONE: delegation, serials, every API record on every nameserver, CNAME
    targets, proxied vs DNS-only, CAA, DNSSEC (DS against DNSKEY) and TTLs.

    Each finding has a severity and a fix. Exit 0 without errors, 1 with errors, 2 on bad
    input — usable as a CI gate.
    """
    name = zone.strip().lower().removesuffix(".")
    if not name or "." not in name:
        raise BadInput(f"{zone!r} is not a zone name: give the apex, e.g. example.com")
    try:
        options = build_options(nameservers, resolvers, parent, cas, timeout)
    except ValueError as err:
        raise BadInput(str(err)) from None
    credentials = credentials_from_env()
    account_id = account_from_env()
    quiet_library_logs()
    report = asyncio.run(run_check(credentials, account_id, name, options))
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        click.echo(format_report(report))
    sys.exit(report.exit_code)
