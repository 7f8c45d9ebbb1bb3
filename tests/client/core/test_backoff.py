"""Exponential backoff with full jitter, Retry-After, and when the count starts again."""

from __future__ import annotations

import random

import pytest

from netra_trio.client.core.backoff import Backoff, ReconnectPolicy


def backoff(seed: int = 7, **policy: object) -> Backoff:
    return Backoff(ReconnectPolicy(**policy), random.Random(seed))  # type: ignore[arg-type]


def test_each_delay_is_drawn_below_a_ceiling_that_doubles_up_to_the_cap() -> None:
    ceilings = [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    for seed in range(50):
        waits = backoff(seed)
        delays = [waits.next_delay() for _ in ceilings]
        assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert waits.attempts == len(ceilings)


def test_the_jitter_spreads_clients_over_the_whole_range() -> None:
    delays = [backoff(seed, initial_delay_s=8, max_delay_s=8).next_delay() for seed in range(200)]
    assert min(delays) < 1 and max(delays) > 7


def test_retry_after_is_a_lower_bound() -> None:
    waits = backoff()
    assert waits.next_delay(retry_after_s=3) >= 3
    assert waits.next_delay(retry_after_s=0) <= 1


def test_the_ceiling_stays_at_the_cap_after_very_many_attempts() -> None:
    waits = backoff(multiplier=10)
    waits.attempts = 10_000  # the power itself would overflow a float
    assert 0 <= waits.next_delay() <= 30


def test_a_cap_below_the_first_delay_caps_it() -> None:
    waits = backoff(initial_delay_s=5, max_delay_s=1)
    assert all(waits.next_delay() <= 1 for _ in range(5))


def test_attempts_run_out_only_with_a_limit() -> None:
    unlimited = backoff()
    unlimited.attempts = 10**6
    assert not unlimited.exhausted()
    limited = backoff(max_attempts=2)
    assert not limited.exhausted()
    limited.next_delay()
    limited.next_delay()
    assert limited.exhausted()
    assert backoff(max_attempts=0).exhausted()


def test_the_count_starts_again_after_a_stable_connection_only() -> None:
    waits = backoff(stable_after_s=10)
    waits.next_delay()
    waits.next_delay()
    waits.connection_ended(lasted_s=9.9)
    assert waits.attempts == 2
    waits.connection_ended(lasted_s=10)
    assert waits.attempts == 0


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("initial_delay_s", 0, "initial_delay_s must be positive"),
        ("max_delay_s", -1, "max_delay_s must be positive"),
        ("stable_after_s", 0, "stable_after_s must be positive"),
        ("multiplier", 0.5, "multiplier must be at least 1"),
        ("max_attempts", -1, "max_attempts must be None or at least 0"),
        ("max_attempts", True, "max_attempts must be None or at least 0"),
    ],
)
def test_a_policy_that_cannot_work_is_refused(field: str, value: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ReconnectPolicy(**{field: value})  # type: ignore[arg-type]
