"""MessageRate: a user's token bucket, shared by its connections; an abuse count per connection."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netra_trio.core.limits import TokenBucket
from netra_trio.core.rate import (
    ABUSE_WINDOW_S,
    ALLOWED,
    MessageRate,
    RateDecision,
    RateVerdict,
    shown_wait_s,
)

ALLOW, REFUSE, CLOSE = RateVerdict.ALLOW, RateVerdict.REFUSE, RateVerdict.REFUSE_AND_CLOSE


def user_bucket(rate: float = 2.0, burst: int = 3, now: float = 0.0) -> TokenBucket:
    """A user's bucket as the shell makes it: full, last updated at ``now``."""
    return TokenBucket(rate, burst, updated=now)


def refused(retry_after_s: float) -> RateDecision:
    return RateDecision(REFUSE, retry_after_s)


def test_the_verdicts_and_the_allowed_decision() -> None:
    assert [v.value for v in RateVerdict] == ["allow", "refuse", "refuse_and_close"]
    assert RateDecision(ALLOW, 0.0) == ALLOWED
    assert RateDecision(ALLOW).retry_after_s == 0.0
    assert ABUSE_WINDOW_S == 10.0


def test_a_burst_is_allowed_then_the_next_frame_waits_one_token() -> None:
    rate = MessageRate(user_bucket(rate=2.0, burst=3), abuse_limit=5)
    assert [rate.check(0.0) for _ in range(3)] == [ALLOWED] * 3
    # no token left: one comes in 1/2 s
    assert rate.check(0.0) == refused(0.5)


def test_the_bucket_refills_at_the_rate() -> None:
    rate = MessageRate(user_bucket(rate=2.0, burst=3), abuse_limit=5)
    for _ in range(3):
        assert rate.check(0.0) is ALLOWED
    assert rate.check(0.25) == refused(0.25)  # half a token there
    assert rate.check(0.5) is ALLOWED  # exactly one token: enough
    assert rate.check(0.5) == refused(0.5)
    assert rate.check(1.5) is ALLOWED  # two tokens came back
    assert rate.check(1.5) is ALLOWED
    assert rate.check(1.5) == refused(0.5)


def test_the_refill_stops_at_the_burst() -> None:
    rate = MessageRate(user_bucket(rate=2.0, burst=3), abuse_limit=100)
    assert rate.check(0.0) is ALLOWED
    # an hour idle gives back the burst, not 7200 tokens
    assert [rate.check(3600.0).verdict for _ in range(4)] == [ALLOW, ALLOW, ALLOW, REFUSE]


def test_a_fresh_bucket_is_full_whatever_the_clock_reads() -> None:
    # A monotonic clock has no fixed origin: a reading below zero is still a
    # moment at which the user's bucket was made full.
    rate = MessageRate(user_bucket(rate=1.0, burst=2, now=-50.0), abuse_limit=5)
    assert [rate.check(-50.0).verdict for _ in range(3)] == [ALLOW, ALLOW, REFUSE]


def test_a_frame_costs_one_token_by_default() -> None:
    rate = MessageRate(user_bucket(rate=1.0, burst=1), abuse_limit=5)
    assert rate.check(0.0) is ALLOWED
    assert rate.check(0.0) == refused(1.0)


def test_a_batch_costs_one_token_per_frame() -> None:
    rate = MessageRate(user_bucket(rate=2.0, burst=5), abuse_limit=5)
    assert rate.check(0.0, cost=3) is ALLOWED
    # two tokens left: a batch of three waits for the third, in 1/2 s
    assert rate.check(0.0, cost=3) == refused(0.5)
    assert rate.check(0.0, cost=2) is ALLOWED  # a refused batch spent nothing
    assert rate.check(1.5, cost=3) is ALLOWED


def test_a_batch_of_exactly_the_burst_is_allowed() -> None:
    rate = MessageRate(user_bucket(rate=1.0, burst=4), abuse_limit=5)
    assert rate.check(0.0, cost=4) is ALLOWED
    assert rate.check(0.0, cost=1) == refused(1.0)


