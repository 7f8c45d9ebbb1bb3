"""Delivery rounds: writer wake-ups deferred to the end of a burst of deliveries.

The event log hands a committed batch to the connections one event at a time.
Waking a connection's writer for each of those would cost a task switch per
connection per batch. Inside a round, a connection that is given a frame only
notes itself (once); when the round ends, each noted connection flushes: it
writes what it has queued at once if its writer is idle, and wakes the writer
otherwise. A round is synchronous from start to end (no checkpoint inside), so
nothing else runs while frames wait for its end.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from netra_trio.logs import log_event


class Flushable(Protocol):
    def flush_queued(self) -> None: ...


class DeliveryRound:
    __slots__ = ("_noted", "_open")

    def __init__(self) -> None:
        self._open = False
        self._noted: dict[Flushable, None] = {}  # insertion order: first given, first flushed

    def defer(self, target: Flushable) -> bool:
        """Inside a round: note ``target`` for the flush at its end and return
        True (its writer need not be woken now). Outside: False."""
        if not self._open:
            return False
        self._noted[target] = None
        return True

    @contextmanager
    def open(self) -> Iterator[None]:
        if self._open:  # nested: the outer round flushes
            yield
            return
        self._open = True
        try:
            yield
        finally:
            self._open = False
            noted, self._noted = self._noted, {}
            for target in noted:
                try:
                    target.flush_queued()
                except Exception:  # the others are still flushed
                    log_event("delivery_flush_error", logging.ERROR, exc_info=True)
