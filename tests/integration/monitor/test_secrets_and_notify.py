"""No secret leaves the daemon; systemd hears READY=1 after the first round, on a real socket."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.sdnotify import Notifier
from tests.conftest import SimHandle
from tests.integration.monitor.conftest import ADMIN_TOKEN, Running, Starter, until
from tests.integration.monitor.testprobes import GATES


async def test_no_secret_appears_in_logs_metrics_status_or_page(
    sim: SimHandle, start_daemon: Starter, tmp_path: Path
) -> None:
    """Tokens never reach a log event, /metrics, the status JSON or the status page."""
    config = tmp_path / "fw.yaml"
    with capture_logs() as logs:
        running = await start_daemon(
            [
                {"name": "kv", "type": "kvlist"},
                {"name": "bad", "type": "script", "mode": "crash"},
            ],
            config_file=config,
        )

        async def both_ran() -> bool:
            probes = (await running.status())["probes"]
            return all(p["checked_at"] for p in probes)

        await until(both_ran)
        await sim.control(
            "POST",
            "/__sim/faults",
            json={"service": "kv", "error_status": 403, "error_code": 10000},
        )

        async def auth_failure_seen() -> bool:
            return bool((await running.probe("kv"))["reason"] == "auth")

        await until(auth_failure_seen)
        bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        assert 200 == (await running.post("/-/reload", headers=bearer))[0]
        config.write_text(config.read_text() + "\nbogus: [\n")
        assert 422 == (await running.post("/-/reload", headers=bearer))[0]
        outputs = [
            (await running.get("/metrics"))[1],
            (await running.get("/api/v1/status"))[1],
            (await running.get("/"))[1],
        ]
    assert logs, "the daemon logged nothing"
    for secret in (sim.token, ADMIN_TOKEN):
        for event in logs:
            assert secret not in repr(event), event
        for text in outputs:
            assert secret not in text


class Datagrams:
    """A real Unix datagram socket standing in for systemd's notify socket."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        """Everything received so far."""
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages


@pytest.fixture(params=["path", "abstract"])
def notify_socket(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, Datagrams]]:
    """A listening socket and the NOTIFY_SOCKET value naming it (a path, or ``@abstract``)."""
    if request.param == "path":
        path = str(tmp_path / "notify.sock")
        value, address = path, path
    else:
        name = f"flarewatch-test-{uuid.uuid4().hex}"
        value, address = f"@{name}", "\0" + name
    listener = Datagrams(address)
    yield value, listener
    listener.sock.close()


async def test_ready_is_sent_after_the_first_round(
    start_daemon: Starter, notify_socket: tuple[str, Datagrams]
) -> None:
    """systemd must not consider the unit started before every probe has a result."""
    value, listener = notify_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": value})
    running: Running = await start_daemon(
        [{"name": "held", "type": "script", "mode": "gate"}], notifier=notifier, timeout="10s"
    )
    await asyncio.sleep(0)
    assert not any("READY=1" in m for m in listener.drain())
    GATES.setdefault("held", asyncio.Event()).set()

    async def ready_sent() -> bool:
        return any(m.startswith("READY=1") for m in listener.drain())

    await until(ready_sent)
    [ready] = [m for m in listener.messages if m.startswith("READY=1")]
    assert "STATUS=1 probes, 0 failing" in ready
    await running.daemon.reload("signal")
    await running.daemon.stop()
    kinds = [m.split("\n", 1)[0].split("=", 1)[0] for m in listener.drain()]
    assert ["READY", "RELOADING", "READY", "STOPPING"] == kinds


async def test_watchdog_pings_while_alive(
    start_daemon: Starter, notify_socket: tuple[str, Datagrams]
) -> None:
    """With WATCHDOG_USEC set, WATCHDOG=1 arrives at half that period."""
    value, listener = notify_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "100000"})
    await start_daemon([{"name": "a", "type": "script"}], notifier=notifier)

    async def pinged_twice() -> bool:
        return sum(m == "WATCHDOG=1" for m in listener.drain()) >= 2

    await until(pinged_twice)


def test_a_missing_socket_is_not_fatal(tmp_path: Path) -> None:
    """A notify socket that is gone is logged once; monitoring carries on."""
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "absent.sock")})
    with capture_logs() as logs:
        assert not notifier.ready()
        assert not notifier.watchdog()
    assert ["sd_notify_failed"] == [e["event"] for e in logs]
    notifier.close()
