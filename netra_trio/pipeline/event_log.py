"""The event log: every agent event is numbered, rendered once, stored, then published.

A run hands each event to its :class:`Producer` (``put``), which renders its
payload as JSON there, in the run's task: a payload that cannot be rendered
fails that run's ``put`` (:class:`UnrenderableEvent`) and never reaches the
log, which every user's events share. The log runs two
stages, each a task, with a bounded channel between them:

1. **write**: take what producers queued (up to ``max_batch`` events), give
   each event the next ``seq`` of its user (from each user's last seq, kept in
   memory, bounded, read from the event store on first use and again after a
   failed append), render its frame (the bytes that are stored and sent), and
   append the batch to the event store in one transaction. When another process
   of a cluster stored one of those seqs first, the store refuses the batch
   whole (:class:`SeqConflict`) and the batch is numbered again.
2. **publish**: publish each committed batch on the backplane, in commit
   order, then tell the producers that their events landed (or failed).

Batch N is published while batch N+1 is being written. Publishing from one
task, batch after batch, is what keeps ``seq`` increasing on every connection
of a user across concurrent runs. Every committed batch is published, also
when the log is cancelled: cancellation stops the write stage only, and the
publish stage, shielded, drains the channel and ends when it closes.

Producers wait only while the queue is full (``max_pending``; room is handed
to them one at a time) and while their own window of events in flight is
full. An event is timestamped when it enters the queue (its frame's
``timestamp`` and its stored ``created_at``), so the time it then spends here
is part of its measured latency (the ``netra_event_write_latency_seconds``
metric starts there too); the queue is kept short (one batch) for that reason.
Each append's duration is observed in :attr:`EventLog.commit_seconds`.

(A little over 300 lines: the producer and the two stages share the queue and
its accounting, which stay private to this module.)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import orjson
import trio

from netra_trio.backplane.base import Backplane
from netra_trio.histogram import LATENCY_BOUNDS_S, Histogram
from netra_trio.logs import log_event
from netra_trio.protocol.codec import encode, render_payload
from netra_trio.storage.base import EventStore, SeqConflict, StorageError
from netra_trio.storage.records import StoredEvent

# Users whose last seq is kept in memory; past this the cache starts over.
SEQ_CACHE_MAX = 65_536
# How often a batch is numbered again when another process stored a seq of it first.
RENUMBER_ATTEMPTS = 16
# Events a producer may have queued but not yet published: enough for group
# commits to batch, small enough that one run cannot fill the log.
PRODUCER_WINDOW = 32


@attrs.frozen
class EventSource:
    """Where a producer's events come from: every event carries these."""

    user_id: str
    run_id: str | None = None
    thread_id: str | None = None
    correlation_id: str | None = None


@attrs.define
class _Queued:
    """One event between ``put`` and its publication."""

    producer: Producer
    kind: str
    body: orjson.Fragment  # the payload, rendered
    emitted_at: float
    done: trio.Event | None = None  # only for put_and_wait
    on_stored: Callable[[], None] | None = None  # only for put_and_wait
    seq: int = 0  # set once stored, for put_and_wait
    error: StorageError | None = None  # set if its batch failed, for put_and_wait


_Outcome = tuple[list[_Queued], list[StoredEvent], StorageError | None]


