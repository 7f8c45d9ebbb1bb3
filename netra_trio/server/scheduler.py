"""A connection's outbound scheduler: the pure priority store behind a
channel-like Trio API (``send_nowait`` / ``receive_some``).

Producers never wait: ``send_nowait`` returns the store's decision at once
(queued, coalesced, shed, or overflow). The single consumer, the connection's
writer, waits in ``receive_some`` and takes what is queued (up to a byte
budget) to send it in one write; ``wake`` makes it return early when it has
control frames to send.
"""

from __future__ import annotations

from collections.abc import Hashable

import attrs
import trio

from netra_trio.core.priority import Priority, PriorityStore, PushResult, QueueBounds


@attrs.define
class OutboundFrame:
    """One encoded server frame addressed to one user's connections. Shared
    by all of them: read-only by convention (not frozen: one is made per
    event and frozen attrs classes cost ~3x to construct)."""

    user_id: str
    text: str
    priority: Priority
    coalesce_key: Hashable | None = None
    seq: int | None = None  # set on stored events
    kind: str = ""  # the frame's type when known (stored events); else read from the text
    emitted_at: float = 0.0  # a live agent event: when it was emitted (Unix time)


_CRITICAL = Priority.CRITICAL  # per event: an enum member lookup costs ~100 ns


def event_frame(
    user_id: str, text: str, seq: int, kind: str = "", emitted_at: float = 0.0
) -> OutboundFrame:
    """The frame of a stored agent event: CRITICAL, with its seq (and, when it
    is delivered live, the time it was emitted)."""
    return OutboundFrame(user_id, text, _CRITICAL, None, seq, kind, emitted_at)


class FrameScheduler:
    def __init__(self, bounds: QueueBounds) -> None:
        self._store: PriorityStore[OutboundFrame] = PriorityStore(bounds)
        self._lot = trio.lowlevel.ParkingLot()
        self._space: trio.lowlevel.ParkingLot | None = None  # made by the first wait_below
        self._closed = False
        self._woken = False

    @property
    def queued_bytes(self) -> int:
        return self._store.queued_bytes

    def __len__(self) -> int:
        return len(self._store)

    def send_nowait(self, frame: OutboundFrame, *, wake: bool = True) -> PushResult:
        """Queue ``frame`` (or shed it, or report overflow). With ``wake=False``
        the receiver is not woken: the caller will take the frames itself with
        :meth:`take_nowait`, or call :meth:`notify`."""
        if self._closed:
            raise trio.ClosedResourceError("scheduler is closed")
        result = self._store.push(frame, frame.priority, len(frame.text), frame.coalesce_key)
        if wake and result is PushResult.QUEUED and self._lot:
            self._lot.unpark()
        return result

    @property
    def receiver_waiting(self) -> bool:
        """Whether the receiver is parked waiting for frames (and so is not in
        the middle of sending what it took before)."""
        return bool(self._lot)

    def take_nowait(self, max_bytes: int) -> list[OutboundFrame]:
        """What :meth:`receive_some` would return, taken without waiting (an
        empty list when nothing is queued)."""
        if not self._store:
            return []
        frames = self._store.pop_some(max_bytes)
        self._made_room()
        return frames

    def notify(self) -> None:
        """Wake the receiver if frames are queued (after sends with ``wake=False``)."""
        if self._store and self._lot:
            self._lot.unpark()

    async def receive_some(self, max_bytes: int) -> list[OutboundFrame]:
        """The next frames in delivery order: at least one, more while they add
        up to less than ``max_bytes``; an empty list when :meth:`wake` was
        called with nothing queued. After :meth:`close`, the rest drains and
        then ``trio.EndOfChannel`` is raised."""
        if not await self._wait_for_frames():
            return []
        return self.take_nowait(max_bytes)

    async def _wait_for_frames(self) -> bool:
        """True once a frame is queued; False after a :meth:`wake` with nothing
        queued. ``trio.EndOfChannel`` once closed and drained."""
        while not self._store:
            if self._woken:
                self._woken = False
                return False
            if self._closed:
                raise trio.EndOfChannel
            await self._lot.park()
        self._woken = False
        await trio.lowlevel.checkpoint_if_cancelled()
        return True

    def _made_room(self) -> None:
        if self._space is not None:
            self._space.unpark_all()

    def wake(self) -> None:
        """Make the receiver return (with no frame if none is queued): it has
        something else to send."""
        self._woken = True
        if self._lot:
            self._lot.unpark()

    async def wait_below(self, frames: int, nbytes: int) -> None:
        """Wait until fewer than ``frames`` frames and ``nbytes`` bytes are queued
        (producers that can wait, such as a replay, use this to stay in bounds)."""
        store = self._store
        while (len(store) >= frames or store.queued_bytes >= nbytes) and not self._closed:
            if self._space is None:
                self._space = trio.lowlevel.ParkingLot()
            await self._space.park()

    def close(self) -> None:
        """No more sends; the receiver drains what is queued, then sees EndOfChannel."""
        self._closed = True
        self._lot.unpark_all()
        self._made_room()

    def discard(self) -> int:
        """Drop everything queued (the connection is gone); returns how many."""
        return self._store.clear()
