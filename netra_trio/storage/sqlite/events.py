"""The per-user event log in SQLite: rows in, rows out.

Each user has an integer key (``uid``, assigned on the user's first
:meth:`SqliteEventStore.last_seqs`, or first append, and never changed), which
the per-user index holds instead of the user id's text; the store keeps the
keys it has seen in memory (bounded). A batch is stored by one multi-row
INSERT with its rows bound as parameters: the worker thread takes the GIL back
once per batch, not once per row. A unique index on ``(uid, seq)`` refuses an
event that another writer of the same file already stored, failing its batch.

Retention rides on the same statement: by count, a trigger of this
connection's own (TEMP, made at open from the configured count) drops the
event that each insert pushes out of its user's window; by age, at most once a
second a batch also drops up to ``PASS_ROWS`` of the oldest expired
events, found through the age index. Each user's ``pruned_through`` follows,
so that a replay can tell a gap.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence

import orjson

from netra_trio.storage.age_pruning import PASS_ROWS, AgePruning
from netra_trio.storage.base import SeqConflict, StorageError
from netra_trio.storage.records import ReplayWindow, Retention, StoredEvent
from netra_trio.storage.sqlite.database import Database

# Users whose key is kept in memory; past this the cache starts over.
UID_CACHE_MAX = 65_536

# Events are inserted by one multi-row VALUES statement per batch, its rows bound
# as parameters: SQLite reads bound values as they are, where a batch passed as
# one JSON text (json_each) was parsed again for every column of every row
# (~6 us of the storage thread per event instead of ~4). Statements are made for
# row counts that are powers of two, so that few distinct ones are prepared
# (preparing one of 1024 rows takes ~50 ms, once); the unused rows of a
# statement are bound as NULL and skipped.
_EVENT_COLUMNS = 7  # uid, seq, type, run_id, thread_id, frame, created_at
_MAX_INSERT_ROWS = 1024  # 7168 parameters: below SQLite's 32766 since 3.32

# A user's events after a seq, in order (replay): read through the per-user index.
_EVENTS_AFTER = (
    "SELECT ?1, seq, type, run_id, thread_id, frame, created_at FROM events"
    " WHERE uid = (SELECT uid FROM user_seq WHERE user_id = ?1) AND seq > ?2"
    " ORDER BY seq LIMIT ?3"
)


class SqliteEventStore:
    def __init__(
        self, database: Database, retention: Retention, *, uid_cache_max: int = UID_CACHE_MAX
    ) -> None:
        self._database = database
        self._uids: dict[str, int] = {}
        self._uid_cache_max = uid_cache_max
        self._age_pruning = AgePruning(retention.max_age_s)

    @staticmethod
    def setup(retention: Retention) -> functools.partial[None]:
        """What :meth:`Database.open` runs on a new connection for this store."""
        return functools.partial(_create_keep_count_trigger, max_events=retention.max_events)

    async def last_seqs(self, user_ids: Sequence[str]) -> dict[str, int]:
        if not user_ids:
            return {}
        found = await self._user_keys(user_ids)
        return {user_id: last_seq for user_id, _, last_seq in found}

    async def _user_keys(self, user_ids: Sequence[str]) -> list[tuple[str, int, int]]:
        """Look up (assigning when new) the keys of ``user_ids`` and remember
        them; past the cache's bound it starts over with these."""
        found = await self._database.call(
            _user_keys, self._database.connection, orjson.dumps(list(user_ids)), grouped=False
        )
        uids = self._uids
        if len(uids) + len(found) > self._uid_cache_max:
            uids.clear()
        for user_id, uid, _ in found:
            uids[user_id] = uid
        return found

    async def append(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        uids = self._uids
        missing = {e.user_id for e in events if e.user_id not in uids}
        if missing:
            users = {e.user_id for e in events}
            if len(uids) + len(missing) > self._uid_cache_max:
                missing = users  # the cache starts over: keep the batch's
            # The batch's keys are kept aside: while the look-up waits, another
            # call (last_seqs, another append) may make the cache start over.
            known = {user_id: uids[user_id] for user_id in users - missing}
            found = await self._user_keys(sorted(missing))
            known.update((user_id, uid) for user_id, uid, _ in found)
            uids = known
        rows: list[object] = []  # the batch's columns, row after row, bound as parameters
        for e in events:
            rows += (uids[e.user_id], e.seq, e.type, e.run_id, e.thread_id, e.frame, e.created_at)
        age_cutoff = self._age_pruning.due()
        try:
            more_expired = await self._database.call(
                self._insert,
                rows,
                age_cutoff,
                direct=True,  # the log's writer: woken a round sooner
            )
        except StorageError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):  # the unique (uid, seq)
                raise SeqConflict(str(exc)) from exc.__cause__
            raise
        if more_expired:
            self._age_pruning.more_left()

    def _insert(self, rows: list[object], age_cutoff: float | None) -> bool:
        """Insert the rows; with ``age_cutoff``, also drop up to
        ``PASS_ROWS`` events older than it. True when more are left."""
        count = len(rows) // _EVENT_COLUMNS
        if count <= _MAX_INSERT_ROWS and age_cutoff is None:
            # One statement, atomic by itself (triggers move user_seq and apply
            # retention by count: migration 5's and the TEMP one made at open).
            self._database.connection.execute(*_insert_statement(rows, 0, count))
            return False
        with self._database.transaction() as db:  # retention goes with the batch or not at all
            for start in range(0, count, _MAX_INSERT_ROWS):
                db.execute(*_insert_statement(rows, start, min(count - start, _MAX_INSERT_ROWS)))
            return age_cutoff is not None and _prune_by_age(db, age_cutoff)

    async def events_after(self, user_id: str, seq: int, *, limit: int = 1000) -> list[StoredEvent]:
        def select() -> list[StoredEvent]:
            rows = self._database.connection.execute(_EVENTS_AFTER, (user_id, seq, limit))
            return [StoredEvent(*row) for row in rows.fetchall()]

        return await self._database.read(select)

    async def replay_window(self, user_id: str) -> ReplayWindow:
        def select() -> ReplayWindow:
            row = self._database.connection.execute(
                "SELECT pruned_through, last_seq FROM user_seq WHERE user_id = ?", (user_id,)
            ).fetchone()
            return ReplayWindow(int(row[0]), int(row[1])) if row else ReplayWindow(0, 0)

        return await self._database.read(select)


