"""The backplane over Redis pub/sub: committed events to every process that holds their users.

Each user has a channel (``{prefix}u:{user_id}``). Publishing hands a batch to
this process's own connections first, without Redis, then sends each user's
events of the batch as one message on that user's channel, all of a batch's
messages in one write and their answers in one read (``redis_publisher.py``):
Redis work per event is O(1), and a process receives only the channels of the
users it subscribed to, those with a hub on it, on one subscriber connection
read in batches (``redis_subscriber.py``). A process skips its own messages
(each names the process that sent it).

Processes store and publish their batches independently, so a user's batch
numbered later may arrive first. The receiving side keeps each user's events in
``seq`` order (``core/ordering.py``): it holds what arrives early, and when a
``seq`` stays missing for ``gap_wait_s`` it reads the missing events from the
event store, where every published event was stored before it was published.
On subscribing, it reads the user's last stored ``seq`` and hands on only what
comes after it: what was stored before is for ``resume``.

When Redis is lost, events go on being stored and delivered to this process's
connections; the batches that could not be sent wait (up to
``MAX_UNSENT_EVENTS``, the oldest dropped first: the other processes read
those from the store when they see the gap) and are sent in order once Redis
answers again. The subscriber connection reconnects by itself (with backoff)
and subscribes again; each channel confirmed again is read up from the store,
for what was published while it was away.

A message is the sending process's id, a space, then either the events
(``redis_messages.py``) or ``!`` and a notice (``notices.py``).

(About 300 lines: publishing, the receiving side and the reading up after a
gap or a loss all work on each user's ordering state, which stays private here;
the connections and the message format are modules of their own.)
"""

from __future__ import annotations

import logging
import math
import secrets
from collections import deque
from collections.abc import Sequence

import trio

from netra_trio.backplane.base import BackplaneUnavailable, EventSink
from netra_trio.backplane.notices import Notice, decode_notice, encode_notice
from netra_trio.backplane.redis_messages import decode_events, encode_events, group_by_user
from netra_trio.backplane.redis_publisher import Publisher
from netra_trio.backplane.redis_subscriber import Messages, Subscriber
from netra_trio.cluster.health import ServiceHealth, ServiceUnavailable
from netra_trio.core.ordering import InOrder
from netra_trio.logs import log_event
from netra_trio.storage.base import EventStore, StorageError
from netra_trio.storage.records import StoredEvent

GAP_WAIT_S = 0.5  # how long a missing seq may stay missing before the store is read
MAX_UNSENT_EVENTS = 100_000  # kept while Redis is away, to send when it is back
_FILL_PAGE = 1000
_NOTICE = b"!"


