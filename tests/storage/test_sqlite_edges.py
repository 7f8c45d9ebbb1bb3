"""SQLite storage when the file cannot take more (a full disk), when a
migration fails half way, with a retention that keeps nothing, and after it
was closed. All on real files."""

from __future__ import annotations

import sqlite3
import threading
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

from netra_trio.storage.base import StorageError
from netra_trio.storage.records import Retention
from netra_trio.storage.sqlite import SqliteStorage
from netra_trio.storage.sqlite.migrations import MIGRATIONS

BIG = "x" * 200_000  # a message that needs new pages of the file


def set_max_pages(storage: SqliteStorage, pages: int | None) -> None:
    """Cap the file at ``pages`` (a full disk), or lift the cap. Set while
    the worker thread is idle, as the other storage tests set pragmas."""
    db = storage.database.connection
    if pages is None:
        pages = 1 << 30
    db.execute(f"PRAGMA max_page_count = {pages}")


async def test_a_full_disk_fails_writes_whole_and_they_succeed_again_with_room(
    tmp_path: Path,
) -> None:
    """A full disk makes SQLite roll the whole transaction back: writes that
    shared it fail (none of them is half written), the ones after it run alone
    and fail the same way, and once there is room again they are stored."""
    storage = await SqliteStorage.open(tmp_path / "netra.db")
    try:
        thread = await storage.threads.create_thread("alice", "t")
        (pages,) = storage.database.connection.execute("PRAGMA page_count").fetchone()
        set_max_pages(storage, pages)
        outcomes: dict[int, str] = {}

        async def write(n: int) -> None:
            try:
                await storage.threads.append_message(thread.thread_id, "user", f"{n}{BIG}")
                outcomes[n] = "stored"
            except StorageError as exc:
                outcomes[n] = str(exc)

        release = threading.Event()
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                # the worker is held, so that the writes are queued together (one group)
                nursery.start_soon(partial(storage.database.call, release.wait, grouped=False))
                await trio.testing.wait_all_tasks_blocked()
                for n in range(4):
                    nursery.start_soon(write, n)
                    await trio.testing.wait_all_tasks_blocked()
                release.set()
        assert sorted(outcomes) == [0, 1, 2, 3]
        assert all(outcome.startswith("database error: ") for outcome in outcomes.values())
        assert any("rolled back" in outcome for outcome in outcomes.values())  # the group's
        assert any("full" in outcome for outcome in outcomes.values())  # alone
        assert await storage.threads.thread_messages(thread.thread_id) == []
        set_max_pages(storage, None)
        await write(4)
        assert outcomes[4] == "stored"
        (stored,) = await storage.threads.thread_messages(thread.thread_id)
        assert stored.content == f"4{BIG}"
    finally:
        await storage.close()


async def test_a_failed_migration_leaves_the_file_at_its_version(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    last = 4  # the file stops before migration 5, which makes user_seq_v5
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:last]):
        db.executescript(script)
        db.execute(f"PRAGMA user_version = {number + 1}")
    db.execute("INSERT INTO threads VALUES ('t-1', 'alice', 'kept', 1.0, 1.0)")
    db.execute("CREATE TABLE user_seq_v5 (in_the_way INTEGER)")
    db.close()
    with pytest.raises(StorageError, match=r"cannot open database .*already exists"):
        await SqliteStorage.open(path)
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone() == (last,)  # nothing half done
        assert db.execute("SELECT title FROM threads").fetchall() == [("kept",)]
        db.execute("DROP TABLE user_seq_v5")
        db.commit()
    finally:
        db.close()
    storage = await SqliteStorage.open(path)  # out of the way: it migrates
    try:
        (thread,) = await storage.threads.list_threads("alice")
        assert thread.title == "kept"
    finally:
        await storage.close()


async def test_a_retention_that_keeps_no_events_is_refused_at_open(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_events must be at least 1"):
        await SqliteStorage.open(tmp_path / "netra.db", retention=Retention(max_events=0))
    storage = await SqliteStorage.open(tmp_path / "netra.db", retention=Retention(max_events=1))
    await storage.close()


async def test_calls_after_close_are_storage_errors_and_closing_again_is_harmless(
    tmp_path: Path,
) -> None:
    storage = await SqliteStorage.open(tmp_path / "netra.db")
    await storage.threads.create_thread("alice", "t")
    await storage.close()
    with pytest.raises(StorageError, match="storage is closed"):
        await storage.threads.list_threads("alice")
    with pytest.raises(StorageError, match="storage is closed"):
        await storage.events.last_seqs(["alice"])
    await storage.close()
