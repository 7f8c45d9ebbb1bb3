"""An async client for Python users and for the tests.

    async with open_client(url, token) as client:
        await client.send("ping", {"n": 1}, message_id="c-1")
        pong = await client.receive_type("pong")

Frames come back as plain dicts. ``batch`` frames are unpacked when
``unbatch=True`` (the default), so callers see frames one at a time.
"""

from __future__ import annotations

import itertools
import math
import secrets
import ssl
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import orjson
import trio
from trio_websocket import WebSocketConnection, wrap_client_stream

from netra_trio.auth import SUBPROTOCOL


class NetraClient:
    def __init__(self, ws: WebSocketConnection, *, unbatch: bool = True) -> None:
        self.ws = ws
        self._unbatch = unbatch
        self._pending: deque[dict[str, Any]] = deque()
        # message ids unique among the user's connections: the events of a run
        # reach every one of them, correlated with the request that started it
        self._id_prefix = f"c{secrets.token_hex(4)}"
        self._ids = itertools.count(1)
        self.established: dict[str, Any] = {}

    async def send(self, kind: str, payload: dict[str, Any] | None = None, **envelope: Any) -> None:
        frame: dict[str, Any] = {"type": kind}
        if payload is not None:
            frame["payload"] = payload
        frame.update(envelope)
        await self.ws.send_message(orjson.dumps(frame).decode())

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send_message(data)

    async def receive(self) -> dict[str, Any]:
        while not self._pending:
            frame = orjson.loads(await self.ws.get_message())
            if self._unbatch and frame.get("type") == "batch":
                self._pending.extend(frame["payload"]["messages"])
            else:
                self._pending.append(frame)
        return self._pending.popleft()

    async def receive_type(self, kind: str, *, timeout_s: float = 10.0) -> dict[str, Any]:
        """The next frame of type ``kind``; frames of other types before it are dropped."""
        with trio.fail_after(timeout_s):
            while True:
                frame = await self.receive()
                if frame["type"] == kind:
                    return frame

    async def request(
        self,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        timeout_s: float = 10.0,
        **envelope: Any,
    ) -> dict[str, Any]:
        """Send a frame with a fresh ``message_id`` and wait for the reply that correlates."""
        message_id = envelope.pop("message_id", None) or f"{self._id_prefix}-{next(self._ids)}"
        await self.send(kind, payload, message_id=message_id, **envelope)
        with trio.fail_after(timeout_s):
            while True:
                frame = await self.receive()
                if frame.get("correlation_id") == message_id:
                    return frame


@asynccontextmanager
async def open_websocket(
    url: str,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    subprotocols: Sequence[str] = (),
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[WebSocketConnection]:
    """A client WebSocket whose TCP stream this function owns and always closes,
    also when the server refuses the handshake or closes first. A ``wss://``
    URL speaks TLS, verified with ``ssl_context`` (the system's trusted
    authorities when None).

    A refused handshake raises ``trio_websocket.ConnectionRejected`` (with the
    status, headers and JSON body), not an exception group.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or parts.hostname is None or parts.port is None:
        raise ValueError(f"expected ws://HOST:PORT/PATH or wss://HOST:PORT/PATH, got {url!r}")
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    tcp = await trio.open_tcp_stream(parts.hostname, parts.port)
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] = tcp
    try:
        if parts.scheme == "wss":
            context = ssl_context or ssl.create_default_context()
            stream = trio.SSLStream(tcp, context, server_hostname=parts.hostname)
            # now, so that a certificate that is not trusted raises here
            # (BrokenResourceError from ssl.SSLCertVerificationError)
            await stream.do_handshake()
        try:
            async with trio.open_nursery() as nursery:
                ws = await wrap_client_stream(
                    nursery,
                    stream,
                    f"{parts.hostname}:{parts.port}",
                    resource,
                    subprotocols=list(subprotocols),
                    extra_headers=list(headers),
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


@asynccontextmanager
async def open_client(
    url: str,
    token: str | None,
    *,
    use_subprotocol: bool = False,
    unbatch: bool = True,
    connect_timeout_s: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[NetraClient]:
    """A connected client, past ``connection_established`` (its payload is in
    ``client.established``). Connecting is bounded by ``connect_timeout_s``."""
    headers: list[tuple[bytes, bytes]] = []
    subprotocols: list[str] = []
    if token is not None and use_subprotocol:
        subprotocols = [SUBPROTOCOL, f"bearer.{token}"]
    elif token is not None:
        headers = [(b"Authorization", f"Bearer {token}".encode())]
    with trio.CancelScope(deadline=trio.current_time() + connect_timeout_s) as opening:
        async with open_websocket(
            url, headers=headers, subprotocols=subprotocols, ssl_context=ssl_context
        ) as ws:
            client = NetraClient(ws, unbatch=unbatch)
            first = await client.receive()
            if first.get("type") != "connection_established":
                raise RuntimeError(f"expected connection_established, got {first.get('type')!r}")
            client.established = first["payload"]
            opening.deadline = math.inf
            yield client
    if opening.cancelled_caught:
        raise trio.TooSlowError(f"connecting to {url} took over {connect_timeout_s} s")
