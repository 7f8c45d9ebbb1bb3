"""Replay for one connection: ``resume``, and the live events held around it.

Live agent events are held back while a replay runs, so that the client gets
the stored events after its ``last_seq`` first and then the live ones, each
exactly once and in ``seq`` order. They are also held at first, from the
connection's start until its first frame has been handled (at most
``INITIAL_HOLD_S``), so that a ``resume`` sent right after connecting replays
the events of runs already streaming in order, exactly once.

Held events stay within half of the connection's queue bounds, so releasing
them can never overflow the queue by itself. Past that, during the initial
hold the held events are released (no resume came in time: delivery goes on
as usual); during a replay they are dropped, to be read from the store by the
replay itself, which reads until it has caught up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from netra_trio.core.priority import QueueBounds
from netra_trio.server.scheduler import OutboundFrame, event_frame
from netra_trio.storage.base import EventStore

INITIAL_HOLD_S = 1.0
REPLAY_PAGE = 500


class ReplayTarget(Protocol):
    """What a replay needs of its connection (passed in: a replay keeps no
    reference to it, so the two make no reference cycle)."""

    @property
    def is_open(self) -> bool: ...

    def push(self, frames: Iterable[OutboundFrame]) -> None: ...

    async def wait_for_room(self, frames: int, nbytes: int) -> None: ...


class Replay:
    __slots__ = (
        "_bounds",
        "_dropped",
        "_events",
        "_held",
        "_held_bytes",
        "_initial",
        "_user_id",
    )

    def __init__(
        self,
        events: EventStore,
        user_id: str,
        *,
        hold: QueueBounds,
    ) -> None:
        """``hold``: how much may be held (half of the connection's queue)."""
        self._events = events
        self._user_id = user_id
        self._bounds = hold
        self._held: list[OutboundFrame] | None = []
        self._held_bytes = 0
        self._initial = True
        self._dropped = False

    @property
    def holding(self) -> bool:
        return self._held is not None

    def hold(self, frame: OutboundFrame) -> list[OutboundFrame] | None:
        """Offer a live event while :attr:`holding`: None when it was held (or
        dropped: the replay reads it from the store); otherwise the initial
        hold has just been given up, and the caller pushes what this returns
        (the held events, then this one)."""
        held = self._held
        assert held is not None
        bounds = self._bounds
        if len(held) < bounds.max_frames and self._held_bytes + len(frame.text) <= bounds.max_bytes:
            held.append(frame)
            self._held_bytes += len(frame.text)
            return None
        if self._initial:
            return [*self.release(), frame]  # no resume came in time: deliver as usual
        # A replay is running: these events are stored, so drop them here and
        # let the replay read them from the log.
        held.clear()
        self._held_bytes = 0
        self._dropped = True
        return None

    def end_initial_hold(self) -> list[OutboundFrame]:
        """The client's first frame was not a resume (or none came in time):
        stop the initial hold; the caller pushes what this returns."""
        return self.release() if self._initial else []

    def release(self, *, after: int | None = None) -> list[OutboundFrame]:
        """Stop holding; returns the held events (those after ``after``) to push."""
        held, self._held, self._initial = self._held, None, False
        self._held_bytes = 0
        if not held:
            return []
        if after is None:
            return held
        return [frame for frame in held if frame.seq is not None and frame.seq > after]

    async def replay(self, last_seq: int, target: ReplayTarget) -> tuple[int, bool]:
        """Send every stored event after ``last_seq`` to ``target`` in order,
        then the live events that arrived meanwhile (each exactly once).
        Returns how many stored events were replayed and whether part of the
        range had left retention."""
        events = self._events
        # hold live events from here on, before the first read of the store:
        # one published meanwhile is read there, and would otherwise come twice
        if self._held is None:
            self._held = []
        self._initial = False
        cursor, replayed = last_seq, 0
        try:
            window = await events.replay_window(self._user_id)
            while target.is_open:
                self._dropped = False
                page = await events.events_after(self._user_id, cursor, limit=REPLAY_PAGE)
                if not page:
                    if self._dropped:
                        continue  # held events were dropped during the read: read again
                    break
                for event in page:
                    await target.wait_for_room(self._bounds.max_frames, self._bounds.max_bytes)
                    if not target.is_open:
                        break
                    frame = event_frame(self._user_id, event.frame, event.seq, event.type)
                    target.push((frame,))
                    cursor, replayed = event.seq, replayed + 1
        finally:
            target.push(self.release(after=cursor))
        return replayed, last_seq < window.pruned_through
