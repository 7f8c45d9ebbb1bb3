"""The per-user connection limit across the cluster: atomic however the
handshakes spread over nodes, a node that dies frees its slots within
2 x heartbeat_interval_s, and runs in flight take no connection slot."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import trio
from trio_websocket import ConnectionRejected

from netra_trio.client import open_client
from tests.cluster.support import FAST_LAPSE, cluster, node_args, node_processes
from tests.databases import ServerDatabase
from tests.helpers import agents_with, serve_subprocess, token_for, waiting_agent


class Held:
    """A connection attempt that keeps its connection open until told to go."""

    def __init__(self) -> None:
        self.outcome: int | str | None = None  # "open", or the HTTP status of a refusal
        self.decided = trio.Event()
        self.leave = trio.Event()

    async def run(self, url: str, token: str) -> None:
        try:
            async with open_client(url, token):
                self.outcome = "open"
                self.decided.set()
                await self.leave.wait()
        except ConnectionRejected as rejected:
            self.outcome = rejected.status_code
            self.decided.set()


async def attempt(nursery: trio.Nursery, url: str, token: str) -> Held:
    held = Held()
    nursery.start_soon(held.run, url, token)
    with trio.fail_after(10):
        await held.decided.wait()
    return held


async def test_twenty_simultaneous_handshakes_over_two_nodes_yield_exactly_five(
    redis_url: str, database: ServerDatabase
) -> None:
    async with (
        node_processes(redis_url, database) as (a, b),
        trio.open_nursery() as nursery,
    ):
        token = token_for("alice")
        attempts = [Held() for _ in range(20)]
        for n, held in enumerate(attempts):
            nursery.start_soon(held.run, (a, b)[n % 2], token)
        with trio.fail_after(10):
            for held in attempts:
                await held.decided.wait()
        opened = [h for h in attempts if h.outcome == "open"]
        assert len(opened) == 5
        assert [h.outcome for h in attempts if h not in opened] == [429] * 15
        # a closed connection gives its slot back to the cluster
        opened[0].leave.set()
        with trio.fail_after(10):
            while (again := await attempt(nursery, b, token)).outcome != "open":  # noqa: ASYNC110
                await trio.sleep(0.05)  # the slot comes back when the other node hands it
        for held in [*opened, again]:
            held.leave.set()


async def test_a_killed_node_frees_its_slots_within_two_heartbeat_intervals(
    redis_url: str, database: ServerDatabase, tmp_path: Path
) -> None:
    args = node_args(redis_url, database, *FAST_LAPSE, "--max-connections-per-user", "2")
    token = token_for("alice")
    async with (
        serve_subprocess(args, cwd=tmp_path, stderr_path=tmp_path / "a.log") as (doomed, url_a),
        serve_subprocess(args, cwd=tmp_path, stderr_path=tmp_path / "b.log") as (_, url_b),
        trio.open_nursery() as nursery,
    ):
        held = [await attempt(nursery, url_a, token) for _ in range(2)]
        assert [h.outcome for h in held] == ["open", "open"]
        assert (await attempt(nursery, url_b, token)).outcome == 429
        os.kill(doomed.pid, signal.SIGKILL)
        killed_at = trio.current_time()
        with trio.fail_after(10):
            while (last := await attempt(nursery, url_b, token)).outcome != "open":  # noqa: ASYNC110
                await trio.sleep(0.1)  # until the killed node lapses
        assert trio.current_time() - killed_at <= 2 * 1 + 0.5
        last.leave.set()
        nursery.cancel_scope.cancel()


async def test_runs_in_flight_take_no_connection_slot_in_the_cluster(
    redis_url: str, database: ServerDatabase
) -> None:
    """Runs and connections are separate leases in Redis: a user with as many
    runs in flight as allowed, and no connection, still opens as many
    connections as allowed, on either node."""
    gate = trio.Event()
    agents = agents_with(supervisor=waiting_agent(gate))
    async with (
        cluster(redis_url, database, agents=agents, max_runs_per_user=5) as (a, b),
        trio.open_nursery() as nursery,
    ):
        token = token_for("alice")
        async with open_client(a.url, token) as starter:
            for n in range(5):
                await starter.send("agent_request", {"content": f"run {n}"})
                await starter.receive_type("tool_executing")  # (the run waits in its tool)
        held = [await attempt(nursery, (a.url, b.url)[n % 2], token) for n in range(5)]
        assert [h.outcome for h in held] == ["open"] * 5
        assert (await attempt(nursery, b.url, token)).outcome == 429
        user_hub = a.hub.users["alice"]
        assert len(user_hub.runs.active) == 5
        gate.set()
        for h in held:
            h.leave.set()
