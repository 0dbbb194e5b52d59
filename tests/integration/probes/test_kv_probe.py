"""The ``kv`` probe against the simulator: round trip, latency, faults, names and ids."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from probes.base import ProbeContext, Reason, Status
from probes.kv import KvProbe, KvSettings
from tests.conftest import SimHandle
from tests.integration.probes.contexts import WRONG_TOKEN, client_context


def kv_probe(**settings: Any) -> KvProbe:
    """A kv probe on SESSIONS with the canary on every run, overridden by ``settings``."""
    entry = {"name": "sessions-kv", "type": "kv", "namespace": "SESSIONS", "canary_interval": 0}
    return KvProbe(KvSettings.model_validate({**entry, **settings}))


async def namespace_id(sim: SimHandle, title: str) -> str:
    """The id the simulator gave the namespace titled ``title``."""
    status, body = await sim.call("GET", f"/accounts/{sim.account_id}/storage/kv/namespaces")
    assert 200 == status
    return str(next(ns["id"] for ns in body["result"] if ns["title"] == title))


async def kv_requests(sim: SimHandle) -> list[tuple[str, str]]:
    """(method, path) of every KV request the simulator served, in order."""
    log = await sim.control("GET", "/__sim/requests?service=kv")
    return [(r["method"], r["path"]) for r in log]


@pytest.fixture
async def wrong_token_ctx(sim: SimHandle, probe_ctx: ProbeContext) -> AsyncIterator[ProbeContext]:
    """``probe_ctx`` with a well-formed token Cloudflare does not know."""
    async with client_context(sim, probe_ctx, token=WRONG_TOKEN) as ctx:
        yield ctx


async def test_healthy_namespace_round_trips_the_canary(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """A healthy namespace is ok, with a timed write, read and delete and the key gone after."""
    result = await kv_probe().run(probe_ctx)
    assert Status.OK == result.status, result.message
    assert result.reason is None
    assert {"canary_write_ms", "canary_read_ms", "canary_delete_ms"} <= set(result.values)
    assert 1.0 == result.values["canary_ok"]
    assert result.latency_ms is not None
    assert result.latency_ms == pytest.approx(result.values["canary_round_trip_ms"])
    ns = await namespace_id(sim, "SESSIONS")
    key = "__flarewatch_canary__%2Fsessions-kv"
    status, _ = await sim.call(
        "GET", f"/accounts/{sim.account_id}/storage/kv/namespaces/{ns}/values/{key}"
    )
    assert 404 == status


async def test_canary_costs_three_requests_and_values_differ_per_run(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """Each canary is one PUT, GET and DELETE of the canary key, with a fresh value each run."""
    probe = kv_probe()
    await probe_ctx.resources.kv_namespace("SESSIONS")
    await sim.control("DELETE", "/__sim/requests")
    await probe.run(probe_ctx)
    await probe.run(probe_ctx)
    methods = [method for method, path in await kv_requests(sim) if "/values/" in path]
    assert ["PUT", "GET", "DELETE"] * 2 == methods
    log = await sim.control("GET", "/__sim/requests?service=kv")
    assert all("__flarewatch_canary__" in r["path"] for r in log if "/values/" in r["path"])


async def test_canary_waits_for_its_interval(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """Between canaries the last round trip is reported with its age, for no KV request."""
    now = [1000.0]
    probe = KvProbe(
        KvSettings(name="sessions-kv", type="kv", namespace="SESSIONS", canary_interval=300),
        timer=lambda: now[0],
    )
    first = await probe.run(probe_ctx)
    await sim.control("DELETE", "/__sim/requests")
    now[0] += 120
    second = await probe.run(probe_ctx)
    assert [] == await kv_requests(sim)
    assert Status.OK == second.status
    assert 120.0 == second.values["canary_age_s"]
    assert first.values["canary_write_ms"] == second.values["canary_write_ms"]
    assert second.latency_ms is None
    assert "120 s ago" in second.message
    now[0] += 180
    await probe.run(probe_ctx)
    assert 3 == len(await kv_requests(sim))


async def test_latency_fault_warns_and_logs_the_measurements(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """A slow namespace warns, and one kv_latency_high line carries every measurement."""
    await sim.control(
        "POST",
        "/__sim/faults",
        json={"service": "kv", "resource": "SESSIONS", "latency_ms": 150},
    )
    probe = kv_probe(canary_warn="100ms", canary_crit="5s")
    with capture_logs() as logs:
        result = await probe.run(probe_ctx)
    assert Status.WARN == result.status, result.message
    assert result.reason is None
    assert result.values["canary_write_ms"] >= 150
    lines = [entry for entry in logs if entry["event"] == "kv_latency_high"]
    assert 1 == len(lines)
    line = lines[0]
    assert "SESSIONS" == line["namespace"]
    assert "sessions-kv" == line["probe"]
    assert {"canary_write_ms", "canary_read_ms", "canary_delete_ms", "canary_round_trip_ms"} <= set(
        line
    )
    assert "warning" == line["log_level"]
    assert sim.token not in repr(line)


async def test_latency_over_crit_is_an_assertion(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """A canary step slower than canary_crit fails the run with reason assertion."""
    await sim.control("POST", "/__sim/faults", json={"service": "kv", "latency_ms": 120})
    result = await kv_probe(canary_warn="50ms", canary_crit="100ms").run(probe_ctx)
    assert Status.CRIT == result.status
    assert Reason.ASSERTION == result.reason
    assert "over 100 ms" in result.message


async def test_fast_namespace_logs_nothing(probe_ctx: ProbeContext) -> None:
    """Latency under the thresholds writes no kv_latency_high line (one per high run only)."""
    with capture_logs() as logs:
        await kv_probe().run(probe_ctx)
    assert [] == [entry for entry in logs if entry["event"] == "kv_latency_high"]


async def test_operation_latency_comes_from_analytics(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """Background reads with high latency show as p50/p99 and warn over latency_warn."""
    ns = await namespace_id(sim, "SESSIONS")
    await sim.control(
        "POST", "/__sim/traffic", json={"kind": "kv", "subject": ns, "rps": 5, "latency_ms": 120}
    )
    with capture_logs() as logs:
        result = await kv_probe(canary=False, latency_warn="200ms", latency_crit="2s").run(
            probe_ctx
        )
    assert Status.WARN == result.status, result.message
    assert result.values["operations"] > 0
    assert result.values["latency_p99_ms"] >= 200
    assert result.values["latency_p50_ms"] < result.values["latency_p99_ms"]
    [line] = [entry for entry in logs if entry["event"] == "kv_latency_high"]
    assert line["latency_p99_ms"] == result.values["latency_p99_ms"]


async def test_timeout_mid_canary_names_the_step(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """A namespace slower than the probe's timeout is crit with reason timeout, not a hang."""
    await probe_ctx.resources.kv_namespace("SESSIONS")
    await sim.control("POST", "/__sim/faults", json={"service": "kv", "latency_ms": 600})
    ctx = dataclasses.replace(probe_ctx, timeout_s=0.3)
    result = await kv_probe().run(ctx)
    assert Status.CRIT == result.status
    assert Reason.TIMEOUT == result.reason
    assert "canary write" in result.message


