"""SQLite storage: the embedded default, one file in WAL mode.

:meth:`SqliteStorage.open` opens (checking, creating and migrating) the file
and gives the four stores, which share one connection and its worker thread
(``database.py``). :meth:`SqliteStorage.ping` fails also when the file was
deleted or replaced under the server.
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
        cls,
        path: str | Path,
        *,
        busy_timeout_s: float = 5.0,
        retention: Retention | None = None,
        exclusive: bool = False,
    ) -> SqliteStorage:
        """``exclusive``: this process is the file's only server (no cluster):
        refuse a file another process holds, and hold it until closed."""
        retention = retention or Retention()
        database = await Database.open(
            path,
            busy_timeout_s=busy_timeout_s,
            setup=SqliteEventStore.setup(retention),
            exclusive=exclusive,
        )
        return cls(database, retention)

    async def ping(self) -> None:
        def check() -> None:
            self.database.check_file()
            self.database.connection.execute("SELECT 1").fetchone()

        await self.database.read(check)

    async def close(self) -> None:
        await self.database.close()
