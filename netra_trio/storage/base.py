"""The storage interface and its records.

Every backend implements :class:`Storage`; ``tests/storage/conformance.py``
holds the one function that checks a backend, run against each of them.
Events are appended in batches so a backend can commit many at once; each
event's frame is made by the caller from the ``seq`` the backend assigns, so
the stored frame and the sent frame are the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import attrs


class StorageError(Exception):
    """The database could not do what was asked (locked, full, corrupt...)."""


@attrs.frozen
class ThreadRecord:
    thread_id: str
    user_id: str
    title: str
    created_at: float
    updated_at: float


@attrs.frozen
class MessageRecord:
    message_id: str
    thread_id: str
    role: str  # "user" | "assistant"
    content: str
    timestamp: float
    run_id: str | None = None


@attrs.frozen
class RunRecord:
    run_id: str
    user_id: str
    thread_id: str
    agent: str
    status: str  # "running" | "success" | "cancelled" | "error" | "interrupted"
    started_at: float
    ended_at: float | None = None
    agents: tuple[str, ...] = ()
    error_code: str | None = None


@attrs.frozen
class NewEvent:
    """An event to store: ``make_frame(seq)`` renders its wire frame."""

    user_id: str
    type: str
    run_id: str | None
    thread_id: str | None
    make_frame: Callable[[int], str]


@attrs.frozen
class StoredEvent:
    user_id: str
    seq: int
    type: str
    run_id: str | None
    thread_id: str | None
    frame: str
    created_at: float


class Storage(Protocol):
    async def close(self) -> None: ...

    # threads and messages
    async def create_thread(
        self, user_id: str, title: str, *, thread_id: str | None = None
    ) -> ThreadRecord: ...
    async def get_thread(self, thread_id: str) -> ThreadRecord | None: ...
    async def list_threads(self, user_id: str, *, limit: int = 100) -> list[ThreadRecord]: ...
    async def append_message(
        self,
        thread_id: str,
        role: str,
        content: str,
        *,
        message_id: str | None = None,
        run_id: str | None = None,
    ) -> MessageRecord: ...
    async def thread_messages(
        self, thread_id: str, *, limit: int | None = None
    ) -> list[MessageRecord]: ...

    # runs
    async def start_run(self, run: RunRecord) -> None: ...
    async def finish_run(
        self, run_id: str, status: str, *, agents: Sequence[str] = (), error_code: str | None = None
    ) -> None: ...
    async def get_run(self, run_id: str) -> RunRecord | None: ...
    async def interrupt_running_runs(self) -> list[RunRecord]: ...

    # the event log
    async def append_events(self, events: Sequence[NewEvent]) -> list[StoredEvent]: ...
    async def events_after(
        self, user_id: str, seq: int, *, limit: int = 1000
    ) -> list[StoredEvent]: ...
    async def last_seq(self, user_id: str) -> int: ...
