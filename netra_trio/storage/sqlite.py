"""SQLite storage: one file, WAL mode, every call off the Trio thread.

One connection serves the whole process, used only by the storage's own
worker thread (``worker_thread.SerialWorker``), which runs the calls one after
another in the order they were made: the event loop never blocks on disk and
the connection is never used by two threads at once. Each write is whole or
not at all: one transaction, or, when calls were queued back to back and the
worker runs them together, one savepoint inside their shared transaction (one
commit for the group; no caller hears of its write before that commit). SQLite
errors become :class:`StorageError` with the cause attached.

Events are numbered on the event loop from each user's last seq, kept in memory
with the user's integer key (``uid``, assigned on the user's first event: the
per-user index holds it instead of the user id's text) (bounded; reloaded after
a failed append, since another process writing the same file is caught by the
unique (uid, seq) index), and a whole batch is
stored by one multi-row INSERT with its rows bound as parameters: the worker
thread takes the GIL back once per batch, not once per row. Retention by count
rides on that statement too: a trigger of this connection's own (a TEMP one,
made at open from the configured count) drops the event that each insert pushes
out of its user's window, so a user past the limit costs no extra statements.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
import trio

from netra_trio.storage.base import (
    MessageRecord,
    NewEvent,
    ReplayWindow,
    Retention,
    RunRecord,
    SessionRecord,
    StorageError,
    StoredEvent,
    ThreadRecord,
)
from netra_trio.storage.migrations import migrate
from netra_trio.storage.worker_thread import SerialWorker, WorkerStopped

T = TypeVar("T")

# Users whose last seq is kept in memory; past this the cache starts over.
SEQ_CACHE_MAX = 65_536


class SqliteStorage:
    def __init__(
        self,
        db: sqlite3.Connection,
        retention: Retention,
        worker: SerialWorker,
        *,
        seq_cache_max: int = SEQ_CACHE_MAX,
    ) -> None:
        self._db = db
        self._retention = retention
        self._worker = worker
        self._in_group = False  # set on the worker thread while it runs a group
        self._closed = False
        self._next_age_prune = 0.0
        self._last_seqs: dict[str, int] = {}
        self._uids: dict[str, int] = {}  # never changes once assigned
        self._seq_cache_max = seq_cache_max
        self._append_lock = trio.Lock()

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        busy_timeout_s: float = 5.0,
        retention: Retention | None = None,
        seq_cache_max: int = SEQ_CACHE_MAX,
    ) -> SqliteStorage:
        retention = retention or Retention()

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
                db.execute(_keep_count_trigger(retention.max_events))
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
        storage = cls(db, retention, worker, seq_cache_max=seq_cache_max)
        worker.group = storage._group
        return storage

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                await self._call(self._db.close, grouped=False)
            finally:
                self._worker.stop()

    # -- plumbing -----------------------------------------------------------------

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """A read: it runs alone, outside any group's write transaction (in WAL
        mode a read takes no lock that a writer in another process holds)."""
        return await self._call(fn, *args, grouped=False)

    async def _call(
        self,
        fn: Callable[..., T],
        *args: Any,
        queued: Callable[[], object] | None = None,
        grouped: bool = True,
        direct: bool = False,
    ) -> T:
        try:
            return await self._worker.run(
                functools.partial(fn, *args), queued=queued, grouped=grouped, direct=direct
            )
        except sqlite3.Error as exc:
            raise StorageError(f"database error: {exc}") from exc
        except WorkerStopped:
            raise StorageError("storage is closed") from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
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

    # -- threads and messages ------------------------------------------------------

    async def create_thread(
        self, user_id: str, title: str, *, thread_id: str | None = None
    ) -> ThreadRecord:
        record = ThreadRecord(
            thread_id or f"t-{uuid.uuid4().hex[:16]}", user_id, title, time.time(), time.time()
        )

        def insert() -> None:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO threads VALUES (?, ?, ?, ?, ?)",
                    (
                        record.thread_id,
                        record.user_id,
                        record.title,
                        record.created_at,
                        record.updated_at,
                    ),
                )

        await self._call(insert)
        return record

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        def select() -> ThreadRecord | None:
            row = self._db.execute(
                "SELECT thread_id, user_id, title, created_at, updated_at FROM threads"
                " WHERE thread_id = ?",
                (thread_id,),
            ).fetchone()
            return ThreadRecord(*row) if row else None

        return await self._read(select)

    async def list_threads(self, user_id: str, *, limit: int = 100) -> list[ThreadRecord]:
        def select() -> list[ThreadRecord]:
            rows = self._db.execute(
                "SELECT thread_id, user_id, title, created_at, updated_at FROM threads"
                " WHERE user_id = ? ORDER BY updated_at DESC, thread_id LIMIT ?",
                (user_id, limit),
            ).fetchall()
            return [ThreadRecord(*row) for row in rows]

        return await self._read(select)

    async def append_message(
        self,
        thread_id: str,
        role: str,
        content: str,
        *,
        message_id: str | None = None,
        run_id: str | None = None,
    ) -> MessageRecord:
        record = MessageRecord(
            message_id or f"m-{uuid.uuid4().hex[:16]}",
            thread_id,
            role,
            content,
            time.time(),
            run_id,
        )

        def insert() -> None:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO messages"
                    " (message_id, thread_id, role, content, run_id, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (record.message_id, thread_id, role, content, run_id, record.timestamp),
                )
                db.execute(
                    "UPDATE threads SET updated_at = ? WHERE thread_id = ?",
                    (record.timestamp, thread_id),
                )

        await self._call(insert)
        return record

    async def thread_messages(
        self, thread_id: str, *, limit: int | None = None
    ) -> list[MessageRecord]:
        def select() -> list[MessageRecord]:
            rows = self._db.execute(
                "SELECT message_id, thread_id, role, content, created_at, run_id FROM ("
                "  SELECT * FROM messages WHERE thread_id = ? ORDER BY id DESC LIMIT ?"
                ") ORDER BY id",
                (thread_id, -1 if limit is None else limit),
            ).fetchall()
            return [MessageRecord(*row) for row in rows]

        return await self._read(select)

    # -- runs ------------------------------------------------------------------------

    async def start_run(self, run: RunRecord) -> None:
        def insert() -> None:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO runs"
                    " (run_id, user_id, thread_id, agent, status, agents, started_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        run.run_id,
                        run.user_id,
                        run.thread_id,
                        run.agent,
                        run.status,
                        json.dumps(list(run.agents)),
                        run.started_at,
                    ),
                )

        await self._call(insert)

    async def finish_run(
        self, run_id: str, status: str, *, agents: Sequence[str] = (), error_code: str | None = None
    ) -> None:
        def update() -> None:
            with self._transaction() as db:
                db.execute(
                    "UPDATE runs SET status = ?, agents = ?, error_code = ?, ended_at = ?"
                    " WHERE run_id = ?",
                    (status, json.dumps(list(agents)), error_code, time.time(), run_id),
                )

        await self._call(update)

    async def get_run(self, run_id: str) -> RunRecord | None:
        def select() -> RunRecord | None:
            row = self._db.execute(_RUN_COLUMNS + " WHERE run_id = ?", (run_id,)).fetchone()
            return _run(row) if row else None

        return await self._read(select)

    async def interrupt_running_runs(self) -> list[RunRecord]:
        def update() -> list[RunRecord]:
            with self._transaction() as db:
                rows = db.execute(_RUN_COLUMNS + " WHERE status = 'running'").fetchall()
                db.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = ? WHERE status = 'running'",
                    (time.time(),),
                )
            return [_run(row) for row in rows]

        return await self._call(update)

    # -- the event log ---------------------------------------------------------------

    async def append_events(
        self, events: Sequence[NewEvent], *, while_writing: Callable[[], object] | None = None
    ) -> list[StoredEvent]:
        # Appends run one at a time. The common, uncontended case does not yield
        # here, so the batch reaches the worker thread before anything else runs
        # on the event loop (which then works while the thread writes).
        try:
            self._append_lock.acquire_nowait()
        except trio.WouldBlock:
            await self._append_lock.acquire()
        try:
            return await self._append(events, while_writing)
        finally:
            self._append_lock.release()

    async def _append(
        self, events: Sequence[NewEvent], while_writing: Callable[[], object] | None
    ) -> list[StoredEvent]:
        # Seqs are numbered and frames rendered here, on the event loop, from the
        # last seq of each user kept in memory; the worker thread then runs one
        # statement that takes the whole batch as its parameters. Row by row
        # (executemany), the thread would take the GIL back once per row and
        # contend with the loop for it on every one.
        seqs = self._last_seqs
        uids = self._uids
        missing = list({e.user_id for e in events if e.user_id not in seqs})
        if missing:
            if len(seqs) + len(missing) > self._seq_cache_max:
                seqs.clear()
                uids.clear()
                missing = list({e.user_id for e in events})
            found = await self._call(self._user_keys, orjson.dumps(missing), grouped=False)
            for user_id, uid, last_seq in found:
                uids[user_id] = uid
                seqs[user_id] = last_seq
        now = time.time()
        last: dict[str, int] = {}
        stored: list[StoredEvent] = []
        rows: list[object] = []  # the batch's columns, row after row, bound as parameters
        for event in events:
            user_id = event.user_id
            seq = last[user_id] = last.get(user_id, seqs[user_id]) + 1
            frame = event.make_frame(seq)
            stored.append(
                StoredEvent(user_id, seq, event.type, event.run_id, event.thread_id, frame, now)
            )
            rows += (uids[user_id], seq, event.type, event.run_id, event.thread_id, frame)
        age_cutoff = None
        if now >= self._next_age_prune:
            self._next_age_prune = now + _AGE_PRUNE_INTERVAL_S
            age_cutoff = now - self._retention.max_age_s
        try:
            more_expired = await self._call(
                self._insert_events,
                rows,
                now,
                age_cutoff,
                queued=while_writing,
                direct=True,  # the log's writer: woken a loop round sooner
            )
        except StorageError:
            for user_id in last:  # another writer may have moved on: reload next time
                seqs.pop(user_id, None)
            raise
        seqs.update(last)
        if more_expired:  # the next batch goes on with the rest
            self._next_age_prune = now
        return stored

    def _user_keys(self, users: bytes) -> list[tuple[str, int, int]]:
        """``(user_id, uid, last_seq)`` of each of ``users`` (a JSON list); a
        user seen for the first time gets its key here (a statement of its own,
        committed at once: a key is never taken back)."""
        db = self._db
        db.execute(
            "INSERT INTO user_seq (user_id, last_seq) SELECT value, 0 FROM json_each(?)"
            " WHERE true ON CONFLICT (user_id) DO NOTHING",
            (users,),
        )
        return db.execute(
            "SELECT user_id, uid, last_seq FROM user_seq"
            " WHERE user_id IN (SELECT value FROM json_each(?))",
            (users,),
        ).fetchall()

    def _insert_events(self, rows: list[object], now: float, age_cutoff: float | None) -> bool:
        """Insert the rows; with ``age_cutoff``, also drop up to
        ``_AGE_PRUNE_ROWS`` events older than it. True when more are left."""
        count = len(rows) // _EVENT_COLUMNS
        if count <= _MAX_INSERT_ROWS and age_cutoff is None:
            # One statement, atomic by itself: the worker thread takes the GIL back
            # once for the whole batch (triggers move user_seq and apply retention
            # by count: migration 4's and ``_keep_count_trigger``).
            if count:
                self._db.execute(*_insert_statement(rows, 0, count, now))
            return False
        with self._transaction() as db:  # retention is applied with the batch or not at all
            for start in range(0, count, _MAX_INSERT_ROWS):
                db.execute(
                    *_insert_statement(rows, start, min(count - start, _MAX_INSERT_ROWS), now)
                )
            return age_cutoff is not None and self._prune_by_age(db, age_cutoff)

    async def events_after(self, user_id: str, seq: int, *, limit: int = 1000) -> list[StoredEvent]:
        def select() -> list[StoredEvent]:
            rows = self._db.execute(_EVENTS_AFTER, (user_id, seq, limit)).fetchall()
            return [StoredEvent(*row) for row in rows]

        return await self._read(select)

    @staticmethod
    def _prune_by_age(db: sqlite3.Connection, cutoff: float) -> bool:
        """Retention by age, for everyone: the oldest events created before
        ``cutoff``, at most ``_AGE_PRUNE_ROWS`` of them, found through the age
        index (the work is in proportion to what is dropped, not to what is
        kept); each user's ``pruned_through`` follows. True when more are left."""
        oldest = (
            "SELECT uid, seq FROM events INDEXED BY events_by_age"
            " WHERE created_at < ?1 ORDER BY created_at LIMIT ?2"
        )
        db.execute(
            "UPDATE user_seq SET pruned_through = max(pruned_through, dropped.last)"
            f" FROM (SELECT uid, max(seq) AS last FROM ({oldest}) GROUP BY uid)"
            " AS dropped WHERE user_seq.uid = dropped.uid",
            (cutoff, _AGE_PRUNE_ROWS),
        )
        deleted = db.execute(
            "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events INDEXED BY"
            " events_by_age WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
            (cutoff, _AGE_PRUNE_ROWS),
        ).rowcount
        return deleted >= _AGE_PRUNE_ROWS

    async def replay_window(self, user_id: str) -> ReplayWindow:
        def select() -> ReplayWindow:
            row = self._db.execute(
                "SELECT pruned_through, last_seq FROM user_seq WHERE user_id = ?", (user_id,)
            ).fetchone()
            return ReplayWindow(int(row[0]), int(row[1])) if row else ReplayWindow(0, 0)

        return await self._read(select)

    # -- sessions ------------------------------------------------------------------------

    async def put_session(self, session: SessionRecord) -> None:
        def upsert() -> None:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (session_id) DO UPDATE SET"
                    " last_active = excluded.last_active, nonce = excluded.nonce,"
                    " data = excluded.data",
                    (
                        session.session_id,
                        session.user_id,
                        session.created_at,
                        session.last_active,
                        session.nonce,
                        session.data,
                    ),
                )

        await self._call(upsert)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        def select() -> SessionRecord | None:
            row = self._db.execute(
                _SESSION_COLUMNS + " WHERE session_id = ?", (session_id,)
            ).fetchone()
            return SessionRecord(*row) if row else None

        return await self._read(select)

    async def user_sessions(self, user_id: str) -> list[SessionRecord]:
        def select() -> list[SessionRecord]:
            rows = self._db.execute(
                _SESSION_COLUMNS + " WHERE user_id = ? ORDER BY last_active, session_id", (user_id,)
            ).fetchall()
            return [SessionRecord(*row) for row in rows]

        return await self._read(select)

    async def touch_session(self, session_id: str, last_active: float) -> None:
        def update() -> None:
            with self._transaction() as db:
                db.execute(
                    "UPDATE sessions SET last_active = ? WHERE session_id = ?",
                    (last_active, session_id),
                )

        await self._call(update)

    async def delete_sessions(self, session_ids: Sequence[str]) -> None:
        def delete() -> None:
            with self._transaction() as db:
                db.executemany(
                    "DELETE FROM sessions WHERE session_id = ?", [(sid,) for sid in session_ids]
                )

        await self._call(delete)

    async def sessions_idle_since(self, cutoff: float) -> list[SessionRecord]:
        def select() -> list[SessionRecord]:
            rows = self._db.execute(
                _SESSION_COLUMNS + " WHERE last_active <= ? ORDER BY last_active", (cutoff,)
            ).fetchall()
            return [SessionRecord(*row) for row in rows]

        return await self._read(select)

    async def oldest_session_activity(self, exclude: Sequence[str] = ()) -> float | None:
        def select() -> float | None:
            marks = ",".join("?" * len(exclude))
            where = f" WHERE session_id NOT IN ({marks})" if exclude else ""
            row = self._db.execute(
                f"SELECT min(last_active) FROM sessions{where}", tuple(exclude)
            ).fetchone()
            return float(row[0]) if row and row[0] is not None else None

        return await self._read(select)

    async def last_seq(self, user_id: str) -> int:
        def select() -> int:
            row = self._db.execute(
                "SELECT last_seq FROM user_seq WHERE user_id = ?", (user_id,)
            ).fetchone()
            return int(row[0]) if row else 0

        return await self._read(select)


