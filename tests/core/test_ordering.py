"""InOrder: one user's events handed on in seq order, whatever order they arrive in."""

from __future__ import annotations

import attrs
from hypothesis import given
from hypothesis import strategies as st

from netra_trio.core.ordering import InOrder


@attrs.frozen
class Ev:
    seq: int
    source: str = "live"


def seqs(events: list[Ev]) -> list[int]:
    return [e.seq for e in events]


def test_events_in_order_pass_straight_through() -> None:
    order: InOrder[Ev] = InOrder(1)
    assert seqs(order.offer([Ev(1), Ev(2)], now=0.0)) == [1, 2]
    assert seqs(order.offer([Ev(3)], now=0.0)) == [3]
    assert order.next_seq == 4 and order.held == 0 and order.missing_since is None


def test_early_events_wait_for_the_missing_one() -> None:
    order: InOrder[Ev] = InOrder(1)
    assert order.offer([Ev(3), Ev(4)], now=5.0) == []
    assert (order.held, order.missing_since) == (2, 5.0)
    assert order.offer([Ev(6)], now=6.0) == []
    assert order.missing_since == 5.0  # since the first time seq 1 was missing
    assert seqs(order.offer([Ev(1), Ev(2)], now=7.0)) == [1, 2, 3, 4]
    assert (order.next_seq, order.held, order.missing_since) == (5, 1, 7.0)  # 5 is missing now
    assert seqs(order.offer([Ev(5)], now=8.0)) == [5, 6]
    assert (order.held, order.missing_since) == (0, None)


def test_what_was_handed_on_already_is_dropped() -> None:
    order: InOrder[Ev] = InOrder(3)
    assert seqs(order.offer([Ev(1), Ev(2), Ev(3)], now=0.0)) == [3]
    assert order.offer([Ev(3)], now=0.0) == []
    assert seqs(order.offer([Ev(5), Ev(4), Ev(5)], now=0.0)) == [4, 5]


def test_a_gap_is_closed_from_the_store() -> None:
    order: InOrder[Ev] = InOrder(1)
    order.offer([Ev(3, "live")], now=0.0)
    ready = order.fill([Ev(1, "store"), Ev(2, "store"), Ev(3, "store"), Ev(4, "store")])
    assert [(e.seq, e.source) for e in ready] == [
        (1, "store"),
        (2, "store"),
        (3, "live"),
        (4, "store"),
    ]
    assert (order.next_seq, order.missing_since) == (5, None)
    assert order.fill([Ev(2, "store")]) == []  # old: nothing


def test_a_gap_gone_from_the_store_is_skipped() -> None:
    order: InOrder[Ev] = InOrder(1)
    order.offer([Ev(5), Ev(7)], now=0.0)
    assert seqs(order.skip_gap()) == [5]
    assert (order.next_seq, order.held) == (6, 1)
    assert seqs(order.skip_gap()) == [7]
    assert order.skip_gap() == []  # nothing held: nothing to skip to
    assert order.next_seq == 8


@given(st.permutations(list(range(1, 25))), st.integers(1, 6))
def test_any_arrival_order_is_handed_on_once_in_order(arrival: list[int], chunk: int) -> None:
    order: InOrder[Ev] = InOrder(1)
    out: list[int] = []
    for start in range(0, len(arrival), chunk):
        out += seqs(order.offer([Ev(s) for s in arrival[start : start + chunk]], now=0.0))
        out += seqs(order.offer([Ev(s) for s in arrival[:start]], now=0.0))  # duplicates
    assert out == list(range(1, 25))
    assert order.held == 0 and order.missing_since is None
