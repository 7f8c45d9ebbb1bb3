"""PostgreSQL stopped while the server runs, then started again: connections
stay and frames that concern only the connection are answered, a frame that
needs the database gets ``error`` UNAVAILABLE, a handshake gets 503
UNAVAILABLE, ``/readyz`` says 503; a run cut off by it ends with one terminal
event once the database is back, every event sent was stored, and the server
serves again by itself (its connections to PostgreSQL made again, spaced out
while it is away)."""

from __future__ import annotations

import orjson
import trio

from netra_trio.client import NetraClient, open_client
from tests.cluster.support import agent_events
from tests.cluster.test_redis_lost import readiness, refusal
from tests.helpers import agents_with, paced_agent, start_server, token_for
from tests.postgres_server import PostgresServer
from tests.runs.support import ISSUE_EXAMPLE


async def _replayed(client: NetraClient) -> list[dict[str, object]]:
    await client.send("resume", {"last_seq": 0})
    events = []
    with trio.fail_after(10):
        while (frame := await client.receive())["type"] != "resume_complete":
            if "seq" in frame:
                events.append(frame)
    return events


async def test_postgres_lost_mid_run_then_back(
    nursery: trio.Nursery, postgres_server: PostgresServer, postgres_url: str
) -> None:
    agents = agents_with(supervisor=paced_agent(steps=40, pause_s=0.05))
    server = await start_server(nursery, agents=agents, database=postgres_url, metrics_port=0)
    token = token_for("alice")
    try:
        async with open_client(server.url, token) as client:
            assert (await client.request("list_threads"))["type"] == "threads"
            await client.send("agent_request", {"content": ISSUE_EXAMPLE})
            await client.receive_type("agent_thinking")
            postgres_server.stop()

            assert (await client.request("ping", {}))["type"] == "pong"
            reply = await client.request("list_threads")
            assert reply["type"] == "error", reply
            assert reply["payload"]["code"] == "UNAVAILABLE", reply
            assert "PostgreSQL" not in reply["payload"]["message"]  # nothing internal shown
            status, body = await refusal(server.url, token)
            assert (status, body["error"]["code"]) == (503, "UNAVAILABLE")  # type: ignore[index]
            status, raw = await readiness(server)
            assert (status, orjson.loads(raw)["waiting_for"]) == (503, ["storage"])

            postgres_server.start()
            live = await agent_events(client, timeout_s=30)
            # one terminal event for the cut-off run, the seqs unbroken
            assert [e["type"] for e in live].count("agent_error") == 1, live
            assert live[-1]["type"] == "agent_error"
            assert live[-1]["payload"]["code"] == "INTERNAL"

            with trio.fail_after(20):  # it connects again by itself, attempts spaced out
                while (await readiness(server))[0] != 200:  # noqa: ASYNC110
                    await trio.sleep(0.1)
            stored = await _replayed(client)
            seqs = [e["seq"] for e in stored]
            assert seqs == list(range(1, len(seqs) + 1))
            assert [e for e in stored if e["seq"] in {f["seq"] for f in live}] == live
            assert (await client.request("list_threads"))["type"] == "threads"

        async with open_client(server.url, token) as again:  # handshakes are served again
            await again.send("agent_request", {"content": "after"})
            after = await agent_events(again, timeout_s=30)
            assert after[-1]["type"] == "agent_completed"
    finally:
        if not postgres_server.running:
            postgres_server.start()
        server.request_shutdown()
