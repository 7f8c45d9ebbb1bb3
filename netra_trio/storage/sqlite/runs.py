"""The record of each agent run in SQLite."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence

from netra_trio.storage.records import RunRecord
from netra_trio.storage.rows import (
    RUN_COLUMNS,
    RUN_INSERT_COLUMNS,
    agents_value,
    run_from_row,
    run_row,
)
from netra_trio.storage.sqlite.database import Database

_RUN_COLUMNS = f"SELECT {RUN_COLUMNS} FROM runs"

# A run's terminal event (through the partial index events_ending).
_ENDING = "SELECT 1 FROM events WHERE run_id = ? AND type IN ('agent_completed', 'agent_error')"

# Runs recorded as ended in error without their terminal event, while the
# user's events of their time are still in the log: nothing of the user ever
# left by retention, or an event older than the run is still there (retention
# drops a user's oldest events first).
_WITHOUT_ENDING = f"""
SELECT {RUN_COLUMNS} FROM runs AS r
WHERE r.status IN ('error', 'interrupted') AND r.started_at > ?
  AND NOT EXISTS (
      SELECT 1 FROM events AS e
      WHERE e.run_id = r.run_id AND e.type IN ('agent_completed', 'agent_error'))
  AND (
      NOT EXISTS (SELECT 1 FROM user_seq AS u WHERE u.user_id = r.user_id AND u.pruned_through > 0)
      OR coalesce((
          SELECT e.created_at <= r.started_at FROM events AS e
          WHERE e.uid = (SELECT u.uid FROM user_seq AS u WHERE u.user_id = r.user_id)
          ORDER BY e.seq LIMIT 1), 0))
ORDER BY r.started_at
"""


class SqliteRunStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def start_run(self, run: RunRecord) -> None:
        def insert() -> None:
            with self._database.transaction() as db:
                db.execute(
                    f"INSERT INTO runs ({RUN_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    run_row(run),
                )

        await self._database.call(insert)

    async def finish_run(
        self, run_id: str, status: str, *, agents: Sequence[str] = (), error_code: str | None = None
    ) -> None:
        def update() -> None:
            with self._database.transaction() as db:
                db.execute(
                    "UPDATE runs SET status = ?, agents = ?, error_code = ?, ended_at = ?"
                    " WHERE run_id = ?",
                    (status, agents_value(agents), error_code, time.time(), run_id),
                )

        await self._database.call(update)

    async def get_run(self, run_id: str) -> RunRecord | None:
        def select() -> RunRecord | None:
            row = self._database.connection.execute(
                _RUN_COLUMNS + " WHERE run_id = ?", (run_id,)
            ).fetchone()
            return run_from_row(row) if row else None

        return await self._database.read(select)

    async def running_runs(self) -> list[RunRecord]:
        def select() -> list[RunRecord]:
            db = self._database.connection
            return [
                run_from_row(row) for row in db.execute(_RUN_COLUMNS + " WHERE status = 'running'")
            ]

        return await self._database.read(select)

    async def interrupt_running_runs(self, *, keep: Collection[str] = ()) -> list[RunRecord]:
        kept = set(keep)

        def update() -> list[RunRecord]:
            with self._database.transaction() as db:
                rows = db.execute(_RUN_COLUMNS + " WHERE status = 'running'").fetchall()
                runs = [run_from_row(row) for row in rows if row[0] not in kept]
                db.executemany(
                    "UPDATE runs SET status = 'interrupted', ended_at = ? WHERE run_id = ?",
                    [(time.time(), run.run_id) for run in runs],
                )
            return runs

        return await self._database.call(update)

    async def ending_stored(self, run_id: str) -> bool:
        def select() -> bool:
            return self._database.connection.execute(_ENDING, (run_id,)).fetchone() is not None

        return await self._database.read(select)

    async def runs_without_ending(self, *, started_after: float = 0.0) -> list[RunRecord]:
        def select() -> list[RunRecord]:
            rows = self._database.connection.execute(_WITHOUT_ENDING, (started_after,))
            return [run_from_row(row) for row in rows]

        return await self._database.read(select)
