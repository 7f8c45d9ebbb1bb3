"""The backplane's publishing connection to Redis: all the messages of a batch
go out in one write (PUBLISH after PUBLISH, in the Redis protocol) and their
answers (how many subscribers got each) come back in one read.

It connects on first use, and again on the first use after a failure; a
failure (or a publication cut off midway, which would leave answers unread)
closes the connection, marks Redis down and raises ServiceUnavailable.
"""

from __future__ import annotations

import hiredis
import trio

from netra_trio.backplane.redis_connection import RedisConnection, command, open_connection
from netra_trio.cluster.health import ServiceHealth

CONNECT_TIMEOUT_S = 5.0
REPLY_TIMEOUT_S = 5.0

_FAILURES = (
    hiredis.ProtocolError,
    OSError,
    ConnectionError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio.TooSlowError,
)


class Publisher:
    def __init__(self, url: str, health: ServiceHealth) -> None:
        self._url = url
        self._health = health
        self._connection: RedisConnection | None = None
        self._lock = trio.Lock()

    async def publish(self, messages: list[tuple[bytes, bytes]]) -> list[int]:
        """Publish ``(channel, data)`` messages in order; how many subscribers
        received each."""
        if not messages:
            return []
        data = b"".join(command(b"PUBLISH", channel, body) for channel, body in messages)
        async with self._lock:
            try:
                connection = self._connection
                if connection is None:
                    with trio.fail_after(CONNECT_TIMEOUT_S):
                        connection = self._connection = await open_connection(self._url)
                await connection.send(data)
                with trio.fail_after(REPLY_TIMEOUT_S):
                    replies = await connection.replies(len(messages))
            except _FAILURES as exc:
                await self._drop()
                raise self._health.failed(exc) from exc
            except BaseException:
                await self._drop()  # cut off midway: its answers would be read as the next ones'
                raise
        self._health.succeeded()
        return [reply if isinstance(reply, int) else 0 for reply in replies]

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.aclose()

    async def aclose(self) -> None:
        await self._drop()
