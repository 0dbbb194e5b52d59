"""systemd's notify protocol (``sd_notify(3)``), without libsystemd.

With ``NOTIFY_SOCKET`` set (``Type=notify`` or ``Type=notify-reload`` units), the daemon
sends ``READY=1`` once the first round of probes is done, ``RELOADING=1`` (with
``MONOTONIC_USEC``, as ``notify-reload`` requires) and ``READY=1`` again around a reload,
``STOPPING=1`` when it begins to shut down, ``STATUS=…`` lines for ``systemctl status``, and
``WATCHDOG=1`` every half ``WATCHDOG_USEC`` while the scheduler is alive (so a wedged daemon
is restarted by ``WatchdogSec=``).

The socket is a Unix datagram socket; a path starting with ``@`` is in the abstract
namespace. Sending never blocks and never raises: a missing or refusing socket is logged
once and otherwise ignored — notifications are advice to the service manager, not a reason
to stop monitoring.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger("flarewatch.sdnotify")


def socket_address(value: str) -> str | None:
    """The ``AF_UNIX`` address for a ``NOTIFY_SOCKET`` value (``@`` → abstract namespace).

    ``None`` for what this module cannot use (empty, or ``vsock:`` addresses).
    """
    if not value or value.startswith("vsock:"):
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    return value


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """How often to ping (half of ``WATCHDOG_USEC``), or ``None`` when no watchdog is asked.

    ``WATCHDOG_PID``, when set, must be this process.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec) / 1_000_000 / 2


class Notifier:
    """Sends notify messages to ``NOTIFY_SOCKET`` (a no-op without one)."""

    def __init__(self, address: str | None, watchdog_s: float | None = None) -> None:
        self.address = address
        self.watchdog_s = watchdog_s
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """A notifier configured from the environment systemd sets."""
        env = os.environ if environ is None else environ
        address = socket_address(env.get("NOTIFY_SOCKET", ""))
        watchdog = watchdog_interval(env, os.getpid()) if address is not None else None
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to notify."""
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``"READY=1"``…) as one datagram; ``False`` if it could not be sent."""
        if self.address is None:
            return False
        message = "\n".join(fields).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(message, self.address)
        except OSError as err:
            if not self._warned:
                self._warned = True
                log.warning("sd_notify_failed", error=err.strerror or type(err).__name__)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1`` (plus ``STATUS=``)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self, monotonic_usec: int | None = None) -> bool:
        """``RELOADING=1`` with ``MONOTONIC_USEC`` (required by ``Type=notify-reload``)."""
        usec = (
            monotonic_usec
            if monotonic_usec is not None
            else time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        )
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        """``STOPPING=1``."""
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        """``STATUS=<text>`` (shown by ``systemctl status``)."""
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        """``WATCHDOG=1``."""
        return self.notify("WATCHDOG=1")

    async def watchdog_loop(self, alive: Callable[[], bool]) -> None:
        """Ping every ``watchdog_s`` while ``alive()``; skip pings while it is not.

        Runs until cancelled; returns at once when no watchdog was asked for.
        """
        if self.watchdog_s is None or self.address is None:
            return
        while True:
            if alive():
                self.watchdog()
            await asyncio.sleep(self.watchdog_s)

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
