"""``SerialWorker``: blocking calls on one long-lived thread, one after another
in the order they were made, never abandoned half-done."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial

import pytest
import trio
import trio.testing

from netra_trio.storage.worker_thread import SerialWorker, WorkerStopped

_numbers = itertools.count()


@pytest.fixture
def worker_name() -> str:
    """A name of its own for each test's worker thread."""
    return f"test worker {next(_numbers)}"


@pytest.fixture
def worker(worker_name: str) -> Iterator[SerialWorker]:
    """A worker, stopped when the test ends (stopping twice is harmless)."""
    running = SerialWorker(worker_name)
    yield running
    running.stop()


def _thread_alive(name: str) -> bool:
    return any(t.name == name and t.is_alive() for t in threading.enumerate())


async def test_runs_off_the_trio_thread_and_returns_or_raises(worker: SerialWorker) -> None:
    first = await worker.run(threading.get_ident)
    assert first != threading.get_ident()
    assert await worker.run(threading.get_ident) == first  # the same thread every time

    def fail() -> None:
        raise ValueError("from the thread")

    with pytest.raises(ValueError, match="from the thread"):
        await worker.run(fail)
    assert await worker.run(lambda: "still serving") == "still serving"


async def test_calls_run_one_at_a_time_in_the_order_they_were_made(worker: SerialWorker) -> None:
    inside = most = 0
    order: list[int] = []
    guard = threading.Lock()

    def work(i: int) -> None:
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.002)
        order.append(i)
        with guard:
            inside -= 1

    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(worker.run, lambda i=i: work(i))
            await trio.testing.wait_all_tasks_blocked()  # queued in this order
    assert most == 1
    assert order == list(range(20))


async def test_queued_calls_run_back_to_back_while_the_loop_is_busy(worker: SerialWorker) -> None:
    # The thread does not wait for the event loop between calls: 50 calls queued
    # at once all run while the loop is blocked, before any caller resumes.
    ran = 0
    all_ran = threading.Event()

    def call() -> None:
        nonlocal ran
        ran += 1
        if ran == 50:
            all_ran.set()

    async def caller() -> None:
        await worker.run(call)

    async with trio.open_nursery() as nursery:
        for _ in range(50):
            nursery.start_soon(caller)
        await trio.testing.wait_all_tasks_blocked()
        # the loop is blocked on purpose (no caller can resume) until all have run
        assert all_ran.wait(timeout=30)


async def test_a_cancelled_caller_still_waits_for_the_call_to_finish(worker: SerialWorker) -> None:
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    outcome: list[str] = []

    def slow() -> str:
        entered.set()
        release.wait(timeout=30)
        finished.set()
        return "done"

    async def caller(scope: trio.CancelScope) -> None:
        with scope:
            outcome.append(await worker.run(slow))
            await trio.sleep_forever()  # the pending cancellation lands here
        outcome.append("cancelled" if scope.cancelled_caught else "not cancelled")

    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()
        nursery.start_soon(caller, scope)
        await trio.testing.wait_all_tasks_blocked()
        assert entered.wait(timeout=30)
        scope.cancel()  # while the call runs on the thread
        await trio.testing.wait_all_tasks_blocked()
        assert outcome == [] and not finished.is_set()  # the caller still waits for it
        release.set()
    assert outcome == ["done", "cancelled"] and finished.is_set()


async def test_an_already_cancelled_caller_does_not_queue_the_call(
    worker: SerialWorker, worker_name: str
) -> None:
    ran = threading.Event()
    with trio.CancelScope() as scope:
        scope.cancel()
        await worker.run(ran.set)
    assert scope.cancelled_caught and not ran.is_set()
    assert not _thread_alive(worker_name)  # nothing was queued: no thread was started


async def test_stop_lets_queued_calls_finish_then_refuses_new_ones(
    worker: SerialWorker, worker_name: str
) -> None:
    results: list[str] = []

    def slow(tag: str) -> str:
        time.sleep(0.02)
        return tag

    async def call(tag: str) -> None:
        results.append(await worker.run(lambda: slow(tag)))

    async with trio.open_nursery() as nursery:
        for tag in ("a", "b", "c"):
            nursery.start_soon(call, tag)
        await trio.testing.wait_all_tasks_blocked()
        worker.stop()
    assert sorted(results) == ["a", "b", "c"]
    with pytest.raises(WorkerStopped):
        await worker.run(lambda: "late")
    with trio.fail_after(5):
        while _thread_alive(worker_name):  # noqa: ASYNC110 (a thread's end has no trio event)
            await trio.sleep(0.01)


class _Recorder:
    """A group context that records what ran inside it; it can be told to fail
    on entry or exit, or to report itself broken after a given call."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.fail_enter = self.fail_exit = False
        self.break_after: str | None = None
        self._broken = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Callable[[], bool]]:
        if self.fail_enter:
            raise OSError("cannot begin")
        self.log.append("begin")
        self._broken = False
        yield lambda: not self._broken
        if self.fail_exit or self._broken:
            self.log.append("failed")
            raise OSError("cannot commit")
        self.log.append("commit")

    def call(self, tag: str) -> Callable[[], str]:
        def fn() -> str:
            self.log.append(tag)
            if tag == self.break_after:
                self._broken = True
            return tag

        return fn


async def _queued_behind_a_busy_worker(
    worker: SerialWorker, calls: list[tuple[str, Callable[[], str], bool]]
) -> dict[str, object]:
    """Make ``calls`` (tag, fn, grouped) while the worker is busy, so that they
    are all queued when it gets to them; returns each tag's result or error."""
    release = threading.Event()
    outcomes: dict[str, object] = {}

    async def one(tag: str, fn: Callable[[], str], grouped: bool) -> None:
        try:
            outcomes[tag] = await worker.run(fn, grouped=grouped)
        except OSError as exc:
            outcomes[tag] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(worker.run, release.wait, grouped=False))
        await trio.testing.wait_all_tasks_blocked()
        for tag, fn, grouped in calls:
            nursery.start_soon(one, tag, fn, grouped)
            await trio.testing.wait_all_tasks_blocked()  # queued in this order
        release.set()
    return outcomes


