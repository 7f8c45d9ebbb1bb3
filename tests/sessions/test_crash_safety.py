"""Crash safety: `kill -9` during agent runs loses nothing stored; cut-off runs are reported."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from netra_trio.client import NetraClient
from tests.databases import ServerDatabase
from tests.helpers import SECRET, SESSION_KEY, serve_subprocess
from tests.sessions.support import (
    WAIT_S,
    Frame,
    connect,
    next_id,
    request,
    session_state,
)

CONTENT = (
    "we send 2M requests/day to gpt-4o with 1.5k input and 300 output tokens, how do we cut cost?"
)
RUNS = 2
TERMINAL = ("agent_completed", "agent_error")


@asynccontextmanager
async def serve(
    database: ServerDatabase, stderr_path: Path
) -> AsyncIterator[tuple[trio.Process, str]]:
    """`netra-trio serve` as a subprocess on ``database``, its supervisor an agent that
    waits in a tool call for ever; its URL once it listens. Killed on exit."""
    args = [
        "--jwt-secret",
        SECRET,
        "--session-key",
        SESSION_KEY,
        "--database",
        database.value,
    ]
    async with serve_subprocess(
        args,
        cwd=database.workdir,
        stderr_path=stderr_path,
        timeout_s=WAIT_S,
        module="tests.sessions.waiting_server",
    ) as served:
        yield served


async def _until_tools_execute(client: NetraClient) -> list[Frame]:
    """Agent events until every run has sent a ``tool_executing``."""
    events: list[Frame] = []
    executing: set[str] = set()
    with trio.fail_after(WAIT_S):
        while len(executing) < RUNS:
            frame = await client.receive()
            if "seq" in frame:
                events.append(frame)
                if frame["type"] == "tool_executing":
                    executing.add(frame["run_id"])
    return events


async def _resume(client: NetraClient, last_seq: int) -> tuple[list[Frame], Frame]:
    message_id = next_id("resume")
    await client.send("resume", {"last_seq": last_seq}, message_id=message_id)
    replayed: list[Frame] = []
    with trio.fail_after(WAIT_S):
        while True:
            frame = await client.receive()
            if frame["type"] == "resume_complete":
                assert frame["correlation_id"] == message_id
                return replayed, frame
            if "seq" in frame:
                replayed.append(frame)


async def _run_statuses(db: ServerDatabase) -> dict[str, str]:
    return dict(await db.query("SELECT run_id, status FROM runs"))


async def test_kill_9_during_runs_keeps_what_was_stored(
    database: ServerDatabase, tmp_path: Path
) -> None:
    db = database
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"

    # -- before the crash ------------------------------------------------------------
    async with serve(db, first_log) as (process, url), connect(url, "alice") as client:
        session_id = client.established["session_id"]
        data = {"plan": "cut-costs", "step": 2}
        assert (await session_state(client, "session_update", {"data": data}))["data"] == data
        for _ in range(RUNS):
            await client.send("agent_request", {"content": CONTENT}, message_id=next_id("run"))
        live = await _until_tools_execute(client)
        process.kill()  # SIGKILL: no shutdown, no flush, no goodbye
        with trio.fail_after(WAIT_S):
            await process.wait()

    seen = live[-1]["seq"]
    assert [e["seq"] for e in live] == list(range(1, seen + 1))
    threads = {e["run_id"]: e["thread_id"] for e in live}
    assert len(threads) == RUNS and len(set(threads.values())) == RUNS
    assert not [e for e in live if e["type"] in TERMINAL]  # both runs were cut off
    # The crash left the runs 'running' and no terminal event stored.
    assert await _run_statuses(db) == dict.fromkeys(threads, "running")
    assert await db.query("SELECT count(*) FROM events WHERE type = 'agent_error'") == [(0,)]
    ((stored_through,),) = await db.query("SELECT max(seq) FROM events")
    assert stored_through >= seen  # every event was stored before it was sent

    # -- after the restart -----------------------------------------------------------
    async with (
        serve(db, second_log) as (process, url),
        connect(url, "alice", session_id=session_id) as client,
    ):
        assert client.established["session_id"] == session_id
        assert client.established["resumed"] is True

        replayed, done = await _resume(client, seen)
        assert [e["seq"] for e in replayed] == list(range(seen + 1, seen + 1 + len(replayed)))
        assert done["payload"] == {"replayed": len(replayed), "gap": False}
        # The rest of what was stored, then one INTERRUPTED agent_error per cut-off run, last.
        tail, rest = replayed[-RUNS:], replayed[:-RUNS]
        assert {e["run_id"] for e in tail} == set(threads)
        for event in tail:
            assert event["type"] == "agent_error", event
            assert event["payload"]["code"] == "INTERRUPTED", event
            assert event["payload"]["agent_name"] == "supervisor"
            assert event["thread_id"] == threads[event["run_id"]]
        assert all(e["run_id"] in threads and e["type"] not in TERMINAL for e in rest)

        # The stored log from the start is what was sent live, frame for frame.
        everything, done = await _resume(client, 0)
        assert everything[:seen] == live
        assert everything[seen:] == replayed
        assert done["payload"] == {"replayed": seen + len(replayed), "gap": False}

        state = await session_state(client, "session_get")
        assert state == {"session_id": session_id, "data": data}

        listed = await request(client, "list_threads")
        assert listed["type"] == "threads", listed
        assert {t["thread_id"] for t in listed["payload"]["threads"]} == set(threads.values())
        for thread_id in threads.values():
            history = await request(client, "get_thread_history", {"thread_id": thread_id})
            assert history["type"] == "thread_history", history
            messages = history["payload"]["messages"]
            assert [(m["role"], m["content"]) for m in messages] == [("user", CONTENT)]
        assert process.returncode is None  # the restarted server is still up

    statuses = await _run_statuses(db)
    assert statuses == dict.fromkeys(threads, "interrupted")
    ended = await db.query("SELECT ended_at FROM runs")
    assert all(row[0] is not None for row in ended)
    assert await db.query("SELECT count(*) FROM events WHERE type = 'agent_error'") == [(RUNS,)]
    log = await trio.Path(second_log).read_text()
    assert "runs_interrupted" in log and "Traceback" not in log, log
