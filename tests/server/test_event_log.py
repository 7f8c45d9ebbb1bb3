"""The event log's group commit as seen by low-value work: ``yield_to_events``
waits while agent events are being stored and sent, and not otherwise."""

from __future__ import annotations

import trio
import trio.testing

from netra_trio.server.event_log import EventLog
from netra_trio.storage.base import NewEvent, StoredEvent
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

            await log.submit(event("alice"), delivered, lambda exc: None)
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
