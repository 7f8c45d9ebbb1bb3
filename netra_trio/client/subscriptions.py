"""Where the frames a client reads go: the waiting requests, the run
iterators and the event streams, each a :class:`Subscription` with its own
buffer.

Written against a minimal "signal" (``set()`` and an awaitable ``wait()``,
which both ``trio.Event`` and ``asyncio.Event`` are) and a wait with a
timeout that the shell provides, so the Trio and asyncio clients share it.
A signal is used once: after a wake-up the subscription arms a new one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from netra_trio.client.errors import ClientError
from netra_trio.protocol.server_frames import ServerFrame


class Signal(Protocol):
    def set(self) -> None: ...

    def wait(self) -> Awaitable[Any]: ...


WaitFor = Callable[[Signal, float | None], Awaitable[bool]]  # False: timed out


class BacklogFull(ClientError):
    """An event stream was not read while more than its bound of events
    arrived; the stream ends with this error (the client goes on)."""


class Ended(Exception):
    """The client was closed by its caller: iterators end quietly."""


class Subscription:
    """Frames for one consumer. ``correlation_id`` None: every agent event
    (an event stream). Otherwise the frames of one request: its replies when
    ``replies``, and, when ``events``, the agent events it started, matched
    by ``correlation_id`` and then by the ``run_id`` of the first of them (a
    run's ending stored by a restarted server carries only its ``run_id``)."""

    __slots__ = (
        "_error",
        "_frames",
        "_new_signal",
        "_signal",
        "correlation_id",
        "events",
        "limit",
        "replies",
        "run_id",
        "started",
    )

    def __init__(
        self,
        new_signal: Callable[[], Signal],
        *,
        correlation_id: str | None = None,
        events: bool = True,
        replies: bool = False,
        limit: int = 10_000,
    ) -> None:
        self._new_signal = new_signal
        self._signal = new_signal()
        self._frames: deque[ServerFrame] = deque()
        self._error: BaseException | None = None
        self.correlation_id = correlation_id
        self.events = events
        self.replies = replies
        self.limit = limit
        self.run_id: str | None = None
        self.started = False  # a reply or an event of this request arrived

    def wants(self, frame: ServerFrame) -> bool:
        if frame.seq is not None:
            if not self.events:
                return False
            if self.correlation_id is None:
                return True
            if frame.correlation_id == self.correlation_id:
                return True
            return self.run_id is not None and frame.run_id == self.run_id
        return self.replies and frame.correlation_id == self.correlation_id

    def push(self, frame: ServerFrame) -> bool:
        """Queue ``frame``; False when the buffer is full (the subscription has failed)."""
        if self._error is not None:
            return True
        if len(self._frames) >= self.limit:
            self.fail(BacklogFull(f"more than {self.limit} events arrived unread"))
            return False
        if frame.seq is not None and self.run_id is None and self.correlation_id is not None:
            self.run_id = frame.run_id
        if frame.type != "error":
            self.started = True
        self._frames.append(frame)
        self._signal.set()
        return True

    def fail(self, error: BaseException) -> None:
        """End the subscription: ``get`` raises ``error`` once the queue is read."""
        if self._error is None:
            self._error = error
            self._signal.set()

    async def get(self, wait_for: WaitFor, timeout_s: float | None) -> ServerFrame | None:
        """The next frame; None when ``timeout_s`` passed first. A set signal
        always means a frame or an error not yet seen: it is armed anew
        whenever the queue runs empty."""
        if not self._frames:
            if self._error is None and not await wait_for(self._signal, timeout_s):
                return None
            if not self._frames:
                assert self._error is not None
                raise self._error
        frame = self._frames.popleft()
        if not self._frames:
            self._signal = self._new_signal()
        return frame
