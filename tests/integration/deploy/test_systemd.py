"""The systemd unit: ``systemd-analyze`` accepts it, and the daemon runs the way it says.

``systemd-analyze verify`` must print nothing and ``systemd-analyze security --offline=yes``
must score an exposure of 2.0 or less. ``verify`` checks that ExecStart's binary exists; the
shipped unit names ``/opt/flarewatch/bin/flarewatch`` (where the README installs it), so the
test runs ``verify`` in a private mount namespace whose ``/opt`` is a tmpfs holding that path
as a link to this checkout's ``flarewatch`` — the file checked is the shipped one, unchanged,
and nothing is written outside a temporary directory.

The start test runs ExecStart's argv as systemd would for this unit — there is no systemd
here to do it: a read-only root (``ProtectSystem=strict``) with a private ``/tmp``, the state
directory the only other writable place, an unprivileged uid from systemd's dynamic range
(``DynamicUser=``), ``UMask=``, no new privileges, the kernel's W^X lock
(``prctl(PR_SET_MDWE)``, what ``MemoryDenyWriteExecute=`` enforces with seccomp: so Python,
its C extensions and the Rust CEL engine are proven to need no writable executable memory),
``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` on a socket the test owns, the credentials that
``LoadCredential=`` lines name in ``$CREDENTIALS_DIRECTORY``, the ``EnvironmentFile=``'s
variables, ``STATE_DIRECTORY`` and ``CONFIGURATION_DIRECTORY``. It checks READY=1, WATCHDOG=1,
a reload through ExecReload= (RELOADING=1 then READY=1), and a clean stop (STOPPING=1, exit
0 within TimeoutStopSec=). Not reproduced: the seccomp system-call filter and the namespace
and capability restrictions, which only systemd applies (the exposure score covers their
presence).
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SimHandle
from tests.integration.deploy.test_container import (
    Mount,
    etc_dir,
    namespace_script,
    stderr_collected,
)

REPO = Path(__file__).resolve().parents[3]
UNIT = REPO / "deploy" / "systemd" / "flarewatch.service"
ENV_EXAMPLE = REPO / "deploy" / "systemd" / "flarewatch.env.example"
EXAMPLE_CONFIG = REPO / "config" / "example.yaml"
FLAREWATCH = Path(sys.executable).with_name("flarewatch")
DYNAMIC_UID = 61875  # inside systemd's DynamicUser= range, 61184-65519
MAX_EXPOSURE = 2.0
# prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN): kept across execve, like systemd's filter.
WX_LOCK = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "if libc.prctl(65, 1, 0, 0, 0) != 0:\n"
    "    sys.exit('PR_SET_MDWE failed: errno %d' % ctypes.get_errno())\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """``section → [(key, value)…]`` in file order (keys may repeat, as systemd allows)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"a key before any section: {line}"
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    """The unit's ``[Service]`` section: key → every value it is given."""
    out: dict[str, list[str]] = {}
    for key, value in parse_unit(UNIT.read_text())["Service"]:
        out.setdefault(key, []).append(value)
    return out


def systemd_analyze() -> str:
    """The ``systemd-analyze`` binary (the systemd package); the test fails without it."""
    found = shutil.which("systemd-analyze")
    assert found, "systemd-analyze is missing: install the systemd package"
    return found


