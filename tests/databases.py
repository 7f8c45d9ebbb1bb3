"""The databases a test gives to servers: a SQLite file or a PostgreSQL
database, each read back as another process would.

Tests that should hold on both take the ``database`` fixture (``conftest.py``),
which runs them once per backend.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import psycopg
import trio


@attrs.frozen
class ServerDatabase:
    """``value``: what ``--database`` takes; ``workdir``: where the test's
    servers run and log."""

    kind: str  # "sqlite" | "postgresql"
    value: str
    workdir: Path

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (placeholders written ``?``). SQLite is read
        read-only, so that nothing (not even a checkpoint) is written."""
        if self.kind == "sqlite":

            def run() -> list[tuple[Any, ...]]:
                uri = f"file:{self.value}?mode=ro"
                with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
                    return list(conn.execute(sql, tuple(params)).fetchall())

        else:

            def run() -> list[tuple[Any, ...]]:
                with psycopg.connect(self.value) as conn:
                    statement = sql.replace("?", "%s")
                    return list(conn.execute(statement, tuple(params)).fetchall())

        return await trio.to_thread.run_sync(run)
