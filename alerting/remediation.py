"""Remediation hooks: what to do when an alert fires or resolves, and whether to do it now.

The config (``remediations:``) names a trigger (rule, states, label matchers) and one action:
a command (argv, no shell), a webhook, or a built-in Cloudflare change (roll a Worker or a
Pages project back, purge a zone's cache, change a Worker's CPU limit or placement, point a
DNS record at a standby). Guards: a cooldown, a maximum of runs per hour, and dry-run.

This module is the pure part: the models, :func:`decide` (run, rehearse or skip, and why) and
the audit record. :mod:`alerting.actions` performs actions; :mod:`alerting.remediator` ties
them together with the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from alerting.lifecycle import AlertEvent
from alerting.matchers import Matcher, matches_all, parse_matcher
from alerting.rules import Duration

RemediationState = Literal["firing", "resolved"]
Outcome = Literal["ok", "failed", "dry_run", "skipped"]

_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Trigger(_Model):
    """Which alert events start the action: a rule (any when omitted), states, label matchers."""

    rule: str | None = None
    states: tuple[RemediationState, ...] = ("firing",)
    matchers: tuple[str, ...] = ()

    @field_validator("matchers")
    @classmethod
    def _parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            parse_matcher(text)
        return value

    def compiled(self) -> tuple[Matcher, ...]:
        """The matchers, parsed (validated at load, so this cannot fail)."""
        return tuple(parse_matcher(text) for text in self.matchers)


class CommandAction(_Model):
    """Run ``argv`` (no shell) with a clean environment holding the alert's fields."""

    type: Literal["command"]
    argv: tuple[str, ...] = Field(min_length=1)
    timeout: Duration = Field(default=30.0, gt=0)
    env: dict[str, str] = Field(default_factory=dict)


class WebhookAction(_Model):
    """POST the alert as JSON to ``url`` (a secret: webhook URLs often embed a token)."""

    type: Literal["webhook"]
    url: SecretStr
    timeout: Duration = Field(default=10.0, gt=0)
    headers: dict[str, SecretStr] = Field(default_factory=dict)


class WorkerRollback(_Model):
    """Deploy the Worker's previous version to 100 % of traffic.

    Cloudflare refuses (10220) when a secret changed since that version was deployed;
    ``force: true`` deploys it anyway, as ``wrangler rollback`` does after its prompt.
    """

    type: Literal["worker_rollback"]
    script: str = "$script"
    force: bool = False


class PagesRollback(_Model):
    """Make the project's previous successful production deployment live again."""

    type: Literal["pages_rollback"]
    project: str = "$project"


class PurgeCache(_Model):
    """Purge a zone's cache: everything, or some hosts or prefixes."""

    type: Literal["purge_cache"]
    zone: str
    hosts: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()


class WorkerCpuLimit(_Model):
    """Set a Worker's CPU time limit (Workers Standard: up to 300,000 ms)."""

    type: Literal["worker_cpu_limit"]
    script: str = "$script"
    cpu_ms: int = Field(ge=10, le=300_000)


class WorkerPlacement(_Model):
    """Turn Smart Placement on (``smart``) or off (``off``) for a Worker."""

    type: Literal["worker_placement"]
    script: str = "$script"
    mode: Literal["smart", "off"]


class DnsFailover(_Model):
    """Point a DNS record at a standby target (the record must exist)."""

    type: Literal["dns_failover"]
    zone: str
    name: str
    record_type: Literal["A", "AAAA", "CNAME"] = "CNAME"
    content: str
    proxied: bool | None = None
    ttl: int | None = Field(default=None, ge=1)


Action = Annotated[
    CommandAction
    | WebhookAction
    | WorkerRollback
    | PagesRollback
    | PurgeCache
    | WorkerCpuLimit
    | WorkerPlacement
    | DnsFailover,
    Field(discriminator="type"),
]


