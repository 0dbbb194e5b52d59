"""The webhook notifier against a local receiver that verifies what it gets."""

from __future__ import annotations

import time

from alerting.notifiers import NotifierContext, Outcome, WebhookConfig, WebhookNotifier
from alerting.notifiers.base import notification_id
from alerting.notifiers.webhook import ID_HEADER, parse_headers, verify_signature
from tests.integration.alerting.conftest import ReceiverFactory
from tests.integration.alerting.receivers import Answer, Receiver
from tests.unit.alerting.notifier_samples import alert, notification

HMAC_KEY = "whsec-0123456789abcdef0123"
TOKEN = "bearer-s3cr3t-t0ken"


def webhook(receiver: Receiver, **settings: object) -> WebhookNotifier:
    """A webhook notifier posting to the receiver (with a token in the URL, a secret)."""
    config = WebhookConfig.model_validate(
        {"type": "webhook", "url": receiver.url("/hooks/alerts?token=url-s3cr3t"), **settings}
    )
    return WebhookNotifier("hook", config, NotifierContext())


async def test_a_signed_request_verifies_at_the_receiver(receivers: ReceiverFactory) -> None:
    """The receiver can prove the request came from flarewatch and was not altered."""
    receiver = await receivers()
    notifier = webhook(receiver, hmac_key=HMAC_KEY, bearer_token=TOKEN)
    note = notification([alert()])
    try:
        delivery = await notifier.send(note)
    finally:
        await notifier.close()
    assert Outcome.DELIVERED == delivery.outcome
    (request,) = receiver.requests
    timestamp, signature = parse_headers(request.headers)
    assert timestamp is not None
    assert signature is not None
    assert verify_signature(HMAC_KEY, request.body, timestamp, signature, now=time.time())
    assert f"Bearer {TOKEN}" == request.headers["Authorization"]
    assert "4" == request.json()["version"]
    assert notification_id(note) == request.headers[ID_HEADER]


async def test_a_retried_notification_keeps_its_id(receivers: ReceiverFactory) -> None:
    """The receiver deduplicates on the id, so a retry after a 503 is recognisable."""
    receiver = await receivers()
    receiver.plan(Answer(status=503, text="busy"))
    notifier = webhook(receiver)
    note = notification([alert()])
    try:
        first = await notifier.send(note)
        second = await notifier.send(note)
    finally:
        await notifier.close()
    assert (Outcome.RETRY, Outcome.DELIVERED) == (first.outcome, second.outcome)
    ids = {r.headers[ID_HEADER] for r in receiver.requests}
    assert {notification_id(note)} == ids


async def test_the_url_token_never_shows_in_a_failure(receivers: ReceiverFactory) -> None:
    """The URL is a secret: a failure's detail names the status, not the URL."""
    receiver = await receivers()
    receiver.plan(Answer(status=500, text="oops"))
    notifier = webhook(receiver)
    try:
        delivery = await notifier.send(notification([alert()]))
    finally:
        await notifier.close()
    assert "url-s3cr3t" not in delivery.detail
    assert "HTTP 500: oops" == delivery.detail
