"""When the event log's retention by age runs: with an append, at most once a
second, and again with the next append while expired events are left (each
pass drops a bounded number, so that no pass stalls every user's events)."""

from __future__ import annotations

import time

INTERVAL_S = 1.0
# The most events one pass drops.
PASS_ROWS = 2_000


class AgePruning:
    def __init__(self, max_age_s: float) -> None:
        self._max_age_s = max_age_s
        self._next = 0.0

    def due(self) -> float | None:
        """The cutoff (events created before it expire) when a pass is due now."""
        now = time.time()
        if now < self._next:
            return None
        self._next = now + INTERVAL_S
        return now - self._max_age_s

    def more_left(self) -> None:
        """The pass dropped all it may: the next append goes on with the rest."""
        self._next = 0.0
