"""The record of each agent run in PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any

import psycopg

from netra_trio.storage.postgres.connection import PgConnection, execute_write
from netra_trio.storage.records import RunRecord
from netra_trio.storage.rows import (
    RUN_COLUMNS,
    RUN_INSERT_COLUMNS,
    agents_value,
    run_from_row,
    run_row,
)

# A run's terminal event (through the partial index events_ending).
_ENDING = (
    "SELECT 1 FROM events WHERE run_id = %s AND type IN ('agent_completed', 'agent_error') LIMIT 1"
)

# Runs recorded as ended in error without their terminal event, while the
# user's events of their time are still in the log: nothing of the user ever
# left by retention, or an event older than the run is still there (retention
# drops a user's oldest events first).
_WITHOUT_ENDING = f"""
SELECT {RUN_COLUMNS} FROM runs AS r
WHERE r.status IN ('error', 'interrupted') AND r.started_at > %s
  AND NOT EXISTS (
      SELECT 1 FROM events AS e
      WHERE e.run_id = r.run_id AND e.type IN ('agent_completed', 'agent_error'))
  AND (
      NOT EXISTS (SELECT 1 FROM user_seq AS u WHERE u.user_id = r.user_id AND u.pruned_through > 0)
      OR coalesce((
          SELECT e.created_at <= r.started_at FROM events AS e
          WHERE e.user_id = r.user_id ORDER BY e.seq LIMIT 1), false))
ORDER BY r.started_at
"""


class PgRunStore:
    def __init__(self, connection: PgConnection) -> None:
        self._connection = connection

    async def start_run(self, run: RunRecord) -> None:
        def insert(conn: psycopg.Connection[Any]) -> None:
            execute_write(
                conn,
                f"INSERT INTO runs ({RUN_INSERT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                run_row(run),
            )

        await self._connection.call(insert)

    async def finish_run(
        self, run_id: str, status: str, *, agents: Sequence[str] = (), error_code: str | None = None
    ) -> None:
        def update(conn: psycopg.Connection[Any]) -> None:
            execute_write(
                conn,
                "UPDATE runs SET status = %s, agents = %s, error_code = %s, ended_at = %s"
                " WHERE run_id = %s",
                (status, agents_value(agents), error_code, time.time(), run_id),
            )

        await self._connection.call(update)

    async def get_run(self, run_id: str) -> RunRecord | None:
        def select(conn: psycopg.Connection[Any]) -> RunRecord | None:
            row = conn.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = %s", (run_id,)
            ).fetchone()
            return run_from_row(row) if row else None

        return await self._connection.read(select)

    async def running_runs(self) -> list[RunRecord]:
        def select(conn: psycopg.Connection[Any]) -> list[RunRecord]:
            rows = conn.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE status = 'running'")
            return [run_from_row(row) for row in rows.fetchall()]

        return await self._connection.read(select)

    async def interrupt_running_runs(self, *, keep: Collection[str] = ()) -> list[RunRecord]:
        def update(conn: psycopg.Connection[Any]) -> list[RunRecord]:
            with conn.transaction():
                rows = conn.execute(
                    f"SELECT {RUN_COLUMNS} FROM runs WHERE status = 'running'"
                    " AND NOT run_id = ANY(%s) ORDER BY run_id FOR UPDATE",
                    (list(keep),),
                ).fetchall()
                runs = [run_from_row(row) for row in rows]
                conn.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = %s WHERE run_id = ANY(%s)",
                    (time.time(), [run.run_id for run in runs]),
                )
            return runs

        return await self._connection.call(update)

    async def ending_stored(self, run_id: str) -> bool:
        def select(conn: psycopg.Connection[Any]) -> bool:
            return conn.execute(_ENDING, (run_id,)).fetchone() is not None

        return await self._connection.read(select)

    async def runs_without_ending(self, *, started_after: float = 0.0) -> list[RunRecord]:
        def select(conn: psycopg.Connection[Any]) -> list[RunRecord]:
            rows = conn.execute(_WITHOUT_ENDING, (started_after,)).fetchall()
            return [run_from_row(row) for row in rows]

        return await self._connection.read(select)
