"""The conformance checks every storage backend must pass: one per store.

Each check takes store objects only (see ``netra_trio.storage.base``), so that
any backend's stores can be run through it; :func:`check_storage` runs all four
on one backend. They expect fresh stores (nothing stored yet) and the default
retention.

The checks of retention and of several writers take an :data:`OpenStorage`
instead: each call opens another storage (another process, or another
machine) on the same, initially empty, database, with the given retention. The
check closes what it opens. No check uses a backend's SQL.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Iterable

import pytest
import trio

from netra_trio.storage.age_pruning import INTERVAL_S, PASS_ROWS
from netra_trio.storage.base import (
    EventStore,
    RunStore,
    SeqConflict,
    SessionStore,
    Storage,
    StorageError,
    ThreadStore,
)
from netra_trio.storage.records import (
    ReplayWindow,
    Retention,
    RunRecord,
    SessionRecord,
    StoredEvent,
)

# Opens another storage on the test's database, with this retention.
OpenStorage = Callable[[Retention], Awaitable[Storage]]


async def check_storage(storage: Storage) -> None:
    await check_thread_store(storage.threads)
    await check_run_store(storage.runs, storage.threads)
    await check_event_store(storage.events)
    await check_session_store(storage.sessions)


# -- threads and messages ---------------------------------------------------------------


async def check_thread_store(store: ThreadStore) -> None:
    # threads belong to their user and list newest first
    first = await store.create_thread("alice", "first")
    second = await store.create_thread("alice", "second")
    other = await store.create_thread("bob", "bob's")
    assert (first.user_id, first.title) == ("alice", "first")
    assert len({first.thread_id, second.thread_id, other.thread_id}) == 3
    assert (await store.get_thread(first.thread_id)) == first
    assert await store.get_thread("t-missing") is None
    hello = await store.append_message(first.thread_id, "user", "hello")
    listed = await store.list_threads("alice")
    assert [t.thread_id for t in listed] == [first.thread_id, second.thread_id]
    assert listed[0].updated_at >= first.updated_at  # a message moves its thread up
    assert [t.thread_id for t in await store.list_threads("bob")] == [other.thread_id]
    assert [t.thread_id for t in await store.list_threads("alice", limit=1)] == [first.thread_id]
    assert await store.list_threads("nobody") == []

    # a thread id can be chosen; a taken one is refused and the thread kept as it was
    named = await store.create_thread("carol", "named", thread_id="t-named")
    assert named.thread_id == "t-named"
    assert await store.get_thread("t-named") == named
    with pytest.raises(StorageError):
        await store.create_thread("dave", "taken", thread_id="t-named")
    assert await store.get_thread("t-named") == named
    assert await store.list_threads("dave") == []

    # messages keep their order and read back as they were stored; limit keeps the latest
    answer = await store.append_message(
        first.thread_id, "assistant", "hi there", run_id="r-1", message_id="m-answer"
    )
    assert (answer.message_id, answer.thread_id, answer.run_id) == (
        "m-answer",
        first.thread_id,
        "r-1",
    )
    more = await store.append_message(first.thread_id, "user", "more")
    assert hello.run_id is None
    assert len({hello.message_id, answer.message_id, more.message_id}) == 3
    messages = await store.thread_messages(first.thread_id)
    assert messages == [hello, answer, more]
    assert [(m.role, m.content) for m in messages] == [
        ("user", "hello"),
        ("assistant", "hi there"),
        ("user", "more"),
    ]
    assert messages[1].run_id == "r-1"
    assert await store.thread_messages(first.thread_id, limit=2) == [answer, more]
    assert await store.thread_messages(first.thread_id, limit=10) == messages
    assert await store.thread_messages(second.thread_id) == []
    assert await store.thread_messages("t-missing") == []

    # a message that cannot be stored fails whole: unknown thread, bad role, taken id
    with pytest.raises(StorageError):
        await store.append_message("t-missing", "user", "lost")
    with pytest.raises(StorageError):
        await store.append_message(first.thread_id, "system", "bad role")
    with pytest.raises(StorageError):
        await store.append_message(first.thread_id, "user", "again", message_id="m-answer")
    assert await store.thread_messages(first.thread_id) == messages
    assert await store.thread_messages("t-missing") == []


# -- runs ---------------------------------------------------------------------------------


async def check_run_store(runs: RunStore, threads: ThreadStore) -> None:
    """``threads`` gives the thread that the runs belong to."""
    thread = await threads.create_thread("alice", "runs")
    assert await runs.get_run("r-1") is None
    run = RunRecord("r-1", "alice", thread.thread_id, "supervisor", "running", time.time())
    await runs.start_run(run)
    assert (await runs.get_run("r-1")) == run
    await runs.finish_run("r-1", "success", agents=["supervisor", "triage"])
    done = await runs.get_run("r-1")
    assert done is not None and done.status == "success"
    assert done.agents == ("supervisor", "triage") and done.ended_at is not None
    assert done.ended_at >= run.started_at and done.error_code is None
    assert (done.run_id, done.user_id, done.thread_id, done.agent, done.started_at) == (
        "r-1",
        "alice",
        thread.thread_id,
        "supervisor",
        run.started_at,
    )

    # an error keeps its code
    failing = RunRecord("r-err", "alice", thread.thread_id, "triage", "running", time.time())
    await runs.start_run(failing)
    await runs.finish_run("r-err", "error", error_code="agent_failed")
    failed = await runs.get_run("r-err")
    assert failed is not None
    assert (failed.status, failed.error_code, failed.agents) == ("error", "agent_failed", ())

    # a run that cannot be stored fails whole: taken id, unknown thread
    with pytest.raises(StorageError):
        await runs.start_run(
            RunRecord("r-1", "bob", thread.thread_id, "other", "running", time.time())
        )
    assert await runs.get_run("r-1") == done
    with pytest.raises(StorageError):
        await runs.start_run(
            RunRecord("r-lost", "alice", "t-missing", "supervisor", "running", time.time())
        )
    assert await runs.get_run("r-lost") is None

    # after a crash: every run still running is interrupted, and returned as it was
    second = RunRecord(
        "r-2", "alice", thread.thread_id, "triage", "running", time.time(), agents=("triage",)
    )
    third = RunRecord("r-3", "bob", thread.thread_id, "supervisor", "running", time.time())
    fourth = RunRecord("r-4", "bob", thread.thread_id, "supervisor", "running", time.time())
    await runs.start_run(second)
    await runs.start_run(third)
    await runs.start_run(fourth)
    running = await runs.running_runs()
    assert sorted(running, key=lambda r: r.run_id) == [second, third, fourth]
    # (a run alive on another process of a cluster is kept)
    interrupted = await runs.interrupt_running_runs(keep={"r-4", "r-unknown"})
    assert sorted(interrupted, key=lambda r: r.run_id) == [second, third]
    for run_id in ("r-2", "r-3"):
        again = await runs.get_run(run_id)
        assert again is not None and again.status == "interrupted" and again.ended_at is not None
    assert await runs.get_run("r-1") == done  # finished runs are left alone
    assert await runs.get_run("r-err") == failed
    assert await runs.running_runs() == [fourth]
    assert await runs.interrupt_running_runs() == [fourth]
    assert await runs.interrupt_running_runs() == []


# -- the event log ------------------------------------------------------------------------


def _event(
    user: str,
    seq: int,
    kind: str = "agent_thinking",
    run_id: str | None = None,
    *,
    thread_id: str | None = "t",
) -> StoredEvent:
    """A row as the event log hands it to the store: numbered, its frame rendered."""
    frame = f'{{"type":"{kind}","seq":{seq},"user":"{user}"}}'
    return StoredEvent(user, seq, kind, run_id, thread_id, frame, time.time())


async def check_event_store(store: EventStore) -> None:
    # nothing stored: every user's last seq is 0
    assert await store.last_seqs([]) == {}
    assert await store.last_seqs(["alice", "bob"]) == {"alice": 0, "bob": 0}
    assert await store.replay_window("alice") == ReplayWindow(0, 0)
    assert await store.events_after("alice", 0) == []
    await store.append([])  # nothing to store is not an error

    # rows are stored as given and read back per user, in seq order
    batch = [_event("alice", 1, "a"), _event("bob", 1, "b"), _event("alice", 2, "c")]
    await store.append(batch)
    assert await store.events_after("alice", 0) == [batch[0], batch[2]]
    assert await store.events_after("bob", 0) == [batch[1]]
    assert await store.last_seqs(["alice", "bob", "carol"]) == {"alice": 2, "bob": 1, "carol": 0}
    assert await store.replay_window("alice") == ReplayWindow(0, 2)
    assert await store.replay_window("bob") == ReplayWindow(0, 1)

    more = [_event("alice", 3, "d", "r-9", thread_id=None)]
    await store.append(more)
    assert await store.last_seqs(["alice"]) == {"alice": 3}
    after = await store.events_after("alice", 1)
    assert [(e.seq, e.type) for e in after] == [(2, "c"), (3, "d")]
    assert after[1] == more[0]
    assert (after[1].run_id, after[1].thread_id) == ("r-9", None)
    assert [e.seq for e in await store.events_after("bob", 0)] == [1]
    assert await store.events_after("carol", 0) == []

    # users' batches interleave; each user's events come back in order, from
    # after the given seq, at most ``limit`` of them
    for seq in range(4, 9):
        await store.append([_event("bob", seq - 2), _event("alice", seq), _event("dave", seq - 3)])
    assert [e.seq for e in await store.events_after("alice", 0)] == list(range(1, 9))
    assert [e.seq for e in await store.events_after("alice", 0, limit=2)] == [1, 2]
    assert [e.seq for e in await store.events_after("alice", 3, limit=3)] == [4, 5, 6]
    assert [e.seq for e in await store.events_after("alice", 6, limit=100)] == [7, 8]
    assert await store.events_after("alice", 8) == []
    assert await store.events_after("alice", 100) == []
    assert [e.seq for e in await store.events_after("bob", 0)] == list(range(1, 7))
    assert [e.seq for e in await store.events_after("dave", 2)] == [3, 4, 5]
    assert {e.user_id for e in await store.events_after("dave", 0)} == {"dave"}
    assert await store.last_seqs(["alice", "bob", "dave"]) == {"alice": 8, "bob": 6, "dave": 5}
    assert await store.replay_window("dave") == ReplayWindow(0, 5)
    stored_before = {u: await store.events_after(u, 0) for u in ("alice", "bob", "dave")}

    # an event whose (user, seq) is stored already fails its whole batch: nothing of
    # it is stored, whether the taken seq comes first, last, or twice in the batch
    refused_batches = [
        [_event("alice", 8, "dup"), _event("bob", 7), _event("erin", 1)],
        [_event("bob", 7), _event("erin", 1), _event("dave", 5, "dup")],
        [_event("erin", 1), _event("erin", 2), _event("erin", 1, "dup")],
    ]
    for refused in refused_batches:
        with pytest.raises(SeqConflict):
            await store.append(refused)
        assert await store.last_seqs(["alice", "bob", "dave", "erin"]) == {
            "alice": 8,
            "bob": 6,
            "dave": 5,
            "erin": 0,
        }
        assert {u: await store.events_after(u, 0) for u in stored_before} == stored_before
        assert await store.events_after("erin", 0) == []
        assert await store.replay_window("erin") == ReplayWindow(0, 0)

    # and the store goes on: the next seqs are stored
    going_on = [_event("bob", 7), _event("erin", 1), _event("alice", 9)]
    await store.append(going_on)
    assert await store.last_seqs(["alice", "bob", "erin"]) == {"alice": 9, "bob": 7, "erin": 1}
    assert await store.events_after("alice", 8) == [going_on[2]]
    assert await store.events_after("erin", 0) == [going_on[1]]


# -- sessions -----------------------------------------------------------------------------


async def check_session_store(store: SessionStore) -> None:
    assert await store.get_session("s-missing") is None
    assert await store.user_sessions("alice") == []
    assert await store.oldest_session_activity() is None
    assert await store.sessions_idle_since(1e12) == []

    # rows read back byte for byte; a user's sessions come least recently active first
    first = SessionRecord("s-1", "alice", 100.0, 150.0, b"\x00nonce-1\xff", b"\x00\x01sealed\xfe")
    older = SessionRecord("s-2", "alice", 90.0, 120.0, b"nonce-2", b"sealed-2")
    bobs = SessionRecord("s-3", "bob", 80.0, 200.0, b"nonce-3", b"")
    for record in (first, older, bobs):
        await store.put_session(record)
    assert await store.get_session("s-1") == first
    assert await store.get_session("s-3") == bobs
    assert await store.user_sessions("alice") == [older, first]
    assert await store.user_sessions("bob") == [bobs]
    assert await store.user_sessions("carol") == []

    # put again: the row is replaced (new activity, nonce and data), not added
    resealed = SessionRecord("s-1", "alice", 100.0, 160.0, b"nonce-1b", b"sealed-1b")
    await store.put_session(resealed)
    assert await store.get_session("s-1") == resealed
    assert await store.user_sessions("alice") == [older, resealed]

    # touch moves only the activity; an unknown session is no error and stays unknown
    await store.touch_sessions(["s-2"], 170.0)
    touched = SessionRecord("s-2", "alice", 90.0, 170.0, b"nonce-2", b"sealed-2")
    assert await store.get_session("s-2") == touched
    assert await store.user_sessions("alice") == [resealed, touched]
    await store.touch_sessions(["s-missing"], 1.0)
    assert await store.get_session("s-missing") is None
    await store.touch_sessions(["s-1", "s-2"], 175.0)  # several at once
    assert [s.last_active for s in await store.user_sessions("alice")] == [175.0, 175.0]
    await store.touch_sessions(["s-1"], 160.0)
    await store.touch_sessions(["s-2"], 170.0)

    # idle since a cutoff: activity at or before it, least recently active first
    assert await store.sessions_idle_since(159.0) == []
    assert await store.sessions_idle_since(160.0) == [resealed]
    assert await store.sessions_idle_since(180.0) == [resealed, touched]
    assert await store.sessions_idle_since(1e12) == [resealed, touched, bobs]

    # the oldest activity, leaving out the sessions in use
    assert await store.oldest_session_activity() == 160.0
    assert await store.oldest_session_activity(exclude=["s-1"]) == 170.0
    assert await store.oldest_session_activity(exclude=["s-1", "s-2", "s-missing"]) == 200.0
    assert await store.oldest_session_activity(exclude=["s-1", "s-2", "s-3"]) is None

    # delete: the given sessions go (unknown ones are no error), the rest stay
    await store.delete_sessions([])
    await store.delete_sessions(["s-1", "s-missing"])
    assert await store.get_session("s-1") is None
    assert await store.user_sessions("alice") == [touched]
    assert await store.get_session("s-3") == bobs
    assert await store.oldest_session_activity() == 170.0
    await store.delete_sessions(["s-2", "s-3"])
    assert await store.user_sessions("alice") == []
    assert await store.sessions_idle_since(1e12) == []
    assert await store.oldest_session_activity() is None


# -- retention ----------------------------------------------------------------------------


def _events(
    user: str, seqs: Iterable[int], *, created_at: float | None = None
) -> list[StoredEvent]:
    """``user``'s rows with the given seqs, in that order (made now, unless
    ``created_at`` is given)."""
    made = time.time() if created_at is None else created_at
    return [
        StoredEvent(user, seq, "agent_thinking", "r", "t", f'{{"seq":{seq}}}', made) for seq in seqs
    ]


async def _seqs(store: EventStore, user: str) -> list[int]:
    """The seqs of ``user``'s stored events."""
    return [e.seq for e in await store.events_after(user, 0, limit=100_000)]


