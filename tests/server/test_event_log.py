"""The event log's group commit: ``yield_to_events`` waits while agent events
are being stored and sent, and not otherwise; shutdown delivers what was
committed; a failed batch fails its own events only."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import trio
import trio.testing

from netra_trio.server.event_log import EventLog
from netra_trio.storage.base import NewEvent, StorageError, StoredEvent
from netra_trio.storage.sqlite import SqliteStorage


def event(user: str) -> NewEvent:
    return NewEvent(user, "agent_thinking", "r", "t", lambda seq: f'{{"seq":{seq}}}')


async def test_low_value_work_waits_for_the_batch_in_flight_to_be_delivered() -> None:
    storage = await SqliteStorage.open(":memory:")
    order: list[str] = []
    handled = trio.Event()
    try:
        async with trio.open_nursery() as nursery:
            log = EventLog(storage)
            await nursery.start(log.run)

            def delivered(stored: list[StoredEvent]) -> None:
                order.extend(f"delivered {s.seq}" for s in stored)

            async def typing() -> None:
                await log.yield_to_events()
                order.append("typing handled")
                handled.set()

            await log.submit(lambda: event("alice"), delivered, lambda exc: None)
            nursery.start_soon(typing)  # arrives while the event is queued
            with trio.fail_after(5):
                await handled.wait()
            assert order == ["delivered 1", "typing handled"]

            # with nothing queued or being written, it does not wait at all
            with trio.testing.assert_no_checkpoints():
                await log.yield_to_events()
            nursery.cancel_scope.cancel()
    finally:
        await storage.close()


async def test_shutdown_delivers_every_committed_event_and_ends() -> None:
    """Cancelled while producers keep it busy, the log ends promptly, and each
    event that reached the database was delivered, in seq order."""
    storage = await SqliteStorage.open(":memory:")
    delivered: list[int] = []
    busy = trio.Event()

    def deliver(stored: list[StoredEvent]) -> None:
        delivered.extend(s.seq for s in stored)
        if len(delivered) >= 500:
            busy.set()

    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                log = EventLog(storage, max_batch=64, max_pending=256)
                await nursery.start(log.run)

                async def produce() -> None:
                    while True:
                        await log.submit(lambda: event("alice"), deliver, lambda exc: None)
                        await trio.lowlevel.checkpoint()

                for _ in range(4):
                    nursery.start_soon(produce)
                await busy.wait()
                nursery.cancel_scope.cancel()
        stored = [e.seq for e in await storage.events_after("alice", 0, limit=100_000)]
        assert delivered == stored == list(range(1, len(stored) + 1))
        assert len(stored) >= 500 and log.batches > 1
    finally:
        await storage.close()


async def test_a_failed_batch_fails_its_events_and_the_next_one_is_stored(
    tmp_path: Path,
) -> None:
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path, busy_timeout_s=0.05)
    outcomes: list[str] = []
    failed = trio.Event()

    def fail(exc: StorageError) -> None:
        outcomes.append("failed")
        if outcomes.count("failed") == 3:
            failed.set()

    blocker = sqlite3.connect(path, timeout=0)
    try:
        async with trio.open_nursery() as nursery:
            log = EventLog(storage)
            await nursery.start(log.run)
            blocker.execute("BEGIN EXCLUSIVE")  # the next commit cannot get the lock
            for _ in range(3):
                await log.submit(
                    lambda: event("alice"),
                    lambda stored: outcomes.extend(f"delivered {s.seq}" for s in stored),
                    fail,
                )
            with trio.fail_after(5):
                await failed.wait()
            blocker.execute("ROLLBACK")
            with trio.fail_after(5):
                stored = await log.append(
                    lambda: event("alice"),
                    lambda stored: outcomes.extend(f"delivered {s.seq}" for s in stored),
                )
            assert stored.seq == 1  # the failed events took no seq
            assert outcomes == ["failed", "failed", "failed", "delivered 1"]
            nursery.cancel_scope.cancel()
    finally:
        blocker.close()
        await storage.close()


class _StepCounter(trio.abc.Instrument):
    """Counts the scheduler steps of tasks whose name contains ``marker``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.marker in task.name:
            self.steps += 1


async def test_producers_waiting_for_room_are_woken_in_turn_and_all_their_events_land() -> None:
    """With the log full, every producer waits for room; each taken batch wakes
    producers one after another while room is left, not all of them at once
    (which would cost every waiting producer a step per batch), and no event
    is lost or reordered within its producer."""
    storage = await SqliteStorage.open(":memory:")
    delivered: dict[str, list[int]] = {}
    producers, per_producer = 40, 5
    counter = _StepCounter("producer")
    trio.lowlevel.add_instrument(counter)
    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                log = EventLog(storage, max_batch=4, max_pending=4)
                await nursery.start(log.run)

                async def producer(name: str) -> None:
                    for _ in range(per_producer):
                        await log.submit(
                            lambda: event(name),
                            lambda stored: [
                                delivered.setdefault(s.user_id, []).append(s.seq) for s in stored
                            ],
                            lambda exc: None,
                        )

                async with trio.open_nursery() as inner:
                    for i in range(producers):
                        inner.start_soon(producer, f"u{i}", name=f"producer-{i}")
                await log.append(lambda: event("last"), lambda s: None)  # after every event
                nursery.cancel_scope.cancel()
    finally:
        trio.lowlevel.remove_instrument(counter)
        await storage.close()
    assert delivered == {f"u{i}": list(range(1, per_producer + 1)) for i in range(producers)}
    # One step to start, about one per wait for room; waking every waiter on
    # each batch would take ~producers^2 * per_producer / max_batch (~2000).
    assert counter.steps <= 3 * producers * per_producer


async def test_a_burst_of_one_producer_is_delivered_in_one_call_in_seq_order() -> None:
    storage = await SqliteStorage.open(":memory:")
    calls: list[tuple[str, list[int]]] = []

    def producer(name: str) -> Callable[[list[StoredEvent]], None]:
        return lambda stored: calls.append((name, [s.seq for s in stored]))

    alice, bob = producer("alice"), producer("bob")
    try:
        async with trio.open_nursery() as nursery:
            log = EventLog(storage)
            await nursery.start(log.run)
            # queued back to back (no checkpoint), so they form one batch
            for user, deliver in [("alice", alice)] * 3 + [("bob", bob)] * 2 + [("alice", alice)]:
                assert log.submit_nowait(lambda user=user: event(user), deliver, lambda exc: None)
            await log.append(lambda: event("carol"), producer("carol"))
            nursery.cancel_scope.cancel()
    finally:
        await storage.close()
    assert calls == [("alice", [1, 2, 3]), ("bob", [1, 2]), ("alice", [4]), ("carol", [1])]
    assert log.batches == 1
