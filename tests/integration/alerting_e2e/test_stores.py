"""The files alerting keeps in state_dir: the engine's alerts and groups (SQLite) and the
silences (JSON), written so that a crash or a newer flarewatch never corrupts them silently."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from alerting.engine import EngineState
from alerting.lifecycle import Alert
from alerting.model import AlertState
from monitor.alerts import STORE_FILE, AlertServiceError, EngineStore
from monitor.silencestore import FILE_NAME, SilenceStore, SilenceStoreError, silence_from_request

T0 = 1_800_000_000.0


def alert(fp: str, **changes: object) -> Alert:
    """A firing alert with fingerprint ``fp``."""
    base = Alert(
        fingerprint=fp,
        rule="worker_down",
        severity="critical",
        labels={"probe": fp},
        state=AlertState.FIRING,
        active_since=T0,
        last_active_at=T0,
        last_seen=T0,
        firing_since=T0,
        notified_state=AlertState.FIRING,
        last_notified_at=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_the_engine_state_survives_a_reopen(tmp_path: Path) -> None:
    """What was saved is what is loaded: alerts and their announced state."""
    path = tmp_path / STORE_FILE
    store, loaded, skipped = await EngineStore.open(path)
    assert (EngineState(), 0) == (loaded, skipped)
    state = EngineState({"a": alert("a"), "b": alert("b")}, {})
    await store.save(state)
    await store.close()
    again, loaded, _ = await EngineStore.open(path)
    await again.close()
    assert state.alerts == loaded.alerts


async def test_only_changes_are_written_and_removed_alerts_are_deleted(tmp_path: Path) -> None:
    """An unchanged alert (the same object) is not rewritten; one the engine dropped is gone."""
    path = tmp_path / STORE_FILE
    store, _, _ = await EngineStore.open(path)
    kept = alert("a")
    await store.save(EngineState({"a": kept, "b": alert("b")}, {}))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alerts SET record = 'marker' WHERE fingerprint = 'a'")
    await store.save(EngineState({"a": kept}, {}))
    await store.close()
    with sqlite3.connect(path) as db:
        rows = dict(db.execute("SELECT fingerprint, record FROM alerts"))
    assert {"a": "marker"} == rows


async def test_unreadable_records_are_skipped_and_counted(tmp_path: Path) -> None:
    """A record written by a newer flarewatch does not stop the daemon; it is reported."""
    path = tmp_path / STORE_FILE
    store, _, _ = await EngineStore.open(path)
    await store.save(EngineState({"a": alert("a"), "b": alert("b")}, {}))
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE alerts SET record = ? WHERE fingerprint = 'b'",
            (json.dumps({"record_version": 99}),),
        )
    again, loaded, skipped = await EngineStore.open(path)
    await again.close()
    assert (["a"], 1) == (list(loaded.alerts), skipped)


async def test_a_store_from_a_newer_flarewatch_is_refused(tmp_path: Path) -> None:
    """Reading a schema it does not know could lose alert state: refuse with what to do."""
    path = tmp_path / STORE_FILE
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 7")
    with pytest.raises(AlertServiceError, match="written by a newer flarewatch"):
        await EngineStore.open(path)


async def test_silences_are_written_durably_and_read_back(tmp_path: Path) -> None:
    """Add and expire survive a reopen; the file is private to the daemon's user."""
    now = [T0]
    store = SilenceStore.open(tmp_path, clock=lambda: now[0])
    body = {"matchers": ["probe=api"], "duration": "1h", "created_by": "a", "comment": "c"}
    first = await store.add(silence_from_request(body, now=T0, new_id=lambda: "s1"))
    await store.add(silence_from_request(body, now=T0, new_id=lambda: "s2"))
    now[0] = T0 + 60
    await store.expire("s2")
    again = SilenceStore.open(tmp_path, clock=lambda: now[0])
    assert [first] == again.active(T0 + 60)
    assert ["s1", "s2"] == [s.id for s in again.all()]
    assert 0o600 == (tmp_path / FILE_NAME).stat().st_mode & 0o777


async def test_expired_silences_are_dropped_after_their_retention(tmp_path: Path) -> None:
    """Expired silences stay listed for a while, then the file forgets them."""
    now = [T0]
    store = SilenceStore.open(tmp_path, clock=lambda: now[0], retention=3600)
    body = {"matchers": ["probe=api"], "duration": "1m", "created_by": "a", "comment": "c"}
    await store.add(silence_from_request(body, now=T0, new_id=lambda: "old"))
    now[0] = T0 + 60 + 3600
    body["duration"] = "1h"
    await store.add(silence_from_request(body, now=now[0], new_id=lambda: "new"))
    assert ["new"] == [s.id for s in SilenceStore.open(tmp_path, clock=lambda: now[0]).all()]


def test_a_file_that_is_not_a_silences_file_is_refused(tmp_path: Path) -> None:
    """Silently starting without silences could page a team mid-maintenance: refuse."""
    (tmp_path / FILE_NAME).write_text("[]")
    with pytest.raises(SilenceStoreError, match="move it away"):
        SilenceStore.open(tmp_path, clock=lambda: T0)


def test_a_bad_silence_record_is_skipped_and_reported(tmp_path: Path) -> None:
    """One unreadable record does not hide the others."""
    good = {
        "id": "s1",
        "matchers": ['probe="api"'],
        "starts_at": T0,
        "ends_at": T0 + 60,
        "created_by": "a",
        "comment": "c",
        "created_at": T0,
    }
    (tmp_path / FILE_NAME).write_text(
        json.dumps({"version": 1, "silences": [good, {"id": "broken"}]})
    )
    skipped: list[int] = []
    store = SilenceStore.open(tmp_path, clock=lambda: T0, on_skipped=skipped.append)
    assert (["s1"], [1]) == ([s.id for s in store.all()], skipped)
