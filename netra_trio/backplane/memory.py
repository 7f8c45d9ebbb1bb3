"""The in-process backplane: publishing hands a batch straight to the sink.

One process needs nothing else: :meth:`MemoryBackplane.publish` calls the
deliverer synchronously with the events of the users subscribed here. Several
backplanes may share one :class:`MemoryBus` (several nodes in one process, as
the conformance check uses them); each receives only its own users' events,
and the notices of its users that the others send.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

from netra_trio.backplane.base import EventSink
from netra_trio.backplane.notices import Notice
from netra_trio.storage.records import StoredEvent


class MemoryBus:
    """What the backplanes of one process share."""

    def __init__(self) -> None:
        self.nodes: list[MemoryBackplane] = []


class MemoryBackplane:
    def __init__(self, bus: MemoryBus | None = None) -> None:
        self._bus = bus or MemoryBus()
        self._bus.nodes.append(self)
        self._users: set[str] = set()
        self._sink: EventSink | None = None

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        for node in self._bus.nodes:
            node._receive(events)

    def _receive(self, events: Sequence[StoredEvent]) -> None:
        sink, users = self._sink, self._users
        if sink is None or not users:
            return
        mine = [event for event in events if event.user_id in users]
        if mine:
            sink.deliver(mine)

    async def notify(self, notice: Notice) -> int:
        reached = 0
        for node in self._bus.nodes:
            if node is not self and notice.user_id in node._users and node._sink is not None:
                node._sink.notice(notice)
                reached += 1
        return reached

    async def subscribe(self, user_id: str) -> None:
        self._users.add(user_id)

    def unsubscribe(self, user_id: str) -> None:
        self._users.discard(user_id)

    async def run(
        self, sink: EventSink, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._sink = sink
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            self._sink = None
