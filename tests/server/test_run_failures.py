"""How runs end when they fail around the agent: past ``max_run_s``, and with
storage failing under them.

The time limit runs on the shell tier's virtual clock (a 30 s limit takes
milliseconds). Storage fails for real: a second ``sqlite3`` connection holds
the database file's write lock (``BEGIN EXCLUSIVE``) while the server's busy
timeout is short, so every write of the server fails until it lets go.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
import trio.testing

from netra_trio.agents.base import Agent, AgentResult, RunContext
from netra_trio.client import NetraClient, open_client
from netra_trio.server.app import Server
from netra_trio.storage.records import RunRecord
from tests.helpers import (
    DatabaseWriteLock,
    agents_with,
    giving_up_agent,
    logged_fields,
    start_server,
    token_for,
    wait_logged,
    waiting_agent,
)
from tests.server.harness import open_raw, running_hub, wait_until

WAIT_S = 10.0


# -- past max_run_s ---------------------------------------------------------------------


async def test_a_run_past_max_run_s_ends_with_timeout_and_is_recorded_as_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(max_run_s=30, agents=agents_with(supervisor=waiting_agent())) as (
        hub,
        nursery,
    ):
        client = await open_raw(hub, nursery, "alice", pump=True)
        started_at = trio.current_time()
        await client.send_json(
            {"type": "start_agent", "payload": {"agent": "supervisor", "input": "x"}}
        )
        events: list[dict[str, Any]] = []
        with trio.fail_after(60):  # virtual seconds
            while not events or events[-1]["type"] not in ("agent_completed", "agent_error"):
                events.append(await client.next_frame())
        elapsed = trio.current_time() - started_at
        assert [e["type"] for e in events] == [
            "agent_started",
            "agent_thinking",
            "tool_executing",
            "tool_completed",  # the tool never returned: closed by the run's end
            "agent_error",
        ]
        closed = events[3]["payload"]
        assert closed["tool_call_id"] == events[2]["payload"]["tool_call_id"]
        assert closed["status"] == "error"
        assert closed["result"] == {"error": "the run ended before the tool call finished"}
        assert events[-1]["payload"] == {
            "agent_name": "supervisor",
            "code": "TIMEOUT",
            "message": "the run took longer than the server allows",
        }
        assert 30 <= elapsed < 31
        user_hub = hub.users.get("alice")
        assert user_hub is not None
        await wait_until(lambda: user_hub.runs.active == ())  # recorded, then gone
        record = await hub.services.storage.runs.get_run(events[0]["run_id"])
        assert record is not None
        assert (record.status, record.error_code) == ("error", "TIMEOUT")
        assert record.ended_at is not None
        # the thread is free again: a new run on it is admitted
        await client.send_json(
            {
                "type": "start_agent",
                "payload": {"agent": "triage", "input": "2M requests/day on gpt-4o"},
                "thread_id": events[0]["thread_id"],
            }
        )
        with trio.fail_after(60):
            while (frame := await client.next_frame())["type"] != "agent_completed":
                assert frame["type"] != "error", frame
        assert frame["payload"]["status"] == "success"


# -- storage failing under a run --------------------------------------------------------


def fragile_agent(first: trio.Event, second: trio.Event) -> Agent:
    """Thinks once, waits for ``first``, thinks again (the test has storage
    failing by then), waits for ``second``, then thinks a third time."""

    async def agent(ctx: RunContext) -> AgentResult:
        await ctx.emit.thinking("fragile", "stored")
        await first.wait()
        await ctx.emit.thinking("fragile", "lost")
        await second.wait()
        await ctx.emit.thinking("fragile", "after")
        return AgentResult(result={}, report="done")

    return agent


async def run_record(server: Server, run_id: str, *, not_status: str = "running") -> RunRecord:
    with trio.fail_after(WAIT_S):
        while True:
            record = await server.hub.services.storage.runs.get_run(run_id)
            assert record is not None
            if record.status != not_status:
                return record
            await trio.sleep(0.01)


async def frames_until_pong(client: NetraClient) -> list[dict[str, Any]]:
    """Every frame up to the answer of a ping sent now (agent events already
    delivered to the connection are sent before it: they are CRITICAL)."""
    await client.send("ping", message_id="flush")
    frames: list[dict[str, Any]] = []
    with trio.fail_after(WAIT_S):
        while (frame := await client.receive()).get("correlation_id") != "flush":
            frames.append(frame)
    return frames


@asynccontextmanager
async def run_whose_events_cannot_be_stored(
    tmp_path: Path, netra_logs: pytest.LogCaptureFixture
) -> AsyncIterator[tuple[Server, NetraClient, list[dict[str, Any]], RunRecord]]:
    """A run of the fragile agent whose second event is written while storage
    fails; storage is back before the run's next event. Yields the server, a
    connected client of alice, every agent frame alice got, and the run's record."""
    database = tmp_path / "netra.db"
    first, second = trio.Event(), trio.Event()
    async with trio.open_nursery() as nursery:
        server = await start_server(
            nursery,
            agents=agents_with(fragile=fragile_agent(first, second)),
            database=str(database),
            database_busy_timeout_s=0.05,
        )
        async with open_client(server.url, token_for("alice")) as client:
            await client.send("start_agent", {"agent": "fragile", "input": "go"})
            seen = [
                await client.receive_type("agent_started"),
                await client.receive_type("agent_thinking"),
            ]
            with DatabaseWriteLock(database):
                first.set()
                await wait_logged(netra_logs, "event_log_error")  # the "lost" event's batch failed
                # and the log has told the run (its failed batch is settled)
                await server.hub.services.event_log.yield_to_events()
            second.set()  # storage works again; the run's next event finds the failure
            record = await run_record(server, seen[0]["run_id"])
            seen += await frames_until_pong(client)
            yield server, client, seen, record
        server.request_shutdown()


