"""The record of each agent run in PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from typing import Any

import psycopg

from netra_trio.storage.postgres.connection import PgConnection, execute_write
from netra_trio.storage.records import RunRecord

_COLUMNS = "run_id, user_id, thread_id, agent, status, started_at, ended_at, agents, error_code"


class PgRunStore:
    def __init__(self, connection: PgConnection) -> None:
        self._connection = connection

    async def start_run(self, run: RunRecord) -> None:
        def insert(conn: psycopg.Connection[Any]) -> None:
            execute_write(
                conn,
                "INSERT INTO runs (run_id, user_id, thread_id, agent, status, agents, started_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
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

        await self._connection.call(insert)

    async def finish_run(
        self, run_id: str, status: str, *, agents: Sequence[str] = (), error_code: str | None = None
    ) -> None:
        def update(conn: psycopg.Connection[Any]) -> None:
            execute_write(
                conn,
                "UPDATE runs SET status = %s, agents = %s, error_code = %s, ended_at = %s"
                " WHERE run_id = %s",
                (status, json.dumps(list(agents)), error_code, time.time(), run_id),
            )

        await self._connection.call(update)

    async def get_run(self, run_id: str) -> RunRecord | None:
        def select(conn: psycopg.Connection[Any]) -> RunRecord | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM runs WHERE run_id = %s", (run_id,)
            ).fetchone()
            return _run(row) if row else None

        return await self._connection.call(select, grouped=False)

    async def running_runs(self) -> list[RunRecord]:
        def select(conn: psycopg.Connection[Any]) -> list[RunRecord]:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM runs WHERE status = 'running'")
            return [_run(row) for row in rows.fetchall()]

        return await self._connection.call(select, grouped=False)

    async def interrupt_running_runs(self, *, keep: Collection[str] = ()) -> list[RunRecord]:
        def update(conn: psycopg.Connection[Any]) -> list[RunRecord]:
            with conn.transaction():
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM runs WHERE status = 'running'"
                    " AND NOT run_id = ANY(%s) ORDER BY run_id FOR UPDATE",
                    (list(keep),),
                ).fetchall()
                runs = [_run(row) for row in rows]
                conn.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = %s WHERE run_id = ANY(%s)",
                    (time.time(), [run.run_id for run in runs]),
                )
            return runs

        return await self._connection.call(update)


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
