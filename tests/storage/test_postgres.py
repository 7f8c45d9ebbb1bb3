"""PostgreSQL storage on a real server (its conformance, the same checks as
SQLite's: ``test_conformance.py``): data kept across a reopen, the versioned schema, nodes that open
it at once. Writes that fail: ``test_postgres_writes.py``; a server that
cannot be reached: ``test_postgres_unavailable.py``."""

from __future__ import annotations

import time

import attrs
import pytest
import trio

from netra_trio.storage.base import DatabaseUnavailable, SeqConflict, StorageError
from netra_trio.storage.postgres import PostgresStorage
from netra_trio.storage.postgres.migrations import MIGRATIONS
from netra_trio.storage.records import (
    ReplayWindow,
    RunRecord,
    SessionRecord,
    StoredEvent,
)
from tests.storage.postgres_support import execute, rows, wait_for_no_other_sessions


async def test_data_survives_close_and_reopen(postgres_url: str) -> None:
    storage = await PostgresStorage.open(postgres_url)
    try:
        thread = await storage.threads.create_thread("alice", "kept")
        message = await storage.threads.append_message(thread.thread_id, "user", "remember me")
        run = RunRecord("r-1", "alice", thread.thread_id, "supervisor", "running", time.time())
        await storage.runs.start_run(run)
        events = [
            StoredEvent("alice", seq, "agent_thinking", "r-1", thread.thread_id, "{}", time.time())
            for seq in (1, 2)
        ]
        await storage.events.append(events)
        session = SessionRecord("s-1", "alice", 1.0, 2.0, b"\x00nonce", b"\xffsealed")
        await storage.sessions.put_session(session)
    finally:
        await storage.close()
    with pytest.raises(StorageError, match="closed"):
        await storage.threads.get_thread(thread.thread_id)
    await wait_for_no_other_sessions(postgres_url)  # both of its connections are closed

    reopened = await PostgresStorage.open(postgres_url)
    try:
        moved = attrs.evolve(thread, updated_at=message.timestamp)  # by its message
        assert await reopened.threads.get_thread(thread.thread_id) == moved
        assert await reopened.threads.thread_messages(thread.thread_id) == [message]
        assert await reopened.runs.get_run("r-1") == run
        assert await reopened.runs.running_runs() == [run]
        assert await reopened.events.events_after("alice", 0) == events
        assert await reopened.events.last_seqs(["alice"]) == {"alice": 2}
        assert await reopened.events.replay_window("alice") == ReplayWindow(0, 2)
        assert await reopened.sessions.get_session("s-1") == session
        with pytest.raises(SeqConflict):  # the seqs stored before are taken
            await reopened.events.append([attrs.evolve(events[1], frame='{"again":1}')])
        third = attrs.evolve(events[1], seq=3)
        await reopened.events.append([third])
        assert await reopened.events.events_after("alice", 1) == [events[1], third]
    finally:
        await reopened.close()


_TABLES = ["events", "messages", "netra_schema", "runs", "sessions", "threads", "user_seq"]


async def test_the_schema_is_versioned_applied_once_and_a_newer_one_is_refused(
    postgres_url: str,
) -> None:
    await (await PostgresStorage.open(postgres_url)).close()
    assert rows(postgres_url, "SELECT version FROM netra_schema") == [(len(MIGRATIONS),)]
    tables = rows(
        postgres_url,
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'public' ORDER BY table_name",
    )
    assert [name for (name,) in tables] == _TABLES
    # opened again: nothing applied twice (a migration applied again would fail)
    storage = await PostgresStorage.open(postgres_url)
    await storage.threads.create_thread("alice", "t", thread_id="t-1")
    await storage.close()
    assert rows(postgres_url, "SELECT version FROM netra_schema") == [(len(MIGRATIONS),)]
    await wait_for_no_other_sessions(postgres_url)

    # a database migrated by a newer server is refused, and left as it is
    newer = len(MIGRATIONS) + 1
    execute(postgres_url, "UPDATE netra_schema SET version = %s", (newer,))
    with pytest.raises(StorageError) as refused:
        await PostgresStorage.open(postgres_url)
    assert not isinstance(refused.value, DatabaseUnavailable)  # not worth a retry
    assert str(refused.value) == (
        f"database schema version {newer} is newer than this server ({len(MIGRATIONS)})"
    )
    assert rows(postgres_url, "SELECT version FROM netra_schema") == [(newer,)]
    assert rows(postgres_url, "SELECT thread_id FROM threads") == [("t-1",)]
    await wait_for_no_other_sessions(postgres_url)  # the refused open closed what it opened


async def test_storages_opened_at_once_on_a_fresh_database_all_open(postgres_url: str) -> None:
    """Nodes of a cluster start together: each applies the migrations under
    an advisory lock, so that every open succeeds and each migration is
    applied once."""
    storages: list[PostgresStorage] = []

    async def open_one() -> None:
        storages.append(await PostgresStorage.open(postgres_url))

    try:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for _ in range(6):
                    nursery.start_soon(open_one)
        assert len(storages) == 6
        assert rows(postgres_url, "SELECT version FROM netra_schema") == [(len(MIGRATIONS),)]
        for number, storage in enumerate(storages):
            await storage.threads.create_thread("alice", "t", thread_id=f"t-{number}")
        for storage in storages:
            assert len(await storage.threads.list_threads("alice")) == 6
    finally:
        for storage in storages:
            await storage.close()
