"""The frame-level Trio client: for testing the protocol itself, frame by frame.

    async with open_client(url, token) as client:
        await client.send("ping", {"n": 1}, message_id="c-1")
        pong = await client.receive_type("pong")

Frames come back as plain dicts. ``batch`` frames are unpacked when
``unbatch=True`` (the default), so callers see frames one at a time. Nothing
is done for the caller: no reconnect, no resume, no typed frames (the
clients for applications are :func:`netra_trio.client.connect` and
:mod:`netra_trio.client.asyncio`).
"""

from __future__ import annotations

import itertools
import math
import secrets
import ssl
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio
from trio_websocket import WebSocketConnection

from netra_trio.auth import SUBPROTOCOL
from netra_trio.client.websocket import open_websocket as open_websocket


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
