"""``flarewatch explain``: what it prints, its JSON, and its exit codes."""

from __future__ import annotations

import json

from click.testing import CliRunner

from monitor.cli import main


def run(*args: str) -> tuple[int, str, str]:
    """Run ``flarewatch ARGS``: exit code, stdout, stderr."""
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_code_is_explained_with_its_fix_and_source() -> None:
    """The entry's heading, meaning, fix and source URL, unbroken."""
    code, out, _ = run("explain", "10220")
    assert 0 == code
    assert out.startswith("Workers 10220: Secrets changed since that version was deployed")
    assert "What to do:" in out
    assert (
        "https://github.com/cloudflare/workers-sdk/blob/main/packages/wrangler/src/versions/"
        "rollback/index.ts" in out
    )


def test_an_unquoted_message_is_joined() -> None:
    """Shells split messages; the words are put back together."""
    code, out, _ = run("explain", "D1_ERROR:", "Network", "connection", "lost.")
    assert 0 == code
    assert out.startswith("D1: D1_ERROR: Network connection lost.")


def test_a_shared_code_lists_every_product_and_says_how_to_narrow() -> None:
    """10007 means different things to Workers and R2."""
    code, out, _ = run("explain", "10007")
    assert 0 == code
    assert "-- 2 entries match '10007' (Workers, R2); the first fits best." in out
    code, out, _ = run("explain", "--service", "r2", "10007")
    assert out.startswith("R2 10007: NoSuchKey")


def test_json_output() -> None:
    """Matches as data, best first, with how they matched."""
    code, out, _ = run("explain", "--json", "Authentication error [code: 10000]")
    document = json.loads(out)
    assert 0 == code
    assert ("api:10000", "code+message") == (
        document["matches"][0]["key"],
        document["matches"][0]["matched"],
    )


def test_nothing_documented_exits_1() -> None:
    """No guess: an empty answer and exit 1 (JSON still printed with --json)."""
    code, out, err = run("explain", "--json", "KV GET failed: 503 Service Unavailable")
    assert (1, []) == (code, json.loads(out)["matches"])
    assert "nothing documented matches" in err


def test_no_input_exits_2() -> None:
    """Bad input names what to give."""
    code, _, err = run("explain")
    assert 2 == code
    assert "give an error code or message" in err


def test_the_catalogue_can_be_listed() -> None:
    """--list shows every entry, one a line; --service narrows it."""
    code, out, _ = run("explain", "--list", "--service", "d1")
    assert 0 == code
    assert all(line.startswith("D1") for line in out.splitlines())
    assert "D1_ERROR: Network connection lost." in out