def seconds(value: str) -> float:
    """A systemd time span (``30s``, ``2min``, ``1min 30s``, ``500ms``) in seconds."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hr": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit or "s"]
    return total


def test_systemd_analyze_verify_prints_nothing(tmp_path: Path) -> None:
    """systemd accepts every directive and finds every command the unit runs.

    A typo'd directive is only a warning in the journal at boot — and a hardening line
    silently not applied.
    """
    analyze = systemd_analyze()
    [exec_start] = [v for k, v in parse_unit(UNIT.read_text())["Service"] if k == "ExecStart"]
    binary = shlex.split(exec_start)[0]
    assert binary.startswith("/opt/"), binary
    script = "\n".join(
        [
            "set -eu",
            "mount -t tmpfs -o mode=0755 opt /opt",
            f"mkdir -p {shlex.quote(str(Path(binary).parent))}",
            f"ln -s {shlex.quote(str(FLAREWATCH))} {shlex.quote(binary)}",
            f'exec {shlex.quote(analyze)} verify "$1"',
        ]
    )
    command = ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script]
    done = subprocess.run(  # noqa: S603
        [*command, "sh", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert (0, "", "") == (done.returncode, done.stdout, done.stderr)


def test_the_exposure_score_is_at_most_two() -> None:
    """`systemd-analyze security` rates the sandbox OK (2.0 or less) without a running systemd.

    The daemon holds a Cloudflare token: a compromised process should reach as little as
    possible of the host.
    """
    done = subprocess.run(  # noqa: S603
        [systemd_analyze(), "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert match is not None, done.stdout + done.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, done.stdout


def test_the_unit_has_what_the_daemon_relies_on(service: dict[str, list[str]]) -> None:
    """Type, watchdog, directories, credentials and environment agree with the daemon and config.

    Each mismatch fails only in production: a Type=simple unit is "started" before any probe
    ran, a state directory other than the config's state_dir is not writable under
    ProtectSystem=strict, a credential the config reads but the unit does not load is a
    failed start.
    """
    assert ["notify"] == service["Type"]
    assert seconds(service["WatchdogSec"][0]) >= 10
    assert ["on-failure"] == service["Restart"]
    assert ["2"] == service["RestartPreventExitStatus"]  # the daemon's "fix the config" code
    assert seconds(service["TimeoutStopSec"][0]) > 10  # the daemon stops within 10 s
    assert ["/bin/kill -HUP $MAINPID"] == service["ExecReload"]  # SIGHUP reloads
    example = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    [state] = service["StateDirectory"]
    assert example["state_dir"] == f"/var/lib/{state}"
    [confdir] = service["ConfigurationDirectory"]
    argv = shlex.split(service["ExecStart"][0])
    assert argv[1:3] == ["run", "-c"]
    assert argv[3] == f"/etc/{confdir}/flarewatch.yaml"
    assert service["EnvironmentFile"] == [f"-/etc/{confdir}/flarewatch.env"]
    text = EXAMPLE_CONFIG.read_text()
    read = set(re.findall(r"\$\{CREDENTIALS_DIRECTORY:-/run/secrets\}/([\w.-]+)", text))
    loaded = {value.split(":", 1)[0] for value in service["LoadCredential"]}
    assert {"cloudflare-api-token", "flarewatch-admin-token"} == loaded
    assert loaded <= read
    commented = set(re.findall(r"^#LoadCredential=([\w.-]+):", UNIT.read_text(), re.M))
    assert read == loaded | commented  # every other secret has a line ready to uncomment
    variables = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert "CLOUDFLARE_ACCOUNT_ID" in variables
    assert "${CLOUDFLARE_ACCOUNT_ID}" in text


# --- starting the daemon as the unit does ---------------------------------------------------


class NotifySocket:
    """An abstract-namespace datagram socket standing in for systemd's notify socket."""

    def __init__(self) -> None:
        self.name = f"flarewatch-unit-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)
        self.sock.setblocking(False)
        self.messages: list[str] = []

    @property
    def value(self) -> str:
        """The ``NOTIFY_SOCKET`` value."""
        return "@" + self.name

    def drain(self) -> list[str]:
        """Every message so far, oldest first."""
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def kinds(self) -> list[str]:
        """The first field's name of each message (``READY``, ``WATCHDOG``…)."""
        return [m.split("\n", 1)[0].split("=", 1)[0] for m in self.drain()]


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    """A notify socket, closed after the test."""
    listener = NotifySocket()
    yield listener
    listener.sock.close()


def unit_config(sim: SimHandle) -> dict[str, Any]:
    """The example config's secrets and account id handling, pointed at the simulator."""
    return {
        "cloudflare": {
            "account_id": "${CLOUDFLARE_ACCOUNT_ID}",
            "api_token_file": "${CREDENTIALS_DIRECTORY:-/run/secrets}/cloudflare-api-token",
            "api_base_url": sim.api,
        },
        "server": {
            "listen": "127.0.0.1:0",
            "admin_token_file": "${CREDENTIALS_DIRECTORY:-/run/secrets}/flarewatch-admin-token",
        },
        "state_dir": "/var/lib/flarewatch",
        "defaults": {"interval": "1s", "timeout": "0.8s"},
        "probes": [
            {"name": "budget", "type": "api", "verify_token": None},
            {"name": "main-db", "type": "d1", "database": "spacevision-db"},
        ],
        "alerting": {"rule_files": ["rules/*.yaml"]},
    }


async def until(check: Any, what: str, proc: asyncio.subprocess.Process, lines: list[str]) -> None:
    """Poll ``check()`` until true; fail with the daemon's log if it exits or after 30 s."""
    deadline = time.monotonic() + 30.0
    while not check():
        assert proc.returncode is None, f"exited {proc.returncode}:\n" + "".join(lines)
        assert time.monotonic() < deadline, f"{what} not seen:\n" + "".join(lines)
        await asyncio.sleep(0.05)


