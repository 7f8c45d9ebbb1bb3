"""PostgreSQL storage: a write that fails leaves no row behind, also among
writes queued back to back into one transaction; calls wait at the database
on worker threads, never on the event loop; a write that loses a deadlock to
another session is made again."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import attrs
import psycopg
import pytest
import trio
import trio.testing

from netra_trio.storage.base import DatabaseUnavailable, StorageError
from netra_trio.storage.postgres import PostgresStorage
from netra_trio.storage.records import (
    ReplayWindow,
    Retention,
    RunRecord,
    SessionRecord,
    StoredEvent,
)
from tests.postgres_server import PostgresServer
from tests.storage.postgres_support import (
    execute,
    rows,
    sessions_waiting_on_a_lock,
    wait_for_sessions_waiting_on_a_lock,
)

_TABLES = ("threads", "messages", "runs", "sessions", "user_seq", "events")


def _snapshot(url: str, tables: tuple[str, ...] = _TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables, as another process reads them."""
    queries = {
        "threads": "SELECT * FROM threads ORDER BY thread_id",
        "messages": "SELECT * FROM messages ORDER BY id",
        "runs": "SELECT * FROM runs ORDER BY run_id",
        "sessions": "SELECT * FROM sessions ORDER BY session_id",
        "user_seq": "SELECT * FROM user_seq ORDER BY user_id",
        "events": "SELECT * FROM events ORDER BY user_id, seq",
    }
    return {table: rows(url, queries[table]) for table in tables}


def _event(user: str, seq: int) -> StoredEvent:
    """Made now: retention by age keeps it."""
    return StoredEvent(user, seq, "agent_thinking", None, None, "{}", time.time())


def _run(run_id: str, thread_id: str = "t-1") -> RunRecord:
    return RunRecord(run_id, "alice", thread_id, "supervisor", "running", 1.0)


async def test_a_failed_write_leaves_no_row_behind(postgres_url: str) -> None:
    storage = await PostgresStorage.open(postgres_url)
    try:
        await storage.threads.create_thread("alice", "t", thread_id="t-1")
        await storage.threads.append_message("t-1", "user", "hello", message_id="m-1")
        await storage.runs.start_run(_run("r-1"))
        await storage.events.append([_event("alice", 1)])
        before = _snapshot(postgres_url)
        failing: list[Callable[[], Awaitable[object]]] = [
            partial(storage.threads.append_message, "t-missing", "user", "lost"),
            partial(storage.threads.append_message, "t-1", "system", "bad role"),
            partial(storage.threads.append_message, "t-1", "user", "again", message_id="m-1"),
            partial(storage.threads.create_thread, "bob", "taken", thread_id="t-1"),
            partial(storage.runs.start_run, _run("r-1")),
            partial(storage.runs.start_run, _run("r-2", thread_id="t-missing")),
            partial(storage.events.append, [_event("bob", 1), _event("alice", 1)]),
        ]
        for call in failing:
            with pytest.raises(StorageError) as refused:
                await call()
            assert not isinstance(refused.value, DatabaseUnavailable)
            assert _snapshot(postgres_url) == before  # nothing of it, nothing else touched
        # and the storage goes on
        await storage.threads.append_message("t-1", "user", "after", message_id="m-2")
        await storage.events.append([_event("bob", 1), _event("alice", 2)])
        after = _snapshot(postgres_url)
        assert [row[1] for row in after["messages"]] == ["m-1", "m-2"]
        assert [row[:2] for row in after["events"]] == [("alice", 1), ("alice", 2), ("bob", 1)]
    finally:
        await storage.close()


