"""The container image, built and started outside a container (no Docker engine runs here).

The test reads the ``Dockerfile`` and does what Docker would, as closely as one root shell can:

- **Build.** The builder stage's ``COPY`` lines are copied into a fresh source tree and its
  ``RUN`` lines (calls of ``deploy/container/install.sh``) run exactly as written, as root,
  in a private mount namespace whose root is an empty tmpfs holding only ``/usr``, the
  Python interpreter (standing in for the base image's), a generated ``/etc``, a writable
  ``/tmp``, and writable ``/opt`` and ``/etc`` directories that receive the install. The one
  difference from a Docker build: pip reads wheels from a local wheelhouse
  (``PIP_NO_INDEX`` + ``PIP_FIND_LINKS``) instead of PyPI, because tests never leave
  loopback. The wheelhouse is packed from this environment's installed distributions — the
  versions ``deploy/container/requirements.txt`` pins (checked below), so pip installs the
  same files it would download.
- **Run.** The runtime stage's ``COPY --from=builder`` directories are bind-mounted read-only
  at their image paths, the state volume is the only writable mount (no ``/tmp`` at all: the
  image promises ``--read-only`` without a tmpfs), secrets come in under ``/run/secrets``
  like Docker secrets, the root filesystem is remounted read-only, and the process is started
  as the ``USER`` uid/gid (``setpriv``, no new privileges, no supplementary groups) with the
  ``ENTRYPOINT`` + ``CMD`` argv, ``WORKDIR`` and ``ENV`` parsed from the Dockerfile.
- **Health and stop.** The ``HEALTHCHECK`` command is run the same way (healthy → 0), the
  ``STOPSIGNAL`` is sent, the daemon must exit 0 promptly, and the check then fails.

Needs root (mount namespaces, chroot, setpriv), ``unshare``/``setpriv``/``chroot`` (util-linux,
coreutils) and ``hadolint`` (the ``test`` extra).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import importlib.metadata as md
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name

from tests.conftest import SimHandle

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"
REQUIREMENTS = REPO / "deploy" / "container" / "requirements.txt"
# The environment the official python image sets (docker inspect python:3.11-slim-bookworm).
BASE_IMAGE_ENV = {
    "PATH": "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
# The interpreter standing in for the base image's /usr/local/bin/python3.11.
BASE_PYTHON = Path(sys.base_prefix)
# The build backend flarewatch's pyproject.toml names, needed to build its wheel offline.
BUILD_BACKEND = ("setuptools", "wheel")


# --- the Dockerfile ---------------------------------------------------------------------


@dataclass
class Stage:
    """One ``FROM`` … section: its base, its ``AS`` name and its instructions in order."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        """The arguments of every ``keyword`` instruction."""
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        """The arguments of the last ``keyword`` instruction (the one Docker uses)."""
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.base}"
        return found[-1]


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile: continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif keyword == "ARG" and not stages:
            continue
        else:
            stages[-1].instructions.append((keyword, args))
    return stages


def exec_form(args: str) -> list[str]:
    """An exec-form (JSON array) argument list; shell form is refused (signals need exec)."""
    value = json.loads(args)
    assert isinstance(value, list), f"not exec form: {args}"
    assert all(isinstance(item, str) for item in value)
    return [str(item) for item in value]


def env_of(stage: Stage, base: dict[str, str]) -> dict[str, str]:
    """The environment after the stage's ``ENV`` lines (``$VAR`` expanded as Docker does)."""
    env = dict(base)
    for args in stage.all("ENV"):
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
    return env


def healthcheck_command(stage: Stage) -> list[str]:
    """The ``HEALTHCHECK … CMD [...]`` argv."""
    args = stage.last("HEALTHCHECK")
    _, _, command = args.partition("CMD ")
    return exec_form(command.strip())


@pytest.fixture(scope="module")
def dockerfile() -> list[Stage]:
    """The parsed Dockerfile: a named builder stage and a runtime stage."""
    stages = parse_dockerfile(DOCKERFILE.read_text())
    assert 2 == len(stages)
    assert stages[0].name is not None
    return stages


# --- the wheelhouse ---------------------------------------------------------------------