# Events are inserted by one multi-row VALUES statement per batch, its rows bound
# as parameters: SQLite reads bound values as they are, where a batch passed as
# one JSON text (json_each) was parsed again for every column of every row
# (~6 us of the storage thread per event instead of ~4). Statements are made for
# row counts that are powers of two, so that few distinct ones are prepared
# (preparing one of 1024 rows takes ~50 ms, once); the unused rows of a
# statement are bound as NULL and skipped.
_EVENT_COLUMNS = 6  # uid, seq, type, run_id, thread_id, frame; created_at is shared
_MAX_INSERT_ROWS = 1024  # 6145 parameters: below SQLite's 32766 since 3.32


# A user's events after a seq, in order (replay): read through the per-user index.
_EVENTS_AFTER = (
    "SELECT ?1, seq, type, run_id, thread_id, frame, created_at FROM events"
    " WHERE uid = (SELECT uid FROM user_seq WHERE user_id = ?1) AND seq > ?2"
    " ORDER BY seq LIMIT ?3"
)

# Retention by age runs with a batch at most this often, and drops at most this
# many events at a time (the next batch goes on when more are left): a pass
# costs milliseconds, not a stall of every user's events.
_AGE_PRUNE_INTERVAL_S = 1.0
_AGE_PRUNE_ROWS = 2_000