class Producer:
    """One source's way into the log (an agent run): its events are stored and
    published in the order they were put. At most ``window`` of them are in
    flight; a full window reopens once half of it has landed, so a producer
    puts a burst of events per wake-up. A failed write surfaces as the
    :class:`StorageError` of the next ``put``."""

    __slots__ = ("_failure", "_in_flight", "_log", "_lot", "_window", "source")

    def __init__(self, log: EventLog, source: EventSource, window: int) -> None:
        self._log = log
        self.source = source
        self._window = window
        self._in_flight = 0
        self._lot = trio.lowlevel.ParkingLot()
        self._failure: StorageError | None = None

    async def put(self, kind: str, body: dict[str, Any]) -> None:
        """Queue an event; it is stored, then published. Does not wait for
        the commit. UnrenderableEvent (nothing queued) when ``body`` cannot
        be written as JSON."""
        if self._failure is not None:
            raise self._failure
        rendered = render_payload(body)
        while self._in_flight >= self._window:
            await self._lot.park()
        log = self._log
        if log._full:
            await log._wait_for_room()
        self._in_flight += 1
        log._append(self, kind, rendered, None)
        # Queued: it lands even if the caller is cancelled here. The CPU is
        # given up only to wait, so a producer takes one scheduler round per
        # burst of events, not one per event.
        await trio.lowlevel.checkpoint_if_cancelled()

    async def put_and_wait(
        self,
        kind: str,
        body: dict[str, Any],
        *,
        on_stored: Callable[[], None] | None = None,
    ) -> int:
        """Queue an event after every one put before it and wait until it is
        stored (its publication follows at once); returns its seq. Raises
        StorageError when it could not be stored (then it was not published).
        Tried even after an earlier write of this producer failed: a run's
        last event reaches its client once the store is back.
        UnrenderableEvent (nothing queued) when ``body`` cannot be written as
        JSON.

        ``on_stored`` is called as soon as the event is stored, before it is
        published: whatever it changes has changed before any client can see
        the event (and answer it), which the caller's own wake-up cannot
        promise."""
        rendered = render_payload(body)
        done = trio.Event()
        if self._log._full:
            await self._log._wait_for_room()
        self._in_flight += 1
        queued = self._log._append(self, kind, rendered, done)
        queued.on_stored = on_stored
        await done.wait()
        if queued.error is not None:
            raise queued.error
        return queued.seq

    def _landed(self, count: int, failure: StorageError | None) -> None:
        self._in_flight -= count
        if failure is not None and self._failure is None:
            self._failure = failure
        if self._lot and self._in_flight <= self._window // 2:
            self._lot.unpark_all()