async def check_retention_by_count(open_storage: OpenStorage) -> None:
    """Each user keeps the last ``max_events`` of its events; the ones pushed
    out go with the append that pushes them out, and ``pruned_through``
    follows. A refused batch drops nothing. The count is the appending
    storage's own."""
    storage = await open_storage(Retention(max_events=3, max_age_s=3600))
    try:
        store = storage.events
        await store.append(_events("alice", range(1, 5)))  # a batch bigger than the count
        assert await _seqs(store, "alice") == [2, 3, 4]
        assert await store.replay_window("alice") == ReplayWindow(1, 4)
        await store.append([*_events("alice", [5]), *_events("bob", [1])])
        assert await _seqs(store, "alice") == [3, 4, 5]
        assert await store.replay_window("alice") == ReplayWindow(2, 5)
        assert await store.replay_window("bob") == ReplayWindow(0, 1)
        assert await store.last_seqs(["alice", "bob"]) == {"alice": 5, "bob": 1}  # seqs stay
        for seq in (6, 7, 8):  # one at a time: each pushes out the oldest
            await store.append(_events("alice", [seq]))
            assert await _seqs(store, "alice") == [seq - 2, seq - 1, seq]
            assert await store.replay_window("alice") == ReplayWindow(seq - 3, seq)

        # a batch far bigger than the count: only its last events are kept
        carol = _events("carol", range(1, 11))
        await store.append(carol)
        assert await store.events_after("carol", 0) == carol[7:]  # the rows as given
        assert await store.replay_window("carol") == ReplayWindow(7, 10)

        # a refused batch (bob's seq 1 is taken) drops nothing, prunes nothing
        kept = {user: await store.events_after(user, 0) for user in ("alice", "bob", "carol")}
        with pytest.raises(SeqConflict):
            await store.append([*_events("alice", range(9, 16)), *_events("bob", [1])])
        assert {user: await store.events_after(user, 0) for user in kept} == kept
        assert await store.replay_window("alice") == ReplayWindow(5, 8)
        assert await store.last_seqs(["alice", "bob"]) == {"alice": 8, "bob": 1}

        # users interleaved in one batch: each keeps a window of its own
        mixed = [
            *_events("alice", [9]),
            *_events("carol", [11]),
            *_events("alice", [10]),
            *_events("dave", [1]),
            *_events("alice", [11]),
        ]
        await store.append(mixed)
        assert await _seqs(store, "alice") == [9, 10, 11]
        assert await _seqs(store, "carol") == [9, 10, 11]
        assert await _seqs(store, "dave") == [1]
        assert await store.replay_window("alice") == ReplayWindow(8, 11)
        assert await store.replay_window("carol") == ReplayWindow(8, 11)
        assert await store.replay_window("dave") == ReplayWindow(0, 1)
        assert await _seqs(store, "bob") == [1]
    finally:
        await storage.close()

    # large batches, and another storage's count (another process's configuration)
    storage = await open_storage(Retention(max_events=50, max_age_s=3600))
    try:
        store = storage.events
        interleaved = [
            e for seq in range(1, 1501) for e in _events("erin", [seq]) + _events("frank", [seq])
        ]
        await store.append(interleaved)  # 3000 rows
        assert await _seqs(store, "erin") == list(range(1451, 1501))
        assert await store.replay_window("erin") == ReplayWindow(1450, 1500)
        await store.append(_events("erin", range(1501, 1508)))
        assert await _seqs(store, "erin") == list(range(1458, 1508))
        assert await store.replay_window("erin") == ReplayWindow(1457, 1507)
        assert await _seqs(store, "frank") == list(range(1451, 1501))  # not written to since
        assert await store.replay_window("frank") == ReplayWindow(1450, 1500)
        # alice's window was cut at 3 by the other storage; at 50 nothing more goes
        await store.append(_events("alice", [12]))
        assert await _seqs(store, "alice") == [9, 10, 11, 12]
        assert await store.replay_window("alice") == ReplayWindow(8, 12)
        await store.append(_events("grace", range(1, 51)))  # exactly the count: all kept
        assert await _seqs(store, "grace") == list(range(1, 51))
        assert await store.replay_window("grace") == ReplayWindow(0, 50)
        await store.append(_events("grace", [51]))
        assert await _seqs(store, "grace") == list(range(2, 52))
        assert await store.replay_window("grace") == ReplayWindow(1, 51)
    finally:
        await storage.close()


