"""Redis stopped in the middle of a run, and started again: connections stay
and are answered, a handshake gets 503 UNAVAILABLE, a frame that needs Redis
gets ``error`` UNAVAILABLE, ``/readyz`` says 503; the run goes on and reaches
its node's connections, and once Redis is back every event reaches the other
node's too, in order, with nothing lost; the cluster serves again by itself."""

from __future__ import annotations

import orjson
import pytest
import trio
from trio_websocket import ConnectionRejected

from netra_trio.client import open_client
from netra_trio.server.app import Server
from tests.cluster.support import agent_events, cluster
from tests.databases import ServerDatabase
from tests.helpers import agents_with, paced_agent, token_for
from tests.redis_server import RedisServer
from tests.runs.support import ISSUE_EXAMPLE
from tests.server.test_http import http_get


async def refusal(url: str, token: str) -> tuple[int, dict[str, object]]:
    with pytest.raises(ConnectionRejected) as refused:
        async with open_client(url, token):
            pass
    return refused.value.status_code, orjson.loads(refused.value.body or b"{}")


async def readiness(server: Server) -> tuple[int, bytes]:
    assert server.metrics_port
    return await http_get(server.metrics_port, "/readyz")


@pytest.mark.usefixtures("redis_url")
async def test_redis_lost_mid_run_then_back(
    redis_server: RedisServer, database: ServerDatabase
) -> None:
    agents = agents_with(supervisor=paced_agent(steps=30, pause_s=0.1))
    async with cluster(
        redis_server.url,
        database,
        agents=agents,
        metrics_port=0,
    ) as (a, b):
        token = token_for("alice")
        async with (
            open_client(a.url, token) as on_a,
            open_client(b.url, token) as on_b,  # only listens
            open_client(b.url, token) as probe,  # asks (and drops the events it gets)
        ):
            assert await readiness(b) == (200, b'{"status":"ready","waiting_for":[]}')
            await on_a.send("agent_request", {"content": ISSUE_EXAMPLE})
            first = await on_b.receive_type("agent_started")  # crossing nodes
            redis_server.stop()
            status, body = await readiness(a)  # asked at once, before anything else failed
            assert (status, orjson.loads(body)["waiting_for"]) == (503, ["Redis"])

            assert (await probe.request("ping", {}))["type"] == "pong"
            status, body = await refusal(b.url, token)
            assert (status, body["error"]["code"]) == (503, "UNAVAILABLE")  # type: ignore[index]
            status, body = await refusal(b.url, token_for("carol"))  # a user new to b
            assert (status, body["error"]["code"]) == (503, "UNAVAILABLE")  # type: ignore[index]
            busy = await probe.request("agent_request", {"content": "another"})
            assert busy["type"] == "error" and busy["payload"]["code"] == "UNAVAILABLE"
            status, body = await readiness(b)
            assert (status, orjson.loads(body)["waiting_for"]) == (503, ["Redis"])

            on_its_node = await agent_events(on_a)  # the run went on, seen where it runs
            assert on_its_node[-1]["type"] == "agent_completed"
            redis_server.start()
            on_the_other = [first, *await agent_events(on_b)]
            assert on_the_other == on_its_node  # in order, none lost, none twice

            with trio.fail_after(20):
                while (await readiness(b))[0] != 200:  # noqa: ASYNC110 (it recovers by itself)
                    await trio.sleep(0.1)
            async with open_client(b.url, token) as again:
                reply = await again.request("agent_request", {"content": "after"})
                assert reply["type"] != "error"
