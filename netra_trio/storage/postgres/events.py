"""The per-user event log in PostgreSQL: rows in, rows out.

A batch is one call of ``netra_append_events`` (migration 2): the batch's
columns go as seven arrays, so a batch of any size is one statement, one round
trip and one commit. The function claims each user's ``user_seq`` row before it
inserts: two machines appending for the same user queue on that row, and the
second finds its seqs taken (not above the user's last seq: stored, or
dropped by retention), which fails its batch with :class:`SeqConflict` so that
the event log numbers it again. Each user's ``last_seq`` is committed with the
events, so a writer that reads it always reads a number whose events are
stored (or were, before retention dropped them).

The appends have a connection of their own (the event log's writer is their
only caller, and is woken directly); replays and look-ups of the replay window
go through the storage's main connection, so a long replay never holds up
the log. Retention by count rides on the append; by age, a pass (at most once
a second, bounded) runs after an append, in a transaction of its own. The
batch has landed by then: a pass that fails is logged and left to a later one,
and the append still returns as landed (the caller must not number again, nor
report as lost, events that are stored).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg
import psycopg.errors

from netra_trio.logs import log_event
from netra_trio.storage.age_pruning import PASS_ROWS, AgePruning
from netra_trio.storage.base import SeqConflict, StorageError
from netra_trio.storage.postgres.connection import PgConnection
from netra_trio.storage.records import ReplayWindow, Retention, StoredEvent

# Drops the oldest expired events (through the age index) and moves each
# affected user's pruned_through, locking those users' rows in user order.
_PRUNE_BY_AGE = """
WITH dropped AS (
    DELETE FROM events WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM events WHERE created_at < %(cutoff)s
        ORDER BY created_at LIMIT %(rows)s))
    RETURNING user_id, seq
), tops AS (
    SELECT user_id, max(seq) AS top FROM dropped GROUP BY user_id
), locked AS (
    SELECT u.user_id FROM user_seq AS u JOIN tops USING (user_id)
    ORDER BY u.user_id FOR UPDATE OF u
), moved AS (
    UPDATE user_seq AS u SET pruned_through = greatest(u.pruned_through, tops.top)
    FROM tops, locked WHERE u.user_id = tops.user_id AND locked.user_id = tops.user_id
)
SELECT count(*) FROM dropped
"""


class PgEventStore:
    def __init__(self, writer: PgConnection, reader: PgConnection, retention: Retention) -> None:
        self._writer = writer
        self._reader = reader
        self._keep = retention.max_events
        if self._keep < 1:
            raise ValueError(f"max_events must be at least 1, not {self._keep!r}")
        self._age_pruning = AgePruning(retention.max_age_s)

    async def last_seqs(self, user_ids: Sequence[str]) -> dict[str, int]:
        if not user_ids:
            return {}
        users = list(user_ids)

        def select(conn: psycopg.Connection[Any]) -> dict[str, int]:
            rows = conn.execute(
                "SELECT user_id, last_seq FROM user_seq WHERE user_id = ANY(%s)", (users,)
            ).fetchall()
            return {**dict.fromkeys(users, 0), **dict(rows)}

        return await self._writer.read(select)

    async def append(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        columns = (
            [e.user_id for e in events],
            [e.seq for e in events],
            [e.type for e in events],
            [e.run_id for e in events],
            [e.thread_id for e in events],
            [e.frame for e in events],
            [e.created_at for e in events],
            self._keep,
        )

        def insert(conn: psycopg.Connection[Any]) -> None:
            # one statement in autocommit: a transaction by itself, one round
            # trip; the arrays go in binary (no quoting of every frame)
            conn.execute(
                "SELECT netra_append_events(%b::text[], %b::bigint[], %b::text[],"
                " %b::text[], %b::text[], %b::text[], %b::float8[], %b)",
                columns,
            )

        try:
            await self._writer.call(insert, direct=True)  # the log's writer: woken a round sooner
        except StorageError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise SeqConflict(str(exc)) from exc.__cause__
            raise
        cutoff = self._age_pruning.due()
        if cutoff is not None:
            await self._prune_by_age(cutoff)

    async def _prune_by_age(self, cutoff: float) -> None:
        def prune(conn: psycopg.Connection[Any]) -> int:  # one statement: a transaction
            row = conn.execute(_PRUNE_BY_AGE, {"cutoff": cutoff, "rows": PASS_ROWS}).fetchone()
            return int(row[0]) if row else 0

        try:
            dropped = await self._writer.call(prune, grouped=False, direct=True)
        except StorageError as exc:  # the next pass is due a second later
            log_event("event_retention_error", logging.WARNING, error=str(exc))
            return
        if dropped >= PASS_ROWS:
            self._age_pruning.more_left()

    async def events_after(self, user_id: str, seq: int, *, limit: int = 1000) -> list[StoredEvent]:
        def select(conn: psycopg.Connection[Any]) -> list[StoredEvent]:
            rows = conn.execute(
                "SELECT user_id, seq, type, run_id, thread_id, frame, created_at FROM events"
                " WHERE user_id = %s AND seq > %s ORDER BY seq LIMIT %s",
                (user_id, seq, limit),
            ).fetchall()
            return [StoredEvent(*row) for row in rows]

        return await self._reader.read(select)

    async def replay_window(self, user_id: str) -> ReplayWindow:
        def select(conn: psycopg.Connection[Any]) -> ReplayWindow:
            row = conn.execute(
                "SELECT pruned_through, last_seq FROM user_seq WHERE user_id = %s", (user_id,)
            ).fetchone()
            return ReplayWindow(int(row[0]), int(row[1])) if row else ReplayWindow(0, 0)

        return await self._reader.read(select)
