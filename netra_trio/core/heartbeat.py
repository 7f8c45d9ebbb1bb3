"""Heartbeat policy: when to ping, and when a missing pong means the peer is lost."""

from __future__ import annotations

import attrs


@attrs.frozen
class HeartbeatPolicy:
    interval_s: float
    timeout_s: float

    def next_ping_at(self, previous_ping_at: float) -> float:
        return previous_ping_at + self.interval_s

    def pong_deadline(self, ping_sent_at: float) -> float:
        return ping_sent_at + self.timeout_s

    def is_lost(self, now: float, ping_sent_at: float, pong_at: float | None) -> bool:
        answered = pong_at is not None and pong_at >= ping_sent_at
        return not answered and now >= self.pong_deadline(ping_sent_at)
