"""`flarewatch alerts` and `flarewatch silence`: what they print and where the token comes
from (the commands against a daemon are in tests/integration/alerting_e2e)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.cli_alerts import ago, alerts_table, read_token, silences_table, table
from ops.cli_common import BadInput

NOW = 1_800_000_000.0


def test_ago_reads_epoch_seconds_and_iso_times() -> None:
    """Past times say "ago", future ones "in"; unknown is a dash."""
    assert "45s ago" == ago(NOW - 45, NOW)
    assert "3m ago" == ago("2027-01-15T07:57:00Z", NOW)
    assert "in 2h00m" == ago(NOW + 7200, NOW)
    assert "2d3h ago" == ago(NOW - 2 * 86400 - 3 * 3600, NOW)
    assert "-" == ago(None, NOW)


def test_tables_pad_every_column_but_the_last() -> None:
    """Summaries and comments can be long: they are not padded."""
    assert "a     b  c\nlong  x  y" == table([["a", "b", "c"], ["long", "x", "y"]])


def test_the_alerts_table_marks_silenced_and_inhibited_alerts() -> None:
    """Why an alert is not paging shows at a glance."""
    alerts: list[dict[str, Any]] = [
        {
            "state": "firing",
            "severity": "critical",
            "rule": "worker_down",
            "labels": {"probe": "api-worker"},
            "annotations": {"summary": "Worker api-worker is down"},
            "since": NOW - 180,
            "silenced_by": ["s1"],
        },
        {
            "state": "firing",
            "severity": "warning",
            "rule": "http_down",
            "labels": {"probe": "www"},
            "annotations": {},
            "since": NOW - 60,
            "silenced_by": [],
            "inhibited_by": "fp",
        },
    ]
    lines = alerts_table(alerts, NOW).splitlines()
    assert lines[0].split() == ["STATE", "SEVERITY", "RULE", "PROBE", "SINCE", "SUMMARY"]
    assert lines[1].startswith("firing (silenced)   critical  worker_down  api-worker  3m ago")
    assert lines[2].startswith("firing (inhibited)  warning   http_down    www         1m ago")


def test_the_silences_table_shows_ids_for_expiring() -> None:
    """The id is the first column: `flarewatch silence expire ID`."""
    silences = [
        {
            "id": "0b3c",
            "state": "active",
            "ends_at": NOW + 3600,
            "created_by": "alice",
            "matchers": ['rule="worker_down"'],
            "comment": "deploy",
        }
    ]
    assert silences_table(silences, NOW).splitlines()[1].split() == [
        "0b3c",
        "active",
        "in",
        "1h00m",
        "alice",
        'rule="worker_down"',
        "deploy",
    ]


def test_the_token_comes_from_the_environment_when_no_file_is_given() -> None:
    """FLAREWATCH_ADMIN_TOKEN, trimmed; never a command-line argument."""
    assert "s3cr3t" == read_token(None, {"FLAREWATCH_ADMIN_TOKEN": " s3cr3t\n"})


def test_without_a_token_the_error_says_how_to_give_one() -> None:
    """Exit 2 with both ways named."""
    with pytest.raises(BadInput, match="--token-file PATH or set FLAREWATCH_ADMIN_TOKEN"):
        read_token(None, {})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["silence", "add", 'x="', "-c", "c"], "invalid matcher 'x=\"'"),
        (["silence", "add", "a=b", "-c", "c", "-d", "2 hours"], "--duration: "),
        (["silence", "add", "a=b", "-c", "c", "-d", "1h", "--until", "x"], "not both"),
        (["silence", "add", "a=b", "-c", "c", "--until", "friday"], "not an ISO 8601 time"),
        (["alerts", "--url", "ftp://x"], "--url must be an http:// or https:// URL"),
    ],
)
def test_bad_arguments_exit_2_before_anything_is_sent(args: list[str], message: str) -> None:
    """Mistakes are caught locally, with the reason and no traceback."""
    result = CliRunner().invoke(main, args, env={"FLAREWATCH_ADMIN_TOKEN": "t" * 20})
    assert 2 == result.exit_code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
