"""Which agent events a client has seen, so that a consumer sees each ``seq``
exactly once, in order, across reconnects and server restarts.

``seq`` is the user's counter, strictly increasing, shared by all of the
user's connections and kept by the server's store. The tracker holds the
highest ``seq`` delivered; after a reconnect the client sends ``resume``
with it, and every event at or below it (a replayed one already seen, or a
live one that raced the replay) is dropped.

A client that has not seen any event yet does not know where the user's
counter stood when it connected. If it reconnects in that state it asks for
the whole retained log (``resume`` from 0) and drops the events stamped
before it first connected, by the server's clock (``server_time`` of the
first ``connection_established``; events carry the time they were emitted):
it gets the events it missed, at the price of reading the user's retained
events once.
"""

from __future__ import annotations

import attrs


@attrs.define
class ResumeTracker:
    last_seq: int | None = None  # the highest seq delivered (or given to start from)
    connected_since: float | None = None  # server time of the first connection
    gaps: int = 0  # resumes that reported events lost to retention
    _floor: float | None = None  # while replaying from 0: drop events older than this

    def connected(self, server_time: float) -> None:
        if self.connected_since is None:
            self.connected_since = server_time

    def resume_from(self, *, first_connection: bool) -> int | None:
        """The ``last_seq`` to send in ``resume`` on a new connection, or None
        when no resume is needed (a first connection with nothing to catch up)."""
        if self.last_seq is not None:
            return self.last_seq
        if first_connection:
            return None
        self._floor = self.connected_since
        return 0

    def accept(self, seq: int, timestamp: float | None) -> bool:
        """Whether the event ``seq`` is new: deliver it. False: drop it."""
        if self.last_seq is not None and seq <= self.last_seq:
            return False
        self.last_seq = seq
        if self._floor is not None and timestamp is not None and timestamp < self._floor:
            return False  # from before this client connected
        self._floor = None  # from here on, by seq only
        return True

    def resumed(self, gap: bool) -> None:
        """``resume_complete`` arrived."""
        self._floor = None
        if gap:
            self.gaps += 1
