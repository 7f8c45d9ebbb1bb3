"""The SQLite schema, as an ordered list of migrations.

``PRAGMA user_version`` records how many have been applied; each migration
runs in its own transaction. Append new ones; never edit an applied one.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: threads, messages, runs, the per-user event log
    """
    CREATE TABLE threads (
        thread_id   TEXT PRIMARY KEY,
        user_id     TEXT NOT NULL,
        title       TEXT NOT NULL,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE INDEX threads_by_user ON threads (user_id, updated_at DESC);

    CREATE TABLE messages (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id  TEXT NOT NULL UNIQUE,
        thread_id   TEXT NOT NULL REFERENCES threads (thread_id),
        role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content     TEXT NOT NULL,
        run_id      TEXT,
        created_at  REAL NOT NULL
    );
    CREATE INDEX messages_by_thread ON messages (thread_id, id);

    CREATE TABLE runs (
        run_id      TEXT PRIMARY KEY,
        user_id     TEXT NOT NULL,
        thread_id   TEXT NOT NULL REFERENCES threads (thread_id),
        agent       TEXT NOT NULL,
        status      TEXT NOT NULL
                    CHECK (status IN ('running', 'success', 'cancelled', 'error', 'interrupted')),
        agents      TEXT NOT NULL DEFAULT '[]',
        error_code  TEXT,
        started_at  REAL NOT NULL,
        ended_at    REAL
    );
    CREATE INDEX runs_running ON runs (status) WHERE status = 'running';

    CREATE TABLE user_seq (
        user_id     TEXT PRIMARY KEY,
        last_seq    INTEGER NOT NULL
    );

    CREATE TABLE events (
        user_id     TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        type        TEXT NOT NULL,
        run_id      TEXT,
        thread_id   TEXT,
        frame       TEXT NOT NULL,
        created_at  REAL NOT NULL,
        PRIMARY KEY (user_id, seq)
    ) WITHOUT ROWID;
    """,
    # 2: event retention watermark; sessions with encrypted data
    """
    ALTER TABLE user_seq ADD COLUMN pruned_through INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX events_by_age ON events (created_at);

    CREATE TABLE sessions (
        session_id  TEXT PRIMARY KEY,
        user_id     TEXT NOT NULL,
        created_at  REAL NOT NULL,
        last_active REAL NOT NULL,
        nonce       BLOB NOT NULL,
        data        BLOB NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions (user_id, last_active);
    CREATE INDEX sessions_by_activity ON sessions (last_active);
    """,
    # 3: events in a rowid table (appended in commit order) with a unique index on
    # (user_id, seq). Clustered on (user_id, seq), every group commit of many users
    # split leaf pages all over the table: 5-6x the CPU per inserted row.
    """
    CREATE TABLE events_v3 (
        user_id     TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        type        TEXT NOT NULL,
        run_id      TEXT,
        thread_id   TEXT,
        frame       TEXT NOT NULL,
        created_at  REAL NOT NULL
    );
    INSERT INTO events_v3 (user_id, seq, type, run_id, thread_id, frame, created_at)
        SELECT user_id, seq, type, run_id, thread_id, frame, created_at FROM events
        ORDER BY created_at, user_id, seq;
    DROP TABLE events;
    ALTER TABLE events_v3 RENAME TO events;
    CREATE UNIQUE INDEX events_by_user ON events (user_id, seq);
    CREATE INDEX events_by_age ON events (created_at);
    """,
    # 4: each user's last seq follows the events inserted, so that a batch of
    # events is stored by one INSERT statement (atomic on its own).
    """
    CREATE TRIGGER events_advance_seq AFTER INSERT ON events BEGIN
        INSERT INTO user_seq (user_id, last_seq) VALUES (NEW.user_id, NEW.seq)
        ON CONFLICT (user_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
    END;
    """,
    # 5: each user gets an integer key (``uid``), and events carry it instead of the
    # user id's text: the per-user index gets one entry per event, on a different
    # page for each user of a batch, and a 36-character UUID key made it half again
    # as large and slow as an integer one. The key is assigned once per user (the
    # event log looks it up with the user's last seq) and never changes.
    """
    CREATE TABLE user_seq_v5 (
        uid             INTEGER PRIMARY KEY,
        user_id         TEXT NOT NULL UNIQUE,
        last_seq        INTEGER NOT NULL,
        pruned_through  INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO user_seq_v5 (user_id, last_seq, pruned_through)
        SELECT user_id, last_seq, pruned_through FROM user_seq ORDER BY user_id;
    INSERT INTO user_seq_v5 (user_id, last_seq)
        SELECT user_id, max(seq) FROM events WHERE true GROUP BY user_id
        ON CONFLICT (user_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
    DROP TRIGGER events_advance_seq;
    DROP TABLE user_seq;
    ALTER TABLE user_seq_v5 RENAME TO user_seq;

    CREATE TABLE events_v5 (
        uid         INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        type        TEXT NOT NULL,
        run_id      TEXT,
        thread_id   TEXT,
        frame       TEXT NOT NULL,
        created_at  REAL NOT NULL
    );
    INSERT INTO events_v5 (uid, seq, type, run_id, thread_id, frame, created_at)
        SELECT u.uid, e.seq, e.type, e.run_id, e.thread_id, e.frame, e.created_at
        FROM events AS e JOIN user_seq AS u ON u.user_id = e.user_id
        ORDER BY e.rowid;
    DROP TABLE events;
    ALTER TABLE events_v5 RENAME TO events;
    CREATE UNIQUE INDEX events_by_user ON events (uid, seq);
    CREATE INDEX events_by_age ON events (created_at);

    CREATE TRIGGER events_advance_seq AFTER INSERT ON events BEGIN
        UPDATE user_seq SET last_seq = NEW.seq WHERE uid = NEW.uid AND last_seq < NEW.seq;
    END;
    """,
    # 6: a seq dropped by retention stays taken. The unique index refuses only
    # the seqs still stored: a writer whose last seqs were stale (another
    # process appended since, and retention dropped what it had appended) would
    # store its user's seqs again, below the last one. Now an event whose seq is
    # not above its user's last seq fails its statement (a constraint error,
    # as a taken seq is), and the batch is numbered again.
    """
    DROP TRIGGER events_advance_seq;
    CREATE TRIGGER events_advance_seq AFTER INSERT ON events BEGIN
        SELECT RAISE(ABORT, 'seq is not above its user''s last seq')
            FROM user_seq WHERE uid = NEW.uid AND last_seq >= NEW.seq;
        UPDATE user_seq SET last_seq = NEW.seq WHERE uid = NEW.uid;
    END;
    """,
    # 7: a run's ending found by its run id (an index of the terminal events
    # only: one entry per run, nothing for the other events), and the runs that
    # ended in error found by when they started: at start, the runs recorded as
    # ended whose ending could not be stored are looked for through these.
    """
    CREATE INDEX events_ending ON events (run_id)
        WHERE type IN ('agent_completed', 'agent_error');
    CREATE INDEX runs_failed ON runs (started_at) WHERE status IN ('error', 'interrupted');
    """,
)


def migrate(db: sqlite3.Connection) -> int:
    """Apply every migration not yet applied; returns the schema version."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise sqlite3.DatabaseError(
            f"database schema version {version} is newer than this server ({len(MIGRATIONS)})"
        )
    for number in range(version, len(MIGRATIONS)):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """Split a script at the semicolons that end a statement (not those inside
    a trigger's body)."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending)
            pending = ""
    return statements
