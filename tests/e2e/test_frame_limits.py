"""Frames at the codec's bounds, through a real server: integers past the
protocol's range and JSON nested past the depth bound are refused with
``INVALID_MESSAGE`` before anything is done or stored, and nothing fails."""

from __future__ import annotations

import pytest
import trio

from netra_trio.client import NetraClient
from netra_trio.core.limits import MAX_FRAME_DEPTH, MAX_INTEGER
from netra_trio.server.app import Server
from tests.e2e.support import WAIT_S, Frame, assert_alive, connect
from tests.helpers import logged_fields
from tests.runs.support import run_events

pytestmark = pytest.mark.e2e


def raw_frame(kind: str, message_id: str, payload: str) -> str:
    """A frame's text around ``payload``, JSON written out (orjson cannot write most of these)."""
    return f'{{"type":"{kind}","message_id":"{message_id}","payload":{payload}}}'


def nested(depth: int) -> str:
    """A JSON object nesting ``depth`` levels of objects (itself the first)."""
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


async def answer_to(client: NetraClient, text: str, message_id: str) -> Frame:
    """Send ``text`` as it is; the frame that answers it."""
    await client.send_raw(text)
    with trio.fail_after(WAIT_S):
        while True:
            frame = await client.receive()
            if frame.get("correlation_id") == message_id:
                return frame


async def test_resume_past_the_integer_range_is_invalid_and_beyond_the_newest_replays_nothing(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    async with connect(server, "alice") as client:
        await client.send("agent_request", {"content": "hello"})
        (live,) = (await run_events(client)).values()
        for too_big in (2**63, MAX_INTEGER + 1):
            text = raw_frame("resume", "r-big", f'{{"last_seq":{too_big}}}')
            frame = await answer_to(client, text, "r-big")
            assert frame["type"] == "error", frame
            assert frame["payload"]["code"] == "INVALID_MESSAGE"
            assert frame["payload"]["message"].startswith("payload.last_seq: out of the protocol's")
        for beyond in (live[-1]["seq"] + 1, MAX_INTEGER):
            await client.send("resume", {"last_seq": beyond}, message_id="r-beyond")
            with trio.fail_after(WAIT_S):
                frame = await client.receive()
            assert frame["type"] == "resume_complete", frame
            assert frame["payload"] == {"replayed": 0, "gap": False}
        await assert_alive(client)
    assert logged_fields(netra_logs, "handler_error") == []


async def test_a_ping_nested_past_the_bound_is_refused_and_one_at_the_bound_is_answered(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    async with connect(server, "alice") as client:
        for depth in (MAX_FRAME_DEPTH + 1, 253, 600, 1022, 1023):
            payload = nested(depth - 1)  # the frame itself is the first level
            text = raw_frame("ping", "p-deep", payload)
            frame = await answer_to(client, text, "p-deep")
            assert frame["type"] == "error", frame
            assert frame["payload"]["code"] == "INVALID_MESSAGE"
            assert frame["payload"]["details"] == {"max_depth": MAX_FRAME_DEPTH}
        text = raw_frame("ping", "p-ok", nested(MAX_FRAME_DEPTH - 1))
        frame = await answer_to(client, text, "p-ok")
        assert frame["type"] == "pong", frame
        assert frame["payload"]["a"]["a"]["a"] is not None
    assert logged_fields(netra_logs, "handler_error") == []


async def test_a_session_update_nested_past_the_bound_is_not_stored(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    async with connect(server, "alice") as client:
        reply = await client.request("session_update", {"data": {"kept": 1}}, message_id="u-1")
        assert reply["type"] == "session_state", reply
        # payload and data are levels 2 and 3: this data object is one level too deep
        deep = nested(MAX_FRAME_DEPTH - 1)
        for data in (deep, nested(300)):
            text = raw_frame("session_update", "u-deep", f'{{"data":{data}}}')
            frame = await answer_to(client, text, "u-deep")
            assert frame["type"] == "error", frame
            assert frame["payload"]["code"] == "INVALID_MESSAGE"
        state = await client.request("session_get", message_id="g-1")
        assert state["type"] == "session_state", state
        assert state["payload"]["data"] == {"kept": 1}
        near = nested(MAX_FRAME_DEPTH - 2)  # at the bound: stored and read back
        text = raw_frame("session_update", "u-ok", f'{{"data":{near}}}')
        assert (await answer_to(client, text, "u-ok"))["type"] == "session_state"
        state = await client.request("session_get", message_id="g-2")
        assert state["type"] == "session_state", state
        assert "a" in state["payload"]["data"] and state["payload"]["data"]["kept"] == 1
    assert logged_fields(netra_logs, "handler_error") == []
