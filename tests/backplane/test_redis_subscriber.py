"""The subscriber connection against a real redis-server: messages come in the
order Redis sent them, many to a call when they arrive together; subscribing
waits for Redis's confirmation; credentials in the URL are used, and wrong
ones leave Redis marked down (the subscriber keeps trying)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import coredis
import pytest
import trio

from netra_trio.backplane.redis_connection import command
from netra_trio.backplane.redis_subscriber import Messages, Subscriber
from netra_trio.cluster.health import ServiceHealth, ServiceUnavailable
from tests.redis_server import RedisServer


class Received:
    def __init__(self) -> None:
        self.calls: list[Messages] = []
        self.confirmed: list[bytes] = []
        self.changed = trio.Event()

    def messages(self, messages: Messages) -> None:
        self.calls.append(messages)
        self.changed.set()
        self.changed = trio.Event()

    def confirm(self, channel: bytes) -> None:
        self.confirmed.append(channel)

    async def until(self, count: int) -> list[tuple[bytes, bytes]]:
        with trio.fail_after(10):
            while sum(len(c) for c in self.calls) < count:
                await self.changed.wait()
        return [message for call in self.calls for message in call]


@asynccontextmanager
async def subscriber(url: str) -> AsyncIterator[tuple[Subscriber, Received, ServiceHealth]]:
    received, health = Received(), ServiceHealth("Redis")
    sub = Subscriber(url, health, received.messages, received.confirm)
    async with trio.open_nursery() as nursery:
        await nursery.start(sub.run)
        yield sub, received, health
        nursery.cancel_scope.cancel()


def test_commands_are_written_in_the_redis_protocol() -> None:
    assert command(b"SUBSCRIBE", b"a:b") == b"*2\r\n$9\r\nSUBSCRIBE\r\n$3\r\na:b\r\n"


async def test_messages_in_order_and_many_to_a_call(redis_url: str) -> None:
    async with (
        subscriber(redis_url) as (sub, received, health),
        coredis.Redis.from_url(redis_url) as client,
    ):
        await sub.subscribe("netra:u:alice")
        await sub.subscribe("netra:u:bob")
        assert received.confirmed == [b"netra:u:alice", b"netra:u:bob"]
        async with client.pipeline(transaction=False) as pipe:
            for n in range(500):
                pipe.publish("netra:u:alice" if n % 2 else "netra:u:bob", b"%d" % n)
                pipe.publish("netra:u:carol", b"not subscribed")
        got = await received.until(500)
        assert got == [
            (b"netra:u:alice" if n % 2 else b"netra:u:bob", b"%d" % n) for n in range(500)
        ]
        assert len(received.calls) < 100  # they came together: handed on together
        await sub.unsubscribe("netra:u:bob")
        await client.publish("netra:u:bob", b"gone")
        await client.publish("netra:u:alice", b"last")
        assert (await received.until(501))[-1] == (b"netra:u:alice", b"last")
        assert health.up


@pytest.mark.usefixtures("redis_url")
async def test_credentials_in_the_url(redis_server: RedisServer) -> None:
    assert redis_server.command("ACL", "SETUSER", "netra", "on", ">s3cret", "~*", "&*", "+@all")
    try:
        url = f"redis://netra:s3cret@127.0.0.1:{redis_server.port}/0"
        async with subscriber(url) as (sub, received, health):
            await sub.subscribe("netra:u:alice")
            assert received.confirmed == [b"netra:u:alice"] and health.up
        wrong = f"redis://netra:wrong@127.0.0.1:{redis_server.port}/0"
        async with subscriber(wrong) as (sub, _, health):
            assert not health.up
            with pytest.raises(ServiceUnavailable):
                await sub.subscribe("netra:u:alice")
    finally:
        redis_server.command("ACL", "DELUSER", "netra")
