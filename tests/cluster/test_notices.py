"""What crosses nodes beside events, between server processes: a typing
indicator reaches the user's connections on the other node (and no one
else's), and ``stop_agent`` stops a run that runs on the other node (and is
answered ``NOT_FOUND`` once the run has ended, even in the moment when it
still looks alive to the other nodes)."""

from __future__ import annotations

import time

import orjson

from netra_trio.client import open_client
from netra_trio.storage.records import RunRecord, StoredEvent
from tests.cluster.support import cluster, node_processes
from tests.databases import ServerDatabase
from tests.helpers import token_for
from tests.runs.support import ISSUE_EXAMPLE

WAITING = "tests.sessions.waiting_server"  # its supervisor waits in a tool call for ever


async def test_typing_reaches_the_users_connection_on_the_other_node(
    redis_url: str, database: ServerDatabase
) -> None:
    async with node_processes(redis_url, database) as (a, b):
        token = token_for("alice")
        async with (
            open_client(a, token) as typist,
            open_client(b, token) as reader,
            open_client(b, token_for("bob")) as bob,
        ):
            ack = await typist.request("typing_started")
            assert ack["payload"] == {"typing": True}
            typing = await reader.receive_type("user_typing")
            assert typing["payload"] == {
                "typing": True,
                "connection_id": typist.established["connection_id"],
            }
            # bob saw nothing of it: the next frame he gets is the answer to his ping
            pong = await bob.request("ping", {})
            assert pong["type"] == "pong"


async def test_stop_agent_stops_a_run_on_the_other_node(
    redis_url: str, database: ServerDatabase
) -> None:
    async with node_processes(redis_url, database, module=WAITING) as (a, b):
        token = token_for("alice")
        async with open_client(a, token) as on_a, open_client(b, token) as on_b:
            await on_a.send("agent_request", {"content": ISSUE_EXAMPLE})
            waiting = await on_b.receive_type("tool_executing")  # the run is on a, waiting
            await on_b.send("stop_agent", {"run_id": waiting["run_id"]})
            for client in (on_b, on_a):
                done = await client.receive_type("agent_completed")
                assert (done["run_id"], done["payload"]["status"]) == (
                    waiting["run_id"],
                    "cancelled",
                )
            again = await on_b.request("stop_agent", {"run_id": waiting["run_id"]})
            assert again["payload"]["code"] == "NOT_FOUND"


async def test_stop_agent_of_a_run_whose_ending_is_stored_is_not_found(
    redis_url: str, database: ServerDatabase
) -> None:
    """A run's node stores its terminal event and sends it, then records the
    ending and gives its lease back: in between, the run's record says
    ``running`` and its lease is live. A ``stop_agent`` on another node then
    is answered ``NOT_FOUND`` (the run's node has nothing left to stop), not
    left without an answer."""
    token = token_for("alice")
    async with (
        cluster(redis_url, database) as (a, b),
        open_client(a.url, token),  # a holds alice: a notice to a would be delivered
        open_client(b.url, token) as on_b,
    ):
        storage = a.hub.services.storage
        thread = await storage.threads.create_thread("alice", "ended")
        run_id, now = "r-ended", time.time()
        await storage.runs.start_run(
            RunRecord(run_id, "alice", thread.thread_id, "supervisor", "running", now)
        )
        coordinator = a.hub.services.coordinator
        assert await coordinator.admit_run("alice", run_id, thread.thread_id, 1) is None
        ending = {"type": "agent_completed", "run_id": run_id, "seq": 1}
        await storage.events.append(
            [
                StoredEvent(
                    "alice",
                    1,
                    "agent_completed",
                    run_id,
                    thread.thread_id,
                    orjson.dumps(ending).decode(),
                    now,
                )
            ]
        )
        stop = await on_b.request("stop_agent", {"run_id": run_id})
        assert stop["payload"]["code"] == "NOT_FOUND"
        assert stop["payload"]["message"] == f"payload.run_id: run {run_id!r} is no longer active"
        coordinator.release_run("alice", run_id)