def _keep_count_trigger(max_events: int) -> str:
    """Retention by count, applied by each insert: the events of its user that
    the new one pushes out of the last ``max_events`` are deleted and the
    user's ``pruned_through`` follows. TEMP: it belongs to this connection,
    so it follows this process's configuration."""
    keep = int(max_events)
    if keep < 1:
        raise ValueError(f"max_events must be at least 1, not {max_events!r}")
    return (
        f"CREATE TEMP TRIGGER events_keep_count AFTER INSERT ON main.events"
        f" WHEN NEW.seq > {keep} BEGIN"
        f" DELETE FROM events WHERE uid = NEW.uid AND seq <= NEW.seq - {keep};"
        f" UPDATE user_seq SET pruned_through = NEW.seq - {keep}"
        f" WHERE uid = NEW.uid AND pruned_through < NEW.seq - {keep};"
        " END"
    )


@functools.lru_cache(maxsize=16)
def _insert_sql(rows: int) -> str:
    values = ",".join(
        "("
        + ",".join(f"?{2 + row * _EVENT_COLUMNS + column}" for column in range(_EVENT_COLUMNS))
        + ")"
        for row in range(rows)
    )
    return (
        "INSERT INTO events (uid, seq, type, run_id, thread_id, frame, created_at)"
        " SELECT column1, column2, column3, column4, column5, column6, ?1"
        f" FROM (VALUES {values}) WHERE column1 IS NOT NULL"
    )


def _insert_statement(
    rows: list[object], start: int, count: int, now: float
) -> tuple[str, list[object]]:
    """The statement and parameters that insert ``count`` rows from ``start``."""
    size = 1 << (count - 1).bit_length()  # the next power of two
    params: list[object] = [now]
    params += rows[start * _EVENT_COLUMNS : (start + count) * _EVENT_COLUMNS]
    params += [None] * ((size - count) * _EVENT_COLUMNS)
    return _insert_sql(size), params


_SESSION_COLUMNS = "SELECT session_id, user_id, created_at, last_active, nonce, data FROM sessions"
_RUN_COLUMNS = (
    "SELECT run_id, user_id, thread_id, agent, status, started_at, ended_at, agents, error_code"
    " FROM runs"
)


def _run(row: tuple[Any, ...]) -> RunRecord:
    run_id, user_id, thread_id, agent, status, started_at, ended_at, agents, error_code = row
    return RunRecord(
        run_id,
        user_id,
        thread_id,
        agent,
        status,
        started_at,
        ended_at,
        tuple(json.loads(agents)),
        error_code,
    )
