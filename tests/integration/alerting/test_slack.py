"""The Slack notifier against a local Slack: incoming webhook and chat.postMessage."""

from __future__ import annotations

import logging

import pytest
import structlog
from pydantic import SecretStr

from alerting.notifiers import NotifierContext, Outcome, Reason, SlackConfig, SlackNotifier
from tests.integration.alerting.conftest import ReceiverFactory, closed_port_url
from tests.integration.alerting.receivers import Answer, Receiver, slack_ok
from tests.unit.alerting.notifier_samples import alert, notification

HOOK_PATH = "/services/T0ALERTS/B0ALERTS/s3cr3tW3bh00kP4th0000000"
TOKEN = "xoxb-1111111111-2222222222-s3cr3tb0tt0k3n"


def webhook_notifier(receiver: Receiver | None, **settings: object) -> SlackNotifier:
    """A Slack notifier posting to the receiver's incoming-webhook path."""
    url = receiver.url(HOOK_PATH) if receiver is not None else closed_port_url(HOOK_PATH)
    config = SlackConfig.model_validate({"type": "slack", "webhook_url": url, **settings})
    return SlackNotifier("slack", config, NotifierContext(external_url="https://fw.example"))


def bot_notifier(receiver: Receiver) -> SlackNotifier:
    """A Slack notifier using a bot token against the receiver's Web API."""
    config = SlackConfig.model_validate(
        {
            "type": "slack",
            "bot_token": TOKEN,
            "channel": "#alerts",
            "api_url": receiver.url("/api/"),
        }
    )
    return SlackNotifier("slack-bot", config, NotifierContext())


async def test_a_webhook_message_arrives_with_blocks_and_text(receivers: ReceiverFactory) -> None:
    """The whole point: the grouped notification reaches Slack as one Block Kit message."""
    receiver = await receivers(slack_ok)
    notifier = webhook_notifier(receiver)
    try:
        delivery = await notifier.send(notification([alert("api"), alert("images")]))
    finally:
        await notifier.close()
    assert Outcome.DELIVERED == delivery.outcome
    (request,) = receiver.requests
    body = request.json()
    assert HOOK_PATH == request.path
    assert body["text"].startswith("🔴 FIRING:2 · zone=spacevision.app")
    assert "header" == body["blocks"][0]["type"]


async def test_a_short_429_is_retried_in_place_by_slack_sdk(receivers: ReceiverFactory) -> None:
    """slack-sdk's rate-limit retry handler honours a short Retry-After itself, so a brief
    burst limit costs no trip through the outbox."""
    receiver = await receivers(slack_ok)
    receiver.plan(Answer(status=429, text="rate_limited", headers={"Retry-After": "0"}))
    notifier = webhook_notifier(receiver)
    try:
        delivery = await notifier.send(notification([alert()]))
    finally:
        await notifier.close()
    assert Outcome.DELIVERED == delivery.outcome
    assert [429, 200] == [status for _, status in receiver.answered]


async def test_a_long_429_goes_back_to_the_outbox_with_its_wait(
    receivers: ReceiverFactory,
) -> None:
    """A two-minute Retry-After must not park a worker: the outbox waits it out, persistently."""
    receiver = await receivers(slack_ok)
    receiver.plan(Answer(status=429, text="rate_limited", headers={"Retry-After": "120"}))
    notifier = webhook_notifier(receiver)
    try:
        delivery = await notifier.send(notification([alert()]))
    finally:
        await notifier.close()
    assert (Outcome.RETRY, Reason.RATE_LIMITED, 120.0) == (
        delivery.outcome,
        delivery.reason,
        delivery.retry_after,
    )
    assert 1 == len(receiver.requests)


@pytest.mark.parametrize(
    ("answer", "outcome", "reason"),
    [
        (Answer(status=500, text="rollup_error"), Outcome.RETRY, Reason.SERVER_ERROR),
        (Answer(status=404, text="no_service"), Outcome.RETRY, Reason.REJECTED),
        (Answer(status=403, text="invalid_token"), Outcome.RETRY, Reason.REJECTED),
        (Answer(status=400, text="invalid_blocks"), Outcome.FAILED, Reason.INVALID),
    ],
)
async def test_webhook_errors_are_classified(
    receivers: ReceiverFactory, answer: Answer, outcome: Outcome, reason: Reason
) -> None:
    """Slack's webhook errors: a revoked hook waits for the operator, a bad message is
    given up, an outage is retried."""
    receiver = await receivers(slack_ok)
    receiver.plan(answer)
    notifier = webhook_notifier(receiver)
    try:
        delivery = await notifier.send(notification([alert()]))
    finally:
        await notifier.close()
    assert (outcome, reason) == (delivery.outcome, delivery.reason)
    assert answer.text is not None
    assert answer.text in delivery.detail


