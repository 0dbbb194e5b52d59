"""``flarewatch check-config`` as operators run it, and the shipped configs against the real
probe types."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from monitor.config import Config
from monitor.configload import load_config, parse_config
from probes.base import ProbeSettings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example.yaml"
DEMO = ROOT / "config" / "demo.yaml"
ACCOUNT = "0123456789abcdef0123456789abcdef"
TOKEN = "cf-secret-token-0123456789abcdefghijklmn"
TYPES = {"api", "d1", "dns", "http", "kv", "pages", "r2", "workers"}


def example_env(credentials: Path) -> dict[str, str]:
    """What production gives config/example.yaml: secrets as files, the account id."""
    (credentials / "cloudflare-api-token").write_text(TOKEN + "\n")
    (credentials / "flarewatch-admin-token").write_text("admin-0123456789abcdef0123456789\n")
    (credentials / "slack-webhook-url").write_text("https://hooks.slack.com/services/T0/B0/x\n")
    (credentials / "pagerduty-routing-key").write_text("R0UT1NGk3yR0UT1NGk3yR0UT1NGk3y00\n")
    return {"CREDENTIALS_DIRECTORY": str(credentials), "CLOUDFLARE_ACCOUNT_ID": ACCOUNT}


def demo_env(state_dir: Path) -> dict[str, str]:
    """What ``flarewatch demo`` gives config/demo.yaml: the simulator's addresses."""
    return {
        "CLOUDFLARE_API_BASE_URL": "http://127.0.0.1:8787/client/v4",
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "FLAREWATCH_DEMO_EDGE": "127.0.0.1:8787",
        "FLAREWATCH_DEMO_NAMESERVER": "127.0.0.1:5300",
        "FLAREWATCH_DEMO_NAMESERVER_2": "127.0.0.1:5304",
        "FLAREWATCH_DEMO_RESOLVER_1": "127.0.0.1:5301",
        "FLAREWATCH_DEMO_RESOLVER_2": "127.0.0.1:5302",
        "FLAREWATCH_DEMO_RESOLVER_3": "127.0.0.1:5303",
        "FLAREWATCH_STATE_DIR": str(state_dir),
    }


