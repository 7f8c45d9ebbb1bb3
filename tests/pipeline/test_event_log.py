"""The event log: numbering per user, one rendering per event, group commit,
publication in seq order, producers' windows and room, failures, and shutdown.

Every test runs the log on a real SQLite event store and the in-process
backplane; what the backplane publishes is collected by a sink subscribed to
the users of the test."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
import trio.testing

from netra_trio.backplane.memory import MemoryBackplane
from netra_trio.pipeline.event_log import EventLog, EventSource
from netra_trio.storage.base import StorageError
from netra_trio.storage.records import StoredEvent
from netra_trio.storage.sqlite import SqliteStorage

BODY = {"agent_name": "a", "thought": "t", "step": 1}


class Collected:
    """A sink that keeps every published batch."""

    def __init__(self) -> None:
        self.batches: list[list[StoredEvent]] = []

    def deliver(self, events: Sequence[StoredEvent]) -> None:
        self.batches.append(list(events))

    def seqs(self, user: str) -> list[int]:
        return [e.seq for batch in self.batches for e in batch if e.user_id == user]


@asynccontextmanager
async def running_log(
    storage: SqliteStorage, users: Sequence[str], **options: Any
) -> AsyncIterator[tuple[EventLog, Collected]]:
    backplane = MemoryBackplane()
    sink = Collected()
    for user in users:
        await backplane.subscribe(user)
    async with trio.open_nursery() as outer:
        await outer.start(backplane.run, sink)  # it outlives the log: all is published
        async with trio.open_nursery() as nursery:
            log = EventLog(storage.events, backplane, **options)
            await nursery.start(log.run)
            yield log, sink
            nursery.cancel_scope.cancel()
        outer.cancel_scope.cancel()


async def test_events_are_numbered_per_user_and_rendered_once(storage: SqliteStorage) -> None:
    """Each user's seq goes 1, 2, 3... across producers; the frame published is
    the frame stored, byte for byte, and carries the source's fields."""
    async with running_log(storage, ["alice", "bob"]) as (log, sink):
        run_a = log.producer(EventSource("alice", "r-1", "t-1", "c-1"))
        run_b = log.producer(EventSource("alice", "r-2", "t-2"))
        other = log.producer(EventSource("bob", "r-3", "t-3"))
        await run_a.put("agent_started", {"agent_name": "a", "input_preview": "x"})
        await other.put("agent_thinking", BODY)
        await run_b.put("agent_thinking", BODY)
        assert await run_a.put_and_wait("agent_completed", {"agent_name": "a"}) == 3
    assert sink.seqs("alice") == [1, 2, 3]
    assert sink.seqs("bob") == [1]
    published = [e for batch in sink.batches for e in batch]
    stored = await storage.events.events_after("alice", 0)
    assert [e.frame for e in stored] == [e.frame for e in published if e.user_id == "alice"]
    first = orjson.loads(stored[0].frame)
    assert {k: first[k] for k in ("type", "seq", "run_id", "thread_id", "correlation_id")} == {
        "type": "agent_started",
        "seq": 1,
        "run_id": "r-1",
        "thread_id": "t-1",
        "correlation_id": "c-1",
    }
    assert first["payload"] == {"agent_name": "a", "input_preview": "x"}
    assert "correlation_id" not in orjson.loads(stored[1].frame)
    second = stored[1]
    assert (second.run_id, second.thread_id, second.type) == ("r-2", "t-2", "agent_thinking")


async def test_events_queued_back_to_back_are_one_batch_in_queue_order(
    storage: SqliteStorage,
) -> None:
    async with running_log(storage, ["alice", "bob"]) as (log, sink):
        alice = log.producer(EventSource("alice"))
        bob = log.producer(EventSource("bob"))
        order = [alice, alice, bob, alice, bob]

        async def put_all() -> None:
            for producer in order:  # no checkpoint between puts while the log has room
                await producer.put("agent_thinking", BODY)

        await put_all()
        await alice.put_and_wait("agent_thinking", BODY)
    assert log.batches == 1
    (batch,) = sink.batches
    assert [(e.user_id, e.seq) for e in batch] == [
        ("alice", 1),
        ("alice", 2),
        ("bob", 1),
        ("alice", 3),
        ("bob", 2),
        ("alice", 4),
    ]


