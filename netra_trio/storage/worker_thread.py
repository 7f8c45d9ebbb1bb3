"""The storage's own worker thread: blocking calls run there one after another.

Calls are queued to one long-lived thread, which runs them in the order they
were made, back to back, and hands each result to the waiting task. A borrowed
thread behind a capacity limiter (``trio.to_thread.run_sync``) costs a round
of the event loop per call, between one call's end and the next one's start:
the limiter is given back only once the caller has run again. With a few
thousand small calls queued (runs starting and ending) the event log's group
commits waited behind those rounds while the loop sat idle. Here the thread
goes straight from one call to the next, and a call is queued before the
caller yields, so the thread works while the loop does.

Calls found queued back to back may run as a group inside one context (for
SQLite: one transaction, one commit for all of them), and their results are
handed back only once the group is done; a group that fails fails every call
in it. As with ``to_thread.run_sync``'s default, the wait cannot be cancelled:
a database call is never abandoned half-done. A caller that is already
cancelled does not queue its call.

A result reaches its caller through trio's entry queue (``run_sync_soon``):
a system task that runs in the loop round after the thread's wake-up is seen,
and reschedules the caller for the round after that. One caller at a time (the
event log's writer) can be woken directly instead: the thread writes to a
socket that the caller itself waits on, so it runs in the first round after
the wake-up, a round sooner. Under load a round takes milliseconds.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import attrs
import outcome
import trio

T = TypeVar("T")

_Deliver = Callable[[outcome.Outcome[Any]], None]
# A group's context: entered before the calls run, left after them (its exit
# may raise: then every call of the group fails with that error). It yields a
# check that says whether the group is still intact after a call.
Group = Callable[[], AbstractContextManager[Callable[[], bool]]]


@attrs.define(slots=True)
class _Job:
    fn: Callable[[], Any]
    deliver: _Deliver
    grouped: bool


class WorkerStopped(RuntimeError):
    """A call was made after :meth:`SerialWorker.stop`."""


class SerialWorker:
    """With ``group``, calls queued back to back (up to ``max_group``, those
    made with ``grouped=True``) run inside one ``group()`` context, and each
    result is handed back only once that context has been left: for SQLite,
    one transaction and one commit for all of them."""

    def __init__(self, name: str, *, group: Group | None = None, max_group: int = 64) -> None:
        self._name = name
        self.group = group  # may be set once the resource it groups for exists
        self._max_group = max_group
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._direct: tuple[socket.socket, socket.socket] | None = None  # made on first use
        self._direct_busy = False

    async def run(
        self,
        fn: Callable[[], T],
        *,
        grouped: bool = True,
        direct: bool = False,
    ) -> T:
        """Run ``fn`` on the worker thread after every call queued before it,
        and return its result (or raise its exception). ``grouped=False``: the
        call always runs alone.
        ``direct``: the thread wakes this task itself, a loop round sooner
        (while another direct call waits, this one goes the usual way)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._stopped:
            raise WorkerStopped(f"{self._name} is stopped")
        if direct and not self._direct_busy:
            return await self._run_direct(fn, grouped)
        task = trio.lowlevel.current_task()
        token = trio.lowlevel.current_trio_token()

        def deliver(result: outcome.Outcome[T]) -> None:
            with contextlib.suppress(trio.RunFinishedError):  # the run ended under us
                token.run_sync_soon(trio.lowlevel.reschedule, task, result)

        async def rescheduled() -> T:
            result: T = await trio.lowlevel.wait_task_rescheduled(
                lambda _: trio.lowlevel.Abort.FAILED
            )
            return result

        return await self._queue(_Job(fn, deliver, grouped), rescheduled)

    async def _run_direct(self, fn: Callable[[], T], grouped: bool) -> T:
        if self._direct is None:
            self._direct = socket.socketpair()
            for end in self._direct:
                end.setblocking(False)
        waiting, waker = self._direct
        results: list[outcome.Outcome[T]] = []

        def deliver(result: outcome.Outcome[T]) -> None:
            results.append(result)
            with contextlib.suppress(OSError):  # full: a wake-up is pending already
                waker.send(b"\0")

        async def woken() -> T:
            with trio.CancelScope(shield=True):
                while not results:
                    await trio.lowlevel.wait_readable(waiting)
                    with contextlib.suppress(BlockingIOError):
                        waiting.recv(64)
            return results[0].unwrap()

        self._direct_busy = True
        try:
            return await self._queue(_Job(fn, deliver, grouped), woken)
        finally:
            self._direct_busy = False
            if self._stopped:
                self._close_direct()

    async def _queue(self, job: _Job, wait: Callable[[], Awaitable[T]]) -> T:
        """Queue ``job`` (starting the thread on first use), then ``wait`` for
        its result."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()
        self._jobs.put(job)
        return await wait()

    def stop(self) -> None:
        """No more calls; the thread ends once those already queued have run."""
        if not self._stopped:
            self._stopped = True
            self._jobs.put(None)
        if not self._direct_busy:
            self._close_direct()

    def _close_direct(self) -> None:
        if self._direct is not None:
            for end in self._direct:
                end.close()
            self._direct = None

    def _work(self) -> None:
        later: deque[_Job | None] = deque()  # taken from the queue, not for this group
        while True:
            job = later.popleft() if later else self._jobs.get()
            if job is None:
                return
            jobs = [job]
            if self.group is not None and job.grouped:
                while len(jobs) < self._max_group:
                    try:
                        more = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if more is None or not more.grouped:
                        later.append(more)
                        break
                    jobs.append(more)
            if len(jobs) == 1:
                job.deliver(outcome.capture(job.fn))
            else:
                self._run_group(jobs)
            del job, jobs  # nothing of the calls stays alive while the thread waits

    def _run_group(self, jobs: list[_Job]) -> None:
        assert self.group is not None
        results: list[outcome.Outcome[Any]] = []
        left: list[_Job] = []
        entered = False
        try:
            with self.group() as intact:
                entered = True
                for i, job in enumerate(jobs):
                    results.append(outcome.capture(job.fn))
                    if not intact():  # an error ended the group: the rest run alone
                        left = jobs[i + 1 :]
                        break
        except BaseException as exc:  # the group was not committed: none of it was
            ran = len(results) if entered else len(jobs)
            results = [outcome.Error(exc) for _ in range(ran)]
        for job, result in zip(jobs, results, strict=False):
            job.deliver(result)
        for job in left:
            job.deliver(outcome.capture(job.fn))
