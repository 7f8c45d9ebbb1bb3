"""Rate limits on the virtual clock: the per-user message bucket, sustained abuse,
handshakes per client address. Time moves only when every task waits, so each
count below is exact: a flood sent at one instant gets exactly the burst."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, RejectConnection

from netra_trio.config import Config
from netra_trio.server.hub import Hub
from tests.e2e.support import events as log_events
from tests.helpers import token_for
from tests.server.harness import RawClient, open_raw, running_hub

MESSAGE_LIMITS: dict[str, Any] = {
    "message_rate_per_s": 5.0,
    "message_burst": 50,
    "abuse_limit": 1000,  # warnings only: these tests do not reach sustained abuse
    "handshake_rate_per_s": 1000.0,
    "handshake_burst": 1000,
}


async def _flood(client: RawClient, count: int, prefix: str) -> list[str]:
    """``count`` pings sent back to back, at one instant of the virtual clock
    (fewer when the server closes the connection first)."""
    ids = [f"{prefix}-{n}" for n in range(count)]
    for message_id in ids:
        if client.ws.state is not ConnectionState.OPEN:
            break
        await client.send_json(
            {"type": "ping", "payload": {"n": message_id}, "message_id": message_id}
        )
    return ids


async def _replies(client: RawClient, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Exactly one reply per sent frame, by correlation_id."""
    wanted = set(ids)
    replies: dict[str, dict[str, Any]] = {}
    with trio.fail_after(10):
        while len(replies) < len(ids):
            frame = await client.next_frame()
            correlation_id = frame.get("correlation_id")
            if correlation_id in wanted:
                assert correlation_id not in replies, frame
                replies[correlation_id] = frame
    return replies


def _retry_after(frame: dict[str, Any]) -> float:
    assert frame["type"] == "error", frame
    assert frame["payload"]["code"] == "RATE_LIMITED", frame
    retry_after = frame["payload"]["details"]["retry_after_s"]
    assert isinstance(retry_after, float | int)
    return float(retry_after)


async def test_a_flood_is_refused_past_the_burst_and_served_after_the_retry_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(**MESSAGE_LIMITS) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", pump=True)
        ids = await _flood(client, 60, "flood")
        replies = await _replies(client, ids)
        assert [replies[i]["type"] for i in ids] == ["pong"] * 50 + ["error"] * 10
        assert all(replies[i]["payload"]["n"] == i for i in ids[:50])
        # the bucket is empty: one token comes back in 1 / rate seconds
        assert {_retry_after(replies[i]) for i in ids[50:]} == {0.2}
        await trio.sleep(0.19)
        assert (await client.request("ping"))["type"] == "error"
        await trio.sleep(0.01 + 0.2)  # the refusal took nothing from the bucket
        reply = await client.request("ping", {"after": "waiting"})
        assert reply["type"] == "pong" and reply["payload"]["after"] == "waiting"
        assert hub.stats.rate_limited == 11