def _user_keys(db: sqlite3.Connection, users: bytes) -> list[tuple[str, int, int]]:
    """``(user_id, uid, last_seq)`` of each of ``users`` (a JSON list); a user
    seen for the first time gets its key here (a statement of its own,
    committed at once: a key is never taken back)."""
    db.execute(
        "INSERT INTO user_seq (user_id, last_seq) SELECT value, 0 FROM json_each(?)"
        " WHERE true ON CONFLICT (user_id) DO NOTHING",
        (users,),
    )
    rows: list[tuple[str, int, int]] = db.execute(
        "SELECT user_id, uid, last_seq FROM user_seq"
        " WHERE user_id IN (SELECT value FROM json_each(?))",
        (users,),
    ).fetchall()
    return rows


def _prune_by_age(db: sqlite3.Connection, cutoff: float) -> bool:
    """Retention by age, for everyone: the oldest events created before
    ``cutoff``, at most ``PASS_ROWS`` of them, found through the age index
    (the work is in proportion to what is dropped, not to what is kept); each
    user's ``pruned_through`` follows. True when more are left."""
    oldest = (
        "SELECT uid, seq FROM events INDEXED BY events_by_age"
        " WHERE created_at < ?1 ORDER BY created_at LIMIT ?2"
    )
    db.execute(
        "UPDATE user_seq SET pruned_through = max(pruned_through, dropped.last)"
        f" FROM (SELECT uid, max(seq) AS last FROM ({oldest}) GROUP BY uid)"
        " AS dropped WHERE user_seq.uid = dropped.uid",
        (cutoff, PASS_ROWS),
    )
    deleted: int = db.execute(
        "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events INDEXED BY"
        " events_by_age WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
        (cutoff, PASS_ROWS),
    ).rowcount
    return deleted >= PASS_ROWS


def _create_keep_count_trigger(db: sqlite3.Connection, *, max_events: int) -> None:
    """Retention by count, applied by each insert: the events of its user that
    the new one pushes out of the last ``max_events`` are deleted and the
    user's ``pruned_through`` follows. TEMP: it belongs to this connection,
    so it follows this process's configuration."""
    keep = int(max_events)
    if keep < 1:
        raise ValueError(f"max_events must be at least 1, not {max_events!r}")
    db.execute(
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
        + ",".join(f"?{1 + row * _EVENT_COLUMNS + column}" for column in range(_EVENT_COLUMNS))
        + ")"
        for row in range(rows)
    )
    return (
        "INSERT INTO events (uid, seq, type, run_id, thread_id, frame, created_at)"
        " SELECT column1, column2, column3, column4, column5, column6, column7"
        f" FROM (VALUES {values}) WHERE column1 IS NOT NULL"
    )


def _insert_statement(rows: list[object], start: int, count: int) -> tuple[str, list[object]]:
    """The statement and parameters that insert ``count`` rows from ``start``."""
    size = 1 << (count - 1).bit_length()  # the next power of two
    params = rows[start * _EVENT_COLUMNS : (start + count) * _EVENT_COLUMNS]
    params += [None] * ((size - count) * _EVENT_COLUMNS)
    return _insert_sql(size), params
