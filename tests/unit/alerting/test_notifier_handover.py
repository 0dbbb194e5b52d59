"""How each notifier words and keys a reload's handover (a receiver that no longer routes an
alert it heard firing): the reader must know why it "resolved", and identities must match
what the firing opened."""

from __future__ import annotations

from dataclasses import replace

from alerting.grouping import Notification
from alerting.notifiers import ConsoleConfig, ConsoleNotifier, NotifierContext, Reason
from alerting.notifiers.console import render_text
from alerting.notifiers.pagerduty import build_events
from alerting.notifiers.slack import build_message
from alerting.notifiers.webhook import build_payload
from tests.unit.alerting.notifier_samples import T0, alert, notification

KEY = "0123456789abcdef0123456789abcdef"
API = alert("api")


def _handover(
    firing: tuple[object, ...] = (), resolved: tuple[object, ...] = (API,)
) -> Notification:
    return replace(
        notification(list(firing), list(resolved), receivers=("pagerduty",)),  # type: ignore[arg-type]
        handover=True,
    )


def test_slack_says_the_alert_is_no_longer_routed_here() -> None:
    """ "RESOLVED" would be a lie for an alert that still fires: the title and the alert say
    a reload moved it away."""
    message = build_message(_handover(), now=T0 + 60)
    text = str(message.blocks)
    assert message.text.startswith("\u21aa\ufe0f NO LONGER ROUTED HERE")
    assert "no longer routed here after a configuration reload" in text


def test_the_console_words_a_handover_like_slack() -> None:
    """The demo's terminal shows the same reason."""
    text = render_text(_handover(), now=T0 + 60, receiver="console")
    assert "(no longer routed here after a configuration reload)" in text


def test_the_webhook_marks_the_handover_and_its_reason() -> None:
    """Webhook consumers can tell a handover from a recovery."""
    payload = build_payload(_handover(), receiver="hook")
    assert (True, "resolved", "rerouted") == (
        payload["handover"],
        payload["alerts"][0]["status"],
        payload["alerts"][0]["resolvedReason"],
    )


def test_pagerduty_resolves_the_key_its_trigger_opened() -> None:
    """With ``dedup: alert`` the resolve carries the alert's fingerprint: the incident the
    trigger opened is the one closed."""
    events = build_events(_handover(), KEY)
    assert [("resolve", API.fingerprint)] == [(e["event_action"], e["dedup_key"]) for e in events]


def test_pagerduty_group_mode_closes_a_group_left_empty() -> None:
    """With ``dedup: group`` an empty handover resolves the old group's incident."""
    handover = _handover(resolved=())
    events = build_events(handover, KEY, mode="group")
    assert [("resolve", handover.group_id)] == [(e["event_action"], e["dedup_key"]) for e in events]


def test_pagerduty_group_mode_keeps_a_group_that_still_fires() -> None:
    """A handover that still lists firing alerts of the group must not close the group."""
    other = alert("images")
    events = build_events(_handover(firing=(other,)), KEY, mode="group")
    assert ["trigger"] == [e["event_action"] for e in events]


async def test_a_notifier_keyed_by_alert_skips_an_empty_handover() -> None:
    """An empty handover means nothing to a person: the console does not print it."""
    notifier = ConsoleNotifier("console", ConsoleConfig(type="console"), NotifierContext())
    delivery = await notifier.send(_handover(resolved=()))
    assert Reason.SKIPPED == delivery.reason
