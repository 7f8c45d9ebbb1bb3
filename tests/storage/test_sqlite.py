"""SQLite storage on a real file (its conformance: ``test_conformance.py``):
restart, WAL, migrations, retention, failures."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

from netra_trio.storage.age_pruning import PASS_ROWS
from netra_trio.storage.base import StorageError
from netra_trio.storage.records import ReplayWindow, Retention, RunRecord, StoredEvent
from netra_trio.storage.sqlite import SqliteStorage
from netra_trio.storage.sqlite.events import _EVENTS_AFTER, SqliteEventStore
from netra_trio.storage.sqlite.migrations import MIGRATIONS


def _event(user: str, seq: int, body: str = "") -> StoredEvent:
    """A row as the event log would hand it over: its seq given, its frame
    rendered, made now (recent: retention by age keeps it)."""
    frame = f'{{"seq":{seq},"text":{body or 0}}}'
    return StoredEvent(user, seq, "agent_thinking", "r", "t", frame, time.time())


def _events(user: str, seqs: Iterable[int]) -> list[StoredEvent]:
    """``user``'s rows with the given seqs, in that order."""
    return [_event(user, seq) for seq in seqs]


async def _seqs(storage: SqliteStorage, user: str) -> list[int]:
    """The seqs of ``user``'s stored events."""
    return [e.seq for e in await storage.events.events_after(user, 0, limit=100_000)]


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path)
    thread = await storage.threads.create_thread("alice", "kept")
    await storage.threads.append_message(thread.thread_id, "user", "remember me")
    run = RunRecord("r-1", "alice", thread.thread_id, "supervisor", "running", time.time())
    await storage.runs.start_run(run)
    events = _events("alice", [1, 2])
    await storage.events.append(events)
    await storage.close()
    reopened = await SqliteStorage.open(path)
    try:
        kept = await reopened.threads.get_thread(thread.thread_id)
        assert kept is not None
        assert (kept.user_id, kept.title, kept.created_at) == ("alice", "kept", thread.created_at)
        assert [m.content for m in await reopened.threads.thread_messages(thread.thread_id)] == [
            "remember me"
        ]
        assert await reopened.runs.get_run("r-1") == run
        assert await reopened.events.events_after("alice", 0) == events
        assert await reopened.events.last_seqs(["alice"]) == {"alice": 2}
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
    thread = await storage.threads.create_thread("alice", "t")
    assert await storage.events.last_seqs(["alice"]) == {"alice": 0}  # her key is known
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        storage.database.connection.execute("PRAGMA busy_timeout = 100")
        with pytest.raises(StorageError, match="locked"):
            await storage.threads.append_message(thread.thread_id, "user", "blocked")
        with pytest.raises(StorageError, match="locked"):
            await storage.events.append(_events("alice", [1, 2]))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await storage.threads.thread_messages(thread.thread_id) == []
    assert await storage.events.events_after("alice", 0) == []
    assert await storage.events.last_seqs(["alice"]) == {"alice": 0}
    await storage.threads.append_message(thread.thread_id, "user", "after")  # usable again
    await storage.events.append(_events("alice", [1, 2]))
    assert await _seqs(storage, "alice") == [1, 2]
    await storage.close()


