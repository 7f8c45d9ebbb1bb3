"""The event log's writer: group commit, then delivery in seq order.

Every agent event is stored before it is sent. Events from all users queue
here (``submit`` does not wait for the commit, ``append`` does); one task
writes whatever is queued in a single transaction, and delivers each committed
batch (synchronously, in commit order: each run of consecutive events that
share a ``deliver`` callback in one call, then the appenders are woken) while
the next batch is being written, or at once when nothing else is queued.
Producers wait only while the queue is full (room is handed to them one at
a time), and an event is made (and timestamped) only once it has a place in
the queue, so the time it spends here is part of its measured latency; the
queue is kept short (one batch) for that reason. Delivering from one task,
batch after batch (not from the woken appenders, whose wake-up order trio does
not promise), is what keeps ``seq`` increasing on every connection of a user,
across concurrent runs. A batch is delivered inside a delivery round
(``server/delivery.py``): each connection it touches writes once, at the end.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import attrs
import trio

from netra_trio.logs import log_event
from netra_trio.server.delivery import DeliveryRound
from netra_trio.storage.base import NewEvent, Storage, StorageError, StoredEvent

MakeEvent = Callable[[], NewEvent]
# Called with a run of consecutive committed events that share the callback
# (one producer's burst), in seq order: one call per burst, not per event.
Deliver = Callable[[list[StoredEvent]], None]
Fail = Callable[[StorageError], None]


@attrs.define
class _Pending:
    event: NewEvent
    deliver: Deliver
    fail: Fail | None = None
    done: trio.Event | None = None  # only for appends that wait
    stored: StoredEvent | None = None
    error: StorageError | None = None


class EventLog:
    def __init__(self, storage: Storage, *, max_batch: int = 1024, max_pending: int = 1024) -> None:
        self._storage = storage
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._lot = trio.lowlevel.ParkingLot()
        self._space = trio.lowlevel.ParkingLot()
        self._max_pending = max_pending
        self._in_flight = 0  # batches taken from the queue and not yet delivered
        self._quiet = trio.lowlevel.ParkingLot()
        self._quiet_due = False  # a batch was delivered while low-value work waited
        self.delivery = DeliveryRound()  # connections flush once per delivered batch
        self.batches = 0
        self.events = 0

    async def append(self, make_event: MakeEvent, deliver: Deliver) -> StoredEvent:
        """Store the event, hand it to ``deliver``, and return it with its seq.

        Raises StorageError when it could not be stored (then nothing was sent)."""
        done = trio.Event()
        pending = await self._enqueue(make_event, deliver, None, done)
        await done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.stored is not None
        return pending.stored

    async def submit(self, make_event: MakeEvent, deliver: Deliver, fail: Fail) -> None:
        """Queue the event without waiting for its commit: it is stored, then
        delivered, in queue order; ``fail`` hears of a failed write instead.
        Waits only while the log is full (backpressure)."""
        await self._enqueue(make_event, deliver, fail, None)

    def submit_nowait(self, make_event: MakeEvent, deliver: Deliver, fail: Fail) -> bool:
        """:meth:`submit` without the wait: queue the event and return True when
        the log has room; False (nothing queued) when it is full. No
        checkpoint: the caller makes one."""
        if len(self._queue) >= self._max_pending:
            return False
        self._put(make_event, deliver, fail, None)
        return True

    async def _enqueue(
        self, make_event: MakeEvent, deliver: Deliver, fail: Fail | None, done: trio.Event | None
    ) -> _Pending:
        # The event is made once there is room for it: its timestamp is when it
        # entered the log, and the time it then spends here counts as latency.
        if len(self._queue) >= self._max_pending:
            while len(self._queue) >= self._max_pending:
                await self._space.park()
            # Room is handed on one producer at a time: each one woken for room
            # wakes the next while room is left (a producer usually queues a
            # burst before it parks), instead of all of them waking at once to
            # find the queue full again.
            if len(self._queue) + 1 < self._max_pending and self._space:
                self._space.unpark()
        pending = self._put(make_event, deliver, fail, done)
        # Cancellation is honoured here, but a producer only gives up the CPU when
        # it has to wait (for room here, or for its run's window to reopen): one
        # scheduler round per burst of events instead of one per event.
        await trio.lowlevel.checkpoint_if_cancelled()
        return pending

    def _put(
        self, make_event: MakeEvent, deliver: Deliver, fail: Fail | None, done: trio.Event | None
    ) -> _Pending:
        pending = _Pending(make_event(), deliver, fail, done)
        self._queue.append(pending)
        if self._lot:
            self._lot.unpark()
        return pending

    async def yield_to_events(self) -> None:
        """Low-value work (typing indicators) calls this first: while events are
        queued or being written, it waits until the next batch has been
        delivered and the tasks woken by that delivery (appenders, emitters,
        writers) have had their turn: released at the log's next checkpoint,
        once the following batch is written or at once when nothing is queued.
        At most two commit cycles, so the caller always makes progress."""
        if self._queue or self._in_flight:
            await self._quiet.park()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # One task, two stages: batch N, once committed, is delivered while batch
        # N+1 is being written (from ``append_events``' ``while_writing`` hook,
        # right after N+1 is handed to the storage thread), or at once when
        # nothing else is queued. Every committed batch is delivered, even when
        # the log is cancelled.
        task_status.started()
        committed: list[_Pending] = []
        try:
            while True:
                while not self._queue:
                    if committed:
                        self._delivered(committed)
                        committed = []
                    elif self._quiet_due:
                        await trio.lowlevel.checkpoint()  # those the delivery woke go first
                        self._release_quiet()
                    else:
                        await self._lot.park()
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                if self._space:
                    self._space.unpark()  # who it wakes wakes the next (see _enqueue)
                self._in_flight += 1
                with trio.CancelScope(shield=True):  # a batch is written whole or fails whole
                    previous, committed = committed, []
                    await self._write(batch, functools.partial(self._delivered, previous))
                    committed = batch
                if self._quiet_due:  # the delivery's tasks ran while the batch was written
                    self._release_quiet()
        finally:
            if committed:
                self._delivered(committed)
            self._release_quiet()

    def _delivered(self, batch: list[_Pending]) -> None:
        """Deliver a committed batch (an empty one, when there was none, is a no-op)."""
        if batch:
            with self.delivery.open():
                self._deliver(batch)
            self._in_flight -= 1
            self._quiet_due = bool(self._quiet)

    def _release_quiet(self) -> None:
        self._quiet_due = False
        self._quiet.unpark_all()

    async def _write(self, batch: list[_Pending], while_writing: Callable[[], object]) -> None:
        called = False

        def overlap() -> None:  # once, even when the write fails before its hook
            nonlocal called
            if not called:
                called = True
                while_writing()

        try:
            stored = await self._storage.append_events(
                [p.event for p in batch], while_writing=overlap
            )
        except StorageError as exc:
            log_event("event_log_error", logging.ERROR, events=len(batch), error=str(exc))
            for pending in batch:
                pending.error = exc
            return
        finally:
            overlap()
        self.batches += 1
        self.events += len(batch)
        for pending, record in zip(batch, stored, strict=True):
            pending.stored = record

    @staticmethod
    def _deliver(batch: list[_Pending]) -> None:
        i, end = 0, len(batch)
        while i < end:
            pending = batch[i]
            if pending.error is not None:
                if pending.fail is not None:
                    try:
                        pending.fail(pending.error)
                    except Exception:
                        log_event("event_fail_callback_error", logging.ERROR, exc_info=True)
                if pending.done is not None:
                    pending.done.set()
                i += 1
                continue
            deliver = pending.deliver
            j = i + 1
            while j < end and batch[j].deliver is deliver and batch[j].error is None:
                j += 1
            run = batch[i:j]
            stored = [p.stored for p in run]
            try:
                deliver(stored)  # type: ignore[arg-type]  # set on every event without error
            except Exception:
                first = stored[0]
                assert first is not None
                log_event(
                    "event_delivery_error",
                    logging.ERROR,
                    user=first.user_id,
                    seq=first.seq,
                    events=len(stored),
                    exc_info=True,
                )
            for p in run:
                if p.done is not None:
                    p.done.set()
            i = j
