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

As with ``to_thread.run_sync``'s default, the wait cannot be cancelled: a
database call is never abandoned half-done. A caller that is already
cancelled does not queue its call.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import outcome
import trio

T = TypeVar("T")

_Deliver = Callable[[outcome.Outcome[Any]], None]
_Job = tuple[Callable[[], Any], _Deliver] | None  # None: stop


class WorkerStopped(RuntimeError):
    """A call was made after :meth:`SerialWorker.stop`."""


class SerialWorker:
    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def run(self, fn: Callable[[], T], *, queued: Callable[[], object] | None = None) -> T:
        """Run ``fn`` on the worker thread after every call queued before it,
        and return its result (or raise its exception). ``queued`` is called
        once the call is queued, before the wait: the caller's own work that
        may overlap it."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._stopped:
            raise WorkerStopped(f"{self._name} is stopped")
        task = trio.lowlevel.current_task()
        token = trio.lowlevel.current_trio_token()

        def deliver(result: outcome.Outcome[T]) -> None:
            with contextlib.suppress(trio.RunFinishedError):  # the run ended under us
                token.run_sync_soon(trio.lowlevel.reschedule, task, result)

        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()
        self._jobs.put((fn, deliver))
        if queued is not None:
            queued()
        result: T = await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)
        return result

    def stop(self) -> None:
        """No more calls; the thread ends once those already queued have run."""
        if not self._stopped:
            self._stopped = True
            self._jobs.put(None)

    def _work(self) -> None:
        jobs = self._jobs
        while (job := jobs.get()) is not None:
            fn, deliver = job
            result = outcome.capture(fn)
            del fn, job  # nothing of the call stays alive while the thread waits
            deliver(result)
