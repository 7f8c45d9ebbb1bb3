"""SQLite storage: the embedded default, one file in WAL mode.

:meth:`SqliteStorage.open` opens (creating and migrating) the file and gives
the four stores, which share one connection and its worker thread
(``database.py``).
"""

from __future__ import annotations

from pathlib import Path

from netra_trio.storage.records import Retention
from netra_trio.storage.sqlite.database import Database
from netra_trio.storage.sqlite.events import SqliteEventStore
from netra_trio.storage.sqlite.runs import SqliteRunStore
from netra_trio.storage.sqlite.sessions import SqliteSessionStore
from netra_trio.storage.sqlite.threads import SqliteThreadStore


class SqliteStorage:
    def __init__(self, database: Database, retention: Retention) -> None:
        self.database = database
        self.threads = SqliteThreadStore(database)
        self.runs = SqliteRunStore(database)
        self.events = SqliteEventStore(database, retention)
        self.sessions = SqliteSessionStore(database)

    @classmethod
    async def open(
        cls, path: str | Path, *, busy_timeout_s: float = 5.0, retention: Retention | None = None
    ) -> SqliteStorage:
        retention = retention or Retention()
        database = await Database.open(
            path, busy_timeout_s=busy_timeout_s, setup=SqliteEventStore.setup(retention)
        )
        return cls(database, retention)

    async def ping(self) -> None:
        def select_one() -> None:
            self.database.connection.execute("SELECT 1").fetchone()

        await self.database.read(select_one)

    async def close(self) -> None:
        await self.database.close()
