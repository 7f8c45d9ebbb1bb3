"""Sealed session rows in PostgreSQL (the data is encrypted before it gets here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, LiteralString

import psycopg

from netra_trio.storage.postgres.connection import PgConnection, execute_write
from netra_trio.storage.records import SessionRecord
from netra_trio.storage.rows import SESSION_COLUMNS, session_row

_SESSION_COLUMNS = f"SELECT {SESSION_COLUMNS} FROM sessions"


class PgSessionStore:
    def __init__(self, connection: PgConnection) -> None:
        self._connection = connection

    async def put_session(self, session: SessionRecord) -> None:
        def upsert(conn: psycopg.Connection[Any]) -> None:
            execute_write(
                conn,
                "INSERT INTO sessions VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (session_id) DO UPDATE SET"
                " last_active = excluded.last_active, nonce = excluded.nonce,"
                " data = excluded.data",
                session_row(session),
            )

        await self._connection.call(upsert)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        def select(conn: psycopg.Connection[Any]) -> SessionRecord | None:
            row = conn.execute(_SESSION_COLUMNS + " WHERE session_id = %s", (session_id,))
            found = row.fetchone()
            return SessionRecord(*found) if found else None

        return await self._connection.read(select)

    async def user_sessions(self, user_id: str) -> list[SessionRecord]:
        return await self._select(" WHERE user_id = %s ORDER BY last_active, session_id", user_id)

    async def sessions_idle_since(self, cutoff: float) -> list[SessionRecord]:
        return await self._select(" WHERE last_active <= %s ORDER BY last_active", cutoff)

    async def _select(self, where: LiteralString, value: object) -> list[SessionRecord]:
        def select(conn: psycopg.Connection[Any]) -> list[SessionRecord]:
            rows = conn.execute(_SESSION_COLUMNS + where, (value,)).fetchall()
            return [SessionRecord(*row) for row in rows]

        return await self._connection.read(select)

    async def touch_sessions(self, session_ids: Sequence[str], last_active: float) -> int:
        def update(conn: psycopg.Connection[Any]) -> int:
            return execute_write(
                conn,
                "UPDATE sessions SET last_active = %s WHERE session_id = ANY(%s)",
                (last_active, list(session_ids)),
            )

        return await self._connection.call(update)

    async def delete_sessions(
        self, session_ids: Sequence[str], *, idle_through: float | None = None
    ) -> None:
        def delete(conn: psycopg.Connection[Any]) -> None:
            execute_write(
                conn,
                "DELETE FROM sessions WHERE session_id = ANY(%s)"
                " AND (%s::double precision IS NULL OR last_active <= %s)",
                (list(session_ids), idle_through, idle_through),
            )

        await self._connection.call(delete)

    async def oldest_session_activity(self, exclude: Sequence[str] = ()) -> float | None:
        def select(conn: psycopg.Connection[Any]) -> float | None:
            row = conn.execute(
                "SELECT min(last_active) FROM sessions WHERE NOT session_id = ANY(%s)",
                (list(exclude),),
            ).fetchone()
            return float(row[0]) if row and row[0] is not None else None

        return await self._connection.read(select)
