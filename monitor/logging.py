"""structlog for the daemon: JSON for machines, colours for people, secrets for nobody.

- Format: ``auto`` writes JSON lines when stderr is not a terminal (systemd's journal, a
  container runtime) and a readable console format on a terminal; ``json`` / ``console`` force
  one. The standard library's loggers (aiohttp, APScheduler) go through the same processors.
- Redaction (:class:`Redactor`): every event is cleaned before it is written, so a secret that
  slips into a log call still never reaches the output: values of sensitive keys
  (``authorization``, ``*_token``, ``password``…), any pydantic ``SecretStr``, ``Bearer …``
  credentials, and every known secret value (the API and admin tokens of the running config),
  also inside rendered tracebacks.
- State changes, not polls (:func:`log_run`): a probe logs ``probe_failed`` when its status
  turns bad or changes while bad, ``probe_recovered`` when it is ``ok`` again, and
  ``probe_crashed`` (with the traceback) when it starts raising — never once per poll. Probe
  events (DNS propagation progress…) are logged as they come.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TextIO

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, Processor, WrappedLogger

from probes.base import Status

if TYPE_CHECKING:
    from monitor.runner import ProbeRun
    from monitor.state import Change

REDACTED = "[redacted]"

SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "token",
        "api_token",
        "admin_token",
        "api_key",
        "x-auth-key",
        "password",
        "secret",
        "client_secret",
    }
)
_SENSITIVE_SUFFIXES = ("_token", "_secret", "_password", "_api_key")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_MIN_SECRET_LENGTH = 4
_RESERVED_FIELDS = frozenset({"event", "level", "timestamp", "probe", "probe_type", "message"})


def is_sensitive_key(key: str) -> bool:
    """Whether a log field named ``key`` holds a credential by its name alone."""
    k = key.lower()
    return k in SENSITIVE_KEYS or k.endswith(_SENSITIVE_SUFFIXES)


class Redactor:
    """A structlog processor (and text scrubber) that removes secrets from log events.

    ``set_secrets`` replaces the known secret values (call it on every config load).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: tuple[str, ...] = ()
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        """Remember the secret values to scrub (short strings are ignored: too many hits)."""
        unique = {s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}
        # Longest first, so a secret containing another is removed whole.
        self._secrets = tuple(sorted(unique, key=len, reverse=True))

    def scrub_text(self, text: str) -> str:
        """``text`` without known secret values or ``Bearer`` credentials."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _BEARER.sub(rf"\1 {REDACTED}", text)

    def scrub(self, value: Any) -> Any:
        """``value`` with secrets removed, recursing into mappings, lists and tuples."""
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, SecretStr):
            return str(value)
        if isinstance(value, Mapping):
            return {
                k: REDACTED if isinstance(k, str) and is_sensitive_key(k) else self.scrub(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return type(value)(self.scrub(v) for v in value)
        return value

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        """The processor: clean every field of ``event_dict``."""
        for key, value in list(event_dict.items()):
            if is_sensitive_key(key):
                event_dict[key] = REDACTED
            elif isinstance(value, str | SecretStr | Mapping | list | tuple):
                event_dict[key] = self.scrub(value)
        return event_dict


class _Scrubbed:
    """Wrap a renderer so that its output, tracebacks included, is scrubbed too."""

    def __init__(self, renderer: Processor, redactor: Redactor) -> None:
        self._renderer = renderer
        self._redactor = redactor

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> Any:
        rendered = self._renderer(logger, method_name, event_dict)
        return self._redactor.scrub_text(rendered) if isinstance(rendered, str) else rendered


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS["error"] = logging.ERROR

_QUIET = {"apscheduler": logging.ERROR, "aiohttp.access": logging.WARNING}
"""Libraries that log every job run or request at info: only their problems are shown."""


def use_json(fmt: str, stream: TextIO) -> bool:
    """Whether ``fmt`` (``auto``, ``json`` or ``console``) means JSON on ``stream``."""
    if fmt == "auto":
        isatty = getattr(stream, "isatty", None)
        return not (callable(isatty) and isatty())
    return fmt == "json"


def configure_logging(
    *,
    level: str = "info",
    fmt: str = "auto",
    stream: TextIO | None = None,
    redactor: Redactor | None = None,
) -> Redactor:
    """Configure structlog and the standard library's logging; returns the redactor in use."""
    out = stream if stream is not None else sys.stderr
    redactor = redactor if redactor is not None else Redactor()
    as_json = use_json(fmt, out)
    numeric = _LEVELS.get(level, logging.INFO)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if as_json:
        # Tracebacks as data, locals shown with repr(): the same output whether or not
        # ``rich`` is installed (structlog would use it, see monitor/__init__.py).
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(use_rich=False)
            )
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=_wants_colour(out), exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[*shared, redactor, _Scrubbed(renderer, redactor)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redactor,
                _Scrubbed(renderer, redactor),
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_flarewatch", False):
            root.removeHandler(old)
    handler._flarewatch = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, numeric))
    return redactor


def _wants_colour(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(callable(isatty) and isatty())


def event_fields(fields: Mapping[str, str | float | int | bool]) -> dict[str, Any]:
    """A probe event's fields as log context (names the log line already uses are prefixed)."""
    return {(f"field_{k}" if k in _RESERVED_FIELDS else k): v for k, v in fields.items()}


def transition_event(previous: Status | None, current: Status) -> str | None:
    """The log event a status change deserves: ``probe_failed``, ``probe_recovered`` or none.

    A first run that is ``ok`` and an unchanged status are not worth a line.
    """
    if current == previous:
        return None
    if current == Status.OK:
        return None if previous is None else "probe_recovered"
    return "probe_failed"


def log_run(log: Any, run: ProbeRun, change: Change) -> None:
    """Log what ``run`` changed (see the module docstring) on the probe's bound ``log``."""
    result = run.result
    for event in result.events:
        log.info(event.kind, message=event.message, **event_fields(event.fields))
    if run.crashed and not change.previous_crashed:
        log.error(
            "probe_crashed",
            status=str(result.status),
            previous=None if change.previous is None else str(change.previous),
            message=result.message,
            exc_info=run.error,
        )
        return
    name = transition_event(change.previous, result.status)
    if name == "probe_failed":
        log.warning(
            name,
            status=str(result.status),
            previous=None if change.previous is None else str(change.previous),
            reason=None if result.reason is None else str(result.reason),
            message=result.message,
        )
    elif name == "probe_recovered":
        fields: MutableMapping[str, Any] = {"previous": str(change.previous)}
        if change.failing_since is not None:
            fields["failing_for_s"] = round(max(0.0, run.started_at - change.failing_since), 3)
        log.info(name, message=result.message, **fields)
