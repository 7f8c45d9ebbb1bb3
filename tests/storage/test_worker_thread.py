"""``run_sync_now``: a blocking call on a worker thread, one at a time per
limiter, that cannot be abandoned half-done."""

from __future__ import annotations

import threading
import time

import pytest
import trio

from netra_trio.storage.worker_thread import run_sync_now


async def test_runs_off_the_trio_thread_and_returns_or_raises() -> None:
    limiter = trio.CapacityLimiter(1)
    assert await run_sync_now(threading.get_ident, limiter=limiter) != threading.get_ident()

    def fail() -> None:
        raise ValueError("from the thread")

    with pytest.raises(ValueError, match="from the thread"):
        await run_sync_now(fail, limiter=limiter)
    assert limiter.borrowed_tokens == 0


async def test_calls_sharing_a_limiter_never_overlap() -> None:
    limiter = trio.CapacityLimiter(1)
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02)
        with guard:
            inside -= 1

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(lambda: run_sync_now(work, limiter=limiter))
    assert most == 1
    assert limiter.borrowed_tokens == 0


async def test_a_cancelled_caller_still_waits_for_the_call_to_finish() -> None:
    finished = threading.Event()

    def slow() -> str:
        time.sleep(0.2)
        finished.set()
        return "done"

    started = trio.current_time()
    with trio.move_on_after(0.05) as scope:
        result = await run_sync_now(slow, limiter=trio.CapacityLimiter(1))
        assert result == "done"
        await trio.sleep(1)  # the pending cancellation lands here
    assert finished.is_set() and scope.cancelled_caught
    assert trio.current_time() - started >= 0.2


async def test_an_already_cancelled_caller_does_not_start_the_call() -> None:
    ran = threading.Event()
    with trio.CancelScope() as scope:
        scope.cancel()
        await run_sync_now(ran.set, limiter=trio.CapacityLimiter(1))
    assert scope.cancelled_caught and not ran.is_set()