class EventLog:
    def __init__(
        self,
        store: EventStore,
        backplane: Backplane,
        *,
        max_batch: int = 1024,
        max_pending: int = 1024,
        seq_cache_max: int = SEQ_CACHE_MAX,
    ) -> None:
        self._store = store
        self._backplane = backplane
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._seq_cache_max = seq_cache_max
        self._last_seqs: dict[str, int] = {}
        self._queue: list[_Queued] = []
        self._lot = trio.lowlevel.ParkingLot()  # the write stage, waiting for events
        self._space = trio.lowlevel.ParkingLot()  # producers, waiting for room
        self._in_flight = 0  # batches taken from the queue and not yet published
        self._quiet = trio.lowlevel.ParkingLot()  # low-value work, see yield_to_events
        self.batches = 0
        self.events = 0
        self.commit_seconds = Histogram(LATENCY_BOUNDS_S)  # each append, failed ones too
        self.renumbered = 0  # batches numbered again after another process's commit

    def producer(self, source: EventSource, *, window: int = PRODUCER_WINDOW) -> Producer:
        return Producer(self, source, window)

    # -- producers' side --------------------------------------------------------------

    def _append(
        self, producer: Producer, kind: str, body: orjson.Fragment, done: trio.Event | None
    ) -> _Queued:
        """Queue the event (the caller made sure there is room): it is
        timestamped now, as it enters the log."""
        queued = _Queued(producer, kind, body, time.time(), done)
        self._queue.append(queued)
        if self._lot:
            self._lot.unpark()
        return queued

    @property
    def _full(self) -> bool:
        return len(self._queue) >= self._max_pending

    async def _wait_for_room(self) -> None:
        """Return once the queue has room; the caller then appends without a
        checkpoint in between."""
        while len(self._queue) >= self._max_pending:
            await self._space.park()
        # Room is handed on one producer at a time: each one woken for room
        # wakes the next while room is left (a producer usually queues a
        # burst before it parks), instead of all of them waking at once to
        # find the queue full again.
        if len(self._queue) + 1 < self._max_pending and self._space:
            self._space.unpark()

    async def yield_to_events(self) -> None:
        """Low-value work (typing indicators) calls this first: while events are
        queued or being written, it waits until the next batch has been
        published and the tasks that publication woke have had their turn."""
        if self._queue or self._in_flight:
            await self._quiet.park()

    # -- the two stages ---------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        send, receive = trio.open_memory_channel[_Outcome](1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._publish_stage, receive)
            task_status.started()
            await self._write_stage(send)

    async def _write_stage(self, send: trio.MemorySendChannel[_Outcome]) -> None:
        async with send:  # closing it ends the publish stage once it has drained
            while True:
                while not self._queue:
                    await self._lot.park()
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                if self._space:
                    self._space.unpark()  # who it wakes wakes the next (see _wait_for_room)
                self._in_flight += 1
                with trio.CancelScope(shield=True):  # a batch is written whole or fails whole
                    outcome = await self._write(batch)
                    try:
                        send.send_nowait(outcome)  # no checkpoint: the next batch goes on now
                    except trio.WouldBlock:
                        await send.send(outcome)

    async def _write(self, batch: list[_Queued]) -> _Outcome:
        attempt = 1
        while True:
            try:
                stored = await self._number(batch)
                started = time.perf_counter()
                try:
                    await self._store.append(stored)
                finally:
                    self.commit_seconds.observe(time.perf_counter() - started)
                break
            except StorageError as exc:
                for queued in batch:  # another process may have moved on: read again
                    self._last_seqs.pop(queued.producer.source.user_id, None)
                if isinstance(exc, SeqConflict) and attempt < RENUMBER_ATTEMPTS:
                    # another process of the cluster stored these users' next seqs
                    # first: number the batch again from what is stored now, after
                    # a short random pause, so that two writers that keep meeting
                    # fall out of step
                    self.renumbered += 1
                    attempt += 1
                    await trio.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
                    continue
                log_event("event_log_error", logging.ERROR, events=len(batch), error=str(exc))
                return batch, [], exc
        self.batches += 1
        self.events += len(batch)
        return batch, stored, None

    async def _number(self, batch: list[_Queued]) -> list[StoredEvent]:
        """Each event's seq and frame, from its user's last seq."""
        seqs = self._last_seqs
        missing = list({q.producer.source.user_id for q in batch} - seqs.keys())
        if missing:
            if len(seqs) + len(missing) > self._seq_cache_max:
                seqs.clear()
                missing = list({q.producer.source.user_id for q in batch})
            seqs.update(await self._store.last_seqs(missing))
        stored: list[StoredEvent] = []
        append = stored.append
        for queued in batch:
            source = queued.producer.source
            user_id = source.user_id
            seq = seqs[user_id] = seqs[user_id] + 1
            frame = encode(
                queued.kind,
                queued.body,
                correlation_id=source.correlation_id,
                thread_id=source.thread_id,
                run_id=source.run_id,
                seq=seq,
                timestamp=queued.emitted_at,
            )
            append(
                StoredEvent(
                    user_id,
                    seq,
                    queued.kind,
                    source.run_id,
                    source.thread_id,
                    frame,
                    queued.emitted_at,
                )
            )
        return stored

    async def _publish_stage(self, receive: trio.MemoryReceiveChannel[_Outcome]) -> None:
        with trio.CancelScope(shield=True):  # it ends when the write stage closes the channel
            async with receive:
                async for batch, stored, error in receive:
                    # producers learn first, so that a run whose last event is
                    # stored is over before a client can answer that event
                    self._settle(batch, stored, error)
                    if error is None:
                        await self._publish(stored)
                    self._in_flight -= 1
                    if self._quiet:
                        await trio.lowlevel.checkpoint()  # those the publication woke go first
                        self._quiet.unpark_all()
            self._quiet.unpark_all()

    async def _publish(self, stored: Sequence[StoredEvent]) -> None:
        try:
            await self._backplane.publish(stored)
        except Exception:  # stored: a resume delivers them
            first = stored[0]
            log_event(
                "event_publish_error",
                logging.ERROR,
                user=first.user_id,
                seq=first.seq,
                events=len(stored),
                exc_info=True,
            )

    @staticmethod
    def _settle(
        batch: list[_Queued], stored: list[StoredEvent], error: StorageError | None
    ) -> None:
        """Tell each producer how many of its events landed (per run of
        consecutive events of one producer), and wake those that wait."""
        i, end = 0, len(batch)
        while i < end:
            producer = batch[i].producer
            j = i
            while j < end and batch[j].producer is producer:
                queued = batch[j]
                if queued.done is not None:
                    if error is None:
                        queued.seq = stored[j].seq
                        if queued.on_stored is not None:
                            queued.on_stored()
                    else:
                        queued.error = error
                    queued.done.set()
                j += 1
            producer._landed(j - i, error)
            i = j
