"""The daemon's typed, frozen configuration (what users write in YAML).

Only the models live here; :mod:`monitor.configload` reads files, expands ``${ENV}`` and
``*_file`` secrets, and turns validation errors into file:line messages. Probe entries are
validated by their type's own settings model, found in the probe registry passed as
validation context (``Config.model_validate(data, context={"registry": registry})``).

Validators here raise errors located at the exact key (``probes[2].type``,
``http.connect_to["api.spacevision.app:80"]``) and put a ``hint`` in the error's context,
which the loader shows under the message. docs/config.md documents every key.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NoReturn

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from alerting.notifiers import NotifierConfig, check_name
from alerting.outbox import OutboxSettings
from alerting.remediation import Remediation
from monitor.netmap import ConnectToError, parse_connect_to
from probes.base import ProbeSettings
from probes.registry import Registry, default_registry
from probes.units import ByteSize, Duration

DEFAULT_API_BASE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_LISTEN = "127.0.0.1:9310"


def problem(message: str, hint: str = "") -> PydanticCustomError:
    """A validation error whose context carries a ``hint`` for the loader to show."""
    return PydanticCustomError("flarewatch", message, {"hint": hint} if hint else None)


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """``"did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def _raise_located(title: str, errors: list[InitErrorDetails]) -> NoReturn:
    # Raised from a validator, a ValidationError keeps each error's own location below the
    # field being validated: several precise errors instead of one vague one.
    raise ValidationError.from_exception_data(title, errors)


def _relocated(err: ValidationError, *prefix: str | int) -> list[InitErrorDetails]:
    """``err``'s errors moved below ``prefix``, keeping their type, message and context."""
    out: list[InitErrorDetails] = []
    for item in err.errors():
        ctx = dict(item.get("ctx") or {})
        out.append(
            {
                "type": PydanticCustomError(item["type"], item["msg"], ctx or None),
                "loc": (*prefix, *item["loc"]),
                "input": item["input"],
            }
        )
    return out


