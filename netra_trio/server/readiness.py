"""Readiness: whether the server would serve a new connection now, and if not,
what it waits for (``shutdown``, ``storage``, ``Redis``).

Storage is asked a real query and Redis (with ``--redis-url``) a PING, each
bounded by ``CHECK_S``. Shutdown is read at the moment of each answer:
readiness says 503 from the moment shutdown begins, before the first
connection is closed. Both listeners (the main port and the metrics port)
ask the same object.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from netra_trio.cluster.health import ServiceUnavailable
from netra_trio.server.services import Services
from netra_trio.storage.base import StorageError

CHECK_S = 2.0  # for each service asked


class Readiness:
    def __init__(self, services: Services, accepting: Callable[[], bool]) -> None:
        self._services = services
        self._accepting = accepting

    async def waiting_for(self) -> list[str]:
        """What keeps the server from serving a new connection; empty when ready."""
        waiting_for = [] if self._accepting() else ["shutdown"]
        coordinator = self._services.coordinator
        try:
            with trio.fail_after(CHECK_S):
                await coordinator.ping()
        except (ServiceUnavailable, trio.TooSlowError):
            waiting_for.append(coordinator.health.name if coordinator.health else "cluster")
        try:
            with trio.fail_after(CHECK_S):
                await self._services.storage.ping()
        except (StorageError, trio.TooSlowError):
            waiting_for.append("storage")
        return waiting_for
