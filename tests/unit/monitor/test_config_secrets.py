"""Secrets in the configuration: ``*_file`` keys, ``CLOUDFLARE_*`` fallbacks, and redaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from monitor.configload import ConfigError, parse_config
from tests.unit.monitor.test_config import (
    ACCOUNT,
    ENV,
    REGISTRY,
    TOKEN,
    Files,
    VaultSettings,
    only_problem,
    parse,
    problems,
)

NO_CF_ENV: Mapping[str, str] = {}
CF = f"cloudflare:\n  account_id: {ACCOUNT}\n"


@pytest.mark.parametrize(
    ("content", "token"),
    [
        (b"tok-123\n", "tok-123"),
        (b"tok-123\r\n", "tok-123"),
        (b"tok-123", "tok-123"),
        (b"tok-123\n\n", "tok-123"),
    ],
)
def test_api_token_file_is_read_without_its_trailing_newline(content: bytes, token: str) -> None:
    """``echo $TOKEN > file`` adds a newline that must not become part of the token."""
    config = parse(
        CF + "  api_token_file: /run/secrets/cf\n",
        environ=NO_CF_ENV,
        files={"/run/secrets/cf": content},
    )
    assert token == config.cloudflare.api_token.get_secret_value()


def test_relative_secret_files_are_read_from_the_configs_directory() -> None:
    """``api_token_file: token`` beside the config works whatever the daemon's cwd is."""
    files = Files({"/etc/flarewatch/token": b"tok-from-file"})
    config = parse_config(
        CF + "  api_token_file: token\n",
        "test.yaml",
        registry=REGISTRY,
        environ=NO_CF_ENV,
        base_dir=Path("/etc/flarewatch"),
        read_file=files,
    )
    assert "tok-from-file" == config.cloudflare.api_token.get_secret_value()
    assert [Path("/etc/flarewatch/token")] == files.read


def test_secret_file_paths_expand_environment_variables() -> None:
    """systemd's ``LoadCredential=`` gives the directory in ``$CREDENTIALS_DIRECTORY``."""
    config = parse(
        CF + "  api_token_file: ${CREDENTIALS_DIRECTORY:-/run/secrets}/cf\n",
        environ={"CREDENTIALS_DIRECTORY": "/run/credentials/flarewatch.service"},
        files={"/run/credentials/flarewatch.service/cf": b"tok-from-systemd"},
    )
    assert "tok-from-systemd" == config.cloudflare.api_token.get_secret_value()


def test_admin_token_file_sets_the_admin_token() -> None:
    """The admin API's bearer token is a secret like the API token."""
    config = parse(
        "server:\n  admin_token_file: /run/secrets/admin\n",
        files={"/run/secrets/admin": b"admin-token-0123456789abcdef\n"},
    )
    assert config.server.admin_token is not None
    assert "admin-token-0123456789abcdef" == config.server.admin_token.get_secret_value()


def test_secret_files_work_in_probe_entries_and_nested_models() -> None:
    """``X_file`` is generic: any key ``X`` of the model at that place, at any depth."""
    config = parse(
        "probes:\n"
        "  - name: v\n"
        "    type: vault\n"
        "    password_file: /s/vault\n"
        "    logins:\n"
        "      - {user: ops, password_file: /s/ops}\n",
        files={"/s/vault": b"vault-pass\n", "/s/ops": b"ops-pass\n"},
    )
    probe = config.probes[0]
    assert isinstance(probe, VaultSettings)
    assert probe.password is not None
    assert "vault-pass" == probe.password.get_secret_value()
    assert "ops-pass" == probe.logins[0].password.get_secret_value()


def test_a_key_that_itself_ends_in_file_keeps_its_path() -> None:
    """``ca_file`` is a path the probe reads, not a secret to inline: it stays as written."""
    files = Files()
    config = parse_config(
        "probes:\n  - {name: v, type: vault, ca_file: /etc/ssl/ca.pem}\n",
        "test.yaml",
        registry=REGISTRY,
        environ=ENV,
        read_file=files,
    )
    probe = config.probes[0]
    assert isinstance(probe, VaultSettings)
    assert ("/etc/ssl/ca.pem", []) == (probe.ca_file, files.read)