async def test_an_unreachable_slack_is_retried_without_leaking_the_url() -> None:
    """Connection refused: retry later, and the error text shows no part of the secret URL."""
    notifier = webhook_notifier(None)
    try:
        delivery = await notifier.send(notification([alert()]))
    finally:
        await notifier.close()
    assert (Outcome.RETRY, Reason.CONNECTION) == (delivery.outcome, delivery.reason)
    assert "s3cr3tW3bh00k" not in delivery.detail


async def test_a_slow_slack_times_out(receivers: ReceiverFactory) -> None:
    """A receiver that hangs must not hang delivery: the notifier's timeout ends the try."""
    receiver = await receivers(slack_ok)
    receiver.hold()
    notifier = webhook_notifier(receiver, timeout="200ms")
    try:
        delivery = await notifier.send(notification([alert()]))
    finally:
        await notifier.close()
    assert (Outcome.RETRY, Reason.TIMEOUT) == (delivery.outcome, delivery.reason)


async def test_a_bot_posts_with_chat_post_message(receivers: ReceiverFactory) -> None:
    """With a bot token the message goes through chat.postMessage to the channel."""
    receiver = await receivers(slack_ok)
    notifier = bot_notifier(receiver)
    try:
        delivery = await notifier.send(notification([alert()]))
    finally:
        await notifier.close()
    assert Outcome.DELIVERED == delivery.outcome
    (request,) = receiver.requests
    assert "/api/chat.postMessage" == request.path
    assert f"Bearer {TOKEN}" == request.headers["Authorization"]
    body = request.json()
    assert "#alerts" == body["channel"]
    assert body["blocks"]


@pytest.mark.parametrize(
    ("answer", "outcome", "reason", "wait"),
    [
        (
            Answer(status=200, json_body={"ok": False, "error": "invalid_auth"}),
            Outcome.RETRY,
            Reason.REJECTED,
            None,
        ),
        (
            Answer(status=200, json_body={"ok": False, "error": "invalid_blocks"}),
            Outcome.FAILED,
            Reason.INVALID,
            None,
        ),
        (
            Answer(
                status=429,
                json_body={"ok": False, "error": "ratelimited"},
                headers={"Retry-After": "30"},
            ),
            Outcome.RETRY,
            Reason.RATE_LIMITED,
            30.0,
        ),
    ],
)
async def test_web_api_errors_are_classified(
    receivers: ReceiverFactory,
    answer: Answer,
    outcome: Outcome,
    reason: Reason,
    wait: float | None,
) -> None:
    """chat.postMessage answers ``ok: false`` with a code; the code decides."""
    receiver = await receivers(slack_ok)
    receiver.plan(answer)
    notifier = bot_notifier(receiver)
    try:
        delivery = await notifier.send(notification([alert()]))
    finally:
        await notifier.close()
    assert (outcome, reason, wait) == (delivery.outcome, delivery.reason, delivery.retry_after)


async def test_secrets_never_reach_a_log(
    receivers: ReceiverFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Even with every logger at DEBUG (slack-sdk logs request URLs there), neither the
    webhook URL nor the bot token appears in any log record, structured or not."""
    caplog.set_level(logging.DEBUG)
    receiver = await receivers(slack_ok)
    receiver.plan(
        Answer(status=429, text="rate_limited", headers={"Retry-After": "0"}),
        Answer(status=500, text="rollup_error"),
    )
    hook, bot = webhook_notifier(receiver), bot_notifier(receiver)
    with structlog.testing.capture_logs() as events:
        try:
            for notifier in (hook, bot, hook):
                await notifier.send(notification([alert()]))
        finally:
            await hook.close()
            await bot.close()
    logged = caplog.text + repr(events)
    assert "s3cr3tW3bh00k" not in logged
    assert "s3cr3tb0tt0k3n" not in logged


def test_a_notifier_repr_shows_no_secret() -> None:
    """Nothing that prints the notifier prints its webhook URL."""
    config = SlackConfig(type="slack", webhook_url=SecretStr(closed_port_url(HOOK_PATH)))
    notifier = SlackNotifier("slack", config, NotifierContext())
    assert "s3cr3t" not in repr(notifier)
    assert "s3cr3t" not in repr(config)
