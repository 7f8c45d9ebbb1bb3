"""The Redis coordinator against a real redis-server: slots taken atomically up
to the limit, a busy thread refused, slots given back, a node's slots lapsing
when it stops renewing them (and kept while it does), the message bucket, and
Redis going away and coming back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import coredis
import pytest
import trio

from netra_trio.cluster.health import ServiceUnavailable
from netra_trio.cluster.redis import RedisCoordinator
from netra_trio.core.runs import RunRefusal
from tests.redis_server import RedisServer


@asynccontextmanager
async def node(redis_url: str, ttl_s: float = 10.0) -> AsyncIterator[RedisCoordinator]:
    async with (
        coredis.Redis.from_url(redis_url, connect_timeout=1, stream_timeout=1) as client,
        trio.open_nursery() as nursery,
    ):
        coordinator = RedisCoordinator(client, ttl_s=ttl_s)
        await nursery.start(coordinator.run)
        yield coordinator
        nursery.cancel_scope.cancel()


async def until_admitted(coordinator: RedisCoordinator, lease: str, timeout_s: float) -> float:
    """Seconds until the slot is taken (tried every 20 ms)."""
    start = trio.current_time()
    with trio.fail_after(timeout_s):
        while await coordinator.admit_connection("alice", lease, 2) is None:  # noqa: ASYNC110
            await trio.sleep(0.02)
    return trio.current_time() - start


async def test_slots_up_to_the_limit_across_nodes_and_given_back(redis_url: str) -> None:
    async with node(redis_url) as a, node(redis_url) as b:
        assert await a.admit_connection("alice", "c-1", 2) == frozenset()
        await a.tag_connection("alice", "c-1", "s-1")  # its session
        assert await b.admit_connection("alice", "c-2", 2) == {"s-1"}  # attached elsewhere
        assert await a.admit_connection("alice", "c-3", 2) is None
        assert await b.admit_connection("bob", "c-1", 2) is not None  # another user's count
        a.release_connection("alice", "c-1")
        a.release_connection("alice", "never-held")  # nothing to give back
        assert await until_admitted(b, "c-4", 5) < 1


async def test_a_slot_whose_answer_was_lost_is_given_back_too(redis_url: str) -> None:
    async with node(redis_url) as a, coredis.Redis.from_url(redis_url) as client:
        # Redis took it for a, but a never heard back (cut off, timed out)
        lease, far = f"{a.node_id}:c-lost", b"99999999999999|"
        await client.hset("netra:{alice}:conn", {lease: far})
        a.release_connection("alice", "c-lost")
        with trio.fail_after(5):
            while await client.hexists("netra:{alice}:conn", lease):  # noqa: ASYNC110
                await trio.sleep(0.02)


async def test_a_thread_holds_one_run_and_the_user_a_limit_of_them(redis_url: str) -> None:
    async with node(redis_url) as a, node(redis_url) as b:
        assert await a.admit_run("alice", "s-1", "t-1", 3) is None
        assert await b.admit_run("alice", "s-2", "t-1", 3) is RunRefusal.THREAD_BUSY
        assert await b.admit_run("alice", "s-3", None, 3) is None  # a thread yet to be made
        assert not await b.tag_run("alice", "s-3", "t-1")  # made, it may not be t-1
        assert await b.tag_run("alice", "s-3", "t-9")
        assert await a.admit_run("alice", "s-7", "t-9", 9) is RunRefusal.THREAD_BUSY
        assert await a.tag_run("alice", "s-lapsed", "t-8")  # nothing to name: allowed, logged
        assert await b.admit_run("alice", "s-4", "t-2", 3) is None
        assert await a.admit_run("alice", "s-5", "t-3", 3) is RunRefusal.USER_AT_LIMIT
        a.release_run("alice", "s-1")
        with trio.fail_after(5):
            while await b.admit_run("alice", "s-6", "t-1", 3) is not None:  # noqa: ASYNC110
                await trio.sleep(0.02)


async def test_a_node_that_stops_renewing_loses_its_slots_within_the_ttl(redis_url: str) -> None:
    async with node(redis_url, ttl_s=0.6) as survivor:
        async with node(redis_url, ttl_s=0.6) as doomed:
            assert await doomed.admit_connection("alice", "c-1", 2) is not None
            assert await doomed.admit_connection("alice", "c-2", 2) is not None
            await trio.sleep(1.2)  # two ttls: renewed all along, still held
            assert await survivor.admit_connection("alice", "c-3", 2) is None
        # the doomed node's task stopped (as kill -9 stops it): no renewal
        assert await until_admitted(survivor, "c-4", 5) <= 0.6 + 0.2


async def test_the_message_bucket_is_shared_and_refills(redis_url: str) -> None:
    async with node(redis_url) as a, node(redis_url) as b:
        assert await a.take_messages("alice", 2, 10.0, 3) is None
        assert await b.take_messages("alice", 1, 10.0, 3) is None
        wait = await a.take_messages("alice", 1, 10.0, 3)
        assert wait is not None and 0 < wait <= 0.1
        assert await b.take_messages("bob", 3, 10.0, 3) is None  # bob's own bucket
        await trio.sleep(wait + 0.02)
        assert await b.take_messages("alice", 1, 10.0, 3) is None


@pytest.mark.usefixtures("redis_url")
async def test_while_redis_is_away_calls_fail_fast_and_it_recovers_by_itself(
    redis_server: RedisServer,
) -> None:
    async with node(redis_server.url, ttl_s=0.4) as a:
        assert await a.admit_connection("alice", "c-1", 2) is not None
        redis_server.stop()
        with pytest.raises(ServiceUnavailable):
            await a.admit_connection("alice", "c-2", 2)
        assert a.health is not None and not a.health.up
        with trio.fail_after(1):  # down: refused at once, no timeout waited for
            with pytest.raises(ServiceUnavailable):
                await a.take_messages("alice", 1, 10.0, 3)
        redis_server.start()
        with trio.fail_after(10):
            while not a.health.up:  # noqa: ASYNC110 (the renewing task finds it back)
                await trio.sleep(0.05)
        assert await a.admit_connection("alice", "c-3", 2) is not None
        assert a.health.outages == 1
        # the restarted Redis had lost everything: the node's renewals put c-1 back
        await trio.sleep(0.3)
        assert await a.admit_connection("alice", "c-4", 2) is None
