"""Reading configuration text: ``${ENV}`` expansion, and every kind of error with its place."""

from __future__ import annotations

import json

import pytest

from monitor.configload import (
    DURATION_HINT,
    SIZE_HINT,
    ConfigError,
    Problem,
    expand_env,
    format_path,
)
from tests.unit.monitor.test_config import ACCOUNT, ENV, PingSettings, only_problem, parse, problems

PING = "probes:\n  - {name: p, type: ping, target: x}\n"


@pytest.mark.parametrize(
    ("text", "expanded", "used"),
    [
        ("${A}", "1", ("A",)),
        ("x-${A}-y", "x-1-y", ("A",)),
        ("${A}${B}", "12", ("A", "B")),
        ("${UNSET:-fallback}", "fallback", ("UNSET",)),
        ("${EMPTY:-fallback}", "fallback", ("EMPTY",)),
        ("${A:-fallback}", "1", ("A",)),
        ("${UNSET:-}", "", ("UNSET",)),
        ("${EMPTY}", "", ("EMPTY",)),
        ("$$", "$", ()),
        ("$${A}", "${A}", ()),
        ("cost: $5", "cost: $5", ()),
        ("a$", "a$", ()),
        ("no variables", "no variables", ()),
    ],
)
def test_env_references_expand_like_the_shell(
    text: str, expanded: str, used: tuple[str, ...]
) -> None:
    """``${VAR}``, ``${VAR:-default}`` and ``$$`` mean what they mean in sh and Compose."""
    assert (expanded, used) == expand_env(text, {"A": "1", "B": "2", "EMPTY": ""})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${UNSET}", "the environment variable UNSET is not set"),
        ("x ${", "'${' without a closing '}'"),
        ("${1A}", "'${1A}' is not a variable reference"),
        ("${A B}", "'${A B}' is not a variable reference"),
        ("${}", "'${}' is not a variable reference"),
    ],
)
def test_bad_env_references_are_refused(text: str, message: str) -> None:
    """A typo in a reference must not silently become literal text in the config."""
    with pytest.raises(ValueError, match="^" + message.replace("$", r"\$") + "$"):
        expand_env(text, {"A": "1"})


def test_env_references_expand_in_nested_values_but_not_in_keys() -> None:
    """Values anywhere (lists, probe labels) expand; keys are names and stay as written."""
    config = parse(
        "state_dir: ${DIR}/state\n"
        "probes:\n"
        "  - name: p\n"
        "    type: ping\n"
        "    target: ${TARGET}\n"
        "    labels:\n"
        "      team: ${TEAM:-ops}\n"
        "      ${KEY}: v\n",
        environ={**ENV, "DIR": "/srv", "TARGET": "api", "KEY": "k"},
    )
    probe = config.probes[0]
    assert isinstance(probe, PingSettings)
    assert ("/srv/state", "api") == (config.state_dir, probe.target)
    assert {"team": "ops", "${KEY}": "v"} == probe.labels


def test_expanded_text_is_validated_as_the_field_type() -> None:
    """``budget_share: ${SHARE}`` gives a number, ``interval: ${EVERY}`` a duration."""
    config = parse(
        "cloudflare: {budget_share: '${SHARE}'}\ndefaults: {interval: '${EVERY}'}\n",
        environ={**ENV, "SHARE": "0.25", "EVERY": "1m"},
    )
    assert (0.25, 60.0) == (config.cloudflare.budget_share, config.defaults.interval)


def test_an_unset_variable_names_itself_and_its_line() -> None:
    """The operator learns which variable to export, and where the config uses it."""
    found = only_problem("state_dir: /srv\nserver:\n  listen: ${LISTEN}\n")
    assert ("test.yaml", 3, "server.listen") == (found.file, found.line, found.path)
    assert "the environment variable LISTEN is not set" == found.message
    assert "${NAME:-default}" in found.hint


