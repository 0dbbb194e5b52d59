"""Running remediation hooks: decide, perform in the background, audit every run.

:class:`Remediator` takes the alert engine's events, asks :func:`alerting.remediation.decide`
what to do (guards: cooldown, runs per hour, dry-run), performs the chosen actions in background
tasks so the engine never waits on them, and appends every decision and outcome to an
append-only JSON-lines audit log. The log is read back at start, so cooldowns and hourly
limits survive a restart. Outcomes wait in :meth:`Remediator.take_outcomes` to be attached to
the alert's next notification.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from alerting.actions import ActionContext, ActionResult, describe, perform
from alerting.remediation import Decision, Outcome, Remediation, RunRecord, decide

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

    from alerting.lifecycle import AlertEvent
    from alerting.remediation import Action

Perform = Callable[["Action", "AlertEvent", ActionContext], Awaitable[ActionResult]]

HISTORY_S = 86_400.0
"""How far back the audit log is read at start (guards look back one hour at most)."""


class AuditLog:
    """An append-only JSON-lines file: one line per decision, flushed and fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: RunRecord) -> None:
        """Write one record durably (a crash right after keeps it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record.as_dict(), sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def load(self, since: float) -> tuple[list[RunRecord], int]:
        """Records at or after ``since``, and how many lines were unreadable (skipped)."""
        records: list[RunRecord] = []
        bad = 0
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return records, 0
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                record = RunRecord.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            if record.at >= since:
                records.append(record)
        return records, bad


class Remediator:
    """Decides, performs and audits remediation hooks (see the module docstring)."""

    def __init__(
        self,
        remediations: Sequence[Remediation],
        audit: AuditLog,
        ctx: ActionContext,
        *,
        log: FilteringBoundLogger,
        clock: Callable[[], float] = time.time,
        global_dry_run: bool = False,
        act: Perform = perform,
    ) -> None:
        self.remediations = tuple(remediations)
        self._audit = audit
        self._ctx = ctx
        self._log = log
        self._clock = clock
        self._dry_run = global_dry_run
        self._act = act
        self._history: list[RunRecord] = []
        self._outcomes: dict[str, list[RunRecord]] = {}
        self._tasks: set[asyncio.Task[RunRecord]] = set()
        history, bad = audit.load(clock() - HISTORY_S)
        self._history = history
        if bad:
            log.warning("remediation_audit_unreadable_lines", path=str(audit.path), lines=bad)

    @property
    def history(self) -> tuple[RunRecord, ...]:
        """Every record of the last day, oldest first."""
        return tuple(self._history)

    def submit(self, events: Iterable[AlertEvent]) -> list[Decision]:
        """Decide now and start the chosen actions in the background; returns the decisions."""
        now = self._clock()
        self._history = [r for r in self._history if now - r.at < HISTORY_S]
        decisions = decide(
            self.remediations, events, self._history, now, global_dry_run=self._dry_run
        )
        for decision in decisions:
            if decision.verdict == "run":
                # Count the run at once, so the next round's guards see it while it runs.
                placeholder = self._record(decision, now, "ok", "started")
                self._history.append(placeholder)
                task = asyncio.ensure_future(self._run(decision, now, placeholder))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                outcome: Outcome = "dry_run" if decision.verdict == "dry_run" else "skipped"
                labels = dict(decision.event.alert.labels)
                detail = describe(decision.remediation.action, labels)
                detail = f"{detail}: {decision.reason}"
                self._finish(self._record(decision, now, outcome, detail))
        return decisions

    async def drain(self) -> None:
        """Wait for every running action (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def take_outcomes(self, fingerprint: str) -> list[RunRecord]:
        """Outcomes not yet announced for the alert ``fingerprint`` (then forgotten)."""
        return self._outcomes.pop(fingerprint, [])

    def _record(self, decision: Decision, at: float, outcome: Outcome, detail: str) -> RunRecord:
        alert = decision.event.alert
        return RunRecord(
            remediation=decision.remediation.name,
            action=decision.remediation.action.type,
            fingerprint=alert.fingerprint,
            rule=alert.rule,
            state=decision.event.kind,
            at=at,
            outcome=outcome,
            detail=detail,
        )

    async def _run(self, decision: Decision, at: float, placeholder: RunRecord) -> RunRecord:
        started = time.perf_counter()
        try:
            result = await self._act(decision.remediation.action, decision.event, self._ctx)
        except Exception as err:  # the crash barrier: a hook's bug must not kill the daemon
            result = ActionResult(False, f"internal error: {type(err).__name__}")
            self._log.exception("remediation_crashed", remediation=decision.remediation.name)
        record = RunRecord(
            remediation=placeholder.remediation,
            action=placeholder.action,
            fingerprint=placeholder.fingerprint,
            rule=placeholder.rule,
            state=placeholder.state,
            at=at,
            outcome="ok" if result.ok else "failed",
            detail=result.detail,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        self._history = [record if r is placeholder else r for r in self._history]
        self._finish(record)
        return record

    def _finish(self, record: RunRecord) -> None:
        self._audit.append(record)
        if record.outcome != "skipped":
            self._outcomes.setdefault(record.fingerprint, []).append(record)
        log = self._log.warning if record.outcome == "failed" else self._log.info
        log(
            "remediation",
            remediation=record.remediation,
            action=record.action,
            rule=record.rule,
            state=record.state,
            outcome=record.outcome,
            detail=record.detail,
        )
