"""Threads and their messages in PostgreSQL."""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg

from netra_trio.storage.postgres.connection import PgConnection
from netra_trio.storage.records import MessageRecord, ThreadRecord

_THREAD_COLUMNS = "SELECT thread_id, user_id, title, created_at, updated_at FROM threads"


class PgThreadStore:
    def __init__(self, connection: PgConnection) -> None:
        self._connection = connection

    async def create_thread(
        self, user_id: str, title: str, *, thread_id: str | None = None
    ) -> ThreadRecord:
        now = time.time()
        record = ThreadRecord(thread_id or f"t-{uuid.uuid4().hex[:16]}", user_id, title, now, now)

        def insert(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO threads VALUES (%s, %s, %s, %s, %s)",
                    (record.thread_id, user_id, title, now, now),
                )

        await self._connection.call(insert)
        return record

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        def select(conn: psycopg.Connection[Any]) -> ThreadRecord | None:
            row = conn.execute(_THREAD_COLUMNS + " WHERE thread_id = %s", (thread_id,)).fetchone()
            return ThreadRecord(*row) if row else None

        return await self._connection.call(select, grouped=False)

    async def list_threads(self, user_id: str, *, limit: int = 100) -> list[ThreadRecord]:
        def select(conn: psycopg.Connection[Any]) -> list[ThreadRecord]:
            rows = conn.execute(
                _THREAD_COLUMNS
                + " WHERE user_id = %s ORDER BY updated_at DESC, thread_id LIMIT %s",
                (user_id, limit),
            ).fetchall()
            return [ThreadRecord(*row) for row in rows]

        return await self._connection.call(select, grouped=False)

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

        def insert(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO messages"
                    " (message_id, thread_id, role, content, run_id, created_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (record.message_id, thread_id, role, content, run_id, record.timestamp),
                )
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

        return await self._connection.call(select, grouped=False)