@pytest.mark.parametrize(
    ("text", "line", "path", "message", "hint"),
    [
        (
            CF + "  api_token: tok\n  api_token_file: /run/secrets/cf\n",
            4,
            "cloudflare.api_token_file",
            "both 'api_token' and 'api_token_file' are given",
            "keep one",
        ),
        (
            CF + "  api_token_file: /run/secrets/missing\n",
            3,
            "cloudflare.api_token_file",
            "cannot read /run/secrets/missing: No such file or directory",
            "may read the file",
        ),
        (
            CF + "  api_token_file: /run/secrets/binary\n",
            3,
            "cloudflare.api_token_file",
            "/run/secrets/binary is not UTF-8 text",
            "",
        ),
        (
            CF + "  api_token_file: /run/secrets/empty\n",
            3,
            "cloudflare.api_token",
            "the API token is empty",
            "secret file that is empty",
        ),
        (
            CF + "  api_token_file: [a, b]\n",
            3,
            "cloudflare.api_token_file",
            "api_token_file is the path of a file",
            "/run/secrets/",
        ),
        (
            CF + "  region_file: /run/secrets/cf\n",
            3,
            "cloudflare.region_file",
            "unknown key 'region_file'",
            "would read 'region' from a file, but there is no such key here",
        ),
    ],
)
def test_secret_file_mistakes_are_located(
    text: str, line: int, path: str, message: str, hint: str
) -> None:
    """A missing or doubled secret is found at load, with the path named and a fix."""
    found = only_problem(
        text,
        environ={"CLOUDFLARE_API_TOKEN": TOKEN},
        files={
            "/run/secrets/cf": b"tok",
            "/run/secrets/binary": b"\xff\xfe",
            "/run/secrets/empty": b"\n",
        },
    )
    assert (line, path) == (found.line, found.path)
    assert found.message.startswith(message)
    assert hint in found.hint


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("", ENV, (ACCOUNT, TOKEN, "https://api.cloudflare.com/client/v4")),
        (
            "",
            {**ENV, "CLOUDFLARE_API_BASE_URL": "http://127.0.0.1:8787/client/v4"},
            (ACCOUNT, TOKEN, "http://127.0.0.1:8787/client/v4"),
        ),
        (
            "cloudflare:\n  api_token: from-config\n",
            ENV,
            (ACCOUNT, "from-config", "https://api.cloudflare.com/client/v4"),
        ),
        (
            f"cloudflare:\n  account_id: {'f' * 32}\n  api_base_url: http://h/client/v4\n",
            {**ENV, "CLOUDFLARE_API_BASE_URL": "http://ignored/client/v4"},
            ("f" * 32, TOKEN, "http://h/client/v4"),
        ),
    ],
)
def test_cloudflare_keys_fall_back_to_the_wrangler_variables(
    text: str, environ: Mapping[str, str], expected: tuple[str, str, str]
) -> None:
    """What the config leaves out comes from CLOUDFLARE_*; what it gives wins."""
    config = parse(text + "state_dir: /srv\n", environ=environ)
    cf = config.cloudflare
    assert expected == (cf.account_id, cf.api_token.get_secret_value(), cf.api_base_url)


def test_a_missing_token_says_both_ways_to_give_it() -> None:
    """Operators set the token in the file or the environment; the error names both."""
    found = problems("state_dir: /srv\n", environ={"CLOUDFLARE_ACCOUNT_ID": ACCOUNT})
    assert [
        (
            "cloudflare.api_token",
            "no Cloudflare API token",
            "give cloudflare.api_token (or api_token_file: PATH) in the config, or set the "
            "environment variable CLOUDFLARE_API_TOKEN",
        )
    ] == [(p.path, p.message, p.hint) for p in found]


def test_a_missing_account_id_is_reported_with_the_token() -> None:
    """With nothing set, both missing keys are reported at once."""
    found = problems("state_dir: /srv\n", environ=NO_CF_ENV)
    assert ["cloudflare.account_id", "cloudflare.api_token"] == sorted(p.path for p in found)