async def test_low_value_work_waits_for_the_batch_in_flight_to_be_published(
    storage: SqliteStorage,
) -> None:
    order: list[str] = []
    handled = trio.Event()

    class Recorded(Collected):
        def deliver(self, events: Sequence[StoredEvent]) -> None:
            order.extend(f"published {e.seq}" for e in events)

    backplane = MemoryBackplane()
    await backplane.subscribe("alice")
    async with trio.open_nursery() as nursery:
        await nursery.start(backplane.run, Recorded())
        log = EventLog(storage.events, backplane)
        await nursery.start(log.run)

        async def typing() -> None:
            await log.yield_to_events()
            order.append("typing handled")
            handled.set()

        await log.producer(EventSource("alice")).put("agent_thinking", BODY)
        nursery.start_soon(typing)  # arrives while the event is queued
        with trio.fail_after(5):
            await handled.wait()
        assert order == ["published 1", "typing handled"]
        # with nothing queued or being written, it does not wait at all
        with trio.testing.assert_no_checkpoints():
            await log.yield_to_events()
        nursery.cancel_scope.cancel()


async def test_shutdown_publishes_every_committed_event_and_ends(storage: SqliteStorage) -> None:
    """Cancelled while producers keep it busy, the log ends promptly, and each
    event that reached the database was published, in seq order."""
    published: list[int] = []
    busy = trio.Event()

    class Recorded(Collected):
        def deliver(self, events: Sequence[StoredEvent]) -> None:
            published.extend(e.seq for e in events)
            if len(published) >= 500:
                busy.set()

    backplane = MemoryBackplane()
    await backplane.subscribe("alice")
    with trio.fail_after(10):
        async with trio.open_nursery() as outer:
            await outer.start(backplane.run, Recorded())
            async with trio.open_nursery() as nursery:
                log = EventLog(storage.events, backplane, max_batch=64, max_pending=256)
                await nursery.start(log.run)

                async def produce() -> None:
                    producer = log.producer(EventSource("alice"))
                    while True:
                        await producer.put("agent_thinking", BODY)
                        await trio.lowlevel.checkpoint()

                for _ in range(4):
                    nursery.start_soon(produce)
                await busy.wait()
                nursery.cancel_scope.cancel()
            outer.cancel_scope.cancel()
    stored = [e.seq for e in await storage.events.events_after("alice", 0, limit=100_000)]
    assert published == stored == list(range(1, len(stored) + 1))
    assert len(stored) >= 500 and log.batches > 1


async def test_a_waited_event_tells_it_is_stored_before_anyone_can_see_it(
    storage: SqliteStorage,
) -> None:
    """``on_stored`` runs as the event is stored, before its batch is
    published: a run's end is known before a client can answer its last event."""
    async with running_log(storage, ["alice"]) as (log, sink):
        producer = log.producer(EventSource("alice", "r-1"))
        seen_then: list[list[int]] = []
        await producer.put("agent_thinking", BODY)
        seq = await producer.put_and_wait(
            "agent_completed",
            {"agent_name": "a"},
            on_stored=lambda: seen_then.append(sink.seqs("alice")),
        )
    assert seq == 2
    assert len(seen_then) == 1  # called once
    assert 2 not in seen_then[0]  # not yet published then
    assert sink.seqs("alice") == [1, 2]


async def test_a_failed_batch_fails_its_producers_and_takes_no_seq(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path, busy_timeout_s=0.05)
    blocker = sqlite3.connect(path, timeout=0)
    try:
        async with running_log(storage, ["alice"]) as (log, sink):
            failing = log.producer(EventSource("alice", "r-1"))
            await failing.put("agent_thinking", BODY)  # the user's last seq is read here
            await failing.put_and_wait("agent_thinking", BODY)
            blocker.execute("BEGIN EXCLUSIVE")  # the next commit cannot get the lock
            await failing.put("agent_thinking", BODY)
            told: list[str] = []
            with pytest.raises(StorageError), trio.fail_after(5):
                await failing.put_and_wait(
                    "agent_thinking", BODY, on_stored=lambda: told.append("stored")
                )
            assert told == []  # a failed event is never said to be stored
            with pytest.raises(StorageError):  # and every later put of that producer
                await failing.put("agent_thinking", BODY)
            blocker.execute("ROLLBACK")
            with trio.fail_after(5):  # a last event is tried again, and lands once it can
                assert await failing.put_and_wait("agent_error", BODY) == 3
            fresh = log.producer(EventSource("alice", "r-2"))
            with trio.fail_after(5):
                assert await fresh.put_and_wait("agent_thinking", BODY) == 4
        assert sink.seqs("alice") == [1, 2, 3, 4]
    finally:
        blocker.close()
        await storage.close()


