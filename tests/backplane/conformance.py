"""The one check every backplane must pass (``netra_trio/backplane/base.py``).

``new_node`` opens one more node on the same medium (for the in-process
backplane, a node on a shared bus; for one over a network, a client of the same
server), as a separate process of a cluster would. Each node's receiving side
runs with a sink that collects what it is handed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

import trio

from netra_trio.backplane.base import Backplane
from netra_trio.backplane.notices import FanOut, Notice, StopRun
from netra_trio.core.priority import Priority
from netra_trio.storage.records import StoredEvent

NewNode = Callable[[], AbstractAsyncContextManager[Backplane]]
WAIT_S = 10.0
CREATED_AT = time.time()


def event(user: str, seq: int) -> StoredEvent:
    """An event as the event log makes them (created now: retention keeps it)."""
    frame = f'{{"u":"{user}","seq":{seq}}}'
    return StoredEvent(user, seq, "agent_thinking", "r", "t", frame, CREATED_AT)


class Sink:
    """Collects what a node's receiving side hands over; tests wait on it."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.notices: list[Notice] = []
        self._changed = trio.Event()

    def deliver(self, events: Sequence[StoredEvent]) -> None:
        self.events.extend(events)
        self._changed.set()
        self._changed = trio.Event()

    def notice(self, notice: Notice) -> None:
        self.notices.append(notice)
        self._changed.set()
        self._changed = trio.Event()

    async def until_notices(self, count: int) -> list[Notice]:
        with trio.fail_after(WAIT_S):
            while len(self.notices) < count:
                await self._changed.wait()
        return self.notices

    async def until(self, count: int) -> list[StoredEvent]:
        with trio.fail_after(WAIT_S):
            while len(self.events) < count:
                await self._changed.wait()
        return self.events

    def of(self, user: str) -> list[int]:
        return [e.seq for e in self.events if e.user_id == user]


async def check_backplane(new_node: NewNode) -> None:
    async with new_node() as a, new_node() as b, trio.open_nursery() as nursery:
        sink_a, sink_b = Sink(), Sink()
        await nursery.start(a.run, sink_a)
        await nursery.start(b.run, sink_b)
        await a.subscribe("alice")
        await b.subscribe("alice")
        await b.subscribe("bob")

        # a batch reaches every node that holds its users, only their events, each
        # user's in order (the order between users is not kept: their hubs differ)
        await a.publish([event("alice", 1), event("bob", 1), event("carol", 1), event("alice", 2)])
        await sink_b.until(3)
        assert (sink_b.of("alice"), sink_b.of("bob")) == ([1, 2], [1])
        assert len(sink_b.events) == 3
        assert await sink_a.until(2) == [event("alice", 1), event("alice", 2)]

        # from either node, batch after batch, each event exactly once and in order
        for seq in range(3, 43):
            node = a if seq % 2 else b
            await node.publish([event("alice", seq), event("bob", seq - 1)])
        await sink_a.until(42)
        await sink_b.until(3 + 80)
        assert sink_a.of("alice") == list(range(1, 43))
        assert sink_b.of("alice") == list(range(1, 43))
        assert sink_b.of("bob") == list(range(1, 42))
        assert "bob" not in {e.user_id for e in sink_a.events}
        assert "carol" not in {e.user_id for e in sink_a.events + sink_b.events}

        # an empty batch is nothing; after unsubscribing, a user's events stop arriving
        await a.publish([])
        b.unsubscribe("alice")
        await a.publish([event("alice", 43)])
        await a.publish([event("bob", 42)])  # published after: once it is in, so is alice 43
        await sink_b.until(84)
        await sink_a.until(43)
        assert sink_b.events[-1] == event("bob", 42)  # (alice 43 would have come before it)
        assert sink_b.of("alice") == list(range(1, 43))
        assert sink_a.of("alice") == list(range(1, 44))

        # subscribing again takes effect once it returns
        await b.subscribe("alice")
        await b.publish([event("alice", 44)])
        await sink_b.until(85)
        assert sink_b.events[-1] == event("alice", 44)

        # notices go to the *other* nodes that hold their user, not back to the sender
        typing = FanOut("alice", '{"type":"user_typing"}', Priority.LOW, ("user_typing", "c-1"))
        assert await a.notify(typing) == 1
        assert await b.notify(StopRun("bob", "r-1")) == 0  # a does not hold bob
        assert await a.notify(StopRun("carol", "r-2")) == 0  # nobody holds carol
        assert await b.notify(StopRun("alice", "r-3")) == 1
        assert await sink_b.until_notices(1) == [typing]
        assert await sink_a.until_notices(1) == [StopRun("alice", "r-3")]
        nursery.cancel_scope.cancel()
