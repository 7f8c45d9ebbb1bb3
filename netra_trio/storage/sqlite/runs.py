"""The record of each agent run in SQLite."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from typing import Any

from netra_trio.storage.records import RunRecord
from netra_trio.storage.sqlite.database import Database

_RUN_COLUMNS = (
    "SELECT run_id, user_id, thread_id, agent, status, started_at, ended_at, agents, error_code"
    " FROM runs"
)


class SqliteRunStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def start_run(self, run: RunRecord) -> None:
        def insert() -> None:
            with self._database.transaction() as db:
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

        await self._database.call(insert)

    async def finish_run(
        self, run_id: str, status: str, *, agents: Sequence[str] = (), error_code: str | None = None
    ) -> None:
        def update() -> None:
            with self._database.transaction() as db:
                db.execute(
                    "UPDATE runs SET status = ?, agents = ?, error_code = ?, ended_at = ?"
                    " WHERE run_id = ?",
                    (status, json.dumps(list(agents)), error_code, time.time(), run_id),
                )

        await self._database.call(update)

    async def get_run(self, run_id: str) -> RunRecord | None:
        def select() -> RunRecord | None:
            row = self._database.connection.execute(
                _RUN_COLUMNS + " WHERE run_id = ?", (run_id,)
            ).fetchone()
            return _run(row) if row else None

        return await self._database.read(select)

    async def running_runs(self) -> list[RunRecord]:
        def select() -> list[RunRecord]:
            db = self._database.connection
            return [_run(row) for row in db.execute(_RUN_COLUMNS + " WHERE status = 'running'")]

        return await self._database.read(select)

    async def interrupt_running_runs(self, *, keep: Collection[str] = ()) -> list[RunRecord]:
        kept = set(keep)

        def update() -> list[RunRecord]:
            with self._database.transaction() as db:
                rows = db.execute(_RUN_COLUMNS + " WHERE status = 'running'").fetchall()
                runs = [_run(row) for row in rows if row[0] not in kept]
                db.executemany(
                    "UPDATE runs SET status = 'interrupted', ended_at = ? WHERE run_id = ?",
                    [(time.time(), run.run_id) for run in runs],
                )
            return runs

        return await self._database.call(update)


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
