"""Two (or more) server nodes of one cluster, all on one database (a SQLite file or
PostgreSQL) and one redis-server, each on a free loopback port: as separate server processes
(``netra-trio serve``, :func:`node_processes`), or as servers in this process
(:func:`cluster`) where a test looks inside them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import trio

from netra_trio.agents.base import AgentRegistry
from netra_trio.client import NetraClient
from netra_trio.server.app import Server
from tests.databases import ServerDatabase
from tests.helpers import SECRET, SESSION_KEY, serve_subprocess, start_server

TERMINAL = ("agent_completed", "agent_error")


FAST_LAPSE = ("--heartbeat-interval-s", "1", "--heartbeat-timeout-s", "1")  # kill -9: 2 s


def node_args(redis_url: str, database: ServerDatabase, *more: str) -> list[str]:
    """The flags of a node started as a subprocess (``serve_subprocess``)."""
    return [
        "--jwt-secret", SECRET,
        "--session-key", SESSION_KEY,
        "--database", database.value,
        "--redis-url", redis_url,
        *more,
    ]  # fmt: skip


@asynccontextmanager
async def node_processes(
    redis_url: str,
    database: ServerDatabase,
    *more: str,
    nodes: int = 2,
    module: str = "netra_trio",
) -> AsyncIterator[list[str]]:
    """``nodes`` server processes of one cluster; yields their URLs (each
    node's log: ``node-N.log`` beside the database)."""
    async with AsyncExitStack() as stack:
        urls = []
        for n in range(nodes):
            _, url = await stack.enter_async_context(
                serve_subprocess(
                    node_args(redis_url, database, *more),
                    cwd=database.workdir,
                    stderr_path=database.workdir / f"node-{n}.log",
                    module=module,
                )
            )
            urls.append(url)
        yield urls


@asynccontextmanager
async def cluster(
    redis_url: str,
    database: ServerDatabase,
    *,
    nodes: int = 2,
    agents: AgentRegistry | None = None,
    **overrides: Any,
) -> AsyncIterator[list[Server]]:
    async with trio.open_nursery() as nursery:
        servers = [
            await start_server(
                nursery, agents=agents, database=database.value, redis_url=redis_url, **overrides
            )
            for _ in range(nodes)
        ]
        yield servers
        for server in servers:
            server.request_shutdown()


async def agent_events(
    client: NetraClient, *, runs: int = 1, timeout_s: float = 20.0
) -> list[dict[str, Any]]:
    """Every agent event (a frame with a seq) until ``runs`` runs have ended."""
    events: list[dict[str, Any]] = []
    ended = 0
    with trio.fail_after(timeout_s):
        while ended < runs:
            frame = await client.receive()
            if "seq" in frame:
                events.append(frame)
                ended += frame["type"] in TERMINAL
    return events
