"""Blocking calls on a worker thread that starts before the caller yields.

``trio.to_thread.run_sync`` lets every other runnable task take its turn before
the thread starts (its limiter and its checkpoint both yield). For the event
log's group commits that meant the event loop did a whole round of work (the
previous batch's delivery, the producers) first and then idled while the commit
ran. Here, when the limiter is free, the thread is started at once, so the
commit and the loop's work overlap. As with ``to_thread.run_sync``'s default,
the wait cannot be cancelled: a database call is never abandoned half-done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

import outcome
import trio

T = TypeVar("T")


async def run_sync_now(fn: Callable[[], T], *, limiter: trio.CapacityLimiter) -> T:
    await trio.lowlevel.checkpoint_if_cancelled()
    task = trio.lowlevel.current_task()
    token = trio.lowlevel.current_trio_token()
    try:
        limiter.acquire_on_behalf_of_nowait(task)
    except trio.WouldBlock:
        await limiter.acquire_on_behalf_of(task)

    def deliver(result: outcome.Outcome[T]) -> None:
        with contextlib.suppress(trio.RunFinishedError):  # the run ended under us
            token.run_sync_soon(trio.lowlevel.reschedule, task, result)

    try:
        trio.lowlevel.start_thread_soon(fn, deliver, name="netra-trio storage")
        result: T = await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)
        return result
    finally:
        limiter.release_on_behalf_of(task)
