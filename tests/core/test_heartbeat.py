"""HeartbeatPolicy: when to ping, and when a missing pong means the peer is lost."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netra_trio.core.heartbeat import HeartbeatPolicy

POLICY = HeartbeatPolicy(interval_s=25.0, timeout_s=20.0)


def test_next_ping_is_one_interval_later() -> None:
    assert POLICY.next_ping_at(100.0) == 125.0


def test_pong_deadline_is_one_timeout_after_the_ping() -> None:
    assert POLICY.pong_deadline(100.0) == 120.0


def test_not_lost_before_the_pong_deadline() -> None:
    assert not POLICY.is_lost(now=119.9, ping_sent_at=100.0, pong_at=None)


def test_lost_at_the_pong_deadline_without_a_pong() -> None:
    assert POLICY.is_lost(now=120.0, ping_sent_at=100.0, pong_at=None)
    assert POLICY.is_lost(now=500.0, ping_sent_at=100.0, pong_at=None)


def test_a_pong_to_this_ping_keeps_the_peer() -> None:
    assert not POLICY.is_lost(now=500.0, ping_sent_at=100.0, pong_at=105.0)
    assert not POLICY.is_lost(now=500.0, ping_sent_at=100.0, pong_at=100.0)


def test_a_pong_to_an_earlier_ping_does_not_count() -> None:
    assert POLICY.is_lost(now=120.0, ping_sent_at=100.0, pong_at=99.0)
    assert not POLICY.is_lost(now=110.0, ping_sent_at=100.0, pong_at=99.0)


@settings(max_examples=200, deadline=None)
@given(
    ping=st.floats(0, 1e6, allow_nan=False),
    elapsed=st.floats(0, 1e3, allow_nan=False),
    pong_delay=st.none() | st.floats(-1e3, 1e3, allow_nan=False),
    timeout=st.floats(0.1, 100, allow_nan=False),
)
def test_lost_exactly_when_unanswered_past_the_deadline(
    ping: float, elapsed: float, pong_delay: float | None, timeout: float
) -> None:
    policy = HeartbeatPolicy(interval_s=25.0, timeout_s=timeout)
    now = ping + elapsed
    pong = None if pong_delay is None else ping + pong_delay
    answered = pong is not None and pong >= ping
    assert policy.is_lost(now, ping, pong) == (not answered and now >= ping + timeout)
