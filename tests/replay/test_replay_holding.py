"""A connection's :class:`Replay` against a real SQLite event store: live
events that arrive while a ``resume`` is under way are held from the moment
it starts (also a second ``resume`` of the connection, long after the initial
hold), so that each event reaches the client once, in seq order."""

from __future__ import annotations

from collections.abc import Iterable

import trio

from netra_trio.core.priority import QueueBounds
from netra_trio.server.replay import Replay
from netra_trio.server.scheduler import OutboundFrame, event_frame
from netra_trio.storage.records import StoredEvent
from netra_trio.storage.sqlite import SqliteStorage
from tests.gated_store import Gate, GatedStore

USER = "alice"


class Client:
    """The connection as the replay sees it: what is pushed, in order."""

    def __init__(self) -> None:
        self.seqs: list[int | None] = []

    @property
    def is_open(self) -> bool:
        return True

    def push(self, frames: Iterable[OutboundFrame]) -> None:
        self.seqs.extend(frame.seq for frame in frames)

    async def wait_for_room(self, frames: int, nbytes: int) -> None:
        await trio.lowlevel.checkpoint()

    def live(self, replay: Replay, frame: OutboundFrame) -> None:
        """A live event, as the connection takes it (``queue_events``)."""
        if replay.holding:
            released = replay.hold(frame)
            if released is not None:
                self.push(released)
            return
        self.push((frame,))


async def _store(storage: SqliteStorage, seq: int) -> OutboundFrame:
    text = f'{{"type":"agent_thinking","seq":{seq}}}'
    await storage.events.append([StoredEvent(USER, seq, "agent_thinking", "r", "t", text, 0.0)])
    return event_frame(USER, text, seq, "agent_thinking")


async def test_a_later_resume_holds_live_events_from_its_start(storage: SqliteStorage) -> None:
    for seq in (1, 2, 3):
        await _store(storage, seq)
    first_read = Gate()  # the resume's first read of the store waits here
    replay = Replay(
        GatedStore(storage.events, replay_window=first_read),
        USER,
        hold=QueueBounds(max_frames=50, max_bytes=50_000),
    )
    client = Client()
    client.push(replay.end_initial_hold())  # the first frame was not a resume
    client.live(replay, await _store(storage, 4))  # delivered live, as usual
    assert client.seqs == [4]

    async with trio.open_nursery() as nursery:
        outcome: list[tuple[int, bool]] = []

        async def resume() -> None:
            outcome.append(await replay.replay(1, client))

        nursery.start_soon(resume)
        with trio.fail_after(5):
            await first_read.reached.wait()
        # an event stored and published meanwhile, before the replay read anything
        client.live(replay, await _store(storage, 5))
        first_read.go.set()
    assert outcome == [(4, False)]
    assert client.seqs == [4, 2, 3, 4, 5]  # after the resume's last_seq: each once, in order
