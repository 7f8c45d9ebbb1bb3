"""Threads and their messages in PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg

from netra_trio.storage.postgres.connection import PgConnection, execute_write
from netra_trio.storage.records import MessageRecord, ThreadRecord, new_message, new_thread
from netra_trio.storage.rows import MESSAGE_INSERT_COLUMNS, message_row, thread_row

_INSERT_THREAD = "INSERT INTO threads VALUES (%s, %s, %s, %s, %s)"
_THREAD_COLUMNS = "SELECT thread_id, user_id, title, created_at, updated_at FROM threads"


class PgThreadStore:
    def __init__(self, connection: PgConnection) -> None:
        self._connection = connection

    async def create_thread(
        self, user_id: str, title: str, *, thread_id: str | None = None
    ) -> ThreadRecord:
        record = new_thread(user_id, title, thread_id)

        def insert(conn: psycopg.Connection[Any]) -> None:
            execute_write(conn, _INSERT_THREAD, thread_row(record))

        await self._connection.call(insert)
        return record

    async def create_thread_with_message(
        self, user_id: str, title: str, role: str, content: str
    ) -> tuple[ThreadRecord, MessageRecord]:
        thread = new_thread(user_id, title)
        message = new_message(thread.thread_id, role, content)

        def insert(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute(_INSERT_THREAD, thread_row(thread))
                _insert_message(conn, message)

        await self._connection.call(insert)
        return thread, message

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        def select(conn: psycopg.Connection[Any]) -> ThreadRecord | None:
            row = conn.execute(_THREAD_COLUMNS + " WHERE thread_id = %s", (thread_id,)).fetchone()
            return ThreadRecord(*row) if row else None

        return await self._connection.read(select)

    async def list_threads(self, user_id: str, *, limit: int = 100) -> list[ThreadRecord]:
        def select(conn: psycopg.Connection[Any]) -> list[ThreadRecord]:
            rows = conn.execute(
                _THREAD_COLUMNS
                + " WHERE user_id = %s ORDER BY updated_at DESC, thread_id LIMIT %s",
                (user_id, limit),
            ).fetchall()
            return [ThreadRecord(*row) for row in rows]

        return await self._connection.read(select)

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

        def insert(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                _insert_message(conn, record)
                conn.execute(
                    "UPDATE threads SET updated_at = %s WHERE thread_id = %s",
                    (record.timestamp, thread_id),
                )

        await self._connection.call(insert)
        return record

    async def thread_messages(
        self, thread_id: str, *, limit: int | None = None
    ) -> list[MessageRecord]:
        def select(conn: psycopg.Connection[Any]) -> list[MessageRecord]:
            rows = conn.execute(
                "SELECT message_id, thread_id, role, content, created_at, run_id FROM ("
                "  SELECT * FROM messages WHERE thread_id = %s ORDER BY id DESC LIMIT %s"
                ") AS newest ORDER BY id",
                (thread_id, limit),
            ).fetchall()
            return [MessageRecord(*row) for row in rows]

        return await self._connection.read(select)


def _insert_message(conn: psycopg.Connection[Any], message: MessageRecord) -> None:
    conn.execute(
        f"INSERT INTO messages ({MESSAGE_INSERT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
        message_row(message),
    )
