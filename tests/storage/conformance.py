"""The one conformance check every Storage backend must pass."""

from __future__ import annotations

import time

import pytest

from netra_trio.storage.base import NewEvent, RunRecord, Storage, StorageError


def _event(user: str, kind: str, run_id: str | None = None) -> NewEvent:
    return NewEvent(user, kind, run_id, "t", lambda seq: f'{{"type":"{kind}","seq":{seq}}}')


async def check_storage(storage: Storage) -> None:
    # threads belong to their user and list newest first
    first = await storage.create_thread("alice", "first")
    second = await storage.create_thread("alice", "second")
    other = await storage.create_thread("bob", "bob's")
    assert (await storage.get_thread(first.thread_id)) == first
    assert await storage.get_thread("t-missing") is None
    await storage.append_message(first.thread_id, "user", "hello")
    listed = await storage.list_threads("alice")
    assert [t.thread_id for t in listed] == [first.thread_id, second.thread_id]
    assert [t.thread_id for t in await storage.list_threads("bob")] == [other.thread_id]
    assert len(await storage.list_threads("alice", limit=1)) == 1

    # messages keep their order; limit keeps the latest
    await storage.append_message(first.thread_id, "assistant", "hi there", run_id="r-1")
    await storage.append_message(first.thread_id, "user", "more")
    messages = await storage.thread_messages(first.thread_id)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "hello"),
        ("assistant", "hi there"),
        ("user", "more"),
    ]
    assert messages[1].run_id == "r-1"
    assert [m.content for m in await storage.thread_messages(first.thread_id, limit=2)] == [
        "hi there",
        "more",
    ]
    assert await storage.thread_messages(second.thread_id) == []

    # a message for a thread that does not exist fails whole
    with pytest.raises(StorageError):
        await storage.append_message("t-missing", "user", "lost")
    with pytest.raises(StorageError):
        await storage.append_message(first.thread_id, "system", "bad role")
    assert len(await storage.thread_messages(first.thread_id)) == 3

    # runs
    run = RunRecord("r-1", "alice", first.thread_id, "supervisor", "running", time.time())
    await storage.start_run(run)
    assert (await storage.get_run("r-1")) == run
    await storage.finish_run("r-1", "success", agents=["supervisor", "triage"])
    done = await storage.get_run("r-1")
    assert done is not None and done.status == "success"
    assert done.agents == ("supervisor", "triage") and done.ended_at is not None
    await storage.start_run(
        RunRecord("r-2", "alice", first.thread_id, "triage", "running", time.time())
    )
    interrupted = await storage.interrupt_running_runs()
    assert [r.run_id for r in interrupted] == ["r-2"]
    again = await storage.get_run("r-2")
    assert again is not None and again.status == "interrupted"
    assert await storage.interrupt_running_runs() == []

    # the event log: seq per user, strictly increasing, frames rendered with their seq
    assert await storage.last_seq("alice") == 0
    stored = await storage.append_events(
        [_event("alice", "a"), _event("bob", "b"), _event("alice", "c")]
    )
    assert [(e.user_id, e.seq) for e in stored] == [("alice", 1), ("bob", 1), ("alice", 2)]
    assert stored[2].frame == '{"type":"c","seq":2}'
    more = await storage.append_events([_event("alice", "d", "r-9")])
    assert more[0].seq == 3
    assert await storage.last_seq("alice") == 3
    after = await storage.events_after("alice", 1)
    assert [(e.seq, e.type) for e in after] == [(2, "c"), (3, "d")]
    assert after[1].run_id == "r-9"
    assert [e.seq for e in await storage.events_after("alice", 0, limit=2)] == [1, 2]
    assert [e.seq for e in await storage.events_after("bob", 0)] == [1]
    assert await storage.events_after("carol", 0) == []
