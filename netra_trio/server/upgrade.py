"""The first request on a new socket: a WebSocket upgrade to accept (101,
with a :class:`WebSocketTransport`) or refuse with a status and a body, or a
plain HTTP request (health, readiness) to answer.

wsproto parses the request. When it refuses one as an upgrade, the bytes read
so far are parsed again with h11: a well-formed HTTP request comes back as a
:class:`PlainRequest` (carrying wsproto's own refusal, for the WebSocket path);
anything else is answered with 400. The upgrade path parses once.
"""

from __future__ import annotations

from http import HTTPStatus

import h11
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, RejectData, Request
from wsproto.utilities import RemoteProtocolError

from netra_trio.server.transport import WebSocketTransport, receive_quietly, send_quietly

Headers = list[tuple[bytes, bytes]]


def describe_remote(stream: trio.abc.Stream) -> str:
    """``host:port`` of a socket stream's peer (under any wrapping stream,
    such as TLS); the stream's type otherwise."""
    while not hasattr(stream, "socket") and isinstance(
        inner := getattr(stream, "transport_stream", None), trio.abc.Stream
    ):
        stream = inner
    sock = getattr(stream, "socket", None)
    if sock is not None:
        try:
            peer = sock.getpeername()
        except OSError:
            return "unknown"
        if isinstance(peer, tuple) and len(peer) >= 2:
            host = f"[{peer[0]}]" if ":" in peer[0] else peer[0]
            return f"{host}:{peer[1]}"
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


class PlainRequest:
    """An HTTP request that is not a WebSocket upgrade, not yet answered.
    ``not_an_upgrade`` is wsproto's refusal of it as one (status, reason)."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        conn: h11.Connection,
        request: h11.Request,
        not_an_upgrade: tuple[int, str],
    ) -> None:
        self._stream = stream
        self._conn = conn
        self.method = bytes(request.method)
        self.target = bytes(request.target)
        self.headers: Headers = [(bytes(name), bytes(value)) for name, value in request.headers]
        self.not_an_upgrade = not_an_upgrade

    async def respond(self, status: int, headers: Headers, body: bytes) -> None:
        data = h11_response(self._conn, self.method, status, headers, body)
        await send_quietly(self._stream, data)


def h11_response(
    conn: h11.Connection, method: bytes, status: int, headers: Headers, body: bytes
) -> bytes:
    """The whole response to a request of ``method``, with its length (and,
    to a HEAD request, without its body). A 304 has neither: its length
    would have to be that of the 200 it stands for."""
    if status != 304:
        headers = [*headers, (b"Content-Length", str(len(body)).encode())]
    response = h11.Response(
        status_code=status, headers=headers, reason=HTTPStatus(status).phrase.encode()
    )
    data = conn.send(response) or b""
    if method != b"HEAD":
        data += conn.send(h11.Data(data=body)) or b""
    return data + (conn.send(h11.EndOfMessage()) or b"")


def unread_refusal(status: int, headers: Headers, body: bytes) -> bytes:
    """A complete HTTP/1.1 response, sent before the request is read (and then
    the socket is closed)."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
    lines += [name + b": " + value for name, value in headers]
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def read_request(stream: trio.abc.Stream) -> Handshake | PlainRequest | None:
    """Read the first request: an upgrade request, or a plain HTTP request.
    What is not HTTP is answered with 400 and gives None, as does a peer that
    hangs up."""
    conn = WSConnection(ConnectionType.SERVER)
    received = bytearray()  # (what wsproto holds too, bounded by h11's limit on a request head)
    while True:
        data = await receive_quietly(stream)
        if not data:
            return None
        received += data
        try:
            conn.receive_data(data)
        except RemoteProtocolError as exc:
            hint = exc.event_hint
            status = hint.status_code if isinstance(hint, RejectConnection) else 400
            plain = _plain_request(stream, bytes(received), (status, str(exc)))
            if plain is not None:
                return plain
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


async def read_handshake(stream: trio.abc.Stream) -> Handshake | None:
    """Read an upgrade request; a plain HTTP request is refused as an upgrade
    (wsproto's status and reason), and gives None."""
    request = await read_request(stream)
    if isinstance(request, PlainRequest):
        status, reason = request.not_an_upgrade
        await request.respond(status, [(b"Content-Type", b"text/plain")], f"{reason}\n".encode())
        return None
    return request


def _plain_request(
    stream: trio.abc.Stream, data: bytes, not_an_upgrade: tuple[int, str]
) -> PlainRequest | None:
    conn = h11.Connection(h11.SERVER)
    try:
        conn.receive_data(data)
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    if not isinstance(event, h11.Request):
        return None
    return PlainRequest(stream, conn, event, not_an_upgrade)
