"""One live stream of log rows from any number of Workers and Pages deployments.

Each source is a :class:`cfapi.tail.TailStream`, which already pings, reconnects with
backoff, renews the tail before it expires, reports gaps and deletes its tail on close.
:class:`LogStream` adds what a person watching several services needs:

- every source merged into one stream of :class:`~ops.logevents.LogRow` and
  :class:`~ops.logevents.Notice`, in arrival order;
- filters: Cloudflare's own (method, search, header, sampling — applied before events
  leave Cloudflare, so they also keep a busy Worker out of sampling mode) plus ``status``,
  which is applied here because Cloudflare's outcome filter cannot see a Worker that
  answered 5xx or logged ``console.error`` without throwing;
- visible notices for gaps, Cloudflare's sampling mode, ``--sampling``, events dropped
  because the reader fell behind, and tails that had to be recreated;
- a tail that cannot be kept alive (cfapi gives up after about 30 s) is recreated with
  backoff, and the whole outage reported as one gap, instead of ending the stream;
- ``--pages PROJECT`` follows the project's production deployment: when a new one goes
  live the stream moves to it and says so;
- all tails deleted on exit, including cancellation (Ctrl-C): ``aclose`` cancels the source
  tasks, whose ``TailStream`` contexts delete their tails;
- a clear :class:`LogStreamError` when a Worker already has 10 tails (Cloudflare's limit).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import aiohttp

from cfapi.errors import (
    AuthError,
    CloudflareError,
    NotFound,
    PermissionDenied,
    TailLimitReached,
)
from cfapi.tail_events import TailEvent, TailGap, TailSampling
from ops.logevents import (
    GapRecord,
    Kind,
    Level,
    LogRow,
    Notice,
    TraceConfig,
    normalise_tail_event,
)

if TYPE_CHECKING:
    from cfapi.client import CloudflareClient
    from cfapi.tail import TailStream

StatusFilter = Literal["ok", "error"]
# Failures worth retrying: Cloudflare's (5xx, network, a lost tail) and the socket's own.
_TRANSIENT: tuple[type[Exception], ...] = (CloudflareError, aiohttp.ClientError, OSError)
Item = LogRow | Notice
TAIL_LIMIT = 10


class LogStreamError(Exception):
    """The stream cannot start; ``bad_input`` when the user named something that is wrong."""

    def __init__(self, message: str, *, bad_input: bool = False) -> None:
        super().__init__(message)
        self.bad_input = bad_input


_TRANSIENT_OR_INPUT: tuple[type[Exception], ...] = (*_TRANSIENT, LogStreamError)


@dataclass(frozen=True, slots=True)
class Target:
    """A Worker script, or a Pages project (its production deployment, or a pinned one)."""

    kind: Literal["worker", "pages"]
    name: str
    deployment: str | None = None

    @property
    def label(self) -> str:
        """``worker/api``, ``pages/spacevision-web``."""
        return f"{self.kind}/{self.name}"

    @classmethod
    def pages(cls, spec: str) -> Target:
        """``PROJECT`` (follow production) or ``PROJECT@DEPLOYMENT_ID`` (that deployment)."""
        project, _, deployment = spec.partition("@")
        if not project.strip() or (_ and not deployment.strip()):
            raise ValueError(f"{spec!r} is not PROJECT or PROJECT@DEPLOYMENT_ID")
        return cls("pages", project.strip(), deployment.strip() or None)


def parse_header_filter(text: str) -> tuple[str, str | None]:
    """``K:V`` (header K equal to V) or ``K`` (header K present)."""
    key, sep, value = text.partition(":")
    key = key.strip()
    if not key or any(c.isspace() for c in key):
        raise ValueError(f"{text!r} is not a header filter: write NAME or NAME:VALUE")
    return key, (value.strip() if sep else None)


@dataclass(frozen=True, slots=True)
class StreamFilters:
    """What ``logs tail`` shows: ``status`` locally, the rest as Cloudflare tail filters."""

    status: StatusFilter | None = None
    methods: tuple[str, ...] = ()
    search: str | None = None
    headers: tuple[tuple[str, str | None], ...] = ()
    sampling: float | None = None

    def __post_init__(self) -> None:
        if self.sampling is not None and not 0 < self.sampling <= 1:
            raise ValueError("sampling must be a rate in (0, 1], e.g. 0.1 for 10 %")
        if self.search is not None and not self.search.strip():
            raise ValueError("search text is empty")

    def tail_filters(self) -> list[dict[str, Any]]:
        """Cloudflare's ``filters`` for ``POST …/tails`` (ANDed; values in one are ORed)."""
        filters: list[dict[str, Any]] = []
        if self.sampling is not None and self.sampling < 1:
            filters.append({"sampling_rate": self.sampling})
        if self.methods:
            filters.append({"method": sorted({m.upper() for m in self.methods})})
        for key, value in self.headers:
            header: dict[str, str] = {"key": key}
            if value is not None:
                header["query"] = value
            filters.append({"header": header})
        if self.search is not None:
            filters.append({"query": self.search})
        return filters

    def accepts(self, row: LogRow) -> bool:
        """The local part: ``error`` keeps error-level rows, ``ok`` the others."""
        if self.status is None:
            return True
        return (row.level >= Level.ERROR) == (self.status == "error")


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Timings: how often Pages production is re-checked, how a lost tail is retried."""

    pages_recheck_s: float = 60.0
    restart_delays_s: tuple[float, ...] = (2.0, 5.0, 10.0, 30.0, 60.0)
    queue_size: int = 10_000


@dataclass(eq=False)
class _Source:
    target: Target
    deployment: str | None = None
    task: asyncio.Task[None] | None = None
    watcher: asyncio.Task[None] | None = None
    done: bool = False

    @property
    def kind(self) -> Kind:
        return self.target.kind

    @property
    def label(self) -> str:
        if self.target.kind == "pages" and self.deployment:
            return f"{self.target.label} (deployment {self.deployment[:8]})"
        return self.target.label


@dataclass
class StreamStats:
    """Counters for the stream's life (tests, ``--json`` summaries)."""

    events: int = 0
    filtered: int = 0
    dropped: int = 0
    gaps: int = 0
    restarts: int = 0
    switches: int = 0
    tails: dict[str, str] = field(default_factory=dict)


