"""SQLite storage on a real file: conformance, restart, WAL, failures."""

from __future__ import annotations

import sqlite3
import time
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

from netra_trio.storage.base import NewEvent, ReplayWindow, Retention, RunRecord, StorageError
from netra_trio.storage.migrations import MIGRATIONS
from netra_trio.storage.sqlite import _AGE_PRUNE_ROWS, _EVENTS_AFTER, SqliteStorage
from tests.storage.conformance import check_storage


async def test_sqlite_conforms(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "netra.db")
    try:
        await check_storage(storage)
    finally:
        await storage.close()


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path)
    thread = await storage.create_thread("alice", "kept")
    await storage.append_message(thread.thread_id, "user", "remember me")
    await storage.close()
    reopened = await SqliteStorage.open(path)
    try:
        kept = await reopened.get_thread(thread.thread_id)
        assert kept is not None
        assert (kept.user_id, kept.title, kept.created_at) == ("alice", "kept", thread.created_at)
        assert [m.content for m in await reopened.thread_messages(thread.thread_id)] == [
            "remember me"
        ]
    finally:
        await reopened.close()


async def test_file_is_wal_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    await (await SqliteStorage.open(path)).close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        db.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StorageError, match="newer than this server"):
        await SqliteStorage.open(path)


async def test_a_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="cannot open database"):
        await SqliteStorage.open(path)


async def test_a_locked_database_fails_cleanly_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path)
    thread = await storage.create_thread("alice", "t")
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        storage._db.execute("PRAGMA busy_timeout = 100")
        with pytest.raises(StorageError, match="locked"):
            await storage.append_message(thread.thread_id, "user", "blocked")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await storage.thread_messages(thread.thread_id) == []
    await storage.append_message(thread.thread_id, "user", "after")  # usable again
    await storage.close()


async def test_calls_run_off_the_trio_thread(tmp_path: Path) -> None:
    """A database call that waits half a second on a lock must not stall the loop."""
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path)
    thread = await storage.create_thread("alice", "t")
    storage._db.execute("PRAGMA busy_timeout = 500")
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0.01)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            with pytest.raises(StorageError):
                await storage.append_message(thread.thread_id, "user", "waits")
            nursery.cancel_scope.cancel()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        await storage.close()
    assert ticks >= 20  # ~50 ticks in 0.5 s; 1 if the call had blocked the loop


async def test_events_of_a_version_2_file_survive_the_move_to_a_rowid_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "netra.db"
    now = time.time()  # recent: the append below applies age retention
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:2]):
        db.executescript(script)
        db.execute(f"PRAGMA user_version = {number + 1}")
    db.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
        [("alice", seq, "agent_thinking", "r", "t", f'{{"seq":{seq}}}', now) for seq in (1, 2)]
        + [("bob", 1, "agent_started", "r2", "t2", '{"seq":1}', now)],
    )
    db.execute("INSERT INTO user_seq (user_id, last_seq) VALUES ('alice', 2), ('bob', 1)")
    db.close()

    storage = await SqliteStorage.open(path)
    try:
        assert [(e.seq, e.frame) for e in await storage.events_after("alice", 0)] == [
            (1, '{"seq":1}'),
            (2, '{"seq":2}'),
        ]
        (stored,) = await storage.append_events(
            [NewEvent("alice", "agent_thinking", "r", "t", lambda seq: f'{{"seq":{seq}}}')]
        )
        assert stored.seq == 3
        assert [e.seq for e in await storage.events_after("bob", 0)] == [1]
    finally:
        await storage.close()
    storage = await SqliteStorage.open(path)  # the seq moved on in the file too
    try:
        assert await storage.last_seq("alice") == 3
        assert [e.seq for e in await storage.append_events([_frame_event("alice")])] == [4]
    finally:
        await storage.close()
    db = sqlite3.connect(path)
    try:
        plan = db.execute("EXPLAIN QUERY PLAN " + _EVENTS_AFTER, ("alice", 0, 10)).fetchall()
        assert "events_by_user" in str(plan)  # replay reads the index, not the table
        assert "SCAN events" not in str(plan)
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(
                "INSERT INTO events SELECT uid, 3, 'x', NULL, NULL, '{}', 0"
                " FROM user_seq WHERE user_id = 'alice'"
            )
    finally:
        db.close()