async def test_a_run_whose_events_cannot_be_stored_ends_is_recorded_and_the_connection_serves(
    tmp_path: Path, netra_logs: pytest.LogCaptureFixture
) -> None:
    """The run's next event finds the failed write: the run ends with
    ``agent_error INTERNAL`` (written once the store is back), is recorded as
    an error, and the connection goes on serving runs."""
    async with run_whose_events_cannot_be_stored(tmp_path, netra_logs) as running:
        server, client, seen, record = running
        run_id = seen[0]["run_id"]
        assert (record.status, record.error_code) == ("error", "STORAGE")
        assert record.ended_at is not None
        # Nothing that was not stored was sent: not the lost event, nor the one after it.
        assert [f["type"] for f in seen] == ["agent_started", "agent_thinking", "agent_error"]
        assert {f["run_id"] for f in seen} == {run_id}
        assert seen[1]["payload"]["thought"] == "stored"
        assert seen[2]["payload"] == {
            "agent_name": "fragile",
            "code": "INTERNAL",
            "message": "the run could not be stored",
        }
        (failure,) = logged_fields(netra_logs, "run_storage_error")
        assert failure["run"] == run_id and failure["user"] == "alice"
        user_hub = server.hub.users.get("alice")
        assert user_hub is not None and user_hub.runs.active == ()
        # the connection keeps serving runs, and the failed batch took no seq
        await client.send("start_agent", {"agent": "triage", "input": "2M requests/day on gpt-4o"})
        done = await client.receive_type("agent_completed")
        assert done["payload"]["status"] == "success"
        stored = await server.hub.services.storage.events.events_after("alice", 0)
        assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
        assert [(e.seq, e.run_id) for e in stored[:3]] == [(f["seq"], run_id) for f in seen]
        assert run_id not in {e.run_id for e in stored[3:]}


async def _stored_endings(server: Server, user: str, run_id: str) -> list[dict[str, Any]]:
    """The terminal events of ``run_id`` in the user's stored log, as frames."""
    stored = await server.hub.services.storage.events.events_after(user, 0)
    return [
        orjson.loads(e.frame)
        for e in stored
        if e.run_id == run_id and e.type in ("agent_completed", "agent_error")
    ]