async def test_writes_queued_back_to_back_share_a_transaction_and_one_failing_fails_alone(
    postgres_url: str,
) -> None:
    """The worker runs writes found queued back to back in one transaction,
    each in a savepoint: one that fails is rolled back alone, the others are
    committed together, at the end."""
    storage = await PostgresStorage.open(postgres_url)
    holds_the_worker = psycopg.connect(postgres_url)
    holds_the_group = psycopg.connect(postgres_url)
    try:
        await storage.threads.create_thread("alice", "t", thread_id="t-1")
        await storage.runs.start_run(_run("r-taken"))
        before = _snapshot(postgres_url)
        outcomes: dict[str, str] = {}

        async def write(tag: str, call: Callable[[], Awaitable[object]]) -> None:
            try:
                await call()
                outcomes[tag] = "stored"
            except StorageError as exc:
                assert not isinstance(exc, DatabaseUnavailable)
                outcomes[tag] = "refused"

        threads, runs = storage.threads, storage.runs
        session = SessionRecord("s-1", "alice", 1.0, 2.0, b"n", b"d")
        writes: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("m1", partial(threads.append_message, "t-1", "user", "m1")),
            ("r-1", partial(runs.start_run, _run("r-1"))),
            ("taken run", partial(runs.start_run, _run("r-taken"))),
            ("m2", partial(threads.append_message, "t-1", "assistant", "m2")),
            ("taken thread", partial(threads.create_thread, "bob", "x", thread_id="t-1")),
            ("session", partial(storage.sessions.put_session, session)),
            ("missing thread", partial(threads.append_message, "t-missing", "user", "x")),
            ("t-2", partial(threads.create_thread, "bob", "second", thread_id="t-2")),
            ("m3", partial(threads.append_message, "t-1", "user", "m3")),
            ("finish", partial(runs.finish_run, "r-taken", "success")),
            ("half thread", partial(threads.create_thread_with_message, "c", "half", "x", "?")),
            (
                "whole thread",
                partial(threads.create_thread_with_message, "c", "whole", "user", "hi"),
            ),
        ]
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                try:
                    # a read held at a lock holds the worker, so that the writes
                    # are all queued (in this order) when it gets to them
                    holds_the_worker.execute("LOCK TABLE threads IN ACCESS EXCLUSIVE MODE")
                    holds_the_group.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
                    nursery.start_soon(threads.get_thread, "t-1")
                    await wait_for_sessions_waiting_on_a_lock(postgres_url, 1)
                    for tag, call in writes:
                        nursery.start_soon(write, tag, call)
                        await trio.testing.wait_all_tasks_blocked()
                    assert outcomes == {}
                    holds_the_worker.rollback()
                    # the group waits at the session: what it wrote before is not
                    # committed (it would be, were each write a transaction of its own)
                    await wait_for_sessions_waiting_on_a_lock(postgres_url, 1, table="sessions")
                    unlocked = ("threads", "messages", "runs")
                    assert _snapshot(postgres_url, unlocked) == {t: before[t] for t in unlocked}
                    assert outcomes == {}
                finally:  # a failed check must not leave the calls waiting for ever
                    holds_the_worker.rollback()
                    holds_the_group.rollback()
        refused = {"taken run", "taken thread", "missing thread", "half thread"}
        assert outcomes == {tag: "refused" if tag in refused else "stored" for tag, _ in writes}
        after = _snapshot(postgres_url)
        [whole] = [row[0] for row in after["threads"] if row[2] == "whole"]
        assert [row[2:5] for row in after["messages"]] == [
            ("t-1", "user", "m1"),
            ("t-1", "assistant", "m2"),
            ("t-1", "user", "m3"),
            (whole, "user", "hi"),
        ]
        # no half thread: carol's refused one left no row, her whole one has its message
        assert sorted(row[:3] for row in after["threads"]) == sorted(
            [("t-1", "alice", "t"), ("t-2", "bob", "second"), (whole, "c", "whole")]
        )
        assert [(row[0], row[4]) for row in after["runs"]] == [
            ("r-1", "running"),
            ("r-taken", "success"),
        ]
        assert [row[0] for row in after["sessions"]] == ["s-1"]
    finally:
        holds_the_worker.close()
        holds_the_group.close()
        await storage.close()


async def test_calls_wait_at_the_database_on_worker_threads_not_on_the_loop(
    postgres_url: str,
) -> None:
    """A read (the main connection) and an event append (the event log's own
    connection) wait on locks another session holds; the loop runs on."""
    storage = await PostgresStorage.open(postgres_url)
    await storage.threads.create_thread("alice", "t", thread_id="t-1")
    blocker = psycopg.connect(postgres_url)
    # if a call blocked the loop, nothing in the loop could let it go
    safety = threading.Timer(10, blocker.rollback)
    done: dict[str, object] = {}

    async def read() -> None:
        done["read"] = await storage.threads.get_thread("t-1")

    async def append() -> None:
        await storage.events.append([_event("alice", 1)])
        done["append"] = True

    try:
        blocker.execute("LOCK TABLE threads, user_seq IN ACCESS EXCLUSIVE MODE")
        safety.start()
        async with trio.open_nursery() as nursery:
            try:
                nursery.start_soon(read)
                nursery.start_soon(append)
                await wait_for_sessions_waiting_on_a_lock(postgres_url, 2)
                for _ in range(20):  # the loop runs while both wait
                    await trio.sleep(0.01)
                    assert done == {}
                assert sessions_waiting_on_a_lock(postgres_url) == 2
            finally:
                blocker.rollback()
        assert done.keys() == {"read", "append"}
        assert done["read"] is not None
        assert [e.seq for e in await storage.events.events_after("alice", 0)] == [1]
    finally:
        safety.cancel()
        blocker.close()
        await storage.close()


