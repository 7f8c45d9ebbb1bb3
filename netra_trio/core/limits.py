"""Admission and abuse limits as plain decisions."""

from __future__ import annotations

import enum
from collections import deque

import attrs


class Admission(enum.Enum):
    ADMIT = "admit"
    TOO_MANY_CONNECTIONS = "too_many_connections"


def admit_connection(held: int, max_per_user: int) -> Admission:
    """``held`` counts live connections and handshakes already admitted."""
    return Admission.ADMIT if held < max_per_user else Admission.TOO_MANY_CONNECTIONS


class ViolationAction(enum.Enum):
    REFUSE = "refuse"  # answer FORBIDDEN, keep the connection
    REFUSE_AND_CLOSE = "refuse_and_close"  # answer FORBIDDEN, then close with 1008


@attrs.define
class ViolationCounter:
    limit: int
    count: int = 0

    def record(self) -> ViolationAction:
        self.count += 1
        return (
            ViolationAction.REFUSE_AND_CLOSE if self.count >= self.limit else ViolationAction.REFUSE
        )


@attrs.define
class Cooldowns:
    """Users whose connection was just closed for abuse (1008), and until when
    their new handshakes are refused (``--abuse-cooldown-s``): an abuser that
    reconnects at once gets a cheap 429 instead of a new connection to flood.
    At most ``max_entries`` users are remembered (the earliest to end goes
    first); an ended cooldown is forgotten when it is next looked at."""

    duration_s: float
    max_entries: int = 10_000
    _until: dict[str, float] = attrs.field(factory=dict)

    def start(self, user_id: str, now: float) -> None:
        until = self._until
        until.pop(user_id, None)
        if len(until) >= self.max_entries:
            for user in [u for u, end in until.items() if end <= now]:
                del until[user]
            while len(until) >= self.max_entries:  # (insertion order: ending order)
                del until[next(iter(until))]
        until[user_id] = now + self.duration_s

    def remaining_s(self, user_id: str, now: float) -> float:
        """Seconds before ``user_id`` may connect again; 0 when it may now."""
        end = self._until.get(user_id)
        if end is None:
            return 0.0
        if end <= now:
            del self._until[user_id]
            return 0.0
        return end - now


MAX_BATCH_MESSAGES = 50
MAX_CONTENT_CHARS = 10_000
MAX_AGENT_NAME_CHARS = 64  # start_agent's agent field, and every registered name
# Objects and arrays may nest this deep in a client frame (the frame itself is
# the first level): far below what the JSON encoder can write back (254).
MAX_FRAME_DEPTH = 64
# The protocol's integers: those every JSON reader holds exactly (I-JSON,
# RFC 7493; JavaScript's Number.MAX_SAFE_INTEGER).
MAX_INTEGER = 2**53 - 1


def utf8_length_exceeds(text: str, max_bytes: int) -> bool:
    """Whether ``text`` encodes to more than ``max_bytes`` UTF-8 bytes, without
    encoding it when its character count already decides."""
    if len(text) > max_bytes:
        return True
    if 4 * len(text) <= max_bytes:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > max_bytes


@attrs.define
class TokenBucket:
    """``rate`` tokens a second up to ``burst``; ``take`` spends them."""

    rate: float
    burst: float
    tokens: float = attrs.field(default=-1.0)
    updated: float = 0.0

    def __attrs_post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def take(self, now: float, cost: float = 1.0) -> float | None:
        """None when allowed; otherwise the seconds until ``cost`` tokens are there."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return None
        return (cost - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        return self.tokens + (now - self.updated) * self.rate >= self.burst


@attrs.define
class AbuseCounter:
    """Refusals within a sliding window: sustained abuse once ``limit`` of them
    fall within ``window_s``."""

    limit: int
    window_s: float
    _times: deque[float] | None = None  # made on the first refusal

    def refused(self, now: float) -> bool:
        """Record a refusal at ``now``; True when the abuse is sustained."""
        if self._times is None:
            self._times = deque()
        self._times.append(now)
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()
        return len(self._times) >= self.limit