def test_a_bad_fallback_value_names_its_variable() -> None:
    """The config does not show CLOUDFLARE_ACCOUNT_ID's value: the message must say where."""
    found = only_problem("state_dir: /srv\n", environ={**ENV, "CLOUDFLARE_ACCOUNT_ID": "abc"})
    assert "cloudflare.account_id" == found.path
    assert found.message.endswith(
        "(the value comes from the environment variable CLOUDFLARE_ACCOUNT_ID)"
    )


SECRET = "s3cr3t-TOKEN-value-that-must-never-leak"


@pytest.mark.parametrize(
    ("text", "environ", "files"),
    [
        # A token expanded where a duration, a number, an address or a URL belongs.
        (
            "defaults: {interval: '${CLOUDFLARE_API_TOKEN}'}\n",
            {**ENV, "CLOUDFLARE_API_TOKEN": SECRET},
            {},
        ),
        ("cloudflare: {budget_share: '${MY_SECRET}'}\n", {**ENV, "MY_SECRET": SECRET}, {}),
        ("server: {listen: '${ADMIN_TOKEN}'}\n", {**ENV, "ADMIN_TOKEN": SECRET}, {}),
        (
            "cloudflare: {api_base_url: '${CLOUDFLARE_API_TOKEN}'}\n",
            {**ENV, "CLOUDFLARE_API_TOKEN": SECRET},
            {},
        ),
        (
            "http:\n  connect_to: {'api.spacevision.app:80': '${CF_KEY}'}\n",
            {**ENV, "CF_KEY": SECRET},
            {},
        ),
        # A secret file read into a key that is not a secret.
        ("cloudflare: {budget_share_file: /s/token}\n", ENV, {"/s/token": SECRET.encode()}),
        ("server: {listen_file: /s/token}\n", ENV, {"/s/token": SECRET.encode()}),
        (
            "probes:\n  - {name: p, type: ping, target: x, latency_warn_file: /s/token}\n",
            ENV,
            {"/s/token": SECRET.encode()},
        ),
        # A literal secret that is wrong in its own right, next to a file secret.
        (f"cloudflare: {{api_token: '{SECRET} x'}}\n", ENV, {}),
        (f"server: {{admin_token: '{SECRET[:10]}'}}\n", ENV, {}),
        (f"cloudflare: {{account_id: '{SECRET}'}}\n", {**ENV, "CLOUDFLARE_API_TOKEN": SECRET}, {}),
        # The token given as a probe's name or another text value that is checked.
        (
            "probes:\n  - {name: '${CLOUDFLARE_API_TOKEN}', type: ping, target: x}\n",
            {**ENV, "CLOUDFLARE_API_TOKEN": SECRET},
            {},
        ),
    ],
)
def test_no_secret_value_appears_in_any_message(
    text: str, environ: Mapping[str, str], files: Mapping[str, bytes]
) -> None:
    """Error reports go to logs and terminals: a secret in one would leak the credential."""
    with pytest.raises(ConfigError) as caught:
        parse(text, environ=environ, files=files)
    report = str(caught.value) + json.dumps([p.as_dict() for p in caught.value.problems])
    assert caught.value.problems
    assert SECRET not in report
    assert SECRET[:10] not in report


def test_redacted_values_are_marked_as_such() -> None:
    """A redaction is visible, so nobody mistakes it for the value itself."""
    found = only_problem(
        "defaults: {interval: '${CLOUDFLARE_API_TOKEN}'}\n",
        environ={**ENV, "CLOUDFLARE_API_TOKEN": SECRET},
    )
    assert "'<redacted>' is not a duration (the value comes from ${CLOUDFLARE_API_TOKEN})" == (
        found.message
    )


def test_secrets_are_secret_strings() -> None:
    """Printing or logging a config object shows stars, not tokens."""
    config = parse("server:\n  admin_token_file: /s/admin\n", files={"/s/admin": SECRET.encode()})
    assert SECRET not in repr(config)
    assert SECRET not in str(config.model_dump())


def test_an_unreadable_token_file_does_not_fall_back_to_the_environment() -> None:
    """The config asked for the file: silently using another credential would hide the fault."""
    found = only_problem(CF + "  api_token_file: /run/secrets/missing\n", environ=ENV)
    assert "cloudflare.api_token_file" == found.path
