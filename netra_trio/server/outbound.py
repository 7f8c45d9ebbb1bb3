"""A connection's outbound side: its scheduler, the writer, flushes and partial writes.

Frames are pushed into the connection's :class:`FrameScheduler` (the priority
store). They leave the process in one of three ways, never two at once:

- the **writer** (the connection's writer task, one :meth:`Outbound.write` a
  step) takes what is queued (control frames first, then data frames in
  priority order, up to ``WRITE_BYTES``) and sends it in one write;
- a **flush** (:meth:`Outbound.flush`), at the end of a delivery, writes what is
  queued from the delivering task, but only while the writer is parked waiting
  for frames (so no write of its own is in progress) and the socket takes the
  bytes at once; what the socket leaves over waits in ``unsent`` for the writer;
- the **closing path** (:meth:`Outbound.finish`), once the writer has ended,
  sends what a write left over before the close frame.

Each write the writer has to wait for runs shielded under its own deadline
(``writer_stall_timeout_s``, or the close's own deadline once the connection is
closing), so cancellation never cuts a frame in half; a write that cannot
finish by then raises :class:`WriterStalled` and the socket is given up.
Every frame passes the user fence first: a frame addressed to another user is
refused, logged and counted. What passes is counted by type in the server's
stats as it is handed to the socket (with each live agent event's time since
its emission).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import trio

from netra_trio.core.priority import PushResult, QueueBounds
from netra_trio.core.routing import frame_allowed
from netra_trio.logs import log_event
from netra_trio.protocol.codec import encode_batch
from netra_trio.server.scheduler import FrameScheduler, OutboundFrame
from netra_trio.server.stats import ServerStats
from netra_trio.server.transport import TransportClosed, WebSocketTransport, text_frames

WRITE_BYTES = 65536
_QUEUED = PushResult.QUEUED  # per frame: an enum member lookup costs ~100 ns


class WriterStalled(Exception):
    """A write did not finish by its deadline: the socket is given up."""


class Outbound:
    __slots__ = (
        "_close_by",
        "_connection_id",
        "_send_scope",
        "_stall_timeout_s",
        "_stats",
        "_unsent",
        "_user_id",
        "_ws",
        "batch_mode",
        "broken",
        "fence_refused",
        "scheduler",
    )

    def __init__(
        self,
        ws: WebSocketTransport,
        bounds: QueueBounds,
        *,
        user_id: str,
        connection_id: str,
        batch_mode: bool,
        stall_timeout_s: float,
        stats: ServerStats,
    ) -> None:
        self._ws = ws
        self.scheduler = FrameScheduler(bounds)
        ws.on_control = self.scheduler.wake  # a pong or a ping to send: the writer goes
        self._user_id = user_id
        self._connection_id = connection_id
        self.batch_mode = batch_mode
        self._stall_timeout_s = stall_timeout_s
        self._stats = stats
        self._unsent: bytes | memoryview | None = None  # what a flush's write left over
        self._send_scope: trio.CancelScope | None = None
        self._close_by: float | None = None  # set once the connection is closing
        self.broken = False  # the stream failed or stalled: no close frame can follow
        self.fence_refused = 0

    @property
    def queued_bytes(self) -> int:
        return self.scheduler.queued_bytes

    def push(self, frames: Iterable[OutboundFrame], *, wake: bool = True) -> bool:
        """Queue ``frames`` in order. False when a CRITICAL or HIGH frame could
        not be held (the connection is a slow consumer); LOW and NORMAL frames
        may be shed. ``wake=False``: the writer is not woken (a :meth:`flush`
        follows)."""
        scheduler = self.scheduler
        for frame in frames:
            result = scheduler.send_nowait(frame, wake=False)
            if result is _QUEUED:
                continue
            if result is PushResult.SHED:
                self._stats.frames_shed += 1
            elif result is PushResult.OVERFLOW:
                self._stats.slow_consumers += 1
                return False
        if wake:
            scheduler.notify()
        return True

    def closing(self, deadline: float) -> None:
        """The connection is closing: writes from now on, and the one waiting
        now, get at most until ``deadline``."""
        self._close_by = deadline
        if self._send_scope is not None:
            self._send_scope.deadline = min(self._send_scope.deadline, deadline)

    # -- the writer task ----------------------------------------------------------------

    async def write(self, frames: list[OutboundFrame]) -> None:
        """The writer's step: send what a flush left unsent, pending control
        frames and ``frames`` (taken from the scheduler) in one write. Raises
        TransportClosed or WriterStalled when the socket fails."""
        data = self._outgoing(frames)
        if data:
            await self._send(data)

    def _outgoing(self, frames: list[OutboundFrame]) -> bytes | memoryview:
        """What a flush left unsent, pending control frames and ``frames``, as
        the bytes of one write."""
        texts = [f.text for f in frames if self._fence(f)]
        if len(texts) == len(frames):
            self._stats.sent(frames)
        else:
            self._stats.sent([f for f in frames if frame_allowed(f.user_id, self._user_id)])
        if self.batch_mode and len(texts) > 1:
            texts = [encode_batch(texts)]
        data = self._ws.take_control() + text_frames(texts)
        unsent, self._unsent = self._unsent, None
        if unsent is not None:  # the rest of a frame already begun goes first
            return bytes(unsent) + data if data else unsent
        return data

    async def _send(self, data: bytes | memoryview) -> None:
        try:
            rest = self._ws.send_now(data)  # most writes end here, without waiting
            if not rest:
                return
            deadline = trio.current_time() + self._stall_timeout_s
            if self._close_by is not None:
                deadline = min(deadline, self._close_by)
            scope = trio.CancelScope(deadline=deadline, shield=True)
            self._send_scope = scope
            with scope:
                await self._ws.send(rest)
        except BaseException:
            self.broken = True
            raise
        finally:
            self._send_scope = None
        if scope.cancelled_caught:
            self.broken = True
            raise WriterStalled

    # -- flushes and the closing path ---------------------------------------------------

    def flush(self) -> None:
        """At the end of a delivery: when the writer is idle, write what is
        queued now, from this task (no task switch); what the socket does not
        take, and anything else, is left to the writer. Raises
        TransportClosed when the socket is gone."""
        scheduler = self.scheduler
        if not scheduler:
            return
        if (
            self._close_by is not None
            or self._unsent is not None
            or not scheduler.receiver_waiting
            or not self._ws.writes_directly
        ):
            scheduler.notify()
            return
        try:
            data = self._outgoing(scheduler.take_nowait(WRITE_BYTES))
            if data:
                rest = self._ws.send_now(data)
                if rest:
                    self._unsent = rest
        except BaseException:
            self.broken = True
            raise
        finally:
            if self._unsent is not None:
                scheduler.wake()
            else:
                scheduler.notify()  # more than one write's worth was queued

    async def finish(self) -> bool:
        """Send the rest of a frame that a flush began (a close frame must not
        cut into it). False when the stream is broken."""
        if self.broken:
            return False
        unsent, self._unsent = self._unsent, None
        if unsent is not None:
            try:
                await self._ws.send(unsent)
            except TransportClosed:
                self.broken = True
                return False
        return True

    def _fence(self, frame: OutboundFrame) -> bool:
        if frame_allowed(frame.user_id, self._user_id):
            return True
        self.fence_refused += 1
        self._stats.fence_refused += 1
        log_event(
            "security_violation",
            logging.ERROR,
            user=self._user_id,
            connection=self._connection_id,
            reason="outbound frame addressed to another user was refused",
        )
        return False
