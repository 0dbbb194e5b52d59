"""Shared by the daemon benchmarks: ``flarewatch run`` as a process of its own, measured.

The daemon always runs in its own process, so what is measured (CPU from ``/proc/PID/stat``,
RSS from ``/proc/PID/status``) is the daemon's alone; the servers it probes (simulator, DNS,
HTTP targets) run in the benchmark's process. On a machine with two cores or more the
daemon is pinned to the last core and the benchmark process to the others, so they do not
take turns on one.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def pin_cores() -> tuple[list[str], int | None]:
    """A ``taskset`` prefix for the daemon and its core; the benchmark moves off that core."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return [], None
    daemon_core = cores[-1]
    os.sched_setaffinity(0, set(cores[:-1]))
    return ["taskset", "-c", str(daemon_core)], daemon_core


def free_port() -> int:
    """A TCP port free on loopback now (for the daemon's listen address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name: index 1 is the parent's
    pid, 11 and 12 user and system time, 13 and 14 those of reaped children (clock ticks)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()


def proc_status_kb(pid: int, key: str) -> int:
    """A ``/proc/PID/status`` figure in kB (``VmRSS``, ``VmHWM``); 0 when it is not there."""
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


class DaemonProcess:
    """``flarewatch run -c CONFIG`` as a child process; its stderr kept line by line."""

    def __init__(self, config: Path, env: Mapping[str, str], *, pin: bool = True) -> None:
        prefix, self.core = pin_cores() if pin else ([], None)
        ours = ("CLOUDFLARE_", "FLAREWATCH_", "NOTIFY_SOCKET")
        clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [*prefix, sys.executable, "-m", "monitor", "run", "-c", str(config)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**clean, **env, "PYTHONUNBUFFERED": "1"},
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        """The daemon's process id (taskset execs it, so it is the Python process)."""
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far."""
        fields = proc_stat(self.pid)
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def status_kb(self, key: str) -> int:
        """A ``/proc/PID/status`` figure in kB (``VmRSS``, ``VmHWM``)."""
        return proc_status_kb(self.pid, key)

    def rss_mb(self) -> float:
        """Resident memory now, MB (10^6 bytes)."""
        return self.status_kb("VmRSS") * 1024 / 1e6

    def peak_rss_mb(self) -> float:
        """The highest resident memory so far, MB."""
        return self.status_kb("VmHWM") * 1024 / 1e6

    def check_alive(self) -> None:
        """Fail with the daemon's log when it has exited."""
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"flarewatch run exited with {self.proc.returncode}:\n" + "\n".join(self.lines)
            )

    def stop(self) -> int:
        """SIGTERM and the exit code (killed after 15 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode


async def wait_ready(
    http: aiohttp.ClientSession, base: str, daemon: DaemonProcess, timeout_s: float = 60.0
) -> tuple[float, float]:
    """Poll ``/readyz`` every 5 ms: seconds from process start to serving, and to ready."""
    deadline = time.monotonic() + timeout_s
    serving: float | None = None
    while time.monotonic() < deadline:
        daemon.check_alive()
        try:
            async with http.get(base + "/readyz") as resp:
                now = time.monotonic()
                if serving is None:
                    serving = now - daemon.started
                if resp.status == 200:
                    return serving, now - daemon.started
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.005)
    raise RuntimeError(f"not ready within {timeout_s:g} s:\n" + "\n".join(daemon.lines[-20:]))


@dataclass(frozen=True)
class Scrape:
    """Selected figures from one ``/metrics`` scrape."""

    runs: float
    lag_buckets: tuple[tuple[float, float], ...]
    lag_count: float
    lag_sum: float
    skipped: float


async def scrape(http: aiohttp.ClientSession, base: str) -> Scrape:
    """Runs so far (every probe, every status), the scheduler lag histogram, skipped runs."""
    async with http.get(base + "/metrics") as resp:
        text = await resp.text()
    runs = lag_count = lag_sum = skipped = 0.0
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "flarewatch_probe_runs_total":
                runs += sample.value
            elif sample.name == "flarewatch_scheduler_lag_seconds_bucket":
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name == "flarewatch_scheduler_lag_seconds_count":
                lag_count = sample.value
            elif sample.name == "flarewatch_scheduler_lag_seconds_sum":
                lag_sum = sample.value
            elif sample.name == "flarewatch_scheduler_skipped_runs_total":
                skipped += sample.value
    return Scrape(runs, tuple(sorted(buckets)), lag_count, lag_sum, skipped)


def histogram_quantile(
    q: float, before: tuple[tuple[float, float], ...], after: tuple[tuple[float, float], ...]
) -> float | None:
    """The ``q`` quantile of what a cumulative histogram gained between two scrapes.

    Interpolated linearly within the bucket, as Prometheus's ``histogram_quantile`` does:
    the answer is only as fine as the buckets (the bucket's bounds are reported with it).
    """
    start = dict(before)
    counts = [(le, value - start.get(le, 0.0)) for le, value in after]
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower_le, lower_count = 0.0, 0.0
    for le, count in counts:
        if count >= rank:
            if le == float("inf"):
                return lower_le
            span = count - lower_count
            return lower_le + (le - lower_le) * ((rank - lower_count) / span if span else 1.0)
        lower_le, lower_count = le, count
    return None


def bucket_of(value: float, buckets: tuple[tuple[float, float], ...]) -> str:
    """``(0.01, 0.025]``: the histogram bucket ``value`` falls in."""
    lower = 0.0
    for le, _ in buckets:
        if value <= le:
            return f"({lower:g}, {le:g}] s"
        lower = le
    return f"> {lower:g} s"


def write_config(path: Path, data: Mapping[str, Any]) -> Path:
    """Write a YAML config document."""
    import yaml

    path.write_text(yaml.safe_dump(dict(data), sort_keys=False))
    return path