async def test_the_message_bucket_is_per_user_and_shared_by_its_connections(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(**MESSAGE_LIMITS) as (hub, nursery):
        first = await open_raw(hub, nursery, "alice", pump=True)
        second = await open_raw(hub, nursery, "alice", pump=True)
        other = await open_raw(hub, nursery, "bob", pump=True)
        replies = await _replies(first, await _flood(first, 55, "alice"))
        assert sum(f["type"] == "error" for f in replies.values()) == 5
        # the same user's other connection shares the spent bucket ...
        assert _retry_after(await second.request("ping")) == 0.2
        # ... another user has a full one of their own
        ids = await _flood(other, 50, "bob")
        replies = await _replies(other, ids)
        assert [replies[i]["type"] for i in ids] == ["pong"] * 50


async def test_sustained_flooding_closes_with_1008_after_the_errors(
    autojump_clock: trio.testing.MockClock, netra_logs: pytest.LogCaptureFixture
) -> None:
    async with running_hub(**{**MESSAGE_LIMITS, "abuse_limit": 5}) as (hub, nursery):
        client = await open_raw(hub, nursery, "mallory", pump=True)
        bystander = await open_raw(hub, nursery, "bob", pump=True)
        await _flood(client, 60, "abuse")
        close, frames = await client.frames_until_close()
        assert close.code == 1008
        # the burst, then abuse_limit refusals, each answered, then the close
        assert [f["type"] for f in frames] == ["pong"] * 50 + ["error"] * 5
        assert all(_retry_after(f) == 0.2 for f in frames[50:])
        assert (await bystander.request("ping"))["type"] == "pong"  # another user is unaffected
    abuse = log_events(netra_logs.records, "abuse")
    assert [a["user"] for a in abuse] == ["mallory"]


async def _refused(
    hub: Hub, nursery: trio.Nursery, user: str
) -> tuple[int, dict[bytes, bytes], dict[str, Any]]:
    """A handshake that the server refuses: its status, headers and JSON body."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    nursery.start_soon(hub.handle_stream, server_stream)
    client = RawClient(client_stream)
    await client.send_request(token_for(user))
    refused, body = await client.rejection()
    return refused.status_code, dict(refused.headers), body


async def test_the_fourth_rapid_handshake_from_one_address_gets_429_with_retry_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = {**MESSAGE_LIMITS, "handshake_rate_per_s": 1.0, "handshake_burst": 3}
    async with running_hub(**limits) as (hub, nursery):
        for user in ("u1", "u2", "u3"):
            client = await open_raw(hub, nursery, user)
            assert client.established["user_id"] == user
        status, headers, body = await _refused(hub, nursery, "u4")
        assert status == 429
        assert body["error"]["code"] == "RATE_LIMITED"
        assert body["error"]["message"].endswith("retry in 1 s")
        assert headers[b"retry-after"] == b"1"
        await trio.sleep(1.0)  # one handshake's worth of tokens at 1/s
        client = await open_raw(hub, nursery, "u4", pump=True)
        assert (await client.request("ping"))["type"] == "pong"


async def _status(hub: Hub, nursery: trio.Nursery, token: str) -> int:
    """The status a handshake with ``token`` gets (101 when it is accepted)."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    nursery.start_soon(hub.handle_stream, server_stream)
    client = RawClient(client_stream)
    event = await client.handshake(token)
    if isinstance(event, RejectConnection):
        return event.status_code
    assert isinstance(event, AcceptConnection), event
    await client.close()
    return 101


async def test_the_default_handshake_rate_is_50_a_second_with_bursts_of_200_counting_every_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """PROTOCOL.md: ``--handshake-rate-per-s`` 50 and ``--handshake-burst`` 200
    per client address. A refused token still spends a handshake."""
    defaults = Config()
    limits = {
        **MESSAGE_LIMITS,
        "handshake_rate_per_s": defaults.handshake_rate_per_s,
        "handshake_burst": defaults.handshake_burst,
    }
    async with running_hub(**limits) as (hub, nursery):
        statuses = [await _status(hub, nursery, "not-a-token") for _ in range(199)]
        assert statuses == [401] * 199
        assert await _status(hub, nursery, token_for("alice")) == 101  # the 200th
        status, headers, body = await _refused(hub, nursery, "bob")
        assert status == 429 and body["error"]["code"] == "RATE_LIMITED"
        assert headers[b"retry-after"] == b"1"
        await trio.sleep(1 / 50)  # one handshake's worth at 50 a second
        assert await _status(hub, nursery, token_for("bob")) == 101
        assert await _status(hub, nursery, token_for("bob")) == 429


async def test_a_refusal_a_moment_before_the_next_token_never_says_retry_in_zero(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(**MESSAGE_LIMITS) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", pump=True)
        await _replies(client, await _flood(client, 50, "burst"))  # the bucket is empty
        await trio.sleep(0.1999)  # a token is 0.0001 s away (at 5 a second)
        refusal = await client.request("ping")
        assert 0 < _retry_after(refusal) <= 0.001
        assert refusal["payload"]["message"] == "too many messages; retry in 0.001 s"
