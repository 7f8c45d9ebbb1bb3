"""A scripted WebSocket peer for the browser client's own tests: it sends
frames a real server never would (the same seq twice, a replay that overlaps
what was delivered) so that the client's deduplication is seen to work, and
records what the client sends (its ``?session_id=`` and its ``resume``).

It comes with a plain HTTP origin that serves an empty page without a
Content-Security-Policy: a page of another origin than the netra server's,
which may connect to the peer's port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import h11
import orjson
import trio
from trio_websocket import WebSocketConnection, WebSocketRequest, serve_websocket

Frame = dict[str, Any]
Script = Callable[[WebSocketConnection, "ScriptedPeer"], Awaitable[None]]

BLANK_PAGE = b"<!doctype html><title>netra.js</title>"


@attrs.define
class ScriptedPeer:
    """Plays ``scripts[n]`` for the n-th connection, after sending
    ``connection_established`` and reading the client's first frame."""

    scripts: list[Script]
    session_id: str = "s-scripted"
    paths: list[str] = attrs.Factory(list)
    subprotocols: list[list[str]] = attrs.Factory(list)
    first_frames: list[Frame] = attrs.Factory(list)
    ws_port: int = 0
    http_port: int = 0

    async def serve(
        self, *, task_status: trio.TaskStatus[ScriptedPeer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, self._connection, "127.0.0.1", 0, None)
            self.ws_port = server.port
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            self.http_port = listeners[0].socket.getsockname()[1]
            nursery.start_soon(trio.serve_listeners, self._http, listeners)
            task_status.started(self)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws"

    @property
    def page_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"

    async def _connection(self, request: WebSocketRequest) -> None:
        assert "netra.v1" in request.proposed_subprotocols
        ws = await request.accept(subprotocol="netra.v1")
        self.paths.append(request.path)
        self.subprotocols.append(list(request.proposed_subprotocols))
        script = self.scripts[len(self.paths) - 1]
        await send(
            ws, {"type": "connection_established", "payload": {"session_id": self.session_id}}
        )
        self.first_frames.append(orjson.loads(await ws.get_message()))
        await script(ws, self)

    async def _http(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        async with stream:
            while (event := conn.next_event()) is h11.NEED_DATA:
                conn.receive_data(bytes(await stream.receive_some(4096)))
            assert isinstance(event, h11.Request)
            body = BLANK_PAGE
            headers = [
                (b"content-type", b"text/html"),
                (b"content-length", str(len(body)).encode()),
            ]
            await stream.send_all(conn.send(h11.Response(status_code=200, headers=headers)) or b"")
            await stream.send_all(
                (conn.send(h11.Data(data=body)) or b"") + (conn.send(h11.EndOfMessage()) or b"")
            )


async def send(ws: WebSocketConnection, frame: Frame) -> None:
    await ws.send_message(orjson.dumps(frame).decode())


def event(seq: int) -> Frame:
    return {
        "type": "agent_thinking",
        "payload": {"thought": f"t{seq}"},
        "run_id": "r-1",
        "seq": seq,
    }
