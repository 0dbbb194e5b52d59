"""The ``flarewatch`` command line.

Exit codes: 0 ok, 1 a check failed, 2 bad input (configuration or arguments).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from pathlib import Path

import click

from ops.cli_common import BadInput

# The simulator's seeds, spelled here so that the CLI does not import the simulator until
# it runs it (tests/unit/test_cli.py keeps the two lists equal).
SEEDS = ("spacevision", "empty")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flarewatch")
def main() -> None:
    """flarewatch: keep a Cloudflare estate (Workers, Pages, KV, R2, D1, DNS) healthy."""


def _parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r} (for example 127.0.0.1:8787)")
    return host or "127.0.0.1", int(port)


async def _serve_simulator(
    host: str, port: int, seed: str, token: str | None, *, demo: bool
) -> None:
    from cfsim.server import SimServer

    server = SimServer(seed=seed, token=token, host=host, port=port)  # type: ignore[arg-type]
    # Handlers go in before anything is printed: a supervisor that reads the banner and then
    # sends SIGTERM must get a clean stop, not the default kill.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except OSError as err:
        raise BadInput(
            f"cannot listen on {host}:{port}: {err.strerror or err}. "
            "Choose another address with --port/--listen (0 picks a free port)."
        ) from err
    out = click.echo
    out(f"flarewatch simulator listening on {server.url} (seed: {seed})")
    out(f"  API base URL : {server.api_url}")
    out(f"  account id   : {server.account_id}")
    out(f"  API token    : {server.token}")
    out("")
    out("Talk to it:")
    out(f"  export CLOUDFLARE_API_BASE_URL={server.api_url}")
    out(f"  export CLOUDFLARE_API_TOKEN={server.token}")
    out(f"  export CLOUDFLARE_ACCOUNT_ID={server.account_id}")
    out('  curl -s -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \\')
    out('       "$CLOUDFLARE_API_BASE_URL/zones"')
    out(f"  curl -s {server.url}/__sim/   # controls: faults, request log, traffic, reset")
    if demo:
        out("")
        out("The api Worker answers at the edge, by hostname:")
        out(f"  curl -s -H 'Host: api.spacevision.app' {server.url}/health")
        out("Demo: break D1 for a minute and watch the API, and the Worker's health, answer 503:")
        out(
            f"  curl -s -X POST {server.url}/__sim/faults -d "
            '\'{"service": "d1", "outage": true, "duration_s": 60}\''
        )
    out("Press Ctrl-C to stop.")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await server.stop()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535))
@click.option("--seed", type=click.Choice(SEEDS), default="spacevision", show_default=True)
@click.option("--token", default=None, help="API token to accept (default: a new random one).")
def simulator(host: str, port: int, seed: str, token: str | None) -> None:
    """Run the Cloudflare API simulator (for tests, demos and incident drills)."""
    asyncio.run(_serve_simulator(host, port, seed, token, demo=False))


def _parse_seconds(value: str, option: str) -> float:
    from probes.units import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint=option) from None
    if seconds <= 0:
        raise click.BadParameter("must be more than 0", param_hint=option)
    return seconds


@main.command()
@click.option(
    "--listen",
    default="127.0.0.1:9310",
    show_default=True,
    help="HOST:PORT for the status page and metrics (port 0 picks a free one).",
)
@click.option("--incident-every", default="2m", hidden=True, help="Time between incidents.")
@click.option("--incident-for", default="60s", hidden=True, help="How long one is held.")
@click.option(
    "--incidents", default="", hidden=True, help="Comma-separated incident keys, in order."
)
def demo(listen: str, incident_every: str, incident_for: str, incidents: str) -> None:
    """Run the SpaceVision estate in a simulator, monitored, with an incident every few minutes.

    Starts the Cloudflare simulator and its DNS servers on loopback, runs the daemon on
    config/demo.yaml, prints where the status page and metrics are, then plays a scripted
    incident (KV latency spike, Worker error burst, R2 near quota, a DNS change) every two
    minutes. Ctrl-C stops everything.
    """
    _parse_listen(listen)
    every = _parse_seconds(incident_every, "--incident-every")
    length = _parse_seconds(incident_for, "--incident-for")
    try:
        from monitor.demo import Timing, run_demo

        timing = Timing(every_s=every, length_s=length)
        keys = [key.strip() for key in incidents.split(",") if key.strip()]
        code = run_demo(listen, timing=timing, incidents=keys)
    except ValueError as err:
        raise BadInput(str(err)) from None
    except KeyboardInterrupt:  # Ctrl-C before the demo's own handlers were in place
        code = 0
    sys.exit(code)


@main.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check_config(file: Path, as_json: bool) -> None:
    """Validate a configuration file: every problem at once, with file:line and a hint."""
    from monitor.configload import check_config_file

    sys.exit(check_config_file(file, as_json=as_json))


@main.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The configuration file.",
)
def run(config_path: Path) -> None:
    """Run the monitoring daemon until SIGTERM or SIGINT."""
    # Start-up (the imports, the configuration) allocates what the daemon keeps for good:
    # collecting garbage meanwhile only costs time (about 0.05-0.1 s of CPU). run_daemon
    # freezes what start-up left and turns the collector back on.
    gc.disable()
    try:
        from monitor.daemon import run_daemon
    except BaseException:
        gc.enable()
        raise
    sys.exit(run_daemon(config_path))


@main.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The configuration file.",
)
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def probe(config_path: Path, names: tuple[str, ...], as_json: bool) -> None:
    """Run probes once (all, or the NAMEs given), print the results; exit 1 on any failure."""
    from monitor.oneshot import probe_command

    sys.exit(probe_command(config_path, names, as_json=as_json))


from ops.cli_logs import logs as logs_group  # noqa: E402  (sub-command groups go last)

main.add_command(logs_group)
from ops.cli_dns import dns as dns_group  # noqa: E402
from ops.cli_explain import explain_command  # noqa: E402
from ops.cli_perf import perf as perf_command  # noqa: E402

main.add_command(dns_group)
main.add_command(explain_command)
main.add_command(perf_command)
from monitor.cli_alerts import alerts_command, silence_group  # noqa: E402

main.add_command(alerts_command)
main.add_command(silence_group)
from monitor.cli_rules import rules_group  # noqa: E402

main.add_command(rules_group)
