"""Inhibition: a firing cause mutes the alerts it explains, as Alertmanager's ``inhibit_rules``.

A rule has source matchers (the cause), target matchers (the consequences) and ``equal``: label
names whose values must be the same on both (a missing label equals a missing label). A firing
source alert inhibits every pending or firing target alert that satisfies the rule, except:

- an alert never inhibits itself;
- when the target also matches the source side, sources that also match the target side are
  ignored, so two alerts that each fit both sides do not mute each other (Alertmanager's rule);
- resolved alerts are never inhibited, so a resolve is not lost for an alert whose firing was
  announced before its cause fired.

An inhibited alert still inhibits others, as in Alertmanager. Inhibition mutes notifications
only; the alert keeps its lifecycle and shows as inhibited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alerting.lifecycle import Alert
from alerting.matchers import Matcher, MatcherError, is_label_name, matches_all, parse_matcher
from alerting.model import AlertState

# The built-in inhibit rules, in Alertmanager's configuration shape: data, parsed by
# default_inhibit_rules(). docs/alerts.md explains each and the labels it relies on; the
# required-label matchers (zone=~".+", alert=~".+") keep alerts that lack the label from
# counting as "equal" (a missing label equals a missing label).
DEFAULT_INHIBIT_RULES: tuple[Mapping[str, Any], ...] = (
    {
        "name": "zone_dns_down",
        "source_matchers": ['rule="probe_down"', 'probe_type="dns"', 'zone=~".+"'],
        "target_matchers": ['probe_type="http"'],
        "equal": ["zone"],
    },
    {
        "name": "api_token_invalid",
        "source_matchers": ['rule="api_token_invalid"'],
        "target_matchers": ['needs_api="true"'],
        "equal": [],
    },
    {
        "name": "critical_over_warning",
        "source_matchers": ['severity="critical"', 'alert=~".+"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["alert", "probe"],
    },
)


class InhibitRuleError(ValueError):
    """An inhibit rule that cannot be built; the message names the rule and the key."""


@dataclass(frozen=True)
class InhibitRule:
    """Firing alerts matching ``source_matchers`` mute alerts matching ``target_matchers`` when
    the labels named in ``equal`` have the same values on both."""

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        # Unlike Alertmanager, empty sides are refused: an empty source would let any firing
        # alert mute every target, an empty target would mute everything.
        if not self.source_matchers:
            raise InhibitRuleError(f"inhibit rule {self.name!r}: source_matchers is empty")
        if not self.target_matchers:
            raise InhibitRuleError(f"inhibit rule {self.name!r}: target_matchers is empty")
        bad = [label for label in self.equal if not is_label_name(label)]
        if bad:
            raise InhibitRuleError(
                f"inhibit rule {self.name!r}: equal: invalid label name(s) "
                + ", ".join(map(repr, bad))
            )

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> InhibitRule:
        """Build a rule from Alertmanager's shape: ``source_matchers`` and ``target_matchers``
        as lists of matcher strings, ``equal`` as a list of label names, optional ``name``."""
        name = data.get("name", "")
        if not isinstance(name, str):
            raise InhibitRuleError("inhibit rule name must be a string")
        unknown = sorted(set(data) - {"name", "source_matchers", "target_matchers", "equal"})
        if unknown:
            raise InhibitRuleError(f"inhibit rule {name!r}: unknown key(s) {', '.join(unknown)}")
        equal = data.get("equal", [])
        if not isinstance(equal, list) or not all(isinstance(e, str) for e in equal):
            raise InhibitRuleError(f"inhibit rule {name!r}: equal must be a list of label names")
        return cls(
            source_matchers=_matchers(name, "source_matchers", data.get("source_matchers")),
            target_matchers=_matchers(name, "target_matchers", data.get("target_matchers")),
            equal=tuple(equal),
            name=name,
        )


def default_inhibit_rules() -> tuple[InhibitRule, ...]:
    """The built-in rules of :data:`DEFAULT_INHIBIT_RULES`, parsed."""
    return tuple(InhibitRule.from_config(data) for data in DEFAULT_INHIBIT_RULES)


def inhibited(alerts: Iterable[Alert], rules: Sequence[InhibitRule]) -> dict[str, str]:
    """Which alerts are inhibited, and by which alert: ``{target fingerprint: source
    fingerprint}``.

    When several sources qualify, the first rule in order wins, and within it the source that
    has been firing longest (then the smallest fingerprint), so the answer is stable.
    """
    candidates = list(alerts)
    labels = {a.fingerprint: a.match_labels for a in candidates}
    targets = [a for a in candidates if a.state in (AlertState.PENDING, AlertState.FIRING)]
    result: dict[str, str] = {}
    for rule in rules:
        sources: dict[tuple[str, ...], list[Alert]] = {}
        for alert in candidates:
            if alert.state is AlertState.FIRING and matches_all(
                rule.source_matchers, labels[alert.fingerprint]
            ):
                key = _key(rule, labels[alert.fingerprint])
                sources.setdefault(key, []).append(alert)
        if not sources:
            continue
        for group in sources.values():
            group.sort(key=lambda a: (a.firing_since or 0.0, a.fingerprint))
        for target in targets:
            target_labels = labels[target.fingerprint]
            if target.fingerprint in result or not matches_all(rule.target_matchers, target_labels):
                continue
            two_sided = matches_all(rule.source_matchers, target_labels)
            for source in sources.get(_key(rule, target_labels), ()):
                # An alert fitting both sides is two-sided, so it never counts as its own source.
                if two_sided and matches_all(rule.target_matchers, labels[source.fingerprint]):
                    continue
                result[target.fingerprint] = source.fingerprint
                break
    return result


def _key(rule: InhibitRule, labels: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(labels.get(name, "") for name in rule.equal)


def _matchers(rule: str, key: str, raw: object) -> tuple[Matcher, ...]:
    if not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
        raise InhibitRuleError(f"inhibit rule {rule!r}: {key} must be a list of matcher strings")
    parsed = []
    for index, text in enumerate(raw):
        try:
            parsed.append(parse_matcher(text))
        except MatcherError as err:
            raise InhibitRuleError(f"inhibit rule {rule!r}: {key}[{index}]: {err}") from None
    return tuple(parsed)
