"""Two server processes on one redis-server and one SQLite file behave as one server:
a run's events reach the user's connections on both nodes, in one seq order;
runs of one user on both nodes share one strictly increasing seq; a resume
works on either node."""

from __future__ import annotations

import trio

from netra_trio.client import open_client
from tests.cluster.support import agent_events, node_processes
from tests.databases import ServerDatabase
from tests.helpers import token_for
from tests.runs.support import ISSUE_EXAMPLE


async def test_a_run_on_one_node_reaches_the_users_connection_on_the_other(
    redis_url: str, database: ServerDatabase
) -> None:
    async with node_processes(redis_url, database) as (a, b):
        token = token_for("alice")
        async with (
            open_client(a, token) as on_a,
            open_client(b, token) as on_b,
            open_client(b, token_for("bob")) as bob,
        ):
            await on_a.send("agent_request", {"content": ISSUE_EXAMPLE})
            seen_a = await agent_events(on_a)
            seen_b = await agent_events(on_b)
            assert [(e["seq"], e["type"]) for e in seen_b] == [
                (e["seq"], e["type"]) for e in seen_a
            ]
            assert [e["seq"] for e in seen_a] == list(range(1, len(seen_a) + 1))
            assert seen_b == seen_a  # the same frames, byte for byte once parsed
            # bob, on the node that heard the events, got none of them
            await bob.send("ping", {}, message_id="b-1")
            frame = await bob.receive()
            assert (frame["type"], frame["correlation_id"]) == ("pong", "b-1")


async def test_runs_of_one_user_on_both_nodes_share_one_increasing_seq(
    redis_url: str, database: ServerDatabase
) -> None:
    async with node_processes(redis_url, database, "--max-runs-per-user", "4") as (
        a,
        b,
    ):
        token = token_for("alice")
        async with open_client(a, token) as on_a, open_client(b, token) as on_b:
            for n in range(2):
                await on_a.send("agent_request", {"content": f"{ISSUE_EXAMPLE} (a{n})"})
                await on_b.send("agent_request", {"content": f"{ISSUE_EXAMPLE} (b{n})"})
            seen_a = await agent_events(on_a, runs=4)
            seen_b = await agent_events(on_b, runs=4)
        for seen in (seen_a, seen_b):
            seqs = [e["seq"] for e in seen]
            assert seqs == list(range(1, len(seqs) + 1))  # strictly increasing, no gap
        assert [e["seq"] for e in seen_a] == [e["seq"] for e in seen_b]
        assert len({e["run_id"] for e in seen_a}) == 4


async def test_a_resume_on_the_other_node_replays_what_was_missed(
    redis_url: str, database: ServerDatabase
) -> None:
    async with node_processes(redis_url, database) as (a, b):
        token = token_for("alice")
        async with open_client(a, token) as on_a:
            await on_a.send("agent_request", {"content": ISSUE_EXAMPLE})
            first = await agent_events(on_a)
        async with open_client(a, token) as on_a:
            await on_a.send("agent_request", {"content": ISSUE_EXAMPLE})
            second = await agent_events(on_a)
        async with open_client(b, token) as on_b:
            await on_b.send("resume", {"last_seq": first[-1]["seq"]}, message_id="r-1")
            replayed = []
            with trio.fail_after(10):
                while (frame := await on_b.receive())["type"] != "resume_complete":
                    replayed.append(frame)
        assert replayed == second
        assert frame["payload"] == {"replayed": len(second), "gap": False}
