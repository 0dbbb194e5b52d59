"""What importing the daemon loads: guards against heavy imports creeping back in.

``flarewatch run`` must start in under a second and idle in as little memory as it can
(benchmarks/daemon_footprint.py). Each module below once cost every start time and memory
while the daemon never used it; these tests assert about modules, not time, in a fresh
interpreter (the test process itself has imported everything long ago).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DAEMON = (
    "from monitor.daemon import run_daemon; "
    "from probes.registry import default_registry; default_registry()"
)
"""What ``flarewatch run`` imports before it reads the configuration."""

NEVER_IMPORTED = (
    "rich",  # structlog's pretty tracebacks (monitor/__init__.py)
    "pygments",  # rich's
    "greenlet",  # structlog's deprecated thread-local context
    "typer",  # cel's command-line tool (alerting/celengine.py)
    "prompt_toolkit",  # cel's command-line tool
    "cfsim",  # the simulator: tests, the demo and `flarewatch simulator` only
    "monitor.demo",
)
"""Top-level packages (or modules) the daemon never uses."""

LOADED_WHEN_USED = (
    "monitor.statuspage",  # the HTML page, on its first request
    "ops.logstream",  # the tail client, with logs.tail configured
    "dns.asyncquery",  # DNS over TCP, for a truncated answer
    "slack_sdk",  # the Slack notifier's client, on its first send
)
"""Modules the daemon imports only when the configuration or a request needs them."""


def modules_after(code: str) -> set[str]:
    """The names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def loaded(modules: set[str], name: str) -> bool:
    """Whether ``name`` or any module under it is in ``modules``."""
    return any(m == name or m.startswith(name + ".") for m in modules)


def test_importing_the_daemon_leaves_out_what_it_never_uses() -> None:
    """rich, greenlet, cel's CLI and the simulator cost every start megabytes and tens of
    milliseconds for nothing; a new top-level import must not bring them back."""
    modules = modules_after(DAEMON)
    assert [name for name in NEVER_IMPORTED if loaded(modules, name)] == []


def test_importing_the_daemon_defers_the_status_page_the_tail_client_and_slack() -> None:
    """The status page, the log tail client and slack-sdk load on first use: a daemon that
    only Prometheus scrapes, without continuous tails or a Slack message yet, never pays
    for them."""
    modules = modules_after(DAEMON)
    assert [name for name in LOADED_WHEN_USED if loaded(modules, name)] == []


def test_rich_stays_importable_after_structlog_was_imported_without_it() -> None:
    """rich is hidden only while structlog is imported: code that wants it (a CLI's pretty
    output) still gets the real module afterwards."""
    modules = modules_after("import monitor\nimport rich.console")
    assert {"structlog", "rich", "rich.console"} <= modules


def test_structlog_renders_tracebacks_without_rich_in_the_daemon() -> None:
    """The daemon's structlog has no rich: a JSON log line's traceback (locals included)
    comes out through the plain renderer, not an exception of a missing module."""
    code = (
        "import io, json, monitor\n"
        "from monitor.logging import configure_logging\n"
        "import structlog\n"
        "out = io.StringIO()\n"
        "configure_logging(fmt='json', stream=out)\n"
        "try:\n"
        "    secret_count = 3\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    structlog.get_logger('t').exception('boom')\n"
        "line = json.loads(out.getvalue().splitlines()[-1])\n"
        "frame = line['exception'][0]['frames'][-1]\n"
        "print(line['exception'][0]['exc_type'], frame['locals']['secret_count'])\n"
        "import sys\nprint('rich' in sys.modules)\n"
    )
    out = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split("\n")
    assert ["ZeroDivisionError 3", "False"] == out[:2]
