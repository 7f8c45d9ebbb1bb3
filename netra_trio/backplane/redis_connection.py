"""A plain connection to Redis for the backplane's two hot paths (publishing
and the subscription): opened from the ``--redis-url`` (``redis://``,
``rediss://``, ``unix://``, with the credentials in it), spoken to in the Redis
protocol directly, its replies parsed by ``hiredis`` (Redis's own C parser).
Many commands go out in one write and their replies come back in one read,
without a client library's work per command."""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import hiredis
import trio

_READ_BYTES = 256 * 1024


def command(*words: bytes) -> bytes:
    """A command in the Redis protocol (RESP)."""
    parts = [b"*%d\r\n" % len(words)]
    for word in words:
        parts.append(b"$%d\r\n%s\r\n" % (len(word), word))
    return b"".join(parts)


class RedisConnection:
    """One connection: ``send`` commands, ``replies`` reads their answers."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._reader = hiredis.Reader()

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def read(self) -> list[Any]:
        """Every reply that the next read from the socket completes (at least one)."""
        while True:
            replies = []
            while (reply := self._reader.gets()) is not False:
                replies.append(reply)
            if replies:
                return replies
            data = await self.stream.receive_some(_READ_BYTES)
            if not data:
                raise trio.BrokenResourceError("Redis closed the connection")
            self._reader.feed(data if isinstance(data, bytes) else bytes(data))

    async def replies(self, count: int) -> list[Any]:
        """The next ``count`` replies; a refused command's is a hiredis.ReplyError."""
        out: list[Any] = []
        while len(out) < count:
            reply = self._reader.gets()
            if reply is False:
                data = await self.stream.receive_some(_READ_BYTES)
                if not data:
                    raise trio.BrokenResourceError("Redis closed the connection")
                self._reader.feed(data if isinstance(data, bytes) else bytes(data))
                continue
            out.append(reply)
        return out

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


async def open_connection(url: str) -> RedisConnection:
    """Connect (and authenticate, when the URL has a password). Raises
    OSError or ConnectionError."""
    parts = urlsplit(url)
    stream = await _open_stream(parts)
    connection = RedisConnection(stream)
    if parts.password is not None:
        user = [unquote(parts.username).encode()] if parts.username else []
        await connection.send(command(b"AUTH", *user, unquote(parts.password).encode()))
        (reply,) = await connection.replies(1)
        if isinstance(reply, hiredis.ReplyError):
            await connection.aclose()
            raise ConnectionError(f"Redis refused the credentials: {reply}")
    return connection


async def _open_stream(url: SplitResult) -> trio.abc.Stream:
    if url.scheme == "unix":
        return await trio.open_unix_socket(url.path)
    stream: trio.abc.Stream = await trio.open_tcp_stream(
        url.hostname or "127.0.0.1", url.port or 6379
    )
    if url.scheme == "rediss":
        stream = trio.SSLStream(stream, ssl.create_default_context(), server_hostname=url.hostname)
    return stream