async def test_calls_run_off_the_trio_thread(tmp_path: Path) -> None:
    """A database call that waits half a second on a lock must not stall the loop."""
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path)
    thread = await storage.threads.create_thread("alice", "t")
    storage.database.connection.execute("PRAGMA busy_timeout = 500")
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
                await storage.threads.append_message(thread.thread_id, "user", "waits")
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
        assert await storage.events.events_after("alice", 0) == [
            StoredEvent("alice", seq, "agent_thinking", "r", "t", f'{{"seq":{seq}}}', now)
            for seq in (1, 2)
        ]
        assert await storage.events.last_seqs(["alice", "bob"]) == {"alice": 2, "bob": 1}
        assert await storage.events.replay_window("alice") == ReplayWindow(0, 2)
        with pytest.raises(StorageError):  # seq 2 is taken
            await storage.events.append([_event("alice", 2, '"again"'), _event("bob", 2)])
        assert await _seqs(storage, "bob") == [1]
        third = _event("alice", 3)
        await storage.events.append([third])
        assert await storage.events.events_after("alice", 2) == [third]
        assert await storage.events.replay_window("alice") == ReplayWindow(0, 3)
        assert [(e.seq, e.type) for e in await storage.events.events_after("bob", 0)] == [
            (1, "agent_started")
        ]
    finally:
        await storage.close()
    storage = await SqliteStorage.open(path)  # the last seq moved on in the file too
    try:
        assert await storage.events.last_seqs(["alice", "bob"]) == {"alice": 3, "bob": 1}
        assert await storage.events.replay_window("alice") == ReplayWindow(0, 3)
        with pytest.raises(StorageError):
            await storage.events.append([_event("alice", 3, '"again"')])
        await storage.events.append([_event("alice", 4)])
        assert await _seqs(storage, "alice") == [1, 2, 3, 4]
        assert (await storage.events.events_after("alice", 2))[0] == third  # not overwritten
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
    and ``pruned_through`` are kept, and appends, replay and retention by count
    go on from them."""
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
        assert await storage.events.replay_window("alice") == ReplayWindow(2, 5)
        assert await storage.events.replay_window(uuid_user) == ReplayWindow(0, 2)
        assert await storage.events.last_seqs(["alice", uuid_user, "carol"]) == {
            "alice": 5,
            uuid_user: 2,
            "carol": 0,
        }
        assert await _seqs(storage, "alice") == [3, 4, 5]
        assert [(e.user_id, e.frame) for e in await storage.events.events_after(uuid_user, 1)] == [
            (uuid_user, '{"seq":2}')
        ]
        with pytest.raises(StorageError):  # alice's seq 5 is taken: carol's 1 goes with it
            await storage.events.append([_event("carol", 1), _event("alice", 5)])
        assert await storage.events.events_after("carol", 0) == []
        assert await _seqs(storage, "alice") == [3, 4, 5]
        await storage.events.append([_event("alice", 6), _event(uuid_user, 3), _event("carol", 1)])
        assert await storage.events.last_seqs(["alice", uuid_user, "carol"]) == {
            "alice": 6,
            uuid_user: 3,
            "carol": 1,
        }
        assert await _seqs(storage, "alice") == [4, 5, 6]
        assert await storage.events.replay_window("alice") == ReplayWindow(3, 6)
        assert await _seqs(storage, uuid_user) == [1, 2, 3]
        assert await storage.events.replay_window(uuid_user) == ReplayWindow(0, 3)
        assert await storage.events.events_after("nobody", 0) == []
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


async def test_frames_are_stored_byte_for_byte(tmp_path: Path) -> None:
    texts = [
        '"quotes \\" and backslashes \\\\ and a tab \\t"',
        '"unicode: çà ü 中文 \U0001f916 and \\u2028"',
        '"' + "x" * 100_000 + '"',
        '{"nested":[1,2.5,-3e-7,null,true],"empty":""}',
    ]
    storage = await SqliteStorage.open(tmp_path / "netra.db")
    try:
        sent = [_event("alice", seq, text) for seq, text in enumerate(texts, start=1)]
        await storage.events.append(sent)
        replayed = await storage.events.events_after("alice", 0)
        assert [e.frame for e in replayed] == [e.frame for e in sent]
        assert replayed == sent
        assert replayed[1].frame == '{"seq":2,"text":"unicode: çà ü 中文 \U0001f916 and \\u2028"}'
    finally:
        await storage.close()


async def test_batches_of_every_size_are_stored_whole_in_order(tmp_path: Path) -> None:
    """Batches are inserted by statements made for powers of two rows (the rest
    bound empty), and split above the largest one: sizes around those bounds
    and one of several statements all store exactly their events, in order."""
    storage = await SqliteStorage.open(tmp_path / "netra.db")
    users = ["alice", "bob", "carol"]
    sent: dict[str, list[StoredEvent]] = {u: [] for u in users}
    try:
        sizes = (1, 2, 3, 63, 64, 65, 1023, 1024, 1025, 2600)
        for size in sizes:
            batch = []
            for i in range(size):
                user = users[i % 3]
                batch.append(_event(user, len(sent[user]) + 1, f'"{size}-{i}"'))
                sent[user].append(batch[-1])
            await storage.events.append(batch)
        for user in users:
            stored = await storage.events.events_after(user, 0, limit=100_000)
            assert [e.frame for e in stored] == [e.frame for e in sent[user]]
            assert [e.seq for e in stored] == list(range(1, len(sent[user]) + 1))
            assert {(e.type, e.run_id, e.thread_id) for e in stored} == {
                ("agent_thinking", "r", "t")
            }
            assert stored == sent[user]
        assert await storage.events.last_seqs(users) == {u: len(sent[u]) for u in users}
        assert sum(len(v) for v in sent.values()) == sum(sizes)
    finally:
        await storage.close()


async def test_retention_keeps_each_users_latest_events_and_records_the_gap(
    tmp_path: Path,
) -> None:
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path, retention=Retention(max_events=3, max_age_s=3600))
    try:
        await storage.events.append(_events("alice", range(1, 5)))
        await storage.events.append([_event("alice", 5), _event("bob", 1)])
        assert await _seqs(storage, "alice") == [3, 4, 5]
        assert await storage.events.replay_window("alice") == ReplayWindow(2, 5)
        assert await storage.events.replay_window("bob") == ReplayWindow(0, 1)
        assert await storage.events.last_seqs(["alice", "bob"]) == {"alice": 5, "bob": 1}
    finally:
        await storage.close()

    # by age: events older than max_age_s go on the first append after opening
    _age_events(path, "alice", 7200)
    storage = await SqliteStorage.open(path, retention=Retention(max_events=3, max_age_s=3600))
    try:
        await storage.events.append([_event("bob", 2)])
        assert await storage.events.events_after("alice", 0) == []
        assert await storage.events.replay_window("alice") == ReplayWindow(5, 5)
        assert await storage.events.last_seqs(["alice"]) == {"alice": 5}  # the seq stays
        assert await _seqs(storage, "bob") == [1, 2]
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
        batch = [_event(user, seq) for seq in range(1, 1501) for user in ("alice", "bob")]
        await storage.events.append(batch)  # 3000 rows: more than one statement
        await storage.events.append(_events("alice", range(1501, 1508)))
        assert await _seqs(storage, "alice") == list(range(1458, 1508))
        assert await _seqs(storage, "bob") == list(range(1451, 1501))
        assert await storage.events.replay_window("alice") == ReplayWindow(1457, 1507)
        assert await storage.events.replay_window("bob") == ReplayWindow(1450, 1500)
    finally:
        await storage.close()
    other = await SqliteStorage.open(path, retention=Retention(max_events=1000, max_age_s=3600))
    storage = await SqliteStorage.open(path, retention=Retention(max_events=10, max_age_s=3600))
    try:
        await storage.events.append([_event("alice", 1508)])
        assert await _seqs(storage, "alice") == list(range(1499, 1509))
        assert await storage.events.replay_window("alice") == ReplayWindow(1498, 1508)
        assert len(await storage.events.events_after("bob", 0)) == 50  # not written to since
        await other.events.append(_events("carol", range(1, 21)))
        assert len(await other.events.events_after("carol", 0)) == 20
    finally:
        await storage.close()
        await other.close()


async def test_retention_by_age_drops_a_backlog_a_bounded_piece_per_batch(
    tmp_path: Path,
) -> None:
    """Expired events go oldest first, at most ``PASS_ROWS`` with one batch;
    while some are left, the next batch goes on; ``pruned_through`` follows."""
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path, retention=Retention(max_events=10_000))
    try:
        await storage.events.append(_events("alice", range(1, 4501)))
        await storage.events.append(_events("bob", range(1, 4)))
    finally:
        await storage.close()
    _age_events(path, "alice", 7200)
    storage = await SqliteStorage.open(path, retention=Retention(10_000, max_age_s=3600))
    try:
        left: list[object] = []
        for seq in range(4, 8):
            await storage.events.append([_event("bob", seq)])
            alice = await storage.events.events_after("alice", 0, limit=10_000)
            left.append((len(alice), alice[0].seq if alice else None))
            left.append(await storage.events.replay_window("alice"))
        rows = PASS_ROWS
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
        assert await _seqs(storage, "bob") == [1, 2, 3, 4, 5, 6, 7]
    finally:
        await storage.close()


async def test_a_second_writer_appending_a_taken_seq_fails_whole_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """Two storages on one file (two processes): the unique (user, seq) index
    refuses a seq that the other one stored, and the whole batch with it."""
    path = tmp_path / "netra.db"
    first = await SqliteStorage.open(path)
    second = await SqliteStorage.open(path)
    try:
        mine = _event("alice", 1, '"first"')
        await first.events.append([mine])
        assert await second.events.last_seqs(["alice"]) == {"alice": 1}
        for batch in (
            [_event("bob", 1), _event("alice", 1, '"second"')],
            [_event("alice", 1, '"second"'), _event("alice", 2), _event("bob", 1)],
        ):
            with pytest.raises(StorageError):
                await second.events.append(batch)
            for storage in (first, second):  # nothing half-written
                assert await storage.events.last_seqs(["alice", "bob"]) == {"alice": 1, "bob": 0}
                assert await storage.events.events_after("alice", 0) == [mine]
                assert await storage.events.events_after("bob", 0) == []
                assert await storage.events.replay_window("bob") == ReplayWindow(0, 0)
        # from the seqs that the file holds, the second writer goes on, and the
        # first is refused in turn
        await second.events.append([_event("alice", 2, '"second"'), _event("bob", 1)])
        with pytest.raises(StorageError):
            await first.events.append([_event("carol", 1), _event("alice", 2, '"first"')])
        assert await first.events.last_seqs(["alice", "bob", "carol"]) == {
            "alice": 2,
            "bob": 1,
            "carol": 0,
        }
        assert [e.frame for e in await first.events.events_after("alice", 0)] == [
            '{"seq":1,"text":"first"}',
            '{"seq":2,"text":"second"}',
        ]
    finally:
        await first.close()
        await second.close()


async def test_the_user_key_cache_stays_bounded_and_appends_and_reads_stay_right(
    tmp_path: Path,
) -> None:
    """Past ``uid_cache_max`` users the cache of user keys starts over (keeping
    one batch's users); every user keeps its one key, and its events."""
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path)
    events = SqliteEventStore(storage.database, Retention(), uid_cache_max=2)
    try:
        next_seq: dict[str, int] = {}
        for _ in range(3):
            for users in (["alice", "bob"], ["carol"], ["bob", "dave", "alice"]):
                batch = []
                for user in users:
                    next_seq[user] = next_seq.get(user, 0) + 1
                    batch.append(_event(user, next_seq[user]))
                await events.append(batch)
                assert set(users) <= events._uids.keys()
                assert len(events._uids) <= 3  # the bound, or one batch's users past it
        assert next_seq == {"alice": 6, "bob": 6, "carol": 3, "dave": 3}
        for user, count in next_seq.items():
            assert [e.seq for e in await events.events_after(user, 0)] == list(range(1, count + 1))
        # last_seqs fills the cache too, with the same bound
        everyone = ["alice", "bob", "carol", "dave", "erin"]
        assert await events.last_seqs(everyone) == {**next_seq, "erin": 0}
        assert len(events._uids) <= len(everyone)
        assert await events.last_seqs(["carol"]) == {"carol": 3}
        assert len(events._uids) <= 2
        await events.append([_event("erin", 1), _event("carol", 4)])
        assert len(events._uids) <= 2
        with pytest.raises(StorageError):  # a taken seq is still refused
            await events.append([_event("alice", 7), _event("dave", 3)])
        assert await events.last_seqs(everyone) == {**next_seq, "carol": 4, "erin": 1}
        # the store of the storage itself reads the same events
        assert await storage.events.last_seqs(everyone) == await events.last_seqs(everyone)
        assert [e.seq for e in await storage.events.events_after("carol", 0)] == [1, 2, 3, 4]
    finally:
        await storage.close()
    db = sqlite3.connect(path)
    try:  # one key per user, however often the cache started over
        keys = db.execute("SELECT user_id, uid FROM user_seq").fetchall()
        assert sorted(user for user, _ in keys) == ["alice", "bob", "carol", "dave", "erin"]
        assert len({uid for _, uid in keys}) == 5
    finally:
        db.close()


