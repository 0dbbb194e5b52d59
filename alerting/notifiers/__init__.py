"""Notifiers: deliver grouped notifications to Slack, PagerDuty, a webhook, Alertmanager or
the console.

The config of the receivers (``notifiers:`` in YAML, a mapping of receiver name to its
settings, each with a ``type``) is validated by :data:`NotifierConfig`; routes name the
receivers. :func:`build_notifiers` turns the config into :class:`Notifier` objects for
:meth:`alerting.outbox.Outbox.run`. docs/notifiers.md is the user guide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import ConfigDict, Field, TypeAdapter

from alerting.notifiers.alertmanager import AlertmanagerConfig, AlertmanagerNotifier
from alerting.notifiers.base import (
    Delivery,
    MemoryState,
    Notifier,
    NotifierContext,
    NotifierState,
    Outcome,
    PeriodicNotifier,
    Reason,
)
from alerting.notifiers.console import ConsoleConfig, ConsoleNotifier
from alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from alerting.notifiers.slack import SlackConfig, SlackNotifier
from alerting.notifiers.webhook import WebhookConfig, WebhookNotifier

NotifierConfig = Annotated[
    SlackConfig | PagerDutyConfig | WebhookConfig | AlertmanagerConfig | ConsoleConfig,
    Field(discriminator="type"),
]
"""One receiver's settings; ``type`` says which notifier (slack, pagerduty, webhook,
alertmanager, console)."""

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
"""Receiver names: they become metric label values, so they are short and plain."""

# pydantic shows input values in errors according to the *outermost* schema's config, so the
# adapter hides them too; a model embedding NotifierConfig must set hide_input_in_errors.
_ADAPTER: TypeAdapter[dict[str, NotifierConfig]] = TypeAdapter(
    dict[str, NotifierConfig], config=ConfigDict(hide_input_in_errors=True)
)


def check_name(name: str) -> str:
    """``name`` if it is a valid receiver name, else a ``ValueError`` saying what is."""
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"{name!r} is not a valid notifier name: a letter, then up to 63 letters, digits, "
            "'_', '.' or '-'"
        )
    return name


def load_notifiers(raw: object) -> dict[str, NotifierConfig]:
    """Validate a ``notifiers:`` mapping (name → settings); raises pydantic's
    ``ValidationError`` (never quoting an input value) or ``ValueError`` for a bad name."""
    configs = _ADAPTER.validate_python(raw)
    for name in configs:
        check_name(name)
    return configs


def build_notifier(name: str, config: NotifierConfig, context: NotifierContext) -> Notifier:
    """The notifier for one receiver."""
    check_name(name)
    if isinstance(config, SlackConfig):
        return SlackNotifier(name, config, context)
    if isinstance(config, PagerDutyConfig):
        return PagerDutyNotifier(name, config, context)
    if isinstance(config, WebhookConfig):
        return WebhookNotifier(name, config, context)
    if isinstance(config, ConsoleConfig):
        return ConsoleNotifier(name, config, context)
    return AlertmanagerNotifier(name, config, context)


def build_notifiers(
    configs: Mapping[str, NotifierConfig],
    context: NotifierContext,
    states: Mapping[str, NotifierState] | None = None,
) -> dict[str, Notifier]:
    """Every receiver's notifier. ``states`` gives each its persistent state (for example
    ``{name: outbox.state(name) for name in configs}``); the context's own state is used
    otherwise."""
    built: dict[str, Notifier] = {}
    for name, config in configs.items():
        state = (states or {}).get(name, context.state)
        own = NotifierContext(
            external_url=context.external_url,
            clock=context.clock,
            state=state,
            session_factory=context.session_factory,
        )
        built[name] = build_notifier(name, config, own)
    return built


__all__ = [
    "AlertmanagerConfig",
    "AlertmanagerNotifier",
    "ConsoleConfig",
    "ConsoleNotifier",
    "Delivery",
    "MemoryState",
    "Notifier",
    "NotifierConfig",
    "NotifierContext",
    "NotifierState",
    "Outcome",
    "PagerDutyConfig",
    "PagerDutyNotifier",
    "PeriodicNotifier",
    "Reason",
    "SlackConfig",
    "SlackNotifier",
    "WebhookConfig",
    "WebhookNotifier",
    "build_notifier",
    "build_notifiers",
    "check_name",
    "load_notifiers",
]