def test_a_value_from_the_environment_says_so_when_it_is_wrong() -> None:
    """The config shows ``${EVERY}``; the message must say the bad value came from there."""
    found = only_problem("defaults: {interval: '${EVERY}'}\n", environ={**ENV, "EVERY": "often"})
    assert "'often' is not a duration (the value comes from ${EVERY})" == found.message


LINES = (
    "cloudflare:\n"  # 1
    "  budget_share: 2\n"  # 2
    "server:\n"  # 3
    "  listen: nowhere\n"  # 4
    "probes:\n"  # 5
    "  - name: api\n"  # 6
    "    type: pnig\n"  # 7
    "  - name: web\n"  # 8
    "    type: ping\n"  # 9
    "    target: x\n"  # 10
    "    intervall: 30s\n"  # 11
    "  - {name: web, type: ping, target: y, interval: 30 seconds}\n"  # 12
)


@pytest.mark.parametrize(
    ("text", "line", "column", "path", "message", "hint"),
    [
        (
            "probe: []\n",
            1,
            1,
            "probe",
            "unknown key 'probe'",
            "did you mean 'probes'?",
        ),
        (
            "probes:\n  - {name: a, type: pnig}\n",
            2,
            21,
            "probes[0].type",
            "unknown probe type 'pnig'",
            "did you mean 'ping'? known types: ping, vault",
        ),
        (
            "probes:\n  - name: a\n",
            2,
            5,
            "probes[0]",
            "the probe has no type",
            "add `type:` with one of: ping, vault",
        ),
        (
            "probes:\n  - name: a\n    type: ping\n    target: x\n    latency_wran: 1s\n",
            5,
            5,
            "probes[0].latency_wran",
            "unknown key 'latency_wran'",
            "did you mean 'latency_warn'?",
        ),
        (
            "probes:\n  - name: a\n    type: ping\n",
            2,
            5,
            "probes[0].target",
            "the required key 'target' is missing",
            "add `target:` (what to ping)",
        ),
        (
            "probes:\n  - {name: a, type: ping, target: x, interval: 30 seconds}\n",
            2,
            48,
            "probes[0].interval",
            "'30 seconds' is not a duration",
            DURATION_HINT,
        ),
        (
            "probes:\n  - {name: a, type: ping, target: x, quota: lots}\n",
            2,
            45,
            "probes[0].quota",
            "'lots' is not a size",
            SIZE_HINT,
        ),
        (
            "probes:\n  - {name: a, type: ping, target: x}\n  - {name: a, type: ping, target: y}\n",
            3,
            12,
            "probes[1].name",
            "two probes are named 'a' (the other is probes[0])",
            "probe names must be unique",
        ),
        (
            "probes:\n  - {name: Api, type: ping, target: x}\n",
            2,
            12,
            "probes[0].name",
            "String should match pattern",
            "lowercase letters, digits",
        ),
        (
            "probes:\n  - {name: a, type: ping, target: x, interval: 5s, timeout: 6s}\n",
            2,
            61,
            "probes[0].timeout",
            "timeout (6s) is longer than the interval (5s)",
            "make the timeout at most the interval",
        ),
        (
            "probes:\n  - {name: a, type: ping, target: x, enabled: maybe}\n",
            2,
            47,
            "probes[0].enabled",
            "Input should be a valid boolean",
            "write true or false",
        ),
        (
            "probes:\n  - just-a-name\n",
            2,
            5,
            "probes[0]",
            "a probe is a mapping of keys",
            "`- name: NAME`",
        ),
        (
            "probes:\n  name: a\n",
            2,
            3,
            "probes",
            "Input should be a valid tuple",
            "write a list",
        ),
        (
            "server:\n",
            1,
            8,
            "server",
            "expected a mapping of keys, not an empty value",
            "the section is empty",
        ),
        (
            "server:\n  listen: 9310\n",
            2,
            11,
            "server.listen",
            "Input should be a valid string",
            "quote it",
        ),
        (
            "server:\n  listen: all:interfaces\n",
            2,
            11,
            "server.listen",
            "listen must be HOST:PORT: port 'interfaces' is not a number from 0 to 65535",
            "127.0.0.1:9310",
        ),
        (
            "cloudflare:\n  budget_share: 0\n",
            2,
            17,
            "cloudflare.budget_share",
            "budget_share must be more than 0 and at most 1",
            "a share of the account's API rate limit",
        ),
        (
            "cloudflare:\n  account_id: ABC\n",
            2,
            15,
            "cloudflare.account_id",
            "an account id is 32 lowercase hexadecimal digits",
            "wrangler whoami",
        ),
        (
            "cloudflare:\n  api_base_url: api.cloudflare.com\n",
            2,
            17,
            "cloudflare.api_base_url",
            "the API base URL must be an http:// or https:// URL",
            "/client/v4",
        ),
        (
            'http:\n  connect_to:\n    "api.spacevision.app": 127.0.0.1:80\n',
            3,
            5,
            'http.connect_to["api.spacevision.app"]',
            "connect_to key 'api.spacevision.app': expected HOST:PORT (or HOST: for any port)",
            "api.spacevision.app:443",
        ),
        (
            "logging: {level: verbose}\n",
            1,
            18,
            "logging.level",
            "Input should be 'debug', 'info', 'warning' or 'error'",
            "",
        ),
        (
            "state_dir: /a\nstate_dir: /b\n",
            2,
            1,
            "state_dir",
            "the key 'state_dir' is given twice (first on line 1)",
            "YAML would silently use the last",
        ),
        (
            "server:\n  listen: [1\n",
            3,
            1,
            "",
            "not valid YAML",
            "indentation",
        ),
        (
            "server:\n\tlisten: x\n",
            2,
            1,
            "",
            "not valid YAML",
            "spaces, not tabs",
        ),
        (
            "probes: [{name: a, type: ping, target: ${T}}]\n",
            1,
            41,
            "",
            "not valid YAML",
            'quote values that use ${…}: key: "${VAR}"',
        ),
        (
            "- a\n- b\n",
            1,
            1,
            "",
            "the configuration must be a mapping of keys",
            "config/example.yaml",
        ),
        (
            "a: 1\n---\nb: 2\n",
            2,
            1,
            "",
            "not valid YAML: expected a single document in the stream, but found another",
            "",
        ),
        (
            "state_dir: !path /x\n",
            1,
            12,
            "state_dir",
            "cannot read this value: could not determine a constructor for the tag '!path'",
            "remove the YAML tag",
        ),
    ],
)
def test_each_mistake_is_reported_at_its_line_and_key_path(
    text: str, line: int, column: int, path: str, message: str, hint: str
) -> None:
    """Every error says file:line:column, the key path, what is wrong and how to fix it."""
    found = only_problem(text)
    assert ("test.yaml", line, column, path) == (found.file, found.line, found.column, found.path)
    assert message in found.message
    assert hint in found.hint


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_an_empty_file_is_an_error(text: str) -> None:
    """An empty file is almost always a mistake (a bad mount, a truncated write)."""
    found = only_problem(text)
    assert "the configuration file is empty" == found.message


