"""AG-UI endpoints that fail: each failure ends only its own run, with its code and a
message that names no URL; a request that is given up on is closed."""

from __future__ import annotations

import socket

import pytest
import trio
from ag_ui.core import TextMessageContentEvent

from netra_trio.client import open_client
from tests.agui.endpoint import HOLD, AguiEndpoint, Script
from tests.agui.support import (
    FINISHED,
    STARTED,
    Frame,
    joined_output,
    one_run,
    serve_agents,
    start,
    text_message,
    tool_call,
)
from tests.helpers import start_server, token_for
from tests.runs.support import run_events


async def failure_of(
    nursery: trio.Nursery, endpoint: AguiEndpoint, script: Script, **overrides: object
) -> dict[str, str]:
    """The ``agent_error`` payload of one run of an agent that plays ``script``."""
    server = await serve_agents(nursery, endpoint, {"helper": script}, **overrides)
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(client, "helper", "go")
    error: dict[str, str] = events[-1]["payload"]
    assert events[-1]["type"] == "agent_error", events
    assert "127.0.0.1" not in error["message"]
    return error


async def test_an_http_error_status_is_unavailable(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    error = await failure_of(nursery, endpoint, Script([b"overloaded"], status=500))
    assert error["code"] == "AGENT_UNAVAILABLE"
    assert error["message"] == "the agent endpoint answered HTTP 500"


async def test_an_endpoint_that_cannot_be_reached_is_unavailable(nursery: trio.Nursery) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await start_server(nursery, agui_agents=(("helper", f"http://127.0.0.1:{port}/"),))
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(client, "helper", "go")
    assert events[-1]["payload"]["code"] == "AGENT_UNAVAILABLE"
    assert events[-1]["payload"]["message"] == (
        "the agent endpoint could not be reached (Connection refused)"
    )


async def test_a_connect_that_hangs_is_given_up_after_the_connect_timeout(
    nursery: trio.Nursery,
) -> None:
    # a listener that accepts nothing, its queue full: the next handshake waits
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        fillers.append(filler)
        filler.connect_ex(("127.0.0.1", port))
    try:
        server = await start_server(
            nursery,
            agui_agents=(("helper", f"http://127.0.0.1:{port}/"),),
            agui_connect_timeout_s=0.2,
        )
        async with open_client(server.url, token_for("alice")) as client:
            events = await one_run(client, "helper", "go")
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert events[-1]["payload"] == {
        "agent_name": "helper",
        "code": "AGENT_UNAVAILABLE",
        "message": "the agent endpoint could not be reached within 0.2 s",
    }


@pytest.mark.parametrize(
    ("script", "says"),
    [
        (Script([STARTED, b"data: {not json\n\n"]), "an event that is not JSON"),
        (Script([STARTED, b"data: [1, 2]\n\n"]), "an event that is not a JSON object"),
        (
            Script([b'{"type": "RUN_STARTED"}'], content_type="application/json"),
            "answered with Content-Type 'application/json', not an event stream",
        ),
        (
            Script([STARTED, FINISHED], headers=[(b"content-encoding", b"gzip")]),
            "compressed its event stream (gzip)",
        ),
        (Script([*text_message("m-1", "no RUN_STARTED")]), "began with TEXT_MESSAGE_START"),
        (Script([STARTED, *text_message("m-1", "cut short")]), "ended before RUN_FINISHED"),
        (Script([STARTED], break_off=True), "broke off (RemoteProtocolError)"),
    ],
    ids=["malformed-json", "not-an-object", "not-sse", "compressed", "no-start", "no-end", "drop"],
)
async def test_what_is_not_an_ag_ui_event_stream_is_a_protocol_error(
    nursery: trio.Nursery, endpoint: AguiEndpoint, script: Script, says: str
) -> None:
    error = await failure_of(nursery, endpoint, script)
    assert error["code"] == "AGENT_PROTOCOL_ERROR"
    assert says in error["message"]


async def test_an_endpoint_that_does_not_answer_in_time_is_unavailable_and_hung_up_on(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    script = Script(hold_before_answering=True)
    error = await failure_of(nursery, endpoint, script, agui_first_event_timeout_s=0.2)
    assert error["code"] == "AGENT_UNAVAILABLE"
    assert error["message"] == "the agent endpoint sent no event within 0.2 s"
    with trio.fail_after(5):
        await endpoint.hung_up.wait()


async def test_a_head_without_a_first_event_in_time_is_unavailable(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    error = await failure_of(nursery, endpoint, Script([HOLD]), agui_first_event_timeout_s=0.2)
    assert error["message"] == "the agent endpoint sent no event within 0.2 s"
    assert endpoint.answered.is_set()
    with trio.fail_after(5):
        await endpoint.hung_up.wait()


async def test_a_stream_that_goes_quiet_is_unavailable_and_hung_up_on(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    script = Script([STARTED, *tool_call("c-1", "slow", "{}"), HOLD])
    server = await serve_agents(nursery, endpoint, {"helper": script}, agui_idle_timeout_s=0.2)
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(client, "helper", "go")
    assert [e["type"] for e in events[1:]] == ["tool_executing", "tool_completed", "agent_error"]
    assert events[-1]["payload"]["code"] == "AGENT_UNAVAILABLE"
    assert events[-1]["payload"]["message"] == "the agent endpoint sent no event for 0.2 s"
    with trio.fail_after(5):
        await endpoint.hung_up.wait()


async def test_one_event_is_bounded_but_a_stream_of_events_is_not(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    piece = "x" * 1000  # each event well under the bound; all of them far over it
    many = Script(
        [
            STARTED,
            *(TextMessageContentEvent(message_id="m", delta=piece) for _ in range(50)),
            FINISHED,
        ]
    )
    huge = Script([STARTED, TextMessageContentEvent(message_id="m", delta="x" * 200_000)])
    server = await serve_agents(
        nursery, endpoint, {"many": many, "huge": huge}, agui_max_event_bytes=4096
    )
    async with open_client(server.url, token_for("alice")) as client:
        fine = await one_run(client, "many", "go")
        refused = await one_run(client, "huge", "go")
    assert joined_output(fine) == {"m": piece * 50}
    assert refused[-1]["payload"]["code"] == "AGENT_PROTOCOL_ERROR"
    assert refused[-1]["payload"]["message"] == (
        "the agent endpoint sent an event larger than 4096 bytes"
    )


async def test_the_arguments_of_a_tool_call_are_bounded(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    script = Script([STARTED, *tool_call("c-1", "t", '{"a": "', "x" * 2000, '"}'), FINISHED])
    error = await failure_of(nursery, endpoint, script, agui_max_tool_args_bytes=1024)
    assert error["code"] == "AGENT_PROTOCOL_ERROR"
    assert error["message"] == "the arguments of tool call 'c-1' are longer than 1024 bytes"


async def test_a_failing_endpoint_affects_no_other_run(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    good = Script([STARTED, *text_message("m-1", "fine"), FINISHED])
    bad = Script([STARTED, b"data: {broken\n\n"])
    server = await serve_agents(nursery, endpoint, {"good": good, "bad": bad})
    async with (
        open_client(server.url, token_for("alice")) as alice,
        open_client(server.url, token_for("bob")) as bob,
    ):
        await start(alice, "bad", "go")
        await start(bob, "good", "go")
        await start(alice, "good", "go")
        alice_runs = await run_events(alice, runs=2)
        bob_runs = await run_events(bob)
    endings: list[Frame] = [events[-1] for events in alice_runs.values()]
    assert sorted(e["type"] for e in endings) == ["agent_completed", "agent_error"]
    (bob_events,) = bob_runs.values()
    assert bob_events[-1]["payload"]["result"] == {"text": "fine"}
