"""A connection's writer and hub, over memory streams: fence, batching, lifecycle."""

from __future__ import annotations

import trio
import trio.testing
from wsproto.events import CloseConnection, TextMessage

from netra_trio.core.priority import Priority
from netra_trio.errors import CloseCode
from netra_trio.protocol.codec import encode
from netra_trio.server.scheduler import OutboundFrame
from tests.server.harness import open_raw, running_hub, wait_until


async def test_writer_refuses_a_frame_addressed_to_another_user() -> None:
    async with running_hub() as (hub, nursery):
        client = await open_raw(hub, nursery, "alice")
        user_hub = hub.users.get("alice")
        assert user_hub is not None
        (connection,) = user_hub.connections
        connection.enqueue(OutboundFrame("bob", encode("pong", {"secret": "bob's"}), Priority.HIGH))
        await client.send_json({"type": "ping", "message_id": "after"})
        reply = await client.next_frame()
        assert reply["correlation_id"] == "after"  # the foreign frame never went out
        assert connection.outbound.fence_refused == 1
        assert hub.stats.fence_refused == 1


async def test_batch_mode_coalesces_everything_queued_into_one_frame() -> None:
    async with running_hub() as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", target="/ws?batch=1")
        user_hub = hub.users.get("alice")
        assert user_hub is not None
        (connection,) = user_hub.connections
        # Queue three frames at once while the writer sleeps: one write carries all three.
        for n, priority in enumerate([Priority.LOW, Priority.CRITICAL, Priority.HIGH]):
            connection.enqueue(OutboundFrame("alice", encode("note", {"n": n}), priority))
        batch = await client.next_frame()
        assert batch["type"] == "batch"
        assert [m["payload"]["n"] for m in batch["payload"]["messages"]] == [1, 2, 0]
        # a lone frame is sent as itself, not wrapped
        connection.enqueue(OutboundFrame("alice", encode("note", {"n": 9}), Priority.HIGH))
        assert (await client.next_frame())["payload"] == {"n": 9}


async def test_user_hub_exists_only_while_it_has_connections() -> None:
    async with running_hub() as (hub, nursery):
        first = await open_raw(hub, nursery, "alice")
        second = await open_raw(hub, nursery, "alice")
        user_hub = hub.users.get("alice")
        assert user_hub is not None and len(user_hub.connections) == 2
        for client in (first, second):
            await client._send(client.ws.send(CloseConnection(code=1000)))
        await wait_until(lambda: hub.users.get("alice") is None)
        assert hub.users == {}
        assert user_hub.leases == 0 and user_hub.connections == ()
        third = await open_raw(hub, nursery, "alice")
        assert hub.users.get("alice") is not user_hub  # a fresh hub
        await third.send_json({"type": "heartbeat", "message_id": "h"})
        assert (await third.next_frame())["payload"] == {"status": "healthy"}


async def test_shutdown_drains_queued_frames_then_closes_with_1001() -> None:
    async with running_hub() as (hub, nursery):
        client = await open_raw(hub, nursery, "alice")
        user_hub = hub.users.get("alice")
        assert user_hub is not None
        (connection,) = user_hub.connections
        connection.enqueue(
            OutboundFrame("alice", encode("note", {"last": True}), Priority.CRITICAL)
        )
        hub.begin_shutdown()
        event = await client.next_event()
        assert isinstance(event, TextMessage) and '"last":true' in event.data
        close = await client.until_close()
        assert close.code == CloseCode.GOING_AWAY
        with trio.fail_after(5):
            await hub.wait_drained()
