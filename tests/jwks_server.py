"""A small HTTP server on loopback that serves a JWKS document and counts the
requests it answers (an issuer, for the tests of ``--jwks-url``)."""

from __future__ import annotations

from typing import Any

import orjson
import trio


class JwksServer:
    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.status = 200  # what the next requests are answered with
        self.requests = 0
        self.url = ""

    async def run(
        self, *, task_status: trio.TaskStatus[JwksServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
        task_status.started(self)
        await trio.serve_listeners(self._answer, listeners)

    async def _answer(self, stream: trio.SocketStream) -> None:
        request = b""
        with trio.move_on_after(10):
            while b"\r\n\r\n" not in request:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    return
                request += chunk
        assert request.startswith(b"GET /.well-known/jwks.json "), request[:60]
        self.requests += 1
        body = orjson.dumps({"keys": self.keys}) if self.status == 200 else b"{}"
        head = (
            f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        await stream.send_all(head + body)
