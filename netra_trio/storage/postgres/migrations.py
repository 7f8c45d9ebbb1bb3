"""The PostgreSQL schema, as an ordered list of migrations.

``netra_schema.version`` records how many have been applied. Each migration
runs in a transaction of its own, under an advisory lock, so that nodes
starting together apply each one once. Append new ones; never edit an applied
one.
"""

from __future__ import annotations

from typing import Any, LiteralString

import psycopg

from netra_trio.storage.base import StorageError

# pg_advisory_xact_lock key of the migrations ("netra" in ASCII).
_LOCK = 0x6E65747261

MIGRATIONS: tuple[LiteralString, ...] = (
    # 1: threads, messages, runs, sessions, the per-user event log
    """
    CREATE TABLE threads (
        thread_id   text PRIMARY KEY,
        user_id     text NOT NULL,
        title       text NOT NULL,
        created_at  double precision NOT NULL,
        updated_at  double precision NOT NULL
    );
    CREATE INDEX threads_by_user ON threads (user_id, updated_at DESC);

    CREATE TABLE messages (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id  text NOT NULL UNIQUE,
        thread_id   text NOT NULL REFERENCES threads (thread_id),
        role        text NOT NULL CHECK (role IN ('user', 'assistant')),
        content     text NOT NULL,
        run_id      text,
        created_at  double precision NOT NULL
    );
    CREATE INDEX messages_by_thread ON messages (thread_id, id);

    CREATE TABLE runs (
        run_id      text PRIMARY KEY,
        user_id     text NOT NULL,
        thread_id   text NOT NULL REFERENCES threads (thread_id),
        agent       text NOT NULL,
        status      text NOT NULL
                    CHECK (status IN ('running', 'success', 'cancelled', 'error', 'interrupted')),
        agents      text NOT NULL DEFAULT '[]',
        error_code  text,
        started_at  double precision NOT NULL,
        ended_at    double precision
    );
    CREATE INDEX runs_running ON runs (status) WHERE status = 'running';

    CREATE TABLE sessions (
        session_id  text PRIMARY KEY,
        user_id     text NOT NULL,
        created_at  double precision NOT NULL,
        last_active double precision NOT NULL,
        nonce       bytea NOT NULL,
        data        bytea NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions (user_id, last_active);
    CREATE INDEX sessions_by_activity ON sessions (last_active);

    CREATE TABLE user_seq (
        user_id         text PRIMARY KEY,
        last_seq        bigint NOT NULL,
        pruned_through  bigint NOT NULL DEFAULT 0
    );

    CREATE TABLE events (
        user_id     text NOT NULL,
        seq         bigint NOT NULL,
        type        text NOT NULL,
        run_id      text,
        thread_id   text,
        frame       text NOT NULL,
        created_at  double precision NOT NULL,
        PRIMARY KEY (user_id, seq)
    );
    CREATE INDEX events_by_age ON events (created_at);

    -- A batch of events in one call: one round trip, one statement's worth of
    -- work per step. Each user's row of user_seq is claimed first, in user
    -- order, and only when the batch's first seq of that user is above its
    -- last_seq (seen under the row's lock): a writer on another machine
    -- appending for the same user waits there (never in a cycle), then finds
    -- its seqs taken, stored or dropped by retention, and the batch is refused
    -- as a unique violation, so that it is numbered again. Retention by count
    -- goes with it: events pushed out of the last p_keep of their user are not
    -- kept, and older ones are deleted through the key, one user past the
    -- count at a time (a DELETE joined to the batch got a plan, made while the
    -- table was small, that read the whole table on every append).
    CREATE FUNCTION netra_append_events(
        p_users text[], p_seqs bigint[], p_types text[], p_runs text[],
        p_threads text[], p_frames text[], p_created double precision[], p_keep bigint
    ) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        v_stale boolean;
        v_user text;
        v_through bigint;
    BEGIN
        WITH batch AS (
            SELECT b.user_id, min(b.seq) AS first, max(b.seq) AS top
            FROM unnest(p_users, p_seqs) AS b (user_id, seq)
            GROUP BY b.user_id
        ), claimed AS (
            INSERT INTO user_seq AS u (user_id, last_seq, pruned_through)
                SELECT batch.user_id, batch.top, greatest(batch.top - p_keep, 0)
                FROM batch ORDER BY batch.user_id
            ON CONFLICT (user_id) DO UPDATE SET
                last_seq = excluded.last_seq,
                pruned_through = greatest(u.pruned_through, excluded.pruned_through)
            WHERE u.last_seq < (SELECT batch.first FROM batch WHERE batch.user_id = u.user_id)
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM claimed) < (SELECT count(*) FROM batch) INTO v_stale;
        IF v_stale THEN
            RAISE unique_violation USING MESSAGE = 'a seq of the batch is not above its'
                ' user''s last seq (stored, or dropped by retention)';
        END IF;
        INSERT INTO events (user_id, seq, type, run_id, thread_id, frame, created_at)
            SELECT b.user_id, b.seq, b.type, b.run_id, b.thread_id, b.frame, b.created_at
            FROM (
                SELECT *, max(seq) OVER (PARTITION BY user_id) AS top
                FROM unnest(p_users, p_seqs, p_types, p_runs, p_threads, p_frames, p_created)
                    AS r (user_id, seq, type, run_id, thread_id, frame, created_at)
            ) AS b
            WHERE b.seq > b.top - p_keep
            ORDER BY b.user_id, b.seq;
        FOR v_user, v_through IN
            SELECT t.user_id, max(t.seq) - p_keep FROM unnest(p_users, p_seqs)
                AS t (user_id, seq) GROUP BY t.user_id HAVING max(t.seq) > p_keep
        LOOP
            DELETE FROM events WHERE user_id = v_user AND seq <= v_through;
        END LOOP;
    END
    $$;
    """,
    # 2: a run's ending found by its run id (an index of the terminal events
    # only: one entry per run, nothing for the other events), and the runs that
    # ended in error found by when they started: at start, the runs recorded as
    # ended whose ending could not be stored are looked for through these.
    """
    CREATE INDEX events_ending ON events (run_id)
        WHERE type IN ('agent_completed', 'agent_error');
    CREATE INDEX runs_failed ON runs (started_at) WHERE status IN ('error', 'interrupted');
    """,
)


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Apply every migration not yet applied; returns the schema version."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS netra_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO netra_schema SELECT 0 WHERE NOT EXISTS (TABLE netra_schema)")
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            (version,) = conn.execute("SELECT version FROM netra_schema").fetchone() or (0,)
            if version > len(MIGRATIONS):
                raise StorageError(
                    f"database schema version {version} is newer than this server"
                    f" ({len(MIGRATIONS)})"
                )
            if version == len(MIGRATIONS):
                return int(version)
            conn.execute(MIGRATIONS[version])
            conn.execute("UPDATE netra_schema SET version = %s", (version + 1,))