async def check_retention_by_age(open_storage: OpenStorage) -> None:
    """Events created more than ``max_age_s`` ago are dropped with appends:
    the first pass with a storage's first append, at most ``PASS_ROWS`` of
    them per pass, oldest first; while some are left the next append goes on;
    otherwise a storage passes again only after ``INTERVAL_S``. Each user's
    ``pruned_through`` follows; its last seq stays."""
    old = time.time() - 7200  # max_age_s is 3600
    carol_old = [  # the oldest of all
        StoredEvent("carol", seq, "agent_thinking", "r", "t", "{}", old - 1000 + seq * 0.01)
        for seq in range(1, 1501)
    ]
    alice_old = [
        StoredEvent("alice", seq, "agent_thinking", "r", "t", "{}", old + seq * 0.01)
        for seq in range(1, 3001)
    ]
    storage = await open_storage(Retention(max_events=10_000, max_age_s=3600))
    try:
        store = storage.events
        # the first append: the first pass drops PASS_ROWS, the oldest
        first = [*alice_old[:1000], *carol_old, *alice_old[1000:]]
        await store.append([*first, *_events("alice", range(3001, 3006)), *_events("bob", [1])])
        assert PASS_ROWS == 2000  # the numbers below are worked out for this
        assert await store.events_after("carol", 0) == []
        assert await store.replay_window("carol") == ReplayWindow(1500, 1500)
        assert (await store.events_after("alice", 0, limit=1))[0].seq == 501
        assert await store.replay_window("alice") == ReplayWindow(500, 3005)

        # some were left: the next append goes on with them, a bounded piece again
        await store.append(_events("bob", [2]))
        assert (await store.events_after("alice", 0, limit=1))[0].seq == 2501
        assert await store.replay_window("alice") == ReplayWindow(2500, 3005)
        before_last_pass = time.time()
        await store.append(_events("bob", [3]))
        assert await _seqs(store, "alice") == [3001, 3002, 3003, 3004, 3005]
        assert await store.replay_window("alice") == ReplayWindow(3000, 3005)
        assert await store.last_seqs(["alice", "carol"]) == {"alice": 3005, "carol": 1500}
        assert await _seqs(store, "bob") == [1, 2, 3]  # recent: kept
        assert await store.replay_window("bob") == ReplayWindow(0, 3)

        # none left: this storage's next pass is a second away
        await store.append(_events("dave", range(1, 6), created_at=old))
        if time.time() < before_last_pass + INTERVAL_S:  # (always, but on a stalled machine)
            assert await _seqs(store, "dave") == [1, 2, 3, 4, 5]
            assert await store.replay_window("dave") == ReplayWindow(0, 5)
    finally:
        await storage.close()

    # another storage (another process) passes with its own first append
    storage = await open_storage(Retention(max_events=10_000, max_age_s=3600))
    try:
        store = storage.events
        await store.append(_events("bob", [4]))
        assert await store.events_after("dave", 0) == []
        assert await store.replay_window("dave") == ReplayWindow(5, 5)
        assert await store.last_seqs(["dave", "alice"]) == {"dave": 5, "alice": 3005}
        assert await _seqs(store, "alice") == [3001, 3002, 3003, 3004, 3005]
        assert await _seqs(store, "bob") == [1, 2, 3, 4]
    finally:
        await storage.close()