def check_config(
    *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``flarewatch check-config ARGS`` in a fresh process, without Cloudflare variables."""
    ours = ("CLOUDFLARE_", "FLAREWATCH_", "CREDENTIALS_DIRECTORY")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return subprocess.run(  # noqa: S603 (our own CLI, fixed arguments)
        [sys.executable, "-m", "monitor", "check-config", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=60,
        check=False,
    )


def types_of(config: Config) -> set[str]:
    """The probe types a config uses."""
    return {probe.type for probe in config.probes}


def test_example_config_loads_with_every_probe_type(tmp_path: Path) -> None:
    """config/example.yaml is what new users copy: it must be valid against the real models."""
    config = load_config(EXAMPLE, environ=example_env(tmp_path))
    assert TYPES == types_of(config)
    assert TOKEN == config.cloudflare.api_token.get_secret_value()
    assert config.server.admin_token is not None
    assert all(isinstance(p, ProbeSettings) and p.interval and p.timeout for p in config.probes)


def test_demo_config_loads_with_every_probe_type(tmp_path: Path) -> None:
    """``flarewatch demo`` runs config/demo.yaml: it must be valid against the real models."""
    config = load_config(DEMO, environ=demo_env(tmp_path))
    assert TYPES == types_of(config)
    assert "http://127.0.0.1:8787/client/v4" == config.cloudflare.api_base_url
    assert {"127.0.0.1:8787"} == set(config.http.connect_to.values())
    assert str(tmp_path) == config.state_dir


def test_demo_config_talks_only_to_loopback(tmp_path: Path) -> None:
    """The demo must never reach the internet: every URL host goes through connect_to."""
    config = load_config(DEMO, environ=demo_env(tmp_path))
    urls = [str(u) for p in config.probes for u in (getattr(p, "url", None),) if u]
    hosts = {u.split("/")[2] for u in urls}
    assert urls
    assert all(u.startswith("http://") for u in urls)
    assert {f"{h}:80" for h in hosts} <= set(config.http.connect_to)


def test_check_config_accepts_the_example(tmp_path: Path) -> None:
    """Exit 0 and one line saying how many probes of which types were found."""
    result = check_config(str(EXAMPLE), env=example_env(tmp_path))
    assert 0 == result.returncode, result.stderr
    assert (
        f"ok: {EXAMPLE}: 11 probes (1 api, 1 d1, 1 dns, 1 http, 2 kv, 1 pages, 2 r2, 2 workers)"
        "; 16 alert rules, 2 notifiers\n" == result.stdout
    )


def test_check_config_json_describes_a_valid_file(tmp_path: Path) -> None:
    """``--json`` is for CI: ok, the probe count and no problems."""
    result = check_config(str(DEMO), "--json", env=demo_env(tmp_path))
    assert 0 == result.returncode, result.stderr
    document = json.loads(result.stdout)
    assert (True, 11, []) == (document["ok"], document["probes"], document["problems"])


BAD = """\
cloudflare:
  account_id: ${ACCOUNT}
  budget_share: 2
probes:
  - {name: api, type: worker, script: api}
  - name: db
    type: d1
    database: spacevision-db
    interval: 30 seconds
  - {name: db, type: kv, namespace: SESSIONS, latency_wran: 1s}
"""


def test_check_config_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    """All problems at once, each with file:line:column, key path and a hint."""
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = check_config(str(path), env={"ACCOUNT": ACCOUNT, "CLOUDFLARE_API_TOKEN": TOKEN})
    assert 2 == result.returncode
    assert "" == result.stdout
    lines = [line for line in result.stderr.splitlines() if not line.startswith("    hint:")]
    assert [
        f"{path}: 5 problems",
        f"{path}:3:17: cloudflare.budget_share: budget_share must be more than 0 and at most 1",
        f"{path}:5:23: probes[0].type: unknown probe type 'worker'",
        f"{path}:9:15: probes[1].interval: '30 seconds' is not a duration",
        f"{path}:10:12: probes[2].name: two probes are named 'db' (the other is probes[1])",
        f"{path}:10:47: probes[2].latency_wran: unknown key 'latency_wran'",
    ] == lines
    assert "    hint: did you mean 'workers'?" in result.stderr
    assert "    hint: did you mean 'latency_warn'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_json_lists_the_problems(tmp_path: Path) -> None:
    """A machine reads the same problems with every field."""
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = check_config(str(path), "--json", env={"ACCOUNT": ACCOUNT})
    assert 2 == result.returncode
    document = json.loads(result.stdout)
    assert (False, 0) == (document["ok"], document["probes"])
    first = document["problems"][0]
    assert {"file", "line", "column", "path", "message", "hint"} == set(first)
    token = next(p for p in document["problems"] if p["path"] == "cloudflare.api_token")
    assert "CLOUDFLARE_API_TOKEN" in token["hint"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "the configuration file is empty"),
        (b"cloudflare: [\n", "not valid YAML"),
        (b"\xff\xfe\x00bad", "is not UTF-8 text"),
        ("directory", "is a directory"),
    ],
)
def test_unusable_files_exit_2_without_a_traceback(
    tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    """A missing, empty, binary or broken file gets one clear line, never a stack trace."""
    path = tmp_path / "flarewatch.yaml"
    if content == "directory":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    result = check_config(str(path))
    assert 2 == result.returncode
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreadable_secret_file_is_named_and_its_content_never_shown(tmp_path: Path) -> None:
    """The operator learns which file failed; a secret read into a wrong key is not echoed."""
    secret = tmp_path / "token-as-share"
    secret.write_text(TOKEN + "\n")
    path = tmp_path / "flarewatch.yaml"
    path.write_text(
        f"cloudflare:\n  account_id: {ACCOUNT}\n  api_token_file: {tmp_path}\n"
        f"  budget_share_file: {secret}\n"
    )
    result = check_config(str(path), "--json")
    assert 2 == result.returncode
    problems = {p["path"]: p["message"] for p in json.loads(result.stdout)["problems"]}
    assert f"cannot read {tmp_path}: Is a directory" == problems["cloudflare.api_token_file"]
    assert "cloudflare.budget_share" in problems
    assert TOKEN not in result.stdout + result.stderr


def yaml_blocks(markdown: str) -> list[str]:
    """The ```yaml blocks of a Markdown page."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in markdown.splitlines():
        if current is None and line.strip() == "```yaml":
            current = []
        elif current is not None and line.strip() == "```":
            blocks.append("\n".join(current) + "\n")
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_every_yaml_example_in_the_docs_is_valid() -> None:
    """docs/config.md is what users copy from: each of its YAML examples must load as shown."""
    blocks = yaml_blocks((ROOT / "docs" / "config.md").read_text())
    environ = {"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_ACCOUNT_ID": ACCOUNT}
    secret = b"secret-0123456789abcdef0123456789\n"
    for block in blocks:
        parse_config(block, "docs/config.md", environ=environ, read_file=lambda _: secret)
    assert len(blocks) >= 8