def test_connections_of_one_user_share_the_bucket() -> None:
    shared = user_bucket(rate=1.0, burst=2)
    first = MessageRate(shared, abuse_limit=5)
    second = MessageRate(shared, abuse_limit=5)
    assert first.check(0.0) is ALLOWED
    assert second.check(0.0) is ALLOWED
    assert first.check(0.0) == refused(1.0)
    assert second.check(0.0) == refused(1.0)
    assert second.check(1.0) is ALLOWED  # the token that came back is the user's, once
    assert first.check(1.0) == refused(1.0)


def test_another_user_has_a_bucket_of_its_own() -> None:
    alice = MessageRate(user_bucket(rate=1.0, burst=1), abuse_limit=5)
    bob = MessageRate(user_bucket(rate=1.0, burst=1), abuse_limit=5)
    assert alice.check(0.0) is ALLOWED
    assert alice.check(0.0).verdict is REFUSE
    assert bob.check(0.0) is ALLOWED


def test_the_refusal_at_the_abuse_limit_closes() -> None:
    rate = MessageRate(user_bucket(rate=1.0, burst=1), abuse_limit=3)
    assert rate.check(0.0) is ALLOWED
    assert rate.check(0.0) == refused(1.0)
    assert rate.check(0.25) == refused(0.75)
    # the third refusal within the window: refused with the wait, and closed
    assert rate.check(0.5) == RateDecision(CLOSE, 0.5)


def test_an_abuse_limit_of_one_closes_on_the_first_refusal() -> None:
    rate = MessageRate(user_bucket(rate=1.0, burst=1), abuse_limit=1)
    assert rate.check(0.0) is ALLOWED
    assert rate.check(0.0) == RateDecision(CLOSE, 1.0)


def test_allowed_frames_do_not_count_as_abuse() -> None:
    rate = MessageRate(user_bucket(rate=1.0, burst=1), abuse_limit=2)
    assert rate.check(0.0) is ALLOWED
    assert rate.check(0.0).verdict is REFUSE
    for t in (1.0, 2.0, 3.0, 4.0):  # one frame a second: always within the rate
        assert rate.check(t) is ALLOWED
    assert rate.check(4.0).verdict is CLOSE  # the second refusal in 10 s


def test_the_abuse_window_slides() -> None:
    # burst 0: every frame is refused, so only the abuse count decides
    rate = MessageRate(TokenBucket(1e-9, 0, updated=0.0), abuse_limit=3, window_s=10.0)
    assert rate.check(0.0).verdict is REFUSE
    assert rate.check(5.0).verdict is REFUSE
    # the refusal at 0 s has left the window exactly at 10 s
    assert rate.check(10.0).verdict is REFUSE
    assert rate.check(14.0).verdict is CLOSE  # 5, 10 and 14 are within 10 s


def test_a_refusal_just_inside_the_window_still_counts() -> None:
    rate = MessageRate(TokenBucket(1e-9, 0, updated=0.0), abuse_limit=2, window_s=10.0)
    assert rate.check(0.0).verdict is REFUSE
    assert rate.check(9.999).verdict is CLOSE


def test_the_default_abuse_window_is_ten_seconds() -> None:
    rate = MessageRate(TokenBucket(1e-9, 0, updated=0.0), abuse_limit=2)
    assert rate.check(0.0).verdict is REFUSE
    assert rate.check(10.0).verdict is REFUSE  # the first one has left the window
    assert rate.check(19.9).verdict is CLOSE


def test_a_custom_abuse_window() -> None:
    rate = MessageRate(TokenBucket(1e-9, 0, updated=0.0), abuse_limit=2, window_s=1.0)
    assert rate.check(0.0).verdict is REFUSE
    assert rate.check(1.0).verdict is REFUSE
    assert rate.check(1.5).verdict is CLOSE


def test_connections_sharing_a_bucket_count_abuse_apart() -> None:
    shared = TokenBucket(1e-9, 0, updated=0.0)
    noisy = MessageRate(shared, abuse_limit=3)
    quiet = MessageRate(shared, abuse_limit=3)
    assert noisy.check(0.0).verdict is REFUSE
    assert noisy.check(1.0).verdict is REFUSE
    # the quiet connection is refused too (the user's budget is spent), but
    # its own count is at one: it is not closed for the other one's frames
    assert quiet.check(1.5).verdict is REFUSE
    assert noisy.check(2.0).verdict is CLOSE
    assert quiet.check(2.5).verdict is REFUSE
    assert quiet.check(3.0).verdict is CLOSE


