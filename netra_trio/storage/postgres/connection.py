"""One PostgreSQL connection and the worker thread that alone uses it.

psycopg's asynchronous API runs on asyncio only, so the connection is used the
way the SQLite backend uses its file: from the storage's own worker thread
(``storage/worker_thread.py``), which runs calls one after another; the event
loop never waits on the network. A write is whole or not at all: each store
wraps its statements in ``conn.transaction()``, which is a transaction of its
own, or, when the worker runs calls queued back to back as one group, a
savepoint inside the group's transaction (one commit for the group); a write
of one statement goes through :func:`execute_write`, which needs no
transaction of its own (one round trip instead of three).

When the connection is lost, the call that found out fails and the next one
connects again; while the server cannot be reached, attempts are spaced out
(0.1 s doubling to 5 s) and calls in between fail at once. A call that lost a
deadlock or a serialization conflict (another machine's writer) was rolled
back whole and is made again. Every failure reaches the caller as a
:class:`StorageError` that names the server, never its password (nor does
the one for a URL that cannot be read, which libpq's message repeats).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, LiteralString, TypeVar

import psycopg
import psycopg.errors
from psycopg import conninfo
from psycopg.pq import TransactionStatus

from netra_trio.storage.base import DatabaseUnavailable, StorageError
from netra_trio.storage.worker_thread import SerialWorker, WorkerStopped

T = TypeVar("T")

CONNECT_TIMEOUT_S = 5  # libpq's connect_timeout: whole seconds
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0
# Calls rolled back by a conflict with a writer elsewhere are made again, up to:
CONFLICT_ATTEMPTS = 4
_CONFLICTS = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
# Keepalives and a bound on unacknowledged writes: a server that vanished from
# the network is noticed in seconds, not after the kernel's default of minutes.
_LIVENESS = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,
}


# ``:password@`` in a URL that a message repeats.
_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@\s]*@")


def _conninfo(url: str) -> str:
    """The connection string for ``url``, with the settings above; a
    :class:`StorageError` when the URL cannot be read."""
    try:
        return conninfo.make_conninfo(url, connect_timeout=CONNECT_TIMEOUT_S, **_LIVENESS)
    except psycopg.ProgrammingError as exc:
        problem = _PASSWORD.sub(r"\1:***@", str(exc).strip())
    # raised here, not in the except clause: psycopg's error, which holds the
    # password, is not its context either
    raise StorageError(f"the PostgreSQL URL cannot be read: {problem}")


def describe(url: str) -> str:
    """``host:port/database`` of a PostgreSQL URL: what messages name."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "PostgreSQL (unreadable URL)"
    host = parts.get("host") or "localhost"
    return f"PostgreSQL at {host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


def execute_write(
    conn: psycopg.Connection[Any], query: LiteralString, params: Sequence[Any]
) -> int:
    """One statement, whole or not at all, in the fewest round trips: alone it
    is a transaction by itself (the connection is in autocommit); inside the
    worker's group, a savepoint keeps its failure from ending the group.
    Returns how many rows it changed."""
    if conn.info.transaction_status == TransactionStatus.IDLE:
        return conn.execute(query, params).rowcount
    with conn.transaction():
        return conn.execute(query, params).rowcount


class PgConnection:
    """``grouped``: calls queued back to back may share one transaction."""

    def __init__(self, url: str, name: str, *, grouped: bool = True) -> None:
        self._conninfo = _conninfo(url)
        self.where = describe(url)
        self._conn: psycopg.Connection[Any] | None = None
        self._worker = SerialWorker(name, group=self._group if grouped else None)
        self._retry_at = 0.0
        self._retry_delay = RETRY_FIRST_S
        self._closed = False

    async def open(self) -> None:
        """Connect now: a server that cannot be reached fails here."""
        await self.call(lambda conn: None, grouped=False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def disconnect() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        try:
            await self._worker.run(disconnect, grouped=False)
        finally:
            self._worker.stop()

    async def call(
        self,
        fn: Callable[[psycopg.Connection[Any]], T],
        *,
        grouped: bool = True,
        direct: bool = False,
    ) -> T:
        """Run ``fn(connection)`` on the worker thread (see ``SerialWorker.run``
        for ``grouped`` and ``direct``)."""
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return await self._worker.run(
                    lambda: fn(self._connection()), grouped=grouped, direct=direct
                )
            except _CONFLICTS as exc:
                if attempt == CONFLICT_ATTEMPTS:
                    raise StorageError(f"{self.where}: {exc}") from exc
            except StorageError:
                raise
            except psycopg.OperationalError as exc:
                raise DatabaseUnavailable(f"{self.where} is unavailable: {exc}") from exc
            except psycopg.Error as exc:
                raise StorageError(f"{self.where}: {exc}") from exc
            except WorkerStopped:
                raise StorageError("storage is closed") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def read(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """A read, on its own (not in a group's transaction); its failure is a
        StorageError marked ``reading``."""
        try:
            return await self.call(fn, grouped=False)
        except StorageError as exc:
            exc.reading = True
            raise

    def _connection(self) -> psycopg.Connection[Any]:
        """The connection, made again when it was lost (on the worker thread)."""
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            conn.close()
            self._conn = None
        now = time.monotonic()
        if now < self._retry_at:
            raise DatabaseUnavailable(
                f"{self.where} is unavailable (next attempt in {self._retry_at - now:.1f} s)"
            )
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error:
            self._retry_at = now + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)
            raise
        self._retry_delay = RETRY_FIRST_S
        self._conn = conn
        return conn

    @contextmanager
    def _group(self) -> Iterator[Callable[[], bool]]:
        """The worker's group of calls: one transaction, one commit. Yields
        whether it is still intact (a call whose error escaped its savepoint,
        or a lost connection, ends it)."""
        conn = self._connection()

        def intact() -> bool:
            return conn.info.transaction_status == TransactionStatus.INTRANS

        with conn.transaction():
            yield intact
            if not intact():  # COMMIT would roll back what the calls were told is done
                raise psycopg.OperationalError("the group's transaction was ended by an error")
