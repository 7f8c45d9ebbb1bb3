"""The server's WebSocket transport: wsproto driven directly on a trio stream.

wsproto (the sans-IO protocol engine under trio-websocket) parses every
inbound frame (and the upgrade request before it: ``upgrade.py``). Using it
directly, without trio-websocket's per-connection reader task, memory channel
and send lock, lets the connection's own reader task parse frames as it reads
them and lets its writer, the only task that writes, send everything queued in
one ``send_all``: one task switch and one lock fewer per inbound message, one
syscall for many outbound ones, and one task fewer per idle connection (see
``benchmarks/RESULTS.md``). The Python client keeps using trio-websocket.

The client's control frames (ping, pong) are returned to the reader like
messages, so that they spend the connection's budget as text frames do: the
reader decides whether a ping is answered (:meth:`answer`). Pongs owed and the
heartbeat's pings are queued here as bytes; the writer sends them ahead of its
next data frames, so no two tasks ever write to the stream at once.

Frames are parsed as they are handed out, not a whole read at a time, and
the reader lets other tasks run every ``FRAMES_PER_TURN`` frames: a read of
thousands of tiny frames (a ping flood) cannot hold the event loop, and once a
frame closes the connection the rest of the read is never parsed. The closing
handshake is bounded too: after our close frame, a peer that keeps sending
(more than one short read, or ``CLOSE_READ_BYTES`` in all) is not parsed or
waited for any longer.

On a TCP socket the transport reads and writes the file descriptor itself and
waits with ``trio.lowlevel.wait_readable`` / ``wait_writable`` only when the
kernel says it must: a write that the socket takes at once costs one syscall
and no trip through the scheduler, and a read that follows a short read waits
for readiness first instead of failing with EAGAIN. Other streams (the
in-memory ones of the tests) go through the ``trio.abc.Stream`` API.

(A little over 300 lines: receiving, the control frames owed and the closing
handshake all drive one wsproto connection on one socket, whose state stays
private here.)
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator

import trio
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

RECEIVE_BYTES = 16384
FRAMES_PER_TURN = 64
CLOSE_READ_BYTES = 65536
_NO_EVENTS: Iterator[Event] = iter(())
ABNORMAL_CLOSURE = 1006
MESSAGE_TOO_BIG = 1009


class TransportClosed(Exception):
    """The WebSocket ended: the peer closed it (``by_peer``), the stream broke,
    or the peer broke the protocol and should be sent ``code``."""

    def __init__(self, code: int, reason: str, *, by_peer: bool) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason
        self.by_peer = by_peer


def text_frames(texts: Iterable[str]) -> bytes:
    """Server-to-client text frames (FIN set, unmasked) for ``texts``, joined."""
    parts: list[bytes] = []
    append = parts.append
    for text in texts:
        payload = text.encode()
        n = len(payload)
        if n < 126:
            append(bytes((0x81, n)))
        elif n < 65536:
            append(struct.pack("!BBH", 0x81, 126, n))
        else:
            append(struct.pack("!BBQ", 0x81, 127, n))
        append(payload)
    return b"".join(parts)


async def receive_quietly(stream: trio.abc.Stream) -> bytes:
    """What the stream gives next; empty once it is closed or broken."""
    try:
        data = await stream.receive_some(RECEIVE_BYTES)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return b""
    return data if isinstance(data, bytes) else bytes(data)


async def send_quietly(stream: trio.abc.Stream, data: bytes) -> bool:
    """Send ``data``; False when the stream is closed or broken."""
    try:
        await stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return False
    return True


ControlFrame = Ping | Pong
"""A control frame from the peer, as :meth:`WebSocketTransport.receive` returns it."""


class WebSocketTransport:
    """One open WebSocket. One task receives, one task sends."""

    __slots__ = (
        "_conn",
        "_events",
        "_failed",
        "_fd",
        "_max_chars",
        "_parts",
        "_ping",
        "_pong_reply",
        "_read_all",
        "_size",
        "_stream",
        "_turn",
        "on_control",
    )

    def __init__(self, stream: trio.abc.Stream, conn: Connection, max_message_bytes: int) -> None:
        self._stream = stream
        self._conn = conn
        self._events: Iterator[Event] = _NO_EVENTS  # parsed as they are taken
        self._turn = 0  # frames handed out since the reader last let others run
        self._failed = False  # wsproto could not parse a frame: it parses no more
        self._fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else None
        self._read_all = True  # the last read was short: wait before the next one
        # At most one of each waits to go out: the heartbeat sends its next ping
        # only after the pong (or closes), and only the latest pong is owed.
        self._ping: bytes | None = None
        self._pong_reply: bytes | None = None
        self._parts: list[str | bytes] = []
        self._size = 0
        # A text message's UTF-8 length is checked once it is whole; its
        # character count (never more than its byte count) bounds it meanwhile.
        self._max_chars = max_message_bytes
        self.on_control: Callable[[], None] = _nothing

    @property
    def stream(self) -> trio.abc.Stream:
        return self._stream

    def reset_callbacks(self) -> None:
        self.on_control = _nothing

    # -- receiving (the reader task) ----------------------------------------------------

    async def receive(self) -> str | bytes | ControlFrame:
        """The next whole message, or control frame. Raises TransportClosed
        when the WebSocket ends."""
        while True:
            for event in self._events:
                message = self._handle(event)
                if message is not None:
                    self._turn += 1
                    if self._turn >= FRAMES_PER_TURN:
                        self._turn = 0
                        await trio.lowlevel.checkpoint()
                    return message
            data = await self._read()
            self._turn = 0  # (reading let others run)
            if not data:
                self._conn.receive_data(None)
                raise TransportClosed(ABNORMAL_CLOSURE, "connection lost", by_peer=True)
            try:
                self._conn.receive_data(data)
            except LocalProtocolError:  # data after the close handshake
                raise TransportClosed(ABNORMAL_CLOSURE, "connection closed", by_peer=True) from None
            self._events = self._conn.events()

    def _handle(self, event: Event) -> str | bytes | ControlFrame | None:
        if isinstance(event, Message):
            data: str | bytes = event.data
            self._size += len(data)
            if self._size > self._max_chars:
                raise TransportClosed(MESSAGE_TOO_BIG, "frame over the size limit", by_peer=False)
            if not event.message_finished:
                self._parts.append(data)
                return None
            if self._parts:
                self._parts.append(data)
                joiner = "" if isinstance(event, TextMessage) else b""
                data = joiner.join(self._parts)  # type: ignore[arg-type]
                self._parts = []
            self._size = 0
            return data
        if isinstance(event, Ping | Pong):
            return event
        if isinstance(event, CloseConnection):
            if self._conn.state is ConnectionState.OPEN:
                # wsproto reports a frame it could not parse as a close with the
                # code to answer (1002, 1007, 1009); the peer sent no close frame
                self._failed = True
                raise TransportClosed(event.code, event.reason or "protocol error", by_peer=False)
            raise TransportClosed(event.code, event.reason or "", by_peer=True)
        return None

    # -- sending (the writer task, or the closing path once the writer is gone) ---------

    def answer(self, ping: Ping) -> None:
        """Owe the peer a pong for ``ping``. Only the latest of the pings still
        unanswered gets its pong (RFC 6455 5.5.3): a peer that pings and never
        reads cannot make us buffer pongs. No pong once the peer's close is
        parsed (wsproto would refuse it)."""
        if self._conn.state is ConnectionState.OPEN:
            self._pong_reply = self._conn.send(ping.response())
            self.on_control()

    def ping(self, payload: bytes) -> None:
        if self._conn.state is ConnectionState.OPEN:
            self._ping = self._conn.send(Ping(payload=payload))
            self.on_control()

    def take_control(self) -> bytes:
        """Control frames waiting to go out, ahead of the next data frames."""
        ping, pong = self._ping, self._pong_reply
        if ping is None and pong is None:
            return b""
        self._ping = self._pong_reply = None
        return (ping or b"") + (pong or b"")

    async def _read(self) -> bytes:
        fd = self._fd
        if fd is None:
            return await receive_quietly(self._stream)
        try:
            if self._read_all:
                await trio.lowlevel.wait_readable(fd)
            else:
                await trio.lowlevel.checkpoint()  # more may be waiting: let others run first
            while True:
                try:
                    data = os.read(fd, RECEIVE_BYTES)
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(fd)
                    continue
                self._read_all = len(data) < RECEIVE_BYTES
                return data
        except (OSError, trio.ClosedResourceError, trio.BusyResourceError):
            return b""

    @property
    def writes_directly(self) -> bool:
        """Whether :meth:`send_now` writes (the stream is a socket)."""
        return self._fd is not None

    def send_now(self, data: bytes | memoryview) -> bytes | memoryview:
        """Write what the socket takes of ``data`` without waiting; returns the
        rest, empty when all of it went out. Raises TransportClosed if the
        connection is lost. (On a stream that is not a socket, writes nothing.)"""
        if self._fd is None:
            return data
        try:
            written = os.write(self._fd, data)
        except BlockingIOError:
            return data
        except OSError:
            raise TransportClosed(ABNORMAL_CLOSURE, "connection lost", by_peer=True) from None
        return memoryview(data)[written:] if written < len(data) else b""

    async def send(self, data: bytes | memoryview) -> None:
        """Write all of ``data`` (frames built by :func:`text_frames` and
        :meth:`take_control`), waiting for the socket as long as it takes.
        Raises TransportClosed if the connection is lost."""
        fd = self._fd
        try:
            if fd is None:
                await self._stream.send_all(data)
                return
            while data:
                await trio.lowlevel.wait_writable(fd)
                data = self.send_now(data)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            raise TransportClosed(ABNORMAL_CLOSURE, "connection lost", by_peer=True) from None

    async def close(self, code: int, reason: str) -> None:
        """The closing handshake: answer the peer's close frame, or send ours and
        wait for the answer (reading what arrives meanwhile, so that the socket
        is not reset under our close frame). Bound it with a timeout; it never
        raises for a broken stream.

        What the peer sends after our close is parsed only while it is little:
        the frames already read (up to ``FRAMES_PER_TURN``) and short reads. A
        full read means the peer keeps sending: it is read and dropped unparsed,
        up to ``CLOSE_READ_BYTES``, and then the socket is closed without
        waiting further (a flood cannot keep the server parsing after its
        close)."""
        state = self._conn.state
        if state is ConnectionState.REMOTE_CLOSING:
            await send_quietly(self._stream, self._conn.send(CloseConnection(code=code)))
            return
        if state is not ConnectionState.OPEN:
            return
        data = self.take_control() + self._conn.send(CloseConnection(code=code, reason=reason))
        if not await send_quietly(self._stream, data) or self._failed:
            return
        parsing = self._answered(self._events)
        budget = CLOSE_READ_BYTES
        while self._conn.state is not ConnectionState.CLOSED and budget > 0:
            received = await receive_quietly(self._stream)
            if not received:
                return
            budget -= len(received)
            parsing = parsing and len(received) < RECEIVE_BYTES
            if not parsing:
                continue  # dropped: the peer's close, if it comes, is not looked for
            try:
                self._conn.receive_data(received)
            except (LocalProtocolError, RemoteProtocolError):
                return
            parsing = self._answered(self._conn.events())

    def _answered(self, events: Iterator[Event]) -> bool:
        """Look through ``events`` (at most ``FRAMES_PER_TURN``) for the peer's
        close; False when there were more (stop parsing), True otherwise."""
        for count, _ in enumerate(events, 1):
            if self._conn.state is ConnectionState.CLOSED or count >= FRAMES_PER_TURN:
                return self._conn.state is ConnectionState.CLOSED
        return True


def _nothing() -> None:
    return None
