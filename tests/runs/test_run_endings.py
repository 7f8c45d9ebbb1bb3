"""Every run ends with exactly one terminal event, stored and delivered, also
when the store fails as it ends: PostgreSQL stopped for longer than any grace
(the ending goes out once it is back), and runs that an earlier server
recorded as ended in error without their ending (the next start gives them
one, on both backends, once)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import trio

from netra_trio.client import NetraClient, open_client
from netra_trio.pipeline.event_log import EventSource
from netra_trio.server.app import Server
from netra_trio.storage.records import RunRecord
from tests.databases import ServerDatabase
from tests.helpers import (
    agents_with,
    giving_up_agent,
    logged_fields,
    start_server,
    token_for,
    wait_logged,
)
from tests.postgres_server import PostgresServer

TERMINAL = ("agent_completed", "agent_error")
LONGER_THAN_ANY_GRACE_S = 6.0  # (past the 5 s after which endings were once given up)


async def _replayed(client: NetraClient) -> list[dict[str, Any]]:
    """Every stored event of the client's user, by ``resume`` from 0."""
    await client.send("resume", {"last_seq": 0})
    frames = []
    with trio.fail_after(10):
        while (frame := await client.receive())["type"] != "resume_complete":
            if "seq" in frame:
                frames.append(frame)
    return frames


def _endings(frames: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] in TERMINAL and f.get("run_id") == run_id]


async def test_postgres_stopped_as_a_run_ends_then_back(
    nursery: trio.Nursery,
    postgres_server: PostgresServer,
    postgres_url: str,
    netra_logs: pytest.LogCaptureFixture,
) -> None:
    gate = trio.Event()
    agents = agents_with(quitter=giving_up_agent(gate))
    server = await start_server(nursery, agents=agents, database=postgres_url)
    try:
        async with open_client(server.url, token_for("alice")) as client:
            await client.send("start_agent", {"agent": "quitter", "input": "go"})
            run_id = (await client.receive_type("agent_started"))["run_id"]
            await client.receive_type("agent_thinking")
            postgres_server.stop()
            stopped_at = trio.current_time()
            gate.set()
            await wait_logged(netra_logs, "event_log_error")  # its ending's first attempt
            await trio.sleep_until(stopped_at + LONGER_THAN_ANY_GRACE_S)
            postgres_server.start()
            ended = await client.receive_type("agent_error", timeout_s=30)  # sent live
            (not_stored,) = logged_fields(netra_logs, "run_ending_not_stored")
            assert not_stored["run"] == run_id
            assert (ended["run_id"], ended["payload"]["code"]) == (run_id, "GIVING_UP")
            assert _endings(await _replayed(client), run_id) == [ended]  # stored once
            record = await server.hub.services.storage.runs.get_run(run_id)
            assert record is not None
            assert (record.status, record.error_code) == ("error", "GIVING_UP")
    finally:
        if not postgres_server.running:
            postgres_server.start()
        server.request_shutdown()


async def _left_without_ending(server: Server, user: str) -> str:
    """What a server of an earlier version left when its store failed as a
    run ended: the run's events stored up to its end, no terminal event, and
    its record saying it ended in error. Returns the run's id."""
    services = server.hub.services
    runs, threads = services.storage.runs, services.storage.threads
    thread = await threads.create_thread(user, "cut short")
    run_id = "r-left-without-ending"
    await runs.start_run(
        RunRecord(run_id, user, thread.thread_id, "supervisor", "running", time.time())
    )
    producer = services.event_log.producer(EventSource(user, run_id, thread.thread_id))
    await producer.put_and_wait("agent_started", {"agent_name": "supervisor"})
    await producer.put_and_wait("agent_thinking", {"agent_name": "supervisor", "step": 1})
    await runs.finish_run(run_id, "error", error_code="STORAGE")
    return run_id


async def test_a_run_recorded_as_failed_without_its_ending_gets_one_at_the_next_start(
    database: ServerDatabase, netra_logs: pytest.LogCaptureFixture
) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, database=database.value)
        async with open_client(server.url, token_for("alice")) as client:  # events before it
            await client.send("start_agent", {"agent": "triage", "input": "gpt-4o"})
            await client.receive_type("agent_completed")
        run_id = await _left_without_ending(server, "alice")
        server.request_shutdown()
    for _ in range(2):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, database=database.value)
            async with open_client(server.url, token_for("alice")) as client:
                stored = await _replayed(client)
            ended = _endings(stored, run_id)
            assert [e["payload"] for e in ended] == [
                {
                    "agent_name": "supervisor",
                    "code": "INTERNAL",
                    "message": "the run could not be stored",
                }
            ]
            assert stored[-1] == ended[0]  # after everything of the run
            record = await server.hub.services.storage.runs.get_run(run_id)
            assert record is not None and (record.status, record.error_code) == (
                "error",
                "STORAGE",
            )
            # the first start ended it; the second had nothing to end
            assert logged_fields(netra_logs, "runs_ended_at_start") == [{"count": 1}]
            server.request_shutdown()