async def test_a_write_that_loses_a_deadlock_is_made_again(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    """Interrupting the running runs locks them in order; another session holds
    r-2 and then asks for r-1: PostgreSQL breaks the deadlock by rolling back
    the storage's transaction (its deadlock_timeout is the shorter), which the
    storage makes again once the other session has committed."""
    database = postgres_url.rsplit("/", 1)[1]
    execute(postgres_server.url(), f"ALTER DATABASE {database} SET deadlock_timeout = '300ms'")
    storage = await PostgresStorage.open(postgres_url)
    other = psycopg.connect(postgres_url)
    try:
        await storage.threads.create_thread("alice", "t", thread_id="t-1")
        for run_id in ("r-1", "r-2"):
            await storage.runs.start_run(_run(run_id))
        log_before = postgres_server.log_path.read_text().count("deadlock detected")
        other.execute("SET deadlock_timeout = '30s'")  # the storage's session checks first
        other.execute("UPDATE runs SET agent = 'other' WHERE run_id = 'r-2'")
        result: list[list[RunRecord]] = []

        async def interrupt() -> None:
            result.append(await storage.runs.interrupt_running_runs())

        def close_the_cycle() -> None:
            other.execute("UPDATE runs SET status = 'success' WHERE run_id = 'r-1'")
            other.commit()

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                try:
                    nursery.start_soon(interrupt)
                    await wait_for_sessions_waiting_on_a_lock(postgres_url, 1)  # waits on r-2
                    await trio.to_thread.run_sync(close_the_cycle)
                finally:
                    other.rollback()  # (nothing left to roll back once it committed)
        [interrupted] = result
        assert [(r.run_id, r.agent, r.status) for r in interrupted] == [("r-2", "other", "running")]
        r1, r2 = await storage.runs.get_run("r-1"), await storage.runs.get_run("r-2")
        assert r1 is not None and r2 is not None
        assert (r1.status, r2.status, r2.agent) == ("success", "interrupted", "other")
        log = postgres_server.log_path.read_text()
        assert log.count("deadlock detected") == log_before + 1  # it did happen, once
    finally:
        other.close()
        await storage.close()


async def test_an_append_whose_age_pass_fails_after_it_has_landed_says_it_landed(
    postgres_server: PostgresServer, postgres_url: str, netra_logs: pytest.LogCaptureFixture
) -> None:
    """The age pass runs after the batch is committed, in a transaction of its
    own: when it fails (here it waits too long for a row another session
    holds), the batch has landed all the same, and the append says so. The
    failure is logged and the pass made again later."""
    database = postgres_url.rsplit("/", 1)[1]
    execute(postgres_server.url(), f"ALTER DATABASE {database} SET lock_timeout = '200ms'")
    retention = Retention(max_events=10_000, max_age_s=3600)
    first = await PostgresStorage.open(postgres_url, retention=retention)
    second = await PostgresStorage.open(postgres_url, retention=retention)
    third = await PostgresStorage.open(postgres_url, retention=retention)
    holder = psycopg.connect(postgres_url)
    try:
        await first.events.append([_event("bob", 1)])  # its first pass: nothing to drop
        old = attrs.evolve(_event("alice", 1), created_at=time.time() - 7200)
        await first.events.append([old])  # expired, but the next pass is a second away
        holder.execute("SELECT * FROM events WHERE user_id = 'alice' FOR UPDATE")
        # the first append of another storage passes: alice's event is held
        await second.events.append([_event("carol", 1)])
        assert await second.events.events_after("carol", 0) != []
        assert await second.events.last_seqs(["carol"]) == {"carol": 1}
        assert await second.events.events_after("alice", 0) == [old]  # not dropped yet
        [logged] = [r for r in netra_logs.records if r.getMessage() == "event_retention_error"]
        assert "lock timeout" in logged.netra_fields["error"]  # type: ignore[attr-defined]
        holder.rollback()
        await third.events.append([_event("carol", 2)])  # a later pass drops it
        assert await third.events.events_after("alice", 0) == []
        assert await third.events.replay_window("alice") == ReplayWindow(1, 1)
    finally:
        holder.close()
        for storage in (first, second, third):
            await storage.close()
