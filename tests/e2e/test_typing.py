"""Typing relay: an ack to the sender, user_typing to the user's other connections only."""

from __future__ import annotations

import pytest
import trio

from netra_trio.client import NetraClient
from netra_trio.server.app import Server
from tests.e2e.support import WAIT_S, Frame, connect, quiet_frames
from tests.runs.support import ISSUE_EXAMPLE, assert_well_formed, run_events

pytestmark = pytest.mark.e2e


async def _typing_seen(client: NetraClient, typing: bool) -> Frame:
    frame = await client.receive_type("user_typing", timeout_s=WAIT_S)
    assert frame["payload"]["typing"] is typing
    return frame


async def test_typing_goes_to_the_users_other_connections_only(server: Server) -> None:
    async with (
        connect(server, "alice") as a,
        connect(server, "alice") as b,
        connect(server, "alice") as c,
        connect(server, "bob") as bob,
    ):
        a_id = a.established["connection_id"]
        ack = await a.request("typing_started", message_id="t-1")
        assert ack["type"] == "typing_ack"
        assert ack["correlation_id"] == "t-1"
        for other in (b, c):
            frame = await _typing_seen(other, True)
            assert frame["payload"] == {"typing": True, "connection_id": a_id}
        assert [f for f in await quiet_frames(a) if f["type"] == "user_typing"] == []
        assert [f for f in await quiet_frames(bob) if f["type"] == "user_typing"] == []

        ack = await a.request("typing_stopped", message_id="t-2")
        assert ack["type"] == "typing_ack" and ack["correlation_id"] == "t-2"
        for other in (b, c):
            frame = await _typing_seen(other, False)
            assert frame["payload"] == {"typing": False, "connection_id": a_id}
        assert [f for f in await quiet_frames(bob) if f["type"] == "user_typing"] == []


async def test_typing_of_each_connection_names_that_connection(server: Server) -> None:
    async with connect(server, "alice") as a, connect(server, "alice") as b:
        await b.request("typing_started", message_id="tb")
        frame = await _typing_seen(a, True)
        assert frame["payload"]["connection_id"] == b.established["connection_id"]
        await a.request("typing_started", message_id="ta")
        frame = await _typing_seen(b, True)
        assert frame["payload"]["connection_id"] == a.established["connection_id"]


async def test_typing_alone_gets_only_the_ack(server: Server) -> None:
    async with connect(server, "alice") as a:
        ack = await a.request("typing_started", message_id="solo")
        assert ack["type"] == "typing_ack"
        assert [f for f in await quiet_frames(a) if f["type"] == "user_typing"] == []


@pytest.mark.netra_options(message_rate_per_s=100_000.0)
async def test_a_typing_flood_loses_no_ack_and_agent_events_still_come_through(
    server: Server,
) -> None:
    """Typing messages far beyond the per-round budget of low-value work wait
    their turn: each gets its ack, in order, and a run streams meanwhile."""
    flood = 150
    async with (
        connect(server, "alice") as watcher,
        connect(server, "alice") as first,
        connect(server, "alice") as second,
    ):
        flooders = {"first": first, "second": second}
        for name, flooder in flooders.items():
            for i in range(flood):
                kind = "typing_started" if i % 2 == 0 else "typing_stopped"
                await flooder.send(kind, message_id=f"{name}-{i}")
        await watcher.send("start_agent", {"agent": "triage", "input": ISSUE_EXAMPLE})
        (events,) = (await run_events(watcher)).values()
        assert_well_formed(events)
        assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
        for name, flooder in flooders.items():
            acks: list[str] = []
            with trio.fail_after(WAIT_S):
                while len(acks) < flood:
                    frame = await flooder.receive()
                    if frame["type"] == "typing_ack":
                        acks.append(frame["correlation_id"])
            assert acks == [f"{name}-{i}" for i in range(flood)]
        assert server.hub.services.low_work.rounds > 0  # the budget was spent and refilled
