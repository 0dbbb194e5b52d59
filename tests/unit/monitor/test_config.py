"""Configuration models (listen, connect_to, defaults, located probe errors), and the test probe
types and helpers the other configuration tests share (no I/O: files come from a dict)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from monitor.config import CloudflareSettings, Config, HttpSettings, ServerSettings
from monitor.configload import ConfigError, Problem, parse_config
from probes.base import Probe, ProbeContext, ProbeResult, ProbeSettings, Status
from probes.registry import Registry
from probes.units import ByteSize, Duration

TOKEN = "cf-token-0123456789abcdefghijklmnopqrstuv"
ACCOUNT = "0123456789abcdef0123456789abcdef"
ENV: Mapping[str, str] = {"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_ACCOUNT_ID": ACCOUNT}


class Check(BaseModel):
    """A check written as a mapping, where a plain URL would do too (a union member)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(description="the URL to check")
    status: int = 200


class PingSettings(ProbeSettings):
    """A probe type with a required key, a duration, a size, an alias and a union."""

    target: str = Field(description="what to ping")
    latency_warn: Duration | None = None
    quota: ByteSize | None = None
    expect: dict[str, str] = Field(default_factory=dict, alias="json")
    checks: tuple[str | Check, ...] = ()


class PingProbe(Probe[PingSettings]):
    """Settings only: the configuration tests never run probes."""

    type_name: ClassVar[str] = "ping"
    service: ClassVar[str] = "ping"
    settings_model: ClassVar[type[ProbeSettings]] = PingSettings

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Never called."""
        return ProbeResult(Status.OK)


class Login(BaseModel):
    """A nested model with a secret (``password_file`` works below probe entries too)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str
    password: SecretStr


class VaultSettings(ProbeSettings):
    """A probe type with secrets, a nested model and a key that itself ends in ``_file``."""

    password: SecretStr | None = None
    ca_file: str | None = None
    logins: tuple[Login, ...] = ()