async def test_a_batch_another_writer_numbered_first_is_numbered_again(
    tmp_path: Path,
) -> None:
    """Seqs are numbered from memory: another process that appended to the same
    file makes the store refuse the next batch whole (a seq it has), and the log
    reads the user's last seq again and numbers the batch again."""
    path = tmp_path / "netra.db"
    first, second = await SqliteStorage.open(path), await SqliteStorage.open(path)
    try:
        async with (
            running_log(first, ["alice"]) as (log_a, sink_a),
            running_log(second, ["alice"]) as (log_b, _),
        ):
            assert await log_a.producer(EventSource("alice")).put_and_wait("x", {}) == 1
            assert await log_b.producer(EventSource("alice")).put_and_wait("x", {}) == 2
            assert await log_a.producer(EventSource("alice")).put_and_wait("x", {}) == 3
            assert log_a.renumbered == 1
            assert await log_a.producer(EventSource("alice")).put_and_wait("x", {}) == 4
            assert log_a.renumbered == 1
        assert sink_a.seqs("alice") == [1, 3, 4]
        assert [e.seq for e in await first.events.events_after("alice", 0)] == [1, 2, 3, 4]
    finally:
        await first.close()
        await second.close()


async def test_two_writers_of_one_file_interleaving_give_one_strict_sequence(
    tmp_path: Path,
) -> None:
    """Two logs (two processes of a cluster) keep emitting for the same user:
    every event is stored once, the user's seqs go 1, 2, 3... without a gap,
    and each log published its own events in increasing seq order."""
    path = tmp_path / "netra.db"
    first, second = await SqliteStorage.open(path), await SqliteStorage.open(path)
    try:
        async with (
            running_log(first, ["alice"], max_batch=8) as (log_a, sink_a),
            running_log(second, ["alice"], max_batch=8) as (log_b, sink_b),
        ):

            async def emit(log: EventLog, n: int) -> None:
                producer = log.producer(EventSource("alice"))
                for _ in range(n):
                    await producer.put("x", {})
                await producer.put_and_wait("x", {})

            with trio.fail_after(30):
                async with trio.open_nursery() as nursery:
                    for log in (log_a, log_b, log_a, log_b):
                        nursery.start_soon(emit, log, 60)
        stored = [e.seq for e in await first.events.events_after("alice", 0, limit=10_000)]
        assert stored == list(range(1, 4 * 61 + 1))
        for seqs in (sink_a.seqs("alice"), sink_b.seqs("alice")):
            assert seqs == sorted(seqs) and len(seqs) == 2 * 61
        assert sorted(sink_a.seqs("alice") + sink_b.seqs("alice")) == stored
    finally:
        await first.close()
        await second.close()


async def test_the_seq_cache_starts_over_past_its_bound(storage: SqliteStorage) -> None:
    users = ["alice", "bob", "carol", "dave"]
    async with running_log(storage, users, seq_cache_max=2) as (log, sink):
        for _ in range(3):
            for batch in (["alice", "bob"], ["carol"], ["bob", "dave", "alice"]):
                for user in batch[:-1]:
                    await log.producer(EventSource(user)).put("x", {})
                await log.producer(EventSource(batch[-1])).put_and_wait("x", {})
                assert len(log._last_seqs) <= 3  # one batch's users at most
    for user, count in {"alice": 6, "bob": 6, "carol": 3, "dave": 3}.items():
        assert sink.seqs(user) == list(range(1, count + 1))


