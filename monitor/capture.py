"""Error capture on alert, and error explanations, in the alerts' notifications.

When a configured Worker error rule (``logs.capture.rules``) fires for a Worker, the
:class:`Capturer` tails that Worker (:func:`ops.capture.capture_exceptions`) for
``logs.capture.duration`` or until ``logs.capture.limit`` exceptions, in the background —
the engine never waits — and at most one capture per Worker at a time (an alert firing for a
Worker already being captured shares that capture). The result is attached to the alert's
next notification exactly as remediation outcomes are (:func:`monitor.alerts.attach_outcomes`):
the annotation ``exceptions`` holds the text and the ``description`` ends with it, so Slack,
PagerDuty (``custom_details``), webhooks and the console all carry it. A Worker that already
has its 10 tails (``TailLimitReached``) or a tail that cannot start gives a note instead.

Every notified alert whose probe's last message names a Cloudflare error code or a binding
error gets the annotation ``explanation`` (:func:`ops.errors_catalog.summary`). The
:class:`NotificationHook` joins both for :class:`monitor.alerts.AlertService`.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, Protocol

import structlog

from alerting.grouping import with_alerts, with_note
from cfapi.errors import CloudflareError, TailLimitReached
from ops.capture import CapturedException, capture_exceptions
from ops.errors_catalog import explain, summary

if TYPE_CHECKING:
    from alerting.grouping import Notification
    from alerting.lifecycle import Alert, AlertEvent
    from alerting.model import Observation
    from cfapi.client import CloudflareClient
    from monitor.config import LogCapture
    from monitor.logsink import SinkMetrics

log = structlog.get_logger("flarewatch.capture")

CaptureOutcome = Literal["captured", "empty", "tail_limit", "failed"]
STACK_LINES = 4
"""Stack lines of each exception a notification shows (the first ones: the throw site)."""


@dataclass(frozen=True, slots=True)
class CaptureReport:
    """What one capture found for a Worker: its first exceptions, or a note why none."""

    script: str
    outcome: CaptureOutcome
    exceptions: tuple[CapturedException, ...] = ()
    duration_s: float = 0.0
    note: str = ""


class CaptureFn(Protocol):
    """The shape of :func:`ops.capture.capture_exceptions` (tests pass their own)."""

    def __call__(
        self, cf: CloudflareClient, account_id: str, script: str, duration_s: float, limit: int
    ) -> Awaitable[list[CapturedException]]: ...


# --- pure: what a notification shows ---------------------------------------------------


def without_query(url: str) -> str:
    """``url`` without its query string and fragment (pure)."""
    return url.split("#", 1)[0].split("?", 1)[0]


def exception_text(exc: CapturedException, stack_lines: int = STACK_LINES) -> str:
    """``TypeError: x is undefined`` / ``GET https://…/path → 500`` (no query string) / the
    first stack lines."""
    lines = [exc.title]
    # The query string may carry a visitor's token: a notification shows the path only.
    request = replace(exc, url=without_query(exc.url)).request
    if request:
        lines.append(f"  request: {request}")
    stack = [s.rstrip() for s in exc.stack.splitlines() if s.strip()]
    # A V8 stack starts with "Name: message" again; the frames follow.
    if stack and stack[0].strip() == exc.title:
        stack = stack[1:]
    lines += [f"  {s.strip()}" for s in stack[:stack_lines]]
    if len(stack) > stack_lines:
        lines.append(f"  … {len(stack) - stack_lines} more stack lines")
    return "\n".join(lines)


def report_text(report: CaptureReport) -> str:
    """The notification text of one capture: a heading, then each exception."""
    if report.outcome == "captured":
        count = len(report.exceptions)
        head = (
            f"Captured {count} exception{'s' if count != 1 else ''} of Worker {report.script} "
            f"in {report.duration_s:.0f} s:"
        )
        return "\n".join([head, *(exception_text(e) for e in report.exceptions)])
    return f"Capture of Worker {report.script}: {report.note}"


def attach_captures(
    notifications: Sequence[Notification], reports: Mapping[str, Sequence[CaptureReport]]
) -> tuple[Notification, ...]:
    """The notifications with each alert's capture reports (by fingerprint) attached the way
    remediation outcomes are: annotation ``exceptions`` (the text) and the ``description``
    ending with it (pure)."""
    if not reports:
        return tuple(notifications)

    def annotated(alert: Alert) -> Alert:
        found = reports.get(alert.fingerprint)
        if not found:
            return alert
        text = "\n\n".join(report_text(r) for r in found)
        return with_note(alert, "exceptions", text, text)

    return with_alerts(notifications, annotated)


@lru_cache(maxsize=512)
def explanation_of(message: str) -> str | None:
    """One line from the error catalogue for a probe's message (code or binding error), or
    ``None`` when the message names nothing the catalogue documents (cached: the status
    document asks on every request)."""
    if not message.strip():
        return None
    return summary(explain(message))


def attach_explanations(
    notifications: Sequence[Notification], messages: Mapping[str, str]
) -> tuple[Notification, ...]:
    """The notifications with annotation ``explanation`` on every firing alert whose probe's
    last message (``messages`` by probe name) the error catalogue explains, and the
    ``description`` ending with it (receivers that show only the description show it too);
    an alert whose rule set its own ``explanation`` keeps it. Resolved alerts are left
    alone: their error is gone (pure)."""

    def annotated(alert: Alert) -> Alert:
        if alert.annotations.get("explanation"):
            return alert
        text = explanation_of(messages.get(alert.labels.get("probe", ""), ""))
        if text is None:
            return alert
        return with_note(alert, "explanation", text, f"Explanation: {text}")

    return with_alerts(notifications, annotated, resolved=False)


def wanted(events: Iterable[AlertEvent], rules: Iterable[str]) -> list[AlertEvent]:
    """The firing events of the capture rules (pure)."""
    chosen = frozenset(rules)
    return [e for e in events if e.kind == "firing" and e.alert.rule in chosen]


# --- the shell ----------------------------------------------------------------------------


@dataclass
class _Running:
    task: asyncio.Task[None]
    fingerprints: set[str] = field(default_factory=set)


class Capturer:
    """Runs captures in the background and keeps their reports until announced.

    ``script_of`` names the Worker of an alert (its ``script`` label, else the script of the
    ``workers`` probe it came from), or ``None`` when the alert is not about a Worker.
    """

    def __init__(
        self,
        cf: CloudflareClient,
        account_id: str,
        settings: LogCapture,
        *,
        script_of: Callable[[Alert], str | None],
        metrics: SinkMetrics | None = None,
        capture: CaptureFn = capture_exceptions,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cf = cf
        self.account_id = account_id
        self.settings = settings
        self.script_of = script_of
        self.metrics = metrics
        self._capture = capture
        self._clock = clock
        self._running: dict[str, _Running] = {}
        self._reports: dict[str, list[CaptureReport]] = defaultdict(list)

    @property
    def running(self) -> frozenset[str]:
        """The Workers being captured now."""
        return frozenset(self._running)

    def submit(self, events: Iterable[AlertEvent]) -> list[str]:
        """Start a capture for each Worker whose error rule just fired (unless one runs for
        it: the alert then shares it); the Workers newly captured."""
        if not self.settings.enabled:
            return []
        started: list[str] = []
        for event in wanted(events, self.settings.rules):
            script = self.script_of(event.alert)
            if script is None:
                continue
            running = self._running.get(script)
            if running is None:
                task = asyncio.create_task(self._run(script), name=f"capture-{script}")
                running = self._running[script] = _Running(task)
                started.append(script)
                log.info(
                    "capture_started",
                    script=script,
                    rule=event.alert.rule,
                    fingerprint=event.alert.fingerprint,
                    duration_s=self.settings.duration,
                    limit=self.settings.limit,
                )
            running.fingerprints.add(event.alert.fingerprint)
        return started

    def take(self, fingerprint: str) -> list[CaptureReport]:
        """Reports not yet announced for the alert ``fingerprint`` (then forgotten)."""
        return self._reports.pop(fingerprint, [])

    def reports(self, fingerprints: Iterable[str]) -> dict[str, list[CaptureReport]]:
        """The reports not yet announced for these alerts (a copy; nothing is forgotten)."""
        return {fp: list(self._reports[fp]) for fp in fingerprints if self._reports.get(fp)}

    def capturing(self, fingerprints: Iterable[str]) -> frozenset[str]:
        """Those of the alerts ``fingerprints`` a running capture will report on."""
        running = set().union(*(r.fingerprints for r in self._running.values()))
        return frozenset(fp for fp in fingerprints if fp in running)

    async def wait(self, fingerprints: Iterable[str], within: float) -> bool:
        """Wait up to ``within`` seconds for the captures of these alerts to finish;
        whether they all did."""
        wanted = set(fingerprints)
        tasks = [r.task for r in self._running.values() if r.fingerprints & wanted]
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, within))
        return not pending

    async def drain(self) -> None:
        """Wait for every running capture (tests)."""
        while self._running:
            await asyncio.gather(*(r.task for r in list(self._running.values())))

    async def stop(self) -> None:
        """Cancel the running captures (their tails are deleted) and wait for them."""
        tasks = [r.task for r in self._running.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()

    async def _run(self, script: str) -> None:
        started = self._clock()
        settings = self.settings
        try:
            try:
                found = await self._capture(
                    self.cf, self.account_id, script, settings.duration, settings.limit
                )
            except TailLimitReached:
                report = CaptureReport(
                    script,
                    "tail_limit",
                    duration_s=self._clock() - started,
                    note="not captured: the Worker already has its 10 tails attached "
                    "(close a `wrangler tail` or `flarewatch logs tail` to free one)",
                )
            except CloudflareError as err:
                report = CaptureReport(
                    script,
                    "failed",
                    duration_s=self._clock() - started,
                    note=f"not captured: the tail could not start ({err})",
                )
            except Exception as err:  # the crash barrier: a capture must not stop alerting
                log.exception("capture_crashed", script=script)
                report = CaptureReport(
                    script,
                    "failed",
                    duration_s=self._clock() - started,
                    note=f"not captured: internal error ({type(err).__name__})",
                )
            else:
                took = self._clock() - started
                if found:
                    report = CaptureReport(script, "captured", tuple(found), took)
                else:
                    report = CaptureReport(
                        script,
                        "empty",
                        duration_s=took,
                        note=f"no exception in {took:.0f} s of tailing "
                        "(the errors may have stopped, or are not thrown exceptions)",
                    )
        except asyncio.CancelledError:
            self._running.pop(script, None)
            raise
        running = self._running.pop(script, None)
        for fp in () if running is None else running.fingerprints:
            self._reports[fp].append(report)
        if self.metrics is not None:
            self.metrics.captures.labels(report.outcome).inc()
        log.info(
            "capture_finished",
            script=script,
            outcome=report.outcome,
            exceptions=len(report.exceptions),
            seconds=round(report.duration_s, 3),
            note=report.note or None,
        )


class NotificationHook:
    """What :class:`monitor.alerts.AlertService` asks of the log keeping each round: add
    explanations and capture reports to the round's notifications, and start captures for
    the round's (unmuted) events."""

    def __init__(self, capturer: Capturer | None = None) -> None:
        self.capturer = capturer

    def annotate(
        self, notifications: Sequence[Notification], latest: Mapping[str, Observation]
    ) -> tuple[Notification, ...]:
        """Explanations and capture reports attached (reports are then forgotten)."""
        out = attach_explanations(notifications, {p: o.message for p, o in latest.items()})
        if self.capturer is None:
            return out
        reports: dict[str, list[CaptureReport]] = {}
        for n in out:
            for alert in (*n.firing, *n.resolved):
                taken = self.capturer.take(alert.fingerprint)
                if taken:
                    reports.setdefault(alert.fingerprint, []).extend(taken)
        return attach_captures(out, reports)

    def submit(self, events: Sequence[AlertEvent]) -> None:
        """Start captures for the round's events (the engine does not wait)."""
        if self.capturer is not None:
            self.capturer.submit(events)

    @property
    def hold(self) -> float:
        """Seconds a notification waits for the captures it could carry (``logs.capture.
        hold``; 0 without a capturer)."""
        return 0.0 if self.capturer is None else self.capturer.settings.hold

    def held(self, notification: Notification) -> frozenset[str]:
        """The firing alerts of ``notification`` whose capture is still running: the
        notification is their first since the capture started, and should wait for it
        (empty when it need not wait, or holding is off)."""
        if self.capturer is None or self.hold <= 0:
            return frozenset()
        return self.capturer.capturing(a.fingerprint for a in notification.firing)

    async def wait(self, fingerprints: Collection[str], within: float) -> bool:
        """Wait (at most ``within`` s) for the captures of these alerts; whether they ended."""
        if self.capturer is None:
            return True
        return await self.capturer.wait(fingerprints, within)

    def amender(self, fingerprints: Collection[str]) -> Callable[[Notification], Notification]:
        """A pure function adding these alerts' capture reports (as they are now) to a
        notification, for the outbox to rewrite a held one with."""
        reports = {} if self.capturer is None else self.capturer.reports(fingerprints)

        def amend(notification: Notification) -> Notification:
            (out,) = attach_captures([notification], reports)
            return out

        return amend

    def forget(self, fingerprints: Collection[str]) -> None:
        """Drop these alerts' reports: a released notification carried them."""
        if self.capturer is not None:
            for fp in fingerprints:
                self.capturer.take(fp)

    async def stop(self) -> None:
        """Stop the running captures."""
        if self.capturer is not None:
            await self.capturer.stop()
