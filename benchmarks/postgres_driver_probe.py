"""How a Trio server should reach PostgreSQL: ``python -m benchmarks.postgres_driver_probe``.

No well-kept PostgreSQL driver runs on Trio: psycopg's asynchronous API and
asyncpg are asyncio-only (psycopg/psycopg#29 and MagicStack/asyncpg#1119 are
open). So the choice is how to call psycopg's blocking API off the Trio thread.
This probe times, on a throwaway PostgreSQL cluster of its own (fsync on), the
same two calls made one after another from one task, every way:

- ``worker``: the storage's own worker thread (``PgConnection``, what the
  server uses), calls made from a Trio task;
- ``to_thread``: a blocking psycopg connection through ``trio.to_thread.run_sync``;
- ``asyncio``: psycopg's ``AsyncConnection`` on asyncio (what an asyncio
  server would get; not usable on Trio, shown as the reference);
- ``bare``: the blocking connection in a plain loop, no event loop at all
  (the floor).

The calls: ``SELECT 1`` (a round trip) and an append of 32 events through
``netra_append_events`` (the event log's batch). For each: wall time and
process CPU time per call (the process's CPU: the event loop and the thread;
PostgreSQL's own work is the same for every way and is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any, LiteralString

import attrs
import psycopg
import trio
from psycopg import Connection

from netra_trio.storage.postgres.connection import PgConnection
from netra_trio.storage.postgres.migrations import migrate
from tests.postgres_server import PostgresServer

BATCH = 32
APPEND = (
    "SELECT netra_append_events(%s::text[], %s::bigint[], %s::text[],"
    " %s::text[], %s::text[], %s::text[], %s::float8[], %s)"
)


class Batches:
    """Each call's batch: 32 events of 8 users, numbered on from the last."""

    def __init__(self, prefix: str) -> None:
        self._prefix = f"{prefix}-{uuid.uuid4().hex[:8]}"  # new users every time
        self._seq = 0

    def next(self) -> tuple[Any, ...]:
        self._seq += 1
        users = [f"{self._prefix}-{i % 8}" for i in range(BATCH)]
        seqs = [(self._seq - 1) * (BATCH // 8) + i // 8 + 1 for i in range(BATCH)]
        frame = '{"type":"agent_thinking","payload":{"thought":"' + "x" * 120 + '"}}'
        return (
            users,
            seqs,
            ["agent_thinking"] * BATCH,
            ["r-1"] * BATCH,
            ["t-1"] * BATCH,
            [frame] * BATCH,
            [time.time()] * BATCH,
            10_000,
        )


@attrs.frozen
class Cell:
    """One kind of call, made ``calls`` times on the database at ``url``."""

    url: str
    kind: str  # "select" | "append"
    calls: int

    @property
    def sql(self) -> LiteralString:
        return "SELECT 1" if self.kind == "select" else APPEND

    def params(self, batches: Batches) -> tuple[Any, ...] | None:
        return None if self.kind == "select" else batches.next()


def on_worker(cell: Cell) -> None:
    async def main() -> None:
        connection = PgConnection(cell.url, "probe", grouped=False)
        batches = Batches("worker")
        await connection.open()
        for _ in range(cell.calls):
            args = cell.params(batches)
            await connection.call(partial(_execute, cell.sql, args), direct=True)
        await connection.close()

    trio.run(main)


def on_to_thread(cell: Cell) -> None:
    async def main() -> None:
        batches = Batches("thread")
        with psycopg.connect(cell.url, autocommit=True) as conn:
            for _ in range(cell.calls):
                args = cell.params(batches)
                await trio.to_thread.run_sync(partial(_execute, cell.sql, args, conn))

    trio.run(main)


def on_asyncio(cell: Cell) -> None:
    async def main() -> None:
        batches = Batches("asyncio")
        conn = await psycopg.AsyncConnection.connect(cell.url, autocommit=True)
        async with conn:
            for _ in range(cell.calls):
                await conn.execute(cell.sql, cell.params(batches))

    asyncio.run(main())


def bare(cell: Cell) -> None:
    batches = Batches("bare")
    with psycopg.connect(cell.url, autocommit=True) as conn:
        for _ in range(cell.calls):
            conn.execute(cell.sql, cell.params(batches))


def _execute(sql: LiteralString, args: tuple[Any, ...] | None, conn: Connection[Any]) -> None:
    conn.execute(sql, args)


WAYS: dict[str, Callable[[Cell], None]] = {
    "worker": on_worker,
    "to_thread": on_to_thread,
    "asyncio": on_asyncio,
    "bare": bare,
}


def probe(url: str, calls: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind in ("select", "append"):
        cell = Cell(url, kind, calls)
        for name, run in WAYS.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run(cell)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rows.append(
                {
                    "call": kind,
                    "way": name,
                    "us_per_call": wall / calls * 1e6,
                    "cpu_us_per_call": cpu / calls * 1e6,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = PostgresServer(durable=True)
    try:
        server.start()
        url = server.create_database()
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn)
        print(f"{args.calls} calls per cell, {args.rounds} rounds (each round in this order)")
        print("| round | call | way | µs per call | process CPU µs per call |")
        print("|---|---|---|---:|---:|")
        for number in range(1, args.rounds + 1):
            for row in probe(url, args.calls):
                print(
                    f"| {number} | {row['call']} | {row['way']} | {row['us_per_call']:.0f}"
                    f" | {row['cpu_us_per_call']:.0f} |"
                )
    finally:
        server.remove()


if __name__ == "__main__":
    main()