async def test_a_producer_has_at_most_its_window_in_flight(storage: SqliteStorage) -> None:
    """With nothing writing, a producer queues its window and then waits; once
    the log runs, everything lands in order."""
    backplane = MemoryBackplane()
    await backplane.subscribe("alice")
    sink = Collected()
    put = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(backplane.run, sink)
        log = EventLog(storage.events, backplane)
        producer = log.producer(EventSource("alice"), window=8)

        async def produce() -> None:
            nonlocal put
            for _ in range(20):
                await producer.put("x", {})
                put += 1

        nursery.start_soon(produce)
        await trio.testing.wait_all_tasks_blocked()
        assert put == 8
        await nursery.start(log.run)
        with trio.fail_after(5):
            while put < 20:  # noqa: ASYNC110 - the producer's own progress
                await trio.sleep(0.01)
        await producer.put_and_wait("x", {})
        nursery.cancel_scope.cancel()
    assert sink.seqs("alice") == list(range(1, 22))


class _StepCounter(trio.abc.Instrument):
    """Counts the scheduler steps of tasks whose name contains ``marker``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.marker in task.name:
            self.steps += 1


async def test_producers_waiting_for_room_are_woken_in_turn_and_all_their_events_land(
    storage: SqliteStorage,
) -> None:
    """With the log full, every producer waits for room; each taken batch wakes
    producers one after another while room is left, not all of them at once
    (which would cost every waiting producer a step per batch), and no event
    is lost or reordered within its producer."""
    producers, per_producer = 40, 5
    users = [f"u{i}" for i in range(producers)]
    counter = _StepCounter("producer")
    trio.lowlevel.add_instrument(counter)
    try:
        with trio.fail_after(10):
            async with running_log(storage, users, max_batch=4, max_pending=4) as (log, sink):

                async def producer(name: str) -> None:
                    source = log.producer(EventSource(name))
                    for _ in range(per_producer):
                        await source.put("x", {})

                async with trio.open_nursery() as inner:
                    for i, user in enumerate(users):
                        inner.start_soon(producer, user, name=f"producer-{i}")
                await log.producer(EventSource("last")).put_and_wait("x", {})  # after every event
    finally:
        trio.lowlevel.remove_instrument(counter)
    assert {user: sink.seqs(user) for user in users} == {
        user: list(range(1, per_producer + 1)) for user in users
    }
    # One step to start, about one per wait for room; waking every waiter on
    # each batch would take ~producers^2 * per_producer / max_batch (~2000).
    assert counter.steps <= 3 * producers * per_producer


async def test_a_cancelled_put_takes_no_place_in_the_window(storage: SqliteStorage) -> None:
    backplane = MemoryBackplane()
    log = EventLog(storage.events, backplane, max_pending=1)
    producer = log.producer(EventSource("alice"), window=2)
    await producer.put("x", {})  # the log is full now (nothing takes from it)
    with trio.move_on_after(0.01):
        await producer.put("x", {})
    with trio.move_on_after(0.01):
        await producer.put_and_wait("x", {})
    async with trio.open_nursery() as nursery:
        await nursery.start(log.run)
        with trio.fail_after(5):
            await producer.put("x", {})  # a place is left: one was queued, none leaked
            assert await producer.put_and_wait("x", {}) == 3
        nursery.cancel_scope.cancel()


async def test_an_event_queued_as_its_producer_is_cancelled_lands_and_keeps_the_window(
    storage: SqliteStorage,
) -> None:
    """Cancelled right after queuing (at put's checkpoint), the event stays
    queued and lands; the window counts it exactly once, so the producer can
    afterwards have exactly its window in flight again, not one more."""
    backplane = MemoryBackplane()
    await backplane.subscribe("alice")
    sink = Collected()
    async with trio.open_nursery() as outer:
        await outer.start(backplane.run, sink)
        log = EventLog(storage.events, backplane)
        producer = log.producer(EventSource("alice"), window=2)
        with trio.CancelScope() as scope:
            scope.cancel()
            await producer.put("x", {})
        assert scope.cancelled_caught
        async with trio.open_nursery() as running:
            await running.start(log.run)
            assert await producer.put_and_wait("x", {}) == 2
            running.cancel_scope.cancel()
        assert sink.seqs("alice") == [1, 2]  # the cancelled put's event landed first
        put = 0

        async def produce() -> None:
            nonlocal put
            for _ in range(3):
                await producer.put("x", {})
                put += 1

        outer.start_soon(produce)
        await trio.testing.wait_all_tasks_blocked()
        assert put == 2  # nothing writes now: the window of 2 is full
        outer.cancel_scope.cancel()
