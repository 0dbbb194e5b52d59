"""A process that uses an outbox and is killed by the restart-safety tests.

``python -m tests.integration.alerting.outbox_child DB URL MODE``:

- ``enqueue``: enqueue one notification for receiver ``hook``, print ``enqueued``, then wait
  (on stdin) to be killed before anything is delivered;
- ``deliver``: enqueue one notification and deliver it to the webhook at ``URL`` (the test's
  receiver holds the request, and the test kills this process mid-delivery);
- ``pagerduty``: the same, to a PagerDuty Events API at ``URL``.
"""

from __future__ import annotations

import asyncio
import sys

from alerting.notifiers import (
    Notifier,
    NotifierContext,
    PagerDutyConfig,
    PagerDutyNotifier,
    WebhookConfig,
    WebhookNotifier,
)
from alerting.outbox import Outbox, RetryPolicy
from tests.unit.alerting.notifier_samples import alert, notification

NOTIFICATION = notification([alert("api")], receivers=("hook",))
ROUTING_KEY = "ch1ldR0UT1NGk3yR0UT1NGk3yR0UT1NG"


async def main(db: str, url: str, mode: str) -> None:
    """Enqueue, then wait to be killed (``enqueue``) or deliver (``deliver``)."""
    outbox = await Outbox.open(db, policy=RetryPolicy(initial_delay=0.05, max_delay=0.1))
    await outbox.enqueue("hook", NOTIFICATION)
    print("enqueued", flush=True)  # noqa: T201 - the parent waits for this line
    if mode == "enqueue":
        await asyncio.to_thread(sys.stdin.read)
        return
    notifier: Notifier
    if mode == "pagerduty":
        pd = PagerDutyConfig.model_validate(
            {"type": "pagerduty", "routing_key": ROUTING_KEY, "url": url}
        )
        notifier = PagerDutyNotifier("hook", pd, NotifierContext())
    else:
        hook = WebhookConfig.model_validate({"type": "webhook", "url": url})
        notifier = WebhookNotifier("hook", hook, NotifierContext())
    await outbox.run({"hook": notifier})


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