def test_a_closing_verdict_stays_while_the_abuse_goes_on() -> None:
    rate = MessageRate(TokenBucket(1e-9, 0, updated=0.0), abuse_limit=2)
    verdicts = [rate.check(t / 10).verdict for t in range(5)]
    assert verdicts == [REFUSE, CLOSE, CLOSE, CLOSE, CLOSE]


@settings(max_examples=300, deadline=None)
@given(
    rate_per_s=st.floats(0.5, 50.0),
    burst=st.integers(1, 30),
    steps=st.lists(
        st.tuples(st.floats(0.0, 2.0), st.integers(1, 5)),
        min_size=1,
        max_size=60,
    ),
)
def test_a_bucket_never_allows_more_than_the_burst_plus_the_refill(
    rate_per_s: float, burst: int, steps: list[tuple[float, int]]
) -> None:
    rate = MessageRate(user_bucket(rate=rate_per_s, burst=burst, now=100.0), abuse_limit=10_000)
    now, spent = 100.0, 0
    for dt, cost in steps:
        now += dt
        decision = rate.check(now, cost)
        if decision.verdict is ALLOW:
            spent += cost
            assert decision.retry_after_s == 0.0
        else:
            assert decision.verdict is REFUSE
            assert decision.retry_after_s > 0.0
            # never longer than refilling the whole cost from empty
            assert decision.retry_after_s <= cost / rate_per_s + 1e-9
        assert spent <= burst + rate_per_s * (now - 100.0) + 1e-6


@settings(max_examples=300, deadline=None)
@given(
    rate_per_s=st.floats(0.5, 50.0),
    burst=st.integers(1, 30),
    spend=st.integers(0, 30),
    wait=st.floats(0.0, 5.0),
    cost=st.integers(1, 30),
)
def test_the_retry_after_is_exactly_the_wait_for_the_cost(
    rate_per_s: float, burst: int, spend: int, wait: float, cost: int
) -> None:
    """Refused: retrying after ``retry_after_s`` succeeds, and retrying
    noticeably sooner does not (the cost fits in the burst)."""
    cost = min(cost, burst)
    bucket = user_bucket(rate=rate_per_s, burst=burst)
    rate = MessageRate(bucket, abuse_limit=10_000)
    rate.check(0.0, min(spend, burst))
    decision = rate.check(wait, cost)
    if decision.verdict is ALLOW:
        return
    retry = decision.retry_after_s
    tokens_then = bucket.tokens
    assert math.isclose(tokens_then + retry * rate_per_s, cost, rel_tol=1e-9, abs_tol=1e-9)
    if retry > 1e-3:
        sooner = MessageRate(TokenBucket(rate_per_s, burst, tokens_then, updated=wait), 10_000)
        assert sooner.check(wait + retry * 0.99, cost).verdict is REFUSE
    later = MessageRate(TokenBucket(rate_per_s, burst, tokens_then, updated=wait), 10_000)
    assert later.check(wait + retry * 1.000001 + 1e-9, cost) is ALLOWED


@pytest.mark.parametrize("abuse_limit", [1, 2, 5, 20])
def test_sustained_abuse_closes_at_exactly_the_limit(abuse_limit: int) -> None:
    rate = MessageRate(TokenBucket(1e-9, 0, updated=0.0), abuse_limit=abuse_limit)
    verdicts = [rate.check(i * 0.01).verdict for i in range(abuse_limit + 1)]
    assert verdicts == [REFUSE] * (abuse_limit - 1) + [CLOSE, CLOSE]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0, 0.001),  # never "retry in 0"
        (0.0000048, 0.001),
        (0.001, 0.001),
        (0.0010001, 0.002),  # rounded up: never early
        (0.2, 0.2),
        (0.2 + 1e-12, 0.2),  # float noise is not a millisecond
        (1.23456, 1.235),
    ],
)
def test_the_wait_shown_to_a_client(seconds: float, shown: float) -> None:
    assert shown_wait_s(seconds) == shown


@settings(max_examples=300, deadline=None)
@given(seconds=st.floats(0.0, 1e4))
def test_the_wait_shown_is_never_zero_nor_early_by_more_than_float_noise(seconds: float) -> None:
    shown = shown_wait_s(seconds)
    assert shown >= 0.001
    assert shown >= seconds - 1e-6
    assert shown - 0.001 < max(seconds, 0.001)