async def test_the_daemon_runs_as_the_unit_starts_it(
    sim: SimHandle, service: dict[str, list[str]], notify: NotifySocket, tmp_path: Path
) -> None:
    """ExecStart under the unit's sandbox: ready, watchdog, ExecReload, clean stop.

    The hardening must not break the daemon: a read-only root, a dynamic uid, W^X memory
    and credentials only through $CREDENTIALS_DIRECTORY are each a way to crash-loop it.
    """
    [state_name] = service["StateDirectory"]
    [conf_name] = service["ConfigurationDirectory"]
    uid = str(DYNAMIC_UID)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    shutil.chown(state, DYNAMIC_UID, DYNAMIC_UID)
    conf = tmp_path / "conf"
    conf.mkdir()
    shutil.copytree(REPO / "config" / "rules", conf / "rules")
    (conf / "flarewatch.yaml").write_text(yaml.safe_dump(unit_config(sim)))
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    secrets = {"cloudflare-api-token": sim.token, "flarewatch-admin-token": "unit-admin-0123456789"}
    for value in service["LoadCredential"]:
        name = value.split(":", 1)[0]
        (credentials / name).write_text(secrets[name])
        (credentials / name).chmod(0o400)
        shutil.chown(credentials / name, DYNAMIC_UID, DYNAMIC_UID)
    opt = tmp_path / "opt"
    argv = shlex.split(service["ExecStart"][0])
    binary = opt / Path(argv[0]).relative_to("/opt")
    binary.parent.mkdir(parents=True)
    binary.symlink_to(FLAREWATCH)
    creds_at = "/run/credentials/flarewatch.service"
    mounts = [
        Mount(sys.base_prefix, Path(sys.base_prefix)),
        Mount(str(REPO), REPO),  # this checkout's venv and (editable) sources
        Mount("/opt", opt),
        Mount("/etc", etc_dir(tmp_path / "etc", DYNAMIC_UID, DYNAMIC_UID)),
        Mount(f"/etc/{conf_name}", conf),
        Mount(f"/var/lib/{state_name}", state, writable=True),
        Mount(creds_at, credentials),
        Mount("/tmp", None, writable=True),  # PrivateTmp=yes
    ]
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
        "LANG": "C.UTF-8",
        "HOME": "/",
        "NOTIFY_SOCKET": notify.value,
        "WATCHDOG_USEC": str(int(seconds(service["WatchdogSec"][0]) * 1_000_000)),
        "CREDENTIALS_DIRECTORY": creds_at,
        "STATE_DIRECTORY": f"/var/lib/{state_name}",
        "CONFIGURATION_DIRECTORY": f"/etc/{conf_name}",
        "INVOCATION_ID": uuid.uuid4().hex,
        "CLOUDFLARE_ACCOUNT_ID": sim.account_id,  # from the EnvironmentFile
    }
    for assignment in service.get("Environment", []):
        for word in shlex.split(assignment):
            key, _, value = word.partition("=")
            env[key] = value
    [umask] = service["UMask"]
    root = tmp_path / "root"
    root.mkdir()
    command = namespace_script(
        root,
        mounts,
        workdir="/",
        env=env,
        argv=[f"{sys.base_prefix}/bin/python3", "-I", "-c", WX_LOCK, *argv],
        user=f"{uid}:{uid}",
        umask=umask,
    )
    async with stderr_collected(command, stdout=asyncio.subprocess.DEVNULL) as (proc, lines):
        await until(lambda: "READY" in notify.kinds(), "READY=1", proc, lines)
        await until(lambda: "WATCHDOG" in notify.kinds(), "WATCHDOG=1", proc, lines)
        [ready] = [m for m in notify.drain() if m.startswith("READY=1")]
        assert "STATUS=2 probes" in ready
        [reload] = service["ExecReload"]
        reload_argv = [word.replace("$MAINPID", str(proc.pid)) for word in shlex.split(reload)]
        killer = await asyncio.create_subprocess_exec(*reload_argv)
        assert 0 == await killer.wait()
        await until(lambda: notify.kinds().count("READY") == 2, "RELOADING/READY", proc, lines)
        kinds = [k for k in notify.kinds() if k != "WATCHDOG"]
        assert ["READY", "RELOADING", "READY"] == kinds
        listen = next(
            json.loads(line)["listen"] for line in lines if '"flarewatch_started"' in line
        )
        bearer = {"Authorization": f"Bearer {secrets['flarewatch-admin-token']}"}
        async with sim.session.post(f"http://{listen}/-/reload", headers=bearer) as resp:
            assert 200 == resp.status  # the admin token came in as a credential
        began = time.monotonic()
        proc.terminate()  # KillSignal= defaults to SIGTERM
        assert 0 == await asyncio.wait_for(proc.wait(), seconds(service["TimeoutStopSec"][0]))
        assert time.monotonic() - began < 10.0
    assert "STOPPING" in notify.kinds()
    text = "".join(lines)
    assert "Traceback" not in text
    assert sim.token not in text
    assert (state / "logs.db").exists()
    assert 0o077 & (state / "logs.db").stat().st_mode == 0  # UMask=0077
