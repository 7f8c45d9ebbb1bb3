"""Looking at a test's PostgreSQL database directly (with SQL of its own,
not through the storage), as another process would."""

from __future__ import annotations

import time
from typing import Any, LiteralString

import psycopg
import trio
from psycopg import conninfo

from tests.postgres_server import SUPERUSER

PASSWORD = "s3cret-Pa55word"


def with_password(url: str) -> str:
    """``url`` with a password (the test cluster trusts every connection, so
    any password is accepted): messages must never show it."""
    assert f"://{SUPERUSER}@" in url
    return url.replace(f"://{SUPERUSER}@", f"://{SUPERUSER}:{PASSWORD}@", 1)


def rows(url: str, query: LiteralString, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def execute(url: str, query: LiteralString, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query, params)


def sessions_waiting_on_a_lock(url: str, *, table: str | None = None) -> int:
    """Other sessions of ``url``'s database that wait for a lock (on ``table``)."""
    database = conninfo.conninfo_to_dict(url)["dbname"]
    found = rows(
        url,
        "SELECT count(DISTINCT a.pid) FROM pg_stat_activity AS a JOIN pg_locks AS l USING (pid)"
        " WHERE a.datname = %s AND a.pid <> pg_backend_pid() AND NOT l.granted"
        " AND (%s::text IS NULL OR l.relation = to_regclass(%s))",
        (database, table, table),
    )
    return int(found[0][0])


async def wait_for_sessions_waiting_on_a_lock(
    url: str, count: int, *, table: str | None = None, timeout_s: float = 10
) -> None:
    deadline = time.monotonic() + timeout_s
    while sessions_waiting_on_a_lock(url, table=table) < count:
        assert time.monotonic() < deadline, f"fewer than {count} sessions wait on a lock"
        await trio.sleep(0.005)


async def wait_for_no_other_sessions(url: str, *, timeout_s: float = 10) -> None:
    """Until nothing but this look is connected to ``url``'s database (a
    session ends a moment after its client closed it)."""
    deadline = time.monotonic() + timeout_s
    database = conninfo.conninfo_to_dict(url)["dbname"]
    query: LiteralString = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    )
    while (left := rows(url, query, (database,))[0][0]) > 0:
        assert time.monotonic() < deadline, f"{left} sessions are still connected"
        await trio.sleep(0.01)
