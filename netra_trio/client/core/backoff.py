"""How long to wait before the next connection attempt, and when to stop.

Exponential backoff with full jitter: attempt ``n`` (from 0) waits a uniform
random time between 0 and ``min(max_delay_s, initial_delay_s * multiplier**n)``,
so clients that lost the same server do not come back in step. A server that
says when to come back (``Retry-After`` on 429 and 503) is obeyed: the wait
is at least that long. The count of attempts starts again only after a
connection stayed open for ``stable_after_s``: a server that accepts and
drops at once does not get hammered at the shortest delay.
"""

from __future__ import annotations

import math
import random

import attrs


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


def _growth(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value!r}")


def _attempts(_: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or value < 0):
        raise ValueError(f"{attribute.name} must be None or at least 0, got {value!r}")


@attrs.frozen
class ReconnectPolicy:
    """How a client reconnects. ``max_attempts``: failed attempts in a row
    before it gives up (None: never; 0: do not reconnect at all)."""

    initial_delay_s: float = attrs.field(default=0.5, validator=_positive)
    max_delay_s: float = attrs.field(default=30.0, validator=_positive)
    multiplier: float = attrs.field(default=2.0, validator=_growth)
    max_attempts: int | None = attrs.field(default=None, validator=_attempts)
    stable_after_s: float = attrs.field(default=10.0, validator=_positive)


@attrs.define
class Backoff:
    policy: ReconnectPolicy
    rng: random.Random
    attempts: int = 0  # failed attempts since the last stable connection

    def exhausted(self) -> bool:
        limit = self.policy.max_attempts
        return limit is not None and self.attempts >= limit

    def next_delay(self, retry_after_s: float | None = None) -> float:
        """The wait before the next attempt (and count it)."""
        policy = self.policy
        # in logarithms: the power itself would overflow after enough attempts
        growth = self.attempts * math.log(policy.multiplier)
        if growth >= math.log(policy.max_delay_s / policy.initial_delay_s):
            ceiling = policy.max_delay_s
        else:
            ceiling = policy.initial_delay_s * math.exp(growth)
        self.attempts += 1
        delay = self.rng.uniform(0.0, ceiling)
        return delay if retry_after_s is None else max(delay, retry_after_s)

    def connection_ended(self, lasted_s: float) -> None:
        if lasted_s >= self.policy.stable_after_s:
            self.attempts = 0
