"""Shell-tier harness: a Hub over in-memory streams, a raw wsproto client, and a
bare transport with its raw peer.

The raw client speaks WebSocket frame by frame, so a test can withhold pongs
or stop reading, which a full client library would not let it do.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from netra_trio.agents.base import AgentRegistry
from netra_trio.agents.registry import default_agents
from netra_trio.auth import Authenticator
from netra_trio.handlers import default_router
from netra_trio.server.hub import Hub
from netra_trio.server.startup import running_services
from netra_trio.server.transport import WebSocketTransport
from netra_trio.server.upgrade import read_handshake
from tests.helpers import SECRET, make_config, token_for

StreamPair = Callable[[], tuple[trio.abc.Stream, trio.abc.Stream]]
_message_ids = itertools.count(1)


@asynccontextmanager
async def running_hub(
    *, agents: AgentRegistry | None = None, **overrides: Any
) -> AsyncIterator[tuple[Hub, trio.Nursery]]:
    """The server's services and hub (no listener), as the server starts them,
    on an in-memory database, with the sessions on trio's clock."""
    async with running_services(
        make_config(**overrides),
        agents=agents or default_agents(),
        router=default_router(),
        authenticator=Authenticator(secret=SECRET),
        clock=trio.current_time,
    ) as runtime:
        yield runtime.hub, runtime.hub_nursery


