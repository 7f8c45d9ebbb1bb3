"""Idle and token expiry: when a connection must end, and with which code.

A connection has one deadline, the earlier of its idle deadline (last client
frame + ``idle_timeout_s``) and the expiry of its token. The shell puts that
deadline on a cancel scope; when the scope fires, :meth:`ExpiryPolicy.reason`
says why. The deadline is never earlier than the true one and at most
``granularity_s`` later, and moves at most once per ``granularity_s``, so a
busy connection does not touch the scheduler's deadline heap on every frame.
"""

from __future__ import annotations

import math

import attrs

from netra_trio.errors import CloseCode


@attrs.frozen
class ExpiryPolicy:
    idle_timeout_s: float
    granularity_s: float = 1.0

    def deadline(self, last_activity: float, token_expires_at: float = math.inf) -> float:
        return min(last_activity + self.idle_timeout_s, token_expires_at)

    def extended(
        self, current: float, now: float, token_expires_at: float = math.inf
    ) -> float | None:
        """The new deadline after activity at ``now``, or None when the current
        one is still late enough. The deadline never comes before the true idle
        deadline; it moves only when the true one passes it, and then to
        ``granularity_s`` beyond it, so it moves at most once per granularity."""
        true = self.deadline(now, token_expires_at)
        if true <= current:
            return None
        return min(now + self.idle_timeout_s + self.granularity_s, token_expires_at)

    def reason(
        self, now: float, last_activity: float, token_expires_at: float = math.inf
    ) -> CloseCode | None:
        if now >= token_expires_at:
            return CloseCode.POLICY_VIOLATION
        if now >= last_activity + self.idle_timeout_s:
            return CloseCode.SESSION_EXPIRED
        return None
