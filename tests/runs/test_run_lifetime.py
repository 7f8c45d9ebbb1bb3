"""A run's lifetime: it outlives a dropped connection and ends cleanly at shutdown."""

from __future__ import annotations

from pathlib import Path

import orjson
import trio

from netra_trio.client import open_client
from netra_trio.storage.sqlite import SqliteStorage
from tests.helpers import agents_with, start_server, token_for, waiting_agent
from tests.runs.support import ISSUE_EXAMPLE


async def test_a_run_outlives_its_users_dropped_connection(nursery: trio.Nursery) -> None:
    gate = trio.Event()
    server = await start_server(nursery, agents=agents_with(supervisor=waiting_agent(gate)))
    async with open_client(server.url, token_for("alice")) as client:
        await client.send("agent_request", {"content": ISSUE_EXAMPLE})
        started = await client.receive_type("tool_executing")
    run_id = started["run_id"]
    user_hub = server.hub.users.get("alice")
    assert user_hub is not None
    with trio.fail_after(5):
        while user_hub.connections:  # noqa: ASYNC110 - waiting on server-owned state
            await trio.sleep(0.01)
    assert [r.run_id for r in user_hub.runs.active] == [run_id]  # the hub lives on for the run
    gate.set()  # only now may the run end
    with trio.fail_after(15):
        while user_hub.runs.active:  # noqa: ASYNC110 - waiting on server-owned state
            await trio.sleep(0.05)
    run = await server.hub.services.storage.runs.get_run(run_id)
    assert run is not None and run.status == "success"
    assert server.hub.users.get("alice") is None  # gone with its last lease
    events = await server.hub.services.storage.events.events_after("alice", 0)
    assert events[-1].type == "agent_completed" and events[-1].run_id == run_id
    async with open_client(server.url, token_for("alice")) as client:
        history = await client.request("get_thread_history", {"thread_id": started["thread_id"]})
        assert [m["role"] for m in history["payload"]["messages"]] == ["user", "assistant"]


async def test_shutdown_interrupts_a_run_and_records_it(tmp_path: Path) -> None:
    database = tmp_path / "netra.db"
    async with trio.open_nursery() as nursery:
        server = await start_server(
            nursery,
            agents=agents_with(supervisor=waiting_agent()),
            database=str(database),
            shutdown_grace_s=0.5,
        )
        async with open_client(server.url, token_for("alice")) as client:
            await client.send("agent_request", {"content": ISSUE_EXAMPLE})
            started = await client.receive_type("tool_executing")
            server.request_shutdown()
    # the server has exited; its file says what happened to the run it cut off
    storage = await SqliteStorage.open(database)
    try:
        events = await storage.events.events_after("alice", 0)
        last = orjson.loads(events[-1].frame)
        assert last["type"] == "agent_error" and last["payload"]["code"] == "INTERRUPTED"
        assert last["run_id"] == started["run_id"]
        run = await storage.runs.get_run(started["run_id"])
        assert run is not None and run.status == "interrupted"
    finally:
        await storage.close()
