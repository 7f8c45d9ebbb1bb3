"""Readiness: whether the server would serve a new connection now, and if not,
what it waits for (``shutdown``, ``storage``, ``redis``).

Storage is asked a real query and Redis (with ``--redis-url``) a PING, each
bounded by ``CHECK_S``. Requests that arrive while a check is running share
its answer, so a flood of ``/readyz`` requests costs the database one query at
a time. Shutdown is read at the moment of each answer, never from a shared
one: readiness says 503 from the moment shutdown begins, before the first
connection is closed.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from netra_trio.cluster.health import ServiceUnavailable
from netra_trio.server.services import Services
from netra_trio.storage.base import StorageError

CHECK_S = 2.0  # for each service asked


class _Check:
    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: list[str] | None = None  # None when the check was cancelled


class Readiness:
    def __init__(self, services: Services, accepting: Callable[[], bool]) -> None:
        self._services = services
        self._accepting = accepting
        self._running: _Check | None = None

    async def waiting_for(self) -> list[str]:
        """What keeps the server from serving a new connection; empty when ready."""
        services = await self._services_waited_for()
        if not self._accepting():
            return ["shutdown", *services]
        return services

    async def _services_waited_for(self) -> list[str]:
        while (running := self._running) is not None:
            await running.done.wait()
            if running.result is not None:
                return list(running.result)
        self._running = check = _Check()
        try:
            check.result = await self._check()
        finally:
            self._running = None
            check.done.set()
        return list(check.result)

    async def _check(self) -> list[str]:
        waiting_for = []
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
