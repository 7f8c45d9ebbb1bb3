"""One connection to Redis in subscriber mode, read by one task, messages handed on in batches.

Everything that one read from the socket brings (often hundreds of messages
under load) is parsed at once (``hiredis``, Redis's own C parser) and handed to
``on_messages`` in one call, in order, instead of one message per turn of the
event loop: a node receiving many users' events keeps up with them however many
other tasks it runs. ``subscribe`` returns once Redis has confirmed the channel;
``on_confirmed`` is told of every confirmation, also of those that follow a
reconnection, when every channel is subscribed again.

When the connection is lost (or nothing, not even the answer to the PING sent
every ``PING_EVERY_S``, arrives for ``3 x PING_EVERY_S``), the subscriber marks
Redis down in ``health`` and connects again after its backoff; meanwhile
``subscribe`` raises ServiceUnavailable.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import hiredis
import trio

from netra_trio.cluster.health import ServiceHealth, ServiceUnavailable

PING_EVERY_S = 10.0
CONNECT_TIMEOUT_S = 5.0
SUBSCRIBE_TIMEOUT_S = 5.0
_READ_BYTES = 256 * 1024

Messages = list[tuple[bytes, bytes]]  # (channel, data), in the order Redis sent them


def command(*words: bytes) -> bytes:
    """A command in the Redis protocol (RESP)."""
    parts = [b"*%d\r\n" % len(words)]
    for word in words:
        parts.append(b"$%d\r\n%s\r\n" % (len(word), word))
    return b"".join(parts)


class Subscriber:
    def __init__(
        self,
        url: str,
        health: ServiceHealth,
        on_messages: Callable[[Messages], None],
        on_confirmed: Callable[[bytes], None],
    ) -> None:
        self._url = urlsplit(url)
        self._health = health
        self._on_messages = on_messages
        self._on_confirmed = on_confirmed
        self._channels: set[bytes] = set()
        self._confirmations: dict[bytes, trio.Event] = {}
        self._stream: trio.abc.Stream | None = None
        self._sending = trio.Lock()

    async def subscribe(self, channel: str) -> None:
        name = channel.encode()
        self._channels.add(name)
        confirmed = self._confirmations.setdefault(name, trio.Event())
        await self._send(command(b"SUBSCRIBE", name))
        with trio.move_on_after(SUBSCRIBE_TIMEOUT_S):
            await confirmed.wait()
            return
        raise ServiceUnavailable(f"Redis did not confirm the subscription to {channel}")

    async def unsubscribe(self, channel: str) -> None:
        name = channel.encode()
        self._channels.discard(name)
        self._confirmations.pop(name, None)
        if self._stream is not None:
            await self._send(command(b"UNSUBSCRIBE", name))

    async def _send(self, data: bytes) -> None:
        stream = self._stream
        if stream is None:
            raise ServiceUnavailable("Redis is unavailable (subscriber not connected)")
        try:
            async with self._sending:
                await stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise self._health.failed(exc) from exc

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Stay connected and read, until cancelled (started after the first
        attempt to connect, whether it succeeded or not)."""
        starting = True
        while True:
            try:
                with trio.fail_after(CONNECT_TIMEOUT_S):
                    stream = await self._connect()
            except (OSError, trio.TooSlowError, ConnectionError) as exc:
                self._health.failed(exc)
            else:
                async with stream, trio.open_nursery() as nursery:
                    self._stream = stream
                    try:
                        if self._channels:  # (again, after a reconnection)
                            await self._send(command(b"SUBSCRIBE", *sorted(self._channels)))
                        if starting:
                            starting = False
                            task_status.started()
                        nursery.start_soon(self._ping, stream)
                        await self._read(stream)
                    except (
                        trio.BrokenResourceError,
                        trio.ClosedResourceError,
                        trio.TooSlowError,
                        OSError,
                    ) as exc:
                        self._health.failed(exc)
                    except ServiceUnavailable:
                        pass  # (marked down by _send)
                    finally:
                        self._stream = None
                        nursery.cancel_scope.cancel()
            if starting:
                starting = False
                task_status.started()
            await trio.sleep(self._health.next_wait())

    async def _connect(self) -> trio.abc.Stream:
        url = self._url
        stream: trio.abc.Stream
        if url.scheme == "unix":
            stream = await trio.open_unix_socket(url.path)
        else:
            stream = await trio.open_tcp_stream(url.hostname or "127.0.0.1", url.port or 6379)
            if url.scheme == "rediss":
                stream = trio.SSLStream(
                    stream, ssl.create_default_context(), server_hostname=url.hostname
                )
        if url.password is not None:
            user = [unquote(url.username).encode()] if url.username else []
            await stream.send_all(command(b"AUTH", *user, unquote(url.password).encode()))
            reader = hiredis.Reader()
            while (reply := reader.gets()) is False:
                data = await stream.receive_some(4096)
                if not data:
                    raise ConnectionError("Redis closed the connection during AUTH")
                reader.feed(bytes(data))
            if isinstance(reply, hiredis.ReplyError):
                await stream.aclose()
                raise ConnectionError(f"Redis refused the credentials: {reply}")
        return stream

    async def _ping(self, stream: trio.abc.Stream) -> None:
        """A PING now and then: its answer keeps the reader's deadline away; a
        connection that cannot take it is closed (the reader then reconnects)."""
        while True:
            await trio.sleep(PING_EVERY_S)
            try:
                await self._send(command(b"PING"))
            except ServiceUnavailable:
                await trio.aclose_forcefully(stream)
                return

    async def _read(self, stream: trio.abc.Stream) -> None:
        reader = hiredis.Reader()
        while True:
            with trio.fail_after(3 * PING_EVERY_S):
                data = await stream.receive_some(_READ_BYTES)
            if not data:
                raise trio.BrokenResourceError("Redis closed the subscriber connection")
            self._health.succeeded()
            reader.feed(data if isinstance(data, bytes) else bytes(data))
            messages: Messages = []
            while (reply := reader.gets()) is not False:
                kind = reply[0]
                if kind == b"message":
                    messages.append((reply[1], reply[2]))
                elif kind == b"subscribe":
                    if messages:  # what came before the confirmation goes first
                        self._on_messages(messages)
                        messages = []
                    self._confirmed(reply[1])
            if messages:
                self._on_messages(messages)

    def _confirmed(self, channel: bytes) -> None:
        if channel not in self._channels:
            return  # unsubscribed meanwhile
        event = self._confirmations.get(channel)
        if event is not None:
            event.set()
        self._on_confirmed(channel)
