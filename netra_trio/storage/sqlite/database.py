"""One SQLite file, one connection, one worker thread: the plumbing every
SQLite store shares.

The connection is used only by the storage's own worker thread
(``storage/worker_thread.py``), which runs the calls one after another in the
order they were made: the event loop never blocks on disk and the connection
is never used by two threads at once. Each write is whole or not at all: a
transaction of its own, or, when calls were queued back to back and the worker
runs them together, a savepoint inside their shared transaction (one commit
for the group; no caller hears of its write before that commit). Reads run
alone, outside any group's transaction. SQLite errors become
:class:`StorageError` with the cause attached.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from netra_trio.storage.base import StorageError
from netra_trio.storage.sqlite.migrations import migrate
from netra_trio.storage.worker_thread import SerialWorker, WorkerStopped

T = TypeVar("T")


class Database:
    def __init__(self, db: sqlite3.Connection, worker: SerialWorker) -> None:
        self._db = db
        self._worker = worker
        self._in_group = False  # set on the worker thread while it runs a group
        self._closed = False
        worker.group = self._group

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        busy_timeout_s: float = 5.0,
        setup: Callable[[sqlite3.Connection], object] | None = None,
    ) -> Database:
        """Open (creating, migrating) the file; ``setup`` runs on the new
        connection, on the worker thread, after the migrations."""

        def connect() -> sqlite3.Connection:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout_s
            )
            try:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
                db.execute("PRAGMA foreign_keys = ON")
                migrate(db)
                if setup is not None:
                    setup(db)
            except BaseException:
                db.close()
                raise
            return db

        worker = SerialWorker("netra-trio storage")
        try:
            db = await worker.run(connect, grouped=False)
        except BaseException as exc:
            worker.stop()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"cannot open database {path}: {exc}") from exc
            raise
        return cls(db, worker)

    @property
    def connection(self) -> sqlite3.Connection:
        """For the stores' statements, which run on the worker thread only."""
        return self._db

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                await self.call(self._db.close, grouped=False)
            finally:
                self._worker.stop()

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """A read: it runs alone, outside any group's write transaction (in WAL
        mode a read takes no lock that a writer in another process holds)."""
        return await self.call(fn, *args, grouped=False)

    async def call(
        self, fn: Callable[..., T], *args: Any, grouped: bool = True, direct: bool = False
    ) -> T:
        """Run ``fn(*args)`` on the worker thread. ``grouped``: it may share a
        transaction with the calls queued next to it (a write made with
        :meth:`transaction`); ``direct``: the thread wakes the caller itself, a
        loop round sooner (for the one task that writes the event log)."""
        try:
            return await self._worker.run(
                functools.partial(fn, *args), grouped=grouped, direct=direct
            )
        except sqlite3.Error as exc:
            raise StorageError(f"database error: {exc}") from exc
        except WorkerStopped:
            raise StorageError("storage is closed") from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write, whole or not at all: a transaction of its own, or a
        savepoint inside the worker's group transaction."""
        db = self._db
        if self._in_group:
            db.execute("SAVEPOINT call")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK TO call")
                db.execute("RELEASE call")
                raise
            db.execute("RELEASE call")
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # never left open: a later write must not land in it
                db.execute("ROLLBACK")
            raise

    @contextmanager
    def _group(self) -> Iterator[Callable[[], bool]]:
        """The worker's group of calls queued back to back: one transaction,
        one commit. Yields whether the transaction is still open (an I/O or
        disk-full error makes SQLite roll it back)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        self._in_group = True
        try:
            yield lambda: db.in_transaction
            if not db.in_transaction:
                raise sqlite3.OperationalError("the transaction was rolled back by an error")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            self._in_group = False
