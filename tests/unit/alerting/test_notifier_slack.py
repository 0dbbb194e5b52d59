"""The Slack message: wording, content, Slack's limits, and what Slack's errors mean."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from alerting.notifiers.base import Outcome, Reason
from alerting.notifiers.slack import (
    MAX_BLOCKS,
    MAX_HEADER,
    MAX_SECTION,
    MESSAGE_BUDGET,
    SlackConfig,
    SlackMessage,
    build_message,
    classify_api_error,
)
from tests.unit.alerting.notifier_samples import T0, alert, notification

NOW = T0 + 30.0
WEBHOOK = "https://hooks.slack.com/services/T0001/B0001/abcdefghijklmnopqrstuvwx"


def header(message: SlackMessage) -> str:
    """The header block's text."""
    block = message.blocks[0]
    assert "header" == block["type"]
    return str(block["text"]["text"])


def texts(message: SlackMessage) -> str:
    """Every text in the blocks, joined."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list | tuple):
            for value in node:
                walk(value)

    walk(list(message.blocks))
    return "\n".join(found)


def test_one_firing_alert_is_headed_by_its_summary_and_severity() -> None:
    """A single alert's header says what is wrong, not a group key."""
    message = build_message(notification([alert()]), now=NOW)
    assert "🔴 FIRING · Worker api: 5.7% of requests fail" == header(message)


def test_a_group_is_headed_by_its_count_and_labels() -> None:
    """Ten rules tripped by one incident: one message, counted, named by the group."""
    alerts = [alert(f"w{i}") for i in range(3)]
    message = build_message(notification(alerts), now=NOW)
    assert "🔴 FIRING:3 · zone=spacevision.app" == header(message)


def test_the_header_takes_the_worst_severity() -> None:
    """A group with a warning and a critical is a critical message."""
    alerts = [alert("a", severity="warning"), alert("b", severity="critical")]
    assert header(build_message(notification(alerts), now=NOW)).startswith("🔴")
    warnings = [alert("a", severity="warning"), alert("b", severity="info")]
    assert header(build_message(notification(warnings), now=NOW)).startswith("🟠")


def test_a_reminder_is_worded_as_one() -> None:
    """Users asked for "still down for 2h", not a repeat of the first page."""
    message = build_message(
        notification([alert(firing_since=T0)], reminder=True, at=T0 + 3 * 3600 + 300),
        now=T0 + 3 * 3600 + 300,
    )
    assert header(message).startswith("🔁 STILL FIRING for 3h 5m")


def test_a_resolve_is_headed_resolved() -> None:
    """The resolve message must read as good news at a glance."""
    message = build_message(notification([], [alert(firing=False)]), now=NOW)
    assert header(message).startswith("✅ RESOLVED · ")
    assert "resolved after 10m" in texts(message)


def test_a_resolve_for_want_of_data_says_no_data() -> None:
    """A probe that stopped reporting did not recover: say so instead of claiming it did."""
    stale = alert(firing=False, resolved_reason="stale")
    message = build_message(notification([], [stale]), now=NOW)
    assert header(message).startswith("⚪ NO DATA")
    assert "stopped reporting" in texts(message)


def test_an_alert_shows_its_values_description_runbook_and_silence() -> None:
    """Everything an on-call needs to act is in the message itself."""
    body = texts(build_message(notification([alert()]), now=NOW))
    assert "error_ratio `0.057`" in body
    assert "requests `1000`" in body
    assert "57 of 1,000 requests" in body
    assert "<https://developers.cloudflare.com/workers/observability/errors/|📖 Runbook>" in body
    assert 'rule="worker_error_ratio_critical", probe="api"' in body
    assert "firing for 30s" in body


def test_labels_are_shown_without_the_inhibition_marker() -> None:
    """``needs_api`` is plumbing for inhibition, not information."""
    body = texts(build_message(notification([alert()]), now=NOW))
    assert "`zone=spacevision.app`" in body
    assert "needs_api" not in body


def test_a_flapping_alert_is_flagged() -> None:
    """A flapping alert's state is unreliable; the message must say so."""
    assert "flapping" in texts(build_message(notification([alert(flapping=True)]), now=NOW))


def test_mrkdwn_control_characters_are_escaped() -> None:
    """A summary with ``<``, ``>`` or ``&`` must not turn into a link or a mention."""
    odd = alert(summary="latency <80ms> & <!channel>")
    body = texts(build_message(notification([odd]), now=NOW))
    assert "latency &lt;80ms&gt; &amp; &lt;!channel&gt;" in body


def test_a_huge_group_stays_inside_slacks_limits() -> None:
    """50 blocks, 150-character headers, 3,000-character sections, ~12k in all: past them
    Slack refuses the message and the page is lost."""
    alerts = [alert(f"worker-{i}", description="x" * 5000) for i in range(200)]
    message = build_message(notification(alerts, group_labels={"zone": "z" * 300}), now=NOW)
    assert len(message.blocks) <= MAX_BLOCKS
    assert len(header(message)) <= MAX_HEADER
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert all(len(s) <= MAX_SECTION for s in sections)
    assert len(texts(message)) <= MESSAGE_BUDGET + 4000
    assert "…and 190 more alerts" in texts(message)