@pytest.mark.parametrize("other", ["last_seqs", "append"])
async def test_an_append_waiting_for_a_key_survives_the_cache_starting_over(
    tmp_path: Path, other: str
) -> None:
    """An append looks up a new user's key; meanwhile another call of the store
    fills the cache past its bound, so that the append's look-up makes it
    start over: the append still stores its batch, keys of every user in it."""
    storage = await SqliteStorage.open(tmp_path / "netra.db")
    events = SqliteEventStore(storage.database, Retention(), uid_cache_max=2)
    try:
        await events.append([_event("alice", 1)])  # alice's key is in the cache
        first_hold, second_hold = threading.Event(), threading.Event()
        outcomes: dict[str, str] = {}

        async def hold(until: threading.Event) -> None:
            await storage.database.call(until.wait, grouped=False)

        async def carol() -> None:  # her key joins the cache: it is full
            if other == "last_seqs":
                assert await events.last_seqs(["carol"]) == {"carol": 0}
            else:
                await events.append([_event("carol", 1)])
            outcomes["carol"] = "done"

        async def alice_and_bob() -> None:  # bob's key is looked up
            try:
                await events.append([_event("alice", 2), _event("bob", 1)])
                outcomes["alice and bob"] = "stored"
            except Exception as exc:
                outcomes["alice and bob"] = repr(exc)

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                # the worker is held, so that the calls are queued in this order:
                # carol's look-up, a second hold, bob's look-up
                for call in (partial(hold, first_hold), carol, partial(hold, second_hold)):
                    nursery.start_soon(call)
                    await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(alice_and_bob)
                await trio.testing.wait_all_tasks_blocked()
                assert events._uids.keys() == {"alice"}
                first_hold.set()
                while "carol" not in events._uids:  # noqa: ASYNC110 (set by carol's task)
                    await trio.sleep(0.001)
                assert events._uids.keys() == {"alice", "carol"}
                second_hold.set()
        assert outcomes == {"carol": "done", "alice and bob": "stored"}
        assert events._uids.keys() <= {"alice", "bob", "carol"}
        assert await _seqs(storage, "alice") == [1, 2]
        assert await _seqs(storage, "bob") == [1]
        assert await storage.events.last_seqs(["alice", "bob", "carol"]) == {
            "alice": 2,
            "bob": 1,
            "carol": 1 if other == "append" else 0,
        }
    finally:
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
        thread = await storage.threads.create_thread("alice", "t")
        await storage.runs.start_run(
            RunRecord("r-dup", "alice", thread.thread_id, "a", "running", 1.0)
        )
        outcomes: dict[str, str] = {}

        async def start(run_id: str) -> None:
            try:
                await storage.runs.start_run(
                    RunRecord(run_id, "alice", thread.thread_id, "a", "running", 1.0)
                )
                outcomes[run_id] = "stored"
            except StorageError:
                outcomes[run_id] = "refused"

        async def message(n: int) -> None:
            await storage.threads.append_message(thread.thread_id, "user", f"m{n}")
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
        assert len(await storage.threads.thread_messages(thread.thread_id)) == 20
        runs = [await storage.runs.get_run(f"r-{n}") for n in range(20) if n != 10]
        assert all(r is not None for r in runs)
    finally:
        await storage.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (20,)
    finally:
        db.close()


