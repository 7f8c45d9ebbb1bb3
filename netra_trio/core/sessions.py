"""Session policy: when a session expires and which sessions make room for a new one.

A session is live while at least one connection is attached to it; its idle
clock starts when the last one detaches. It expires ``idle_timeout_s`` after
that. A user holds at most ``max_per_user`` sessions: creating one more expires
that user's oldest idle sessions first.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs


@attrs.frozen
class SessionView:
    session_id: str
    last_active: float
    attached: bool


@attrs.frozen
class SessionPolicy:
    idle_timeout_s: float
    max_per_user: int = 5

    def expires_at(self, last_active: float) -> float:
        return last_active + self.idle_timeout_s

    def is_expired(self, now: float, last_active: float, attached: bool) -> bool:
        return not attached and now >= self.expires_at(last_active)

    def to_make_room(self, sessions: Sequence[SessionView], now: float) -> list[str]:
        """The sessions to expire before a new one is created: every expired one,
        then the oldest idle ones until there is room. Attached sessions stay."""
        expired = [
            s.session_id for s in sessions if self.is_expired(now, s.last_active, s.attached)
        ]
        remaining = [s for s in sessions if s.session_id not in expired]
        idle = sorted((s for s in remaining if not s.attached), key=lambda s: s.last_active)
        excess = len(remaining) - (self.max_per_user - 1)
        return expired + [s.session_id for s in idle[: max(excess, 0)]]
