"""Heartbeat policy: when to ping, and by when its pong is due (else the peer is lost)."""

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
