"""Several worker processes on one port (``netra-trio serve --workers N``).

The parent (:func:`supervise`, what ``serve`` runs when N > 1) owns:

- the port: a socket bound with SO_REUSEPORT that it holds and never listens
  on, so ``--port 0`` becomes one port that every worker binds, and the port
  stays this server's while a worker restarts;
- the workers: N processes of ``python -m netra_trio`` with the parent's own
  arguments followed by ``--workers 1 --port PORT --worker`` (and, with
  ``--metrics-port P``, ``--metrics-port P+i`` for worker i). The first starts
  alone (it migrates the database), the others once it listens; when all of
  them listen, the parent prints ``netra-trio listening on URL``, once. A
  worker that exits before it ever listened stops them all: the parent exits 1
  (the worker has printed why);
- restarts: a worker that dies afterwards is started again, after a delay that
  doubles while workers keep dying young (:class:`RestartBackoff`); each exit
  is logged with the worker's index, pid and exit status;
- shutdown: on SIGINT or SIGTERM every worker gets SIGTERM (its own graceful
  shutdown closes its clients with 1001 and gives runs their grace); the parent
  waits at most ``shutdown_grace_s + close_timeout_s`` and a margin, kills
  the workers still running, and exits 0. A second signal kills them at once.

The workers run in a process group of their own, so Ctrl-C at a terminal
reaches the parent only and the workers stop in its order. A worker owns its
listening sockets (``server/shared_port.py``: SO_REUSEPORT, so the kernel
spreads new connections over the workers) and its stop conditions
(``worker.py``): SIGINT, SIGTERM, or the end of its stdin, a pipe from the
parent that is never written and so ends when the parent is gone, even killed
with SIGKILL. A worker writes only its listening line to stdout;
the parent reads it and discards the rest.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from netra_trio.config import Config
from netra_trio.errors import StartupError
from netra_trio.logs import log_event
from netra_trio.server.shared_port import reserve_port

LISTENING = "netra-trio listening on "
STOP_MARGIN_S = 5.0
"""Beyond the workers' own shutdown bounds, how long the parent waits for them."""


@attrs.define
class RestartBackoff:
    """The delay before a dead worker is started again: ``base_s`` the first
    time and after a worker that lived ``stable_s`` or more; after one that died
    younger, twice the previous delay, at most ``max_s``."""

    base_s: float = 0.1
    max_s: float = 10.0
    stable_s: float = 10.0
    _previous_s: float = attrs.field(default=0.0, init=False)

    def next_delay(self, lived_s: float) -> float:
        if lived_s >= self.stable_s or self._previous_s == 0.0:
            delay = self.base_s
        else:
            delay = min(self.max_s, self._previous_s * 2)
        self._previous_s = delay
        return delay