async def test_wrong_token_is_auth(wrong_token_ctx: ProbeContext) -> None:
    """A token Cloudflare refuses makes the probe crit with reason auth."""
    result = await kv_probe().run(wrong_token_ctx)
    assert Status.CRIT == result.status
    assert Reason.AUTH == result.reason


async def test_deleted_namespace_is_not_found(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """A namespace deleted after it was resolved is not_found, then unresolvable by title."""
    probe = kv_probe()
    assert Status.OK == (await probe.run(probe_ctx)).status
    ns = await namespace_id(sim, "SESSIONS")
    status, _ = await sim.call("DELETE", f"/accounts/{sim.account_id}/storage/kv/namespaces/{ns}")
    assert 200 == status
    gone = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.NOT_FOUND) == (gone.status, gone.reason)
    again = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.NOT_FOUND) == (again.status, again.reason)
    assert "no kv namespace named 'SESSIONS'" in again.message


async def test_unknown_title_is_not_found(probe_ctx: ProbeContext) -> None:
    """A title no namespace has is not_found with the title in the message."""
    result = await kv_probe(namespace="NO_SUCH_NAMESPACE").run(probe_ctx)
    assert (Status.CRIT, Reason.NOT_FOUND) == (result.status, result.reason)
    assert "NO_SUCH_NAMESPACE" in result.message


