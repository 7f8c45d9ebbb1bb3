"""One user's events back in ``seq`` order, as a backplane receives them.

Processes of a cluster store and publish their batches independently: a batch
numbered after another may be published first. :class:`InOrder` holds what
arrives ahead of the next ``seq`` expected, hands on every run that has become
contiguous, drops what was already handed on, and says since when a ``seq`` has
been missing, so the caller can read the missing events from the event store
(every published event was stored first) when they do not arrive in time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar


class Numbered(Protocol):
    @property
    def seq(self) -> int: ...


E = TypeVar("E", bound=Numbered)


class InOrder(Generic[E]):
    __slots__ = ("_ahead", "_missing_since", "next_seq")

    def __init__(self, next_seq: int) -> None:
        self.next_seq = next_seq  # the seq to hand on next
        self._ahead: dict[int, E] = {}
        self._missing_since: float | None = None

    @property
    def missing_since(self) -> float | None:
        """When ``next_seq`` was first found missing (events after it arrived)."""
        return self._missing_since

    @property
    def held(self) -> int:
        return len(self._ahead)

    def offer(self, events: Iterable[E], now: float) -> list[E]:
        """The events that may be handed on now, in ``seq`` order."""
        before = self.next_seq
        out: list[E] = []
        for event in events:
            seq = event.seq
            if seq == self.next_seq and not self._ahead:
                out.append(event)  # the common case: in order, nothing held
                self.next_seq = seq + 1
            elif seq >= self.next_seq:
                self._ahead[seq] = event
        if self._ahead:
            out += self._release()
            if self._ahead and (self._missing_since is None or self.next_seq != before):
                self._missing_since = now  # a seq missing from now on
        return out

    def fill(self, stored: Iterable[E]) -> list[E]:
        """Events read from the store after ``next_seq - 1``: they close the gap
        (those already held are taken from the store's copy)."""
        for event in stored:
            if event.seq >= self.next_seq:
                self._ahead.setdefault(event.seq, event)
        return self._release()

    def skip_gap(self) -> list[E]:
        """The missing events are not in the store either (retention dropped
        them): go on from the oldest event held."""
        if self._ahead:
            self.next_seq = min(self._ahead)
        return self._release()

    def _release(self) -> list[E]:
        out: list[E] = []
        ahead = self._ahead
        while self.next_seq in ahead:
            out.append(ahead.pop(self.next_seq))
            self.next_seq += 1
        if not ahead:
            self._missing_since = None
        return out
