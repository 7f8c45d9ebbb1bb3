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
:class:`StorageError` with the cause attached (marked ``reading`` for a read).

At open, the file's pages are checked (``PRAGMA quick_check``): a damaged file
stops the server at start with what is wrong, not at the first query that
meets the damage. The file's identity (device and inode) is kept, so that
:meth:`Database.check_file` can tell that the path no longer names the file
this connection writes (deleted or replaced while the server runs). With
``exclusive``, the process holds the file's lock (``file_lock.py``) from
before it opens the file until it closes it.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from netra_trio.logs import log_event
from netra_trio.storage.base import StorageError
from netra_trio.storage.sqlite.file_lock import DatabaseLock
from netra_trio.storage.sqlite.migrations import migrate
from netra_trio.storage.worker_thread import SerialWorker, WorkerStopped

T = TypeVar("T")


_Identity = tuple[int, int]  # st_dev, st_ino


class Database:
    def __init__(
        self,
        db: sqlite3.Connection,
        worker: SerialWorker,
        file: _OpenFile | None = None,
    ) -> None:
        self._db = db
        self._worker = worker
        self._file = file  # None in memory
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
        exclusive: bool = False,
    ) -> Database:
        """Open (checking, creating, migrating) the file; ``setup`` runs on the
        new connection, on the worker thread, after the migrations.
        ``exclusive``: hold the file's lock meanwhile (StorageError when
        another process holds it)."""
        in_memory = str(path) == ":memory:"

        def connect() -> tuple[sqlite3.Connection, _OpenFile | None]:
            lock = None
            if not in_memory:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                lock = DatabaseLock.acquire(Path(path)) if exclusive else None
            try:
                db = sqlite3.connect(
                    str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout_s
                )
            except BaseException:
                if lock is not None:
                    lock.release()
                raise
            try:
                if not in_memory:
                    _check_integrity(db, path)
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
                db.execute("PRAGMA foreign_keys = ON")
                migrate(db)
                if setup is not None:
                    setup(db)
                file = None if in_memory else _OpenFile(Path(path), _identity(Path(path)), lock)
            except BaseException:
                db.close()
                if lock is not None:
                    lock.release()
                raise
            return db, file

        worker = SerialWorker("netra-trio storage")
        try:
            db, file = await worker.run(connect, grouped=False)
        except BaseException as exc:
            worker.stop()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"cannot open database {path}: {exc}") from exc
            raise
        return cls(db, worker, file)

    def check_file(self) -> None:
        """StorageError when the path no longer names the file this connection
        uses (deleted, or another file put in its place): what it writes
        would be lost at the next start. On the worker thread."""
        file = self._file
        if file is None:
            return
        try:
            now: _Identity | None = _identity(file.path)
        except FileNotFoundError:
            now = None
        except OSError as exc:
            raise StorageError(
                f"cannot look at the database file {file.path}: {exc.strerror}", reading=True
            ) from None
        if now == file.identity:
            file.lost_logged = False
            return
        problem = "was deleted" if now is None else "was replaced by another file"
        if not file.lost_logged:
            file.lost_logged = True
            log_event("database_file_lost", logging.ERROR, path=str(file.path), problem=problem)
        raise StorageError(
            f"the database file {file.path} {problem} while the server ran", reading=True
        )

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
                if self._file is not None and self._file.lock is not None:
                    self._file.lock.release()  # (once the connection is closed)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """A read: it runs alone, outside any group's write transaction (in WAL
        mode a read takes no lock that a writer in another process holds).
        Its failure is a StorageError marked ``reading``."""
        try:
            return await self.call(fn, *args, grouped=False)
        except StorageError as exc:
            exc.reading = True
            raise

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


class _OpenFile:
    """The file a connection opened: its path, identity and lock."""

    def __init__(self, path: Path, identity: _Identity, lock: DatabaseLock | None) -> None:
        self.path = path
        self.identity = identity
        self.lock = lock
        self.lost_logged = False


def _identity(path: Path) -> _Identity:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def _check_integrity(db: sqlite3.Connection, path: str | Path) -> None:
    """StorageError, in one line, when ``PRAGMA quick_check`` finds damage."""
    try:
        problems = [str(row[0]) for row in db.execute("PRAGMA quick_check(20)").fetchall()]
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_CORRUPT:  # (its extended codes too)
            raise  # (not a database, locked...: not a finding about its pages)
        problems = [str(exc)]  # damage bad enough to stop the check itself
    if problems == ["ok"]:
        return
    first = " ".join(problems[0].split())
    more = f", and {len(problems) - 1} more" if len(problems) > 1 else ""
    raise StorageError(
        f"the database {path} is damaged (PRAGMA quick_check: {first}{more}):"
        " restore it from a backup, or move it away to start with an empty database"
    )
