"""``resume`` while live events keep coming: the live events held around the
replay overflow half of the connection's queue and are dropped, and the replay
reads them from the store instead, so the client gets every event exactly
once, in order.

The first test runs a real connection on the shell tier (a client that stops
reading, so the replay waits for room in the queue while the events arrive).
The others drive :class:`Replay` against a real SQLite event store and a small
target standing in for the connection, to place the live events exactly: in
the middle of a read, and after the connection has closed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from netra_trio.core.priority import QueueBounds
from netra_trio.pipeline.event_log import EventSource
from netra_trio.server.replay import Replay
from netra_trio.server.scheduler import OutboundFrame, event_frame
from netra_trio.storage.base import EventStore
from netra_trio.storage.records import ReplayWindow, StoredEvent
from netra_trio.storage.sqlite import SqliteStorage
from tests.server.harness import open_raw, running_hub, wait_until

BODY = {"agent_name": "a", "thought": "t", "step": 1}


async def test_live_events_overflowing_the_hold_during_a_resume_are_read_from_the_store(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(
        queue_max_frames=8, heartbeat_interval_s=600, heartbeat_timeout_s=600
    ) as (hub, nursery):
        log = hub.services.event_log
        earlier = log.producer(EventSource("alice", "r-1", "t-1"))
        for _ in range(19):
            await earlier.put("agent_thinking", BODY)
        assert await earlier.put_and_wait("agent_thinking", BODY) == 20
        client = await open_raw(hub, nursery, "alice", pair=trio.testing.lockstep_stream_pair)
        user_hub = hub.users.get("alice")
        assert user_hub is not None
        (connection,) = user_hub.connections
        await client.send_json({"type": "resume", "payload": {"last_seq": 0}, "message_id": "r"})
        # The client reads nothing: the writer waits on the socket with the
        # first frames, and the replay waits with half of the queue full.
        await wait_until(lambda: len(connection.outbound.scheduler) == 4, interval_s=0.01)
        live = log.producer(EventSource("alice", "r-2", "t-2"))
        for _ in range(5):
            await live.put("agent_thinking", BODY)
        # 4 are held, the 5th overflows (all are dropped), the 6th is held
        assert await live.put_and_wait("agent_thinking", BODY) == 26
        client.start_pump(nursery)
        seqs: list[int] = []
        done: dict[str, Any] = {}
        with trio.fail_after(60):
            while not done:
                frame = await client.next_frame()
                if frame["type"] == "resume_complete":
                    done = frame
                else:
                    seqs.append(frame["seq"])
            await client.send_json({"type": "ping", "message_id": "p"})
            while (frame := await client.next_frame())["type"] != "pong":
                seqs.append(frame["seq"])  # a live event after the replay would be here
        assert seqs == list(range(1, 27))  # each once, in order
        assert done["payload"] == {"replayed": 26, "gap": False}  # all read from the store
        assert done["correlation_id"] == "r"
        assert connection.is_open


# -- Replay on its own ------------------------------------------------------------------


class Target:
    """The connection as the replay sees it: frames pushed, room always."""

    def __init__(self, *, open_for: int = 1_000_000) -> None:
        self.frames: list[OutboundFrame] = []
        self._open_for = open_for  # frames pushed before the connection closes

    @property
    def is_open(self) -> bool:
        return len(self.frames) < self._open_for

    def push(self, frames: Iterable[OutboundFrame]) -> None:
        if self.is_open:
            self.frames.extend(frames)

    async def wait_for_room(self, frames: int, nbytes: int) -> None:
        await trio.lowlevel.checkpoint()

    @property
    def seqs(self) -> list[int | None]:
        return [f.seq for f in self.frames]


class LandsDuringReads:
    """The event store, where ``landing`` runs after each read has seen the
    store and before the replay gets the page: events committed and published
    while the read was in flight (another process's writes to a shared store,
    or a slow read)."""

    def __init__(
        self, store: EventStore, landing: Callable[[list[StoredEvent]], Awaitable[None]]
    ) -> None:
        self._store = store
        self._landing = landing

    async def last_seqs(self, user_ids: Sequence[str]) -> dict[str, int]:
        return await self._store.last_seqs(user_ids)

    async def append(self, events: Sequence[StoredEvent]) -> None:
        await self._store.append(events)

    async def events_after(self, user_id: str, seq: int, *, limit: int = 1000) -> list[StoredEvent]:
        page = await self._store.events_after(user_id, seq, limit=limit)
        await self._landing(page)
        return page

    async def replay_window(self, user_id: str) -> ReplayWindow:
        return await self._store.replay_window(user_id)


def stored(seq: int) -> StoredEvent:
    frame = f'{{"type":"agent_thinking","seq":{seq}}}'
    return StoredEvent("alice", seq, "agent_thinking", "r-1", "t-1", frame, time.time())


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    opened = await SqliteStorage.open(tmp_path / "netra.db")
    await opened.events.append([stored(seq) for seq in (1, 2, 3)])
    yield opened
    await opened.close()


async def test_events_dropped_while_the_last_read_was_in_flight_are_read_again(
    storage: SqliteStorage,
) -> None:
    """The read that finds nothing new was already under way when three more
    events were published (more than the hold keeps, so they were dropped):
    the replay reads once more instead of ending without them."""
    replay: Replay

    async def landing(page: list[StoredEvent]) -> None:
        if page or landed:
            return
        landed.extend(stored(seq) for seq in (4, 5, 6))
        await storage.events.append(landed)
        for event in landed:  # what the connection does with a published event
            assert replay.holding
            assert replay.hold(event_frame("alice", event.frame, event.seq)) is None

    landed: list[StoredEvent] = []
    replay = Replay(
        LandsDuringReads(storage.events, landing),
        "alice",
        hold=QueueBounds(2, 1 << 19),
    )
    target = Target()
    with trio.fail_after(5):
        assert await replay.replay(1, target) == (5, False)
    assert landed  # the events did land during the last read
    assert target.seqs == [2, 3, 4, 5, 6]
    assert not replay.holding  # live events go straight to the queue again


async def test_held_events_the_replay_also_read_are_sent_once(storage: SqliteStorage) -> None:
    """An event held during the replay that the replay then read from the
    store is not sent a second time when the hold ends; a newer one is."""
    replay: Replay

    async def publish(seq: int) -> None:
        await storage.events.append([stored(seq)])
        assert replay.hold(event_frame("alice", stored(seq).frame, seq)) is None

    async def landing(page: list[StoredEvent]) -> None:
        if page and page[-1].seq == 3:  # during the first read: held, and read next
            await publish(4)
        elif not page:  # during the read that finds nothing new: held only
            await publish(5)

    replay = Replay(
        LandsDuringReads(storage.events, landing),
        "alice",
        hold=QueueBounds(4, 1 << 19),
    )
    target = Target()
    with trio.fail_after(5):
        assert await replay.replay(0, target) == (4, False)
    assert target.seqs == [1, 2, 3, 4, 5]


async def test_a_replay_stops_when_its_connection_closes(storage: SqliteStorage) -> None:
    reads: list[int] = []

    async def landing(page: list[StoredEvent]) -> None:
        reads.append(len(page))

    replay = Replay(
        LandsDuringReads(storage.events, landing),
        "alice",
        hold=QueueBounds(4, 1 << 19),
    )
    target = Target(open_for=2)
    with trio.fail_after(5):
        assert await replay.replay(0, target) == (2, False)
    assert target.seqs == [1, 2]
    assert reads == [3]  # no read after the connection closed