async def supervise(config: Config, argv: Sequence[str]) -> int:
    """Keep ``config.workers`` workers of ``netra-trio ARGV`` serving one port
    until SIGINT or SIGTERM; the exit status."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise StartupError("--workers above 1 needs SO_REUSEPORT, which this system lacks")
    with await reserve_port(config.host, config.port) as reserved:
        return await _Supervisor(config, argv, reserved.getsockname()[1]).run()


class _Supervisor:
    def __init__(self, config: Config, argv: Sequence[str], port: int) -> None:
        self._config = config
        self._argv = list(argv)
        self._port = port
        self._live: dict[int, trio.Process] = {}
        self._stopping = trio.Event()
        self._starting = trio.CancelScope()  # cancelled when a stop is asked for
        self._status = 0
        # each worker's URL the first time it listens (at most once per worker)
        self._ready, self._ready_urls = trio.open_memory_channel[str](config.workers)

    async def run(self) -> int:
        config = self._config
        async with trio.open_nursery() as outer:
            await outer.start(self._watch_signals)
            with trio.CancelScope() as bounded:
                async with trio.open_nursery() as slots:
                    with self._starting:
                        slots.start_soon(self._keep_running, 0)
                        url = await self._ready_urls.receive()
                        for index in range(1, config.workers):
                            slots.start_soon(self._keep_running, index)
                        for _ in range(1, config.workers):
                            await self._ready_urls.receive()
                        log_event("workers_listening", url=url, workers=config.workers)
                        print(f"{LISTENING}{url}", flush=True)
                    await self._stopping.wait()
                    for process in self._live.values():
                        process.terminate()
                    bounded.deadline = trio.current_time() + (
                        config.shutdown_grace_s + config.close_timeout_s + STOP_MARGIN_S
                    )
            # past the deadline, each worker's _owned(process) killed it
            log_event("workers_stopped", graceful=not bounded.cancelled_caught)
            outer.cancel_scope.cancel()
        return self._status

    def _stop(self) -> None:
        self._stopping.set()
        self._starting.cancel()

    def _command(self, index: int) -> list[str]:
        command = [sys.executable, "-m", "netra_trio", *self._argv]
        command += ["--workers", "1", "--port", str(self._port), "--worker"]
        if self._config.metrics_port:
            command += ["--metrics-port", str(self._config.metrics_port + index)]
        return command

    async def _keep_running(self, index: int) -> None:
        """Worker ``index``, started again each time it dies, until the stop."""
        backoff = RestartBackoff()
        listened = False
        while not self._stopping.is_set():
            process = await trio.lowlevel.open_process(
                self._command(index),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                process_group=0,
            )
            born = trio.current_time()
            self._live[index] = process
            log_event("worker_started", index=index, pid=process.pid)
            if self._stopping.is_set():
                process.terminate()
            try:
                async with _owned(process):
                    assert process.stdout is not None
                    url = await _listening_url(process.stdout)
                    if url is not None:
                        log_event("worker_listening", index=index, pid=process.pid)
                        if not listened:
                            listened = True
                            self._ready.send_nowait(url)
                    while await process.stdout.receive_some():
                        pass
                    status = await process.wait()
            finally:
                del self._live[index]
            ended = _exit_fields(status)
            if self._stopping.is_set():
                log_event("worker_stopped", index=index, pid=process.pid, **ended)
                return
            if not listened:
                log_event("worker_failed", logging.ERROR, index=index, pid=process.pid, **ended)
                self._status = 1
                self._stop()
                return
            delay = backoff.next_delay(trio.current_time() - born)
            log_event(
                "worker_exited",
                logging.WARNING,
                index=index,
                pid=process.pid,
                restart_in_s=delay,
                **ended,
            )
            with trio.move_on_after(delay):
                await self._stopping.wait()

    async def _watch_signals(self, *, task_status: trio.TaskStatus[None]) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                log_event("signal", signal=signal.Signals(signum).name)
                if not self._stopping.is_set():
                    self._stop()
                    continue
                log_event("workers_killed", count=len(self._live))
                for process in self._live.values():
                    process.kill()


@asynccontextmanager
async def _owned(process: trio.Process) -> AsyncIterator[None]:
    """While the block runs: ``process``, killed (and waited for) if the block
    ends before it exited; its pipes closed either way."""
    try:
        yield
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
                await process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    await pipe.aclose()


async def _listening_url(stdout: trio.abc.ReceiveStream) -> str | None:
    """The URL of the worker's listening line; None when its stdout ends first."""
    buffered = b""
    while True:
        while b"\n" in buffered:
            line, buffered = buffered.split(b"\n", 1)
            text = line.decode(errors="replace").strip()
            if text.startswith(LISTENING):
                return text.removeprefix(LISTENING)
        chunk = await stdout.receive_some()
        if not chunk:
            return None
        buffered += chunk


def _exit_fields(status: int) -> dict[str, Any]:
    if status >= 0:
        return {"code": status}
    try:
        return {"signal": signal.Signals(-status).name}
    except ValueError:
        return {"signal": -status}
