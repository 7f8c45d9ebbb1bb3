"""``SerialWorker``'s groups are bounded: calls queued past ``max_group`` run
in the next group, in order, and each returns its own result."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from functools import partial

import trio
import trio.testing

from netra_trio.storage.worker_thread import SerialWorker


async def test_calls_past_max_group_run_in_the_next_group() -> None:
    log: list[str] = []

    @contextlib.contextmanager
    def group() -> Iterator[Callable[[], bool]]:
        log.append("begin")
        yield lambda: True
        log.append("commit")

    def call(tag: str) -> str:
        log.append(tag)
        return tag

    worker = SerialWorker("group bound test", group=group, max_group=3)
    results: dict[str, str] = {}

    async def one(tag: str) -> None:
        results[tag] = await worker.run(partial(call, tag))

    release = threading.Event()
    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                # the worker is held, so that the calls are all queued when it gets to them
                nursery.start_soon(partial(worker.run, release.wait, grouped=False))
                await trio.testing.wait_all_tasks_blocked()
                for n in range(7):
                    nursery.start_soon(one, f"c{n}")
                    await trio.testing.wait_all_tasks_blocked()  # queued in this order
                release.set()
    finally:
        worker.stop()
    assert results == {f"c{n}": f"c{n}" for n in range(7)}
    assert log == [
        *("begin", "c0", "c1", "c2", "commit"),
        *("begin", "c3", "c4", "c5", "commit"),
        "c6",  # the last one, found alone, runs alone
    ]
