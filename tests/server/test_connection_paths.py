"""A connection's less travelled paths, on the shell tier's virtual clock: its
heartbeat while it drains, a pong that does not answer the ping, a typing
notice shed from a full queue, a batch cut short by a close, and a malformed
frame past the message rate."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from wsproto.events import Pong, TextMessage

from netra_trio.core.priority import Priority
from netra_trio.errors import CloseCode
from netra_trio.protocol.codec import encode
from netra_trio.server.scheduler import OutboundFrame
from tests.server.harness import open_raw, running_hub, wait_until

DRAINING = {
    "heartbeat_interval_s": 25,
    "heartbeat_timeout_s": 20,
    "close_timeout_s": 40,  # a drain outlasts a heartbeat round
    "writer_stall_timeout_s": 60,
}


@pytest.mark.parametrize(
    "shutdown_at",
    [
        10,  # before the first ping: the heartbeat wakes to a draining connection
        30,  # while the first ping waits for its pong: the deadline passes while draining
    ],
)
async def test_a_draining_connection_neither_pings_nor_loses_its_heartbeat(
    autojump_clock: trio.testing.MockClock, shutdown_at: float
) -> None:
    """A client that stopped reading keeps the writer waiting, so the 1001
    drain at shutdown lasts; its heartbeat does not turn that into 4002."""
    async with running_hub(**DRAINING) as (hub, nursery):
        opened = trio.current_time()
        client = await open_raw(hub, nursery, "alice", pair=trio.testing.lockstep_stream_pair)
        await client.send_json({"type": "ping", "message_id": "p"})  # its pong never goes out
        await trio.sleep_until(opened + shutdown_at)
        hub.begin_shutdown()
        await wait_until(lambda: sum(hub.stats.closes_by_code.values()) == 1, interval_s=1)
        assert dict(hub.stats.closes_by_code) == {CloseCode.GOING_AWAY: 1}
        assert hub.stats.heartbeats_lost == 0
        assert trio.current_time() - opened >= 45  # past the first pong deadline


async def test_a_pong_that_does_not_echo_the_ping_does_not_count(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(heartbeat_interval_s=25, heartbeat_timeout_s=20) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", auto_pong=False, pump=True)
        started = trio.current_time()
        await wait_until(lambda: client.pings_seen == 1, interval_s=1)
        await client.stream.send_all(client.ws.send(Pong(payload=b"not the ping's")))
        close = await client.until_close()
        assert close.code == CloseCode.HEARTBEAT_LOST
        assert 45 <= trio.current_time() - started < 46
        assert hub.stats.heartbeats_lost == 1


async def test_a_typing_notice_to_a_full_queue_is_shed_and_the_connection_stays(
    autojump_clock: trio.testing.MockClock,
) -> None:
    frame_text = encode("agent_thinking", {"thought": "x"})
    async with running_hub(queue_max_frames=16, queue_max_bytes=65536) as (hub, nursery):
        await open_raw(hub, nursery, "alice", pair=trio.testing.lockstep_stream_pair)
        user_hub = hub.users.get("alice")
        assert user_hub is not None
        (stalled,) = user_hub.connections
        typist = await open_raw(hub, nursery, "alice")
        others = [c for c in user_hub.connections if c is not stalled]
        agent_event = OutboundFrame("alice", frame_text, Priority.CRITICAL)
        user_hub.fan_out(agent_event, exclude=others[0])  # the writer takes it, and waits
        await wait_until(lambda: len(stalled.outbound.scheduler) == 0, interval_s=0.01)
        for _ in range(16):  # the queue is full of frames that are never shed
            user_hub.fan_out(agent_event, exclude=others[0])
        reply = await typist.request("typing_started")
        assert reply["type"] == "typing_ack"
        assert hub.stats.frames_shed == 1  # the user_typing notice to the stalled connection
        assert stalled.is_open and hub.stats.slow_consumers == 0
        assert len(stalled.outbound.scheduler) == 16
        await typist.close()


async def test_a_batch_stops_at_the_frame_that_closes_the_connection() -> None:
    async with running_hub(max_violations=2) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice")
        foreign = {"type": "ping", "user_id": "mallory"}
        await client.send_json(
            {
                "type": "batch",
                "payload": {
                    "messages": [
                        {**foreign, "message_id": "f-1"},
                        {**foreign, "message_id": "f-2"},  # the second violation closes
                        {"type": "ping", "message_id": "after"},
                    ]
                },
            }
        )
        with trio.fail_after(10):
            close, frames = await client.frames_until_close()
        assert close.code == CloseCode.POLICY_VIOLATION
        assert [(f["type"], f["correlation_id"]) for f in frames] == [
            ("error", "f-1"),
            ("error", "f-2"),
        ]
        assert hub.stats.security_violations == 2


async def test_a_malformed_frame_past_the_message_rate_is_answered_rate_limited() -> None:
    async with running_hub(message_rate_per_s=0.001, message_burst=50) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice")
        for n in range(50):
            assert (await client.request("ping", {"n": n}))["type"] == "pong"
        await client.stream.send_all(client.ws.send(TextMessage(data="{not json")))
        with trio.fail_after(10):
            answer = await client.next_frame()
        assert answer["type"] == "error"
        assert answer["payload"]["code"] == "RATE_LIMITED"  # not INVALID_JSON: not parsed
        assert hub.stats.rate_limited == 1
        await client.close()
