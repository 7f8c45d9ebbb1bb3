"""A server's claim on its SQLite file: an OS lock (``flock``) on a file
beside it, ``PATH.lock``, taken before the database is opened and held until
it is closed.

Two servers on one file that are not one cluster would each take the other's
live runs for runs a crash cut off, and number the same users' events: the
second refuses to start instead. The kernel lets go of the lock when its
process ends, however it ends (even ``kill -9``), so a lock file left behind
is never in the way; it is never deleted (deleting it would let two processes
lock two different files). The holder writes its pid into it, for the message
the next one gives. Blocking calls: run these on a worker thread.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from netra_trio.storage.base import StorageError


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class DatabaseLock:
    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, database: Path) -> DatabaseLock:
        """Take the lock of ``database``, or raise StorageError saying who has it."""
        path = lock_path(database)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot open the lock file {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StorageError(
                f"the database {database} is in use by another netra-trio server"
                f"{f' (pid {holder})' if holder else ''}: stop it first, or start every"
                " server on this file with the same --redis-url to run them as one cluster"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"cannot lock {path}: {exc.strerror}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # (the lock goes with the last descriptor of the open file)


def _holder(fd: int) -> int | None:
    """The pid the lock's holder wrote, if it did."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
