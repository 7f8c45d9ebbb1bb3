"""The first frame after the handshake is connection_established with every protocol field."""

from __future__ import annotations

import time

import orjson
import pytest
import trio

from netra_trio.server.app import Server
from tests.e2e.support import WAIT_S, bearer, connect, websocket
from tests.helpers import token_for

pytestmark = pytest.mark.e2e


@pytest.mark.netra_options(
    max_connections_per_user=3,
    max_message_bytes=4096,
    idle_timeout_s=600.0,
    heartbeat_interval_s=15.0,
    heartbeat_timeout_s=10.0,
)
async def test_first_frame_is_connection_established_with_all_fields(
    server: Server,
) -> None:
    before = time.time()
    async with websocket(server.url, headers=bearer(token_for("alice"))) as ws:
        with trio.fail_after(WAIT_S):
            frame = orjson.loads(await ws.get_message())
    after = time.time()
    assert frame["type"] == "connection_established"
    payload = frame["payload"]
    assert set(payload) == {
        "connection_id",
        "session_id",
        "user_id",
        "resumed",
        "server_time",
        "heartbeat_interval_s",
        "limits",
    }
    assert isinstance(payload["connection_id"], str) and payload["connection_id"]
    assert isinstance(payload["session_id"], str) and payload["session_id"]
    assert payload["user_id"] == "alice"
    assert payload["resumed"] is False
    assert before - 1 <= payload["server_time"] <= after + 1
    assert payload["heartbeat_interval_s"] == 15.0
    assert payload["limits"] == {
        "max_connections_per_user": 3,
        "max_message_bytes": 4096,
        "idle_timeout_s": 600.0,
    }
    assert isinstance(frame["timestamp"], float)


async def test_default_limits_are_the_documented_defaults(server: Server) -> None:
    async with connect(server, "alice") as client:
        established = client.established
    assert established["heartbeat_interval_s"] == 25
    assert established["limits"] == {
        "max_connections_per_user": 5,
        "max_message_bytes": 65536,
        "idle_timeout_s": 1800,
    }


async def test_each_connection_gets_its_own_ids(server: Server) -> None:
    async with (
        connect(server, "alice") as a1,
        connect(server, "alice") as a2,
        connect(server, "bob") as b1,
    ):
        established = [a1.established, a2.established, b1.established]
        assert len({e["connection_id"] for e in established}) == 3
        assert len({e["session_id"] for e in established}) == 3
        assert [e["user_id"] for e in established] == ["alice", "alice", "bob"]
        alice_hub = server.hub.users.get("alice")
        assert alice_hub is not None
        assert {c.connection_id for c in alice_hub.connections} == {
            a1.established["connection_id"],
            a2.established["connection_id"],
        }


async def test_unknown_session_id_starts_a_new_session(server: Server) -> None:
    async with connect(server, "alice", query="session_id=no-such-session") as client:
        assert client.established["resumed"] is False
        assert client.established["session_id"] != "no-such-session"
