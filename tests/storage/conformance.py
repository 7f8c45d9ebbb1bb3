"""The conformance checks every storage backend must pass: one per store.

Each check takes store objects only (see ``netra_trio.storage.base``), so that
any backend's stores can be run through it; :func:`check_storage` runs all four
on one backend. They expect fresh stores (nothing stored yet) and the default
retention. Retention and several writers of the event log:
``conformance_event_log.py``. No check uses a backend's SQL.
"""

from __future__ import annotations

import time

import pytest

from netra_trio.storage.base import (
    EventStore,
    RunStore,
    SeqConflict,
    SessionStore,
    Storage,
    StorageError,
    ThreadStore,
)
from netra_trio.storage.records import ReplayWindow, RunRecord, SessionRecord, StoredEvent


async def check_storage(storage: Storage) -> None:
    await check_thread_store(storage.threads)
    await check_run_store(storage.runs, storage.threads)
    await check_event_store(storage.events)
    await check_session_store(storage.sessions)
    await check_run_endings(storage)


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


async def check_run_endings(storage: Storage) -> None:
    """Which runs have their terminal event in the event log, and which ended
    without it (the users here have no other runs in the storage)."""
    runs, events = storage.runs, storage.events
    thread = await storage.threads.create_thread("erin", "endings")
    now = time.time()
    seqs = await events.last_seqs(["erin", "frank"])

    async def run(run_id: str, user: str, started_at: float, *kinds: str) -> RunRecord:
        record = RunRecord(run_id, user, thread.thread_id, "supervisor", "running", started_at)
        await runs.start_run(record)
        for kind in kinds:
            seqs[user] += 1
            await events.append([_event(user, seqs[user], kind, run_id)])
        return record

    def mine(found: list[RunRecord]) -> list[str]:
        return [r.run_id for r in found if r.user_id in seqs]

    await run("re-running", "erin", now - 60, "agent_started")  # still running
    # ended in error, its ending not stored (its store failed)
    await run("re-lost", "erin", now - 50, "agent_started", "agent_thinking")
    await runs.finish_run("re-lost", "error", error_code="STORAGE")
    # ended with its ending stored: as an error, and as a success
    await run("re-failed", "erin", now - 40, "agent_started", "agent_error")
    await runs.finish_run("re-failed", "error", error_code="AGENT_CRASHED")
    await run("re-done", "frank", now - 30, "agent_started", "agent_completed")
    await runs.finish_run("re-done", "success")
    # cut off by a crash before any of its events was stored, and interrupted at the next start
    cut_off = await run("re-cut", "frank", now - 20)
    assert await runs.interrupt_running_runs(keep={"re-running"}) == [cut_off]
    # long ago
    await run("re-old", "frank", now - 10_000, "agent_started")
    await runs.finish_run("re-old", "error", error_code="STORAGE")

    assert await runs.ending_stored("re-failed") and await runs.ending_stored("re-done")
    for run_id in ("re-lost", "re-running", "re-cut", "re-unknown"):  # (agent_thinking is not one)
        assert not await runs.ending_stored(run_id)
    without = await runs.runs_without_ending()
    assert mine(without) == ["re-old", "re-lost", "re-cut"]  # oldest first
    lost = next(r for r in without if r.run_id == "re-lost")
    assert (lost.status, lost.error_code, lost.user_id) == ("error", "STORAGE", "erin")
    assert mine(await runs.runs_without_ending(started_after=now - 100)) == ["re-lost", "re-cut"]
    assert mine(await runs.runs_without_ending(started_after=now)) == []

    # its ending stored now (the next start does it): it is no longer one
    seqs["erin"] += 1
    await events.append([_event("erin", seqs["erin"], "agent_error", "re-lost")])
    assert await runs.ending_stored("re-lost")
    assert mine(await runs.runs_without_ending()) == ["re-old", "re-cut"]


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

    # touch moves only the activity and counts the sessions stored; an unknown
    # session is no error and stays unknown
    assert await store.touch_sessions(["s-2"], 170.0) == 1
    touched = SessionRecord("s-2", "alice", 90.0, 170.0, b"nonce-2", b"sealed-2")
    assert await store.get_session("s-2") == touched
    assert await store.user_sessions("alice") == [resealed, touched]
    assert await store.touch_sessions(["s-missing"], 1.0) == 0
    assert await store.get_session("s-missing") is None
    assert await store.touch_sessions(["s-1", "s-2", "s-missing"], 175.0) == 2  # several
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

    # delete of sessions idle through a time: one active after it stays
    await store.delete_sessions(["s-1", "s-2"], idle_through=165.0)
    assert await store.get_session("s-1") is None  # 160: idle through 165
    assert await store.get_session("s-2") == touched  # 170: touched since
    await store.put_session(resealed)

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
