"""The event log's writer: group commit, then delivery in seq order.

Every agent event is stored before it is sent. Appends from all users queue
here; one task writes whatever is queued in a single transaction, then calls
each event's ``deliver`` callback synchronously in commit order, and only then
wakes the appenders. Delivering from this task (not from the woken appenders,
whose wake-up order trio does not promise) is what keeps ``seq`` increasing on
every connection of a user, across concurrent runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs
import trio

from netra_trio.logs import log_event
from netra_trio.storage.base import NewEvent, Storage, StorageError, StoredEvent

Deliver = Callable[[StoredEvent], None]


@attrs.define
class _Pending:
    event: NewEvent
    deliver: Deliver
    done: trio.Event = attrs.Factory(trio.Event)
    stored: StoredEvent | None = None
    error: StorageError | None = None


class EventLog:
    def __init__(self, storage: Storage, *, max_batch: int = 1024) -> None:
        self._storage = storage
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._lot = trio.lowlevel.ParkingLot()
        self.batches = 0
        self.events = 0

    async def append(self, event: NewEvent, deliver: Deliver) -> StoredEvent:
        """Store ``event``, hand it to ``deliver``, and return it with its seq.

        Raises StorageError when it could not be stored (then nothing was sent)."""
        pending = _Pending(event, deliver)
        self._queue.append(pending)
        self._lot.unpark()
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.stored is not None
        return pending.stored

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            while not self._queue:
                await self._lot.park()
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            with trio.CancelScope(shield=True):  # a batch is written whole or fails whole
                await self._write(batch)

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            stored = await self._storage.append_events([p.event for p in batch])
        except StorageError as exc:
            log_event("event_log_error", logging.ERROR, events=len(batch), error=str(exc))
            for pending in batch:
                pending.error = exc
                pending.done.set()
            return
        self.batches += 1
        self.events += len(batch)
        for pending, record in zip(batch, stored, strict=True):
            pending.stored = record
            try:
                pending.deliver(record)
            except Exception:
                log_event(
                    "event_delivery_error",
                    logging.ERROR,
                    user=record.user_id,
                    seq=record.seq,
                    exc_info=True,
                )
            pending.done.set()
