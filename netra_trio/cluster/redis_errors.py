"""What counts as Redis being unreachable (an outage), as opposed to a command
that Redis refused: the first is waited out, the second is a bug to report."""

from __future__ import annotations

import coredis.exceptions

REDIS_OUTAGES: tuple[type[BaseException], ...] = (
    coredis.exceptions.ConnectionError,  # (BusyLoadingError too)
    coredis.exceptions.ReadOnlyError,  # a replica that was promoted away from
    coredis.exceptions.ClusterDownError,
    OSError,
    TimeoutError,
)
