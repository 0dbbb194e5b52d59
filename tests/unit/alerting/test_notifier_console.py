"""The console notifier's text: what the demo shows in a terminal."""

from __future__ import annotations

from alerting.notifiers.console import render_text
from tests.unit.alerting.notifier_samples import T0, alert, notification


def test_a_firing_notification_reads_as_a_header_and_one_line_per_alert() -> None:
    """A terminal shows the same header as Slack, then each alert with its numbers."""
    text = render_text(notification([alert("api")]), now=T0 + 90, receiver="console")
    lines = text.splitlines()
    assert (
        "2026-01-01T12:00:30.000Z [console] 🔴 FIRING · Worker api: 5.7% of requests fail"
        == (lines[0])
    )
    assert "  🔴 Worker api: 5.7% of requests fail (critical, firing for 1m)" == lines[1]
    assert lines[2].strip().startswith("error_ratio=0.057 requests=1000 probe=api")


def test_a_resolve_says_how_it_ended() -> None:
    """Resolved and no-data read differently, as in Slack."""
    text = render_text(
        notification(
            [], [alert("a", firing=False), alert("b", firing=False, resolved_reason="stale")]
        ),
        now=T0,
        receiver="console",
    )
    assert "  ✅ Worker a: 5.7% of requests fail (resolved)" in text
    assert "  ⚪ Worker b: 5.7% of requests fail (no data)" in text
