"""Fixed-bucket histograms counted in plain Python, exported at scrape time.

``observe`` is a bisection and two additions (no lock: everything that
observes runs on the event loop's thread), cheap enough for once per event
per connection; the metrics endpoint turns the counts into Prometheus's
cumulative ``le`` buckets when it is scraped (``server/metrics.py``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

# Seconds, from well under a millisecond (a local write) to tens of seconds
# (a stalled store or a slow consumer).
LATENCY_BOUNDS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
# Seconds an agent run lasts.
RUN_BOUNDS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class Histogram:
    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        if list(bounds) != sorted(set(bounds)):
            raise ValueError("bucket bounds must increase")
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: over every bound
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, observations at or under it)`` pairs, ending with ``+Inf``."""
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            buckets.append((repr(float(bound)), running))
        buckets.append(("+Inf", running + self.counts[-1]))
        return buckets
