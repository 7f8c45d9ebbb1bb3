"""Idle expiry, token expiry and lost heartbeats, run on a virtual clock."""

from __future__ import annotations

import trio
import trio.testing

from netra_trio.errors import CloseCode
from tests.server.harness import open_raw, running_hub, wait_until


async def test_idle_connection_expires_after_thirty_minutes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub() as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", pump=True)
        start = trio.current_time()
        close = await client.until_close()
        elapsed = trio.current_time() - start
        assert close.code == CloseCode.SESSION_EXPIRED
        assert 1800 <= elapsed < 1800 + 2
        # pings were answered the whole time: only client frames count as activity
        assert client.pings_seen >= 1800 // 25 - 1
        await wait_until(lambda: hub.stats.closes_by_code[CloseCode.SESSION_EXPIRED] == 1)
        await wait_until(lambda: hub.users.get("alice") is None)


async def test_activity_moves_the_idle_deadline(autojump_clock: trio.testing.MockClock) -> None:
    async with running_hub(idle_timeout_s=600) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", pump=True)
        start = trio.current_time()
        await trio.sleep(500)
        await client.send_json({"type": "ping", "message_id": "p"})
        assert (await client.next_frame())["type"] == "pong"
        close = await client.until_close()
        elapsed = trio.current_time() - start
        assert close.code == CloseCode.SESSION_EXPIRED
        assert 1100 <= elapsed < 1100 + 2


async def test_lost_heartbeat_closes_with_4002(autojump_clock: trio.testing.MockClock) -> None:
    async with running_hub(heartbeat_interval_s=25, heartbeat_timeout_s=20) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", auto_pong=False)
        start = trio.current_time()
        close = await client.until_close()
        elapsed = trio.current_time() - start
        assert close.code == CloseCode.HEARTBEAT_LOST
        assert 45 <= elapsed < 46
        assert client.pings_seen == 1
        assert hub.stats.heartbeats_lost == 1


async def test_answered_heartbeats_keep_the_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(heartbeat_interval_s=25, heartbeat_timeout_s=20) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", pump=True)
        with trio.move_on_after(300):
            await client.until_close()
            raise AssertionError("connection closed although pongs were sent")
        assert client.pings_seen >= 11
        assert len(hub.users.get("alice").connections) == 1  # type: ignore[union-attr]


async def test_token_expiry_while_connected_closes_with_1008(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub() as (hub, nursery):
        # The token's exp is wall-clock; the connection turns it into a deadline
        # on the (virtual) trio clock when it starts.
        client = await open_raw(hub, nursery, "alice", ttl_s=120, pump=True)
        start = trio.current_time()
        close = await client.until_close()
        assert close.code == CloseCode.POLICY_VIOLATION
        assert 110 <= trio.current_time() - start <= 121