def test_every_problem_is_reported_at_once() -> None:
    """One run of check-config shows everything to fix, in line order."""
    found = problems(LINES)
    assert [
        (2, "cloudflare.budget_share"),
        (4, "server.listen"),
        (7, "probes[0].type"),
        (11, "probes[1].intervall"),
        (12, "probes[2].name"),
        (12, "probes[2].interval"),
    ] == [(p.line, p.path) for p in found]


def test_the_report_lists_each_problem_with_its_hint() -> None:
    """``str(ConfigError)`` is what the daemon logs and check-config prints."""
    with pytest.raises(ConfigError) as caught:
        parse("probes:\n  - {name: a, type: pnig}\nlogging: {format: xml}\n")
    assert (
        "test.yaml: 2 problems\n"
        "test.yaml:2:21: probes[0].type: unknown probe type 'pnig'\n"
        "    hint: did you mean 'ping'? known types: ping, vault (plugins add more through the "
        "flarewatch.probes entry point)\n"
        "test.yaml:3:19: logging.format: Input should be 'auto', 'json' or 'console'"
    ) == str(caught.value)


def test_problems_serialise_with_every_field() -> None:
    """``check-config --json`` consumers rely on these six keys."""
    problem = Problem("c.yaml", 3, 5, "probes[0].type", "unknown probe type 'x'", "known: a")
    assert {
        "file": "c.yaml",
        "line": 3,
        "column": 5,
        "path": "probes[0].type",
        "message": "unknown probe type 'x'",
        "hint": "known: a",
    } == json.loads(json.dumps(problem.as_dict()))


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        ((), ""),
        (("probes", 2, "interval"), "probes[2].interval"),
        (
            ("http", "connect_to", "api.spacevision.app:80"),
            'http.connect_to["api.spacevision.app:80"]',
        ),
        (("probes", 0, "labels", "team-name"), "probes[0].labels.team-name"),
    ],
)
def test_key_paths_read_like_the_yaml(loc: tuple[str | int, ...], path: str) -> None:
    """Paths use the keys users wrote; keys with dots or colons are quoted."""
    assert path == format_path(loc)


