"""The backplane over Redis pub/sub: committed events to every process that holds their users.

Each user has a channel (``{prefix}u:{user_id}``). Publishing sends each user's
events of a committed batch as one message on that user's channel, all of a
batch's messages in one round trip (a pipeline): Redis work per event is O(1),
and a process receives only the channels of the users it subscribed to, those
with a hub on it. One pub/sub connection per process carries its
subscriptions; coredis reconnects it (with backoff) and subscribes again after
a loss.

Processes store and publish their batches independently, so a user's batch
numbered later may arrive first. The receiving side keeps each user's events in
``seq`` order (``core/ordering.py``): it holds what arrives early, and when a
``seq`` stays missing for ``gap_wait_s`` it reads the missing events from the
event store, where every published event was stored before it was published.
On subscribing, it reads the user's last stored ``seq`` and hands on only what
comes after it: what was stored before is for ``resume``.

A message is one line per event: ``[seq, type, run_id, thread_id, created_at]``
as JSON, a tab, and the frame (JSON frames hold no raw tab or newline); or
``!`` and a notice (``notices.py``), which names the process that sent it, so
that this process skips its own.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Sequence
from typing import Any

import coredis
import coredis.exceptions
import orjson
import trio

from netra_trio.backplane.base import BackplaneUnavailable, EventSink
from netra_trio.backplane.notices import Notice, decode_notice, encode_notice
from netra_trio.core.ordering import InOrder
from netra_trio.logs import log_event
from netra_trio.storage.base import EventStore, StorageError
from netra_trio.storage.records import StoredEvent

GAP_WAIT_S = 0.5  # how long a missing seq may stay missing before the store is read
_FILL_PAGE = 1000
_NOTICE = b"!"


def encode_events(events: Sequence[StoredEvent]) -> bytes:
    return b"\n".join(
        orjson.dumps([e.seq, e.type, e.run_id, e.thread_id, e.created_at])
        + b"\t"
        + e.frame.encode()
        for e in events
    )


def decode_events(user_id: str, data: bytes) -> list[StoredEvent]:
    events = []
    for line in data.split(b"\n"):
        head, _, frame = line.partition(b"\t")
        seq, kind, run_id, thread_id, created_at = orjson.loads(head)
        events.append(
            StoredEvent(user_id, seq, kind, run_id, thread_id, frame.decode(), created_at)
        )
    return events


class RedisBackplane:
    def __init__(
        self,
        client: coredis.Redis[bytes],
        events: EventStore,
        *,
        prefix: str = "netra:",
        gap_wait_s: float = GAP_WAIT_S,
        node_id: str | None = None,
    ) -> None:
        self.node_id = node_id or secrets.token_hex(8)
        self._client = client
        self._events = events
        self._prefix = prefix
        self._gap_wait_s = gap_wait_s
        self._users: dict[str, InOrder[StoredEvent]] = {}
        self._pubsub: Any = None  # coredis's PubSub, while run() runs
        self._nursery: trio.Nursery | None = None
        self._sink: EventSink | None = None
        self._gaps = trio.lowlevel.ParkingLot()  # the gap filler, waiting for a gap

    def _channel(self, user_id: str) -> str:
        return f"{self._prefix}u:{user_id}"

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        by_user: dict[str, list[StoredEvent]] = {}
        for event in events:
            by_user.setdefault(event.user_id, []).append(event)
        async with self._client.pipeline(transaction=False) as pipe:
            for user_id, mine in by_user.items():
                pipe.publish(self._channel(user_id), encode_events(mine))

    async def notify(self, notice: Notice) -> int:
        data = _NOTICE + encode_notice(self.node_id, notice)
        try:
            receivers = await self._client.publish(self._channel(notice.user_id), data)
        except (coredis.exceptions.RedisError, OSError, TimeoutError) as exc:
            raise BackplaneUnavailable(f"Redis: {exc}") from exc
        return max(0, receivers - (notice.user_id in self._users))

    async def subscribe(self, user_id: str) -> None:
        if user_id in self._users:
            return
        if self._pubsub is None:
            raise RuntimeError("the backplane's receiving side is not running")
        await self._pubsub.subscribe(self._channel(user_id))
        # from here on the user's messages arrive; what was stored before is
        # not handed on (a client asks for it with resume)
        window = await self._events.replay_window(user_id)
        self._users.setdefault(user_id, InOrder(window.last_seq + 1))

    def unsubscribe(self, user_id: str) -> None:
        if self._users.pop(user_id, None) is not None and self._nursery is not None:
            self._nursery.start_soon(self._unsubscribe_channel, self._channel(user_id))

    async def _unsubscribe_channel(self, channel: str) -> None:
        try:
            await self._pubsub.unsubscribe(channel)
        except Exception:  # the subscription ends with the connection anyway
            log_event("backplane_unsubscribe_error", logging.WARNING, exc_info=True)

    async def run(
        self, sink: EventSink, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._sink = sink
        try:
            async with (
                self._client.pubsub(ignore_subscribe_messages=True) as pubsub,
                trio.open_nursery() as nursery,
            ):
                self._pubsub, self._nursery = pubsub, nursery
                nursery.start_soon(self._fill_gaps)
                task_status.started()
                while True:  # (iterating the PubSub ends while nothing is subscribed)
                    message = await pubsub.get_message()
                    if message is not None:
                        self._received(message)
        finally:
            self._pubsub = self._nursery = self._sink = None

    def _received(self, message: Any) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        user_id = channel[len(self._prefix) + 2 :]
        order = self._users.get(user_id)
        if order is None or self._sink is None:
            return  # unsubscribed meanwhile
        data = message["data"]
        data = data if isinstance(data, bytes) else data.encode()
        if data.startswith(_NOTICE):
            self._notice(user_id, data[1:])
            return
        events = decode_events(user_id, data)
        ready = order.offer(events, trio.current_time())
        if ready:
            self._sink.deliver(ready)
        if order.missing_since is not None:
            self._gaps.unpark()

    def _notice(self, user_id: str, data: bytes) -> None:
        try:
            origin, notice = decode_notice(user_id, data)
        except ValueError as exc:
            log_event("backplane_bad_notice", logging.WARNING, user=user_id, error=str(exc))
            return
        if origin != self.node_id and self._sink is not None:
            self._sink.notice(notice)

    async def _fill_gaps(self) -> None:
        """Read from the store the events that stayed missing ``gap_wait_s``."""
        while True:
            due = math.inf
            for order in self._users.values():
                if order.missing_since is not None:
                    due = min(due, order.missing_since + self._gap_wait_s)
            if due == math.inf:
                await self._gaps.park()
                continue
            if due > trio.current_time():
                with trio.move_on_at(due):
                    await self._gaps.park()
                continue
            now = trio.current_time()
            for user_id, order in list(self._users.items()):
                since = order.missing_since
                due_now = since is not None and since + self._gap_wait_s <= now
                if due_now and not await self._fill(user_id, order):
                    await trio.sleep(self._gap_wait_s)  # the store failed: not in a loop

    async def _fill(self, user_id: str, order: InOrder[StoredEvent]) -> bool:
        """Read the missing events from the store; False when it failed."""
        expected = order.next_seq
        try:
            stored = await self._events.events_after(user_id, expected - 1, limit=_FILL_PAGE)
        except StorageError as exc:
            log_event("backplane_gap_error", logging.ERROR, user=user_id, error=str(exc))
            return False
        ready = order.fill(stored)
        if order.next_seq == expected:
            ready += order.skip_gap()  # not in the store either (retention): go on
        if ready and self._sink is not None and self._users.get(user_id) is order:
            self._sink.deliver(ready)
        return True