async def test_a_run_whose_end_cannot_be_stored_ends_once_the_store_is_back(
    tmp_path: Path, netra_logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """Storage fails as the run ends, for longer than any grace (30 s): the
    run's ending is tried again until the store takes it, then sent, once.
    Meanwhile the run holds its thread."""
    database = tmp_path / "netra.db"
    gate = trio.Event()
    agents = agents_with(quitter=giving_up_agent(gate))
    options: dict[str, Any] = {"database": str(database), "database_busy_timeout_s": 0.05}
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, agents=agents, **options)
        async with open_client(server.url, token_for("alice")) as client:
            await client.send("start_agent", {"agent": "quitter", "input": "go"})
            started = await client.receive_type("agent_started")
            await client.receive_type("agent_thinking")
            run_id, thread_id = started["run_id"], started["thread_id"]
            with DatabaseWriteLock(database):
                gate.set()
                await wait_logged(netra_logs, "event_log_error")  # its ending's first attempt
                await trio.sleep(30)  # (virtual seconds: it keeps trying meanwhile)
                assert await frames_until_pong(client) == []  # nothing unstored was sent
                busy = await client.request(
                    "start_agent", {"agent": "triage", "input": "gpt-4o"}, thread_id=thread_id
                )
                assert busy["payload"]["code"] == "AGENT_BUSY"  # the run is not over yet
                record = await server.hub.services.storage.runs.get_run(run_id)
                assert record is not None and record.status == "running"
            ended = await client.receive_type("agent_error")
            assert (ended["run_id"], ended["payload"]["code"]) == (run_id, "GIVING_UP")
            (not_stored,) = logged_fields(netra_logs, "run_ending_not_stored")
            assert not_stored["run"] == run_id
            record = await run_record(server, run_id)
            assert (record.status, record.error_code) == ("error", "GIVING_UP")
            assert [e["seq"] for e in await _stored_endings(server, "alice", run_id)] == [
                ended["seq"]
            ]
            (stored,) = await wait_logged(netra_logs, "run_ending_stored")
            assert stored["run"] == run_id and stored["tries"] > 2
            await client.send(
                "start_agent", {"agent": "triage", "input": "gpt-4o"}, thread_id=thread_id
            )
            assert (await client.receive_type("agent_completed"))["thread_id"] == thread_id
        server.request_shutdown()
    async with trio.open_nursery() as nursery:  # the next start has nothing to end
        server = await start_server(nursery, agents=agents, **options)
        assert logged_fields(netra_logs, "runs_interrupted") == []
        assert logged_fields(netra_logs, "runs_ended_at_start") == []
        assert len(await _stored_endings(server, "alice", run_id)) == 1
        server.request_shutdown()


async def test_a_run_whose_end_is_not_stored_by_the_stop_is_ended_by_the_next_start(
    tmp_path: Path, netra_logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """The server stops while a run's ending waits for the store: the stop
    is not held up past its grace; the run stays recorded as running and the
    next start records it as interrupted and stores its one ending."""
    database = tmp_path / "netra.db"
    gate = trio.Event()
    agents = agents_with(quitter=giving_up_agent(gate))
    options: dict[str, Any] = {
        "database": str(database),
        "database_busy_timeout_s": 0.05,
        "shutdown_grace_s": 1.0,
    }
    with contextlib.ExitStack() as locked:
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, agents=agents, **options)
            async with open_client(server.url, token_for("alice")) as client:
                await client.send("start_agent", {"agent": "quitter", "input": "go"})
                started = await client.receive_type("agent_started")
                thinking = await client.receive_type("agent_thinking")
                locked.enter_context(DatabaseWriteLock(database))
                gate.set()
                await wait_logged(netra_logs, "run_ending_not_stored")
                stopping_at = trio.current_time()
                server.request_shutdown()
        # stopped within its grace and the ending's last attempt, the file still locked
        assert trio.current_time() - stopping_at < 1.0 + 5.0 + 1.0
        (left,) = logged_fields(netra_logs, "run_ending_left_to_restart")
        assert left["run"] == started["run_id"]
    run_id, thread_id = started["run_id"], started["thread_id"]
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, agents=agents, **options)
        record = await server.hub.services.storage.runs.get_run(run_id)
        assert record is not None
        assert record.status == "interrupted" and record.ended_at is not None
        assert logged_fields(netra_logs, "runs_interrupted") == [{"count": 1}]
        async with open_client(server.url, token_for("alice")) as client:
            await client.send("resume", {"last_seq": thinking["seq"]})
            replayed: list[dict[str, Any]] = []
            with trio.fail_after(WAIT_S):
                while (frame := await client.receive())["type"] != "resume_complete":
                    replayed.append(frame)
        ended = [f for f in replayed if f.get("run_id") == run_id]
        assert [(f["type"], f["payload"]["code"]) for f in ended] == [
            ("agent_error", "INTERRUPTED")
        ]
        assert ended[0]["thread_id"] == thread_id
        server.request_shutdown()
    async with trio.open_nursery() as nursery:  # once only
        server = await start_server(nursery, agents=agents, **options)
        assert len(await _stored_endings(server, "alice", run_id)) == 1
        server.request_shutdown()
