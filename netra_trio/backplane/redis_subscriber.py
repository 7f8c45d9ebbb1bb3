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
``subscribe`` raises ServiceUnavailable, as does one still waiting for its
confirmation when the connection is lost.
"""

from __future__ import annotations

from collections.abc import Callable

import hiredis
import trio

from netra_trio.backplane.redis_connection import RedisConnection, command, open_connection
from netra_trio.cluster.health import ServiceHealth, ServiceUnavailable

PING_EVERY_S = 10.0
CONNECT_TIMEOUT_S = 5.0
SUBSCRIBE_TIMEOUT_S = 5.0

Messages = list[tuple[bytes, bytes]]  # (channel, data), in the order Redis sent them


class Subscriber:
    def __init__(
        self,
        url: str,
        health: ServiceHealth,
        on_messages: Callable[[Messages], None],
        on_confirmed: Callable[[bytes], None],
    ) -> None:
        self._url = url
        self._health = health
        self._on_messages = on_messages
        self._on_confirmed = on_confirmed
        self._channels: set[bytes] = set()
        self._confirmations: dict[bytes, _Confirmation] = {}
        self._connection: RedisConnection | None = None
        self._sending = trio.Lock()

    async def subscribe(self, channel: str) -> None:
        name = channel.encode()
        self._channels.add(name)
        confirmation = self._confirmations.setdefault(name, _Confirmation())
        try:
            await self._send(command(b"SUBSCRIBE", name))
            with trio.fail_after(SUBSCRIBE_TIMEOUT_S):
                await confirmation.settled.wait()
            if not confirmation.confirmed:
                raise ServiceUnavailable(f"Redis was lost before it confirmed {channel}")
        except BaseException as exc:
            self.drop(channel)  # not subscribed: not to be subscribed again either
            if isinstance(exc, trio.TooSlowError):
                raise ServiceUnavailable(f"Redis did not confirm {channel}") from exc
            raise

    def drop(self, channel: str) -> None:
        """Forget a channel now (``unsubscribe`` tells Redis); a ``subscribe``
        after this one waits for a confirmation of its own."""
        name = channel.encode()
        self._channels.discard(name)
        self._confirmations.pop(name, None)

    async def unsubscribe(self, channel: str) -> None:
        """Tell Redis, unless the channel was subscribed again meanwhile."""
        name = channel.encode()
        if name not in self._channels and self._connection is not None:
            await self._send(command(b"UNSUBSCRIBE", name))

    async def _send(self, data: bytes) -> None:
        connection = self._connection
        if connection is None:
            raise ServiceUnavailable("Redis is unavailable (subscriber not connected)")
        try:
            async with self._sending:
                await connection.send(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise self._health.failed(exc) from exc

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Stay connected and read, until cancelled (started after the first
        attempt to connect, whether it succeeded or not)."""
        starting = True
        while True:
            try:
                with trio.fail_after(CONNECT_TIMEOUT_S):
                    connection = await open_connection(self._url)
            except (
                OSError,
                ConnectionError,
                trio.TooSlowError,
                trio.BrokenResourceError,
                trio.ClosedResourceError,
                hiredis.ProtocolError,
            ) as exc:
                self._health.failed(exc)
            else:
                async with trio.open_nursery() as nursery:
                    self._connection = connection
                    try:
                        if self._channels:  # (again, after a reconnection)
                            await self._send(command(b"SUBSCRIBE", *sorted(self._channels)))
                        if starting:
                            starting = False
                            task_status.started()
                        nursery.start_soon(self._ping, connection)
                        await self._read(connection)
                    except (
                        trio.BrokenResourceError,
                        trio.ClosedResourceError,
                        trio.TooSlowError,
                        OSError,
                        hiredis.ProtocolError,
                    ) as exc:
                        self._health.failed(exc)
                    except ServiceUnavailable:
                        pass  # (marked down by _send)
                    finally:
                        self._connection = None
                        self._unconfirmed_lost()
                        nursery.cancel_scope.cancel()
                        await connection.aclose()
            if starting:
                starting = False
                task_status.started()
            await trio.sleep(self._health.next_wait())

    async def _ping(self, connection: RedisConnection) -> None:
        """A PING now and then: its answer keeps the reader's deadline away; a
        connection that cannot take it is closed (the reader then reconnects)."""
        while True:
            await trio.sleep(PING_EVERY_S)
            try:
                await self._send(command(b"PING"))
            except ServiceUnavailable:
                await connection.aclose()
                return

    async def _read(self, connection: RedisConnection) -> None:
        while True:
            with trio.fail_after(3 * PING_EVERY_S):
                replies = await connection.read()
            self._health.succeeded()
            messages: Messages = []
            for reply in replies:
                if not isinstance(reply, list):
                    continue  # (an error, which subscriber mode has no use for)
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
        confirmation = self._confirmations.get(channel)
        if confirmation is not None:
            confirmation.confirmed = True
            confirmation.settled.set()
        self._on_confirmed(channel)

    def _unconfirmed_lost(self) -> None:
        """The connection is gone: subscriptions waiting for their
        confirmation fail now, rather than when their time is up."""
        for confirmation in self._confirmations.values():
            confirmation.settled.set()


class _Confirmation:
    """Redis's answer to a SUBSCRIBE: confirmed, or the connection was lost first."""

    __slots__ = ("confirmed", "settled")

    def __init__(self) -> None:
        self.settled = trio.Event()
        self.confirmed = False