def pinned() -> dict[str, str]:
    """``deploy/container/requirements.txt``: canonical name → version."""
    pins: dict[str, str] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def repack(dist: md.Distribution, out: Path) -> Path:
    """A wheel of an installed distribution, from the files its ``RECORD`` lists.

    Bytecode and the installer's own files are left out; console scripts too (pip writes
    them again from ``entry_points.txt``); data files outside site-packages go to the
    wheel's ``.data/data`` directory, where they came from.
    """
    files = list(dist.files or [])
    info = next(f.parts[0] for f in files if f.parts[0].endswith(".dist-info"))
    stem = info.removesuffix(".dist-info")
    tags = [
        line.split(":", 1)[1].strip()
        for line in (dist.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag:")
    ]
    supported = {str(tag) for tag in sys_tags()}
    tag = next((t for t in tags if t in supported), None)
    assert tag is not None, f"{stem}: none of {tags} runs here"
    path = out / f"{stem}-{tag}.whl"
    prefix = Path(sys.prefix).resolve()
    skipped = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    records: list[str] = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as wheel:
        for item in files:
            if "__pycache__" in item.parts or item.suffix == ".pyc":
                continue
            if item.parts[0] == info and item.name in skipped:
                continue
            if item.parts[0] == "..":
                relative = Path(item.locate()).resolve().relative_to(prefix)
                if relative.parts[0] == "bin":
                    continue
                arcname = f"{stem}.data/data/{relative.as_posix()}"
            else:
                arcname = item.as_posix()
            data = Path(item.locate()).read_bytes()
            wheel.writestr(arcname, data)
            records.append(f"{arcname},{_record_hash(data)},{len(data)}")
        records.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    return path


def backend_closure() -> set[str]:
    """The build backend's distributions and what they need (no extras), installed here."""
    names: set[str] = set()
    todo = list(BUILD_BACKEND)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in names:
            continue
        names.add(name)
        for raw in md.requires(name) or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return names


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of the pinned dependencies and the build backend, packed from this environment."""
    out = tmp_path_factory.mktemp("wheelhouse")
    pins = pinned()
    for name, version in pins.items():
        installed = md.version(name)
        assert version == installed, (
            f"requirements.txt pins {name}=={version} but {installed} is installed: "
            "run deploy/container/lock.py"
        )
        repack(md.distribution(name), out)
    for name in backend_closure():
        if name not in pins:
            repack(md.distribution(name), out)
    return out


# --- a root filesystem made of mounts -----------------------------------------------------


@dataclass(frozen=True)
class Mount:
    """``source`` (a host path; ``None`` for a fresh tmpfs) mounted at ``target``."""

    target: str
    source: Path | None = None
    writable: bool = False


def namespace_script(
    root: Path,
    mounts: list[Mount],
    *,
    workdir: str,
    env: dict[str, str],
    argv: list[str],
    user: str | None = None,
    umask: str = "022",
) -> list[str]:
    """The command that builds the root in a private mount namespace and runs ``argv`` in it.

    The root is an empty tmpfs with ``/usr`` (and the merged-/usr links), ``/proc`` and
    ``/dev`` from the host, plus ``mounts``; it is remounted read-only before ``argv`` runs,
    so only writable mounts can be written. ``user`` is ``uid:gid`` to drop to; ``umask``
    applies to the process.
    """
    q = shlex.quote
    lines = [
        "set -eu",
        "umask 022",
        f"R={q(str(root))}",
        'mount -t tmpfs -o mode=0755 rootfs "$R"',
        'for link in bin sbin lib lib64; do ln -s "usr/$link" "$R/$link"; done',
    ]
    binds = [Mount("/usr", Path("/usr")), *mounts]
    for mount in sorted(binds, key=lambda m: m.target.count("/")):
        target = '"$R"' + q(mount.target)
        lines.append(f"mkdir -p {target}")
        if mount.source is None:
            lines.append(f"mount -t tmpfs -o mode=1777 tmpfs {target}")
        else:
            lines.append(f"mount --bind {q(str(mount.source))} {target}")
    for special in ("/proc", "/dev"):
        lines += [f'mkdir -p "$R"{special}', f'mount --rbind {special} "$R"{special}']
    for mount in binds:
        if not mount.writable:
            option = "remount,ro" if mount.source is None else "remount,bind,ro"
            lines.append(f'mount -o {option} "$R"{q(mount.target)}')
    lines.append('mount -o remount,ro "$R"')
    command = ["/usr/bin/env", "-i", "-C", workdir, *(f"{k}={v}" for k, v in env.items())]
    if user is not None:
        uid, _, gid = user.partition(":")
        command += ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={gid or uid}"]
        command += ["--clear-groups", "--no-new-privs"]
    command += argv
    lines.append(f"umask {umask}")
    lines.append('exec chroot "$R" ' + " ".join(q(word) for word in command))
    return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", "\n".join(lines)]


def etc_dir(path: Path, uid: int, gid: int) -> Path:
    """A minimal ``/etc``: root and the image's user, loopback hosts."""
    path.mkdir()
    (path / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        f"flarewatch:x:{uid}:{gid}::/var/lib/flarewatch:/usr/sbin/nologin\n"
    )
    (path / "group").write_text(f"root:x:0:\nflarewatch:x:{gid}:\n")
    (path / "hosts").write_text("127.0.0.1 localhost\n::1 localhost\n")
    return path


@dataclass
class Image:
    """The built image as host directories, and the runtime stage that uses them."""

    runtime: Stage
    mounts: list[Mount]
    install_seconds: float


@pytest.fixture(scope="module")
def image(
    dockerfile: list[Stage], wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Image:
    """Run the builder stage (COPY + RUN install.sh) and map its output for the runtime."""
    assert 0 == os.geteuid(), "the container test needs root: mount namespaces and chroot"
    for tool in ("unshare", "setpriv", "chroot"):
        assert shutil.which(tool), f"{tool} is missing (util-linux / coreutils)"
    builder, runtime = dockerfile
    base = tmp_path_factory.mktemp("image")
    workdir = builder.last("WORKDIR")
    src = base / "src"
    src.mkdir()
    for args in builder.all("COPY"):
        *sources, dest = args.split()
        assert not any(s.startswith("--") for s in sources), args
        target = src / dest.removeprefix(workdir).lstrip("/")
        for source in sources:
            origin = REPO / source
            if origin.is_dir():
                shutil.copytree(
                    origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)
    opt, etc = base / "build-opt", etc_dir(base / "build-etc", 0, 0)
    opt.mkdir()
    python = str(BASE_PYTHON)
    build_mounts = [
        Mount(python, BASE_PYTHON),
        Mount("/etc", etc, writable=True),
        Mount("/opt", opt, writable=True),
        Mount(workdir, src, writable=True),
        Mount("/tmp", None, writable=True),
        Mount("/wheels", wheelhouse),
    ]
    env = env_of(builder, BASE_IMAGE_ENV)
    env["PATH"] = f"{python}/bin:{env['PATH']}"
    env |= {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheels", "HOME": "/root"}
    began = time.monotonic()
    for run in builder.all("RUN"):
        assert run.startswith("deploy/container/install.sh "), run
        command = namespace_script(
            base / "build-root", build_mounts, workdir=workdir, env=env, argv=["/bin/sh", "-c", run]
        )
        (base / "build-root").mkdir(exist_ok=True)
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        assert 0 == done.returncode, done.stdout + done.stderr
    seconds = time.monotonic() - began
    mounts = [Mount(python, BASE_PYTHON)]
    for args in runtime.all("COPY"):
        words = args.split()
        assert words[0] == f"--from={builder.name}", args
        source, dest = words[1], words[2]
        built = next(m for m in build_mounts if source.startswith(m.target + "/"))
        assert built.source is not None
        mounts.append(Mount(dest, built.source / source.removeprefix(built.target + "/")))
    return Image(runtime, mounts, seconds)


# --- running the image ------------------------------------------------------------------


def container_config(sim: SimHandle) -> dict[str, Any]:
    """A config for the container: the simulator's API, real probes, the shipped rule packs."""
    edge = urlsplit(sim.url).netloc
    return {
        "cloudflare": {
            "account_id": "${CLOUDFLARE_ACCOUNT_ID}",
            "api_token_file": "${CREDENTIALS_DIRECTORY:-/run/secrets}/cloudflare-api-token",
            "api_base_url": sim.api,
        },
        "server": {"listen": "127.0.0.1:0"},
        "state_dir": "/var/lib/flarewatch",
        "defaults": {"interval": "1s", "timeout": "0.8s"},
        "http": {"connect_to": {"www.spacevision.app:80": edge}},
        "probes": [
            {"name": "budget", "type": "api", "verify_token": None},
            {"name": "www", "type": "http", "url": "http://www.spacevision.app/"},
            {"name": "main-db", "type": "d1", "database": "spacevision-db"},
        ],
        "alerting": {"rule_files": ["rules/*.yaml"]},
    }


@dataclass
class Container:
    """A running image: how to run more commands in it, and where its volume lives."""

    image: Image
    mounts: list[Mount]
    env: dict[str, str]
    user: str
    state: Path
    scratch: Path

    def command(self, argv: list[str], **env: str) -> list[str]:
        """``argv`` inside a fresh instance of the container's filesystem (like docker exec)."""
        root = self.scratch / f"root-{len(list(self.scratch.iterdir()))}"
        root.mkdir()
        return namespace_script(
            root,
            self.mounts,
            workdir=self.image.runtime.last("WORKDIR"),
            env=self.env | env,
            argv=argv,
            user=self.user,
        )


@pytest.fixture
def container(image: Image, sim: SimHandle, tmp_path: Path) -> Container:
    """The runtime filesystem: the image read-only, a volume, secrets and a config mounted."""
    user = image.runtime.last("USER")
    uid, _, gid = user.partition(":")
    state = tmp_path / "volume"
    state.mkdir(mode=0o700)
    os.chown(state, int(uid), int(gid or uid))
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "cloudflare-api-token").write_text(sim.token + "\n")
    (secrets / "cloudflare-api-token").chmod(0o444)  # Docker secrets' default mode
    mounts = list(image.mounts)
    conf_mount = next(m for m in mounts if m.target == "/etc/flarewatch")
    assert conf_mount.source is not None
    conf = tmp_path / "etc-flarewatch"  # the image's /etc/flarewatch plus the bind-mounted file
    shutil.copytree(conf_mount.source, conf)
    (conf / "flarewatch.yaml").write_text(yaml.safe_dump(container_config(sim)))
    mounts[mounts.index(conf_mount)] = Mount("/etc/flarewatch", conf)
    volumes = exec_form(image.runtime.last("VOLUME"))
    assert ["/var/lib/flarewatch"] == volumes
    mounts += [
        Mount("/etc", etc_dir(tmp_path / "etc", int(uid), int(gid or uid))),
        Mount(volumes[0], state, writable=True),
        Mount("/run/secrets", secrets),
    ]
    env = env_of(image.runtime, BASE_IMAGE_ENV)
    env |= {"HOME": "/var/lib/flarewatch", "CLOUDFLARE_ACCOUNT_ID": sim.account_id}
    scratch = tmp_path / "roots"
    scratch.mkdir()
    return Container(image, mounts, env, user, state, scratch)


async def run_healthcheck(container: Container, url: str) -> int:
    """The image's HEALTHCHECK command, in the container, against ``url``."""
    argv = healthcheck_command(container.image.runtime)
    proc = await asyncio.create_subprocess_exec(
        *container.command(argv, FLAREWATCH_HEALTHCHECK_URL=url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(proc.wait(), 20.0)


@contextlib.asynccontextmanager
async def stderr_collected(
    command: Sequence[str], *, stdout: int
) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    """Run ``command`` with its stderr collected line by line (newlines kept) into the list
    yielded with it; on exit, a process still running is killed and its output read."""
    proc = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stdout=stdout, stderr=asyncio.subprocess.PIPE
    )
    lines: list[str] = []

    async def collect() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            lines.append(raw.decode(errors="replace"))

    reader = asyncio.create_task(collect())
    try:
        yield proc, lines
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await reader


async def test_the_image_starts_read_only_is_healthy_and_stops_on_its_stopsignal(
    container: Container, image: Image, sim: SimHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    """The image's own install and start steps give a daemon that works under Docker's rules.

    Read-only root, unprivileged fixed uid, state only in the volume, secrets from
    /run/secrets: if any of these broke the daemon, `docker run --read-only` would
    crash-loop in production while every other test stayed green.
    """
    runtime = image.runtime
    argv = exec_form(runtime.last("ENTRYPOINT")) + exec_form(runtime.last("CMD"))
    began = time.monotonic()
    async with stderr_collected(container.command(argv), stdout=asyncio.subprocess.PIPE) as (
        proc,
        lines,
    ):
        listen = await _started(proc, lines)
        url = f"http://{listen}/healthz"
        deadline = time.monotonic() + 60.0
        while await run_healthcheck(container, url) != 0:
            assert proc.returncode is None, "".join(lines)
            assert time.monotonic() < deadline, "never healthy:\n" + "".join(lines)
            await asyncio.sleep(0.2)
        healthy_after = time.monotonic() - began
        await _until_ready(sim, listen, lines)
        stop = getattr(signal, runtime.last("STOPSIGNAL"))
        stopped_at = time.monotonic()
        proc.send_signal(stop)
        assert 0 == await asyncio.wait_for(proc.wait(), 15.0), "".join(lines)
        stop_seconds = time.monotonic() - stopped_at
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert "flarewatch_stopped" in [e.get("event") for e in events]
    assert not any("Traceback" in line for line in lines)
    assert all(sim.token not in line for line in lines)
    assert stop_seconds < 10.0
    assert 0 != await run_healthcheck(container, url)
    written = sorted(p.name for p in container.state.iterdir())
    assert "logs.db" in written, written
    with capsys.disabled():
        sys.stderr.write(
            f"\n[container] install {image.install_seconds:.1f} s, start to healthy "
            f"{healthy_after:.2f} s, stop {stop_seconds:.2f} s; volume holds {written}\n"
        )


async def _started(proc: asyncio.subprocess.Process, lines: list[str]) -> str:
    """The daemon's ``host:port`` from its ``flarewatch_started`` line."""
    deadline = time.monotonic() + 30.0
    while True:
        for line in list(lines):
            if '"flarewatch_started"' in line:
                return str(json.loads(line)["listen"])
        assert proc.returncode is None, "the daemon exited:\n" + "".join(lines)
        assert time.monotonic() < deadline, "no flarewatch_started line:\n" + "".join(lines)
        await asyncio.sleep(0.05)


async def _until_ready(sim: SimHandle, listen: str, lines: list[str]) -> None:
    """Every probe ran and the HTTP probe saw the simulated Pages site through connect_to."""
    deadline = time.monotonic() + 30.0
    while True:
        async with sim.session.get(f"http://{listen}/api/v1/status") as resp:
            status = await resp.json()
        probes = {p["name"]: p for p in status["probes"]}
        if status["flarewatch"]["ready"] and probes["www"]["status"] == "ok":
            assert {"budget", "www", "main-db"} == set(probes)
            return
        assert time.monotonic() < deadline, json.dumps(status)[:2000] + "".join(lines)
        await asyncio.sleep(0.1)


async def test_the_container_cannot_write_outside_its_volume(container: Container) -> None:
    """The root filesystem the test builds really is read-only for the image's user.

    Without this, the start test above could pass on a writable root and prove nothing
    about `docker run --read-only`.
    """
    script = (
        "for d in / /tmp /opt/flarewatch /etc/flarewatch /run/secrets; do "
        '(: > "$d/probe-write") 2>/dev/null && echo "wrote $d"; done; '
        ': > /var/lib/flarewatch/probe-write && echo "volume writable"'
    )
    proc = await asyncio.create_subprocess_exec(
        *container.command(["/bin/sh", "-c", script]),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20.0)
    assert "volume writable\n" == out.decode(), (out + err).decode()


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    """hadolint's best practices hold; any ignore must be written (and explained) in the file."""
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(hadolint).exists(), "hadolint is missing: pip install -e '.[test]'"
    done = subprocess.run(  # noqa: S603
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert (0, "") == (done.returncode, done.stdout.strip()), done.stdout + done.stderr


def test_the_pinned_requirements_are_what_the_project_resolves_to() -> None:
    """requirements.txt is the current closure, and each pin satisfies pyproject's ranges.

    A stale pin file would build an image with other versions than the tests ran against.
    """
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(REQUIREMENTS.with_name("lock.py")), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    pins = pinned()
    for raw in md.requires("flarewatch") or []:
        req = Requirement(raw)
        if req.marker is None:
            version = pins[canonicalize_name(req.name)]
            assert req.specifier.contains(version, prereleases=True), (req, version)


def test_the_healthcheck_default_matches_the_shipped_config_and_exposed_port(
    dockerfile: list[Stage],
) -> None:
    """Out of the box, HEALTHCHECK, EXPOSE and the example config agree on one port."""
    runtime = dockerfile[1]
    example = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    port = example["server"]["listen"].rsplit(":", 1)[1]
    assert [port] == runtime.last("EXPOSE").split()
    env = env_of(runtime, BASE_IMAGE_ENV)
    assert f"http://127.0.0.1:{port}/healthz" == env["FLAREWATCH_HEALTHCHECK_URL"]
    script = (REPO / "deploy" / "container" / "healthcheck.py").read_text()
    assert f'DEFAULT_URL = "http://127.0.0.1:{port}/healthz"' in script
    assert "SIGTERM" == runtime.last("STOPSIGNAL")
