"""PriorityStore against a model: order, FIFO, shedding, bounds, coalescing, statistics."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Hashable

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from netra_trio.core.priority import (
    Priority,
    PriorityStore,
    PushResult,
    QueueBounds,
    StoreStatistics,
)

CRITICAL, HIGH, NORMAL, LOW = Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW
NEVER_SHED = (CRITICAL, HIGH)


@attrs.frozen
class Frame:
    """A pushed item that remembers how it was pushed."""

    ident: int
    priority: Priority
    size: int
    key: str | None = None


class Pusher:
    """Pushes numbered frames into a store, so tests can name them."""

    def __init__(self, store: PriorityStore[Frame]) -> None:
        self.store = store
        self._ids = itertools.count()

    def __call__(self, priority: Priority, size: int = 1, key: str | None = None) -> Frame:
        frame = Frame(next(self._ids), priority, size, key)
        self.last_result = self.store.push(frame, priority, size, key)
        return frame


def pop_one(store: PriorityStore[Frame]) -> Frame | None:
    """The next frame in delivery order (a budget of one byte takes one)."""
    taken = store.pop_some(1)
    assert len(taken) <= 1
    return taken[0] if taken else None


def pop_everything(store: PriorityStore[Frame]) -> list[Frame]:
    return store.pop_some(sys.maxsize)


def make(max_frames: int = 100, max_bytes: int = 10_000) -> tuple[PriorityStore[Frame], Pusher]:
    store: PriorityStore[Frame] = PriorityStore(QueueBounds(max_frames, max_bytes))
    return store, Pusher(store)


# --------------------------------------------------------------------------------------
# The model: what the store should hold, written from the module's contract.
# --------------------------------------------------------------------------------------


class Model:
    """Expected contents and counters of a PriorityStore.

    Contract (netra_trio/core/priority.py docstring, PROTOCOL.md "Delivery and priority"):
    - pop takes the oldest frame of the most important non-empty class;
    - a push that would pass a bound sheds (only if that makes room at all),
      oldest first, LOW and then NORMAL frames
      no more important than the new one; a LOW/NORMAL frame that finds no victim is
      itself shed; a CRITICAL/HIGH frame that finds none reports OVERFLOW;
    - a keyed frame replaces the queued frame of the same key and class in place
      (COALESCED), first shedding victims as above while the replacement does not fit
      the byte bound. If the queued frame is itself shed on the way (the oldest LOW or
      NORMAL), the new frame is pushed as a fresh one, at the back of its class. If no
      victim is left and it still does not fit: a LOW/NORMAL queued frame is shed and
      the new one pushed as a fresh frame (so it is shed too); a CRITICAL/HIGH queued
      frame is never shed, so it stays where it is and the push reports OVERFLOW.
    """

    def __init__(self, bounds: QueueBounds) -> None:
        self.bounds = bounds
        self.queues: list[list[Frame]] = [[] for _ in Priority]
        self.shed = [0, 0, 0, 0]
        self.coalesced = 0
        self.overflowed = 0
        self.victims: list[Frame] = []  # frames shed to make room by the last push

    @property
    def frames(self) -> int:
        return sum(len(q) for q in self.queues)

    @property
    def size(self) -> int:
        return sum(f.size for q in self.queues for f in q)

    def next_out(self) -> Frame | None:
        for queue in self.queues:
            if queue:
                return queue[0]
        return None

    def pop(self) -> Frame:
        for queue in self.queues:
            if queue:
                return queue.pop(0)
        raise IndexError

    def push(self, frame: Frame) -> PushResult:
        self.victims = []
        queue = self.queues[frame.priority]
        old = next((f for f in queue if frame.key is not None and f.key == frame.key), None)
        if old is None:
            return self._push_fresh(frame)
        while self.size - old.size + frame.size > self.bounds.max_bytes:
            victim = self._shed_one(frame.priority)
            if victim is None or victim is old:
                break
        if not any(f is old for f in queue):
            return self._push_fresh(frame)  # the queued frame was itself shed for room
        if self.size - old.size + frame.size <= self.bounds.max_bytes:
            queue[queue.index(old)] = frame
            self.coalesced += 1
            return PushResult.COALESCED
        if not frame.priority.sheddable:
            self.overflowed += 1
            return PushResult.OVERFLOW  # the queued frame stays
        queue.remove(old)
        self.shed[frame.priority] += 1
        return self._push_fresh(frame)

    def _shed_one(self, incoming: Priority) -> Frame | None:
        """Shed the oldest LOW, else the oldest NORMAL frame, when no more important
        than ``incoming``."""
        for victim_class in (LOW, NORMAL):
            if victim_class >= incoming and self.queues[victim_class]:
                victim = self.queues[victim_class].pop(0)
                self.shed[victim_class] += 1
                self.victims.append(victim)
                return victim
        return None

    def _push_fresh(self, frame: Frame) -> PushResult:
        eligible = [f for c in (LOW, NORMAL) if c >= frame.priority for f in self.queues[c]]
        if (
            self.frames + 1 - len(eligible) > self.bounds.max_frames
            or self.size + frame.size - sum(f.size for f in eligible) > self.bounds.max_bytes
        ):  # shedding could not make room: nothing is shed in vain
            if frame.priority.sheddable:
                self.shed[frame.priority] += 1
                return PushResult.SHED
            self.overflowed += 1
            return PushResult.OVERFLOW
        while (
            self.frames + 1 > self.bounds.max_frames
            or self.size + frame.size > self.bounds.max_bytes
        ):
            self._shed_one(frame.priority)
        self.queues[frame.priority].append(frame)
        return PushResult.QUEUED

    def statistics(self) -> StoreStatistics:
        return StoreStatistics(
            queued=tuple(len(q) for q in self.queues),  # type: ignore[arg-type]
            queued_bytes=self.size,
            shed=tuple(self.shed),  # type: ignore[arg-type]
            coalesced=self.coalesced,
            overflowed=self.overflowed,
        )


class PriorityStoreMachine(RuleBasedStateMachine):
    """Random interleavings of push / pop / pop_some / pop_all checked against :class:`Model`."""

    def __init__(self) -> None:
        super().__init__()
        self.store: PriorityStore[Frame] | None = None
        self.model: Model | None = None
        self.ids = itertools.count()
        # The never-dropped ledger for CRITICAL/HIGH, from observed results only.
        self.must_deliver: dict[int, Frame] = {}  # pushed, held, not superseded
        self.popped: list[int] = []
        self.holder: dict[tuple[Priority, Hashable], int] = {}  # (class, key) -> held ident

    @initialize(max_frames=st.integers(1, 6), max_bytes=st.integers(1, 30))
    def create(self, max_frames: int, max_bytes: int) -> None:
        bounds = QueueBounds(max_frames, max_bytes)
        self.store = PriorityStore(bounds)
        self.model = Model(bounds)

    @rule(
        priority=st.sampled_from(Priority),
        size=st.integers(1, 12),
        key=st.none() | st.sampled_from(["a", "b"]),
    )
    def push(self, priority: Priority, size: int, key: str | None) -> None:
        assert self.store is not None and self.model is not None
        frame = Frame(next(self.ids), priority, size, key)
        queued_before = [list(q) for q in self.model.queues]
        expected = self.model.push(frame)
        actual = self.store.push(frame, priority, size, key)
        assert actual is expected, (frame, queued_before)

        # Shedding never touches CRITICAL/HIGH, nor anything more important than the
        # new frame, and takes LOW before NORMAL.
        victims = self.model.victims
        assert all(v.priority.sheddable and v.priority >= priority for v in victims)
        assert [v.priority for v in victims] == sorted((v.priority for v in victims), reverse=True)
        if any(v.priority is NORMAL for v in victims):
            assert not self.model.queues[LOW]

        if actual in (PushResult.QUEUED, PushResult.COALESCED):
            if key is not None:
                previous = self.holder.get((priority, key))
                if previous is not None:
                    self.must_deliver.pop(previous, None)  # superseded by a held frame
                self.holder[(priority, key)] = frame.ident
            if priority in NEVER_SHED:
                self.must_deliver[frame.ident] = frame
        if actual is PushResult.SHED:
            assert priority.sheddable
        if actual is PushResult.OVERFLOW:
            assert priority in NEVER_SHED

    def _popped(self, frame: Frame) -> None:
        self.popped.append(frame.ident)
        if frame.key is not None and self.holder.get((frame.priority, frame.key)) == frame.ident:
            del self.holder[(frame.priority, frame.key)]

    @rule()
    def pop(self) -> None:
        assert self.store is not None and self.model is not None
        expected = self.model.next_out()
        if expected is None:
            assert pop_one(self.store) is None
            return
        queued = [f for q in self.model.queues for f in q]
        got = pop_one(self.store)
        assert got == expected
        # Priority order stated directly: nothing still queued is more important.
        assert all(got.priority <= f.priority for f in queued)
        assert self.model.pop() == got
        self._popped(got)

    @rule()
    def pop_all(self) -> None:
        assert self.store is not None and self.model is not None
        expected = [f for q in self.model.queues for f in q]
        got = pop_everything(self.store)
        assert got == expected
        assert [f.priority for f in got] == sorted(f.priority for f in got)
        self.model.queues = [[] for _ in Priority]
        for frame in got:
            self._popped(frame)

    @rule(max_bytes=st.integers(0, 40))
    def pop_some(self, max_bytes: int) -> None:
        assert self.store is not None and self.model is not None
        queued = [f for q in self.model.queues for f in q]
        # the model: the longest prefix in delivery order whose sizes before the
        # last frame add up to less than the budget, and never empty when any is queued
        expected: list[Frame] = []
        total = 0
        for frame in queued:
            if expected and total >= max_bytes:
                break
            expected.append(frame)
            total += frame.size
        got = self.store.pop_some(max_bytes)
        assert got == expected
        for frame in got:
            assert self.model.pop() == frame
            self._popped(frame)

    @invariant()
    def matches_model_and_bounds(self) -> None:
        if self.store is None or self.model is None:
            return
        stats = self.store.statistics()
        assert stats == self.model.statistics()
        assert stats.total == len(self.store) == self.model.frames
        assert stats.queued_bytes == self.store.queued_bytes
        assert len(self.store) <= self.store.bounds.max_frames
        assert self.store.queued_bytes <= self.store.bounds.max_bytes
        assert stats.shed[CRITICAL] == 0 and stats.shed[HIGH] == 0

    def teardown(self) -> None:
        if self.store is None or self.model is None or sys.exc_info()[1] is not None:
            return  # a step already failed: report that failure, not a consequence
        rest = pop_everything(self.store)
        assert rest == [f for q in self.model.queues for f in q]
        for frame in rest:
            self._popped(frame)
        assert len(self.popped) == len(set(self.popped)), "a frame was delivered twice"
        lost = sorted(set(self.must_deliver) - set(self.popped))
        assert not lost, f"CRITICAL/HIGH frames dropped: {[self.must_deliver[i] for i in lost]}"


PriorityStoreMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None
)
TestPriorityStoreMachine = PriorityStoreMachine.TestCase


# --------------------------------------------------------------------------------------
# Targeted examples
# --------------------------------------------------------------------------------------


def test_priorities_compare_as_integers() -> None:
    assert sorted([LOW, CRITICAL, NORMAL, HIGH]) == [CRITICAL, HIGH, NORMAL, LOW]
    assert [int(p) for p in (CRITICAL, HIGH, NORMAL, LOW)] == [0, 1, 2, 3]
    assert [p.sheddable for p in (CRITICAL, HIGH, NORMAL, LOW)] == [False, False, True, True]


def test_pops_by_priority_then_fifo() -> None:
    store, push = make()
    low1, normal1, high1, crit1 = push(LOW), push(NORMAL), push(HIGH), push(CRITICAL)
    low2, high2, crit2, normal2 = push(LOW), push(HIGH), push(CRITICAL), push(NORMAL)
    assert pop_one(store) == crit1
    assert pop_everything(store) == [crit2, high1, high2, normal1, normal2, low1, low2]
    assert len(store) == 0 and store.queued_bytes == 0


def test_an_empty_store_gives_nothing() -> None:
    store, _ = make()
    assert store.pop_some(1 << 20) == []


def test_frame_bound_sheds_low_before_normal() -> None:
    store, push = make(max_frames=4)
    push(NORMAL)
    push(LOW)
    push(LOW)
    n2 = push(NORMAL)
    n3 = push(NORMAL)  # sheds a LOW, not the older NORMAL
    assert store.statistics().queued == (0, 0, 3, 1)
    h1 = push(HIGH)  # sheds the other LOW
    assert store.statistics().queued == (0, 1, 3, 0)
    h2 = push(HIGH)  # no LOW left: sheds the oldest NORMAL
    assert push.last_result is PushResult.QUEUED
    assert store.statistics().shed == (0, 0, 1, 2)
    assert pop_everything(store) == [h1, h2, n2, n3]


def test_shedding_takes_the_oldest_of_a_class_first() -> None:
    store, push = make(max_frames=2)
    push(LOW)
    low2 = push(LOW)
    low3 = push(LOW)
    assert push.last_result is PushResult.QUEUED
    assert pop_everything(store) == [low2, low3]


def test_incoming_frame_never_sheds_a_more_important_one() -> None:
    store, push = make(max_frames=2)
    n1, n2 = push(NORMAL), push(NORMAL)
    push(LOW)
    assert push.last_result is PushResult.SHED
    assert store.statistics().shed == (0, 0, 0, 1)
    assert pop_everything(store) == [n1, n2]


def test_normal_sheds_an_older_normal_when_no_low_is_queued() -> None:
    store, push = make(max_frames=2)
    push(NORMAL)
    n2 = push(NORMAL)
    n3 = push(NORMAL)
    assert push.last_result is PushResult.QUEUED
    assert pop_everything(store) == [n2, n3]
    assert store.statistics().shed == (0, 0, 1, 0)


@pytest.mark.parametrize("priority", [CRITICAL, HIGH])
def test_critical_and_high_overflow_instead_of_being_dropped(priority: Priority) -> None:
    store, push = make(max_frames=2)
    a, b = push(CRITICAL), push(HIGH)
    push(priority)
    assert push.last_result is PushResult.OVERFLOW
    stats = store.statistics()
    assert stats.overflowed == 1 and stats.shed == (0, 0, 0, 0)
    assert pop_everything(store) == [a, b]


def test_byte_bound_sheds_until_the_frame_fits() -> None:
    store, push = make(max_bytes=10)
    push(LOW, 4)
    push(LOW, 3)
    n1 = push(NORMAL, 3)
    c = push(CRITICAL, 6)  # needs 6 of 10 bytes: sheds both LOW frames, keeps n1
    assert push.last_result is PushResult.QUEUED
    assert store.queued_bytes == 9
    assert store.statistics().shed == (0, 0, 0, 2)
    assert pop_everything(store) == [c, n1]


@pytest.mark.parametrize(
    ("priority", "result"),
    [
        (CRITICAL, PushResult.OVERFLOW),
        (HIGH, PushResult.OVERFLOW),
        (NORMAL, PushResult.SHED),
        (LOW, PushResult.SHED),
    ],
)
def test_frame_larger_than_the_byte_bound_is_never_held(
    priority: Priority, result: PushResult
) -> None:
    store, push = make(max_bytes=10)
    push(priority, 11)
    assert push.last_result is result
    assert len(store) == 0 and store.queued_bytes == 0
    push(priority, 10)
    assert push.last_result is PushResult.QUEUED


def test_coalescing_keeps_only_the_latest_in_the_original_position() -> None:
    store, push = make()
    push(LOW, 5, key="typing:c1")
    other = push(LOW, 5, key="typing:c2")
    plain = push(LOW, 5)
    latest = push(LOW, 7, key="typing:c1")
    assert push.last_result is PushResult.COALESCED
    stats = store.statistics()
    assert stats.queued == (0, 0, 0, 3) and stats.queued_bytes == 17 and stats.coalesced == 1
    assert pop_everything(store) == [latest, other, plain]


def test_coalescing_is_per_class_and_ends_when_the_frame_is_sent() -> None:
    store, push = make()
    low = push(LOW, key="k")
    normal = push(NORMAL, key="k")
    assert push.last_result is PushResult.QUEUED  # same key, other class: no coalescing
    assert pop_one(store) == normal
    again = push(NORMAL, key="k")
    assert push.last_result is PushResult.QUEUED  # the earlier one already left
    assert pop_everything(store) == [again, low]
    assert store.statistics().coalesced == 0


def test_keyed_low_replacement_that_needs_room_is_queued_afresh() -> None:
    store, push = make(max_bytes=10)
    push(LOW, 2, key="k")
    push(LOW, 3)
    n1 = push(NORMAL, 4)
    new = push(LOW, 5, key="k")  # 9 - 2 + 5 > 10: the old one goes, then the other LOW
    assert push.last_result is PushResult.QUEUED
    assert pop_everything(store) == [n1, new]
    assert store.statistics().shed == (0, 0, 0, 2)


def test_keyed_low_replacement_that_cannot_fit_is_shed() -> None:
    store, push = make(max_bytes=10)
    push(LOW, 2, key="k")
    n1 = push(NORMAL, 6)
    push(LOW, 5, key="k")  # 6 + 5 > 10 even without the old one
    assert push.last_result is PushResult.SHED
    assert pop_everything(store) == [n1]
    assert store.statistics().shed == (0, 0, 0, 2)


@pytest.mark.parametrize("priority", [CRITICAL, HIGH])
def test_keyed_critical_or_high_frame_is_not_lost_when_its_replacement_overflows(
    priority: Priority,
) -> None:
    # A queued CRITICAL/HIGH frame must be delivered unless a newer frame with its
    # key is held instead. Here the newer, larger one cannot be held (OVERFLOW), so
    # the queued one must stay, and nothing of its class is counted as shed.
    store, push = make(max_bytes=10)
    held = push(priority, 4, key="state")
    c = push(CRITICAL, 5)
    push(priority, 8, key="state")
    assert push.last_result is PushResult.OVERFLOW
    assert store.statistics().shed == (0, 0, 0, 0)
    assert sorted(pop_everything(store), key=lambda f: f.ident) == [held, c]


@pytest.mark.parametrize("priority", [CRITICAL, HIGH])
def test_keyed_critical_or_high_replacement_sheds_for_room_and_stays_in_place(
    priority: Priority,
) -> None:
    store, push = make(max_bytes=10)
    push(priority, 3, key="state")
    later = push(priority, 1)
    push(LOW, 5)
    newer = push(priority, 7, key="state")  # 9 - 3 + 7 > 10: the LOW frame is shed for room
    assert push.last_result is PushResult.COALESCED
    stats = store.statistics()
    assert stats.shed == (0, 0, 0, 1)
    assert stats.coalesced == 1
    assert pop_everything(store) == [newer, later]


def test_keyed_low_replacement_sheds_an_older_frame_and_stays_in_place() -> None:
    store, push = make(max_bytes=10)
    push(LOW, 2)
    push(LOW, 2, key="k")
    after = push(LOW, 1)
    n1 = push(NORMAL, 4)
    newer = push(LOW, 4, key="k")  # 9 - 2 + 4 > 10: the oldest LOW is shed for room
    assert push.last_result is PushResult.COALESCED
    assert store.statistics().shed == (0, 0, 0, 1)
    assert pop_everything(store) == [n1, newer, after]


def test_clear_drops_everything_and_forgets_keys() -> None:
    store, push = make()
    push(CRITICAL, 3)
    push(LOW, 2, key="k")
    assert store.clear() == 2
    assert len(store) == 0 and store.queued_bytes == 0
    fresh = push(LOW, 2, key="k")
    assert push.last_result is PushResult.QUEUED
    assert pop_everything(store) == [fresh]


def test_statistics_total_and_counters() -> None:
    store, push = make(max_frames=3)
    push(HIGH, 2)
    push(LOW, 3, key="k")
    push(LOW, 4, key="k")
    push(NORMAL, 5)
    push(LOW, 1)  # full: sheds the older (coalesced) LOW
    push(CRITICAL, 1)  # full: sheds that LOW in turn
    stats = store.statistics()
    assert stats.queued == (1, 1, 1, 0)
    assert stats.total == 3 == len(store)
    assert stats.queued_bytes == 8 == store.queued_bytes
    assert stats.coalesced == 1
    assert stats.shed == (0, 0, 0, 2)
    assert stats.overflowed == 0


@pytest.mark.parametrize(("max_frames", "max_bytes"), [(0, 10), (10, 0), (-1, -1)])
def test_bounds_must_be_positive(max_frames: int, max_bytes: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        QueueBounds(max_frames, max_bytes)


def test_nothing_is_shed_when_shedding_cannot_make_room() -> None:
    store, push = make(max_bytes=10)
    c = push(CRITICAL, 8)
    low = push(LOW, 2)
    push(NORMAL, 5)  # even without the LOW there would be 13 bytes: refuse, keep the LOW
    assert push.last_result is PushResult.SHED
    assert store.statistics().shed == (0, 0, 1, 0)
    push(HIGH, 4)
    assert push.last_result is PushResult.OVERFLOW
    assert pop_everything(store) == [c, low]


@pytest.mark.parametrize("priority", [CRITICAL, HIGH, NORMAL])
def test_coalescing_sheds_as_many_frames_as_the_replacement_needs(priority: Priority) -> None:
    store, push = make(max_bytes=10)
    push(LOW, 3)
    push(LOW, 3)
    push(priority, 2, key="k")
    newer = push(priority, 8, key="k")  # 8 - 2 + 8 > 10 and 5 - 2 + 8 > 10: both LOW go
    assert push.last_result is PushResult.COALESCED
    assert store.statistics().shed == (0, 0, 0, 2)
    assert store.queued_bytes == 8
    assert pop_everything(store) == [newer]


def test_clear_forgets_the_bytes_of_each_class() -> None:
    # After a clear, whether shedding can make room counts only what is queued since.
    store, push = make(max_bytes=10)
    push(NORMAL, 5)
    push(LOW, 5)
    assert store.clear() == 2
    c = push(HIGH, 5)
    n = push(NORMAL, 5)
    push(NORMAL, 6)  # shedding the NORMAL would leave 11 bytes: refused at once
    assert push.last_result is PushResult.SHED
    push(LOW, 1)  # no LOW to shed: refused at once
    assert push.last_result is PushResult.SHED
    assert store.statistics().shed == (0, 0, 1, 1)
    assert pop_everything(store) == [c, n]


@pytest.mark.parametrize(
    ("sizes", "max_bytes", "taken"),
    [
        ([3, 3, 3], 4, 2),  # 3 is below 4: one more, then 6 is not
        ([2, 2, 2], 4, 2),  # exactly 4 is not below 4: stop
        ([1, 1, 1, 1], 3, 3),  # the sizes add up
        ([50, 1], 10, 1),  # at least one, however large
        ([1], 0, 1),
    ],
)
def test_pop_some_takes_frames_while_their_total_is_below_max_bytes(
    sizes: list[int], max_bytes: int, taken: int
) -> None:
    store, push = make()
    frames = [push(NORMAL, size) for size in sizes]
    assert store.pop_some(max_bytes) == frames[:taken]
    assert pop_everything(store) == frames[taken:]


def test_pop_some_counts_across_classes_in_delivery_order() -> None:
    store, push = make()
    low = push(LOW, 2)
    crit = push(CRITICAL, 2)
    normal = push(NORMAL, 2)
    assert store.pop_some(4) == [crit, normal]
    assert store.pop_some(4) == [low]
    assert store.pop_some(4) == []


def test_a_replacement_that_fits_exactly_sheds_nothing() -> None:
    store, push = make(max_bytes=10)
    low = push(LOW, 3)
    push(HIGH, 3, key="k")
    normal = push(NORMAL, 2)
    newer = push(HIGH, 5, key="k")  # 8 - 3 + 5 is exactly the bound: it fits as it is
    assert push.last_result is PushResult.COALESCED
    assert store.statistics().shed == (0, 0, 0, 0)
    assert store.queued_bytes == 10
    assert pop_everything(store) == [newer, normal, low]


@pytest.mark.parametrize(("old", "new"), [(10, 30), (30, 10)])
def test_a_coalesced_low_frame_counts_its_new_size_when_shedding_is_weighed(
    old: int, new: int
) -> None:
    """After a LOW frame is replaced by one of another size, whether shedding
    LOW frames makes room for a CRITICAL one is weighed with the new size."""
    store, push = make(max_bytes=40)
    push(LOW, old, key="typing")
    push(LOW, new, key="typing")
    assert push.last_result is PushResult.COALESCED
    critical = push(CRITICAL, 40)  # fits once the LOW frame's every byte is shed
    assert push.last_result is PushResult.QUEUED
    assert store.statistics().shed == (0, 0, 0, 1)
    assert pop_everything(store) == [critical]
    push(CRITICAL, 41)  # more than the bound: nothing left to shed can make room
    assert push.last_result is PushResult.OVERFLOW
