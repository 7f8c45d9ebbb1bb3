"""The storage interfaces: four stores, each replaceable on its own.

- :class:`ThreadStore`: threads and their messages.
- :class:`RunStore`: the record of each agent run.
- :class:`EventStore`: the per-user event log that ``resume`` reads. It stores
  and reads rows: the event log (``netra_trio.pipeline.event_log``) numbers
  the events and renders their frames before it appends them.
- :class:`SessionStore`: sealed session rows.

A backend bundles them as a :class:`Storage`. ``tests/storage/conformance.py``
holds one check per store, run against every backend. Every failure of the
database is a :class:`StorageError` (:class:`DatabaseUnavailable` when its
server cannot be reached); a write that fails leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from netra_trio.storage.records import (
    MessageRecord,
    ReplayWindow,
    RunRecord,
    SessionRecord,
    StoredEvent,
    ThreadRecord,
)


class StorageError(Exception):
    """The database could not do what was asked (locked, full, corrupt...).
    ``reading``: what failed was a read (nothing was being written)."""

    def __init__(self, message: str, *, reading: bool = False) -> None:
        super().__init__(message)
        self.reading = reading


class DatabaseUnavailable(StorageError):
    """The database server cannot be reached (now, or at the last attempt to
    connect again): the request may succeed once it is back."""


class SeqConflict(StorageError):
    """An event's ``(user_id, seq)`` is stored already: another process of the
    cluster numbered that user's events from the same last seq first."""


class ThreadStore(Protocol):
    async def create_thread(
        self, user_id: str, title: str, *, thread_id: str | None = None
    ) -> ThreadRecord: ...
    async def create_thread_with_message(
        self, user_id: str, title: str, role: str, content: str
    ) -> tuple[ThreadRecord, MessageRecord]:
        """A new thread and its first message, stored together or not at all."""
        ...

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


class RunStore(Protocol):
    async def start_run(self, run: RunRecord) -> None: ...
    async def finish_run(
        self, run_id: str, status: str, *, agents: Sequence[str] = (), error_code: str | None = None
    ) -> None: ...
    async def get_run(self, run_id: str) -> RunRecord | None: ...
    async def running_runs(self) -> list[RunRecord]:
        """Every run still ``running``."""
        ...

    async def interrupt_running_runs(self, *, keep: Collection[str] = ()) -> list[RunRecord]:
        """Mark every run still ``running`` as ``interrupted`` (after a crash),
        except those in ``keep`` (alive on another process), and return them as
        they were."""
        ...

    async def ending_stored(self, run_id: str) -> bool:
        """Whether the run's terminal event (``agent_completed`` or
        ``agent_error``) is in the event log."""
        ...

    async def runs_without_ending(self, *, started_after: float = 0.0) -> list[RunRecord]:
        """The runs recorded as ended in ``error`` or ``interrupted``, started
        after ``started_after``, whose terminal event is not in the event log
        (the store failed as they ended), oldest first. A run whose user's
        events of its time may have left the log by retention is not one
        (its ending may have been stored and dropped since). Runs recorded as
        ``success`` or ``cancelled`` are recorded so only once their ending is
        stored."""
        ...


class EventStore(Protocol):
    async def last_seqs(self, user_ids: Sequence[str]) -> dict[str, int]:
        """The last stored ``seq`` of each user (0 for a user with none)."""
        ...

    async def append(self, events: Sequence[StoredEvent]) -> None:
        """Store ``events`` in one transaction, whole or not at all. An event
        whose ``(user_id, seq)`` is already stored fails the whole batch with
        :class:`SeqConflict`. The store applies its retention as it appends."""
        ...

    async def events_after(
        self, user_id: str, seq: int, *, limit: int = 1000
    ) -> list[StoredEvent]: ...
    async def replay_window(self, user_id: str) -> ReplayWindow: ...


class SessionStore(Protocol):
    async def put_session(self, session: SessionRecord) -> None: ...
    async def get_session(self, session_id: str) -> SessionRecord | None: ...
    async def user_sessions(self, user_id: str) -> list[SessionRecord]: ...
    async def touch_sessions(self, session_ids: Sequence[str], last_active: float) -> int:
        """Set the sessions' last activity; returns how many of them are stored."""
        ...

    async def delete_sessions(
        self, session_ids: Sequence[str], *, idle_through: float | None = None
    ) -> None:
        """Delete the sessions; with ``idle_through``, only those last active
        at or before it (one touched meanwhile, by a resume on another
        process, stays)."""
        ...

    async def sessions_idle_since(self, cutoff: float) -> list[SessionRecord]: ...
    async def oldest_session_activity(self, exclude: Sequence[str] = ()) -> float | None: ...


class Storage(Protocol):
    """One backend's stores, opened together and closed together."""

    @property
    def threads(self) -> ThreadStore: ...
    @property
    def runs(self) -> RunStore: ...
    @property
    def events(self) -> EventStore: ...
    @property
    def sessions(self) -> SessionStore: ...
    async def ping(self) -> None:
        """Return when the database answers; StorageError when it does not."""
        ...

    async def close(self) -> None: ...
