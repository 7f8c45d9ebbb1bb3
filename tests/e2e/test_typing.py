"""Typing relay: an ack to the sender, user_typing to the user's other connections only."""

from __future__ import annotations

import pytest

from netra_trio.client import NetraClient
from netra_trio.server.app import Server
from tests.e2e.support import WAIT_S, Frame, connect, quiet_frames

pytestmark = pytest.mark.e2e


async def _typing_seen(client: NetraClient, typing: bool) -> Frame:
    frame = await client.receive_type("user_typing", timeout_s=WAIT_S)
    assert frame["payload"]["typing"] is typing
    return frame


async def test_typing_goes_to_the_users_other_connections_only(server: Server) -> None:
    async with (
        connect(server, "alice") as a,
        connect(server, "alice") as b,
        connect(server, "alice") as c,
        connect(server, "bob") as bob,
    ):
        a_id = a.established["connection_id"]
        ack = await a.request("typing_started", message_id="t-1")
        assert ack["type"] == "typing_ack"
        assert ack["correlation_id"] == "t-1"
        for other in (b, c):
            frame = await _typing_seen(other, True)
            assert frame["payload"] == {"typing": True, "connection_id": a_id}
        assert [f for f in await quiet_frames(a) if f["type"] == "user_typing"] == []
        assert [f for f in await quiet_frames(bob) if f["type"] == "user_typing"] == []

        ack = await a.request("typing_stopped", message_id="t-2")
        assert ack["type"] == "typing_ack" and ack["correlation_id"] == "t-2"
        for other in (b, c):
            frame = await _typing_seen(other, False)
            assert frame["payload"] == {"typing": False, "connection_id": a_id}
        assert [f for f in await quiet_frames(bob) if f["type"] == "user_typing"] == []


async def test_typing_of_each_connection_names_that_connection(server: Server) -> None:
    async with connect(server, "alice") as a, connect(server, "alice") as b:
        await b.request("typing_started", message_id="tb")
        frame = await _typing_seen(a, True)
        assert frame["payload"]["connection_id"] == b.established["connection_id"]
        await a.request("typing_started", message_id="ta")
        frame = await _typing_seen(b, True)
        assert frame["payload"]["connection_id"] == a.established["connection_id"]


async def test_typing_alone_gets_only_the_ack(server: Server) -> None:
    async with connect(server, "alice") as a:
        ack = await a.request("typing_started", message_id="solo")
        assert ack["type"] == "typing_ack"
        assert [f for f in await quiet_frames(a) if f["type"] == "user_typing"] == []
