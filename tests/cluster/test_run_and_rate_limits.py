"""The per-user run limits and message rate hold across the nodes of a cluster
(server processes here): a thread busy on one node is busy on the other, the
user's runs on both nodes count together, and one bucket of messages is spent
from both nodes."""

from __future__ import annotations

from netra_trio.client import open_client
from tests.cluster.support import node_processes
from tests.databases import ServerDatabase
from tests.helpers import token_for
from tests.runs.support import ISSUE_EXAMPLE

WAITING = "tests.sessions.waiting_server"  # its supervisor waits in a tool call for ever


async def test_runs_count_together_across_nodes(redis_url: str, database: ServerDatabase) -> None:
    async with node_processes(redis_url, database, "--max-runs-per-user", "2", module=WAITING) as (
        a,
        b,
    ):
        token = token_for("alice")
        async with open_client(a, token) as on_a, open_client(b, token) as on_b:
            ack = await on_a.request("user_message", {"content": ISSUE_EXAMPLE})
            thread_id = ack["payload"]["thread_id"]
            busy = await on_b.request("agent_request", {"content": "again"}, thread_id=thread_id)
            assert busy["payload"]["code"] == "AGENT_BUSY"
            assert "already has an active run" in busy["payload"]["message"]
            second = await on_b.request("agent_request", {"content": "another thread"})
            assert second["type"] == "agent_started"  # the second run, on node b (admitted)
            third = await on_a.request("agent_request", {"content": "a third"})
            assert third["payload"]["code"] == "AGENT_BUSY"
            assert "at most 2 runs" in third["payload"]["message"]


async def test_one_message_bucket_is_spent_from_both_nodes(
    redis_url: str, database: ServerDatabase
) -> None:
    async with node_processes(
        redis_url, database, "--message-rate-per-s", "0.1", "--message-burst", "50"
    ) as (a, b):
        token = token_for("alice")
        async with open_client(a, token) as on_a, open_client(b, token) as on_b:
            answers = []
            for n in range(30):
                for client in (on_a, on_b):
                    reply = await client.request("ping", {"n": n})
                    answers.append(reply["payload"].get("code", reply["type"]))
            # each node on its own would have let all thirty of its pings through
            assert answers == ["pong"] * 50 + ["RATE_LIMITED"] * 10
            async with open_client(b, token_for("bob")) as bob:
                assert (await bob.request("ping", {}))["type"] == "pong"  # bob's own bucket