class VaultProbe(Probe[VaultSettings]):
    """Settings only."""

    type_name: ClassVar[str] = "vault"
    service: ClassVar[str] = "vault"
    settings_model: ClassVar[type[ProbeSettings]] = VaultSettings

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Never called."""
        return ProbeResult(Status.OK)


REGISTRY = Registry({"ping": PingProbe, "vault": VaultProbe})


class Files:
    """``read_file`` for the loader: paths to bytes, ``OSError`` for the rest."""

    def __init__(self, files: Mapping[str, bytes] | None = None) -> None:
        self.files = dict(files or {})
        self.read: list[Path] = []

    def __call__(self, path: Path) -> bytes:
        self.read.append(path)
        try:
            return self.files[str(path)]
        except KeyError:
            raise FileNotFoundError(2, "No such file or directory", str(path)) from None


def parse(
    text: str,
    *,
    environ: Mapping[str, str] = ENV,
    files: Mapping[str, bytes] | None = None,
) -> Config:
    """``text`` parsed as ``test.yaml`` in ``/etc/flarewatch`` with the test probe types."""
    return parse_config(
        text,
        "test.yaml",
        registry=REGISTRY,
        environ=environ,
        base_dir=Path("/etc/flarewatch"),
        read_file=Files(files),
    )


def problems(
    text: str,
    *,
    environ: Mapping[str, str] = ENV,
    files: Mapping[str, bytes] | None = None,
) -> list[Problem]:
    """The problems ``text`` has (fails when it has none)."""
    try:
        parse(text, environ=environ, files=files)
    except ConfigError as err:
        return err.problems
    raise AssertionError("the configuration was accepted")


def only_problem(text: str, **kwargs: object) -> Problem:
    """The one problem ``text`` has (fails when it has none or several)."""
    found = problems(text, **kwargs)  # type: ignore[arg-type]
    assert 1 == len(found), "\n".join(map(str, found))
    return found[0]


def located(err: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    """``(loc, type)`` of each error, for asserting where a model says things went wrong."""
    return [(tuple(e["loc"]), e["type"]) for e in err.errors()]


def validate(data: dict[str, Any]) -> Config:
    """``Config.model_validate`` with the test probe types and the test account."""
    data = {"cloudflare": {"account_id": ACCOUNT, "api_token": TOKEN}, **data}
    return Config.model_validate(data, context={"registry": REGISTRY})


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:9310", "127.0.0.1", 9310),
        ("10.1.2.3:0", "10.1.2.3", 0),
        ("[::1]:9310", "::1", 9310),
        ("localhost:80", "localhost", 80),
    ],
)
def test_listen_addresses_split_into_host_and_port(text: str, host: str, port: int) -> None:
    """The daemon binds to what ``server.listen`` says, IPv6 in brackets included."""
    server = ServerSettings(listen=text)
    assert (host, port) == (server.host, server.port)


@pytest.mark.parametrize("text", ["9310", ":9310", "host:", "host:http", "host:70000", "::1:80"])
def test_bad_listen_addresses_are_refused(text: str) -> None:
    """A listen address the daemon could not bind is a config error, not a crash at start."""
    with pytest.raises(ValidationError) as caught:
        ServerSettings(listen=text)
    assert [(("listen",), "flarewatch")] == located(caught.value)


def test_connect_to_keys_are_lowercased() -> None:
    """URL hosts are case-insensitive, so the table is matched in lowercase."""
    http = HttpSettings(connect_to={"API.SpaceVision.app:80": "127.0.0.1:8787"})
    assert {"api.spacevision.app:80": "127.0.0.1:8787"} == http.connect_to


def test_every_bad_connect_to_entry_is_located_at_its_key() -> None:
    """Two bad entries give two errors, each at its own key, not one vague error."""
    with pytest.raises(ValidationError) as caught:
        HttpSettings(
            connect_to={"api.spacevision.app": "127.0.0.1:1", "ok.example:80": "127.0.0.1:x"}
        )
    assert [
        (("connect_to", "api.spacevision.app"), "flarewatch"),
        (("connect_to", "ok.example:80"), "flarewatch"),
    ] == located(caught.value)


@pytest.mark.parametrize("share", [0, -0.1, 1.01])
def test_budget_share_outside_zero_to_one_is_refused(share: float) -> None:
    """flarewatch may use a share of the API budget: none or more than all makes no sense."""
    with pytest.raises(ValidationError):
        CloudflareSettings(account_id=ACCOUNT, api_token=SecretStr(TOKEN), budget_share=share)


def test_api_base_url_loses_its_trailing_slash() -> None:
    """Clients join paths to the base URL; a trailing slash would double it."""
    settings = CloudflareSettings(
        account_id=ACCOUNT, api_token=SecretStr(TOKEN), api_base_url="http://127.0.0.1:1/client/v4/"
    )
    assert "http://127.0.0.1:1/client/v4" == settings.api_base_url


@pytest.mark.parametrize(
    ("defaults", "probe", "interval", "timeout"),
    [
        ({}, {}, 30.0, 10.0),
        ({"interval": "1m", "timeout": "20s"}, {}, 60.0, 20.0),
        ({}, {"interval": "5s"}, 5.0, 5.0),
        ({}, {"timeout": "2s"}, 30.0, 2.0),
        ({"timeout": "3s"}, {"interval": "10s"}, 10.0, 3.0),
        ({}, {"interval": "10s", "timeout": "10s"}, 10.0, 10.0),
    ],
)
def test_probe_interval_and_timeout_come_from_defaults(
    defaults: dict[str, str], probe: dict[str, str], interval: float, timeout: float
) -> None:
    """Every probe ends up with both set; a default timeout never exceeds a short interval."""
    config = validate(
        {"defaults": defaults, "probes": [{"name": "p", "type": "ping", "target": "x", **probe}]}
    )
    assert (interval, timeout) == (config.probes[0].interval, config.probes[0].timeout)


def test_probe_entries_validate_into_their_types_model() -> None:
    """The daemon gets each type's own settings object, with its own keys parsed."""
    config = validate(
        {"probes": [{"name": "p", "type": "ping", "target": "x", "quota": "1KB", "json": {}}]}
    )
    probe = config.probes[0]
    assert isinstance(probe, PingSettings)
    assert 1000 == probe.quota


def test_model_errors_inside_probe_entries_keep_their_index_and_key() -> None:
    """Config.model_validate alone says which entry and key are wrong (the loader adds lines)."""
    with pytest.raises(ValidationError) as caught:
        validate(
            {
                "probes": [
                    {"name": "a", "type": "ping", "target": "x", "latency_warn": "soon"},
                    {"name": "a", "type": "pong"},
                    {"name": "c", "type": "ping", "target": "x", "interval": "1s", "timeout": "5s"},
                ]
            }
        )
    assert [
        (("probes", 0, "latency_warn"), "value_error"),
        (("probes", 1, "type"), "flarewatch"),
        (("probes", 1, "name"), "flarewatch"),
        (("probes", 2, "timeout"), "flarewatch"),
    ] == located(caught.value)


def test_configuration_is_frozen() -> None:
    """Nothing may change a loaded config behind the daemon's back (reload builds a new one)."""
    config = validate({})
    with pytest.raises(ValidationError):
        config.state_dir = "/tmp"


@pytest.mark.parametrize(
    "table",
    [
        {"api.spacevision.app:443": "127.0.0.1:8443"},
        {"api.spacevision.app:": "127.0.0.1:"},
        {"spacevision.app:80": "[::1]:8080"},
        {"spacevision.app:80": "edge.staging.internal:80"},
    ],
)
def test_connect_to_accepts_what_the_daemons_resolver_understands(table: dict[str, str]) -> None:
    """Any-port keys, same-port targets, IPv6 and host-name targets: the resolver's syntax."""
    assert table == HttpSettings(connect_to=table).connect_to