def test_a_long_description_is_cut_with_a_marker() -> None:
    """A cut is visible, so nobody thinks the description ended there."""
    message = build_message(notification([alert(description="y" * 10_000)]), now=NOW)
    section = next(b for b in message.blocks if b["type"] == "section")
    assert len(section["text"]["text"]) <= MAX_SECTION
    assert "…" in section["text"]["text"]


def test_the_fallback_text_lists_the_alerts() -> None:
    """Slack shows ``text`` in notifications and to screen readers: it must say the same."""
    message = build_message(notification([alert("a"), alert("b")]), now=NOW)
    assert message.text.startswith("🔴 FIRING:2 · zone=spacevision.app")
    assert "• Worker a: 5.7% of requests fail" in message.text


def test_resolves_are_left_out_when_send_resolved_is_off() -> None:
    """``send_resolved: false`` keeps resolves out of a message that also has firing alerts."""
    message = build_message(
        notification([alert("a")], [alert("b", firing=False)]), now=NOW, send_resolved=False
    )
    assert "Worker b" not in texts(message)


def test_a_late_message_says_it_is_late() -> None:
    """A message delivered after an outage must not look current."""
    message = build_message(notification([alert()], at=T0), now=T0 + 3600)
    assert "delivered 1h late" in texts(message)


def test_the_footer_links_the_status_page() -> None:
    """With flarewatch's URL known, the message links back to it."""
    message = build_message(notification([alert()]), now=NOW, external_url="https://fw.example/")
    assert "<https://fw.example/|status page>" in texts(message)


def test_the_body_is_json_with_text_and_blocks() -> None:
    """Both the webhook and chat.postMessage take this body; link unfurling stays off."""
    body = build_message(notification([alert()]), now=NOW).body()
    decoded = json.loads(json.dumps(body))
    assert {"text", "blocks", "unfurl_links", "unfurl_media"} == set(decoded)
    assert decoded["unfurl_links"] is False


@pytest.mark.parametrize(
    ("status", "error", "outcome", "reason"),
    [
        (429, "ratelimited", Outcome.RETRY, Reason.RATE_LIMITED),
        (200, "ratelimited", Outcome.RETRY, Reason.SERVER_ERROR),
        (200, "internal_error", Outcome.RETRY, Reason.SERVER_ERROR),
        (500, "", Outcome.RETRY, Reason.SERVER_ERROR),
        (200, "invalid_auth", Outcome.RETRY, Reason.REJECTED),
        (200, "channel_not_found", Outcome.RETRY, Reason.REJECTED),
        (200, "not_in_channel", Outcome.RETRY, Reason.REJECTED),
        (200, "invalid_blocks", Outcome.FAILED, Reason.INVALID),
        (200, "msg_too_long", Outcome.FAILED, Reason.INVALID),
    ],
)
def test_web_api_errors_map_to_outcomes(
    status: int, error: str, outcome: Outcome, reason: Reason
) -> None:
    """A bad token waits for the operator to fix it; a bad message is given up at once."""
    delivery = classify_api_error(status, error, {"Retry-After": "3"}, T0)
    assert (outcome, reason) == (delivery.outcome, delivery.reason)


def test_a_rate_limited_web_api_call_carries_retry_after() -> None:
    """chat.postMessage's 429 says how long to wait, like the webhook's."""
    assert 3.0 == classify_api_error(429, "ratelimited", {"Retry-After": "3"}, T0).retry_after


def test_the_config_needs_exactly_one_way_in() -> None:
    """Neither or both of webhook_url and bot_token is a config error, said plainly."""
    with pytest.raises(ValidationError, match="either webhook_url, or bot_token and channel"):
        SlackConfig.model_validate({"type": "slack"})
    with pytest.raises(ValidationError, match="either webhook_url, or bot_token and channel"):
        SlackConfig.model_validate(
            {
                "type": "slack",
                "webhook_url": WEBHOOK,
                "bot_token": "xoxb-1234567890",
                "channel": "c",
            }
        )


def test_a_bot_token_needs_a_channel() -> None:
    """chat.postMessage cannot post without one."""
    with pytest.raises(ValidationError, match="bot_token needs a channel"):
        SlackConfig.model_validate({"type": "slack", "bot_token": "xoxb-1234567890"})


def test_a_config_error_never_shows_the_webhook_url() -> None:
    """The URL is the credential; a typo in it must not print it to the terminal or logs."""
    with pytest.raises(ValidationError) as raised:
        SlackConfig.model_validate(
            {"type": "slack", "webhook_url": "hooks.slack.com/services/T0/B0/sekrit-part-123"}
        )
    assert "sekrit-part-123" not in str(raised.value)
    assert "webhook_url" in str(raised.value)


def test_the_config_repr_hides_secrets() -> None:
    """A config dumped in a debug log shows no credential."""
    config = SlackConfig.model_validate({"type": "slack", "webhook_url": WEBHOOK})
    assert "abcdefghijklmnop" not in repr(config)
    assert "abcdefghijklmnop" not in str(config.model_dump())
