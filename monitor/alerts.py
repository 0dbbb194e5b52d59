"""The alert service: the imperative shell around the pure engine (:mod:`alerting.engine`).

Every probe result becomes an :class:`alerting.model.Observation` (:meth:`AlertService.
observe`, a dictionary write: a probe never waits on alerting). One task runs the engine:
after new results (at most every :data:`MIN_ROUND_GAP` when a probe's status or failure
reason changed, at most every :data:`ROUTINE_ROUND_GAP` when results only repeat their
probe's status with new numbers), when grouping owes a message
(:func:`alerting.engine.next_wakeup`), when a silence starts or ends, and at least every
``evaluation_interval``, it runs :func:`alerting.engine.evaluate_round` on a worker thread
over every probe's latest observation, then, in this order:

1. the round's notifications, with any remediation outcomes not yet announced attached to
   their alerts, go to the persistent outbox (:class:`alerting.outbox.Outbox`), whose
   workers deliver them;
2. the round's firing and resolved events of alerts that are neither silenced nor inhibited
   go to the :class:`alerting.remediator.Remediator`, which runs hooks in the background;
3. the engine state (alerts and groups) is saved to ``alerts.sqlite3`` in ``state_dir``.

Notifications are stored before the state that produced them, so a crash between the two
repeats them at worst (receivers get stable dedup keys), never loses them. The first round
waits until every probe has reported (the daemon's readiness), so after a restart firing
alerts are not announced again and alerts that resolved while the daemon was down resolve
at once. Silences live in ``silences.json`` (:mod:`monitor.silencestore`). docs/alerts.md
("Operations") describes the behaviour for operators.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from prometheus_client import CollectorRegistry

from alerting import grouping, lifecycle
from alerting.actions import ActionContext, ActionResult, perform
from alerting.engine import EngineState, RoundResult, evaluate_round, next_wakeup
from alerting.grouping import GroupState, Notification
from alerting.lifecycle import Alert, AlertEvent
from alerting.model import AlertState, Observation
from alerting.notifiers import Notifier, NotifierContext, build_notifiers
from alerting.outbox import Outbox
from alerting.remediation import Action, RunRecord
from alerting.remediator import AuditLog, Remediator
from alerting.rules import EvaluationCache
from alerting.silences import state as silence_state
from alerting.sqlitefile import NewerSchema, open_private
from monitor.configload import AlertingPlan
from monitor.silencestore import SilenceStore, next_change, silence_document, silence_from_request
from monitor.state import iso

if TYPE_CHECKING:
    from monitor.capture import NotificationHook
    from monitor.runner import ProbeRun

log = structlog.get_logger("flarewatch.alerts")

STORE_FILE = "alerts.sqlite3"
AUDIT_FILE = "remediations.jsonl"
SCHEMA_VERSION = 1
MIN_ROUND_GAP = 0.25
"""Seconds between two rounds at least: a burst of probe results makes one round."""
ROUTINE_ROUND_GAP = 1.0
"""Seconds between two rounds at least while no result changed its probe's status or
failure reason. Every result still reaches a round; one whose only news is its numbers (a
latency, a ratio) waits at most this long, and a status change cuts the wait short. At 20
results a second this is one round a second instead of four (benchmarks/RESULTS.md)."""
ROUND_ERROR_PAUSE = 5.0
"""Seconds the engine waits after a round failed unexpectedly (a full disk, a bug)."""
STOP_GRACE = 2.0
"""Seconds a delivery or a remediation still running at shutdown gets to finish."""

T = TypeVar("T")


class AlertServiceError(Exception):
    """The alert service cannot start (its state files); the message says what to do."""


def observation_of(run: ProbeRun, labels: Mapping[str, str]) -> Observation:
    """The engine's view of one probe run: status, values, labels, message and reason, taken
    at the run's start. A NaN value is left out (the engine treats it as not published)."""
    result = run.result
    return Observation(
        probe=run.probe,
        probe_type=run.type,
        status=result.status.value,
        at=run.started_at,
        values={k: v for k, v in result.values.items() if not math.isnan(v)},
        labels=dict(labels),
        message=result.message,
        reason=None if result.reason is None else result.reason.value,
    )


# --- remediation outcomes in notifications -------------------------------------------


