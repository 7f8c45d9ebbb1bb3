"""SQLite storage on a real file: conformance, restart, WAL, failures."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import trio

from netra_trio.storage.base import NewEvent, StorageError
from netra_trio.storage.migrations import MIGRATIONS
from netra_trio.storage.sqlite import SqliteStorage
from tests.storage.conformance import check_storage


async def test_sqlite_conforms(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "netra.db")
    try:
        await check_storage(storage)
    finally:
        await storage.close()


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path)
    thread = await storage.create_thread("alice", "kept")
    await storage.append_message(thread.thread_id, "user", "remember me")
    await storage.close()
    reopened = await SqliteStorage.open(path)
    try:
        kept = await reopened.get_thread(thread.thread_id)
        assert kept is not None
        assert (kept.user_id, kept.title, kept.created_at) == ("alice", "kept", thread.created_at)
        assert [m.content for m in await reopened.thread_messages(thread.thread_id)] == [
            "remember me"
        ]
    finally:
        await reopened.close()


async def test_file_is_wal_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    await (await SqliteStorage.open(path)).close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        db.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StorageError, match="newer than this server"):
        await SqliteStorage.open(path)


async def test_a_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="cannot open database"):
        await SqliteStorage.open(path)


async def test_a_locked_database_fails_cleanly_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path)
    thread = await storage.create_thread("alice", "t")
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        storage._db.execute("PRAGMA busy_timeout = 100")
        with pytest.raises(StorageError, match="locked"):
            await storage.append_message(thread.thread_id, "user", "blocked")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await storage.thread_messages(thread.thread_id) == []
    await storage.append_message(thread.thread_id, "user", "after")  # usable again
    await storage.close()


async def test_calls_run_off_the_trio_thread(tmp_path: Path) -> None:
    """A database call that waits half a second on a lock must not stall the loop."""
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path)
    thread = await storage.create_thread("alice", "t")
    storage._db.execute("PRAGMA busy_timeout = 500")
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0.01)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            with pytest.raises(StorageError):
                await storage.append_message(thread.thread_id, "user", "waits")
            nursery.cancel_scope.cancel()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        await storage.close()
    assert ticks >= 20  # ~50 ticks in 0.5 s; 1 if the call had blocked the loop


async def test_events_of_a_version_2_file_survive_the_move_to_a_rowid_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "netra.db"
    now = time.time()  # recent: the append below applies age retention
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:2]):
        db.executescript(script)
        db.execute(f"PRAGMA user_version = {number + 1}")
    db.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
        [("alice", seq, "agent_thinking", "r", "t", f'{{"seq":{seq}}}', now) for seq in (1, 2)]
        + [("bob", 1, "agent_started", "r2", "t2", '{"seq":1}', now)],
    )
    db.execute("INSERT INTO user_seq (user_id, last_seq) VALUES ('alice', 2), ('bob', 1)")
    db.close()

    storage = await SqliteStorage.open(path)
    try:
        assert [(e.seq, e.frame) for e in await storage.events_after("alice", 0)] == [
            (1, '{"seq":1}'),
            (2, '{"seq":2}'),
        ]
        (stored,) = await storage.append_events(
            [NewEvent("alice", "agent_thinking", "r", "t", lambda seq: f'{{"seq":{seq}}}')]
        )
        assert stored.seq == 3
        assert [e.seq for e in await storage.events_after("bob", 0)] == [1]
    finally:
        await storage.close()
    db = sqlite3.connect(path)
    try:
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT frame FROM events WHERE user_id = ? AND seq > ?"
            " ORDER BY seq LIMIT 10",
            ("alice", 0),
        ).fetchall()
        assert "events_by_user" in str(plan)  # replay reads the index, not the table
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO events VALUES ('alice', 3, 'x', NULL, NULL, '{}', 0)")
    finally:
        db.close()
