"""A WebSocket peer on loopback that plays a script per connection, to show
the clients what the netra server never sends (a replay of events already
delivered, malformed frames, another user): its Nth connection sends the Nth
script's frames, then closes with its code (or stays open). It records each
handshake's resource and headers and the frames the client sent."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import attrs
import orjson
import trio
import trio.lowlevel
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

Reply = Callable[[dict[str, Any]], list[str]]


@attrs.define
class Script:
    frames: list[str]
    close: int | None = None  # after the client's first frame; None: stay open
    reply: Reply | None = None  # the frames that answer each client frame


@attrs.define
class Seen:
    resource: str
    headers: dict[str, str]
    frames: list[str] = attrs.Factory(list)


class ScriptedPeer:
    def __init__(self, *scripts: Script) -> None:
        self.scripts = scripts
        self.connections: list[Seen] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def serve(self, task_status: trio.TaskStatus[ScriptedPeer]) -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, self._handle, "127.0.0.1", 0, None)
            self.port = server.port
            task_status.started(self)

    async def _handle(self, request: WebSocketRequest) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        seen = Seen(request.path, headers)
        script = self.scripts[min(len(self.connections), len(self.scripts) - 1)]
        self.connections.append(seen)
        ws = await request.accept()
        try:
            for frame in script.frames:
                await ws.send_message(frame)
            while True:
                text = str(await ws.get_message())
                seen.frames.append(text)
                for answer in script.reply(orjson.loads(text)) if script.reply else []:
                    await ws.send_message(answer)
                if script.close is not None:
                    await ws.aclose(script.close, "scripted")
                    return
        except ConnectionClosed:
            return


def frame(kind: str, payload: dict[str, Any] | None = None, **envelope: Any) -> str:
    return orjson.dumps({"type": kind, "payload": payload or {}, **envelope}).decode()


def established(user: str = "alice", session: str = "s-1", server_time: float = 1.0) -> str:
    return frame(
        "connection_established",
        {
            "connection_id": f"c-{session}",
            "session_id": session,
            "user_id": user,
            "resumed": False,
            "server_time": server_time,
            "heartbeat_interval_s": 25,
            "limits": {
                "max_connections_per_user": 5,
                "max_message_bytes": 65536,
                "idle_timeout_s": 1800,
            },
        },
    )


def event(seq: int, kind: str = "agent_thinking", timestamp: float = 2.0, **envelope: Any) -> str:
    payloads: dict[str, dict[str, Any]] = {
        "agent_thinking": {"agent_name": "a", "thought": f"step {seq}", "step": seq},
        "agent_completed": {"agent_name": "a", "status": "success", "result": None},
    }
    fields = {"run_id": "r-1", "thread_id": "t-1", "timestamp": timestamp, **envelope}
    return frame(kind, payloads[kind], seq=seq, **fields)


class Service(Protocol):
    async def serve(self, task_status: trio.TaskStatus[Any]) -> None: ...


@contextmanager
def served_in_a_thread(service: Service) -> Iterator[Callable[[Callable[[], None]], None]]:
    """``service`` served by Trio in a thread of its own (for asyncio tests);
    yields a function that runs a plain function in that thread."""
    ready = threading.Event()
    handles: list[tuple[trio.lowlevel.TrioToken, trio.CancelScope]] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.serve)
            handles.append((trio.lowlevel.current_trio_token(), nursery.cancel_scope))
            ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    assert ready.wait(10), "the service did not start"
    token, scope = handles[0]

    def call(function: Callable[[], None]) -> None:
        trio.from_thread.run_sync(function, trio_token=token)

    try:
        yield call
    finally:
        call(scope.cancel)
        thread.join(10)


@contextmanager
def peer_in_a_thread(*scripts: Script) -> Iterator[ScriptedPeer]:
    peer = ScriptedPeer(*scripts)
    with served_in_a_thread(peer):
        yield peer
