"""Every error code reachable over the wire, with correlation ids, and the connection stays open."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import trio

from netra_trio.client import NetraClient
from netra_trio.server.app import Server
from tests.e2e.support import (
    WAIT_S,
    Frame,
    assert_alive,
    connect,
    frames_before_probe,
    next_id,
)

pytestmark = pytest.mark.e2e


async def _error_reply(client: NetraClient, text: str | bytes) -> Frame:
    """Send a raw frame and return the next error frame."""
    await client.send_raw(text)
    frame = await client.receive_type("error", timeout_s=WAIT_S)
    payload = frame["payload"]
    assert isinstance(payload["message"], str) and payload["message"]
    return frame


def _dumps(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


@pytest.mark.parametrize(
    "text", ["{not json", '{"type": "ping",', "", "nul\x00", '{"type": "ping"} trailing']
)
async def test_invalid_json(server: Server, text: str) -> None:
    async with connect(server, "alice") as client:
        error = await _error_reply(client, text)
        assert error["payload"]["code"] == "INVALID_JSON"
        assert "correlation_id" not in error
        await assert_alive(client)


# (frame, the field the message must name)
INVALID_MESSAGES: dict[str, tuple[Any, str]] = {
    "missing-type": ({"payload": {}}, "type"),
    "type-not-string": ({"type": 7}, "type"),
    "payload-not-object": ({"type": "ping", "payload": [1, 2]}, "payload"),
    "payload-null": ({"type": "ping", "payload": None}, "payload"),
    "empty-content": ({"type": "user_message", "payload": {"content": ""}}, "payload.content"),
    "content-too-long": (
        {"type": "user_message", "payload": {"content": "x" * 10_001}},
        "payload.content",
    ),
    "content-missing": ({"type": "user_message", "payload": {}}, "payload.content"),
    "content-not-string": ({"type": "user_message", "payload": {"content": 5}}, "payload.content"),
    "batch-messages-missing": ({"type": "batch", "payload": {}}, "payload.messages"),
    "resume-negative": ({"type": "resume", "payload": {"last_seq": -1}}, "payload.last_seq"),
    "unknown-field": ({"type": "heartbeat", "colour": "red"}, "colour"),
}


@pytest.mark.parametrize("case", sorted(INVALID_MESSAGES))
async def test_invalid_message_names_the_field(server: Server, case: str) -> None:
    frame, field = INVALID_MESSAGES[case]
    message_id = next_id("bad")
    async with connect(server, "alice") as client:
        error = await _error_reply(client, _dumps({**frame, "message_id": message_id}))
        assert error["payload"]["code"] == "INVALID_MESSAGE"
        assert field in error["payload"]["message"], error
        assert error["correlation_id"] == message_id
        await assert_alive(client)


@pytest.mark.parametrize("text", ["[1, 2]", '"ping"', "42", "null"])
async def test_json_that_is_not_an_object_is_invalid_message(server: Server, text: str) -> None:
    async with connect(server, "alice") as client:
        error = await _error_reply(client, text)
        assert error["payload"]["code"] == "INVALID_MESSAGE"
        await assert_alive(client)


async def test_unknown_type(server: Server) -> None:
    async with connect(server, "alice") as client:
        error = await _error_reply(client, _dumps({"type": "frobnicate", "message_id": "m-42"}))
        assert error["payload"]["code"] == "UNKNOWN_TYPE"
        assert "frobnicate" in error["payload"]["message"]
        assert error["correlation_id"] == "m-42"
        await assert_alive(client)


async def test_frame_naming_another_user_is_forbidden(server: Server) -> None:
    async with connect(server, "alice") as client:
        error = await _error_reply(
            client, _dumps({"type": "ping", "user_id": "mallory", "message_id": "m-9"})
        )
        assert error["payload"]["code"] == "FORBIDDEN"
        assert error["correlation_id"] == "m-9"
        assert "mallory" not in error["payload"]["message"]
        # refused, not served: nothing but the probe's pong arrives after the error
        assert await frames_before_probe(client) == []
        assert server.hub.stats.security_violations == 1


async def test_frame_naming_its_own_user_is_served(server: Server) -> None:
    async with connect(server, "alice") as client:
        reply = await client.request("ping", {"k": 1}, message_id="m-own", user_id="alice")
        assert reply["type"] == "pong"
        assert reply["payload"]["k"] == 1
        assert server.hub.stats.security_violations == 0


async def test_binary_frame_is_invalid_message(server: Server) -> None:
    async with connect(server, "alice") as client:
        error = await _error_reply(client, b'{"type": "ping", "message_id": "m-bin"}')
        assert error["payload"]["code"] == "INVALID_MESSAGE"
        await assert_alive(client)


async def test_heartbeat_gets_heartbeat_ack(server: Server) -> None:
    async with connect(server, "alice") as client:
        reply = await client.request("heartbeat", message_id="hb-1")
        assert reply["type"] == "heartbeat_ack"
        assert reply["payload"]["status"] == "healthy"


async def test_ping_payload_echoed_with_server_time(server: Server) -> None:
    async with connect(server, "alice") as client:
        payload = {"n": 3, "nested": {"a": [1, "two", None]}, "text": "héllo €"}
        reply = await client.request("ping", payload, message_id="p-1")
        assert reply["type"] == "pong"
        assert {k: v for k, v in reply["payload"].items() if k != "server_time"} == payload
        assert isinstance(reply["payload"]["server_time"], float)
        await client.send("ping")  # payload defaults to {}
        bare = await client.receive_type("pong")
        assert set(bare["payload"]) == {"server_time"}


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "user_message", "payload": {"content": "hello"}},
        {"type": "agent_request", "payload": {"content": "hello"}},
        {"type": "list_threads"},
        {"type": "session_get"},
        {"type": "get_thread_history", "payload": {"thread_id": "t-unknown"}},
        {"type": "stop_agent", "payload": {"run_id": "r-unknown"}},
    ],
    ids=lambda f: f["type"],
)
async def test_other_protocol_types_do_not_close_the_connection(
    server: Server, frame: dict[str, Any]
) -> None:
    async with connect(server, "alice") as client:
        await client.send_raw(_dumps({**frame, "message_id": next_id("other")}))
        await assert_alive(client)


async def test_errors_in_a_row_each_answered_in_order(server: Server) -> None:
    frames = [
        "{oops",
        _dumps({"type": "nope", "message_id": "e-1"}),
        _dumps({"type": "ping", "payload": 3, "message_id": "e-2"}),
        _dumps({"type": "ping", "user_id": "bob", "message_id": "e-3"}),
    ]
    async with connect(server, "alice") as client:
        for text in frames:
            await client.send_raw(text)
        with trio.fail_after(WAIT_S):
            errors = [await client.receive_type("error") for _ in frames]
        assert [e["payload"]["code"] for e in errors] == [
            "INVALID_JSON",
            "UNKNOWN_TYPE",
            "INVALID_MESSAGE",
            "FORBIDDEN",
        ]
        assert [e.get("correlation_id") for e in errors] == [None, "e-1", "e-2", "e-3"]
        await assert_alive(client)


async def test_client_requests_get_distinct_message_ids(server: Server) -> None:
    async with connect(server, "alice") as client:
        ids = {(await client.request("ping"))["correlation_id"] for _ in range(200)}
    assert len(ids) == 200
