"""The HTTP upgrade of a new socket: read the request, then accept it (101)
with a :class:`WebSocketTransport` or refuse it with a status and a body.

wsproto parses the request; a request that is not a valid WebSocket upgrade
is answered with 400 by the parser's own hint.
"""

from __future__ import annotations

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, RejectData, Request
from wsproto.utilities import RemoteProtocolError

from netra_trio.server.transport import WebSocketTransport, receive_quietly, send_quietly


def describe_remote(stream: trio.abc.Stream) -> str:
    """``host:port`` of a socket stream's peer (under TLS too); the stream's
    type otherwise."""
    stream = getattr(stream, "transport_stream", stream)  # a trio.SSLStream's socket
    sock = getattr(stream, "socket", None)
    if sock is not None:
        try:
            peer = sock.getpeername()
        except OSError:
            return "unknown"
        if isinstance(peer, tuple) and len(peer) >= 2:
            return f"{peer[0]}:{peer[1]}"
        return str(peer)
    return type(stream).__name__


class Handshake:
    """An upgrade request read from a stream and not yet answered."""

    def __init__(self, stream: trio.abc.Stream, conn: WSConnection, request: Request) -> None:
        self._stream = stream
        self._conn = conn
        self.path = request.target
        self.headers: list[tuple[bytes, bytes]] = [
            (bytes(name), bytes(value)) for name, value in request.extra_headers
        ]
        self.subprotocols = tuple(request.subprotocols)

    async def reject(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        data = self._conn.send(
            RejectConnection(status_code=status, headers=headers, has_body=True)
        ) + self._conn.send(RejectData(data=body, body_finished=True))
        await send_quietly(self._stream, data)

    async def accept(
        self, subprotocol: str | None, *, max_message_bytes: int
    ) -> WebSocketTransport | None:
        """Send the 101 response; None when the peer is already gone."""
        data = self._conn.send(AcceptConnection(subprotocol=subprotocol))
        connection = self._conn.connection  # the open WebSocket, without the HTTP state
        if connection is None or not await send_quietly(self._stream, data):
            return None
        return WebSocketTransport(self._stream, connection, max_message_bytes)


async def read_handshake(stream: trio.abc.Stream) -> Handshake | None:
    """Read an upgrade request. A request that is not a valid WebSocket upgrade
    is answered with 400 and gives None, as does a peer that hangs up."""
    conn = WSConnection(ConnectionType.SERVER)
    while True:
        data = await receive_quietly(stream)
        if not data:
            return None
        try:
            conn.receive_data(data)
        except RemoteProtocolError as exc:
            hint = exc.event_hint
            if isinstance(hint, RejectConnection):
                reply = conn.send(
                    RejectConnection(
                        status_code=hint.status_code,
                        headers=[(b"Content-Type", b"text/plain"), (b"Connection", b"close")],
                        has_body=True,
                    )
                )
                reply += conn.send(RejectData(data=f"{exc}\n".encode(), body_finished=True))
                await send_quietly(stream, reply)
            return None
        for event in conn.events():
            if isinstance(event, Request):
                return Handshake(stream, conn, event)
