"""Events kept while Redis was away, when a full queue pushes some out during a send."""

from __future__ import annotations

import coredis
import pytest
import trio

from netra_trio.backplane.redis import RedisBackplane
from netra_trio.backplane.redis_messages import decode_events
from netra_trio.storage.sqlite import SqliteStorage
from tests.backplane.conformance import Sink, event
from tests.redis_server import RedisServer

USER = "unsent-pushed-out"
CHANNEL = f"netra:u:{USER}"


async def held_publishes(client: coredis.Redis[bytes]) -> int:
    """How many PUBLISH commands Redis holds (writes paused)."""
    clients = await client.client_list()
    return sum(1 for c in clients if "b" in c["flags"] and c["cmd"] == "publish")


@pytest.mark.usefixtures("redis_url")
async def test_events_pushed_out_during_a_send_do_not_take_later_ones_with_them(
    redis_server: RedisServer, storage: SqliteStorage
) -> None:
    async with trio.open_nursery() as nursery:
        sender = RedisBackplane(storage.events, url=redis_server.url, max_unsent_events=4)
        await nursery.start(sender.run, Sink())
        try:
            redis_server.stop()
            for seq in (1, 2):
                await sender.publish([event(USER, seq)])
            assert not sender.health.up and sender.unsent == 2
            redis_server.start()
            # (no checkpoint in between: the sender's next try of [1, 2] finds writes paused)
            assert redis_server.command("CLIENT", "PAUSE", "20000", "WRITE") == b"+OK"
            async with (
                coredis.Redis.from_url(redis_server.url) as client,
                client.pubsub(ignore_subscribe_messages=True, channels=[CHANNEL]) as pubsub,
            ):
                with trio.fail_after(10):  # the sender tries again after its backoff
                    while not await held_publishes(client):  # noqa: ASYNC110 - state in Redis
                        await trio.sleep(0.02)
                for seq in (3, 4, 5):  # kept behind [1, 2]; 5 pushes 1 out of the full queue
                    await sender.publish([event(USER, seq)])
                assert sender.unsent == 4
                assert redis_server.command("CLIENT", "UNPAUSE") == b"+OK"
                with trio.fail_after(10):
                    while sender.unsent:  # noqa: ASYNC110 - sent when Redis answers
                        await trio.sleep(0.02)
                await sender.publish([event(USER, 6)])  # straight out, after all of them
                seqs: list[int] = []
                with trio.fail_after(10):
                    async for message in pubsub:
                        data = message["data"]
                        assert isinstance(data, bytes)
                        _, _, body = data.partition(b" ")  # (after the sender's id)
                        seqs += [e.seq for e in decode_events(USER, body)]
                        if seqs[-1] == 6:
                            break
            assert seqs == [1, 2, 3, 4, 5, 6]  # each once, in order
        finally:
            if not redis_server.running:
                redis_server.start()
            redis_server.command("CLIENT", "UNPAUSE")
            nursery.cancel_scope.cancel()
