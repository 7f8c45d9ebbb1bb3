"""Run admission: whether a user may start one more agent run, and on which thread.

A thread has at most one active run; a user has at most ``max_runs_per_user``
at once. Runs that were admitted and have not started yet count as active,
so that two requests cannot both pass the limit while one of them is still
storing its message.
"""

from __future__ import annotations

import enum
from collections.abc import Collection

import attrs


class RunRefusal(enum.Enum):
    THREAD_BUSY = "thread_busy"
    USER_AT_LIMIT = "user_at_limit"


@attrs.frozen
class RunAdmission:
    max_runs_per_user: int

    def check(
        self, busy_threads: Collection[str | None], thread_id: str | None
    ) -> RunRefusal | None:
        """``busy_threads``: the thread of every run the user has admitted
        (None for one whose thread is not made yet). None when the run may start."""
        if thread_id is not None and thread_id in busy_threads:
            return RunRefusal.THREAD_BUSY
        if len(busy_threads) >= self.max_runs_per_user:
            return RunRefusal.USER_AT_LIMIT
        return None
