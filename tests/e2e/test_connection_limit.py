"""Per-user connection limit: the 6th gets 429, concurrent handshakes never
overshoot it, and runs in flight take no connection slot."""

from __future__ import annotations

from contextlib import AsyncExitStack

import orjson
import pytest
import trio
from trio_websocket import WebSocketConnection

from netra_trio.server.app import Server
from tests.e2e.conftest import ServerFactory
from tests.e2e.support import (
    WAIT_S,
    assert_alive,
    bearer,
    connect,
    error_body,
    eventually,
    handshake,
    rejection,
    wait_until_user_gone,
)
from tests.helpers import agents_with, token_for, waiting_agent

pytestmark = pytest.mark.e2e


def _connections_of(server: Server, user: str) -> int:
    user_hub = server.hub.users.get(user)
    return 0 if user_hub is None else len(user_hub.connections)


async def test_sixth_connection_gets_429(server: Server) -> None:
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(server, "alice")) for _ in range(5)]
        rejected = await rejection(server.url, headers=bearer(token_for("alice")))
        error = error_body(rejected, 429, "TOO_MANY_CONNECTIONS")
        assert "5" in error["message"]
        # the five are untouched, and another user is not affected by alice's limit
        for client in clients:
            await assert_alive(client)
        async with connect(server, "bob") as bob:
            await assert_alive(bob)
        assert server.hub.stats.handshakes_rejected[429] == 1


async def test_a_closed_connection_gives_its_slot_back(server: Server) -> None:
    async with AsyncExitStack() as stack:
        for _ in range(4):
            await stack.enter_async_context(connect(server, "alice"))
        async with connect(server, "alice") as fifth:
            await assert_alive(fifth)
        await eventually(lambda: _connections_of(server, "alice") == 4, "alice back to 4")
        async with connect(server, "alice") as again:
            await assert_alive(again)


@pytest.mark.parametrize("limit", [5, 2])
async def test_simultaneous_handshakes_never_exceed_the_limit(
    make_server: ServerFactory, limit: int
) -> None:
    server = await make_server(max_connections_per_user=limit)
    attempts = 20
    accepted: list[str] = []
    rejected: list[tuple[int, str]] = []
    all_settled = trio.Event()
    settled = 0

    def settle() -> None:
        nonlocal settled
        settled += 1
        if settled == attempts:
            all_settled.set()

    async def hold(ws: WebSocketConnection) -> None:
        first = orjson.loads(await ws.get_message())
        assert first["type"] == "connection_established"
        accepted.append(first["payload"]["connection_id"])
        settle()
        await all_settled.wait()  # keep the slot until every attempt has its answer

    async def attempt() -> None:
        result = await handshake(server.url, headers=bearer(token_for("alice")), while_open=hold)
        if result is not None:
            body = orjson.loads(result.body or b"{}")
            rejected.append((result.status_code, body["error"]["code"]))
            settle()

    with trio.fail_after(WAIT_S):
        async with trio.open_nursery() as nursery:
            for _ in range(attempts):
                nursery.start_soon(attempt)
    assert len(accepted) == limit
    assert len(set(accepted)) == limit
    assert rejected == [(429, "TOO_MANY_CONNECTIONS")] * (attempts - limit)
    assert server.hub.stats.handshakes_rejected[429] == attempts - limit
    await wait_until_user_gone(server, "alice")
    # a fresh hub for alice afterwards
    async with connect(server, "alice") as client:
        await assert_alive(client)
        assert "alice" in server.hub.users
    await wait_until_user_gone(server, "alice")


async def test_user_entry_removed_after_last_connection_closes(server: Server) -> None:
    async with connect(server, "alice") as a1, connect(server, "alice") as a2:
        await assert_alive(a1)
        await assert_alive(a2)
        assert set(server.hub.users) == {"alice"}
    await wait_until_user_gone(server, "alice")
    assert server.hub.users == {}


@pytest.mark.parametrize("runs", [3, 5])
async def test_runs_in_flight_take_no_connection_slot(
    make_server: ServerFactory, runs: int
) -> None:
    """The limit counts connections and handshakes in progress: a user whose
    runs go on after their connection closed reconnects up to the limit."""
    gate = trio.Event()
    server = await make_server(
        agents=agents_with(supervisor=waiting_agent(gate)), max_runs_per_user=runs
    )
    async with connect(server, "alice") as starter:
        for n in range(runs):
            await starter.send("agent_request", {"content": f"run {n}"})
            await starter.receive_type("tool_executing")  # (the run waits in its tool)
    user_hub = server.hub.users["alice"]
    await eventually(lambda: user_hub.connections == (), "alice's connection gone")
    assert len(user_hub.runs.active) == runs
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(server, "alice")) for _ in range(5)]
        rejected = await rejection(server.url, headers=bearer(token_for("alice")))
        error_body(rejected, 429, "TOO_MANY_CONNECTIONS")
        for client in clients:
            await assert_alive(client)
        gate.set()
        for _ in range(runs):  # the runs end, on the connections open now
            await clients[0].receive_type("agent_completed")
    await wait_until_user_gone(server, "alice")
