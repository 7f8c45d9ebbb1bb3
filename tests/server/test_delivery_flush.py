"""Flushes at the end of a delivery: a connection given events writes them from
the delivering task when its writer is idle, and leaves the rest of a partial
write to its writer. Over real loopback sockets, so that writes can be partial."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import orjson
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from netra_trio.core.priority import Priority
from netra_trio.errors import CloseCode
from netra_trio.server.app import Server
from netra_trio.server.connection import Connection
from netra_trio.server.scheduler import OutboundFrame
from tests.helpers import start_server, token_for

BIG = 4 * 1024 * 1024  # far more than a loopback socket takes at once
_ROOMY = {"queue_max_bytes": 64 * 1024 * 1024, "user_backlog_max_bytes": 128 * 1024 * 1024}


class _RawClient:
    """A client on a real socket with a small receive buffer, which reads only
    when told to."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.texts: list[str] = []
        self.close: CloseConnection | None = None
        self._parts = ""

    async def read_texts(self, count: int) -> None:
        await self._read_until(lambda: len(self.texts) >= count)

    async def read_to_close(self) -> None:
        await self._read_until(lambda: self.close is not None)

    async def _read_until(self, done: Callable[[], bool]) -> None:
        with trio.fail_after(30):
            while not done():
                data = await self.stream.receive_some(65536)
                assert data, "the server closed the socket without a close frame"
                self.ws.receive_data(data)  # raises on a corrupt stream
                for event in self.ws.events():
                    if isinstance(event, TextMessage):
                        self._parts += event.data
                        if event.message_finished:
                            self.texts.append(self._parts)
                            self._parts = ""
                    elif isinstance(event, CloseConnection):
                        self.close = event
                    elif not isinstance(event, AcceptConnection):
                        raise AssertionError(f"unexpected {event!r}")


@asynccontextmanager
async def _stalled_connection(
    nursery: trio.Nursery, user: str
) -> AsyncIterator[tuple[_RawClient, Connection]]:
    """A server with room for big frames, a client of ``user`` past the initial
    hold that then stops reading, and the server side of its connection."""
    server = await start_server(nursery, **_ROOMY)
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", server.port))
    client = _RawClient(trio.SocketStream(sock))
    request = Request(
        host="t",
        target="/ws",
        extra_headers=[(b"authorization", f"Bearer {token_for(user)}".encode())],
    )
    await client.stream.send_all(client.ws.send(request))
    await client.read_texts(1)  # connection_established
    await client.stream.send_all(client.ws.send(TextMessage(data='{"type": "heartbeat"}')))
    await client.read_texts(2)  # heartbeat_ack: the initial hold is over
    async with client.stream:
        yield client, await _connection_of(server, user)


async def _connection_of(server: Server, user: str) -> Connection:
    with trio.fail_after(5):
        while True:
            user_hub = server.hub.users.get(user)
            if user_hub is not None and user_hub.connections:
                return user_hub.connections[0]
            await trio.sleep(0.01)


def _frame(user: str, n: int, size: int) -> OutboundFrame:
    text = orjson.dumps({"type": "agent_thinking", "payload": {"n": n, "pad": "x" * size}}).decode()
    return OutboundFrame(user, text, Priority.CRITICAL, seq=n)


async def test_frames_given_in_a_round_arrive_whole_and_in_order_through_partial_writes(
    nursery: trio.Nursery,
) -> None:
    async with _stalled_connection(nursery, "alice") as (client, connection):
        connection.queue_events([_frame("alice", n, BIG // 4) for n in range(1, 6)])
        connection.flush()
        # the flush wrote what the socket took, from this task; the writer sends the rest
        await client.read_texts(2 + 5)
    received = [orjson.loads(t)["payload"]["n"] for t in client.texts[2:]]
    assert received == [1, 2, 3, 4, 5]


async def test_a_close_right_after_a_partial_flush_finishes_the_frame_first(
    nursery: trio.Nursery,
) -> None:
    async with _stalled_connection(nursery, "bob") as (client, connection):
        # the second is left queued: over one write's worth
        connection.queue_events([_frame("bob", 1, BIG), _frame("bob", 2, BIG)])
        connection.flush()
        # still in the same step: the socket took part of the first frame, and the
        # connection is closed before its writer could send the rest (the writer
        # is cancelled as it wakes, since frames are still queued)
        connection.close(CloseCode.EVICTED, "emergency")
        await client.read_to_close()
    assert [orjson.loads(t)["payload"]["n"] for t in client.texts[2:]] == [1]
    assert client.close is not None and client.close.code == CloseCode.EVICTED
