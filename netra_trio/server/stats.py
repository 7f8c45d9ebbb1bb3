"""Counters of what the server did, read by tests, logs and the metrics endpoint."""

from __future__ import annotations

from collections import Counter

import attrs


@attrs.define
class ServerStats:
    connections_opened: int = 0
    closes_by_code: Counter[int] = attrs.Factory(Counter)
    handshakes_rejected: Counter[int] = attrs.Factory(Counter)
    security_violations: int = 0
    fence_refused: int = 0
    evictions: int = 0
    slow_consumers: int = 0
    heartbeats_lost: int = 0
    frames_shed: int = 0
    errors_sent: int = 0
    rate_limited: int = 0

    def record_close(self, code: int) -> None:
        self.closes_by_code[code] += 1