class Remediation(_Model):
    """One hook: a trigger, an action and its guards."""

    name: str = Field(pattern=_NAME)
    when: Trigger = Trigger()
    action: Action
    cooldown: Duration = Field(default=600.0, ge=0)
    max_per_hour: int = Field(default=3, ge=1)
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One decision and its outcome, as written to the audit log.

    ``detail`` says what was done (or why not); it never holds a secret.
    """

    remediation: str
    action: str
    fingerprint: str
    rule: str
    state: str
    at: float
    outcome: Outcome
    detail: str
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of the audit log."""
        return {
            "remediation": self.remediation,
            "action": self.action,
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "state": self.state,
            "at": self.at,
            "outcome": self.outcome,
            "detail": self.detail,
            "duration_ms": round(self.duration_ms, 3),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """Read one audit line back (raises ``KeyError``/``ValueError`` when malformed)."""
        outcome = str(data["outcome"])
        if outcome not in ("ok", "failed", "dry_run", "skipped"):
            raise ValueError(f"unknown outcome {outcome!r}")
        return cls(
            remediation=str(data["remediation"]),
            action=str(data["action"]),
            fingerprint=str(data["fingerprint"]),
            rule=str(data["rule"]),
            state=str(data["state"]),
            at=float(data["at"]),
            outcome=outcome,  # type: ignore[arg-type]
            detail=str(data["detail"]),
            duration_ms=float(data.get("duration_ms", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one remediation for one event: ``run``, ``dry_run`` or ``skip``."""

    remediation: Remediation
    event: AlertEvent
    verdict: Literal["run", "dry_run", "skip"]
    reason: str = ""


def triggered(remediation: Remediation, event: AlertEvent) -> bool:
    """Whether ``event`` is one the remediation acts on (reminders and flapping never are)."""
    when = remediation.when
    if event.kind not in when.states:
        return False
    if when.rule is not None and event.alert.rule != when.rule:
        return False
    labels = {**event.alert.labels, "rule": event.alert.rule, "severity": event.alert.severity}
    return matches_all(when.compiled(), labels)


def decide(
    remediations: Iterable[Remediation],
    events: Iterable[AlertEvent],
    history: Sequence[RunRecord],
    now: float,
    *,
    global_dry_run: bool = False,
) -> list[Decision]:
    """Decide, for every triggered (remediation, event), whether to run it now.

    Guards count real runs (``ok`` and ``failed``) of the same remediation: within
    ``cooldown`` of the last one → skip; ``max_per_hour`` runs in the last hour → skip.
    Decisions of this call count too, so one round cannot run a hook twice. Dry-run
    (per hook or global) rehearses: it is recorded but changes nothing.
    """
    runs: dict[str, list[float]] = {}
    for record in history:
        if record.outcome in ("ok", "failed"):
            runs.setdefault(record.remediation, []).append(record.at)
    decisions: list[Decision] = []
    for event in events:
        for hook in remediations:
            if not triggered(hook, event):
                continue
            past = runs.setdefault(hook.name, [])
            last = max(past, default=None)
            recent = sum(1 for at in past if now - at < 3600.0)
            if last is not None and now - last < hook.cooldown:
                left = hook.cooldown - (now - last)
                decisions.append(
                    Decision(
                        hook, event, "skip", f"cooldown: {left:.0f} s left of {hook.cooldown:.0f} s"
                    )
                )
            elif recent >= hook.max_per_hour:
                decisions.append(
                    Decision(
                        hook,
                        event,
                        "skip",
                        f"limit: {recent} runs in the last hour (max {hook.max_per_hour})",
                    )
                )
            elif hook.dry_run or global_dry_run:
                decisions.append(Decision(hook, event, "dry_run", "dry run: nothing changed"))
            else:
                decisions.append(Decision(hook, event, "run"))
                past.append(now)
    return decisions


_PLACEHOLDER = re.compile(
    r"\$(?:\{(?P<braced>[a-z_][a-z0-9_]*)\}|(?P<named>[a-z_][a-z0-9_]*))", re.I
)


class MissingLabel(ValueError):
    """A ``$label`` in an action field that the alert does not carry."""


def expand(value: str, labels: Mapping[str, str]) -> str:
    """Fill ``$name`` / ``${name}`` from the alert's labels (``$$`` is a literal ``$``).

    Raises :class:`MissingLabel` naming the label, so a hook never acts on a wrong target.
    """
    missing = [
        m.group("braced") or m.group("named")
        for m in _PLACEHOLDER.finditer(value.replace("$$", ""))
        if (m.group("braced") or m.group("named")) not in labels
    ]
    if missing:
        raise MissingLabel(
            f"the alert has no label {missing[0]!r} (used as ${missing[0]}); set the field "
            "explicitly or add the label to the probe"
        )
    return Template(value).substitute(labels)


def alert_environment(event: AlertEvent) -> dict[str, str]:
    """The alert as environment variables for a command hook (``FLAREWATCH_*``)."""
    alert = event.alert
    env = {
        "FLAREWATCH_EVENT": event.kind,
        "FLAREWATCH_RULE": alert.rule,
        "FLAREWATCH_SEVERITY": alert.severity,
        "FLAREWATCH_FINGERPRINT": alert.fingerprint,
        "FLAREWATCH_SUMMARY": alert.annotations.get("summary", ""),
    }
    for name, value in alert.labels.items():
        env["FLAREWATCH_LABEL_" + re.sub(r"[^A-Z0-9]", "_", name.upper())] = value
    for name, number in alert.values.items():
        env["FLAREWATCH_VALUE_" + re.sub(r"[^A-Z0-9]", "_", name.upper())] = repr(number)
    return env