async def test_a_version_4_file_moves_to_integer_user_keys_with_its_windows(
    tmp_path: Path,
) -> None:
    """Events keyed by the user id's text get each user's integer key; last seq
    and ``pruned_through`` are kept, and numbering, replay and retention by
    count go on from them."""
    path = tmp_path / "netra.db"
    now = time.time()
    uuid_user = "0b5e7c1e-9c1d-4a8e-8f7a-3f1d2c4b5a69"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:4]):
        db.executescript(script)
        db.execute(f"PRAGMA user_version = {number + 1}")
    db.executemany(  # alice kept seq 3-5 of 5 (1-2 pruned); the UUID user has 1-2
        "INSERT INTO events VALUES (?, ?, 'agent_thinking', 'r', 't', ?, ?)",
        [("alice", seq, f'{{"seq":{seq}}}', now) for seq in (3, 4, 5)]
        + [(uuid_user, seq, f'{{"seq":{seq}}}', now) for seq in (1, 2)],
    )
    db.execute("UPDATE user_seq SET pruned_through = 2 WHERE user_id = 'alice'")
    assert db.execute("SELECT * FROM user_seq ORDER BY user_id").fetchall() == [
        (uuid_user, 2, 0),
        ("alice", 5, 2),
    ]
    db.close()

    storage = await SqliteStorage.open(path, retention=Retention(max_events=3))
    try:
        assert await storage.replay_window("alice") == ReplayWindow(2, 5)
        assert await storage.replay_window(uuid_user) == ReplayWindow(0, 2)
        assert [e.seq for e in await storage.events_after("alice", 0)] == [3, 4, 5]
        assert [(e.user_id, e.frame) for e in await storage.events_after(uuid_user, 1)] == [
            (uuid_user, '{"seq":2}')
        ]
        stored = await storage.append_events(
            [_frame_event("alice"), _frame_event(uuid_user), _frame_event("carol")]
        )
        assert [(e.user_id, e.seq) for e in stored] == [("alice", 6), (uuid_user, 3), ("carol", 1)]
        assert [e.seq for e in await storage.events_after("alice", 0)] == [4, 5, 6]
        assert await storage.replay_window("alice") == ReplayWindow(3, 6)
        assert [e.seq for e in await storage.events_after(uuid_user, 0)] == [1, 2, 3]
        assert await storage.events_after("nobody", 0) == []
    finally:
        await storage.close()
    db = sqlite3.connect(path)
    try:
        keys = db.execute("SELECT user_id, uid FROM user_seq ORDER BY uid").fetchall()
        assert sorted(user for user, _ in keys) == sorted(["alice", uuid_user, "carol"])
        assert len({uid for _, uid in keys}) == 3
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        (orphans,) = db.execute(
            "SELECT count(*) FROM events WHERE uid NOT IN (SELECT uid FROM user_seq)"
        ).fetchone()
        assert orphans == 0
    finally:
        db.close()


