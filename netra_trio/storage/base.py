"""The storage interface and its records.

Every backend implements :class:`Storage`; ``tests/storage/conformance.py``
holds the one function that checks a backend, run against each of them.
Events are appended in batches so a backend can commit many at once; each
event's frame is made by the caller from the ``seq`` the backend assigns, so
the stored frame and the sent frame are the same bytes. A backend applies the
:class:`Retention` it was opened with as it appends, and remembers up to which
seq each user's events have been pruned, so a replay can tell a gap.
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


# NewEvent and StoredEvent are made for every agent event: plain slotted
# classes (a frozen attrs class sets each field through object.__setattr__,
# ~3x the cost). Treat them as read-only.
@attrs.define
class NewEvent:
    """An event to store: ``make_frame(seq)`` renders its wire frame."""

    user_id: str
    type: str
    run_id: str | None
    thread_id: str | None
    make_frame: Callable[[int], str]


@attrs.define
class StoredEvent:
    user_id: str
    seq: int
    type: str
    run_id: str | None
    thread_id: str | None
    frame: str
    created_at: float


@attrs.frozen
class Retention:
    """How much of each user's event log is kept for replay."""

    max_events: int = 10_000
    max_age_s: float = 86_400.0


@attrs.frozen
class ReplayWindow:
    pruned_through: int  # events up to this seq have left retention
    last_seq: int


@attrs.frozen
class SessionRecord:
    session_id: str
    user_id: str
    created_at: float
    last_active: float
    nonce: bytes  # the session data is sealed (see netra_trio.server.sessions)
    data: bytes


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
    async def append_events(
        self, events: Sequence[NewEvent], *, while_writing: Callable[[], object] | None = None
    ) -> list[StoredEvent]:
        """Store ``events`` in one transaction, numbering each user's events on
        from that user's last seq. ``while_writing`` is called once the batch
        is on its way to the database, before the wait for it: work of the
        caller's that may overlap the write (it is not called if the batch
        fails before that point)."""
        ...

    async def events_after(
        self, user_id: str, seq: int, *, limit: int = 1000
    ) -> list[StoredEvent]: ...
    async def last_seq(self, user_id: str) -> int: ...
    async def replay_window(self, user_id: str) -> ReplayWindow: ...

    # sessions
    async def put_session(self, session: SessionRecord) -> None: ...
    async def get_session(self, session_id: str) -> SessionRecord | None: ...
    async def user_sessions(self, user_id: str) -> list[SessionRecord]: ...
    async def touch_session(self, session_id: str, last_active: float) -> None: ...
    async def delete_sessions(self, session_ids: Sequence[str]) -> None: ...
    async def sessions_idle_since(self, cutoff: float) -> list[SessionRecord]: ...
    async def oldest_session_activity(self, exclude: Sequence[str] = ()) -> float | None: ...
