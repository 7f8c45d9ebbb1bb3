"""A user's first handshake on a node subscribes the node to the user's
events on Redis; a handshake of the same user arriving meanwhile waits for
that subscription, so that no connection starts before the user's live
events reach its node; when the subscription fails, they are all refused
(503) and the node serves its other users on. Redis is reached through a
relay that can hold back the node's subscriber connection alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import coredis
import pytest
import trio
from coredis.tokens import PureToken
from trio_websocket import ConnectionRejected

from netra_trio.backplane.redis_subscriber import SUBSCRIBE_TIMEOUT_S
from netra_trio.client import connect, open_client
from netra_trio.server.app import Server
from tests.helpers import start_server, token_for
from tests.redis_server import RedisServer
from tests.relay import Relay
from tests.runs.support import ISSUE_EXAMPLE


async def subscriber_port(redis_server: RedisServer) -> int:
    """The port the node's subscriber connection comes from, as Redis sees it."""
    async with coredis.Redis(port=redis_server.port, decode_responses=True) as client:
        (subscriber,) = await client.client_list(type_=PureToken.PUBSUB)
    return int(str(subscriber["addr"]).rsplit(":", 1)[1])


@asynccontextmanager
async def node_behind(relay: Relay, tmp_path: Path) -> AsyncIterator[Server]:
    async with trio.open_nursery() as nursery:
        server = await start_server(
            nursery,
            redis_url=f"redis://127.0.0.1:{relay.port}/0",
            database=str(tmp_path / "netra.db"),
        )
        yield server
        server.request_shutdown()


async def test_a_handshake_waits_for_its_users_subscription(
    redis_url: str, redis_server: RedisServer, nursery: trio.Nursery, tmp_path: Path
) -> None:
    relay: Relay = await nursery.start(Relay(redis_server.port).serve)
    established: list[str] = []
    completed: list[str] = []

    async def tab(name: str) -> None:
        async with connect(server.url, token_for("alice")) as client:
            established.append(name)
            run = [event async for event in client.run(ISSUE_EXAMPLE, agent="triage")]
            completed.append(f"{name}:{run[-1].type}")

    with trio.fail_after(30):
        async with (
            node_behind(relay, tmp_path) as server,
            connect(server.url, token_for("bob")),
        ):  # bob's subscription puts the node's subscriber connection in Redis's list
            relay.freeze_one(await subscriber_port(redis_server))
            async with trio.open_nursery() as tabs:
                tabs.start_soon(tab, "first")  # its subscription waits for Redis
                while "alice" not in server.hub.users:  # noqa: ASYNC110 - the hub's own map
                    await trio.sleep(0.01)
                tabs.start_soon(tab, "second")
                await trio.sleep(1.0)  # a handshake takes milliseconds
                assert established == [], "a connection started before its user's subscription"
                relay.thaw()
            assert sorted(established) == ["first", "second"]
            # each tab's run reached it live, through the subscription
            assert sorted(completed) == ["first:agent_completed", "second:agent_completed"]


async def test_handshakes_waiting_on_a_subscription_that_fails_are_refused(
    redis_url: str, redis_server: RedisServer, nursery: trio.Nursery, tmp_path: Path
) -> None:
    relay: Relay = await nursery.start(Relay(redis_server.port).serve)
    statuses: list[int] = []

    async def tab() -> None:
        with pytest.raises(ConnectionRejected) as refused:
            async with open_client(server.url, token_for("alice")):
                pass  # pragma: no cover - refused
        statuses.append(refused.value.status_code)

    with trio.fail_after(30):
        async with (
            node_behind(relay, tmp_path) as server,
            open_client(server.url, token_for("bob")) as bob,
        ):
            relay.freeze_one(await subscriber_port(redis_server))
            # refused as soon as the subscriber's connection is lost, not when
            # the subscription's own time is up
            with trio.fail_after(SUBSCRIBE_TIMEOUT_S / 2):
                async with trio.open_nursery() as tabs:
                    tabs.start_soon(tab)
                    while "alice" not in server.hub.users:  # noqa: ASYNC110 - the hub's own map
                        await trio.sleep(0.01)
                    tabs.start_soon(tab)
                    await trio.sleep(0.2)
                    redis_server.stop()  # the subscriber's connection ends with it
            assert statuses == [503, 503]
            assert "alice" not in server.hub.users
            assert (await bob.request("ping", {}))["type"] == "pong"  # bob is served on
            redis_server.start()