def _age_events(path: Path, user: str, seconds: float) -> None:
    """Make every stored event of ``user`` ``seconds`` older, in the file."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute(
            "UPDATE events SET created_at = created_at - ?"
            " WHERE uid = (SELECT uid FROM user_seq WHERE user_id = ?)",
            (seconds, user),
        )
    finally:
        db.close()


def _frame_event(user: str, body: str = "") -> NewEvent:
    return NewEvent(
        user, "agent_thinking", "r", "t", lambda seq: f'{{"seq":{seq},"text":{body or 0}}}'
    )


async def test_frames_are_stored_byte_for_byte(tmp_path: Path) -> None:
    texts = [
        '"quotes \\" and backslashes \\\\ and a tab \\t"',
        '"unicode: çà ü 中文 \U0001f916 and \\u2028"',
        '"' + "x" * 100_000 + '"',
        '{"nested":[1,2.5,-3e-7,null,true],"empty":""}',
    ]
    storage = await SqliteStorage.open(tmp_path / "netra.db")
    try:
        stored = await storage.append_events([_frame_event("alice", t) for t in texts])
        replayed = await storage.events_after("alice", 0)
        assert [e.frame for e in replayed] == [e.frame for e in stored]
        assert replayed[1].frame == '{"seq":2,"text":"unicode: çà ü 中文 \U0001f916 and \\u2028"}'
    finally:
        await storage.close()


async def test_batches_of_every_size_are_stored_whole_in_order(tmp_path: Path) -> None:
    """Batches are inserted by statements made for powers of two rows (the rest
    bound empty), and split above the largest one: sizes around those bounds
    and one of several statements all store exactly their events, in order."""
    storage = await SqliteStorage.open(tmp_path / "netra.db")
    users = ["alice", "bob", "carol"]
    sent: dict[str, list[str]] = {u: [] for u in users}
    try:
        sizes = (1, 2, 3, 63, 64, 65, 1023, 1024, 1025, 2600)
        for size in sizes:
            batch = [_frame_event(users[i % 3], f'"{size}-{i}"') for i in range(size)]
            for event in await storage.append_events(batch):
                sent[event.user_id].append(event.frame)
        for user in users:
            stored = await storage.events_after(user, 0, limit=100_000)
            assert [e.frame for e in stored] == sent[user]
            assert [e.seq for e in stored] == list(range(1, len(sent[user]) + 1))
            assert {(e.type, e.run_id, e.thread_id) for e in stored} == {
                ("agent_thinking", "r", "t")
            }
        assert sum(len(v) for v in sent.values()) == sum(sizes)
    finally:
        await storage.close()


async def test_retention_keeps_each_users_latest_events_and_records_the_gap(
    tmp_path: Path,
) -> None:
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path, retention=Retention(max_events=3, max_age_s=3600))
    try:
        await storage.append_events([_frame_event("alice") for _ in range(4)])
        await storage.append_events([_frame_event("alice"), _frame_event("bob")])
        assert [e.seq for e in await storage.events_after("alice", 0)] == [3, 4, 5]
        assert await storage.replay_window("alice") == ReplayWindow(2, 5)
        assert await storage.replay_window("bob") == ReplayWindow(0, 1)
    finally:
        await storage.close()

    # by age: events older than max_age_s go on the first append after opening
    _age_events(path, "alice", 7200)
    storage = await SqliteStorage.open(path, retention=Retention(max_events=3, max_age_s=3600))
    try:
        await storage.append_events([_frame_event("bob")])
        assert await storage.events_after("alice", 0) == []
        assert await storage.replay_window("alice") == ReplayWindow(5, 5)
        assert [e.seq for e in await storage.events_after("bob", 0)] == [1, 2]
    finally:
        await storage.close()


async def test_retention_by_count_holds_for_large_batches_and_follows_the_configured_count(
    tmp_path: Path,
) -> None:
    """Every insert drops what it pushes out of its user's window, in a batch of
    one statement and in one split over several; a lower count at the next open
    applies at that user's next event; another process's count is its own."""
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path, retention=Retention(max_events=50, max_age_s=3600))
    try:
        batch = [_frame_event(user) for _ in range(1500) for user in ("alice", "bob")]
        await storage.append_events(batch)  # 3000 rows: more than one statement
        await storage.append_events([_frame_event("alice") for _ in range(7)])
        assert [e.seq for e in await storage.events_after("alice", 0)] == list(range(1458, 1508))
        assert [e.seq for e in await storage.events_after("bob", 0)] == list(range(1451, 1501))
        assert await storage.replay_window("alice") == ReplayWindow(1457, 1507)
        assert await storage.replay_window("bob") == ReplayWindow(1450, 1500)
    finally:
        await storage.close()
    other = await SqliteStorage.open(path, retention=Retention(max_events=1000, max_age_s=3600))
    storage = await SqliteStorage.open(path, retention=Retention(max_events=10, max_age_s=3600))
    try:
        await storage.append_events([_frame_event("alice")])
        assert [e.seq for e in await storage.events_after("alice", 0)] == list(range(1499, 1509))
        assert await storage.replay_window("alice") == ReplayWindow(1498, 1508)
        assert len(await storage.events_after("bob", 0)) == 50  # not written to since
        await other.append_events([_frame_event("carol") for _ in range(20)])
        assert len(await other.events_after("carol", 0)) == 20
    finally:
        await storage.close()
        await other.close()


async def test_retention_by_age_drops_a_backlog_a_bounded_piece_per_batch(
    tmp_path: Path,
) -> None:
    """Expired events go oldest first, at most ``_AGE_PRUNE_ROWS`` with one batch;
    while some are left, the next batch goes on; ``pruned_through`` follows."""
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path, retention=Retention(max_events=10_000))
    try:
        await storage.append_events([_frame_event("alice") for _ in range(4500)])
        await storage.append_events([_frame_event("bob") for _ in range(3)])
    finally:
        await storage.close()
    _age_events(path, "alice", 7200)
    storage = await SqliteStorage.open(path, retention=Retention(10_000, max_age_s=3600))
    try:
        left = []
        for _ in range(4):
            await storage.append_events([_frame_event("bob")])
            alice = await storage.events_after("alice", 0, limit=10_000)
            left.append((len(alice), alice[0].seq if alice else None))
            left.append(await storage.replay_window("alice"))
        rows = _AGE_PRUNE_ROWS
        assert left == [
            (4500 - rows, rows + 1),
            ReplayWindow(rows, 4500),
            (4500 - 2 * rows, 2 * rows + 1),
            ReplayWindow(2 * rows, 4500),
            (0, None),
            ReplayWindow(4500, 4500),
            (0, None),
            ReplayWindow(4500, 4500),
        ]
        assert [e.seq for e in await storage.events_after("bob", 0)] == [1, 2, 3, 4, 5, 6, 7]
    finally:
        await storage.close()


async def test_a_second_writer_on_the_same_file_is_refused_then_renumbered(
    tmp_path: Path,
) -> None:
    """Seqs are numbered from memory; another process appending to the same file
    makes the next append fail whole (unique seq), and the one after it reloads."""
    path = tmp_path / "netra.db"
    first = await SqliteStorage.open(path)
    second = await SqliteStorage.open(path)
    try:
        assert [e.seq for e in await first.append_events([_frame_event("alice")])] == [1]
        assert [e.seq for e in await second.append_events([_frame_event("alice")])] == [2]
        with pytest.raises(StorageError):
            await first.append_events([_frame_event("alice"), _frame_event("bob")])
        assert [e.seq for e in await first.events_after("bob", 0)] == []  # nothing half-written
        again = await first.append_events([_frame_event("alice"), _frame_event("bob")])
        assert [(e.user_id, e.seq) for e in again] == [("alice", 3), ("bob", 1)]
        assert await second.last_seq("alice") == 3
    finally:
        await first.close()
        await second.close()


async def test_the_seq_cache_starts_over_past_its_bound(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "netra.db", seq_cache_max=2)
    try:
        for _ in range(3):
            for users in (["alice", "bob"], ["carol"], ["bob", "dave", "alice"]):
                await storage.append_events([_frame_event(u) for u in users])
        assert len(storage._last_seqs) <= 3  # one batch's users at most
        assert len(storage._uids) <= 3
        for user, count in {"alice": 6, "bob": 6, "carol": 3, "dave": 3}.items():
            assert [e.seq for e in await storage.events_after(user, 0)] == list(range(1, count + 1))
    finally:
        await storage.close()


async def test_while_writing_runs_once_between_the_hand_off_and_the_commit(
    tmp_path: Path,
) -> None:
    """The hook runs on the event loop while the worker thread holds the batch:
    here the commit cannot finish until the hook lets go of a lock."""
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path, busy_timeout_s=10)
    blocker = sqlite3.connect(path, timeout=0)
    calls: list[int] = []

    def hook() -> None:
        calls.append(len(calls))
        blocker.execute("ROLLBACK")  # only now may the batch be committed

    try:
        await storage.append_events([_frame_event("alice")])  # the user's seq is known
        blocker.execute("BEGIN EXCLUSIVE")
        with trio.fail_after(5):
            stored = await storage.append_events(
                [_frame_event("alice"), _frame_event("alice")], while_writing=hook
            )
        assert calls == [0] and [e.seq for e in stored] == [2, 3]
        # a batch refused before the hand-off (the storage is closed) never calls it
        await storage.close()
        with pytest.raises(StorageError):
            await storage.append_events([_frame_event("alice")], while_writing=hook)
        assert calls == [0]
    finally:
        blocker.close()
        await storage.close()


async def test_concurrent_writes_share_commits_and_a_failing_one_fails_alone(
    tmp_path: Path,
) -> None:
    """Writes queued together run in one transaction; one that breaks a
    constraint rolls back only its own savepoint, and every other write is in
    the file afterwards."""
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path)
    try:
        thread = await storage.create_thread("alice", "t")
        await storage.start_run(RunRecord("r-dup", "alice", thread.thread_id, "a", "running", 1.0))
        outcomes: dict[str, str] = {}

        async def start(run_id: str) -> None:
            try:
                await storage.start_run(
                    RunRecord(run_id, "alice", thread.thread_id, "a", "running", 1.0)
                )
                outcomes[run_id] = "stored"
            except StorageError:
                outcomes[run_id] = "refused"

        async def message(n: int) -> None:
            await storage.append_message(thread.thread_id, "user", f"m{n}")
            outcomes[f"m{n}"] = "stored"

        async with trio.open_nursery() as nursery:
            for n in range(20):
                nursery.start_soon(message, n)
                nursery.start_soon(start, "r-dup" if n == 10 else f"r-{n}")
        assert outcomes.pop("r-dup") == "refused"
        assert set(outcomes.values()) == {"stored"} and len(outcomes) == 39
    finally:
        await storage.close()
    storage = await SqliteStorage.open(path)
    try:
        assert len(await storage.thread_messages(thread.thread_id)) == 20
        runs = [await storage.get_run(f"r-{n}") for n in range(20) if n != 10]
        assert all(r is not None for r in runs)
    finally:
        await storage.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (20,)
    finally:
        db.close()


async def test_a_read_queued_among_writes_that_wait_for_another_process_does_not_fail(
    tmp_path: Path,
) -> None:
    """A second process holds the write lock: queued writes wait for it and fail
    after the busy timeout; a read queued among them does not join their
    transaction, and succeeds (in WAL mode a read needs no write lock)."""
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path, busy_timeout_s=0.2)
    blocker = sqlite3.connect(path, timeout=0)
    try:
        thread = await storage.create_thread("alice", "t")
        blocker.execute("BEGIN IMMEDIATE")
        outcomes: list[str] = []

        async def write(n: int) -> None:
            try:
                await storage.append_message(thread.thread_id, "user", f"m{n}")
                outcomes.append(f"m{n} stored")
            except StorageError:
                outcomes.append(f"m{n} failed")

        async def read() -> None:
            try:
                found = await storage.get_thread(thread.thread_id)
                outcomes.append("read" if found == thread else "read wrong")
            except StorageError:
                outcomes.append("read failed")

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                for call in (partial(write, 1), partial(write, 2), read, partial(write, 3)):
                    nursery.start_soon(call)
                    await trio.testing.wait_all_tasks_blocked()  # queued in this order
        # (callers woken in the same round of the loop may resume in either order)
        assert sorted(outcomes) == ["m1 failed", "m2 failed", "m3 failed", "read"]
    finally:
        blocker.close()
        await storage.close()