# -- several writers ----------------------------------------------------------------------


async def check_concurrent_writers(
    open_storage: OpenStorage, *, machines: int = 3, batches: int = 30
) -> None:
    """Several storages on one database (processes of a cluster, on several
    machines) append for the same users at once, each numbering its batches
    from the last seqs it knows, the way the event log does. Every append
    lands or is refused whole with :class:`SeqConflict`, and then the batch
    is numbered again from the stored last seqs. In the end each user's
    stored events are exactly those that landed, seqs 1..N."""
    users = ["u-a", "u-b", "u-c", "u-d"]
    storages = []
    try:
        for _ in range(machines):
            storages.append(await open_storage(Retention()))
        landed: dict[str, dict[int, str]] = {user: {} for user in users}
        conflicts = 0
        numbered_from_zero = 0
        all_read = trio.Event()

        async def machine(number: int, store: EventStore) -> None:
            nonlocal conflicts, numbered_from_zero
            rng = random.Random(number)
            known = await store.last_seqs(users)
            numbered_from_zero += 1
            if numbered_from_zero == machines:
                all_read.set()
            await all_read.wait()  # every machine numbers its first batch from seq 0
            for batch_number in range(batches):
                # the first batch has every user: all machines meet on seq 1
                chosen = users if batch_number == 0 else rng.sample(users, rng.randint(1, 4))
                plan = [user for user in chosen for _ in range(rng.randint(1, 3))]
                rng.shuffle(plan)
                for attempt in range(200):
                    missing = [user for user in set(plan) if user not in known]
                    if missing:
                        known.update(await store.last_seqs(missing))
                    seqs = dict(known)
                    batch = []
                    for user in plan:
                        seqs[user] += 1
                        frame = (
                            f'{{"m":{number},"b":{batch_number},"a":{attempt},"seq":{seqs[user]}}}'
                        )
                        batch.append(
                            StoredEvent(
                                user, seqs[user], "agent_thinking", None, None, frame, time.time()
                            )
                        )
                    try:
                        await store.append(batch)
                    except SeqConflict:  # any other error fails the check
                        conflicts += 1
                        for user in plan:  # read again what is stored now
                            known.pop(user, None)
                        await trio.sleep(rng.uniform(0, 0.002))
                        continue
                    known = seqs
                    for event in batch:
                        assert event.seq not in landed[event.user_id]
                        landed[event.user_id][event.seq] = event.frame
                    break
                else:
                    raise AssertionError(f"machine {number}'s batch never landed")

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for number, storage in enumerate(storages):
                    nursery.start_soon(machine, number, storage.events)
        assert conflicts >= machines - 1  # at least on the first batch
        for storage in storages:  # every machine reads the same log
            store = storage.events
            last = await store.last_seqs(users)
            for user in users:
                stored = await store.events_after(user, 0, limit=100_000)
                count = len(landed[user])
                assert [e.seq for e in stored] == list(range(1, count + 1))
                assert [e.frame for e in stored] == [
                    landed[user][seq] for seq in range(1, count + 1)
                ]
                assert last[user] == count
                assert await store.replay_window(user) == ReplayWindow(0, count)
    finally:
        for storage in storages:
            await storage.close()