class _Finished:
    """Queue sentinel: one source stopped for good."""


_FINISHED = _Finished()


class LogStream:
    """Merged live rows and notices from several tails; ``async with`` and iterate it."""

    def __init__(
        self,
        cf: CloudflareClient,
        account_id: str,
        targets: Sequence[Target],
        filters: StreamFilters | None = None,
        *,
        trace: TraceConfig | None = None,
        options: StreamOptions | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not targets:
            raise LogStreamError("nothing to tail: name at least one Worker or Pages project")
        self.cf = cf
        self.account_id = account_id
        self.filters = filters or StreamFilters()
        self.trace = trace or TraceConfig()
        self.options = options or StreamOptions()
        self.stats = StreamStats()
        self._clock = clock
        self._sleep = sleep
        self._sources = [_Source(t, t.deployment) for t in dict.fromkeys(targets)]
        self._queue: asyncio.Queue[Item | _Finished] = asyncio.Queue()
        self._pending_drops = 0
        self._running = 0
        self._started = False
        self._closed = False
        self._failure: Exception | None = None

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- life cycle

    async def __aenter__(self) -> LogStream:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Attach every tail (all or none), then start streaming (not once closed)."""
        if self._started or self._closed:
            return
        self._started = True
        created: list[TailStream] = []

        async def open_one(src: _Source) -> TailStream:
            if src.target.kind == "pages" and src.deployment is None:
                src.deployment = await self._production(src.target.name)
            stream = self._stream(src)
            created.append(stream)
            await stream.start()
            return stream

        try:
            results = await asyncio.gather(
                *(open_one(src) for src in self._sources), return_exceptions=True
            )
            failures = [
                (src, r)
                for src, r in zip(self._sources, results, strict=True)
                if isinstance(r, BaseException)
            ]
            if failures:
                raise _start_error(failures)
        except BaseException:
            self._closed = True
            await _close_all(created)
            raise
        if self.filters.sampling is not None and self.filters.sampling < 1:
            self._emit(
                Notice(
                    kind="client_sampling",
                    message=(
                        f"sampling: only about {self.filters.sampling:.0%} of events are "
                        "requested (--sampling)"
                    ),
                    at_ms=self._now_ms(),
                )
            )
        for src, stream in zip(self._sources, results, strict=True):
            assert not isinstance(stream, BaseException)
            self._running += 1
            self._announce(src, stream)
            src.task = asyncio.create_task(self._pump(src, stream), name=f"tail {src.label}")
            if src.target.kind == "pages" and src.target.deployment is None:
                src.watcher = asyncio.create_task(
                    self._follow_production(src), name=f"follow {src.label}"
                )

    async def aclose(self) -> None:
        """Stop every source and delete its tail (idempotent; safe under cancellation)."""
        if self._closed:
            return
        self._closed = True
        tasks = [t for s in self._sources for t in (s.watcher, s.task) if t is not None]
        for task in tasks:
            task.cancel()
        # Awaited in full even if we are cancelled meanwhile: each task deletes its tail.
        gathered = asyncio.gather(*tasks, return_exceptions=True)
        try:
            await asyncio.shield(gathered)
        except asyncio.CancelledError:
            await gathered
            raise
        finally:
            # Wake a reader waiting in __anext__: the stream is over.
            self._queue.put_nowait(_FINISHED)

    def __aiter__(self) -> LogStream:
        return self

    async def __anext__(self) -> Item:
        """The next row or notice; ends when every source has stopped for good.

        A plain method rather than an async generator, so a reader may wait with a timeout
        (cancelling the wait) and carry on reading afterwards.
        """
        if not self._closed:
            await self.start()
        while True:
            if self._queue.empty() and (self._running <= 0 or self._closed):
                raise StopAsyncIteration
            item = await self._queue.get()
            if isinstance(item, _Finished):
                self._running -= 1
                if self._failure is not None:
                    raise self._failure
                continue
            return item

    # -- opening tails

    def _stream(self, src: _Source) -> TailStream:
        filters = self.filters.tail_filters()
        if src.target.kind == "worker":
            return self.cf.tails.worker(self.account_id, src.target.name, filters)
        assert src.deployment is not None
        return self.cf.tails.pages_deployment(
            self.account_id, src.target.name, src.deployment, filters
        )

    async def _production(self, project: str) -> str:
        found = await self.cf.pages.project(self.account_id, project)
        live = found.canonical_deployment
        if live is None:
            raise LogStreamError(
                f"Pages project {project!r} has no production deployment to tail; "
                f"name one with --pages {project}@DEPLOYMENT_ID",
                bad_input=True,
            )
        return live.id

    async def _open(self, src: _Source) -> TailStream:
        if src.target.kind == "pages" and src.target.deployment is None:
            src.deployment = await self._production(src.target.name)
        stream = self._stream(src)
        await stream.start()
        return stream

    # -- delivering

    def _emit(self, item: Item) -> None:
        """Queue an item; past ``queue_size`` waiting, count it as dropped instead."""
        limit = self.options.queue_size
        if self._pending_drops and self._queue.qsize() < limit - 1:
            dropped, self._pending_drops = self._pending_drops, 0
            self._queue.put_nowait(
                Notice(
                    kind="dropped",
                    message=(
                        f"dropped {dropped} events: the output could not keep up "
                        "(add filters or --sampling)"
                    ),
                    at_ms=self._now_ms(),
                )
            )
        if self._queue.qsize() >= limit:
            self._pending_drops += 1
            self.stats.dropped += 1
            return
        self._queue.put_nowait(item)

    def _announce(self, src: _Source, stream: TailStream) -> None:
        tail = stream.tail
        if tail is not None:
            self.stats.tails[src.label] = tail.id
        self._emit(
            Notice(
                kind="started",
                message=f"tailing {src.label}",
                service=src.target.name,
                source=src.kind,
                at_ms=self._now_ms(),
            )
        )

    def _gap(self, src: _Source, start_ms: int, end_ms: int, reason: str) -> None:
        self.stats.gaps += 1
        seconds = max(0, end_ms - start_ms) / 1000
        self._emit(
            Notice(
                kind="gap",
                message=(
                    f"gap: events of {src.target.label} in the last {seconds:.1f} s "
                    f"may be missing ({reason})"
                ),
                service=src.target.name,
                source=src.kind,
                at_ms=end_ms,
                start_ms=start_ms,
                end_ms=end_ms,
                reason=reason,
            )
        )

    def _deliver(self, src: _Source, item: TailEvent | TailGap | TailSampling) -> None:
        if isinstance(item, TailEvent):
            row = normalise_tail_event(
                item,
                kind=src.kind,
                service=src.target.name,
                now_ms=self._now_ms(),
                trace=self.trace,
            )
            if not self.filters.accepts(row):
                self.stats.filtered += 1
                return
            self.stats.events += 1
            self._emit(row)
        elif isinstance(item, TailGap):
            start = int(item.start.timestamp() * 1000)
            end = int(item.end.timestamp() * 1000)
            self._gap(src, start, end, item.reason)
        else:
            at = int(item.at.timestamp() * 1000) if item.at is not None else self._now_ms()
            verb = "is sampling: events are being dropped" if item.active else "stopped sampling"
            self._emit(
                Notice(
                    kind="sampling" if item.active else "sampling_stop",
                    message=f"Cloudflare {verb} for {src.target.label}: {item.message}",
                    service=src.target.name,
                    source=src.kind,
                    at_ms=at,
                )
            )

    # -- per-source tasks

    async def _pump(self, src: _Source, stream: TailStream) -> None:
        """Read one source until it stops for good; recreate its tail when it is lost."""
        finished = True
        try:
            current: TailStream | None = stream
            while True:
                reason = ""
                lost_at = self._now_ms()
                try:
                    assert current is not None
                    async with current:
                        async for item in current:
                            self._deliver(src, item)
                    reason = "the tail was closed by Cloudflare (deleted elsewhere)"
                except TailLimitReached:
                    self._end(src, f"{TAIL_LIMIT} tails are attached (Cloudflare's limit)")
                    return
                except NotFound:
                    self._end(src, "it no longer exists")
                    return
                except (AuthError, PermissionDenied) as err:
                    self._end(src, f"the API token was refused ({type(err).__name__})")
                    return
                except _TRANSIENT as err:
                    reason = f"{type(err).__name__}: {err}"
                lost_at = self._now_ms()
                self._emit(
                    Notice(
                        kind="lost",
                        message=f"lost the tail of {src.target.label} ({reason}); recreating it",
                        service=src.target.name,
                        source=src.kind,
                        at_ms=lost_at,
                        reason=reason,
                    )
                )
                current = await self._reopen(src, lost_at)
                if current is None:
                    return
        except asyncio.CancelledError:
            finished = False
            raise
        except Exception as err:
            # A failure nobody planned for: end the stream with it rather than lose it.
            self._failure = err
        finally:
            if finished:
                src.done = True
                self._queue.put_nowait(_FINISHED)

    def _end(self, src: _Source, why: str) -> None:
        self._emit(
            Notice(
                kind="ended",
                message=f"stopped tailing {src.target.label}: {why}",
                service=src.target.name,
                source=src.kind,
                at_ms=self._now_ms(),
                reason=why,
            )
        )

    async def _reopen(self, src: _Source, lost_at: int) -> TailStream | None:
        """A new tail for ``src`` after backoff; ``None`` when the source is gone for good."""
        delays = self.options.restart_delays_s
        attempt = 0
        while True:
            await self._sleep(delays[min(attempt, len(delays) - 1)])
            attempt += 1
            try:
                stream = await self._open(src)
            except TailLimitReached:
                self._end(src, f"{TAIL_LIMIT} tails are attached (Cloudflare's limit)")
                return None
            except NotFound:
                self._end(src, "it no longer exists")
                return None
            except (AuthError, PermissionDenied) as err:
                self._end(src, f"the API token was refused ({type(err).__name__})")
                return None
            except LogStreamError as err:
                self._end(src, str(err))
                return None
            except _TRANSIENT:
                continue
            self.stats.restarts += 1
            self._gap(src, lost_at, self._now_ms(), "tail recreated")
            self._announce(src, stream)
            return stream

    async def _follow_production(self, src: _Source) -> None:
        """Move a Pages source to the project's new production deployment when one goes live."""
        while not src.done:
            await self._sleep(self.options.pages_recheck_s)
            try:
                live = await self._production(src.target.name)
            except _TRANSIENT_OR_INPUT:
                continue
            if live == src.deployment or src.done:
                continue
            old_task, old_deployment = src.task, src.deployment
            src.deployment = live
            stream = self._stream(src)
            try:
                await stream.start()
            except asyncio.CancelledError:
                await _close_all([stream])
                raise
            except _TRANSIENT as err:
                src.deployment = old_deployment
                self._emit(
                    Notice(
                        kind="lost",
                        message=(
                            f"{src.target.label} has a new production deployment {live[:8]} "
                            f"but it cannot be tailed yet ({type(err).__name__}); "
                            "still on the previous one"
                        ),
                        service=src.target.name,
                        source=src.kind,
                        at_ms=self._now_ms(),
                    )
                )
                continue
            self.stats.switches += 1
            if old_task is not None:
                old_task.cancel()
                try:
                    await asyncio.shield(asyncio.gather(old_task, return_exceptions=True))
                except asyncio.CancelledError:
                    await _close_all([stream])
                    raise
            if _finished(src):
                # The old source had finished on its own just before the switch.
                src.done = False
                self._running += 1
            self._emit(
                Notice(
                    kind="switched",
                    message=(
                        f"{src.target.label}: new production deployment {live[:8]} is live; "
                        f"now tailing it (was {(old_deployment or '')[:8]})"
                    ),
                    service=src.target.name,
                    source=src.kind,
                    at_ms=self._now_ms(),
                )
            )
            self._announce(src, stream)
            src.task = asyncio.create_task(self._pump(src, stream), name=f"tail {src.label}")


def _finished(src: _Source) -> bool:
    """Whether the source's pump ended on its own (read after awaits: other tasks set it)."""
    return src.done


async def _close_all(streams: Sequence[TailStream]) -> None:
    """Close streams (deleting their tails), finishing even if we are cancelled meanwhile."""
    if not streams:
        return
    closing = asyncio.gather(*(s.aclose() for s in streams), return_exceptions=True)
    try:
        await asyncio.shield(closing)
    except asyncio.CancelledError:
        await closing
        raise


def _start_error(failures: Sequence[tuple[_Source, BaseException]]) -> BaseException:
    """One error for every source that could not start (a cancellation passes through)."""
    for _src, err in failures:
        if not isinstance(err, Exception):
            return err
    messages: list[str] = []
    bad_input = False
    for src, err in failures:
        text, bad = describe_failure(err, src.target)
        messages.append(text)
        bad_input = bad_input or bad
    return LogStreamError("\n".join(messages), bad_input=bad_input)


def describe_failure(err: BaseException, target: Target) -> tuple[str, bool]:
    """A message for a tail that could not be started, and whether it is the user's input."""
    what = "Worker" if target.kind == "worker" else "Pages project"
    if isinstance(err, TailLimitReached):
        return (
            f"{target.label}: {TAIL_LIMIT} tails are already attached, Cloudflare's limit per "
            f"{'Worker' if target.kind == 'worker' else 'deployment'}. Close other "
            "`wrangler tail` sessions or dashboard log views, or wait for abandoned tails to "
            "expire (about an hour).",
            False,
        )
    if isinstance(err, NotFound):
        return f"{target.label}: no {what} named {target.name!r} in this account", True
    if isinstance(err, AuthError | PermissionDenied):
        return (
            f"{target.label}: the API token was refused ({err}); check CLOUDFLARE_API_TOKEN and "
            "that it may read Workers/Pages tails",
            True,
        )
    if isinstance(err, LogStreamError):
        return str(err), err.bad_input
    return f"{target.label}: cannot start the tail: {err}", False


def gap_record(notice: Notice) -> GapRecord | None:
    """The stored form of a gap notice (``None`` for other notices)."""
    if notice.kind != "gap" or notice.start_ms is None or notice.end_ms is None:
        return None
    return GapRecord(
        service=notice.service,
        kind=notice.source or "worker",
        start_ms=notice.start_ms,
        end_ms=notice.end_ms,
        reason=notice.reason,
    )
