"""Whether a service of the cluster (Redis) answers, as the last operations found it.

The first failure marks it down and is logged once; while it is down, callers
fail fast (no request waits for a timeout) and one task tries it again after a
backoff that doubles up to ``max_backoff_s``, so nothing spins; the first
success marks it up again and is logged.
"""

from __future__ import annotations

import logging

import trio

from netra_trio.logs import log_event

FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0


class ServiceUnavailable(Exception):
    """The service does not answer now; try again later."""


class ServiceHealth:
    def __init__(
        self,
        name: str,
        *,
        first_backoff_s: float = FIRST_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
    ) -> None:
        self.name = name
        self.up = True
        self.outages = 0
        self._first = first_backoff_s
        self._max = max_backoff_s
        self._backoff = first_backoff_s
        self._back = trio.Event()
        self._lost = trio.Event()

    def check(self) -> None:
        """Raise ServiceUnavailable at once while the service is down."""
        if not self.up:
            raise ServiceUnavailable(f"{self.name} is unavailable")

    def failed(self, error: BaseException) -> ServiceUnavailable:
        """Record a failure; returns the exception to raise in its place."""
        if self.up:
            self.up = False
            self.outages += 1
            self._back = trio.Event()
            self._lost.set()
            log_event("service_lost", logging.ERROR, service=self.name, error=str(error))
        return ServiceUnavailable(f"{self.name} is unavailable: {error}")

    def succeeded(self) -> None:
        if not self.up:
            self.up = True
            log_event("service_back", logging.WARNING, service=self.name)
            self._back.set()
            self._lost = trio.Event()
        self._backoff = self._first

    async def wait_up(self) -> None:
        """Return once the service answers (at once while it does)."""
        if not self.up:
            await self._back.wait()

    async def wait_down(self) -> None:
        """Return once the service has been found down (at once while it is)."""
        if self.up:
            await self._lost.wait()

    def next_wait(self) -> float:
        """How long to wait before the next try while down (doubling)."""
        wait = self._backoff
        self._backoff = min(self._max, self._backoff * 2)
        return wait
