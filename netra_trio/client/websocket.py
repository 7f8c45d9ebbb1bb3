"""A client WebSocket on Trio (trio-websocket over a TCP or TLS stream that
this module owns and always closes)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio
from trio_websocket import WebSocketConnection, wrap_client_stream

from netra_trio.client.core.urls import ServerAddress, parse_url

MAX_MESSAGE_CHARS = 2**20  # trio-websocket's default bound on a received message


@asynccontextmanager
async def open_websocket(
    url: str | ServerAddress,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    subprotocols: Sequence[str] = (),
    ssl_context: ssl.SSLContext | None = None,
    resource: str | None = None,
    max_message_chars: int = MAX_MESSAGE_CHARS,
) -> AsyncIterator[WebSocketConnection]:
    """A client WebSocket whose TCP stream this function owns and always closes,
    also when the server refuses the handshake or closes first. A ``wss://``
    URL speaks TLS, verified with ``ssl_context`` (the system's trusted
    authorities when None). The port defaults to 80 or 443 and the path to
    ``/ws``; ``resource`` replaces the URL's path and query.

    A refused handshake raises ``trio_websocket.ConnectionRejected`` (with the
    status, headers and JSON body), not an exception group.
    """
    address = parse_url(url) if isinstance(url, str) else url
    tcp = await trio.open_tcp_stream(address.host, address.port)
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] = tcp
    try:
        if address.secure:
            context = ssl_context or ssl.create_default_context()
            stream = trio.SSLStream(tcp, context, server_hostname=address.host)
            # now, so that a certificate that is not trusted raises here
            # (BrokenResourceError from ssl.SSLCertVerificationError)
            await stream.do_handshake()
        try:
            async with trio.open_nursery() as nursery:
                ws = await wrap_client_stream(
                    nursery,
                    stream,
                    address.host_header,
                    address.resource() if resource is None else resource,
                    subprotocols=list(subprotocols),
                    extra_headers=list(headers),
                    max_message_size=max_message_chars,
                )
                try:
                    yield ws
                finally:
                    with trio.move_on_after(2, shield=True):
                        await ws.aclose()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
    finally:
        await trio.aclose_forcefully(stream)
