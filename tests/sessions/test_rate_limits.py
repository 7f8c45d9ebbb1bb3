"""Rate limits over loopback: the per-user message bucket, sustained abuse, per-IP handshakes."""

from __future__ import annotations

import pytest
import trio
from trio_websocket import ConnectionClosed

from netra_trio.client import NetraClient
from tests.helpers import token_for
from tests.sessions.support import (
    WAIT_S,
    Frame,
    assert_alive,
    connect,
    error_body,
    frames_until_closed,
    log_events,
    next_id,
    rejection,
    request,
    running_server,
)

GENEROUS_HANDSHAKES = {"handshake_rate_per_ip_s": 1000.0, "handshake_burst": 1000}
MESSAGE_LIMITS = {
    "message_rate_per_s": 5.0,
    "message_burst": 50,
    "abuse_limit": 1000,  # warnings only: these tests do not reach sustained abuse
    **GENEROUS_HANDSHAKES,
}


async def _send_pings(client: NetraClient, count: int, prefix: str) -> list[str]:
    ids = [next_id(prefix) for _ in range(count)]
    for message_id in ids:
        await client.send("ping", {"n": message_id}, message_id=message_id)
    return ids


async def _replies(client: NetraClient, ids: list[str]) -> dict[str, Frame]:
    """Exactly one reply per sent frame, by correlation_id."""
    wanted = set(ids)
    replies: dict[str, Frame] = {}
    with trio.fail_after(WAIT_S):
        while len(replies) < len(ids):
            frame = await client.receive()
            correlation_id = frame.get("correlation_id")
            if correlation_id in wanted:
                assert correlation_id not in replies, frame
                replies[correlation_id] = frame
    return replies


def _check_rate_limited(frame: Frame, rate_per_s: float) -> float:
    assert frame["type"] == "error", frame
    assert frame["payload"]["code"] == "RATE_LIMITED", frame
    retry_after = frame["payload"]["details"]["retry_after_s"]
    assert isinstance(retry_after, float | int)
    assert 0 < retry_after <= 1 / rate_per_s + 0.001, frame
    return float(retry_after)


async def test_a_flood_is_refused_past_the_burst_and_served_after_the_retry_time() -> None:
    async with (
        running_server(**MESSAGE_LIMITS) as server,
        connect(server.url, "alice") as client,
    ):
        ids = await _send_pings(client, 60, "flood")
        replies = await _replies(client, ids)
        # The burst (50) is served in full; the refill during the flood may add one or two.
        assert all(replies[i]["type"] == "pong" for i in ids[:50])
        refused = [i for i in ids if replies[i]["type"] == "error"]
        served = [i for i in ids if replies[i]["type"] == "pong"]
        assert len(refused) >= 8 and len(served) + len(refused) == 60
        assert all(replies[i]["payload"]["n"] == i for i in served)
        waits = [_check_rate_limited(replies[i], 5.0) for i in refused]
        for message_id in refused:
            assert replies[message_id]["correlation_id"] == message_id

        await trio.sleep(max(waits) + 0.05)
        reply = await request(client, "ping", {"after": "waiting"})
        assert reply["type"] == "pong", reply
        assert reply["payload"]["after"] == "waiting"


async def test_the_message_bucket_is_per_user() -> None:
    limits = {**MESSAGE_LIMITS, "message_rate_per_s": 0.5}  # no refill to speak of meanwhile
    async with (
        running_server(**limits) as server,
        connect(server.url, "alice") as first,
        connect(server.url, "alice") as second,
        connect(server.url, "bob") as other,
    ):
        ids = await _send_pings(first, 60, "alice-flood")
        replies = await _replies(first, ids)
        assert sum(1 for f in replies.values() if f["type"] == "error") >= 9

        # The same user's other connection shares the spent bucket ...
        reply = await request(second, "ping", {"from": "second"})
        _check_rate_limited(reply, 0.5)
        # ... another user has a full one of their own.
        ids = await _send_pings(other, 50, "bob")
        replies = await _replies(other, ids)
        assert [replies[i]["type"] for i in ids] == ["pong"] * 50


async def test_sustained_flooding_closes_with_1008_after_the_errors(
    netra_logs: pytest.LogCaptureFixture,
) -> None:
    limits = {**MESSAGE_LIMITS, "abuse_limit": 5}
    async with (
        running_server(**limits) as server,
        connect(server.url, "mallory") as client,
        connect(server.url, "bob") as bystander,
    ):
        sent: list[str] = []
        try:
            for _ in range(60):
                message_id = next_id("abuse")
                await client.send("ping", {}, message_id=message_id)
                sent.append(message_id)
        except ConnectionClosed:
            pass  # the server may close before the last frames are written
        code, frames = await frames_until_closed(client)
        assert code == 1008
        errors = [f for f in frames if f["type"] == "error"]
        pongs = [f for f in frames if f["type"] == "pong"]
        assert 50 <= len(pongs) <= 52
        assert {f["correlation_id"] for f in pongs} <= set(sent)
        for frame in errors:
            _check_rate_limited(frame, 5.0)
        assert errors, frames
        await assert_alive(bystander)  # another user is unaffected
    abuse = log_events(netra_logs.records, "abuse")
    assert [a["user"] for a in abuse] == ["mallory"]
    # Every refused frame is answered, the one that ended the connection too:
    # abuse_limit refusals, abuse_limit error frames, then the close.
    assert len(errors) == 5, [f["correlation_id"] for f in errors]


async def test_the_fourth_rapid_handshake_from_one_address_gets_429() -> None:
    limits = {
        "handshake_rate_per_ip_s": 1.0,
        "handshake_burst": 3,
        "message_rate_per_s": 1000.0,
        "message_burst": 1000,
        "abuse_limit": 1000,
    }
    async with running_server(**limits) as server:
        for user in ("u1", "u2", "u3"):
            async with connect(server.url, user) as client:
                assert client.established["user_id"] == user
        rejected = await rejection(server.url, token_for("u4"))
        error = error_body(rejected, 429, "RATE_LIMITED")
        assert "retry" in error["message"]
        await trio.sleep(1.1)  # one handshake's worth of tokens at 1/s
        async with connect(server.url, "u4") as client:
            await assert_alive(client)