def outcome_text(record: RunRecord) -> str:
    """One line for a notification: ``rollback-api (worker_rollback): ok — rolled back…``."""
    word = {"ok": "ok", "failed": "FAILED", "dry_run": "dry run", "skipped": "skipped"}
    detail = f" — {record.detail}" if record.detail else ""
    outcome = word.get(record.outcome, record.outcome)
    return f"{record.remediation} ({record.action}): {outcome}{detail}"


def attach_outcomes(
    notifications: Sequence[Notification], outcomes: Mapping[str, Sequence[RunRecord]]
) -> tuple[Notification, ...]:
    """The notifications with each alert's remediation outcomes (by fingerprint) added to its
    annotations: ``remediation`` holds one line per run, and the ``description`` ends with
    them, so every receiver shows what flarewatch did about the alert (pure)."""
    if not outcomes:
        return tuple(notifications)

    def annotated(alert: Alert) -> Alert:
        records = outcomes.get(alert.fingerprint)
        if not records:
            return alert
        lines = "\n".join(outcome_text(r) for r in records)
        text = f"Remediation: {lines}" if len(records) == 1 else f"Remediation:\n{lines}"
        return grouping.with_note(alert, "remediation", lines, text)

    return grouping.with_alerts(notifications, annotated)


# --- documents for the API and the status page ----------------------------------------

_STATE_ORDER = {AlertState.FIRING: 0, AlertState.PENDING: 1, AlertState.RESOLVED: 2}
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def since_of(alert: Alert) -> float | None:
    """When the alert entered its current state: firing since, pending since, resolved at."""
    if alert.state is AlertState.FIRING:
        return alert.firing_since
    if alert.state is AlertState.RESOLVED:
        return alert.resolved_at
    return alert.active_since


def ordered(alerts: Iterable[Alert]) -> list[Alert]:
    """Firing, then pending, then resolved; critical first; oldest first (pure)."""
    return sorted(
        alerts,
        key=lambda a: (
            _STATE_ORDER.get(a.state, 3),
            _SEVERITY_ORDER.get(a.severity, 3),
            since_of(a) or 0.0,
            a.fingerprint,
        ),
    )


def _finite(values: Mapping[str, float]) -> dict[str, float | None]:
    return {k: v if math.isfinite(v) else None for k, v in values.items()}


def alert_document(alert: Alert, muted: str | None) -> dict[str, Any]:
    """One alert as ``/api/v1/alerts`` shows it. ``muted`` is the engine's reason
    (``silence:<ids>`` or ``inhibited_by:<fingerprint>``)."""
    silenced_by: list[str] = []
    inhibited_by = None
    if muted is not None and muted.startswith("silence:"):
        silenced_by = muted.removeprefix("silence:").split(",")
    elif muted is not None and muted.startswith("inhibited_by:"):
        inhibited_by = muted.removeprefix("inhibited_by:")
    return {
        "fingerprint": alert.fingerprint,
        "rule": alert.rule,
        "severity": alert.severity,
        "state": alert.state.value,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "values": _finite(alert.values),
        "since": iso(since_of(alert)),
        "active_since": iso(alert.active_since),
        "firing_since": iso(alert.firing_since),
        "resolved_at": iso(alert.resolved_at),
        "resolved_reason": alert.resolved_reason,
        "last_seen": iso(alert.last_seen),
        "flapping": alert.flapping,
        "notified": None if alert.notified_state is None else alert.notified_state.value,
        "silenced_by": silenced_by,
        "inhibited_by": inhibited_by,
    }


def status_entry(alert: Alert, muted: str | None) -> dict[str, Any]:
    """One alert as the status document's ``alerts`` list holds it (the status page's
    contract: name, severity, state, probe, summary, since; plus fingerprint and muted)."""
    return {
        "name": alert.rule,
        "severity": alert.severity,
        "state": alert.state.value,
        "probe": alert.labels.get("probe", ""),
        "summary": alert.annotations.get("summary", ""),
        "since": iso(since_of(alert)),
        "fingerprint": alert.fingerprint,
        "muted": muted is not None,
    }


