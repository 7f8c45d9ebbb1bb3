"""Frames naming another user: FORBIDDEN each, and the 5th closes with 1008 after its error."""

from __future__ import annotations

import pytest

from netra_trio.server.app import Server
from tests.e2e.support import (
    assert_alive,
    connect,
    events,
    eventually,
    frames_before_probe,
    frames_until_closed,
)

pytestmark = pytest.mark.e2e


async def test_five_violations_five_errors_then_1008(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    async with connect(server, "alice") as alice, connect(server, "bob") as bob:
        for i in range(5):
            await alice.send("ping", {"i": i}, user_id="bob", message_id=f"v-{i}")
        code, frames = await frames_until_closed(alice)
        assert code == 1008
        assert [f["type"] for f in frames] == ["error"] * 5
        assert [f["payload"]["code"] for f in frames] == ["FORBIDDEN"] * 5
        assert [f["correlation_id"] for f in frames] == [f"v-{i}" for i in range(5)]
        assert server.hub.stats.security_violations == 5
        # bob, who was named, got nothing and is fine
        assert await frames_before_probe(bob) == []
    logged = events(netra_logs.records, "security_violation")
    assert [e["count"] for e in logged] == [1, 2, 3, 4, 5]
    assert {e["user"] for e in logged} == {"alice"}


async def test_four_violations_keep_the_connection_the_fifth_closes_it(
    server: Server,
) -> None:
    async with connect(server, "alice") as alice:
        for i in range(4):
            reply = await alice.request("heartbeat", user_id=f"other-{i}", message_id=f"w-{i}")
            assert reply["type"] == "error" and reply["payload"]["code"] == "FORBIDDEN"
        await assert_alive(alice)
        await alice.send("typing_started", user_id="someone", message_id="w-last")
        code, frames = await frames_until_closed(alice)
        assert code == 1008
        assert [(f["type"], f["correlation_id"]) for f in frames] == [("error", "w-last")]
        assert server.hub.stats.security_violations == 5
        await eventually(lambda: server.hub.stats.closes_by_code[1008] == 1, "1008 counted")


async def test_violations_are_counted_per_connection(server: Server) -> None:
    async with connect(server, "alice") as a1, connect(server, "alice") as a2:
        for client in (a1, a2):
            for i in range(3):
                reply = await client.request("ping", user_id="bob", message_id=f"pc-{i}")
                assert reply["payload"]["code"] == "FORBIDDEN"
        await assert_alive(a1)
        await assert_alive(a2)
        assert server.hub.stats.security_violations == 6


async def test_violations_inside_batches_count_too(server: Server) -> None:
    foreign = [{"type": "ping", "user_id": "bob", "message_id": f"bv-{i}"} for i in range(5)]
    async with connect(server, "alice") as alice:
        await alice.send("batch", {"messages": foreign}, message_id="bv-batch")
        code, frames = await frames_until_closed(alice)
        assert code == 1008
        assert [f["correlation_id"] for f in frames] == [f"bv-{i}" for i in range(5)]
        assert all(f["payload"]["code"] == "FORBIDDEN" for f in frames)
    assert server.hub.stats.security_violations == 5
