"""A worker process's stop conditions (``--workers``): SIGINT, SIGTERM, or the
end of its stdin, a pipe from the parent (``workers.py``) that is never written
and so ends when the parent is gone, even killed with SIGKILL."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from netra_trio.logs import log_event


@asynccontextmanager
async def stopped_by_parent(stop: Callable[[], None]) -> AsyncIterator[None]:
    """A worker's stop conditions while the block runs: SIGINT, SIGTERM, or the
    end of stdin (its parent is gone) call ``stop``; later signals are absorbed
    (the parent kills a worker that takes too long)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stop_on_signals, signals, stop)
            nursery.start_soon(_stop_when_parent_is_gone, stop)
            yield
            nursery.cancel_scope.cancel()


async def _stop_on_signals(signals: AsyncIterator[int], stop: Callable[[], None]) -> None:
    async for signum in signals:
        log_event("signal", signal=signal.Signals(signum).name)
        stop()


async def _stop_when_parent_is_gone(stop: Callable[[], None]) -> None:
    async with trio.lowlevel.FdStream(os.dup(0)) as parent:
        while await parent.receive_some():
            pass
    log_event("parent_gone", logging.WARNING)
    stop()
