"""Threads and their messages in SQLite."""

from __future__ import annotations

import sqlite3

from netra_trio.storage.records import MessageRecord, ThreadRecord, new_message, new_thread
from netra_trio.storage.rows import MESSAGE_INSERT_COLUMNS, message_row, thread_row
from netra_trio.storage.sqlite.database import Database

_THREAD_COLUMNS = "SELECT thread_id, user_id, title, created_at, updated_at FROM threads"


class SqliteThreadStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create_thread(
        self, user_id: str, title: str, *, thread_id: str | None = None
    ) -> ThreadRecord:
        record = new_thread(user_id, title, thread_id)

        def insert() -> None:
            with self._database.transaction() as db:
                _insert_thread(db, record)

        await self._database.call(insert)
        return record

    async def create_thread_with_message(
        self, user_id: str, title: str, role: str, content: str
    ) -> tuple[ThreadRecord, MessageRecord]:
        thread = new_thread(user_id, title)
        message = new_message(thread.thread_id, role, content)

        def insert() -> None:
            with self._database.transaction() as db:
                _insert_thread(db, thread)
                _insert_message(db, message)

        await self._database.call(insert)
        return thread, message

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        def select() -> ThreadRecord | None:
            row = self._database.connection.execute(
                _THREAD_COLUMNS + " WHERE thread_id = ?", (thread_id,)
            ).fetchone()
            return ThreadRecord(*row) if row else None

        return await self._database.read(select)

    async def list_threads(self, user_id: str, *, limit: int = 100) -> list[ThreadRecord]:
        def select() -> list[ThreadRecord]:
            rows = self._database.connection.execute(
                _THREAD_COLUMNS + " WHERE user_id = ? ORDER BY updated_at DESC, thread_id LIMIT ?",
                (user_id, limit),
            ).fetchall()
            return [ThreadRecord(*row) for row in rows]

        return await self._database.read(select)

    async def append_message(
        self,
        thread_id: str,
        role: str,
        content: str,
        *,
        message_id: str | None = None,
        run_id: str | None = None,
    ) -> MessageRecord:
        record = new_message(thread_id, role, content, message_id, run_id)

        def insert() -> None:
            with self._database.transaction() as db:
                _insert_message(db, record)
                db.execute(
                    "UPDATE threads SET updated_at = ? WHERE thread_id = ?",
                    (record.timestamp, thread_id),
                )

        await self._database.call(insert)
        return record

    async def thread_messages(
        self, thread_id: str, *, limit: int | None = None
    ) -> list[MessageRecord]:
        def select() -> list[MessageRecord]:
            rows = self._database.connection.execute(
                "SELECT message_id, thread_id, role, content, created_at, run_id FROM ("
                "  SELECT * FROM messages WHERE thread_id = ? ORDER BY id DESC LIMIT ?"
                ") ORDER BY id",
                (thread_id, -1 if limit is None else limit),
            ).fetchall()
            return [MessageRecord(*row) for row in rows]

        return await self._database.read(select)


def _insert_thread(db: sqlite3.Connection, thread: ThreadRecord) -> None:
    db.execute(
        "INSERT INTO threads VALUES (?, ?, ?, ?, ?)",
        thread_row(thread),
    )


def _insert_message(db: sqlite3.Connection, message: MessageRecord) -> None:
    db.execute(
        f"INSERT INTO messages ({MESSAGE_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        message_row(message),
    )
