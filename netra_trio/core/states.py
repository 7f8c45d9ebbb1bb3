"""The connection state machine: one enum, one transition table.

``OPEN -> DRAINING`` is a close that first flushes what is queued (shutdown,
violations, oversized frames); ``OPEN -> CLOSING`` closes at once (peer gone,
expiry, lost heartbeat, slow consumer, eviction).
"""

from __future__ import annotations

import enum


class ConnState(enum.Enum):
    OPEN = "open"
    DRAINING = "draining"
    CLOSING = "closing"
    CLOSED = "closed"


class IllegalTransition(RuntimeError):
    pass


TRANSITIONS: dict[ConnState, frozenset[ConnState]] = {
    ConnState.OPEN: frozenset({ConnState.DRAINING, ConnState.CLOSING, ConnState.CLOSED}),
    ConnState.DRAINING: frozenset({ConnState.CLOSING, ConnState.CLOSED}),
    ConnState.CLOSING: frozenset({ConnState.CLOSED}),
    ConnState.CLOSED: frozenset(),
}


def transition(current: ConnState, target: ConnState) -> ConnState:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"{current.value} -> {target.value}")
    return target
