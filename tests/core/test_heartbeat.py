"""HeartbeatPolicy: when to ping, and by when its pong is due."""

from __future__ import annotations

from netra_trio.core.heartbeat import HeartbeatPolicy

POLICY = HeartbeatPolicy(interval_s=25.0, timeout_s=20.0)


def test_next_ping_is_one_interval_later() -> None:
    assert POLICY.next_ping_at(100.0) == 125.0


def test_pong_deadline_is_one_timeout_after_the_ping() -> None:
    assert POLICY.pong_deadline(100.0) == 120.0
