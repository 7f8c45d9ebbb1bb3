"""Outbound ordering: a bounded priority store, FIFO within a class.

Four classes, CRITICAL > HIGH > NORMAL > LOW. The store is bounded by a frame
count and a byte total. When a push would pass a bound it sheds, oldest first,
LOW and then NORMAL frames that are no more important than the new one, but
only when that makes room: a push that would not fit even after shedding all
of them sheds nothing, and a new LOW or NORMAL frame is then itself shed. CRITICAL and HIGH
frames are never shed: when they cannot be held the push reports ``OVERFLOW``
and the caller decides (the server closes the connection as a slow consumer).

A frame may carry a coalescing key: a newer frame with the same key and class
replaces the queued one in place, so only the latest state is sent.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

import attrs

T = TypeVar("T")


class Priority(enum.IntEnum):
    """Lower value is more important; compare as integers, never as names."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3

    @property
    def sheddable(self) -> bool:
        return self >= Priority.NORMAL


class PushResult(enum.Enum):
    QUEUED = "queued"
    COALESCED = "coalesced"
    SHED = "shed"  # the new frame was dropped
    OVERFLOW = "overflow"  # a CRITICAL/HIGH frame that cannot be held


_QUEUED = PushResult.QUEUED  # returned per frame: an enum member lookup costs ~100 ns


@attrs.frozen
class QueueBounds:
    max_frames: int
    max_bytes: int

    def __attrs_post_init__(self) -> None:
        if self.max_frames < 1 or self.max_bytes < 1:
            raise ValueError("queue bounds must be positive")


@attrs.frozen
class StoreStatistics:
    queued: tuple[int, int, int, int]  # per Priority value
    queued_bytes: int
    shed: tuple[int, int, int, int]
    coalesced: int
    overflowed: int

    @property
    def total(self) -> int:
        return sum(self.queued)


@attrs.define(slots=True)
class _Entry(Generic[T]):
    item: T
    size: int
    key: Hashable | None


class PriorityStore(Generic[T]):
    """The pure structure behind each connection's scheduler."""

    def __init__(self, bounds: QueueBounds) -> None:
        self.bounds = bounds
        # one deque per class, made on first use: most connections only ever
        # hold CRITICAL and HIGH frames, and an empty deque costs ~760 bytes
        self._queues: list[deque[_Entry[T]] | None] = [None, None, None, None]
        self._keyed: dict[tuple[int, Hashable], _Entry[T]] = {}  # (class, key)
        self._frames = 0
        self._bytes = 0
        self._class_bytes = [0, 0, 0, 0]
        self._shed = [0, 0, 0, 0]
        self._coalesced = 0
        self._overflowed = 0

    def __len__(self) -> int:
        return self._frames

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def push(
        self, item: T, priority: Priority, size: int, key: Hashable | None = None
    ) -> PushResult:
        if key is not None:
            existing = self._keyed.get((priority, key))
            if existing is not None:
                coalesced = self._coalesce(existing, item, priority, size, key)
                if coalesced is not None:
                    return coalesced
        bounds = self.bounds
        if self._frames >= bounds.max_frames or self._bytes + size > bounds.max_bytes:
            if not self._fits_after_shedding(priority, size):
                # no frame is shed in vain: the new one is refused at once
                if priority.sheddable:
                    self._shed[priority] += 1
                    return PushResult.SHED
                self._overflowed += 1
                return PushResult.OVERFLOW
            while self._frames + 1 > bounds.max_frames or self._bytes + size > bounds.max_bytes:
                self._shed_one(priority)
        entry = _Entry(item, size, key)
        queue = self._queues[priority]
        if queue is None:
            queue = self._queues[priority] = deque()
        queue.append(entry)
        self._class_bytes[priority] += size
        if key is not None:
            self._keyed[(priority, key)] = entry
        self._frames += 1
        self._bytes += size
        return _QUEUED

    def _coalesce(
        self, existing: _Entry[T], item: T, priority: Priority, size: int, key: Hashable
    ) -> PushResult | None:
        """Replace a queued frame with the same key in place, shedding less
        important frames for room if needed. None: push ``item`` as a new frame."""
        while self._bytes - existing.size + size > self.bounds.max_bytes:
            if self._keyed.get((priority, key)) is not existing or not self._shed_one(priority):
                break
        if self._keyed.get((priority, key)) is not existing:
            return None  # the old frame was itself shed for room
        if self._bytes - existing.size + size <= self.bounds.max_bytes:
            self._bytes += size - existing.size
            self._class_bytes[priority] += size - existing.size
            existing.item, existing.size = item, size
            self._coalesced += 1
            return PushResult.COALESCED
        # Only a CRITICAL or HIGH frame gets here: for a LOW or NORMAL one the
        # shedding above makes room, or sheds the queued frame itself.
        self._overflowed += 1  # the queued frame stays; the newer one cannot be held
        return PushResult.OVERFLOW

    def pop_some(self, max_bytes: int) -> list[T]:
        """Frames in delivery order: at least one (when any is queued), then more
        while their sizes add up to less than ``max_bytes``."""
        out: list[T] = []
        total = 0
        for priority, queue in enumerate(self._queues):  # by index: iterating the enum is slow
            while queue and (total < max_bytes or not out):
                entry = queue.popleft()
                total += entry.size
                out.append(self._take(priority, entry))
        return out

    def clear(self) -> int:
        dropped = self._frames
        self._queues = [None, None, None, None]
        self._keyed.clear()
        self._frames = self._bytes = 0
        self._class_bytes = [0, 0, 0, 0]
        return dropped

    def statistics(self) -> StoreStatistics:
        return StoreStatistics(
            queued=tuple(len(q) if q else 0 for q in self._queues),  # type: ignore[arg-type]
            queued_bytes=self._bytes,
            shed=tuple(self._shed),  # type: ignore[arg-type]
            coalesced=self._coalesced,
            overflowed=self._overflowed,
        )

    def _take(self, priority: int, entry: _Entry[T]) -> T:
        if not self._queues[priority]:
            # an idle connection keeps no empty deque (~760 bytes each)
            self._queues[priority] = None
        self._frames -= 1
        self._bytes -= entry.size
        self._class_bytes[priority] -= entry.size
        if entry.key is not None:
            self._keyed.pop((priority, entry.key), None)
        return entry.item

    def _fits_after_shedding(self, incoming: Priority, size: int) -> bool:
        """Whether shedding every eligible frame would make room for ``size``."""
        frames, nbytes = self._frames + 1, self._bytes + size
        for victim in _VICTIMS[incoming]:
            frames -= len(self._queues[victim] or ())
            nbytes -= self._class_bytes[victim]
        return frames <= self.bounds.max_frames and nbytes <= self.bounds.max_bytes

    def _shed_one(self, incoming: Priority) -> bool:
        """Drop the oldest frame of the least important sheddable class that is
        no more important than ``incoming``. False when there is none."""
        for victim in _VICTIMS[incoming]:
            queue = self._queues[victim]
            if queue:
                self._take(victim, queue.popleft())
                self._shed[victim] += 1
                return True
        return False


# The classes a new frame may shed for room, least important first.
_VICTIMS: dict[Priority, tuple[Priority, ...]] = {
    incoming: tuple(v for v in (Priority.LOW, Priority.NORMAL) if v >= incoming)
    for incoming in Priority
}
