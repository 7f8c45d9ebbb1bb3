"""The event log in front of a backplane that fails or falls behind.

The backplanes here are small real classes that implement the ``Backplane``
protocol in front of the in-process one: one whose broker is down (``publish``
raises), one whose broker is slow (``publish`` waits until the test lets it
go). The event store is a real SQLite file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
import trio
import trio.testing

from netra_trio.backplane.base import EventSink
from netra_trio.backplane.memory import MemoryBackplane
from netra_trio.pipeline.event_log import EventLog, EventSource
from netra_trio.storage.records import StoredEvent
from netra_trio.storage.sqlite import SqliteStorage

BODY = {"agent_name": "a", "thought": "t", "step": 1}


class Sink:
    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    def deliver(self, events: Sequence[StoredEvent]) -> None:
        self.events.extend(events)

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.events]


class BrokerDown:
    """A backplane whose broker refuses publications while ``down``."""

    def __init__(self) -> None:
        self._local = MemoryBackplane()
        self.down = True
        self.refused = 0

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        if self.down:
            self.refused += 1
            raise ConnectionError("the broker is down")
        await self._local.publish(events)

    async def subscribe(self, user_id: str) -> None:
        await self._local.subscribe(user_id)

    def unsubscribe(self, user_id: str) -> None:
        self._local.unsubscribe(user_id)

    async def run(
        self, sink: EventSink, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        await self._local.run(sink, task_status=task_status)


class SlowBroker(BrokerDown):
    """A backplane whose publications wait until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.release = trio.Event()

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        await self.release.wait()
        await super().publish(events)


async def test_a_failed_publication_is_logged_and_the_events_stay_stored(
    storage: SqliteStorage, netra_logs: pytest.LogCaptureFixture
) -> None:
    backplane = BrokerDown()
    await backplane.subscribe("alice")
    sink = Sink()
    async with trio.open_nursery() as nursery:
        await nursery.start(backplane.run, sink)
        log = EventLog(storage.events, backplane)
        await nursery.start(log.run)
        producer = log.producer(EventSource("alice", "r-1", "t-1"))
        with trio.fail_after(5):
            await producer.put("agent_thinking", BODY)
            # stored, so the run goes on: its seq is the store's
            assert await producer.put_and_wait("agent_thinking", BODY) == 2
        assert backplane.refused >= 1 and sink.events == []
        failures = [r for r in netra_logs.records if r.getMessage() == "event_publish_error"]
        assert failures and all(r.levelno == logging.ERROR for r in failures)
        assert failures[0].netra_fields["user"] == "alice"  # type: ignore[attr-defined]
        assert failures[0].netra_fields["seq"] == 1  # type: ignore[attr-defined]
        assert failures[0].exc_info is not None  # the broker's own error, for the operator
        assert isinstance(failures[0].exc_info[1], ConnectionError)
        # what was not published is in the store: a resume reads it from there
        stored = await storage.events.events_after("alice", 0)
        assert [(e.seq, e.run_id, e.thread_id) for e in stored] == [
            (1, "r-1", "t-1"),
            (2, "r-1", "t-1"),
        ]
        # the broker is back: the next batch is published, numbered after the others
        backplane.down = False
        with trio.fail_after(5):
            assert await producer.put_and_wait("agent_thinking", BODY) == 3
        assert sink.seqs == [3]
        nursery.cancel_scope.cancel()


async def test_a_slow_backplane_holds_the_writer_one_batch_ahead_and_order_is_kept(
    storage: SqliteStorage,
) -> None:
    """While a publication waits, the write stage goes on writing: one batch
    waits in the channel, the next one waits with the writer, and later events
    wait in the queue; once the broker catches up all are published in order."""
    backplane = SlowBroker()
    await backplane.subscribe("alice")
    sink = Sink()
    async with trio.open_nursery() as nursery:
        await nursery.start(backplane.run, sink)
        log = EventLog(storage.events, backplane)
        await nursery.start(log.run)
        producer = log.producer(EventSource("alice"))
        with trio.fail_after(5):
            for written in (1, 2, 3):  # one batch each: each is written before the next put
                await producer.put("agent_thinking", BODY)
                while log.batches < written:  # noqa: ASYNC110 - the log's own progress
                    await trio.sleep(0.001)
        await producer.put("agent_thinking", BODY)
        await trio.testing.wait_all_tasks_blocked()
        assert log.batches == 3  # the writer waits for room in the channel
        assert sink.events == []
        backplane.release.set()
        with trio.fail_after(5):
            assert await producer.put_and_wait("agent_thinking", BODY) == 5
        await trio.testing.wait_all_tasks_blocked()  # (stored, then published)
        assert sink.seqs == [1, 2, 3, 4, 5]
        nursery.cancel_scope.cancel()