async def test_calls_queued_back_to_back_run_in_one_group_and_return_after_it(
    worker: SerialWorker,
) -> None:
    group = _Recorder()
    worker.group = group
    calls = [(t, group.call(t), True) for t in ("a", "b", "c")]
    calls.append(("alone", group.call("alone"), False))
    calls.append(("d", group.call("d"), True))
    outcomes = await _queued_behind_a_busy_worker(worker, calls)
    assert outcomes == {"a": "a", "b": "b", "c": "c", "alone": "alone", "d": "d"}
    # a, b and c in one group; the ungrouped call alone; d alone (nothing after it)
    assert group.log == ["begin", "a", "b", "c", "commit", "alone", "d"]


async def test_a_group_that_is_not_committed_fails_every_call_in_it(worker: SerialWorker) -> None:
    for how in ("enter", "exit"):
        group = _Recorder()
        worker.group = group
        group.fail_enter, group.fail_exit = how == "enter", how == "exit"
        outcomes = await _queued_behind_a_busy_worker(
            worker, [(t, group.call(t), True) for t in ("a", "b")]
        )
        assert all(isinstance(outcomes[t], OSError) for t in ("a", "b")), (how, outcomes)
        group.fail_enter = group.fail_exit = False
        assert await worker.run(lambda: "next") == "next"  # the worker serves on


async def test_calls_after_a_group_broke_run_alone(worker: SerialWorker) -> None:
    group = _Recorder()
    group.break_after = "b"  # as if b's error made the database roll the group back
    worker.group = group
    outcomes = await _queued_behind_a_busy_worker(
        worker, [(t, group.call(t), True) for t in ("a", "b", "c", "d")]
    )
    assert isinstance(outcomes["a"], OSError) and isinstance(outcomes["b"], OSError)
    assert outcomes["c"] == "c" and outcomes["d"] == "d"
    assert group.log == ["begin", "a", "b", "failed", "c", "d"]


async def _rounds_until_resumed(worker: SerialWorker, *, direct: bool, calls: int) -> int:
    """Rounds of the loop between the end of a call on the thread and its
    caller running again, summed over ``calls`` calls (a ticker task takes
    one step per round meanwhile)."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    def work() -> int:
        time.sleep(0.002)
        return ticks  # read on the thread, as its call ends

    total = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        for _ in range(calls):
            ended_at = await worker.run(work, direct=direct)
            total += ticks - ended_at
        nursery.cancel_scope.cancel()
    return total


async def test_a_direct_call_resumes_its_caller_a_round_sooner(worker: SerialWorker) -> None:
    usual = await _rounds_until_resumed(worker, direct=False, calls=40)
    direct = await _rounds_until_resumed(worker, direct=True, calls=40)
    assert direct <= usual - 20, (direct, usual)  # about one round per call fewer


async def test_direct_calls_return_raise_and_never_abandon_the_call(
    worker: SerialWorker,
) -> None:
    assert await worker.run(lambda: "direct", direct=True) == "direct"

    def fail() -> None:
        raise ValueError("direct failure")

    with pytest.raises(ValueError, match="direct failure"):
        await worker.run(fail, direct=True)
    finished = threading.Event()

    def slow() -> str:
        time.sleep(0.1)
        finished.set()
        return "done"

    with trio.move_on_after(0.02) as scope:
        assert await worker.run(slow, direct=True) == "done"
        await trio.sleep(1)
    assert finished.is_set() and scope.cancelled_caught


async def test_a_second_direct_call_at_once_goes_the_usual_way(worker: SerialWorker) -> None:
    results: dict[str, str] = {}

    def slow(tag: str) -> str:
        time.sleep(0.02)
        return tag

    async def call(tag: str) -> None:
        results[tag] = await worker.run(partial(slow, tag), direct=True)

    async with trio.open_nursery() as nursery:
        for tag in ("first", "second", "third"):
            nursery.start_soon(call, tag)
    assert results == {"first": "first", "second": "second", "third": "third"}


async def test_stop_while_a_direct_call_waits_closes_its_socket_after(
    worker: SerialWorker,
) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow() -> str:
        entered.set()
        release.wait(timeout=30)
        return "finished"

    async def stop_while_it_runs() -> None:
        await trio.testing.wait_all_tasks_blocked()
        assert entered.wait(timeout=30)
        worker.stop()
        assert worker._direct is not None  # still in use by the waiting call
        release.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_while_it_runs)
        assert await worker.run(slow, direct=True) == "finished"
    assert worker._direct is None
    with pytest.raises(WorkerStopped):
        await worker.run(lambda: "late", direct=True)
