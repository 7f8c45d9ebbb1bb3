"""Admission, violation counting, protocol size constants and UTF-8 length checks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netra_trio.core.limits import (
    MAX_BATCH_MESSAGES,
    MAX_CONTENT_CHARS,
    Admission,
    ViolationAction,
    ViolationCounter,
    admit_connection,
    utf8_length_exceeds,
)


@pytest.mark.parametrize(
    ("held", "limit", "expected"),
    [
        (0, 5, Admission.ADMIT),
        (4, 5, Admission.ADMIT),
        (5, 5, Admission.TOO_MANY_CONNECTIONS),
        (6, 5, Admission.TOO_MANY_CONNECTIONS),
        (0, 1, Admission.ADMIT),
        (1, 1, Admission.TOO_MANY_CONNECTIONS),
    ],
)
def test_admission_at_the_limit(held: int, limit: int, expected: Admission) -> None:
    assert admit_connection(held, limit) is expected


def test_violation_counter_refuses_then_closes_at_the_limit() -> None:
    counter = ViolationCounter(limit=5)
    actions = [counter.record() for _ in range(5)]
    assert actions == [ViolationAction.REFUSE] * 4 + [ViolationAction.REFUSE_AND_CLOSE]
    assert counter.count == 5
    assert counter.record() is ViolationAction.REFUSE_AND_CLOSE  # stays closed past the limit
    assert counter.count == 6


def test_violation_counter_with_limit_one_closes_on_the_first() -> None:
    counter = ViolationCounter(limit=1)
    assert counter.record() is ViolationAction.REFUSE_AND_CLOSE


def test_violation_counters_are_independent() -> None:
    a, b = ViolationCounter(limit=2), ViolationCounter(limit=2)
    a.record()
    assert b.record() is ViolationAction.REFUSE
    assert a.record() is ViolationAction.REFUSE_AND_CLOSE


def test_protocol_size_constants() -> None:
    assert MAX_BATCH_MESSAGES == 50
    assert MAX_CONTENT_CHARS == 10_000


@pytest.mark.parametrize(
    ("char", "width"),
    [("a", 1), ("é", 2), ("€", 3), ("😀", 4)],
)
def test_utf8_length_at_exact_boundaries(char: str, width: int) -> None:
    for count in (1, 2, 7, 100):
        text = char * count
        size = width * count
        assert not utf8_length_exceeds(text, size)
        assert utf8_length_exceeds(text, size - 1)
        assert not utf8_length_exceeds(text, size + 1)


def test_utf8_length_counts_bytes_not_characters() -> None:
    # 100 characters but 400 bytes: within a character limit of 256, over a byte limit.
    text = "😀" * 100
    assert len(text) < 256
    assert utf8_length_exceeds(text, 256)
    mixed = "a€😀é"  # 1 + 3 + 4 + 2 bytes
    assert not utf8_length_exceeds(mixed, 10)
    assert utf8_length_exceeds(mixed, 9)


def test_utf8_length_of_empty_text() -> None:
    assert not utf8_length_exceeds("", 0)
    assert utf8_length_exceeds("a", 0)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40), max_bytes=st.integers(0, 200))
def test_utf8_length_agrees_with_encoding(text: str, max_bytes: int) -> None:
    assert utf8_length_exceeds(text, max_bytes) == (len(text.encode("utf-8")) > max_bytes)
