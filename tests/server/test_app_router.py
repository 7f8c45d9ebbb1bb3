"""A server with an application's own router, end to end: types it does not
serve, a handler that crashes, a handler that misuses a run slot, and an error
that cannot be sent (the connection's internal-error path, 1011).

An unexpected error in a handler is the router's to contain (``INTERNAL``,
the connection stays); an error that escapes the router ends only the
connection it happened on: the user's other connections and the server go on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed

from netra_trio.client import NetraClient, open_client
from netra_trio.errors import CloseCode, ErrorCode, ProtocolError
from netra_trio.handlers import default_router
from netra_trio.handlers.context import HandlerContext
from netra_trio.handlers.heartbeat import handle_ping
from netra_trio.handlers.router import Router
from netra_trio.protocol.client_messages import (
    GetThreadHistory,
    ListThreads,
    Ping,
    StartAgent,
)
from netra_trio.server.app import Server
from tests.helpers import logged_fields, make_config, token_for

WAIT_S = 10.0


async def crashing_handler(ctx: HandlerContext, message: ListThreads) -> None:
    raise RuntimeError("the application's handler has a bug")


async def unsendable_error(ctx: HandlerContext, message: GetThreadHistory) -> None:
    raise ProtocolError(
        ErrorCode.NOT_FOUND,
        "no such thread",
        correlation_id=message.message_id,
        details={"looked_up_by": object()},  # cannot be encoded as JSON
    )


async def slot_started_twice(ctx: HandlerContext, message: StartAgent) -> None:
    with await ctx.runs.reserve("triage", None, correlation_id=message.message_id) as slot:
        thread = await ctx.threads.create_thread(ctx.user_id, "twice")
        await slot.start(thread.thread_id, "2M requests/day on gpt-4o")
        await slot.start(thread.thread_id, "2M requests/day on gpt-4o")


def app_router() -> Router:
    router = Router()
    router.add(Ping, handle_ping)
    router.add(ListThreads, crashing_handler)
    router.add(GetThreadHistory, unsendable_error)
    router.add(StartAgent, slot_started_twice)
    return router


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[Server]:
    server = Server(make_config(), router=app_router())
    await nursery.start(server.run)
    yield server
    server.request_shutdown()


def test_a_message_type_gets_one_handler() -> None:
    router = default_router()
    with pytest.raises(ValueError, match="'ping' is already registered"):
        router.add(Ping, handle_ping)


async def test_a_type_the_router_does_not_serve_is_unknown(server: Server) -> None:
    async with open_client(server.url, token_for("alice")) as client:
        reply = await client.request("heartbeat", message_id="h-1")
        assert reply["type"] == "error"
        assert reply["payload"]["code"] == "UNKNOWN_TYPE"
        assert reply["payload"]["message"] == "message type 'heartbeat' is not served here"
        assert (await client.request("ping"))["type"] == "pong"


async def test_a_crashing_handler_is_an_internal_error_and_the_connection_stays(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    async with open_client(server.url, token_for("alice")) as client:
        reply = await client.request("list_threads", message_id="l-1")
        assert reply["type"] == "error"
        assert reply["payload"] == {
            "code": "INTERNAL",
            "message": "internal error while handling the message",
        }
        assert "bug" not in str(reply)  # no internals reach the client
        assert (await client.request("ping"))["type"] == "pong"
    (logged,) = [r for r in netra_logs.records if r.getMessage() == "handler_error"]
    assert logged.netra_fields["type"] == "list_threads"  # type: ignore[attr-defined]
    assert logged.exc_info is not None and isinstance(logged.exc_info[1], RuntimeError)


async def test_a_run_slot_starts_once(server: Server) -> None:
    async with open_client(server.url, token_for("alice")) as client:
        await client.send("start_agent", {"agent": "triage"}, message_id="s-1")
        frames: list[dict[str, Any]] = []
        with trio.fail_after(WAIT_S):
            while not any(f["type"] == "agent_completed" for f in frames) or not any(
                f["type"] == "error" for f in frames
            ):
                frames.append(await client.receive())
        (error,) = [f for f in frames if f["type"] == "error"]
        assert (error["payload"]["code"], error["correlation_id"]) == ("INTERNAL", "s-1")
        # one run started, and it ran to its end
        await client.send("ping", message_id="flush")
        with trio.fail_after(WAIT_S):
            while (frame := await client.receive()).get("correlation_id") != "flush":
                frames.append(frame)
        assert [f["type"] for f in frames].count("agent_started") == 1
        assert len({f["run_id"] for f in frames if "run_id" in f}) == 1


async def closed_with(client: NetraClient) -> int:
    with trio.fail_after(WAIT_S):
        while True:
            try:
                await client.receive()
            except ConnectionClosed as closed:
                assert closed.reason is not None
                return closed.reason.code


async def test_an_error_escaping_the_router_closes_only_its_connection_with_1011(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    async with (
        open_client(server.url, token_for("alice")) as failing,
        open_client(server.url, token_for("alice")) as other,
    ):
        await failing.send("get_thread_history", {"thread_id": "t-1"}, message_id="g-1")
        assert await closed_with(failing) == CloseCode.INTERNAL_ERROR
        # the user's other connection, and new ones, are served
        assert (await other.request("ping"))["type"] == "pong"
        async with open_client(server.url, token_for("alice")) as again:
            assert (await again.request("ping"))["type"] == "pong"
    (logged,) = [r for r in netra_logs.records if r.getMessage() == "connection_error"]
    assert logged.netra_fields["user"] == "alice"  # type: ignore[attr-defined]
    assert logged.exc_info is not None
    (closed,) = [
        f for f in logged_fields(netra_logs, "disconnect") if f["code"] == CloseCode.INTERNAL_ERROR
    ]
    assert closed["reason"] == "internal error" and closed["by"] == "server"
    assert server.hub.stats.closes_by_code[CloseCode.INTERNAL_ERROR] == 1
