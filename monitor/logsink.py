"""The daemon's log keeping: probe rows and continuous tails into the local log store.

Every probe run becomes a probe row (:func:`ops.logevents.probe_row`) carrying the W3C trace
id its HTTP check sent, so ``flarewatch logs trace ID --store <state_dir>/logs.db`` shows the
probe's request next to the Worker's and Pages' tail events for the same request. Optional
continuous tails (``logs.tail``) feed the same store, with their gaps.

Writes never block probes: :meth:`LogSink.record` only queues the row, and
:class:`ops.logstore.StoreWriter` writes batches on its own thread. Retention (by age and
size, ``logs.retention``) runs when the sink opens and then every
:data:`RETENTION_INTERVAL_S`. A store that fails (a full disk) is logged once and its rows are
dropped; probes and alerting go on. docs/logs.md ("The daemon's store") describes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from ops.logevents import (
    GapRecord,
    LogRow,
    ProbeRecord,
    TraceConfig,
    make_traceparent,
    probe_row,
)
from ops.logstore import RetentionPolicy, StoreError, StoreWriter

if TYPE_CHECKING:
    from cfapi.client import CloudflareClient
    from monitor.config import LogRetention, LogTails
    from monitor.runner import ProbeRun
    from ops.logstream import StreamFilters, Target

log = structlog.get_logger("flarewatch.logs")

RETENTION_INTERVAL_S = 3600.0
"""Retention runs at open and then hourly."""
PROBE_SPAN = "0000000000000001"
TAIL_RETRY_S = 60.0
"""A continuous tail that cannot start (or ended for good) is tried again after this long."""


class SinkMetrics:
    """The log keeping's metrics, on the daemon's ``/metrics`` registry.

    ``flarewatch_log_events_stored_total{kind}`` (rows handed to the store: ``probe``,
    ``worker``, ``pages``), ``flarewatch_log_store_size_bytes`` (the store's files on disk)
    and ``flarewatch_log_captures_total{outcome}`` (error captures: ``captured``, ``empty``,
    ``tail_limit``, ``failed``).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.stored = Counter(
            "flarewatch_log_events_stored_total",
            "Log events handed to the daemon's log store, by kind.",
            ["kind"],
            registry=registry,
        )
        for kind in ("probe", "worker", "pages"):
            self.stored.labels(kind)
        self.size = Gauge(
            "flarewatch_log_store_size_bytes",
            "Size of the daemon's log store on disk (database and write-ahead log).",
            registry=registry,
        )
        self.captures = Counter(
            "flarewatch_log_captures_total",
            "Error captures run when a Worker's error rule fired, by outcome.",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("captured", "empty", "tail_limit", "failed"):
            self.captures.labels(outcome)
        self._path: Path | None = None
        self.size.set_function(self._size)

    def watch(self, path: Path | None) -> None:
        """Report the size of the store at ``path`` (``None``: no store, 0 bytes)."""
        self._path = path

    def _size(self) -> float:
        if self._path is None:
            return 0.0
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.stat(f"{self._path}{suffix}").st_size
        return float(total)


def policy_of(retention: LogRetention) -> RetentionPolicy:
    """The store's retention policy for the ``logs.retention`` settings."""
    return RetentionPolicy(max_age_s=retention.max_age, max_bytes=retention.max_size)


def probe_record(run: ProbeRun) -> ProbeRecord:
    """A probe run as the log store keeps it (pure): status, message, reason, latency and
    the trace id its request carried (as a ``traceparent``, which the row parses back)."""
    result = run.result
    traceparent = ""
    if result.trace_id:
        # The row keeps the trace id; the span id is not stored, any valid one will do.
        with contextlib.suppress(ValueError):
            traceparent = make_traceparent(result.trace_id, PROBE_SPAN)
    return ProbeRecord(
        ts_ms=int(run.started_at * 1000),
        probe=run.probe,
        probe_type=run.type,
        status=result.status.value,
        message=result.message,
        reason=None if result.reason is None else result.reason.value,
        latency_ms=result.latency_ms if result.latency_ms is not None else run.duration_s * 1e3,
        traceparent=traceparent,
    )


class LogSink:
    """Keeps the daemon's log events (see the module docstring).

    :meth:`open` it, :meth:`record` every probe run, :meth:`configure_tails` with the
    running Cloudflare client, :meth:`aclose` at shutdown.
    """

    def __init__(
        self,
        path: Path,
        retention: RetentionPolicy,
        *,
        metrics: SinkMetrics | None = None,
        clock: Callable[[], float] = time.time,
        retention_interval_s: float = RETENTION_INTERVAL_S,
        flush_interval_s: float = 0.5,
        tail_retry_s: float = TAIL_RETRY_S,
    ) -> None:
        self.path = path
        self.metrics = metrics
        self._writer = StoreWriter(
            path,
            policy=retention,
            flush_interval_s=flush_interval_s,
            retention_interval_s=retention_interval_s,
            clock=clock,
        )
        self._clock = clock
        self._tail_retry_s = tail_retry_s
        self._failed = False
        self._tails: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()
        self._tail_key: object = None

    async def open(self) -> None:
        """Create the store's directory and file, apply retention, start the writer.

        Raises ``OSError`` or :class:`ops.logstore.StoreError` when the store cannot open.
        """
        await asyncio.to_thread(self.path.parent.mkdir, mode=0o700, parents=True, exist_ok=True)
        await self._writer.open()
        if self.metrics is not None:
            self.metrics.watch(self.path)
        log.info("log_store_opened", path=str(self.path))

    @property
    def retention(self) -> RetentionPolicy:
        """The retention policy in force."""
        return self._writer.policy

    @retention.setter
    def retention(self, policy: RetentionPolicy) -> None:
        self._writer.policy = policy

    @property
    def written(self) -> int:
        """Rows written so far."""
        return self._writer.written

    @property
    def deleted(self) -> int:
        """Rows retention deleted so far."""
        return self._writer.deleted

    def record(self, run: ProbeRun) -> None:
        """Queue the probe row of ``run`` (never blocks, never raises)."""
        self.add(probe_row(probe_record(run)))

    def add(self, row: LogRow) -> None:
        """Queue one row (never blocks, never raises: a broken store drops rows, logged once)."""
        try:
            self._writer.add(row)
        except StoreError as err:
            if not self._failed:
                self._failed = True
                log.error(
                    "log_store_failed",
                    path=str(self.path),
                    error=str(err),
                    hint="log events are dropped until the daemon restarts; check the disk",
                )
            return
        if self.metrics is not None:
            self.metrics.stored.labels(row.kind).inc()

    def add_gap(self, gap: GapRecord) -> None:
        """Queue a gap record (a tail lost events for a while)."""
        self._writer.add_gap(gap)

    async def flush(self) -> int:
        """Write what is queued now (tests, shutdown); how many rows."""
        return await self._writer.flush()

    # --- continuous tails --------------------------------------------------------------

    def configure_tails(
        self,
        cf: CloudflareClient | None,
        account_id: str,
        tails: LogTails,
        trace: TraceConfig | None = None,
    ) -> None:
        """Follow ``tails`` (restarting the tails only when they or the client changed);
        ``cf`` ``None`` or no targets stops them.

        The tail client (:mod:`ops.logstream`) is imported only when there are tails to
        follow: most daemons have none.
        """
        targets: list[Target] = []
        if tails.workers or tails.pages:
            from ops.logstream import Target

            targets = [Target("worker", w) for w in tails.workers]
            targets += [Target.pages(p) for p in tails.pages]
        key = (id(cf), account_id, tuple(targets), tails.sampling)
        if key == self._tail_key and self._tails is not None and not self._tails.done():
            return
        self._stop_tails()
        self._tail_key = key
        if cf is None or not targets:
            return
        from ops.logstream import StreamFilters

        sampling = tails.sampling if tails.sampling < 1 else None
        self._tails = asyncio.create_task(
            self._follow(cf, account_id, targets, StreamFilters(sampling=sampling), trace),
            name="flarewatch-log-tails",
        )

    def _stop_tails(self) -> None:
        task, self._tails = self._tails, None
        if task is not None:
            task.cancel()  # the stream deletes its tails as the task unwinds
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    async def _follow(
        self,
        cf: CloudflareClient,
        account_id: str,
        targets: list[Target],
        filters: StreamFilters,
        trace: TraceConfig | None,
    ) -> None:
        from ops.logstream import LogStream, gap_record

        labels = [t.label for t in targets]
        while True:
            try:
                async with LogStream(cf, account_id, targets, filters, trace=trace) as stream:
                    log.info("log_tails_started", targets=labels)
                    async for item in stream:
                        if isinstance(item, LogRow):
                            self.add(item)
                        else:
                            gap = gap_record(item)
                            if gap is not None:
                                self.add_gap(gap)
                            if item.kind in ("gap", "sampling", "lost", "ended", "dropped"):
                                log.warning("log_tail_notice", kind=item.kind, notice=item.message)
                log.warning("log_tails_ended", targets=labels, retry_in_s=self._tail_retry_s)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a tail's trouble must not stop the daemon
                log.error(
                    "log_tails_failed",
                    targets=labels,
                    error=str(err) or type(err).__name__,
                    retry_in_s=self._tail_retry_s,
                )
            await asyncio.sleep(self._tail_retry_s)

    async def aclose(self) -> None:
        """Stop the tails (deleting them), write what is queued, close the store."""
        self._stop_tails()
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)
        await self._writer.aclose()
        if self.metrics is not None:
            self.metrics.watch(None)
