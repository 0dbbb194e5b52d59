"""The console notifier writing to a file and to standard error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alerting.notifiers import ConsoleConfig, ConsoleNotifier, NotifierContext, Outcome, Reason
from tests.unit.alerting.notifier_samples import alert, notification


async def test_json_lines_are_appended_to_a_private_file(tmp_path: Path) -> None:
    """Each notification is one JSON object (the webhook payload) per line, in a file only
    its owner can read."""
    path = tmp_path / "alerts.jsonl"
    config = ConsoleConfig(type="console", path=str(path), format="json")
    notifier = ConsoleNotifier("console", config, NotifierContext())
    first = await notifier.send(notification([alert("api")]))
    second = await notifier.send(notification([], [alert("api", firing=False)], at=1.0))
    assert (Outcome.DELIVERED, Outcome.DELIVERED) == (first.outcome, second.outcome)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert ["firing", "resolved"] == [r["status"] for r in records]
    assert 0o600 == path.stat().st_mode & 0o777


async def test_text_goes_to_standard_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a path the demo's terminal shows the notification."""
    notifier = ConsoleNotifier("console", ConsoleConfig(type="console"), NotifierContext())
    await notifier.send(notification([alert("api")]))
    assert "FIRING · Worker api: 5.7% of requests fail" in capsys.readouterr().err


async def test_an_unwritable_file_is_retried(tmp_path: Path) -> None:
    """A full or missing disk is transient: the outbox keeps the notification."""
    config = ConsoleConfig(type="console", path=str(tmp_path / "missing-dir" / "alerts.log"))
    notifier = ConsoleNotifier("console", config, NotifierContext())
    delivery = await notifier.send(notification([alert()]))
    assert (Outcome.RETRY, Reason.IO_ERROR) == (delivery.outcome, delivery.reason)
