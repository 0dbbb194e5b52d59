"""Run the status page driver in headless Chromium inside a loopback-only network namespace.

Chromium reaches for outside hosts even with its quiet flags, so it never runs in the test
process's network: ``driver.py`` runs under ``unshare -n`` with its own page server, plays
every scenario once per module and writes what the browser saw to ``result.json``. Tests
assert on that record. Missing Chromium, ``unshare`` or the right to create a network
namespace skip these tests with the reason; a driver that breaks fails them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
DRIVER_TIMEOUT_S = 180.0
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@dataclass(frozen=True)
class BrowserRun:
    """One run of the driver: the page server's URL and each scenario's record."""

    url: str
    scenarios: dict[str, dict[str, Any]]

    def scenario(self, name: str) -> dict[str, Any]:
        """The record of scenario ``name``; fails the test with its traceback if it broke."""
        record = self.scenarios[name]
        if "error" in record:
            pytest.fail(f"scenario {name!r} failed in the browser:\n{record['error']}")
        return record


def _tool(name: str) -> str:
    """The absolute path of a command on PATH (checked by :func:`_unavailable`)."""
    path = shutil.which(name)
    assert path is not None, name
    return path


def _unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    for tool in ("unshare", "ip", "bash"):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install util-linux iproute2)"
    probe = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [_tool("unshare"), "-n", "true"], capture_output=True, text=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        return f"cannot create a network namespace (unshare -n): {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def browser_run(tmp_path_factory: pytest.TempPathFactory) -> BrowserRun:
    """Every scenario played once in Chromium inside ``unshare -n``."""
    reason = _unavailable()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("statuspage")
    # $0, $1 and $2 keep the paths out of the shell string.
    script = 'ip link set lo up && exec "$0" -m tests.integration.statuspage.driver "$1" "$2"'
    proc = subprocess.Popen(  # noqa: S603 - fixed argv; the shell string takes no input
        [_tool("unshare"), "-n", _tool("bash"), "-c", script, sys.executable, str(out), CHROMIUM],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=DRIVER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"the browser driver did not finish in {DRIVER_TIMEOUT_S} s:\n{stderr}")
    if proc.returncode != 0:
        pytest.fail(f"the browser driver failed ({proc.returncode}):\n{stdout}\n{stderr}")
    result = json.loads((out / "result.json").read_text())
    return BrowserRun(url=result["url"], scenarios=result["scenarios"])
