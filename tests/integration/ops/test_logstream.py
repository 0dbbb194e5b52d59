"""The merged live stream against the simulator: several tails at once, filters, notices,
recovery, the 10-viewer limit, following Pages production, and tails deleted on exit."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from cfapi.client import CloudflareClient
from ops.logevents import Level, LogRow, Notice, TraceConfig
from ops.logstore import LogStore, StoreWriter
from ops.logstream import (
    LogStream,
    LogStreamError,
    StreamFilters,
    StreamOptions,
    Target,
    gap_record,
)
from tests.conftest import SimHandle
from tests.integration.ops.conftest import TRACEPARENT, fault, hit, poll, take_until

ALL = [
    Target("worker", "api"),
    Target("worker", "image-processor"),
    Target.pages("spacevision-web"),
]
FAST = StreamOptions(pages_recheck_s=0.1, restart_delays_s=(0.05, 0.1))


def rows(items: list[LogRow | Notice]) -> list[LogRow]:
    """The events among stream items."""
    return [i for i in items if isinstance(i, LogRow)]


def notices(items: list[LogRow | Notice], kind: str) -> list[Notice]:
    """The notices of one kind among stream items."""
    return [i for i in items if isinstance(i, Notice) and i.kind == kind]


async def worker_tails(sim: SimHandle, client: CloudflareClient, script: str) -> list[str]:
    """The tails Cloudflare (the simulator) lists for a Worker."""
    return [t.id for t in await client.workers.tails(sim.account_id, script)]


def pages_tails(sim: SimHandle) -> int:
    """Open Pages deployment tails (the API has no list call for them)."""
    return sum(1 for s in sim.server.state.tails.sessions.values() if s.scope[0] == "pages")


async def test_two_workers_and_pages_merge_into_one_stored_stream(
    sim: SimHandle, client: CloudflareClient, tmp_path: Path
) -> None:
    """Events from both Workers and the Pages site arrive in one stream, faults included, and
    land in the store where a query finds them by service and level."""
    await fault(sim, service="workers", resource="image-processor", exception="x is undefined")
    await fault(sim, service="d1", resource="spacevision-db", outage=True)

    async def traffic() -> None:
        await hit(sim, "api", "/health")
        await hit(sim, "image-processor", "/m31.png")
        await hit(sim, "spacevision-web", "/about")

    def all_three(seen: list[LogRow | Notice]) -> bool:
        return {r.service for r in rows(seen)} == {"api", "image-processor", "spacevision-web"}

    async with (
        StoreWriter(tmp_path / "logs.db", flush_interval_s=0.05) as writer,
        LogStream(client, sim.account_id, ALL) as stream,
    ):
        seen = await take_until(stream, all_three, traffic)
        for row in rows(seen):
            writer.add(row)
    with LogStore(tmp_path / "logs.db", create=False) as store:
        errors = store.query(0, 2e9, level=Level.ERROR)
        web = store.query(0, 2e9, service="spacevision-web")
    by_service = {r.service: r for r in rows(seen)}
    actual = (
        len(notices(seen, "started")),
        by_service["api"].status,
        by_service["image-processor"].exceptions[0].message,
        {r.service for r in errors} >= {"api", "image-processor"},
        {(r.kind, r.path) for r in web},
    )
    assert (3, 503, "x is undefined", True, {("pages", "/about")}) == actual


async def test_method_and_search_filters_are_applied_by_cloudflare(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """Only POSTs whose URL or logs hold the search text come through."""
    filters = StreamFilters(methods=("POST",), search="orbit")

    async def traffic() -> None:
        await hit(sim, "api", "/v1/orbit", method="GET")
        await hit(sim, "api", "/v1/stars", method="POST")
        await hit(sim, "api", "/v1/orbit", method="POST")

    async with LogStream(client, sim.account_id, [Target("worker", "api")], filters) as stream:
        seen = await take_until(stream, lambda s: len(rows(s)) >= 3, traffic)
    assert {("POST", "/v1/orbit")} == {(r.method, r.path) for r in rows(seen)}


async def test_header_filter_matches_key_and_value(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """``--header x-user:42`` shows that user's requests only."""
    filters = StreamFilters(headers=(("x-user", "42"),))

    async def traffic() -> None:
        await hit(sim, "api", "/a", headers={"x-user": "7"})
        await hit(sim, "api", "/b", headers={"x-user": "42"})
        await hit(sim, "api", "/c")

    async with LogStream(client, sim.account_id, [Target("worker", "api")], filters) as stream:
        seen = await take_until(stream, lambda s: len(rows(s)) >= 2, traffic)
    assert {"/b"} == {r.path for r in rows(seen)}


