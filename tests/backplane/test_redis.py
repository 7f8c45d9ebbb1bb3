"""The Redis backplane against a real redis-server: the backplane conformance
check, and a user's events kept in seq order when batches arrive out of order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import coredis
import pytest
import trio

from netra_trio.backplane.base import Backplane
from netra_trio.backplane.redis import RedisBackplane
from netra_trio.backplane.redis_messages import decode_events, encode_events
from netra_trio.storage.sqlite import SqliteStorage
from tests.backplane.conformance import Sink, check_backplane, event
from tests.redis_server import RedisServer


def node_factory(redis_url: str, storage: SqliteStorage, **options: float):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def new_node() -> AsyncIterator[Backplane]:
        yield RedisBackplane(storage.events, url=redis_url, **options)

    return new_node


async def test_the_redis_backplane_conforms(redis_url: str, storage: SqliteStorage) -> None:
    with trio.fail_after(30):
        await check_backplane(node_factory(redis_url, storage))


def test_events_travel_as_they_are() -> None:
    events = [event("alice", 1), event("alice", 2)]
    events[1].frame = '{"text":"tab\\t, newline\\n and \\u2028 stay escaped","é":"ü"}'
    assert decode_events("alice", encode_events(events)) == events


@asynccontextmanager
async def one_node(
    redis_url: str, storage: SqliteStorage, users: list[str], gap_wait_s: float = 0.2
) -> AsyncIterator[tuple[RedisBackplane, Sink]]:
    """A node subscribed to ``users``, its sink, and another node (of no
    users) that publishes: what it publishes reaches the sink through Redis."""
    sink = Sink()
    async with trio.open_nursery() as nursery:
        node = RedisBackplane(storage.events, url=redis_url, gap_wait_s=gap_wait_s)
        await nursery.start(node.run, sink)
        for user in users:
            await node.subscribe(user)
        publisher = RedisBackplane(storage.events, url=redis_url)
        await nursery.start(publisher.run, Sink())
        yield publisher, sink
        nursery.cancel_scope.cancel()


async def test_a_batch_published_before_an_earlier_one_waits_for_it(
    redis_url: str, storage: SqliteStorage
) -> None:
    async with one_node(redis_url, storage, ["alice"], gap_wait_s=30) as (node, sink):
        await node.publish([event("alice", 3), event("alice", 4)])
        await node.publish([event("bob", 1)])  # an unsubscribed user's, as a marker
        await node.publish([event("alice", 1), event("alice", 2)])
        assert [e.seq for e in await sink.until(4)] == [1, 2, 3, 4]
        await node.publish([event("alice", 2), event("alice", 5)])  # 2 again: dropped
        await sink.until(5)
        assert sink.of("alice") == [1, 2, 3, 4, 5]


async def test_a_seq_that_stays_missing_is_read_from_the_store(
    redis_url: str, storage: SqliteStorage
) -> None:
    stored = [event("alice", 1), event("alice", 2)]
    async with one_node(redis_url, storage, ["alice"]) as (node, sink):
        await storage.events.append(stored)  # stored, but its publisher never published 1
        await node.publish([event("alice", 2), event("alice", 3)])
        with trio.fail_after(10):
            assert [e.seq for e in await sink.until(3)] == [1, 2, 3]
        assert sink.events[0].frame == stored[0].frame


async def test_a_seq_gone_from_the_store_too_is_skipped(
    redis_url: str, storage: SqliteStorage
) -> None:
    async with one_node(redis_url, storage, ["alice"]) as (node, sink):
        await node.publish([event("alice", 4), event("alice", 5)])  # 1-3 nowhere
        with trio.fail_after(10):
            assert [e.seq for e in await sink.until(2)] == [4, 5]
        await node.publish([event("alice", 6)])
        assert [e.seq for e in await sink.until(3)] == [4, 5, 6]


async def test_what_was_stored_before_subscribing_is_left_to_resume(
    redis_url: str, storage: SqliteStorage
) -> None:
    await storage.events.append([event("alice", seq) for seq in (1, 2, 3)])
    async with one_node(redis_url, storage, ["alice"]) as (node, sink):
        await node.publish([event("alice", 3), event("alice", 4)])
        assert [e.seq for e in await sink.until(1)] == [4]


async def test_a_malformed_notice_is_logged_and_what_follows_arrives(
    redis_url: str, storage: SqliteStorage, netra_logs: pytest.LogCaptureFixture
) -> None:
    async with (
        one_node(redis_url, storage, ["alice"]) as (_, sink),
        coredis.Redis.from_url(redis_url) as other,
    ):
        await other.publish("netra:u:alice", b"elsewhere !{broken")
        await other.publish("netra:u:alice", b"elsewhere " + encode_events([event("alice", 1)]))
        assert await sink.until(1) == [event("alice", 1)]
        assert sink.notices == []
    assert "backplane_bad_notice" in [r.getMessage() for r in netra_logs.records]


async def test_a_node_hands_its_own_events_on_without_redis_and_skips_their_echo(
    redis_url: str, storage: SqliteStorage
) -> None:
    sink = Sink()
    async with trio.open_nursery() as nursery:
        node = RedisBackplane(storage.events, url=redis_url)
        await nursery.start(node.run, sink)
        await node.subscribe("alice")
        await node.publish([event("alice", 1)])
        assert sink.events == [event("alice", 1)]  # before publish returned
        await node.publish([event("alice", 2)])
        await sink.until(2)
        await trio.sleep(0.1)  # the echoes of both have come back by now: skipped
        assert sink.of("alice") == [1, 2]
        nursery.cancel_scope.cancel()


@pytest.mark.usefixtures("redis_url")
async def test_while_redis_is_away_events_wait_and_go_out_in_order_when_it_is_back(
    redis_server: RedisServer, storage: SqliteStorage
) -> None:
    far, near = Sink(), Sink()
    async with trio.open_nursery() as nursery:
        receiver = RedisBackplane(storage.events, url=redis_server.url, gap_wait_s=30)
        sender = RedisBackplane(storage.events, url=redis_server.url)
        await nursery.start(receiver.run, far)
        await nursery.start(sender.run, near)
        await receiver.subscribe("alice")
        await sender.subscribe("alice")
        await storage.events.append([event("alice", 1)])  # stored, then published
        await sender.publish([event("alice", 1)])
        await far.until(1)
        redis_server.stop()
        for seq in (2, 3, 4):
            await storage.events.append([event("alice", seq)])
            await sender.publish([event("alice", seq)])
        assert near.of("alice") == [1, 2, 3, 4]  # this node's connections go on
        assert not sender.health.up and sender.unsent == 3
        redis_server.start()  # the sender tries again by itself
        assert await far.until(4) and far.of("alice") == [1, 2, 3, 4]
        with trio.fail_after(10):  # (the receiver may have read them from the store first)
            while sender.unsent:  # noqa: ASYNC110
                await trio.sleep(0.05)
        await trio.sleep(0.1)  # their late copies are dropped, not handed on twice
        assert far.of("alice") == [1, 2, 3, 4]
        nursery.cancel_scope.cancel()


@pytest.mark.usefixtures("redis_url")
async def test_after_a_lost_subscription_what_was_stored_meanwhile_is_read(
    redis_server: RedisServer, storage: SqliteStorage
) -> None:
    sink = Sink()
    async with trio.open_nursery() as nursery:
        node = RedisBackplane(storage.events, url=redis_server.url, gap_wait_s=30)
        await nursery.start(node.run, sink)
        await node.subscribe("alice")
        redis_server.stop()
        # stored by a node whose messages were lost (never published)
        await storage.events.append([event("alice", 1), event("alice", 2)])
        redis_server.start()
        with trio.fail_after(20):  # coredis subscribes again after its backoff
            assert [e.seq for e in await sink.until(2)] == [1, 2]
        nursery.cancel_scope.cancel()
