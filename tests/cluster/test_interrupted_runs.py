"""A node that starts records as interrupted only the runs that no node of the
cluster holds: a run alive on another node goes on, and the runs of a node
killed with ``kill -9`` are recorded as interrupted (and their users told) once
its leases have lapsed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import trio

from netra_trio.client import open_client
from tests.cluster.support import FAST_LAPSE, cluster, node_args
from tests.databases import ServerDatabase
from tests.helpers import (
    agents_with,
    serve_subprocess,
    start_server,
    token_for,
    waiting_agent,
)
from tests.runs.support import ISSUE_EXAMPLE


async def test_a_starting_node_leaves_a_run_alive_on_another_node_alone(
    redis_url: str, database: ServerDatabase
) -> None:
    gate = trio.Event()
    agents = agents_with(supervisor=waiting_agent(gate))
    async with (
        cluster(redis_url, database, nodes=1, agents=agents) as (a,),
        open_client(a.url, token_for("alice")) as client,
    ):
        await client.send("agent_request", {"content": ISSUE_EXAMPLE})
        waiting = await client.receive_type("tool_executing")
        async with trio.open_nursery() as nursery:
            b = await start_server(nursery, database=database.value, redis_url=redis_url)
            run = await b.hub.services.storage.runs.get_run(waiting["run_id"])
            assert run is not None and run.status == "running"
            gate.set()
            done = await client.receive_type("agent_completed")
            assert done["payload"]["status"] == "success"
            b.request_shutdown()


async def test_the_runs_of_a_killed_node_are_interrupted_once_its_leases_lapse(
    redis_url: str, database: ServerDatabase, tmp_path: Path
) -> None:
    args = node_args(redis_url, database, *FAST_LAPSE)
    token = token_for("alice")
    async with (
        serve_subprocess(
            args,
            cwd=tmp_path,
            stderr_path=tmp_path / "doomed.log",
            module="tests.sessions.waiting_server",
        ) as (doomed, url),
        open_client(url, token) as client,
    ):
        await client.send("agent_request", {"content": ISSUE_EXAMPLE})
        waiting = await client.receive_type("tool_executing")
        os.kill(doomed.pid, signal.SIGKILL)
    async with trio.open_nursery() as nursery:
        b = await start_server(
            nursery,
            database=database.value,
            redis_url=redis_url,
            heartbeat_interval_s=1,
            heartbeat_timeout_s=1,
        )
        runs = b.hub.services.storage.runs
        with trio.fail_after(10):  # its slot lapses within 2 s; b looks again after 3 s
            while (run := await runs.get_run(waiting["run_id"])) and run.status == "running":  # noqa: ASYNC110
                await trio.sleep(0.1)
        assert run is not None and run.status == "interrupted"
        async with open_client(b.url, token) as client:
            await client.send("resume", {"last_seq": waiting["seq"]})
            error = await client.receive_type("agent_error")
            assert (error["run_id"], error["payload"]["code"]) == (waiting["run_id"], "INTERRUPTED")
        b.request_shutdown()
