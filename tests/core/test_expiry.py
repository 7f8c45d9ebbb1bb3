"""ExpiryPolicy: the idle/token deadline, when it moves, and why a connection ends."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netra_trio.core.expiry import ExpiryPolicy
from netra_trio.errors import CloseCode

POLICY = ExpiryPolicy(idle_timeout_s=1800.0, granularity_s=1.0)


def test_deadline_is_idle_timeout_after_activity_without_a_token_expiry() -> None:
    assert POLICY.deadline(1000.0) == 2800.0
    assert POLICY.deadline(1000.0, math.inf) == 2800.0


def test_deadline_is_the_token_expiry_when_it_comes_first() -> None:
    assert POLICY.deadline(1000.0, token_expires_at=1500.0) == 1500.0
    assert POLICY.deadline(1000.0, token_expires_at=5000.0) == 2800.0


def test_default_granularity_is_one_second() -> None:
    assert ExpiryPolicy(idle_timeout_s=10.0).granularity_s == 1.0


def test_extended_moves_only_once_the_true_deadline_passes_it() -> None:
    current = POLICY.deadline(1000.0)  # 2800
    assert POLICY.extended(current, now=1000.0) is None  # still exactly right
    new = POLICY.extended(current, now=1000.5)  # the true deadline (2800.5) passed it
    assert new == 2801.5  # one granularity of slack beyond the true deadline
    assert POLICY.extended(new, now=1001.4) is None  # 2801.4 is still covered
    assert POLICY.extended(new, now=1600.0) == 3401.0


def test_a_short_idle_timeout_still_moves_the_deadline() -> None:
    policy = ExpiryPolicy(idle_timeout_s=1.0)
    current = policy.deadline(0.0)  # 1.0
    new = policy.extended(current, now=0.3)
    assert new == 2.3
    assert policy.reason(now=2.3, last_activity=0.3) is not None  # fires after the true deadline
    assert policy.reason(now=1.0, last_activity=0.3) is None


def test_extended_is_capped_by_the_token_expiry() -> None:
    current = POLICY.deadline(1000.0, token_expires_at=2000.0)
    assert current == 2000.0
    assert POLICY.extended(current, now=1500.0, token_expires_at=2000.0) is None
    later = POLICY.deadline(1000.0, token_expires_at=9000.0)
    assert POLICY.extended(later, now=1500.0, token_expires_at=2000.0) is None  # never backwards
    assert POLICY.extended(1500.0, now=1000.0, token_expires_at=1600.0) == 1600.0


def test_reason_before_the_deadline_is_none() -> None:
    assert POLICY.reason(now=2799.9, last_activity=1000.0) is None
    assert POLICY.reason(now=1499.9, last_activity=1000.0, token_expires_at=1500.0) is None


def test_reason_idle_is_session_expired() -> None:
    reason = POLICY.reason(now=2800.0, last_activity=1000.0)
    assert reason is CloseCode.SESSION_EXPIRED
    assert int(reason) == 4001


def test_reason_token_expiry_before_idle_is_policy_violation() -> None:
    reason = POLICY.reason(now=1500.0, last_activity=1000.0, token_expires_at=1500.0)
    assert reason is CloseCode.POLICY_VIOLATION
    assert int(reason) == 1008


def test_token_expiry_wins_when_both_have_passed_at_once() -> None:
    reason = POLICY.reason(now=2800.0, last_activity=1000.0, token_expires_at=2800.0)
    assert reason is CloseCode.POLICY_VIOLATION


times = st.floats(0, 1e7, allow_nan=False)
durations = st.floats(0.001, 1e5, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(last=times, idle=durations, token_offset=st.none() | durations, now=times)
def test_reason_is_set_exactly_from_the_deadline_on(
    last: float, idle: float, token_offset: float | None, now: float
) -> None:
    policy = ExpiryPolicy(idle_timeout_s=idle)
    token = math.inf if token_offset is None else last + token_offset
    deadline = policy.deadline(last, token)
    reason = policy.reason(now, last, token)
    assert (reason is None) == (now < deadline)
    assert policy.reason(deadline, last, token) is not None


@settings(max_examples=300, deadline=None)
@given(
    current=times,
    now=times,
    idle=durations,
    granularity=st.floats(0.0, 10.0, allow_nan=False),
    token=st.none() | times,
)
def test_extended_only_moves_forward_by_the_granularity(
    current: float, now: float, idle: float, granularity: float, token: float | None
) -> None:
    policy = ExpiryPolicy(idle_timeout_s=idle, granularity_s=granularity)
    token_at = math.inf if token is None else token
    true = policy.deadline(now, token_at)
    new = policy.extended(current, now, token_at)
    if new is None:
        assert current >= true  # the current deadline never fires early
    else:
        assert new > current
        assert true <= new <= true + granularity  # late by at most the granularity
        assert new <= token_at


@pytest.mark.parametrize("idle", [0.5, 30.0, 1800.0])
def test_deadline_follows_idle_timeout(idle: float) -> None:
    assert ExpiryPolicy(idle_timeout_s=idle).deadline(100.0) == 100.0 + idle
