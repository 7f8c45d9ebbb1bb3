"""Emergency cleanup and slow consumers, with a client that stops reading."""

from __future__ import annotations

import trio
import trio.testing

from netra_trio.core.priority import Priority
from netra_trio.errors import CloseCode
from netra_trio.protocol.codec import encode
from netra_trio.server.hub import Hub
from netra_trio.server.scheduler import OutboundFrame
from tests.server.harness import open_raw, running_hub, wait_until


async def _wait_for_no_user(hub: Hub, user: str) -> None:
    await wait_until(lambda: hub.users.get(user) is None)


async def test_stuck_writer_is_evicted_with_4009(autojump_clock: trio.testing.MockClock) -> None:
    async with running_hub(
        writer_stall_timeout_s=30, heartbeat_interval_s=60, heartbeat_timeout_s=60
    ) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", pair=trio.testing.lockstep_stream_pair)
        start = trio.current_time()
        # The client sends but never reads again: the writer blocks on the first pong.
        await client.send_json({"type": "ping", "payload": {"n": 1}})
        await wait_until(lambda: hub.stats.closes_by_code[CloseCode.EVICTED] == 1)
        assert 30 <= trio.current_time() - start < 31
        await _wait_for_no_user(hub, "alice")
        assert hub.stats.evictions == 1


async def test_slow_consumer_is_closed_with_4008(autojump_clock: trio.testing.MockClock) -> None:
    async with running_hub(queue_max_frames=16, queue_max_bytes=65536, max_message_bytes=1024) as (
        hub,
        nursery,
    ):
        client = await open_raw(hub, nursery, "alice", pair=trio.testing.lockstep_stream_pair)
        sent = 0
        with trio.move_on_after(60):
            while sent < 200:  # pongs are HIGH: never shed, so the bound overflows
                try:
                    await client.send_json({"type": "ping", "payload": {"n": sent}})
                except trio.BrokenResourceError:
                    break  # the server dropped us
                sent += 1
        assert 16 < sent < 200
        await _wait_for_no_user(hub, "alice")
        assert hub.stats.slow_consumers == 1
        assert hub.stats.closes_by_code[CloseCode.SLOW_CONSUMER] == 1


async def test_low_frames_are_shed_not_fatal(autojump_clock: trio.testing.MockClock) -> None:
    async with running_hub(queue_max_frames=16, queue_max_bytes=65536) as (hub, nursery):
        reader = await open_raw(hub, nursery, "alice")
        stalled = await open_raw(hub, nursery, "alice", pair=trio.testing.lockstep_stream_pair)
        del stalled  # never reads again
        for n in range(200):
            await reader.send_json({"type": "typing_started" if n % 2 else "typing_stopped"})
            assert (await reader.next_frame())["type"] == "typing_ack"
        await trio.sleep(1)
        user_hub = hub.users.get("alice")
        assert user_hub is not None and len(user_hub.connections) == 2
        assert hub.stats.slow_consumers == 0


async def test_user_backlog_over_bound_evicts_the_hub(
    autojump_clock: trio.testing.MockClock,
) -> None:
    frame_text = encode("agent_thinking", {"thought": "x" * 3000})
    async with running_hub(
        queue_max_frames=2048, queue_max_bytes=64 * 1024, user_backlog_max_bytes=100 * 1024
    ) as (hub, nursery):
        for _ in range(2):
            await open_raw(hub, nursery, "alice", pair=trio.testing.lockstep_stream_pair)
        bob = await open_raw(hub, nursery, "bob")
        user_hub = hub.users.get("alice")
        assert user_hub is not None
        for _ in range(35):  # ~105 KiB per connection would pass the per-user bound first
            user_hub.fan_out(OutboundFrame("alice", frame_text, Priority.CRITICAL))
            if not user_hub.alive:
                break
        assert not user_hub.alive
        assert hub.users.get("alice") is None  # a new handshake would get a fresh hub
        await wait_until(lambda: user_hub.leases == 0)
        assert hub.stats.closes_by_code[CloseCode.EVICTED] == 2
        # another user is untouched
        await bob.send_json({"type": "ping", "message_id": "b"})
        assert (await bob.next_frame())["correlation_id"] == "b"
