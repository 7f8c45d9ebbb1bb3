"""SQLite event-log costs, measured on the storage's own statements:
``python -m benchmarks.storage_probe``.

Not a scenario of the run (no server, no client): it times what the storage's
worker thread runs per batch, on a file in ``$TMPDIR``, so that a change to the
schema or the statements can be weighed before a full benchmark.

- ``insert``: microseconds per row of a 1000-row batch (1000 users, one event
  each), while every user is below the retention count, and once every user is
  past it (each insert then also drops that user's oldest event), and, for
  scale, below the count without the per-user index (``events_by_user``): each
  batch adds one entry at the end of every user's range in that index, a
  different page per user, and each page touched is a WAL frame.
  ``--ids uuid`` gives users 36-character UUIDs instead of short ids (the
  event table keys users by an integer either way; the id's text is only in
  ``user_seq``).
- ``age prune``: milliseconds for one retention-by-age pass over a log of
  ``--users`` x ``--events`` rows, where each pass finds expired rows through
  the age index.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from netra_trio.storage.age_pruning import PASS_ROWS
from netra_trio.storage.sqlite.events import (
    _create_keep_count_trigger,
    _insert_statement,
    _prune_by_age,
)
from netra_trio.storage.sqlite.migrations import migrate

FRAME = orjson.dumps(
    {
        "type": "agent_thinking",
        "payload": {"thought": "x" * 120, "agent_name": "bench_emit"},
        "run_id": "r" * 32,
        "thread_id": "t" * 32,
        "seq": 1,
        "timestamp": 1.0,
    }
).decode()


def open_db(path: Path, keep: int, *, user_index: bool = True) -> sqlite3.Connection:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    migrate(db)
    _create_keep_count_trigger(db, max_events=keep)
    if not user_index:
        db.execute("DROP INDEX events_by_user")
    return db


def user_keys(db: sqlite3.Connection, users: int, ids: str) -> list[int]:
    """Each user's integer key, assigned as the event log assigns it."""
    names = [str(uuid.uuid4()) if ids == "uuid" else f"user-{u}" for u in range(users)]
    db.executemany(
        "INSERT INTO user_seq (user_id, last_seq) VALUES (?, 0) ON CONFLICT DO NOTHING",
        [(name,) for name in names],
    )
    return [uid for (uid,) in db.execute("SELECT uid FROM user_seq ORDER BY uid LIMIT ?", (users,))]


def insert_rounds(
    db: sqlite3.Connection, users: int, rounds: int, first_seq: int, now: float, ids: str
) -> float:
    """Insert ``rounds`` batches of one event per user; seconds per row."""
    keys = user_keys(db, users, ids)
    spent = 0.0
    for r in range(rounds):
        rows: list[object] = []
        for uid in keys:
            rows += (uid, first_seq + r, "agent_thinking", "r" * 32, "t" * 32, FRAME, now + r)
        statement = _insert_statement(rows, 0, users)
        t0 = time.perf_counter()
        db.execute(*statement)
        spent += time.perf_counter() - t0
    return spent / (rounds * users)


def probe_insert(path: Path, keep: int, rounds: int, ids: str) -> tuple[float, float]:
    db = open_db(path, keep)
    try:
        below = insert_rounds(db, 1000, keep, 1, 1000.0, ids)
        past = insert_rounds(db, 1000, rounds, keep + 1, 1000.0 + keep, ids)
        return below, past
    finally:
        db.close()


def probe_without_user_index(path: Path, keep: int, ids: str) -> float:
    db = open_db(path, keep, user_index=False)
    try:
        return insert_rounds(db, 1000, keep, 1, 1000.0, ids)
    finally:
        db.close()


def probe_age(path: Path, users: int, events: int) -> float:
    db = open_db(path, events + 1)
    try:
        insert_rounds(db, users, events, 1, 1000.0, "short")
        spent = []
        for step in range(1, 4):
            db.execute("BEGIN IMMEDIATE")
            t0 = time.perf_counter()
            _prune_by_age(db, 1000.0 + step * 2)
            spent.append(time.perf_counter() - t0)
            db.execute("COMMIT")
        return min(spent)
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--ids", choices=("short", "uuid"), default="short")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as workdir:
        path = Path(workdir) / "probe.db"
        below, past = probe_insert(path, args.keep, args.rounds, args.ids)
        bare = probe_without_user_index(path, args.keep, args.ids)
        print(
            f"insert: {below * 1e6:.2f} us/row below the count, {past * 1e6:.2f} past it,"
            f" {bare * 1e6:.2f} below it without the per-user index"
        )
        pass_s = probe_age(path, args.users, args.events)
        print(
            f"age prune: {pass_s * 1e3:.1f} ms per pass of up to {PASS_ROWS} rows"
            f" in a log of {args.users * args.events:,} rows"
        )


if __name__ == "__main__":
    main()