def test_aliases_anchors_and_merge_keys_work() -> None:
    """Shared settings through YAML anchors (``<<: *common``) are plain YAML users expect."""
    config = parse(
        "x-common: &common {type: ping, interval: 10s}\n"[:0] + "probes:\n"
        "  - &first {name: a, type: ping, target: x, interval: 10s}\n"
        "  - <<: *first\n"
        "    name: b\n"
    )
    assert [("a", 10.0), ("b", 10.0)] == [(p.name, p.interval) for p in config.probes]


def test_a_recursive_alias_is_an_error_not_a_hang() -> None:
    """A self-referencing alias would recurse forever when turned into data."""
    found = problems("probes: &loop\n  - *loop\n")
    assert any("an alias refers to itself" == p.message for p in found)


def test_a_valid_file_gives_the_typed_configuration() -> None:
    """The whole chain works: YAML, env, fallbacks, defaults, the probe's own model."""
    config = parse(
        "server: {listen: '10.1.2.3:9310'}\n" + PING,
    )
    assert ACCOUNT == config.cloudflare.account_id
    assert "https://api.cloudflare.com/client/v4" == config.cloudflare.api_base_url
    assert ("10.1.2.3", 9310) == (config.server.host, config.server.port)
    assert ["p"] == [p.name for p in config.probes]


CHECKS = "probes:\n  - name: p\n    type: ping\n    target: x\n    checks:\n"


@pytest.mark.parametrize(
    ("entry", "path", "message", "hint"),
    [
        (
            "{url: /a, stauts: 500}",
            "probes[0].checks[0].stauts",
            "unknown key 'stauts'",
            "did you mean 'status'? (the keys here are: url, status)",
        ),
        (
            "{status: 500}",
            "probes[0].checks[0].url",
            "the required key 'url' is missing",
            "add `url:` (the URL to check)",
        ),
        ("42", "probes[0].checks[0]", "expected text or a mapping of keys, not a number", ""),
    ],
)
def test_a_union_reports_the_mistake_of_the_member_that_fits(
    entry: str, path: str, message: str, hint: str
) -> None:
    """``str | Check``: a mapping with a typo is about the mapping, not "should be a string"."""
    found = only_problem(CHECKS + f"      - {entry}\n")
    assert (6, path, message, hint) == (found.line, found.path, found.message, found.hint)


def test_an_alias_bomb_is_refused_quickly() -> None:
    """Aliases of aliases can expand to billions of values: refuse past a sane size."""
    text = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    for name, prev in zip("bcdefg", "abcdef", strict=True):
        text += f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]\n"
    found = only_problem(text)
    assert found.message.startswith("the configuration is too large or too deeply nested")