class RedisBackplane:
    def __init__(
        self,
        events: EventStore,
        *,
        prefix: str = "netra:",
        gap_wait_s: float = GAP_WAIT_S,
        node_id: str | None = None,
        health: ServiceHealth | None = None,
        max_unsent_events: int = MAX_UNSENT_EVENTS,
        url: str,
    ) -> None:
        self.node_id = node_id or secrets.token_hex(8)
        self.health = health or ServiceHealth("Redis")
        self._origin = self.node_id.encode() + b" "
        self._events = events
        self._prefix = prefix
        self._gap_wait_s = gap_wait_s
        self._users: dict[str, InOrder[StoredEvent]] = {}
        self._confirmed: set[bytes] = set()  # channels whose subscription Redis confirmed
        self._unsent: deque[StoredEvent] = deque(maxlen=max_unsent_events)
        self._pushed_out = 0  # how many _keep pushed out of the full deque, ever
        self._subscriber = Subscriber(url, self.health, self._received, self._subscribed)
        self._publisher = Publisher(url, self.health)
        self._nursery: trio.Nursery | None = None
        self._sink: EventSink | None = None
        self._gaps = trio.lowlevel.ParkingLot()  # the gap filler, waiting for a gap
        self._unsent_lot = trio.lowlevel.ParkingLot()  # the sender of what waits

    @property
    def unsent(self) -> int:
        return len(self._unsent)

    def _channel(self, user_id: str) -> str:
        return f"{self._prefix}u:{user_id}"

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        by_user = group_by_user(events)
        now = trio.current_time()
        for user_id, mine in by_user.items():  # this process's connections: no Redis
            order = self._users.get(user_id)
            if order is not None:
                self._offer(user_id, order, mine, now)
        if self._unsent or not self.health.up:
            self._keep(events)  # behind what waits already: the order holds
            return
        try:
            await self._send(by_user)
        except ServiceUnavailable:  # (marked down)
            self._keep(events)

    async def _send(self, by_user: dict[str, list[StoredEvent]]) -> None:
        origin = self._origin
        await self._publisher.publish(
            [
                (self._channel(user_id).encode(), origin + encode_events(mine))
                for user_id, mine in by_user.items()
            ]
        )

    def _keep(self, events: Sequence[StoredEvent]) -> None:
        dropped = len(self._unsent) + len(events) - (self._unsent.maxlen or 0)
        if dropped > 0:
            self._pushed_out += dropped
            log_event("backplane_unsent_dropped", logging.WARNING, events=dropped)
        self._unsent.extend(events)
        self._unsent_lot.unpark_all()

    async def _send_unsent(self) -> None:
        """Send what waited for Redis, in order, once it answers again (tried
        after a backoff that doubles)."""
        while True:
            if not self._unsent:
                await self._unsent_lot.park()
                continue
            batch, pushed_out = list(self._unsent), self._pushed_out
            try:
                await self._send(group_by_user(batch))
            except ServiceUnavailable:
                await trio.sleep(self.health.next_wait())
                continue
            # publish may have kept more meanwhile, and on a full deque that
            # pushed out the oldest of the batch: those are gone, not to pop
            gone = min(self._pushed_out - pushed_out, len(batch))
            for _ in range(len(batch) - gone):
                self._unsent.popleft()
            log_event("backplane_unsent_sent", events=len(batch))

    async def notify(self, notice: Notice) -> int:
        data = self._origin + _NOTICE + encode_notice(self.node_id, notice)
        try:
            self.health.check()
            (receivers,) = await self._publisher.publish(
                [(self._channel(notice.user_id).encode(), data)]
            )
        except ServiceUnavailable as exc:
            raise BackplaneUnavailable(str(exc)) from exc
        return max(0, receivers - (notice.user_id in self._users))

    async def subscribe(self, user_id: str) -> None:
        if user_id in self._users:
            return
        if self._nursery is None:
            raise RuntimeError("the backplane's receiving side is not running")
        try:
            self.health.check()
            await self._subscriber.subscribe(self._channel(user_id))
        except ServiceUnavailable as exc:
            raise BackplaneUnavailable(str(exc)) from exc
        # from here on the user's messages arrive; what was stored before is
        # not handed on (a client asks for it with resume)
        try:
            window = await self._events.replay_window(user_id)
        except BaseException:
            channel = self._channel(user_id)
            self._subscriber.drop(channel)
            if self._nursery is not None:
                self._nursery.start_soon(self._unsubscribe_channel, channel)
            raise
        self._users.setdefault(user_id, InOrder(window.last_seq + 1))

    def unsubscribe(self, user_id: str) -> None:
        if self._users.pop(user_id, None) is not None and self._nursery is not None:
            channel = self._channel(user_id)
            self._subscriber.drop(channel)  # now: a subscribe that follows starts afresh
            self._confirmed.discard(channel.encode())
            self._nursery.start_soon(self._unsubscribe_channel, channel)

    async def _unsubscribe_channel(self, channel: str) -> None:
        try:
            await self._subscriber.unsubscribe(channel)
        except ServiceUnavailable:  # the subscription ends with the connection anyway
            log_event("backplane_unsubscribe_lost", logging.WARNING, channel=channel)

    async def run(
        self, sink: EventSink, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._sink = sink
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self._subscriber.run)
                self._nursery = nursery
                nursery.start_soon(self._fill_gaps)
                nursery.start_soon(self._send_unsent)
                task_status.started()
        finally:
            self._nursery = self._sink = None
            with trio.CancelScope(shield=True):
                await self._publisher.aclose()

    def _received(self, messages: Messages) -> None:
        """What one read from the subscriber connection brought: each user's
        events in order, all of them handed on in one call."""
        sink, prefix, users, ready = self._sink, len(self._prefix) + 2, self._users, []
        now = trio.current_time()
        for channel, data in messages:
            user_id = channel[prefix:].decode()
            order = users.get(user_id)
            if order is None or sink is None:
                continue  # unsubscribed meanwhile
            origin, _, body = data.partition(b" ")
            if origin + b" " == self._origin:
                continue  # handed on when it was published
            if body.startswith(_NOTICE):
                self._notice(user_id, body[1:])
                continue
            try:
                events = decode_events(user_id, body)
            except ValueError as exc:
                log_event("backplane_bad_message", logging.WARNING, user=user_id, error=str(exc))
                continue
            ready += order.offer(events, now)
            if order.missing_since is not None:
                self._gaps.unpark()
        if ready and sink is not None:
            sink.deliver(ready)

    def _offer(
        self, user_id: str, order: InOrder[StoredEvent], events: list[StoredEvent], now: float
    ) -> None:
        self._hand_on(user_id, order, order.offer(events, now))
        if order.missing_since is not None:
            self._gaps.unpark()

    def _subscribed(self, channel: bytes) -> None:
        """Redis confirmed a subscription: the first time, nothing to do; again
        (the connection was lost), read what was published meanwhile."""
        if channel not in self._confirmed:
            self._confirmed.add(channel)
            return
        user_id = channel[len(self._prefix) + 2 :].decode()
        order = self._users.get(user_id)
        if order is not None and self._nursery is not None:
            self._nursery.start_soon(self._fill, user_id, order)

    def _hand_on(self, user_id: str, order: InOrder[StoredEvent], ready: list[StoredEvent]) -> None:
        if ready and self._sink is not None and self._users.get(user_id) is order:
            self._sink.deliver(ready)

    def _notice(self, user_id: str, data: bytes) -> None:
        try:
            _, notice = decode_notice(user_id, data)
        except ValueError as exc:
            log_event("backplane_bad_notice", logging.WARNING, user=user_id, error=str(exc))
            return
        if self._sink is not None:
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
                if due_now and not await self._fill(user_id, order, skip_gap=True):
                    await trio.sleep(self._gap_wait_s)  # the store failed: not in a loop

    async def _fill(
        self, user_id: str, order: InOrder[StoredEvent], *, skip_gap: bool = False
    ) -> bool:
        """Read from the store what follows the last event handed on; with
        ``skip_gap``, go on past a gap that the store cannot close either.
        False when the store failed."""
        expected = order.next_seq
        while True:
            after = order.next_seq - 1
            try:
                stored = await self._events.events_after(user_id, after, limit=_FILL_PAGE)
            except StorageError as exc:
                log_event("backplane_gap_error", logging.ERROR, user=user_id, error=str(exc))
                return False
            ready = order.fill(stored)
            if skip_gap and order.next_seq == expected:
                ready += order.skip_gap()  # not in the store either (retention): go on
            self._hand_on(user_id, order, ready)
            if len(stored) < _FILL_PAGE or self._users.get(user_id) is not order:
                return True
