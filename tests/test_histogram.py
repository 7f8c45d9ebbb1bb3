"""The plain histogram behind the metrics' latency, commit and run series."""

from __future__ import annotations

import pytest

from netra_trio.histogram import LATENCY_BOUNDS_S, RUN_BOUNDS_S, Histogram


def test_buckets_are_cumulative_and_count_values_at_their_bound() -> None:
    histogram = Histogram((0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 1.0, 2.0, 3.0):
        histogram.observe(seconds)
    assert histogram.cumulative() == [("0.1", 2), ("1.0", 4), ("+Inf", 6)]
    assert histogram.count == 6
    assert histogram.total == pytest.approx(6.65)


def test_an_empty_histogram_has_zero_buckets() -> None:
    assert Histogram((1, 2)).cumulative() == [("1.0", 0), ("2.0", 0), ("+Inf", 0)]


@pytest.mark.parametrize("bounds", [(1.0, 1.0), (2.0, 1.0)])
def test_bounds_must_increase(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="increase"):
        Histogram(bounds)


def test_the_server_bounds_are_valid() -> None:
    Histogram(LATENCY_BOUNDS_S)
    Histogram(RUN_BOUNDS_S)
