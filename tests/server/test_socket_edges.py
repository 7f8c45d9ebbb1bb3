"""Real loopback sockets at their edges: a peer that resets the connection
(RST) during or right after its upgrade request, and a message that fills the
server's read buffer exactly.

The client side is wsproto on a trio socket, so the test decides the bytes and
how the socket ends.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import AsyncIterator

import orjson
import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from netra_trio.pipeline.deliverer import Deliverer
from netra_trio.server.app import Server
from netra_trio.server.transport import RECEIVE_BYTES
from netra_trio.storage.records import StoredEvent
from tests.helpers import logged_fields, start_server, token_for, wait_logged


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[Server]:
    server = await start_server(nursery)
    yield server
    server.request_shutdown()


def upgrade_request(token: str) -> tuple[WSConnection, bytes]:
    ws = WSConnection(ConnectionType.CLIENT)
    request = Request(
        host="127.0.0.1",
        target="/ws",
        extra_headers=[(b"authorization", f"Bearer {token}".encode())],
    )
    return ws, ws.send(request)


def connect(port: int) -> socket.socket:
    """A plain blocking socket: what it sends and how it ends happen without
    the event loop running in between (the server cannot act half way)."""
    return socket.create_connection(("127.0.0.1", port))


def reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def test_a_peer_that_resets_during_its_request_is_not_an_error(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    _, data = upgrade_request(token_for("alice"))
    sock = connect(server.port)
    sock.sendall(data[:20])  # part of the request line
    await trio.sleep(0.05)  # read by the server before the reset
    reset(sock)
    server.hub.begin_shutdown()
    with trio.fail_after(10):
        await server.hub.wait_drained()  # the socket was handled and closed
    assert logged_fields(netra_logs, "stream_error") == []
    assert server.hub.stats.connections_opened == 0


async def test_a_peer_that_resets_after_its_request_is_refused_quietly(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    """Its request is still read (the kernel keeps what arrived before the
    reset), but its address is gone; the refusal cannot be sent."""
    _, data = upgrade_request("not-a-token")
    sock = connect(server.port)
    sock.sendall(data)
    reset(sock)
    (refused,) = await wait_logged(netra_logs, "handshake_rejected")
    assert refused["status"] == 401
    assert refused["remote"] == "unknown"
    server.hub.begin_shutdown()
    with trio.fail_after(10):
        await server.hub.wait_drained()
    assert logged_fields(netra_logs, "stream_error") == []


async def test_a_message_that_fills_the_read_buffer_exactly_is_answered(server: Server) -> None:
    """The server reads as much as its buffer holds; after a full read it
    reads again at once and, finding nothing, waits for the socket."""
    ws, data = upgrade_request(token_for("alice"))
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        await stream.send_all(data)
        events: list[object] = []

        async def more() -> None:
            ws.receive_data(await stream.receive_some(65536))
            events.extend(ws.events())

        with trio.fail_after(10):
            while not any(isinstance(e, TextMessage) for e in events):
                await more()  # the 101, then connection_established
        assert isinstance(events[0], AcceptConnection)
        frame = {"type": "ping", "message_id": "full", "payload": {"pad": ""}}
        header = 8  # 2 bytes, a 16-bit length, and the client's mask
        frame["payload"] = {"pad": "x" * (RECEIVE_BYTES - header - len(orjson.dumps(frame)))}
        message = ws.send(TextMessage(data=orjson.dumps(frame).decode()))
        assert len(message) == RECEIVE_BYTES  # header, mask and text: one full read
        await stream.send_all(message)
        events.clear()
        with trio.fail_after(10):
            while not any(isinstance(e, TextMessage) for e in events):
                await more()
        (pong,) = [orjson.loads(e.data) for e in events if isinstance(e, TextMessage)]
        assert pong["type"] == "pong" and pong["correlation_id"] == "full"
        assert pong["payload"]["pad"] == frame["payload"]["pad"]


async def test_a_delivery_to_a_peer_that_just_reset_ends_the_connection_as_lost(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    """The peer resets while its writer is idle; the next delivery's write
    (from the delivering task) finds the socket gone: the connection ends as
    lost by the client (1006), with no error."""
    ws, data = upgrade_request(token_for("alice"))
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(data)
    events: list[object] = []
    with trio.fail_after(10):
        while not any(isinstance(e, TextMessage) for e in events):
            ws.receive_data(await stream.receive_some(65536))
            events.extend(ws.events())
    # a first frame ends the initial hold of live events (see replay.py)
    await stream.send_all(ws.send(TextMessage(data='{"type":"ping","message_id":"p"}')))
    with trio.fail_after(10):
        while not any(isinstance(e, TextMessage) and '"pong"' in e.data for e in events):
            ws.receive_data(await stream.receive_some(65536))
            events.extend(ws.events())
    user_hub = server.hub.users.get("alice")
    assert user_hub is not None
    (connection,) = user_hub.connections
    with trio.fail_after(10):
        while not connection.outbound.scheduler.receiver_waiting:  # noqa: ASYNC110
            await trio.sleep(0.001)  # the writer has sent connection_established and waits
    frame = '{"type":"agent_thinking","payload":{"agent_name":"a","thought":"t","step":1}}'
    event = StoredEvent("alice", 1, "agent_thinking", "r-1", "t-1", frame, time.time())
    # No checkpoint from here: the reset reaches the server's socket before the write.
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()
    Deliverer(server.hub).deliver([event])
    assert not connection.is_open  # closed by that write, before the reader saw the reset
    (ended,) = await wait_logged(netra_logs, "disconnect")
    assert (ended["code"], ended["by"]) == (1006, "client")
    assert logged_fields(netra_logs, "connection_error") == []
    assert logged_fields(netra_logs, "delivery_flush_error") == []
