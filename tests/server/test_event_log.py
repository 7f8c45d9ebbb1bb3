"""The event log's group commit: ``yield_to_events`` waits while agent events
are being stored and sent, and not otherwise; shutdown delivers what was
committed; a failed batch fails its own events only."""

from __future__ import annotations

import sqlite3
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

            def delivered(stored: StoredEvent) -> None:
                order.append(f"delivered {stored.seq}")

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

    def deliver(stored: StoredEvent) -> None:
        delivered.append(stored.seq)
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
                    lambda s: outcomes.append(f"delivered {s.seq}"),
                    fail,
                )
            with trio.fail_after(5):
                await failed.wait()
            blocker.execute("ROLLBACK")
            with trio.fail_after(5):
                stored = await log.append(
                    lambda: event("alice"), lambda s: outcomes.append(f"delivered {s.seq}")
                )
            assert stored.seq == 1  # the failed events took no seq
            assert outcomes == ["failed", "failed", "failed", "delivered 1"]
            nursery.cancel_scope.cancel()
    finally:
        blocker.close()
        await storage.close()