async def test_a_refused_event_batch_in_a_shared_commit_fails_alone_and_whole(
    tmp_path: Path,
) -> None:
    """Event batches queued among other writes share their commit: a batch with
    a taken seq (of one statement, or split over several) leaves nothing of
    itself behind and takes nothing else down with it."""
    path = tmp_path / "netra.db"
    storage = await SqliteStorage.open(path)
    try:
        thread = await storage.threads.create_thread("alice", "t")
        await storage.events.append(_events("alice", [1]))  # keys known, age pruned once
        await storage.events.last_seqs(["bob", "carol"])
        release = threading.Event()
        outcomes: dict[str, str] = {}

        async def append(tag: str, batch: list[StoredEvent]) -> None:
            try:
                await storage.events.append(batch)
                outcomes[tag] = "stored"
            except StorageError:
                outcomes[tag] = "refused"

        async def message(tag: str) -> None:
            await storage.threads.append_message(thread.thread_id, "user", tag)
            outcomes[tag] = "stored"

        big = [_event("carol", seq) for seq in range(1, 1501)]
        calls = [
            partial(append, "alice 2-3", _events("alice", [2, 3])),
            partial(message, "m1"),
            partial(append, "bob 1 + alice 3", [_event("bob", 1), _event("alice", 3)]),
            partial(message, "m2"),
            partial(append, "carol 1-1500 + alice 1", [*big, _event("alice", 1)]),
            partial(append, "bob 1-2", _events("bob", [1, 2])),
            partial(message, "m3"),
        ]
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                # the worker is held, so that the writes are all queued when it gets to them
                nursery.start_soon(partial(storage.database.call, release.wait, grouped=False))
                await trio.testing.wait_all_tasks_blocked()
                for call in calls:
                    nursery.start_soon(call)
                    await trio.testing.wait_all_tasks_blocked()  # queued in this order
                release.set()
        assert outcomes == {
            "alice 2-3": "stored",
            "m1": "stored",
            "bob 1 + alice 3": "refused",
            "m2": "stored",
            "carol 1-1500 + alice 1": "refused",
            "bob 1-2": "stored",
            "m3": "stored",
        }
    finally:
        await storage.close()
    storage = await SqliteStorage.open(path)
    try:
        assert await storage.events.last_seqs(["alice", "bob", "carol"]) == {
            "alice": 3,
            "bob": 2,
            "carol": 0,
        }
        assert await _seqs(storage, "alice") == [1, 2, 3]
        assert await _seqs(storage, "bob") == [1, 2]
        assert await storage.events.events_after("carol", 0) == []
        messages = await storage.threads.thread_messages(thread.thread_id)
        assert [m.content for m in messages] == ["m1", "m2", "m3"]
    finally:
        await storage.close()


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
        thread = await storage.threads.create_thread("alice", "t")
        blocker.execute("BEGIN IMMEDIATE")
        outcomes: list[str] = []

        async def write(n: int) -> None:
            try:
                await storage.threads.append_message(thread.thread_id, "user", f"m{n}")
                outcomes.append(f"m{n} stored")
            except StorageError:
                outcomes.append(f"m{n} failed")

        async def read() -> None:
            try:
                found = await storage.threads.get_thread(thread.thread_id)
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
