"""Which backend a ``--database`` value names, and opening it.

``postgresql://...`` (or ``postgres://``) is PostgreSQL; ``sqlite:///PATH`` or
a plain path is a SQLite file (``:memory:`` a database in memory).
"""

from __future__ import annotations

from typing import Literal

from netra_trio.storage.base import Storage
from netra_trio.storage.records import Retention

_POSTGRES = ("postgresql://", "postgres://")
_SQLITE = "sqlite:///"


def database_kind(database: str) -> Literal["sqlite", "postgresql"]:
    """The backend ``database`` names; ValueError for a URL of another kind."""
    if database.startswith(_POSTGRES):
        return "postgresql"
    if database.startswith(_SQLITE) and len(database) > len(_SQLITE):
        return "sqlite"
    if "://" in database:
        raise ValueError(
            "database must be a file path, sqlite:///PATH or postgresql://USER:PASS@HOST:PORT/DB"
        )
    return "sqlite"


def sqlite_path(database: str) -> str:
    """The file a SQLite ``database`` value names."""
    return database.removeprefix(_SQLITE)


async def open_storage(
    database: str,
    *,
    busy_timeout_s: float = 5.0,
    retention: Retention | None = None,
    exclusive: bool = False,
) -> Storage:
    """Open (creating and migrating) the storage ``database`` names; a
    :class:`StorageError` that names it when it cannot. ``exclusive``: the
    process is the database's only server (no cluster); a SQLite file that
    another process holds is refused (a PostgreSQL database is not locked)."""
    if database_kind(database) == "postgresql":
        from netra_trio.storage.postgres import PostgresStorage

        return await PostgresStorage.open(database, retention=retention)
    from netra_trio.storage.sqlite import SqliteStorage

    return await SqliteStorage.open(
        sqlite_path(database),
        busy_timeout_s=busy_timeout_s,
        retention=retention,
        exclusive=exclusive,
    )
