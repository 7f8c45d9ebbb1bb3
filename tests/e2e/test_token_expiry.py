"""A token that expires while connected closes the connection with 1008, activity or not."""

from __future__ import annotations

import pytest
import trio
from trio_websocket import ConnectionClosed

from netra_trio.client import NetraClient
from netra_trio.server.app import Server
from tests.e2e.support import assert_alive, bearer, close_code, eventually, rejection, websocket
from tests.helpers import token_for

pytestmark = pytest.mark.e2e

TTL_S = 2.0  # the token's exp is whole seconds, so it expires 1 to 2 s from now


async def _established(client: NetraClient) -> None:
    with trio.fail_after(5):
        assert (await client.receive())["type"] == "connection_established"


async def test_token_expiring_while_connected_closes_with_1008(server: Server) -> None:
    token = token_for("alice", ttl_s=TTL_S)
    async with websocket(server.url, headers=bearer(token)) as ws:
        client = NetraClient(ws)
        await _established(client)
        await assert_alive(client)
        started = trio.current_time()
        assert await close_code(client) == 1008
        assert trio.current_time() - started < TTL_S + 2
    await eventually(lambda: server.hub.stats.closes_by_code[1008] == 1, "1008 counted")
    # the same token is now refused at the handshake
    rejected = await rejection(server.url, headers=bearer(token))
    assert rejected.status_code == 401


async def test_activity_does_not_extend_an_expiring_token(server: Server) -> None:
    token = token_for("bob", ttl_s=TTL_S)
    closed: ConnectionClosed | None = None
    async with websocket(server.url, headers=bearer(token)) as ws:
        client = NetraClient(ws)
        await _established(client)
        with trio.fail_after(TTL_S + 3):
            while closed is None:
                try:
                    await client.send("ping", message_id="keepalive")
                    await client.receive_type("pong")
                    await trio.sleep(0.05)
                except ConnectionClosed as exc:
                    closed = exc
    assert closed.reason is not None and closed.reason.code == 1008
