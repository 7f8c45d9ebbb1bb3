"""Sessions are one store for the cluster (server processes here): a session
resumes on the other node with its data, and a node that makes room for a new
session leaves alone the sessions that connections on other nodes are attached
to."""

from __future__ import annotations

from netra_trio.client import open_client
from tests.cluster.support import node_processes
from tests.databases import ServerDatabase
from tests.helpers import token_for


async def test_a_session_resumes_on_the_other_node_with_its_data(
    redis_url: str, database: ServerDatabase
) -> None:
    async with node_processes(redis_url, database) as (a, b):
        token = token_for("alice")
        async with open_client(a, token) as on_a:
            session_id = on_a.established["session_id"]
            await on_a.request("session_update", {"data": {"draft": "half a plan"}})
        async with open_client(f"{b}?session_id={session_id}", token) as on_b:
            assert on_b.established["resumed"] is True
            assert on_b.established["session_id"] == session_id
            state = await on_b.request("session_get")
            assert state["payload"]["data"] == {"draft": "half a plan"}


async def test_making_room_on_one_node_spares_a_session_attached_on_another(
    redis_url: str, database: ServerDatabase
) -> None:
    async with node_processes(redis_url, database, "--max-sessions-per-user", "2") as (a, b):
        token = token_for("alice")
        async with (
            open_client(a, token) as on_a,
            open_client(b, token) as first_on_b,
            open_client(b, token) as second_on_b,  # room for it: none idle, none ended
        ):
            for client in (on_a, first_on_b, second_on_b):  # each session is still there
                session_id = client.established["session_id"]
                async with open_client(f"{b}?session_id={session_id}", token) as again:
                    assert again.established["resumed"] is True
            assert (await on_a.request("session_get"))["type"] == "session_state"