def split_host_port(text: str) -> tuple[str, int]:
    """``("127.0.0.1", 9310)`` from ``"127.0.0.1:9310"`` (IPv6 in brackets: ``[::1]:9310``).

    Raises ``ValueError`` naming what is wrong; the port may be 0 (any free port).
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in brackets is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:9310")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"port {port!r} is not a number from 0 to 65535")
    return host, int(port)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CloudflareSettings(_Model):
    """How to reach the Cloudflare API (``CLOUDFLARE_*`` variables fill what is left out)."""

    account_id: str = Field(description="the 32-hex-digit Cloudflare account id")
    api_token: SecretStr = Field(description="an API token with read access to the account")
    api_base_url: str = Field(
        default=DEFAULT_API_BASE_URL, description="the API's base URL, ending in /client/v4"
    )
    budget_share: float = Field(
        default=0.5, description="the share of the account's API rate limit flarewatch may use"
    )

    @field_validator("account_id")
    @classmethod
    def _account_id(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{32}", value):
            raise problem(
                "an account id is 32 lowercase hexadecimal digits",
                "copy it from the dashboard URL (dash.cloudflare.com/<account id>) or from "
                "`wrangler whoami`",
            )
        return value

    @field_validator("api_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if not secret.strip():
            raise problem(
                "the API token is empty",
                "give the token itself, not an empty value (a secret file that is empty?)",
            )
        if any(c.isspace() for c in secret):
            raise problem(
                "the API token contains whitespace",
                "a Cloudflare token is one word; check the secret file or variable",
            )
        return value

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise problem(
                "the API base URL must be an http:// or https:// URL",
                f"for Cloudflare itself leave it out (default {DEFAULT_API_BASE_URL}); for the "
                "simulator use http://127.0.0.1:PORT/client/v4",
            )
        return value.rstrip("/")

    @field_validator("budget_share")
    @classmethod
    def _share(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise problem(
                "budget_share must be more than 0 and at most 1",
                "it is a share of the account's API rate limit: 0.5 lets flarewatch use half",
            )
        return value


class ServerSettings(_Model):
    """The daemon's HTTP surface: metrics, health, status page and admin API."""

    listen: str = Field(default=DEFAULT_LISTEN, description="HOST:PORT the daemon serves on")
    admin_token: SecretStr | None = Field(
        default=None,
        description="bearer token for POST /-/reload and silences (admin API off without it)",
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        try:
            split_host_port(value)
        except ValueError as err:
            raise problem(
                f"listen must be HOST:PORT: {err}",
                "e.g. 127.0.0.1:9310, 0.0.0.0:9310 or [::1]:9310 (port 0 picks a free port)",
            ) from None
        return value

    @field_validator("admin_token")
    @classmethod
    def _admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise problem(
                "the admin token is shorter than 16 characters",
                "use a long random token, e.g. `openssl rand -hex 32`",
            )
        return value

    @property
    def host(self) -> str:
        """The address part of ``listen``."""
        return split_host_port(self.listen)[0]

    @property
    def port(self) -> int:
        """The port part of ``listen`` (0: any free port)."""
        return split_host_port(self.listen)[1]


class Defaults(_Model):
    """Interval and timeout of probes that do not set their own."""

    interval: Duration = Field(default=30.0, gt=0, description="time between two runs")
    timeout: Duration = Field(default=10.0, gt=0, description="deadline of one run")


class HttpSettings(_Model):
    """Checks of public URLs.

    ``connect_to`` sends a ``host:port`` to another address, like curl's ``--connect-to``
    (``{"api.spacevision.app:80": "127.0.0.1:8787"}``): the URL, ``Host`` header and TLS name
    stay those of the site. ``host:`` (no port) matches any port; a target without a port
    keeps the URL's. :mod:`monitor.netmap` defines the syntax; keys are lowercased.
    """

    connect_to: dict[str, str] = Field(
        default_factory=dict, description="host:port → ip:port overrides"
    )
    user_agent: str = Field(default="flarewatch", min_length=1)

    @field_validator("connect_to")
    @classmethod
    def _connect_to(cls, value: dict[str, str]) -> dict[str, str]:
        # The daemon's resolver (monitor.netmap) parses the table: one parser, one meaning.
        errors: list[InitErrorDetails] = []
        for key, target in value.items():
            try:
                parse_connect_to({key: target})
            except ConnectToError as err:
                try:
                    parse_connect_to({key: "127.0.0.1:1"})
                    bad = target
                except ConnectToError:
                    bad = key
                errors.append(
                    {"type": problem(str(err), _CONNECT_TO_HINT), "loc": (key,), "input": bad}
                )
        if errors:
            _raise_located("connect_to", errors)
        return {key.lower(): target for key, target in value.items()}


_CONNECT_TO_HINT = (
    "a key is the host and port of the URL (api.spacevision.app:443, or api.spacevision.app: "
    "for any port); its value the address to connect to instead (127.0.0.1:8787)"
)


class LoggingSettings(_Model):
    """Log level and format (``auto``: JSON when stderr is not a terminal)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


DEFAULT_CAPTURE_RULES = ("worker_error_ratio_warning", "worker_error_ratio_critical")
"""The Worker error rules of config/rules/workers.yaml: the alerts that trigger a capture."""


class LogRetention(_Model):
    """How long and how much the daemon's log store keeps (the oldest events go first)."""

    max_age: Duration | None = Field(default=7 * 86400.0, gt=0, description="drop older events")
    max_size: ByteSize | None = Field(default=1 << 30, gt=0, description="keep the store under")


class LogTails(_Model):
    """Continuous tails into the store (each holds one of a Worker's 10 tail slots)."""

    workers: tuple[str, ...] = Field(default=(), description="Worker scripts to tail")
    pages: tuple[str, ...] = Field(default=(), description="Pages projects (production) to tail")
    sampling: float = Field(default=1.0, gt=0, le=1, description="share of events to keep")


class LogCapture(_Model):
    """Error capture when a Worker's error rule fires (exceptions attached to the alert)."""

    enabled: bool = True
    duration: Duration = Field(default=30.0, gt=0, le=600, description="how long to tail")
    limit: int = Field(default=5, ge=1, le=50, description="stop after this many exceptions")
    rules: tuple[str, ...] = Field(
        default=DEFAULT_CAPTURE_RULES, description="the alert rules that trigger a capture"
    )
    hold: Duration = Field(
        default=10.0,
        ge=0,
        le=60,
        description="how long an alert's first notification waits for its capture (0: no wait)",
    )


class LogsSettings(_Model):
    """The ``logs:`` section: the daemon's log store, continuous tails and error capture.

    ``store`` is the SQLite file (default ``<state_dir>/logs.db``); ``false`` keeps no store
    (probe rows and tails are then not kept; capture still works).
    """

    store: str | Literal[False] | None = Field(
        default=None, description="the store's path; false disables it"
    )
    retention: LogRetention = LogRetention()
    tail: LogTails = LogTails()
    capture: LogCapture = LogCapture()

    @field_validator("store", mode="before")
    @classmethod
    def _store_text(cls, value: object) -> object:
        if value is True:
            return None
        if isinstance(value, str) and not value.strip():
            raise problem("store must be a path or false", "write a file path, or false")
        return value

    def store_path(self, state_dir: str) -> str | None:
        """Where the store lives for ``state_dir`` (``None`` when disabled)."""
        if self.store is False:
            return None
        return self.store or f"{state_dir.rstrip('/')}/logs.db"


class LifecycleTimers(_Model):
    """The alert lifecycle's timers (``alerting.lifecycle.LifecycleSettings``; reminders come
    from each route's ``repeat_interval``)."""

    flap_window: Duration = Field(default=1800.0, gt=0, description="window for counting changes")
    flap_threshold: int = Field(
        default=4, ge=2, description="firing/resolved changes within the window that make a flap"
    )
    stale_after: Duration = Field(
        default=900.0, gt=0, description="no result for this long: a firing alert resolves"
    )
    resolved_retention: Duration = Field(
        default=900.0, ge=0, description="how long resolved alerts stay listed"
    )


class AlertingSettings(_Model):
    """The ``alerting:`` section: rules, receivers, routes, inhibition and remediation.

    Rules (``rules`` and the files ``rule_files`` names), the ``route`` tree and
    ``inhibit_rules`` are kept as written here and checked by the configuration loader with
    the alerting package's own loaders (:func:`monitor.configload.alerting_plan`), which know
    the probes, the value names and the notifiers; notifiers, remediations and the outbox are
    validated here. docs/alerts.md ("Configuration") documents every key.
    """

    rule_files: tuple[str, ...] = Field(
        default=(), description="rule pack files or globs, relative to this file"
    )
    rules: tuple[Any, ...] = Field(default=(), description="rules written inline")
    notifiers: dict[str, NotifierConfig] = Field(
        default_factory=dict, description="receivers by name (slack, pagerduty, webhook, …)"
    )
    route: dict[str, Any] | None = Field(
        default=None, description="the route tree (default: every notifier hears every alert)"
    )
    inhibit_rules: tuple[Any, ...] = Field(default=(), description="more inhibit rules")
    builtin_inhibit_rules: bool = Field(
        default=True, description="apply the built-in inhibit rules too"
    )
    remediations: tuple[Remediation, ...] = Field(default=(), description="remediation hooks")
    dry_run: bool = Field(default=False, description="rehearse every remediation, change nothing")
    outbox: OutboxSettings = OutboxSettings()
    lifecycle: LifecycleTimers = LifecycleTimers()
    evaluation_interval: Duration = Field(
        default=10.0, gt=0, description="longest time between two rounds of the rules"
    )
    external_url: str | None = Field(
        default=None, description="flarewatch's URL as people reach it, for links in messages"
    )

    @field_validator("notifiers", mode="before")
    @classmethod
    def _notifier_names(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            errors: list[InitErrorDetails] = []
            for name in value:
                try:
                    check_name(str(name))
                except ValueError as err:
                    errors.append(
                        {
                            "type": problem(
                                str(err), "routes name notifiers; metrics and logs show them"
                            ),
                            "loc": (name,),
                            "input": name,
                        }
                    )
            if errors:
                _raise_located("notifiers", errors)
        return value

    @field_validator("external_url")
    @classmethod
    def _external_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise problem(
                "external_url must be an http:// or https:// URL",
                "the address people open the status page at, e.g. https://flarewatch.example",
            )
        return None if value is None else value.rstrip("/")


class Config(_Model):
    """The whole configuration file.

    After validation every probe has its ``interval`` and ``timeout`` set: its own, or the
    ``defaults`` (a default timeout longer than the probe's interval is cut to the interval).
    Input values never appear in validation errors (``hide_input_in_errors``: some are
    secrets); the loader locates each error by its key path instead.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    cloudflare: CloudflareSettings
    server: ServerSettings = ServerSettings()
    state_dir: str = Field(
        default="/var/lib/flarewatch", min_length=1, description="where the daemon keeps state"
    )
    defaults: Defaults = Defaults()
    http: HttpSettings = HttpSettings()
    logging: LoggingSettings = LoggingSettings()
    probes: tuple[SerializeAsAny[ProbeSettings], ...] = ()
    alerting: AlertingSettings | None = None
    logs: LogsSettings = LogsSettings()

    _alerting_plan: Any = PrivateAttr(default=None)
    """What :func:`monitor.configload.alerting_plan` compiled for ``alerting`` (set by the
    loader; compiled on first use when the config was built another way)."""

    @field_validator("probes", mode="before")
    @classmethod
    def _probe_types(cls, value: Any, info: ValidationInfo) -> Any:
        """Validate each entry with its type's settings model; report every entry's errors."""
        if not isinstance(value, list | tuple):
            return value
        registry = _registry(info)
        errors: list[InitErrorDetails] = []
        out: list[tuple[int, ProbeSettings]] = []
        for index, entry in enumerate(value):
            if isinstance(entry, ProbeSettings):
                out.append((index, entry))
                continue
            if not isinstance(entry, Mapping):
                errors.append(
                    {
                        "type": problem(
                            "a probe is a mapping of keys",
                            "write `- name: NAME` then `type: TYPE` and the type's keys, "
                            "indented under it",
                        ),
                        "loc": (index,),
                        "input": entry,
                    }
                )
                continue
            kind = entry.get("type")
            if kind is None or not isinstance(kind, str) or kind not in registry:
                errors.append(_type_error(kind, index, registry))
                continue
            try:
                model = registry[kind].settings_model
                out.append((index, model.model_validate(entry, context=info.context)))
            except ValidationError as err:
                errors.extend(_relocated(err, index))
        errors.extend(_duplicate_names(value))
        defaults = info.data.get("defaults") or Defaults()
        probes = [_with_defaults(p, defaults) for _, p in out]
        errors.extend(_timeouts_within_intervals(out, probes))
        if errors:
            _raise_located("probes", errors)
        return tuple(probes)


def _registry(info: ValidationInfo) -> Registry:
    context = info.context if isinstance(info.context, Mapping) else {}
    registry = context.get("registry")
    return registry if isinstance(registry, Registry) else default_registry()


def _type_error(kind: object, index: int, registry: Registry) -> InitErrorDetails:
    known = ", ".join(registry.names())
    if kind is None:
        message, hint = "the probe has no type", f"add `type:` with one of: {known}"
        return {"type": problem(message, hint), "loc": (index,), "input": None}
    if not isinstance(kind, str):
        message, hint = "a probe type is a word", f"one of: {known}"
    else:
        message = f"unknown probe type {kind!r}"
        guess = did_you_mean(kind, registry.names())
        hint = f"{guess} " if guess else ""
        hint += f"known types: {known} (plugins add more through the flarewatch.probes entry point)"
    return {"type": problem(message, hint), "loc": (index, "type"), "input": kind}


def _duplicate_names(entries: Sequence[Any]) -> list[InitErrorDetails]:
    first: dict[str, int] = {}
    errors: list[InitErrorDetails] = []
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if isinstance(entry, ProbeSettings):
            name = entry.name
        if not isinstance(name, str):
            continue
        if name in first:
            errors.append(
                {
                    "type": problem(
                        f"two probes are named {name!r} (the other is probes[{first[name]}])",
                        "probe names must be unique: they label metrics, alerts and the "
                        "status page",
                    ),
                    "loc": (index, "name"),
                    "input": name,
                }
            )
        else:
            first[name] = index
    return errors


def _timeouts_within_intervals(
    given: Sequence[tuple[int, ProbeSettings]], resolved: Sequence[ProbeSettings]
) -> list[InitErrorDetails]:
    errors: list[InitErrorDetails] = []
    for (index, raw), probe in zip(given, resolved, strict=True):
        if raw.timeout is not None and probe.interval is not None and raw.timeout > probe.interval:
            errors.append(
                {
                    "type": problem(
                        f"timeout ({raw.timeout:g}s) is longer than the interval "
                        f"({probe.interval:g}s)",
                        "a run would still be going when the next one is due: make the "
                        "timeout at most the interval",
                    ),
                    "loc": (index, "timeout"),
                    "input": raw.timeout,
                }
            )
    return errors


def _with_defaults(probe: ProbeSettings, defaults: Defaults) -> ProbeSettings:
    interval = probe.interval if probe.interval is not None else defaults.interval
    timeout = probe.timeout if probe.timeout is not None else min(defaults.timeout, interval)
    if probe.interval == interval and probe.timeout == timeout:
        return probe
    return probe.model_copy(update={"interval": interval, "timeout": timeout})
