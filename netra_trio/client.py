"""An async client for Python users and for the tests.

    async with open_client(url, token) as client:
        await client.send("ping", {"n": 1}, message_id="c-1")
        pong = await client.receive_type("pong")

Frames come back as plain dicts. ``batch`` frames are unpacked when
``unbatch=True`` (the default), so callers see frames one at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from netra_trio.auth import SUBPROTOCOL


class NetraClient:
    def __init__(self, ws: WebSocketConnection, *, unbatch: bool = True) -> None:
        self.ws = ws
        self._unbatch = unbatch
        self._pending: deque[dict[str, Any]] = deque()
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
        message_id = envelope.pop("message_id", None) or f"c-{id(object())}"
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
) -> AsyncIterator[NetraClient]:
    headers: list[tuple[bytes, bytes]] = []
    subprotocols: list[str] = []
    if token is not None and use_subprotocol:
        subprotocols = [SUBPROTOCOL, f"bearer.{token}"]
    elif token is not None:
        headers = [(b"Authorization", f"Bearer {token}".encode())]
    async with open_websocket_url(
        url,
        subprotocols=subprotocols,
        extra_headers=headers,
        connect_timeout=connect_timeout_s,
        disconnect_timeout=5,
    ) as ws:
        client = NetraClient(ws, unbatch=unbatch)
        first = await client.receive()
        if first.get("type") != "connection_established":
            raise RuntimeError(f"expected connection_established, got {first.get('type')!r}")
        client.established = first["payload"]
        yield client
