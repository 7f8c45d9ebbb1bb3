"""SQLite storage: one file, WAL mode, every call off the Trio thread.

One connection serves the whole process; a capacity limiter of one sends each
call to a worker thread in turn (``trio.to_thread.run_sync``), so the event
loop never blocks on disk and the connection is never used by two threads at
once. Each write is one transaction: a failure leaves nothing half-written.
SQLite errors become :class:`StorageError` with the cause attached.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import trio

from netra_trio.storage.base import (
    MessageRecord,
    NewEvent,
    RunRecord,
    StorageError,
    StoredEvent,
    ThreadRecord,
)
from netra_trio.storage.migrations import migrate

T = TypeVar("T")


class SqliteStorage:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._limiter = trio.CapacityLimiter(1)
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout_s: float = 5.0) -> SqliteStorage:
        def connect() -> sqlite3.Connection:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout_s
            )
            try:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
                db.execute("PRAGMA foreign_keys = ON")
                migrate(db)
            except BaseException:
                db.close()
                raise
            return db

        try:
            return cls(await trio.to_thread.run_sync(connect))
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open database {path}: {exc}") from exc

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._call(self._db.close)

    # -- plumbing -----------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)
        except sqlite3.Error as exc:
            raise StorageError(f"database error: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- threads and messages ------------------------------------------------------

    async def create_thread(
        self, user_id: str, title: str, *, thread_id: str | None = None
    ) -> ThreadRecord:
        record = ThreadRecord(
            thread_id or f"t-{uuid.uuid4().hex[:16]}", user_id, title, time.time(), time.time()
        )

        def insert() -> None:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO threads VALUES (?, ?, ?, ?, ?)",
                    (
                        record.thread_id,
                        record.user_id,
                        record.title,
                        record.created_at,
                        record.updated_at,
                    ),
                )

        await self._call(insert)
        return record

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        def select() -> ThreadRecord | None:
            row = self._db.execute(
                "SELECT thread_id, user_id, title, created_at, updated_at FROM threads"
                " WHERE thread_id = ?",
                (thread_id,),
            ).fetchone()
            return ThreadRecord(*row) if row else None

        return await self._call(select)

    async def list_threads(self, user_id: str, *, limit: int = 100) -> list[ThreadRecord]:
        def select() -> list[ThreadRecord]:
            rows = self._db.execute(
                "SELECT thread_id, user_id, title, created_at, updated_at FROM threads"
                " WHERE user_id = ? ORDER BY updated_at DESC, thread_id LIMIT ?",
                (user_id, limit),
            ).fetchall()
            return [ThreadRecord(*row) for row in rows]

        return await self._call(select)

    async def append_message(
        self,
        thread_id: str,
        role: str,
        content: str,
        *,
        message_id: str | None = None,
        run_id: str | None = None,
    ) -> MessageRecord:
        record = MessageRecord(
            message_id or f"m-{uuid.uuid4().hex[:16]}",
            thread_id,
            role,
            content,
            time.time(),
            run_id,
        )

        def insert() -> None:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO messages"
                    " (message_id, thread_id, role, content, run_id, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (record.message_id, thread_id, role, content, run_id, record.timestamp),
                )
                db.execute(
                    "UPDATE threads SET updated_at = ? WHERE thread_id = ?",
                    (record.timestamp, thread_id),
                )

        await self._call(insert)
        return record

    async def thread_messages(
        self, thread_id: str, *, limit: int | None = None
    ) -> list[MessageRecord]:
        def select() -> list[MessageRecord]:
            rows = self._db.execute(
                "SELECT message_id, thread_id, role, content, created_at, run_id FROM ("
                "  SELECT * FROM messages WHERE thread_id = ? ORDER BY id DESC LIMIT ?"
                ") ORDER BY id",
                (thread_id, -1 if limit is None else limit),
            ).fetchall()
            return [MessageRecord(*row) for row in rows]

        return await self._call(select)

    # -- runs ------------------------------------------------------------------------

    async def start_run(self, run: RunRecord) -> None:
        def insert() -> None:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO runs"
                    " (run_id, user_id, thread_id, agent, status, agents, started_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        run.run_id,
                        run.user_id,
                        run.thread_id,
                        run.agent,
                        run.status,
                        json.dumps(list(run.agents)),
                        run.started_at,
                    ),
                )

        await self._call(insert)

    async def finish_run(
        self, run_id: str, status: str, *, agents: Sequence[str] = (), error_code: str | None = None
    ) -> None:
        def update() -> None:
            with self._transaction() as db:
                db.execute(
                    "UPDATE runs SET status = ?, agents = ?, error_code = ?, ended_at = ?"
                    " WHERE run_id = ?",
                    (status, json.dumps(list(agents)), error_code, time.time(), run_id),
                )

        await self._call(update)

    async def get_run(self, run_id: str) -> RunRecord | None:
        def select() -> RunRecord | None:
            row = self._db.execute(_RUN_COLUMNS + " WHERE run_id = ?", (run_id,)).fetchone()
            return _run(row) if row else None

        return await self._call(select)

    async def interrupt_running_runs(self) -> list[RunRecord]:
        def update() -> list[RunRecord]:
            with self._transaction() as db:
                rows = db.execute(_RUN_COLUMNS + " WHERE status = 'running'").fetchall()
                db.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = ? WHERE status = 'running'",
                    (time.time(),),
                )
            return [_run(row) for row in rows]

        return await self._call(update)

    # -- the event log ---------------------------------------------------------------

    async def append_events(self, events: Sequence[NewEvent]) -> list[StoredEvent]:
        def insert() -> list[StoredEvent]:
            stored: list[StoredEvent] = []
            now = time.time()
            with self._transaction() as db:
                for event in events:
                    (seq,) = db.execute(
                        "INSERT INTO user_seq (user_id, last_seq) VALUES (?, 1)"
                        " ON CONFLICT (user_id) DO UPDATE SET last_seq = last_seq + 1"
                        " RETURNING last_seq",
                        (event.user_id,),
                    ).fetchone()
                    frame = event.make_frame(seq)
                    db.execute(
                        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (event.user_id, seq, event.type, event.run_id, event.thread_id, frame, now),
                    )
                    stored.append(
                        StoredEvent(
                            event.user_id,
                            seq,
                            event.type,
                            event.run_id,
                            event.thread_id,
                            frame,
                            now,
                        )
                    )
            return stored

        return await self._call(insert)

    async def events_after(self, user_id: str, seq: int, *, limit: int = 1000) -> list[StoredEvent]:
        def select() -> list[StoredEvent]:
            rows = self._db.execute(
                "SELECT user_id, seq, type, run_id, thread_id, frame, created_at FROM events"
                " WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (user_id, seq, limit),
            ).fetchall()
            return [StoredEvent(*row) for row in rows]

        return await self._call(select)

    async def last_seq(self, user_id: str) -> int:
        def select() -> int:
            row = self._db.execute(
                "SELECT last_seq FROM user_seq WHERE user_id = ?", (user_id,)
            ).fetchone()
            return int(row[0]) if row else 0

        return await self._call(select)


_RUN_COLUMNS = (
    "SELECT run_id, user_id, thread_id, agent, status, started_at, ended_at, agents, error_code"
    " FROM runs"
)


def _run(row: tuple[Any, ...]) -> RunRecord:
    run_id, user_id, thread_id, agent, status, started_at, ended_at, agents, error_code = row
    return RunRecord(
        run_id,
        user_id,
        thread_id,
        agent,
        status,
        started_at,
        ended_at,
        tuple(json.loads(agents)),
        error_code,
    )