@dataclass(frozen=True)
class AlertSnapshot:
    """What ``/metrics`` shows of alerting at one moment."""

    firing: Mapping[tuple[str, str], int]
    """Firing alerts by (rule, severity); every configured rule appears, at 0 if need be."""
    states: Mapping[str, int]
    """Alerts by state (pending, firing, resolved)."""
    silences_active: int
    remediations: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Remediation decisions and runs by (remediation, outcome) since the daemon started."""


# --- persistence of the engine state -----------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (fingerprint TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS groups (key TEXT PRIMARY KEY, record TEXT NOT NULL);
"""


class EngineStore:
    """The engine's alerts and groups in ``alerts.sqlite3`` (WAL, ``synchronous=FULL``), one
    row per alert and per group. :meth:`save` writes only what changed since the last save
    (the engine returns the same object for an unchanged alert), in one transaction, on the
    store's own thread."""

    def __init__(self, path: Path, db: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = db
        self._executor = executor
        self._saved = EngineState()

    @classmethod
    async def open(cls, path: Path) -> tuple[EngineStore, EngineState, int]:
        """Open (creating) the store; the state it holds and how many records it skipped as
        unreadable (written by a newer flarewatch, say). Raises :class:`AlertServiceError`."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alert-store")
        loop = asyncio.get_running_loop()
        try:
            db, state, skipped = await loop.run_in_executor(executor, _open_db, path)
        except BaseException:
            executor.shutdown(wait=True)
            raise
        store = cls(path, db, executor)
        store._saved = state
        return store, state, skipped

    async def save(self, state: EngineState) -> None:
        """Persist ``state``: the alerts and groups that differ from the last save."""
        before = self._saved
        alerts = [
            (fp, json.dumps(lifecycle.to_record(a), separators=(",", ":")))
            for fp, a in state.alerts.items()
            if before.alerts.get(fp) is not a
        ]
        gone_alerts = [fp for fp in before.alerts if fp not in state.alerts]
        groups = [
            (key, json.dumps(grouping.to_record(g), separators=(",", ":")))
            for key, g in state.groups.items()
            if before.groups.get(key) is not g
        ]
        gone_groups = [key for key in before.groups if key not in state.groups]
        if alerts or gone_alerts or groups or gone_groups:
            await self._call(_write, self._conn, alerts, gone_alerts, groups, gone_groups)
        self._saved = state

    async def close(self) -> None:
        """Close the database."""
        if self._db is None:
            return
        db, self._db = self._db, None
        await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
        self._executor.shutdown(wait=True)

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise AlertServiceError("the alert store is closed")
        return self._db

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)


def _open_db(path: Path) -> tuple[sqlite3.Connection, EngineState, int]:
    unreadable = (
        f"{path} is not a readable alert store ({{}}); move it away to start afresh "
        "(firing alerts would then be announced again)"
    )
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        db = open_private(path, _SCHEMA, SCHEMA_VERSION, label="schema", check_same_thread=False)
    except NewerSchema as err:
        raise AlertServiceError(str(err)) from None
    except sqlite3.DatabaseError as err:
        raise AlertServiceError(unreadable.format(err)) from None
    except OSError as err:
        raise AlertServiceError(f"cannot open the alert store {path}: {err}") from None
    try:
        alerts: dict[str, Alert] = {}
        groups: dict[str, GroupState] = {}
        skipped = 0
        for fp, text in db.execute("SELECT fingerprint, record FROM alerts"):
            try:
                alerts[str(fp)] = lifecycle.from_record(json.loads(text))
            except ValueError:
                skipped += 1
        for key, text in db.execute("SELECT key, record FROM groups"):
            try:
                groups[str(key)] = grouping.from_record(json.loads(text))
            except ValueError:
                skipped += 1
    except sqlite3.DatabaseError as err:
        db.close()
        raise AlertServiceError(unreadable.format(err)) from None
    except BaseException:
        db.close()
        raise
    return db, EngineState(alerts, groups), skipped


def _write(
    db: sqlite3.Connection,
    alerts: Sequence[tuple[str, str]],
    gone_alerts: Sequence[str],
    groups: Sequence[tuple[str, str]],
    gone_groups: Sequence[str],
) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(
            "INSERT INTO alerts (fingerprint, record) VALUES (?, ?) "
            "ON CONFLICT (fingerprint) DO UPDATE SET record = excluded.record",
            alerts,
        )
        db.executemany("DELETE FROM alerts WHERE fingerprint = ?", [(fp,) for fp in gone_alerts])
        db.executemany(
            "INSERT INTO groups (key, record) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET record = excluded.record",
            groups,
        )
        db.executemany("DELETE FROM groups WHERE key = ?", [(key,) for key in gone_groups])
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


# --- the service -----------------------------------------------------------------------


class RoundPacer:
    """When the engine's next round may start: after :data:`MIN_ROUND_GAP` when something
    urgent happened (a probe's status or failure reason changed, a reload, a silence), after
    :data:`ROUTINE_ROUND_GAP` when results only brought new numbers, and never later than a
    round the clock owes."""

    def __init__(self, min_gap: float = MIN_ROUND_GAP, routine_gap: float = ROUTINE_ROUND_GAP):
        self.min_gap = min_gap
        self.routine_gap = routine_gap
        self._news = asyncio.Event()
        self._urgent = asyncio.Event()

    def note(self, *, urgent: bool) -> None:
        """Something for the next round; ``urgent`` shortens the wait to the minimum gap."""
        if urgent:
            self._urgent.set()
        self._news.set()

    async def idle(self, owed_in: float) -> None:
        """After a round: wait for news, or until the round the clock owes in ``owed_in`` s."""
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel
        # that arrives as the wake-up does, and stop() would then wait forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(owed_in):
                await self._news.wait()

    async def pace(self, last: float, owed_in: Callable[[], float]) -> None:
        """Wait out the gap owed since the round that ended at ``last`` (monotonic), then
        take the news. A round the clock owes (no news) keeps the minimum gap only; routine
        news waits for the routine gap, cut short by urgent news or by ``owed_in()``."""
        if self._news.is_set() and not self._urgent.is_set():
            routine = min(last + self.routine_gap - time.monotonic(), owed_in())
            if routine > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(routine):
                        await self._urgent.wait()
        gap = last + self.min_gap - time.monotonic()
        if gap > 0:
            await asyncio.sleep(gap)
        self._news.clear()
        self._urgent.clear()


class AlertService:
    """Runs the alert engine in the daemon (see the module docstring).

    Open with :meth:`open`, feed with :meth:`observe`, :meth:`start` once the HTTP surface
    is up, :meth:`reconfigure` on reload, :meth:`stop` at shutdown.
    """

    def __init__(
        self,
        plan: AlertingPlan,
        *,
        state_dir: Path,
        outbox: Outbox,
        store: EngineStore,
        silences: SilenceStore,
        state: EngineState,
        clock: Callable[[], float] = time.time,
        on_round: Callable[[float], None] = lambda _: None,
        act: Callable[[Action, AlertEvent, ActionContext], Awaitable[ActionResult]] = perform,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.plan = plan
        self.state_dir = state_dir
        self.outbox = outbox
        self.silences = silences
        self._store = store
        self._state = state
        self._clock = clock
        self._on_round = on_round
        self._act = act
        self.metrics_registry = metrics_registry or CollectorRegistry(auto_describe=True)
        """The outbox's notification metrics (the daemon's ``/metrics`` includes them)."""
        self._latest: dict[str, Observation] = {}
        self._probes: frozenset[str] | None = None
        self._muted: Mapping[str, str] = {}
        self._evaluated_at: float | None = None
        self._cache = EvaluationCache()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alert-engine")
        self._lock = asyncio.Lock()
        self._pacer = RoundPacer()
        self._task: asyncio.Task[None] | None = None
        self._notifiers: dict[str, Notifier] = {}
        self._external_url: str | None = None
        self._actions: ActionContext | None = None
        self._remediator: Remediator | None = None
        self._retired: list[Remediator] = []
        self._releases: set[asyncio.Task[None]] = set()
        self._remediations: Counter[tuple[str, str]] = Counter()
        self.hook: NotificationHook | None = None
        """Error explanations and captured exceptions for notifications; captures started
        on firing events (:mod:`monitor.capture`, set by the daemon)."""

    @classmethod
    async def open(
        cls,
        plan: AlertingPlan,
        state_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        on_round: Callable[[float], None] = lambda _: None,
    ) -> AlertService:
        """Open the outbox, the alert store and the silences in ``state_dir`` (creating it,
        mode 0700). Raises :class:`AlertServiceError` or :class:`alerting.outbox.OutboxError`."""
        registry = CollectorRegistry(auto_describe=True)
        try:
            await asyncio.to_thread(state_dir.mkdir, mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise AlertServiceError(
                f"cannot create state_dir {state_dir}: {err.strerror}; create it, writable by "
                "the user flarewatch runs as, or set state_dir"
            ) from None
        settings = plan.settings.outbox
        outbox = await Outbox.open(
            state_dir,
            policy=settings.policy(),
            max_pending=settings.max_pending,
            dead_retention=settings.dead_retention,
            clock=clock,
            registry=registry,
        )
        try:
            store, state, skipped = await EngineStore.open(state_dir / STORE_FILE)
            if skipped:
                log.warning("alert_records_unreadable", path=str(store.path), skipped=skipped)
            try:
                silences = SilenceStore.open(
                    state_dir,
                    clock=clock,
                    on_skipped=lambda n: log.warning("silences_unreadable", skipped=n),
                )
            except Exception as err:
                await store.close()
                raise AlertServiceError(str(err)) from None
        except BaseException:
            await outbox.close()
            raise
        log.info(
            "alert_state_loaded",
            alerts=len(state.alerts),
            firing=sum(1 for a in state.alerts.values() if a.state is AlertState.FIRING),
            groups=len(state.groups),
            silences=len(silences.all()),
            pending_notifications=sum(outbox.depth().values()),
        )
        return cls(
            plan,
            state_dir=state_dir,
            outbox=outbox,
            store=store,
            silences=silences,
            state=state,
            clock=clock,
            on_round=on_round,
            metrics_registry=registry,
        )

    # --- lifecycle -------------------------------------------------------------------

    def start(
        self,
        *,
        ready: Callable[[], Awaitable[None]],
        actions: ActionContext,
        external_url: str | None,
        probes: Collection[str] | None = None,
    ) -> None:
        """Start delivering (the outbox's workers), remediating and evaluating; the first
        round waits for ``ready`` (every probe has reported). ``probes``: the configured
        probe names (results of others are ignored); ``None`` takes every result."""
        self._probes = None if probes is None else frozenset(probes)
        self._external_url = self.plan.settings.external_url or external_url
        self._notifiers = self._build_notifiers()
        self.outbox.start(self._notifiers)
        self._actions = actions
        self._remediator = self._new_remediator(actions)
        self._task = asyncio.create_task(self._run(ready), name="alert-engine")

    async def stop(self) -> None:
        """Stop evaluating, let deliveries and remediations end (briefly), close the files."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # Held notifications are in the outbox already: they go out at their deadline after
        # a restart, without the capture.
        for release in list(self._releases):
            release.cancel()
        await asyncio.gather(*self._releases, return_exceptions=True)
        await self.outbox.stop(grace=STOP_GRACE)
        await self.outbox.close()
        await self._close_notifiers(self._notifiers)
        self._notifiers = {}
        remediators = [r for r in (self._remediator, *self._retired) if r is not None]
        if remediators:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_GRACE):
                    await asyncio.gather(*(r.drain() for r in remediators))
        await self._store.close()
        self._executor.shutdown(wait=True)

    async def reconfigure(
        self,
        plan: AlertingPlan,
        *,
        probes: Collection[str],
        actions: ActionContext,
        external_url: str | None,
    ) -> None:
        """Take a reloaded configuration: new rules, routes and inhibit rules apply from the
        next round and the alerts keep their state; notifiers are rebuilt (their queued
        notifications stay in the outbox) and remediation hooks replaced only if they
        changed; results of probes no longer configured are forgotten, so their alerts go
        stale."""
        async with self._lock:
            old = self.plan
            self.plan = plan
            self._probes = frozenset(probes)
            for name in [n for n in self._latest if n not in probes]:
                del self._latest[name]
            outbox = plan.settings.outbox
            self.outbox.policy = outbox.policy()
            self.outbox.max_pending = outbox.max_pending
            self.outbox.dead_retention = outbox.dead_retention
            url = plan.settings.external_url or external_url
            if old.settings.notifiers != plan.settings.notifiers or url != self._external_url:
                await self.outbox.stop(grace=STOP_GRACE)
                await self.outbox.wait()
                await self._close_notifiers(self._notifiers)
                self._external_url = url
                self._notifiers = self._build_notifiers()
                self.outbox.start(self._notifiers)
            hooks_changed = (old.settings.remediations, old.settings.dry_run) != (
                plan.settings.remediations,
                plan.settings.dry_run,
            )
            if hooks_changed or actions != self._actions:
                if self._remediator is not None:
                    self._retired = [*self._retired[-3:], self._remediator]
                self._actions = actions
                self._remediator = self._new_remediator(actions)
        self._pacer.note(urgent=True)  # an operator's change: the next round at once

    def _build_notifiers(self) -> dict[str, Notifier]:
        configs = self.plan.settings.notifiers
        context = NotifierContext(external_url=self._external_url, clock=self._clock)
        return build_notifiers(
            configs, context, states={name: self.outbox.state(name) for name in configs}
        )

    @staticmethod
    async def _close_notifiers(notifiers: Mapping[str, Notifier]) -> None:
        for notifier in notifiers.values():
            try:
                await notifier.close()
            except Exception:  # closing must not stop the others from closing
                log.exception("notifier_close_failed", receiver=notifier.name)

    def _new_remediator(self, actions: ActionContext) -> Remediator | None:
        settings = self.plan.settings
        if not settings.remediations:
            return None
        return Remediator(
            settings.remediations,
            AuditLog(self.state_dir / AUDIT_FILE),
            actions,
            log=structlog.get_logger("flarewatch.remediation"),
            clock=self._clock,
            global_dry_run=settings.dry_run,
            act=self._counted,
        )

    async def _counted(self, action: Action, event: AlertEvent, ctx: ActionContext) -> ActionResult:
        result = await self._act(action, event, ctx)
        name = next(
            (h.name for h in self.plan.settings.remediations if h.action == action), action.type
        )
        self._remediations[(name, "ok" if result.ok else "failed")] += 1
        return result

    # --- input -------------------------------------------------------------------------

    def observe(self, observation: Observation) -> None:
        """Take a probe's newest result; the engine evaluates it shortly (never waits)."""
        if self._probes is not None and observation.probe not in self._probes:
            return  # a run of a probe a reload removed
        known = self._latest.get(observation.probe)
        if known is not None and known.at > observation.at:
            return
        self._latest[observation.probe] = observation
        news = known is None or (known.status, known.reason) != (
            observation.status,
            observation.reason,
        )
        self._pacer.note(urgent=news)

    # --- the engine loop ---------------------------------------------------------------

    async def _run(self, ready: Callable[[], Awaitable[None]]) -> None:
        await ready()
        last = -math.inf
        while True:
            await self._pacer.pace(last, self._sleep_for)
            try:
                await self.run_round()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the engine's crash barrier: log, pause, go on
                log.exception("alert_round_failed", error_type=type(err).__name__)
                await asyncio.sleep(ROUND_ERROR_PAUSE)
            last = time.monotonic()
            await self._pacer.idle(self._sleep_for())

    def _sleep_for(self) -> float:
        """Seconds until the next round is owed without new results."""
        now = self._clock()
        times = [now + self.plan.settings.evaluation_interval]
        wakeup = next_wakeup(self._state)
        if wakeup is not None:
            times.append(wakeup)
        change = next_change(self.silences.all(), now)
        if change is not None:
            times.append(change)
        return max(0.0, min(times) - now)

    async def run_round(self) -> RoundResult:
        """One round now (the loop calls it; tests and benchmarks may too)."""
        async with self._lock:
            now = self._clock()
            engine = self.plan.engine
            observations = list(self._latest.values())
            silences = self.silences.all()
            started = time.perf_counter()
            result = await asyncio.get_running_loop().run_in_executor(
                self._executor,
                evaluate_round,
                engine,
                self._state,
                observations,
                silences,
                now,
                self._cache,
            )
            self._on_round(time.perf_counter() - started)
            fingerprints = {
                a.fingerprint for n in result.notifications for a in (*n.firing, *n.resolved)
            }
            notifications = attach_outcomes(result.notifications, self._take_outcomes(fingerprints))
            hook = self.hook
            if hook is not None:
                # Captures start before the round's notifications are stored, so that an
                # alert's first notification can wait for its capture (``_enqueue``).
                hook.submit([e for e in result.events if e.fingerprint not in result.muted])
                notifications = hook.annotate(notifications, self._latest)
            await self._enqueue(notifications)
            self._remediate(result)
            self._state = result.state
            self._muted = result.muted
            self._evaluated_at = now
            try:
                await self._store.save(result.state)
            except (sqlite3.Error, OSError, AlertServiceError) as err:
                log.error(
                    "alert_state_not_saved",
                    error=str(err),
                    hint="the next round saves again; until then a restart may announce "
                    "some alerts twice",
                )
            _log_events(result.events, result.muted)
            return result

    def _take_outcomes(self, fingerprints: Collection[str]) -> dict[str, list[RunRecord]]:
        out: dict[str, list[RunRecord]] = {}
        for remediator in (*self._retired, self._remediator):
            if remediator is None:
                continue
            for fp in fingerprints:
                taken = remediator.take_outcomes(fp)
                if taken:
                    out.setdefault(fp, []).extend(taken)
        return out

    async def _enqueue(self, notifications: Sequence[Notification]) -> None:
        """Store the round's notifications for every receiver, in one transaction, before
        the state that produced them. Nothing is dropped: a receiver whose queue is full
        (``max_pending``) has each notification merged into its group's newest undelivered
        one (the group's current truth plus every resolve not yet delivered; the outbox logs
        ``notifications_coalesced`` and counts it), and a receiver a reload removed keeps
        its handovers queued, logged and counted, until a notifier of that name exists.

        A notification listing a firing alert whose error capture is still running (its
        first since the alert fired) is stored held back for ``logs.capture.hold`` seconds
        and released, with the exceptions attached, as soon as the capture ends."""
        hook = self.hook
        held = {i: hook.held(n) for i, n in enumerate(notifications)} if hook is not None else {}
        held = {i: fps for i, fps in held.items() if fps}
        until = self._clock() + (hook.hold if hook is not None else 0.0)
        items: list[tuple[str, Notification]] = []
        not_before: list[float | None] = []
        for index, notification in enumerate(notifications):
            for receiver in notification.receivers:
                items.append((receiver, notification))
                not_before.append(until if index in held else None)
        if not items:
            return
        ids = await self.outbox.enqueue_many(items, coalesce=True, not_before=not_before)
        if hook is not None and held:
            waiting = [i for i, at in zip(ids, not_before, strict=True) if at is not None]
            fingerprints = frozenset().union(*held.values())
            task = asyncio.create_task(
                self._release(hook, waiting, fingerprints), name="alert-capture-hold"
            )
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

    async def _release(
        self, hook: NotificationHook, ids: Sequence[int], fingerprints: frozenset[str]
    ) -> None:
        """Let held notifications go once their alerts' captures end (at most
        ``logs.capture.hold`` seconds), carrying the captured exceptions. A capture that
        takes longer lets the notification go at its deadline without it; its report rides
        on the alert's next notification."""
        try:
            finished = await hook.wait(fingerprints, hook.hold)
            amended = await self.outbox.amend(ids, hook.amender(fingerprints))
            if amended:
                hook.forget(fingerprints)
            log.info(
                "notification_released",
                alerts=len(fingerprints),
                notifications=amended,
                capture_finished=finished,
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # the held entries still go out at their deadline
            log.exception("notification_release_failed")

    def _remediate(self, result: RoundResult) -> None:
        if self._remediator is None:
            return
        events = [e for e in result.events if e.fingerprint not in result.muted]
        if not events:
            return
        for decision in self._remediator.submit(events):
            if decision.verdict != "run":
                outcome = "dry_run" if decision.verdict == "dry_run" else "skipped"
                self._remediations[(decision.remediation.name, outcome)] += 1

    # --- what the API, the status page and the metrics show ---------------------------

    @property
    def evaluated_at(self) -> float | None:
        """When the last round ran (``None`` before the first)."""
        return self._evaluated_at

    def alerts(self) -> list[Alert]:
        """The alerts the engine keeps (pending, firing, recently resolved), in display order."""
        return ordered(self._state.alerts.values())

    def muted(self, fingerprint: str) -> str | None:
        """Why an alert is muted (``silence:<ids>`` / ``inhibited_by:<fp>``), or ``None``."""
        return self._muted.get(fingerprint)

    def alerts_document(
        self,
        *,
        states: Collection[str] = (),
        fingerprint: str | None = None,
        rule: str | None = None,
    ) -> dict[str, Any]:
        """``/api/v1/alerts``: the alerts, filtered by state, fingerprint and rule."""
        chosen = [
            a
            for a in self.alerts()
            if (not states or a.state.value in states)
            and (fingerprint is None or a.fingerprint == fingerprint)
            and (rule is None or a.rule == rule)
        ]
        return {
            "evaluated_at": iso(self._evaluated_at),
            "alerts": [alert_document(a, self._muted.get(a.fingerprint)) for a in chosen],
        }

    def status_entries(self) -> list[dict[str, Any]]:
        """The status document's ``alerts`` list."""
        return [status_entry(a, self._muted.get(a.fingerprint)) for a in self.alerts()]

    def snapshot(self) -> AlertSnapshot:
        """The numbers ``/metrics`` shows."""
        firing: Counter[tuple[str, str]] = Counter(
            {(r.name, r.rule.severity): 0 for r in self.plan.engine.rules}
        )
        states: Counter[str] = Counter({s.value: 0 for s in _STATE_ORDER})
        for alert in self._state.alerts.values():
            states[alert.state.value] += 1
            if alert.state is AlertState.FIRING:
                firing[(alert.rule, alert.severity)] += 1
        return AlertSnapshot(
            firing=dict(firing),
            states=dict(states),
            silences_active=len(self.silences.active(self._clock())),
            remediations=dict(self._remediations),
        )

    # --- silences ----------------------------------------------------------------------

    def silences_document(self, *, states: Collection[str] = ()) -> dict[str, Any]:
        """``GET /api/v1/silences``: every kept silence with its state, newest first."""
        now = self._clock()
        chosen = [
            s
            for s in reversed(self.silences.all())
            if not states or silence_state(s, now).value in states
        ]
        return {"silences": [silence_document(s, now) for s in chosen]}

    def silence_document(self, silence_id: str) -> dict[str, Any] | None:
        """One silence with its state, or ``None``."""
        silence = self.silences.get(silence_id)
        return None if silence is None else silence_document(silence, self._clock())

    async def add_silence(self, request: object) -> dict[str, Any]:
        """Create a silence from an API request (stored durably before this returns); raises
        :class:`alerting.silences.SilenceError` listing every problem."""
        silence = await self.silences.add(silence_from_request(request, now=self._clock()))
        log.info(
            "silence_created",
            silence=silence.id,
            matchers=[str(m) for m in silence.matchers],
            starts_at=iso(silence.starts_at),
            ends_at=iso(silence.ends_at),
            created_by=silence.created_by,
            comment=silence.comment,
        )
        self._pacer.note(urgent=True)  # an operator's change: the next round at once
        return silence_document(silence, self._clock())

    async def expire_silence(self, silence_id: str) -> dict[str, Any] | None:
        """End a silence now; ``None`` when there is no such silence."""
        silence = await self.silences.expire(silence_id)
        if silence is None:
            return None
        log.info("silence_expired", silence=silence.id)
        self._pacer.note(urgent=True)  # an operator's change: the next round at once
        return silence_document(silence, self._clock())


def _log_events(events: Iterable[AlertEvent], muted: Mapping[str, str]) -> None:
    """One log line per lifecycle event (they are edge-triggered already)."""
    for event in events:
        alert = event.alert
        fields = {
            "rule": alert.rule,
            "severity": alert.severity,
            "fingerprint": alert.fingerprint,
            "probe": alert.labels.get("probe"),
            "summary": alert.annotations.get("summary", ""),
            "muted": muted.get(alert.fingerprint),
        }
        if event.kind == "firing":
            log.warning("alert_firing", **fields)
        elif event.kind == "resolved":
            log.info("alert_resolved", reason=alert.resolved_reason, **fields)
        else:
            log.info(f"alert_{event.kind}", **fields)
