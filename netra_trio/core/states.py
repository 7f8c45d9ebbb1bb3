"""A connection's lifecycle: one enum of states, one table of transitions
driven by events, and the close code that goes with the ending.

As in h11's ``_state.py``, the state changes only through
:meth:`ConnectionLifecycle.process`, which looks the (state, event) pair up in
:data:`TRANSITIONS`; a pair that is not there raises
:class:`IllegalTransition`. The shell acts on what each event did:

- ``DRAIN`` (shutdown, violations, oversized frames): ``OPEN -> DRAINING``,
  stop reading and let the writer flush what is queued, within a deadline.
- ``ABORT`` (peer gone, expiry, lost heartbeat, slow consumer, eviction, or a
  drain's deadline): ``OPEN``/``DRAINING -> CLOSING``, cancel the tasks now.
- ``ENDED``: the tasks are over and the transport is closed: ``-> CLOSED``.

A close asked for when the connection is already closing is a no-op (the table
maps it to the same state): the first close code wins, and a later ``ABORT``
may only cut a drain short.
"""

from __future__ import annotations

import enum

import attrs

from netra_trio.errors import CloseCode


class ConnState(enum.Enum):
    OPEN = "open"
    DRAINING = "draining"
    CLOSING = "closing"
    CLOSED = "closed"


class ConnEvent(enum.Enum):
    DRAIN = "drain"
    ABORT = "abort"
    ENDED = "ended"


class IllegalTransition(RuntimeError):
    pass


_OPEN, _DRAINING, _CLOSING, _CLOSED = ConnState
_DRAIN, _ABORT, _ENDED = ConnEvent

TRANSITIONS: dict[tuple[ConnState, ConnEvent], ConnState] = {
    (_OPEN, _DRAIN): _DRAINING,
    (_OPEN, _ABORT): _CLOSING,
    (_OPEN, _ENDED): _CLOSED,
    (_DRAINING, _DRAIN): _DRAINING,
    (_DRAINING, _ABORT): _CLOSING,
    (_DRAINING, _ENDED): _CLOSED,
    (_CLOSING, _DRAIN): _CLOSING,
    (_CLOSING, _ABORT): _CLOSING,
    (_CLOSING, _ENDED): _CLOSED,
    (_CLOSED, _DRAIN): _CLOSED,
    (_CLOSED, _ABORT): _CLOSED,
}


def next_state(current: ConnState, event: ConnEvent) -> ConnState:
    try:
        return TRANSITIONS[(current, event)]
    except KeyError:
        raise IllegalTransition(f"{event.value} in state {current.value}") from None


@attrs.define
class ConnectionLifecycle:
    """A connection's state and, once it is asked to close, the close code and
    reason (the first one asked for), and who ended it."""

    state: ConnState = _OPEN
    close_code: int | None = None
    close_reason: str = ""
    by_peer: bool = False

    def process(self, event: ConnEvent) -> bool:
        """Apply ``event``; True when it changed the state (the shell acts)."""
        new = next_state(self.state, event)
        changed = new is not self.state
        self.state = new
        return changed

    def close(self, code: int, reason: str, *, drain: bool = False, by_peer: bool = False) -> bool:
        """Ask for a close; True when the state changed. The first code (and
        whether the peer ended it) is kept."""
        if self.close_code is None and self.state is _OPEN:
            self.close_code, self.close_reason, self.by_peer = int(code), reason, by_peer
        return self.process(_DRAIN if drain else _ABORT)

    def ended_by(self, reason: CloseCode | None) -> int:
        """The code to close with once the tasks are over: the one asked for,
        else the expiry that fired (``reason``), else an internal error."""
        if self.close_code is None:
            if reason is CloseCode.POLICY_VIOLATION:
                self.close_code, self.close_reason = reason, "token expired"
            elif reason is CloseCode.SESSION_EXPIRED:
                self.close_code, self.close_reason = reason, "idle timeout"
            else:
                self.close_code, self.close_reason = CloseCode.INTERNAL_ERROR, "cancelled"
        return self.close_code

    def fail(self) -> None:
        """An unexpected error ended the tasks: close with 1011 unless a code was set."""
        if self.close_code is None:
            self.close_code, self.close_reason = CloseCode.INTERNAL_ERROR, "internal error"