class RawClient:
    def __init__(self, stream: trio.abc.Stream, *, auto_pong: bool = True) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.auto_pong = auto_pong
        self._events: deque[Event] = deque()
        self.pings_seen = 0
        self.eof = False
        self.established: dict[str, Any] = {}  # the connection_established payload
        self._pumped: trio.MemoryReceiveChannel[Event] | None = None
        self._send_lock = trio.Lock()

    async def _send(self, data: bytes) -> None:
        async with self._send_lock:
            await self.stream.send_all(data)

    async def handshake(self, token: str, target: str = "/ws") -> Event:
        await self.send_request(token, target)
        return await self.next_event()

    async def send_request(self, token: str, target: str = "/ws") -> None:
        """The upgrade request alone, for a test that reads the answer later."""
        request = Request(
            host="test",
            target=target,
            extra_headers=[(b"authorization", f"Bearer {token}".encode())],
        )
        await self._send(self.ws.send(request))

    async def send_json(self, frame: dict[str, Any]) -> None:
        await self._send(self.ws.send(TextMessage(data=orjson.dumps(frame).decode())))

    async def next_event(self) -> Event:
        """The next event other than a ping. With a pump running, from its
        queue; otherwise read from the stream now."""
        if self._pumped is not None:
            try:
                return await self._pumped.receive()
            except trio.EndOfChannel:
                raise EOFError("server closed the stream") from None
        while not self._events:
            await self._read_once()
        return self._events.popleft()

    async def _read_once(self) -> None:
        data = await self.stream.receive_some(65536)
        if not data:
            self.eof = True
            raise EOFError("server closed the stream")
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, CloseConnection):
                with contextlib.suppress(Exception):
                    await self._send(self.ws.send(event.response()))
            if isinstance(event, Ping):
                self.pings_seen += 1
                if self.auto_pong:
                    await self._send(self.ws.send(event.response()))
                continue
            self._events.append(event)

    def start_pump(self, nursery: trio.Nursery) -> None:
        """Read continuously (answering pings) so a test may sleep while connected."""
        send, self._pumped = trio.open_memory_channel[Event](1000)
        nursery.start_soon(self._pump, send)

    async def _pump(self, send: trio.MemorySendChannel[Event]) -> None:
        async with send:
            try:
                while True:
                    while self._events:
                        await send.send(self._events.popleft())
                    await self._read_once()
            except (EOFError, trio.BrokenResourceError, trio.ClosedResourceError):
                return

    async def next_frame(self) -> dict[str, Any]:
        event = await self.next_event()
        assert isinstance(event, TextMessage), event
        frame: dict[str, Any] = orjson.loads(event.data)
        return frame

    async def until_close(self) -> CloseConnection:
        while True:
            event = await self.next_event()
            if isinstance(event, CloseConnection):
                return event

    async def frames_until_close(self) -> tuple[CloseConnection, list[dict[str, Any]]]:
        """The frames that arrive before the server's close, and the close."""
        frames: list[dict[str, Any]] = []
        while True:
            event = await self.next_event()
            if isinstance(event, CloseConnection):
                return event, frames
            assert isinstance(event, TextMessage), event
            frames.append(orjson.loads(event.data))

    async def rejection(self) -> tuple[RejectConnection, dict[str, Any]]:
        """The refusal of the handshake, and its JSON body."""
        with trio.fail_after(10):
            refused = await self.next_event()
            assert isinstance(refused, RejectConnection), refused
            body = b""
            while True:
                data = await self.next_event()
                assert isinstance(data, RejectData), data
                body += data.data
                if data.body_finished:
                    break
        return refused, orjson.loads(body)

    async def close(self, code: int = 1000) -> CloseConnection:
        """Start the closing handshake; the server's answer."""
        await self._send(self.ws.send(CloseConnection(code=code)))
        return await self.until_close()

    async def request(self, kind: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a frame with a message id; the frame that answers it (others are dropped)."""
        message_id = f"{kind}-{next(_message_ids)}"
        await self.send_json({"type": kind, "payload": payload or {}, "message_id": message_id})
        while True:
            frame = await self.next_frame()
            if frame.get("correlation_id") == message_id:
                return frame


async def open_raw(
    hub: Hub,
    nursery: trio.Nursery,
    user: str,
    *,
    auto_pong: bool = True,
    pair: StreamPair = trio.testing.memory_stream_pair,
    ttl_s: float = 86_400.0,
    pump: bool = False,
    target: str = "/ws",
) -> RawClient:
    client_stream, server_stream = pair()
    nursery.start_soon(hub.handle_stream, server_stream)
    client = RawClient(client_stream, auto_pong=auto_pong)
    event = await client.handshake(token_for(user, ttl_s), target)
    if isinstance(event, RejectConnection):
        raise AssertionError(f"handshake rejected with {event.status_code}")
    assert isinstance(event, AcceptConnection), event
    established = await client.next_frame()
    assert established["type"] == "connection_established"
    client.established = established["payload"]
    if pump:
        client.start_pump(nursery)
    return client


async def wait_until(
    predicate: Callable[[], bool], timeout_s: float = 60.0, interval_s: float = 0.25
) -> None:
    """Poll server-side state. Under the shell tier's autojump clock every poll
    costs a few real milliseconds, so the interval is coarse."""
    with trio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polling state owned by the server
            await trio.sleep(interval_s)


class RawPeer:
    """The client side: a wsproto connection on one end of a memory stream."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)

    async def send(self, event: Event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def events(self) -> list[Event]:
        data = await self.stream.receive_some(65536)
        self.ws.receive_data(data or None)
        return list(self.ws.events())


@asynccontextmanager
async def connected(
    max_message_bytes: int = 64,
) -> AsyncIterator[tuple[WebSocketTransport, RawPeer]]:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    peer = RawPeer(client_stream)
    await peer.send(Request(host="localhost", target="/ws?x=1", subprotocols=["netra.v1"]))
    handshake = await read_handshake(server_stream)
    assert handshake is not None
    assert handshake.path == "/ws?x=1"
    assert handshake.subprotocols == ("netra.v1",)
    transport = await handshake.accept("netra.v1", max_message_bytes=max_message_bytes)
    assert transport is not None
    (accepted,) = await peer.events()
    assert isinstance(accepted, AcceptConnection)
    assert accepted.subprotocol == "netra.v1"
    yield transport, peer


def raw_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame with an all-zero mask (payload sent as is)."""
    assert len(payload) < 126
    return bytes(((0x80 if fin else 0) | opcode, 0x80 | len(payload))) + b"\0\0\0\0" + payload
