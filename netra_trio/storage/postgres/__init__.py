"""PostgreSQL storage: the durable store of a cluster that spans machines.

:meth:`PostgresStorage.open` connects, applies the migrations and gives the
four stores. They share the main connection (its worker thread groups writes
queued back to back into one transaction), but for the event log's appends,
which have a connection of their own (``events.py``).
"""

from __future__ import annotations

from netra_trio.storage.postgres.connection import PgConnection
from netra_trio.storage.postgres.events import PgEventStore
from netra_trio.storage.postgres.migrations import migrate
from netra_trio.storage.postgres.runs import PgRunStore
from netra_trio.storage.postgres.sessions import PgSessionStore
from netra_trio.storage.postgres.threads import PgThreadStore
from netra_trio.storage.records import Retention


class PostgresStorage:
    def __init__(self, main: PgConnection, writer: PgConnection, retention: Retention) -> None:
        self._main = main
        self._writer = writer
        self.threads = PgThreadStore(main)
        self.runs = PgRunStore(main)
        self.events = PgEventStore(writer, main, retention)
        self.sessions = PgSessionStore(main)

    @classmethod
    async def open(cls, url: str, *, retention: Retention | None = None) -> PostgresStorage:
        """Connect and migrate; :class:`StorageError` (naming the server) when
        it cannot be reached."""
        main = PgConnection(url, "netra-trio storage")
        writer = PgConnection(url, "netra-trio event log", grouped=False)
        try:
            await main.open()
            await main.call(migrate, grouped=False)
            await writer.open()
            return cls(main, writer, retention or Retention())
        except BaseException:
            await writer.close()
            await main.close()
            raise

    async def ping(self) -> None:
        await self._main.call(lambda conn: conn.execute("SELECT 1").fetchone(), grouped=False)

    async def close(self) -> None:
        try:
            await self._writer.close()
        finally:
            await self._main.close()
