"""Other users are served promptly while one floods malformed and oversized frames."""

from __future__ import annotations

import pytest
import trio

from netra_trio.client import NetraClient
from netra_trio.server.app import Server
from tests.e2e.support import (
    WAIT_S,
    Frame,
    assert_alive,
    close_code,
    connect,
    frames_until_closed,
    ping_frame_of_bytes,
)

pytestmark = pytest.mark.e2e

LIMIT = 2048
FLOOD = 300
ROUND_TRIP_BOUND_S = 2.0


async def _well_behaved(client: NetraClient, stop: trio.Event, latencies: list[float]) -> None:
    """Ping round trips until ``stop``; only pongs may arrive, each promptly."""
    n = 0
    while not stop.is_set():
        n += 1
        message_id = f"good-{n}"
        started = trio.current_time()
        await client.send("ping", {"n": n}, message_id=message_id)
        with trio.fail_after(ROUND_TRIP_BOUND_S):
            frame: Frame = await client.receive()
        assert frame["type"] == "pong" and frame["correlation_id"] == message_id, frame
        latencies.append(trio.current_time() - started)
        await trio.sleep(0.005)


async def _flood_malformed(bad: NetraClient) -> None:
    """Malformed frames of every kind, as fast as the socket takes them, reading the errors."""
    junk: list[str | bytes] = [
        "{not json",
        "[]",
        '{"type": 1}',
        '{"type": "nope"}',
        '{"type": "ping", "payload": 5}',
        b"\x00\x01binary",
        '{"type": "user_message", "payload": {"content": ""}}',
    ]

    async def read_errors() -> None:
        for _ in range(FLOOD):
            frame = await bad.receive()
            assert frame["type"] == "error", frame
            assert frame["payload"]["code"] in {"INVALID_JSON", "INVALID_MESSAGE", "UNKNOWN_TYPE"}

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_errors)
        for i in range(FLOOD):
            await bad.send_raw(junk[i % len(junk)])


@pytest.mark.netra_options(max_message_bytes=LIMIT)
async def test_good_users_are_served_while_one_floods_then_oversends(
    server: Server,
) -> None:
    latencies: list[float] = []
    stop = trio.Event()
    async with (
        connect(server, "mallory") as bad,
        connect(server, "mallory") as bad_sibling,
        connect(server, "alice") as alice,
        connect(server, "bob") as bob,
    ):
        with trio.fail_after(WAIT_S):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_well_behaved, alice, stop, latencies)
                nursery.start_soon(_well_behaved, bob, stop, latencies)
                await _flood_malformed(bad)
                await assert_alive(bad)  # a flood of malformed frames is not a reason to close
                await bad.send_raw(ping_frame_of_bytes(LIMIT + 3, "€", "too-big"))
                assert await close_code(bad) == 1009
                await _flood_malformed(bad_sibling)
                await bad_sibling.send_raw(ping_frame_of_bytes(4 * LIMIT, "a", "way-too-big"))
                code, frames = await frames_until_closed(bad_sibling)
                assert code == 1009
                assert all(f.get("correlation_id") != "way-too-big" for f in frames)
                await trio.sleep(0.05)
                stop.set()
        await assert_alive(alice)
        await assert_alive(bob)
    assert len(latencies) >= 4
    assert max(latencies) < ROUND_TRIP_BOUND_S
    assert server.hub.stats.fence_refused == 0


async def test_oversized_frame_from_one_user_leaves_others_unaffected(server: Server) -> None:
    async with connect(server, "mallory") as bad, connect(server, "alice") as alice:
        await bad.send_raw(ping_frame_of_bytes(70_000, "é", "huge"))
        assert await close_code(bad) == 1009
        await assert_alive(alice)
        async with connect(server, "mallory") as again:
            await assert_alive(again)  # mallory may reconnect; only that connection was closed
