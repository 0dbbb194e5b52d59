"""sd_notify: socket addresses and watchdog timing from the environment (no sockets here)."""

from __future__ import annotations

import pytest

from monitor.sdnotify import Notifier, socket_address, watchdog_interval


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/run/systemd/notify", "/run/systemd/notify"),
        ("@flarewatch/notify", "\0flarewatch/notify"),
        ("", None),
        ("vsock:2:1234", None),
    ],
)
def test_socket_address_understands_abstract_names(value: str, expected: str | None) -> None:
    """``@name`` is the abstract namespace (a leading NUL byte), as systemd documents."""
    assert expected == socket_address(value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "20000000"}, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "4242"}, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_pings_at_half_the_timeout(env: dict[str, str], expected: float | None) -> None:
    """Pinging at half WATCHDOG_USEC leaves slack; a watchdog for another PID is not ours."""
    assert expected == watchdog_interval(env, pid=4242)


def test_without_a_socket_nothing_is_sent() -> None:
    """Outside systemd, notifications are a silent no-op."""
    notifier = Notifier.from_env({})
    assert (False, False, None) == (notifier.enabled, notifier.ready(), notifier.watchdog_s)


async def test_watchdog_loop_returns_at_once_without_a_watchdog() -> None:
    """No WATCHDOG_USEC, no pinging task left behind."""
    await Notifier(None).watchdog_loop(lambda: True)