async def test_status_error_keeps_5xx_without_exceptions(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """A Worker answering 503 after console.error (outcome ok) counts as an error; 200s do not."""
    await fault(sim, service="d1", resource="spacevision-db", outage=True)
    filters = StreamFilters(status="error")

    async def traffic() -> None:
        await hit(sim, "api", "/v1/stars")
        await hit(sim, "api", "/health")

    async with LogStream(client, sim.account_id, [Target("worker", "api")], filters) as stream:
        seen = await take_until(stream, lambda s: len(rows(s)) >= 2, traffic)
        filtered = stream.stats.filtered
    actual = ({(r.path, r.status, r.outcome) for r in rows(seen)}, filtered > 0)
    assert ({("/health", 503, "ok")}, True) == actual


async def test_sampling_is_announced(sim: SimHandle, client: CloudflareClient) -> None:
    """Both kinds of sampling are visible: the one asked for and Cloudflare's overload mode."""
    sim.server.state.tails.overload_rps = 3
    filters = StreamFilters(sampling=0.99)

    async def burst() -> None:
        await asyncio.gather(*(hit(sim, "api", f"/b{i}") for i in range(8)))

    async with LogStream(client, sim.account_id, [Target("worker", "api")], filters) as stream:
        seen = await take_until(stream, lambda s: bool(notices(s, "sampling")), burst)
    client_notice = notices(seen, "client_sampling")[0]
    cloudflare = notices(seen, "sampling")[0]
    assert ("99%" in client_notice.message, "sampling mode" in cloudflare.message) == (True, True)


async def test_forced_disconnect_gives_a_gap_notice_and_events_resume(
    sim: SimHandle, client: CloudflareClient, tmp_path: Path
) -> None:
    """A dropped socket is reopened by cfapi; the stream says events may be missing, the gap is
    stored, and events keep coming."""
    async with LogStream(client, sim.account_id, [Target("worker", "api")]) as stream:
        await take_until(stream, lambda s: bool(rows(s)), lambda: hit(sim, "api"))
        (session,) = sim.server.state.tails.sessions.values()
        for conn in list(session.connections):
            await conn.ws.close(code=1011, message=b"simulated drop")
        seen = await take_until(stream, lambda s: bool(notices(s, "gap")), lambda: hit(sim, "api"))
        after = await take_until(stream, lambda s: bool(rows(s)), lambda: hit(sim, "api"))
    gap = notices(seen, "gap")[0]
    record = gap_record(gap)
    assert record is not None
    with LogStore(tmp_path / "logs.db") as store:
        store.add_gaps([record])
        stored = store.gaps(0, 2**42, ["api"])
    assert (gap.reason, len(stored), rows(after)[0].service) == ("reconnect", 1, "api")


async def test_lost_tail_is_recreated_and_the_outage_reported(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """When cfapi gives up (the tail is gone and cannot be recreated for a while), the stream
    says so, recreates the tail once the API answers again, and reports the whole gap."""
    async with LogStream(client, sim.account_id, [Target("worker", "api")], options=FAST) as stream:
        await take_until(stream, lambda s: bool(rows(s)), lambda: hit(sim, "api"))
        await fault(sim, service="workers", resource="api", outage=True)
        (tail_id,) = list(sim.server.state.tails.sessions)
        session = sim.server.state.tails.sessions.pop(tail_id)
        for conn in list(session.connections):
            await conn.ws.close(code=1011, message=b"gone")
        lost = await take_until(stream, lambda s: bool(notices(s, "lost")))
        await sim.control("DELETE", "/__sim/faults")
        back = await take_until(
            stream, lambda s: bool(notices(s, "gap")) and bool(rows(s)), lambda: hit(sim, "api")
        )
    actual = ("TailError" in notices(lost, "lost")[0].reason, notices(back, "gap")[0].reason)
    assert (True, "tail recreated") == actual


async def test_tail_deleted_elsewhere_is_recreated(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """Someone deleting the tail does not silently end a long-running stream."""
    async with LogStream(client, sim.account_id, [Target("worker", "api")], options=FAST) as stream:
        first = stream.stats.tails["worker/api"]
        await client.workers.delete_tail(sim.account_id, "api", first)
        seen = await take_until(
            stream, lambda s: bool(notices(s, "gap")) and bool(rows(s)), lambda: hit(sim, "api")
        )
        current = await worker_tails(sim, client, "api")
    assert ("deleted elsewhere" in notices(seen, "lost")[0].reason, len(current)) == (True, 1)


async def test_tails_are_deleted_on_exit(sim: SimHandle, client: CloudflareClient) -> None:
    """Leaving the stream deletes every tail it made, Workers and Pages alike."""
    async with LogStream(client, sim.account_id, ALL) as stream:
        during = (len(await worker_tails(sim, client, "api")), pages_tails(sim))
        await take_until(stream, lambda s: bool(rows(s)), lambda: hit(sim, "api"))
    after = (
        await worker_tails(sim, client, "api"),
        await worker_tails(sim, client, "image-processor"),
        pages_tails(sim),
    )
    assert ((1, 1), ([], [], 0)) == (during, after)


async def test_reading_a_closed_stream_ends_instead_of_waiting(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """A reader still waiting when the stream is closed (or arriving after) is released."""
    stream = LogStream(client, sim.account_id, [Target("worker", "api")])
    await stream.start()
    assert isinstance(await anext(stream), Notice)  # "tailing worker/api"
    waiting = asyncio.create_task(anext(stream))
    await stream.aclose()
    async with asyncio.timeout(5):
        with pytest.raises(StopAsyncIteration):
            await waiting
        with pytest.raises(StopAsyncIteration):
            await anext(stream)


async def test_tails_are_deleted_when_the_reader_is_cancelled(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """Ctrl-C cancels the reading task: every tail is still deleted."""
    started = asyncio.Event()

    async def read() -> None:
        async with LogStream(client, sim.account_id, ALL) as stream:
            started.set()
            async for _ in stream:
                pass

    task = asyncio.create_task(read())
    await started.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    after = (
        await worker_tails(sim, client, "api"),
        await worker_tails(sim, client, "image-processor"),
        pages_tails(sim),
    )
    assert ([], [], 0) == after


async def test_ten_viewer_limit_is_explained_and_nothing_is_left_attached(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """With 10 tails on api, starting fails with the limit named; the other sources' tails,
    already created, are deleted again."""
    for _ in range(10):
        await client.workers.create_tail(sim.account_id, "api")
    stream = LogStream(client, sim.account_id, ALL)
    with pytest.raises(LogStreamError) as caught:
        await stream.start()
    leftovers = (await worker_tails(sim, client, "image-processor"), pages_tails(sim))
    message = str(caught.value)
    assert ("worker/api: 10 tails are already attached" in message, caught.value.bad_input) == (
        True,
        False,
    )
    assert ([], 0) == leftovers


async def test_unknown_worker_is_bad_input(sim: SimHandle, client: CloudflareClient) -> None:
    """A misspelt Worker is named in the error, flagged as the user's input."""
    stream = LogStream(client, sim.account_id, [Target("worker", "apj")])
    with pytest.raises(LogStreamError, match="no Worker named 'apj'") as caught:
        await stream.start()
    assert caught.value.bad_input


async def test_pages_stream_follows_a_new_production_deployment(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """A deploy during the incident does not leave the stream watching the old deployment."""
    project = await client.pages.project(sim.account_id, "spacevision-web")
    assert project.canonical_deployment is not None
    old = project.canonical_deployment.id
    target = [Target.pages("spacevision-web")]
    async with LogStream(client, sim.account_id, target, options=FAST) as stream:
        new = await client.pages.create_deployment(sim.account_id, "spacevision-web", branch="main")

        async def live() -> bool:
            current = await client.pages.project(sim.account_id, "spacevision-web")
            return current.canonical_deployment is not None and (
                current.canonical_deployment.id == new.id
            )

        await poll(live)
        await take_until(
            stream,
            lambda s: bool(notices(s, "switched")) and any(r.version == new.id for r in rows(s)),
            lambda: hit(sim, "spacevision-web", "/"),
        )
    assert (old != new.id, stream.stats.switches, pages_tails(sim)) == (True, 1, 0)


async def test_a_pinned_pages_deployment_is_tailed(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """``PROJECT@DEPLOYMENT`` tails that deployment (a preview), not production."""
    previews = client.pages.deployments(sim.account_id, "spacevision-web", env="preview")
    preview = await anext(aiter(previews))
    target = [Target.pages(f"spacevision-web@{preview.id}")]
    host = f"{preview.short_id}.spacevision-web.pages.dev"

    async def visit() -> None:
        async with sim.session.get(sim.url + "/", headers={"Host": host}) as resp:
            await resp.read()

    async with LogStream(client, sim.account_id, target) as stream:
        seen = await take_until(stream, lambda s: bool(rows(s)), visit)
    assert {(preview.id, "spacevision-web")} == {(r.version, r.service) for r in rows(seen)}


async def test_trace_context_travels_with_the_events(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """A traceparent sent to the Worker and the site gives both events the same trace id."""
    headers = {"traceparent": TRACEPARENT}

    async def traffic() -> None:
        await hit(sim, "api", "/v1/stars", headers=headers)
        await hit(sim, "spacevision-web", "/", headers=headers)

    targets = [Target("worker", "api"), Target.pages("spacevision-web")]
    async with LogStream(client, sim.account_id, targets) as stream:
        seen = await take_until(stream, lambda s: len({r.service for r in rows(s)}) == 2, traffic)
    assert {("0af7651916cd43dd8448eb211c80319c", "traceparent")} == {
        (r.trace_id, r.trace_source) for r in rows(seen)
    }


async def test_a_configured_request_id_header_is_the_trace_id(
    sim: SimHandle, client: CloudflareClient
) -> None:
    """An application that propagates x-request-id is correlated by it (--trace-header)."""
    trace = TraceConfig(headers=("x-request-id",))
    headers = {"x-request-id": "req-7f3a", "traceparent": TRACEPARENT}
    async with LogStream(client, sim.account_id, [Target("worker", "api")], trace=trace) as s:
        seen = await take_until(
            s, lambda i: bool(rows(i)), lambda: hit(sim, "api", headers=headers)
        )
    assert ("req-7f3a", "header") == (rows(seen)[0].trace_id, rows(seen)[0].trace_source)
