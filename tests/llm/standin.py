"""A stand-in for an OpenAI-compatible provider, on loopback.

It streams a scripted reply as server-sent events, or misbehaves on purpose
(HTTP 500, a stalled response, a malformed stream), and records every request.
"""

from __future__ import annotations

from typing import Any

import attrs
import h11
import orjson
import trio


@attrs.define
class StandIn:
    reply: str = "Switch most traffic to gpt-4o-mini and cache the system prompt."
    mode: str = "ok"  # "ok" | "error" | "stall" | "malformed"
    chunk_chars: int = 12
    requests: list[dict[str, Any]] = attrs.Factory(list)
    headers: list[dict[str, str]] = attrs.Factory(list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def serve(
        self, *, task_status: trio.TaskStatus[StandIn] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        body = b""
        async with stream:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(bytes(await stream.receive_some(65536)))
                    continue
                if isinstance(event, h11.Request):
                    self.headers.append({k.decode(): v.decode() for k, v in event.headers})
                elif isinstance(event, h11.Data):
                    body += bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
            self.requests.append(orjson.loads(body))
            if self.mode == "stall":
                await trio.sleep_forever()
            if self.mode == "error":
                await stream.send_all(
                    conn.send(h11.Response(status_code=500, headers=[(b"content-length", b"0")]))
                )
                await stream.send_all(conn.send(h11.EndOfMessage()))
                return
            await stream.send_all(
                conn.send(
                    h11.Response(
                        status_code=200,
                        headers=[
                            (b"content-type", b"text/event-stream"),
                            (b"transfer-encoding", b"chunked"),
                        ],
                    )
                )
            )
            for event_data in self._events():
                await stream.send_all(conn.send(h11.Data(data=b"data: " + event_data + b"\n\n")))
            await stream.send_all(conn.send(h11.EndOfMessage()))

    def _events(self) -> list[bytes]:
        if self.mode == "malformed":
            return [b"{not json"]
        pieces = [
            self.reply[i : i + self.chunk_chars]
            for i in range(0, len(self.reply), self.chunk_chars)
        ]
        chunks = [
            orjson.dumps({"choices": [{"index": 0, "delta": {"content": p}}]}) for p in pieces
        ]
        return [*chunks, b"[DONE]"]
