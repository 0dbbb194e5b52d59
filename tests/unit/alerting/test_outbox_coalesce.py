"""Merging two undelivered notifications of one group (``alerting.outbox.coalesce``): the
newer is the truth, plus every resolve only the older carries."""

from __future__ import annotations

from dataclasses import replace

from alerting.outbox import coalesce
from tests.unit.alerting.notifier_samples import T0, alert, notification

API, IMAGES, DB = alert("api"), alert("images"), alert("db")
IMAGES_RESOLVED = alert("images", firing=False)


def _probes(alerts: tuple[object, ...]) -> list[str]:
    return sorted(a.labels["probe"] for a in alerts)  # type: ignore[attr-defined]


def test_the_newer_message_wins_when_it_says_everything() -> None:
    """Nothing the older message said is missing from the newer one: it is sent as is."""
    older = notification([API, IMAGES], at=T0)
    newer = notification([API], [IMAGES_RESOLVED], at=T0 + 300)
    assert newer == coalesce(older, newer)


def test_a_resolve_only_the_older_message_carries_is_kept() -> None:
    """The group forgets a resolved alert once its message is made: dropping that message
    would leave the page open for good."""
    older = notification([API], [IMAGES_RESOLVED], at=T0)
    newer = notification([API, DB], at=T0 + 300, reminder=True)
    merged = coalesce(older, newer)
    assert merged is not None
    assert (["api", "db"], ["images"], False, T0 + 300) == (
        _probes(merged.firing),
        _probes(merged.resolved),
        merged.reminder,
        merged.at,
    )


def test_a_firing_alert_the_newer_message_leaves_out_stays_out() -> None:
    """An alert silenced since the older message is not announced by the merge."""
    older = notification([API, IMAGES], at=T0)
    newer = notification([API], at=T0 + 300)
    merged = coalesce(older, newer)
    assert merged is not None
    assert ["api"] == _probes(merged.firing)


def test_a_handover_and_a_plain_message_are_not_merged() -> None:
    """They mean different things by "resolved": each is kept whole."""
    older = replace(notification([], [IMAGES_RESOLVED], at=T0), handover=True)
    newer = notification([API], at=T0 + 300)
    assert coalesce(older, newer) is None


def test_common_labels_hold_for_the_carried_resolves_too() -> None:
    """Receivers show common labels as the group's: a label a carried alert lacks goes."""
    older = notification([], [alert("images", firing=False, labels={"zone": "other"})], at=T0)
    newer = notification([API], at=T0 + 300)
    merged = coalesce(older, newer)
    assert merged is not None
    assert "zone" not in merged.common_labels
