"""``flarewatch demo`` as a newcomer runs it, and the parts it is made of against real servers.

The first tests share one demo process (a module fixture: it takes a few seconds to start)
with a compressed timeline — only the Worker error burst, one every 36 s, held 12 s — and
end by stopping it with SIGINT. The others drive the incident player and the simulated
estate directly: the player's API calls are contract-checked by the ``sim`` fixture.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import dns.asyncquery
import dns.message
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cfapi import CloudflareClient, Credentials, RequestBudget
from monitor.configload import load_config
from monitor.demo import (
    BASELINE,
    INCIDENTS,
    DemoError,
    DnsFlip,
    Estate,
    Incident,
    Player,
    find_demo_config,
)
from probes.registry import default_registry
from tests.conftest import SimHandle

ROOT = Path(__file__).resolve().parents[2]
TYPES = {"api", "d1", "dns", "http", "kv", "pages", "r2", "workers"}
# The compressed timeline: ready, 9 s, the burst for 12 s, then 24 s with nothing.
TIMELINE = ("--incident-every", "36s", "--incident-for", "12s", "--incidents", "worker-errors")


def child_env() -> dict[str, str]:
    """The environment of a demo process: nothing of ours leaking in from the test run."""
    ours = ("CLOUDFLARE_", "FLAREWATCH_", "NOTIFY_SOCKET")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class DemoProcess:
    """A running ``flarewatch demo`` whose stdout and stderr are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 (our own CLI, fixed arguments)
            [sys.executable, "-m", "monitor", "demo", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(),
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def printed(self, pattern: str) -> re.Match[str] | None:
        """The first stdout line matching ``pattern``, if any yet."""
        return next((m for line in list(self.out) if (m := re.search(pattern, line))), None)

    def finish(self, timeout_s: float) -> int:
        """Wait for the exit code and the last of the output."""
        code = self.proc.wait(timeout_s)
        for reader in self._readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        """Kill it if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.finish(10)


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Poll ``check`` every 0.2 s until it holds; fail saying ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoProcess]:
    """One demo on a free port with the compressed timeline, for the tests that watch it."""
    process = DemoProcess("--listen", "127.0.0.1:0", *TIMELINE)
    deadline = time.monotonic() + 30
    while process.printed(r"status page : (\S+)/$") is None:
        if process.proc.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the demo did not start:\n" + "\n".join(process.out + process.err))
        time.sleep(0.05)
    yield process
    process.kill()


def base_url(demo: DemoProcess) -> str:
    """The daemon's address, as the banner printed it."""
    match = demo.printed(r"status page : (\S+)/$")
    assert match is not None
    return match.group(1)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for one test."""
    async with aiohttp.ClientSession() as session:
        yield session


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    """GET ``url`` and decode it."""
    async with http.get(url) as resp:
        assert 200 == resp.status
        return await resp.json()


async def test_demo_gets_ready_with_every_probe_type(
    demo: DemoProcess, http: aiohttp.ClientSession
) -> None:
    """A newcomer's first look: the daemon is ready and the status shows every probe type."""
    base = base_url(demo)

    async def ready() -> bool:
        async with http.get(base + "/readyz") as resp:
            return resp.status == 200

    await until(ready, 30, "/readyz 200")
    status = await get_json(http, base + "/api/v1/status")
    assert TYPES == {p["type"] for p in status["probes"]}
    assert all(p["checked_at"] is not None for p in status["probes"])
    assert demo.printed(r"simulator   : http://127\.0\.0\.1:\d+") is not None


async def test_demo_exports_success_for_every_probe(
    demo: DemoProcess, http: aiohttp.ClientSession
) -> None:
    """/metrics carries flarewatch_probe_success for each configured probe."""
    base = base_url(demo)
    status = await get_json(http, base + "/api/v1/status")
    names = {p["name"] for p in status["probes"]}

    async def exported() -> set[str]:
        async with http.get(base + "/metrics") as resp:
            text = await resp.text()
        return {
            sample.labels["probe"]
            for family in text_string_to_metric_families(text)
            if family.name == "flarewatch_probe_success"
            for sample in family.samples
        }

    async def all_exported() -> bool:
        return names <= await exported()

    await until(all_exported, 30, "flarewatch_probe_success for every probe")
    assert 11 == len(names)


async def test_incident_turns_its_probe_red_and_it_recovers(
    demo: DemoProcess, http: aiohttp.ClientSession
) -> None:
    """The point of the demo: the announced probe goes non-ok, then back to ok once cleared."""
    base = base_url(demo)

    async def api_worker() -> str:
        status = await get_json(http, base + "/api/v1/status")
        return str(next(p["status"] for p in status["probes"] if p["name"] == "api-worker"))

    async def red() -> bool:
        return await api_worker() != "ok"

    async def green() -> bool:
        return await api_worker() == "ok"

    await until(red, 45, "api-worker non-ok during the Worker error burst")
    assert demo.printed(r"incident 1: Worker error burst on api for 12 s — watch api-worker")
    await until(green, 45, "api-worker ok after the burst is cleared")
    assert demo.printed(r"cleared: Worker error burst on api") is not None


def test_sigint_stops_the_demo_cleanly(demo: DemoProcess) -> None:
    """Ctrl-C: exit 0 within 10 s, no traceback and no warning on the way out."""
    began = time.monotonic()
    demo.proc.send_signal(signal.SIGINT)
    assert 0 == demo.finish(10)
    assert time.monotonic() - began < 10
    errors = "\n".join(demo.err)
    assert "Traceback" not in errors
    assert "Warning" not in errors  # ResourceWarning, RuntimeWarning: never awaited…
    assert "Task was destroyed" not in errors
    assert demo.out[-1].endswith("stopped")


async def test_a_taken_port_exits_2_with_a_hint() -> None:
    """The default port may be taken: one line saying so and exit 2, never a traceback."""
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "demo",
            "--listen",
            f"127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_env(),
        )
        async with asyncio.timeout(60):
            _, err = await proc.communicate()
    finally:
        blocker.close()
        await blocker.wait_closed()
    assert 2 == proc.returncode
    assert f"cannot listen on 127.0.0.1:{port}" in err.decode()
    assert "--listen" in err.decode()
    assert "Traceback" not in err.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--incidents", "kv-latency,meteor"), "unknown incident 'meteor'"),
        (("--incident-every", "1m", "--incident-for", "2m"), "would run into the next one"),
        (("--incident-every", "soon"), "is not a duration"),
    ],
)
def test_bad_timeline_options_exit_2(args: tuple[str, ...], message: str) -> None:
    """The hidden timeline options are checked before anything starts."""
    result = subprocess.run(  # noqa: S603 (our own CLI, fixed arguments)
        [sys.executable, "-m", "monitor", "demo", *args],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    assert 2 == result.returncode
    assert message in result.stderr
    assert "Traceback" not in result.stderr


# --- the player against a contract-checked simulator -------------------------------------


@pytest.fixture
async def player(sim: SimHandle) -> AsyncIterator[Player]:
    """A player driving ``sim``, with the demo's baseline traffic in force."""
    async with CloudflareClient(
        Credentials.bearer(sim.token), base_url=sim.api, budget=RequestBudget(share=0.05)
    ) as cf:
        lines: list[str] = []
        playing = Player(sim.url, cf, sim.account_id, sim.session, say=lines.append)
        await playing.set_baseline()
        yield playing


async def test_baseline_traffic_names_kv_namespaces_by_id(sim: SimHandle, player: Player) -> None:
    """Analytics know namespaces by id: the baseline's KV traffic must use them."""
    traffic = await sim.control("GET", "/__sim/traffic")
    _, listing = await sim.call("GET", f"/accounts/{sim.account_id}/storage/kv/namespaces")
    ids = {ns["title"]: ns["id"] for ns in listing["result"]}
    subjects = {(t["kind"], t["subject"]) for t in traffic}
    assert ("kv", ids["SESSIONS"]) in subjects
    assert ("workers", "api") in subjects
    assert len(BASELINE) == len(traffic)


@pytest.mark.parametrize("incident", [i for i in INCIDENTS if i.held], ids=lambda i: i.key)
async def test_a_held_incident_is_undone_when_cleared(
    sim: SimHandle, player: Player, incident: Incident
) -> None:
    """After the incident the estate is as before: no fault left, the baseline traffic back."""
    before = await sim.control("GET", "/__sim/traffic")
    await player.start(incident)
    assert await sim.control("GET", "/__sim/faults")
    await player.clear(incident)
    assert [] == await sim.control("GET", "/__sim/faults")
    after = await sim.control("GET", "/__sim/traffic")
    key = lambda t: (t["kind"], t["subject"])  # noqa: E731
    assert sorted(before, key=key) == sorted(after, key=key)


async def test_held_faults_expire_by_themselves_should_clearing_fail(
    sim: SimHandle, player: Player
) -> None:
    """A demo stopped or failing mid-incident must not leave the estate broken for good."""
    spike = next(i for i in INCIDENTS if i.key == "kv-latency")
    await player.start(spike, hold_s=20)
    faults = await sim.control("GET", "/__sim/faults")
    assert [30.0] == [f["duration_s"] for f in faults]


async def test_worker_error_burst_fails_edge_requests(sim: SimHandle, player: Player) -> None:
    """The burst is seen at the edge (the probe's HTTP check), not only in analytics."""
    burst = next(i for i in INCIDENTS if i.key == "worker-errors")
    await player.start(burst)
    statuses = []
    for _ in range(4):
        async with sim.session.get(
            sim.url + "/health", headers={"Host": "api.spacevision.app"}
        ) as resp:
            statuses.append(resp.status)
    assert 500 in statuses
    assert 200 in statuses


async def test_error_burst_sends_real_requests_until_cleared(
    sim: SimHandle, player: Player
) -> None:
    """The Worker's tail (the error capture) only sees requests that reach it: the burst
    sends some, and stops when it is cleared."""
    burst = next(i for i in INCIDENTS if i.key == "worker-errors")
    await player.start(burst)

    async def reached() -> bool:  # the edge records each invocation for analytics
        samples = sim.server.state.analytics.samples
        return any(s.kind == "workers" and s.subject == "api" for s in samples)

    await until(reached, 10, "a real request to the api Worker")
    await player.clear(burst)
    loads = [t for t in asyncio.all_tasks() if "_load" in repr(t.get_coro())]
    assert [] == loads


async def test_dns_change_flips_between_two_values(sim: SimHandle, player: Player) -> None:
    """Each replay of the DNS incident is a change: to the other value, then back."""
    change = next(i for i in INCIDENTS if i.key == "dns-change")
    flip = change.steps[0]
    assert isinstance(flip, DnsFlip)
    first = await player.start(change)
    second = await player.start(change)
    assert f"A {flip.values[0]} → {flip.values[1]}" == first
    assert f"A {flip.values[1]} → {flip.values[0]}" == second


# --- the estate --------------------------------------------------------------------------


@pytest.fixture
async def estate() -> AsyncIterator[Estate]:
    """The demo's simulator and DNS servers; the resolvers' clocks run 600 times fast, so a
    300 s TTL lasts half a second."""
    running = await Estate.start(resolver_speeds=(600.0, 600.0, 600.0))
    try:
        yield running
    finally:
        await running.stop()


def test_estate_gives_demo_yaml_every_variable(estate: Estate, tmp_path: Path) -> None:
    """config/demo.yaml loads with what the estate provides, its DNS servers included."""
    env = estate.environ(listen="127.0.0.1:0", state_dir=str(tmp_path))
    config = load_config(ROOT / "config" / "demo.yaml", registry=default_registry(), environ=env)
    dns_probe = next(p for p in config.probes if p.type == "dns")
    addresses = {s.address for s in [*dns_probe.nameservers, *dns_probe.resolvers]}  # type: ignore[attr-defined]
    assert {s.address for s in [*estate.nameservers, *estate.resolvers]} == addresses
    assert 2 == len(estate.nameservers)


async def ask(address: str, name: str) -> set[str]:
    """The A records ``address`` gives for ``name``."""
    host, _, port = address.rpartition(":")
    query = dns.message.make_query(name, "A")
    answer = await dns.asyncquery.udp(query, host, port=int(port), timeout=2)
    return {rdata.to_text() for rrset in answer.answer for rdata in rrset}


async def test_a_dns_change_reaches_nameservers_at_once_and_resolvers_as_caches_expire(
    estate: Estate,
) -> None:
    """What the DNS incident shows: the nameservers answer the new value at once, a resolver
    keeps the old one until its cached answer expires, then has the new one."""
    sim = estate.sim
    resolver = estate.resolvers[0].address
    assert {"203.0.113.10"} == await ask(resolver, "status.spacevision.app")
    async with CloudflareClient(Credentials.bearer(sim.token), base_url=sim.api_url) as cf:
        http = aiohttp.ClientSession()
        try:
            playing = Player(sim.url, cf, sim.account_id, http, say=lambda _: None)
            await playing.start(next(i for i in INCIDENTS if i.key == "dns-change"))
        finally:
            await http.close()
    for nameserver in estate.nameservers:
        assert {"203.0.113.11"} == await ask(nameserver.address, "status.spacevision.app")
    assert {"203.0.113.10"} == await ask(resolver, "status.spacevision.app")

    async def updated() -> bool:
        return {"203.0.113.11"} == await ask(resolver, "status.spacevision.app")

    await until(updated, 5, "the resolver's cached answer expiring")


# --- where the demo's config is ----------------------------------------------------------


def test_a_checkout_uses_its_own_demo_config(tmp_path: Path) -> None:
    """In a checkout (editable installs too) an edit to config/demo.yaml shows at once, even
    when an older copy was installed as a data file."""
    checkout, prefix = tmp_path / "checkout", tmp_path / "prefix"
    (checkout / "config").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    (checkout / "config" / "demo.yaml").write_text("probes: []\n")
    (prefix / "share" / "flarewatch" / "config").mkdir(parents=True)
    (prefix / "share" / "flarewatch" / "config" / "demo.yaml").write_text("probes: []\n")
    assert checkout / "config" / "demo.yaml" == find_demo_config(prefix=prefix, checkout=checkout)


def test_an_installed_wheel_uses_the_shared_data_file(tmp_path: Path) -> None:
    """Installed from a wheel, the package sits in site-packages: the data file is used."""
    site, prefix = tmp_path / "site-packages", tmp_path / "prefix"
    site.mkdir()
    data = prefix / "share" / "flarewatch" / "config"
    data.mkdir(parents=True)
    (data / "demo.yaml").write_text("probes: []\n")
    assert data / "demo.yaml" == find_demo_config(prefix=prefix, checkout=site)


def test_a_missing_demo_config_says_where_it_looked(tmp_path: Path) -> None:
    """A broken install is reported with the places searched, not a bare FileNotFoundError."""
    with pytest.raises(DemoError, match=r"share/flarewatch/config/demo\.yaml"):
        find_demo_config(prefix=tmp_path, checkout=tmp_path)
