"""Sealed session rows in SQLite (the data is encrypted before it gets here)."""

from __future__ import annotations

from collections.abc import Sequence

from netra_trio.storage.records import SessionRecord
from netra_trio.storage.rows import SESSION_COLUMNS, session_row
from netra_trio.storage.sqlite.database import Database

_SESSION_COLUMNS = f"SELECT {SESSION_COLUMNS} FROM sessions"


class SqliteSessionStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def put_session(self, session: SessionRecord) -> None:
        def upsert() -> None:
            with self._database.transaction() as db:
                db.execute(
                    "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (session_id) DO UPDATE SET"
                    " last_active = excluded.last_active, nonce = excluded.nonce,"
                    " data = excluded.data",
                    session_row(session),
                )

        await self._database.call(upsert)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        def select() -> SessionRecord | None:
            row = self._database.connection.execute(
                _SESSION_COLUMNS + " WHERE session_id = ?", (session_id,)
            ).fetchone()
            return SessionRecord(*row) if row else None

        return await self._database.read(select)

    async def user_sessions(self, user_id: str) -> list[SessionRecord]:
        def select() -> list[SessionRecord]:
            rows = self._database.connection.execute(
                _SESSION_COLUMNS + " WHERE user_id = ? ORDER BY last_active, session_id", (user_id,)
            ).fetchall()
            return [SessionRecord(*row) for row in rows]

        return await self._database.read(select)

    async def touch_sessions(self, session_ids: Sequence[str], last_active: float) -> int:
        def update() -> int:
            with self._database.transaction() as db:
                return db.executemany(
                    "UPDATE sessions SET last_active = ? WHERE session_id = ?",
                    [(last_active, session_id) for session_id in session_ids],
                ).rowcount

        return await self._database.call(update)

    async def delete_sessions(
        self, session_ids: Sequence[str], *, idle_through: float | None = None
    ) -> None:
        def delete() -> None:
            with self._database.transaction() as db:
                db.executemany(
                    "DELETE FROM sessions WHERE session_id = ?1"
                    " AND (?2 IS NULL OR last_active <= ?2)",
                    [(sid, idle_through) for sid in session_ids],
                )

        await self._database.call(delete)

    async def sessions_idle_since(self, cutoff: float) -> list[SessionRecord]:
        def select() -> list[SessionRecord]:
            rows = self._database.connection.execute(
                _SESSION_COLUMNS + " WHERE last_active <= ? ORDER BY last_active", (cutoff,)
            ).fetchall()
            return [SessionRecord(*row) for row in rows]

        return await self._database.read(select)

    async def oldest_session_activity(self, exclude: Sequence[str] = ()) -> float | None:
        def select() -> float | None:
            marks = ",".join("?" * len(exclude))
            where = f" WHERE session_id NOT IN ({marks})" if exclude else ""
            row = self._database.connection.execute(
                f"SELECT min(last_active) FROM sessions{where}", tuple(exclude)
            ).fetchone()
            return float(row[0]) if row and row[0] is not None else None

        return await self._database.read(select)
