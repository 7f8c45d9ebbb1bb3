"""Admission, violation counting, protocol size constants, UTF-8 length checks, token
buckets and the abuse window."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netra_trio.core.limits import (
    MAX_BATCH_MESSAGES,
    MAX_CONTENT_CHARS,
    AbuseCounter,
    Admission,
    Cooldowns,
    TokenBucket,
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


# -- TokenBucket and AbuseCounter (the user's message rate and the handshake rate use them) -------


def test_a_token_bucket_starts_full() -> None:
    bucket = TokenBucket(rate=2.0, burst=5)
    assert bucket.tokens == 5
    assert bucket.updated == 0.0
    assert bucket.full(0.0)


def test_a_token_bucket_may_start_with_fewer_tokens() -> None:
    empty = TokenBucket(rate=2.0, burst=5, tokens=0.0, updated=10.0)
    assert empty.tokens == 0.0  # zero is a count, not "unset"
    assert empty.take(10.0) == 0.5
    assert TokenBucket(rate=1.0, burst=5, tokens=2.5).tokens == 2.5


def test_take_spends_tokens_and_says_how_long_to_wait() -> None:
    bucket = TokenBucket(rate=4.0, burst=2, updated=0.0)
    assert bucket.take(0.0) is None
    assert bucket.tokens == 1.0
    assert bucket.take(0.0, 1.0) is None
    assert bucket.take(0.0) == 0.25
    assert bucket.take(0.0, 2.0) == 0.5
    assert bucket.tokens == 0.0  # a refusal spends nothing


def test_take_refills_by_the_time_since_the_last_take() -> None:
    bucket = TokenBucket(rate=4.0, burst=8, tokens=0.0, updated=100.0)
    assert bucket.take(100.5, 3.0) == 0.25  # two tokens came back, three are needed
    assert bucket.tokens == 2.0
    assert bucket.updated == 100.5
    assert bucket.take(100.75, 3.0) is None  # exactly three
    assert bucket.tokens == 0.0
    assert bucket.take(1000.0, 8.0) is None  # refilled to the burst, no further
    assert bucket.take(1000.0, 0.5) == 0.125


def test_take_of_more_than_is_there_waits_for_the_difference() -> None:
    bucket = TokenBucket(rate=0.5, burst=4, tokens=1.0, updated=0.0)
    assert bucket.take(0.0, 4.0) == 6.0  # three missing tokens at half a token a second


def test_full_is_exact_at_the_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, updated=0.0)
    assert bucket.take(0.0, 3.0) is None
    assert not bucket.full(1.0)
    assert not bucket.full(1.49)
    assert bucket.full(1.5)
    assert bucket.full(100.0)
    assert bucket.tokens == 0.0  # full() looks, it does not refill
    assert bucket.updated == 0.0


def test_a_partly_spent_bucket_is_full_once_the_rest_came_back() -> None:
    bucket = TokenBucket(rate=1.0, burst=3, updated=5.0)
    assert bucket.take(5.0) is None
    assert not bucket.full(5.5)
    assert bucket.full(6.0)


def test_abuse_is_sustained_at_the_limit_within_the_window() -> None:
    counter = AbuseCounter(limit=3, window_s=10.0)
    assert counter.refused(0.0) is False
    assert counter.refused(1.0) is False
    assert counter.refused(2.0) is True
    assert counter.refused(3.0) is True


def test_abuse_refusals_leave_the_window_after_window_s() -> None:
    counter = AbuseCounter(limit=2, window_s=5.0)
    assert counter.refused(0.0) is False
    assert counter.refused(5.0) is False  # the first is exactly window_s old: gone
    assert counter.refused(9.9) is True
    assert counter.refused(100.0) is False  # all the others are gone
    assert counter.refused(100.0) is True  # two at the same moment


def test_abuse_counters_are_independent() -> None:
    a, b = AbuseCounter(limit=2, window_s=10.0), AbuseCounter(limit=2, window_s=10.0)
    assert a.refused(0.0) is False
    assert b.refused(0.0) is False
    assert a.refused(1.0) is True


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(1, 6),
    window=st.floats(0.5, 20.0),
    gaps=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=40),
)
def test_abuse_agrees_with_counting_the_window(
    limit: int, window: float, gaps: list[float]
) -> None:
    counter = AbuseCounter(limit, window)
    now, times = 0.0, []
    for gap in gaps:
        now += gap
        times.append(now)
        in_window = [t for t in times if t > now - window]
        assert counter.refused(now) is (len(in_window) >= limit)


def test_a_cooldown_refuses_its_user_until_it_ends() -> None:
    cooldowns = Cooldowns(10.0)
    assert cooldowns.remaining_s("mallory", 0.0) == 0.0
    cooldowns.start("mallory", 100.0)
    assert cooldowns.remaining_s("mallory", 100.0) == 10.0
    assert cooldowns.remaining_s("mallory", 104.0) == 6.0
    assert cooldowns.remaining_s("alice", 104.0) == 0.0
    cooldowns.start("mallory", 105.0)  # closed again: the wait starts again
    assert cooldowns.remaining_s("mallory", 110.0) == 5.0
    assert cooldowns.remaining_s("mallory", 115.0) == 0.0
    assert cooldowns.remaining_s("mallory", 115.0) == 0.0  # (forgotten)


def test_cooldowns_remember_a_bounded_number_of_users() -> None:
    cooldowns = Cooldowns(10.0, max_entries=3)
    for n, user in enumerate(["a", "b", "c"]):
        cooldowns.start(user, float(n))
    cooldowns.start("d", 10.5)  # "a" (ended at 10) makes room
    assert [cooldowns.remaining_s(u, 10.5) > 0 for u in "abcd"] == [False, True, True, True]
    cooldowns.start("e", 10.5)  # none has ended: the earliest to end ("b", at 11) goes
    assert [cooldowns.remaining_s(u, 10.5) > 0 for u in "bcde"] == [False, True, True, True]
