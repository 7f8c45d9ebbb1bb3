"""The message rate of a user, and what sustained abuse of it costs a connection.

Each user has one token bucket (``message_rate_per_s``, bursts of
``message_burst``) shared by all of that user's connections; a frame costs
one token (a batch, one per frame it carries). In a cluster, the user's bucket
in Redis is asked as well, after this process's own. A frame over the rate is
refused with the seconds to wait; each connection counts its refusals in a
sliding window, and ``abuse_limit`` of them within ``window_s`` close it.
"""

from __future__ import annotations

import enum
import math

import attrs

from netra_trio.core.limits import AbuseCounter, TokenBucket

ABUSE_WINDOW_S = 10.0


class RateVerdict(enum.Enum):
    ALLOW = "allow"
    REFUSE = "refuse"  # answer RATE_LIMITED, keep the connection
    REFUSE_AND_CLOSE = "refuse_and_close"  # answer RATE_LIMITED, then close with 1008


@attrs.frozen
class RateDecision:
    verdict: RateVerdict
    retry_after_s: float = 0.0


ALLOWED = RateDecision(RateVerdict.ALLOW)


def shown_wait_s(seconds: float) -> float:
    """The wait a client is told: rounded up to the millisecond and at least
    one, so it is never 0 and never early (float noise under a microsecond
    is not rounded up)."""
    return max(0.001, math.ceil(seconds * 1000 - 1e-6) / 1000)


class MessageRate:
    """One connection's view of its user's bucket, with its own abuse count."""

    __slots__ = ("_abuse", "_bucket", "_limit", "_window_s")

    def __init__(self, bucket: TokenBucket, abuse_limit: int, window_s: float = ABUSE_WINDOW_S):
        self._bucket = bucket
        self._limit = abuse_limit
        self._window_s = window_s
        self._abuse: AbuseCounter | None = None  # made on the first refusal

    def check(self, now: float, cost: int = 1) -> RateDecision:
        retry_after = self._bucket.take(now, cost)
        if retry_after is None:
            return ALLOWED
        return self.refused(now, retry_after)

    def refused(self, now: float, retry_after: float) -> RateDecision:
        """A refusal that the bucket shared by the cluster made: counted as abuse too."""
        if self._abuse is None:
            self._abuse = AbuseCounter(self._limit, self._window_s)
        if self._abuse.refused(now):
            return RateDecision(RateVerdict.REFUSE_AND_CLOSE, retry_after)
        return RateDecision(RateVerdict.REFUSE, retry_after)