async def test_namespace_by_id_needs_no_lookup(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """Given an id, the probe checks that namespace without listing namespaces."""
    ns = await namespace_id(sim, "CONFIG")
    await sim.control("DELETE", "/__sim/requests")
    result = await kv_probe(namespace=ns).run(probe_ctx)
    assert Status.OK == result.status, result.message
    paths = [path for _, path in await kv_requests(sim)]
    assert not any(path.endswith("/storage/kv/namespaces") for path in paths)
    assert all(f"/namespaces/{ns}/" in path for path in paths)


async def test_without_canary_a_deleted_namespace_is_still_found_out(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """canary: false still GETs the namespace, so its deletion is not_found, not silence."""
    probe = kv_probe(canary=False)
    ok = await probe.run(probe_ctx)
    assert Status.OK == ok.status, ok.message
    assert "canary_ok" not in ok.values
    ns = await namespace_id(sim, "SESSIONS")
    await sim.call("DELETE", f"/accounts/{sim.account_id}/storage/kv/namespaces/{ns}")
    gone = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.NOT_FOUND) == (gone.status, gone.reason)


async def test_kv_outage_is_api_error_and_recovers(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """A KV outage (503) is crit api_error; once it ends the next run is ok again."""
    probe = kv_probe()
    assert Status.OK == (await probe.run(probe_ctx)).status
    fault = await sim.control("POST", "/__sim/faults", json={"service": "kv", "outage": True})
    down = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.API_ERROR) == (down.status, down.reason)
    assert 0.0 == down.values["canary_ok"]
    assert "canary write" in down.message
    await sim.control("DELETE", f"/__sim/faults/{fault['id']}")
    up = await probe.run(probe_ctx)
    assert Status.OK == up.status, up.message


async def test_analytics_outage_warns_but_keeps_the_canary(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """GraphQL failing leaves latency unchecked: warn with api_error, canary values kept."""
    await sim.control("POST", "/__sim/faults", json={"service": "graphql", "error_status": 500})
    result = await kv_probe().run(probe_ctx)
    assert (Status.WARN, Reason.API_ERROR) == (result.status, result.reason)
    assert 1.0 == result.values["canary_ok"]
    assert "operation latency unavailable" in result.message


async def test_outage_during_lookup_is_api_error(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """When the namespace list itself fails, the run says so (api_error), not not_found."""
    await sim.control("POST", "/__sim/faults", json={"service": "kv", "outage": True})
    result = await kv_probe().run(probe_ctx)
    assert (Status.CRIT, Reason.API_ERROR) == (result.status, result.reason)
    assert "looking up KV namespace 'SESSIONS'" in result.message


async def test_slow_lookup_times_out(sim: SimHandle, probe_ctx: ProbeContext) -> None:
    """A namespace list slower than the probe's timeout is a timeout naming the lookup."""
    await sim.control("POST", "/__sim/faults", json={"service": "kv", "latency_ms": 600})
    result = await kv_probe().run(dataclasses.replace(probe_ctx, timeout_s=0.3))
    assert (Status.CRIT, Reason.TIMEOUT) == (result.status, result.reason)
    assert "looking up KV namespace 'SESSIONS'" in result.message


async def test_paused_client_fails_fast_as_rate_limited(
    sim: SimHandle, probe_ctx: ProbeContext
) -> None:
    """After a 429 (Retry-After 30 s) the next run sends nothing and says rate_limited."""
    await probe_ctx.resources.kv_namespace("SESSIONS")
    await sim.control("POST", "/__sim/faults", json={"service": "kv", "rate_limit": True})
    probe = kv_probe()
    first = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.RATE_LIMITED) == (first.status, first.reason)
    sent = len(await kv_requests(sim))
    second = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.RATE_LIMITED) == (second.status, second.reason)
    assert "paused for 30 s more" in second.message
    assert sent == len(await kv_requests(sim))


async def test_pause_matters_only_when_a_request_is_due(probe_ctx: ProbeContext) -> None:
    """Between canaries the probe needs no request, so a paused client does not fail it."""
    now = [1000.0]
    probe = KvProbe(
        KvSettings(name="sessions-kv", type="kv", namespace="SESSIONS", canary_interval=300),
        timer=lambda: now[0],
    )
    assert Status.OK == (await probe.run(probe_ctx)).status
    budget = probe_ctx.cf.budget
    budget.pause("kv", 600.0, budget.clock())
    now[0] += 60
    between = await probe.run(probe_ctx)
    assert Status.OK == between.status, between.message
    now[0] += 300
    due = await probe.run(probe_ctx)
    assert (Status.CRIT, Reason.RATE_LIMITED) == (due.status, due.reason)
