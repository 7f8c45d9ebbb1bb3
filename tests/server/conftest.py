"""Shell-tier fixtures.

``autojump_clock`` here jumps only after 10 ms of real idleness: with the
default threshold of 0, virtual time would leap forward whenever every task
waits on a worker thread (a SQLite call), and timings would drift.
"""

from __future__ import annotations

import pytest
import trio.testing


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.01)
