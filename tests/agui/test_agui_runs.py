"""AG-UI agents end to end: a server on loopback runs real AG-UI endpoints (events made
with the official SDK, served by hypercorn on Trio), and a client sees the runs."""

from __future__ import annotations

import trio
from ag_ui.core import (
    CustomEvent,
    RawEvent,
    ReasoningEndEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    RunAgentInput,
    RunErrorEvent,
    StateSnapshotEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageChunkEvent,
)

from netra_trio.client import open_client
from tests.agui.endpoint import (
    HOLD,
    AguiEndpoint,
    FutureEvent,
    Script,
    ThinkingEndEvent,
    ThinkingStartEvent,
    ThinkingTextMessageContentEvent,
    ThinkingTextMessageEndEvent,
    ThinkingTextMessageStartEvent,
)
from tests.agui.support import (
    FINISHED,
    STARTED,
    joined_output,
    no_active_run,
    one_run,
    payloads,
    serve_agents,
    start,
    text_message,
    tool_call,
    until,
)
from tests.helpers import token_for

TEXT = Script(
    [
        STARTED,
        *text_message("m-1", "Hello", ", ", "world"),
        TextMessageChunkEvent(message_id="m-2", delta="chunked "),
        TextMessageChunkEvent(delta="text"),
        FINISHED,
    ]
)


async def test_text_streams_to_the_client_and_becomes_the_threads_answer(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    server = await serve_agents(nursery, endpoint, {"helper": TEXT})
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(client, "helper", "say hello")
        history = await client.request("get_thread_history", {"thread_id": events[0]["thread_id"]})
    assert [e["type"] for e in events[:2]] == ["agent_started", "agent_output"]
    assert joined_output(events) == {"m-1": "Hello, world", "m-2": "chunked text"}
    done = events[-1]["payload"]
    assert done["status"] == "success" and done["agent_name"] == "helper"
    assert done["result"] == {"text": "Hello, world\n\nchunked text"}
    user, assistant = history["payload"]["messages"]
    assert (user["role"], user["content"]) == ("user", "say hello")
    assert (assistant["role"], assistant["content"]) == ("assistant", done["result"]["text"])
    # what was POSTed: a valid RunAgentInput with this server's ids and the thread's message
    (body,) = endpoint.requests
    assert RunAgentInput.model_validate(body).thread_id == events[0]["thread_id"]
    assert body == {
        "threadId": events[0]["thread_id"],
        "runId": events[0]["run_id"],
        "state": {},
        "messages": [{"id": user["message_id"], "role": "user", "content": "say hello"}],
        "tools": [],
        "context": [],
        "forwardedProps": {},
    }
    (headers,) = endpoint.headers
    assert headers["accept"] == "text/event-stream"
    assert headers["content-type"] == "application/json"


async def test_a_tool_call_with_streamed_arguments_and_its_result(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    script = Script(
        [
            STARTED,
            *tool_call("call-7", "lookup", '{"city": ', '"Zürich"', ', "days": 3}', result="sunny"),
            *text_message("m-1", "It will be sunny."),
            FINISHED,
        ]
    )
    server = await serve_agents(nursery, endpoint, {"helper": script})
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(client, "helper", "weather?")
    assert [e["type"] for e in events] == [
        "agent_started",
        "tool_executing",
        "tool_completed",
        "agent_output",
        "agent_completed",
    ]
    (executing,) = payloads(events, "tool_executing")
    assert executing == {
        "agent_name": "helper",
        "tool_name": "lookup",
        "tool_call_id": "call-7",
        "arguments": {"city": "Zürich", "days": 3},
    }
    (completed,) = payloads(events, "tool_completed")
    assert completed["tool_call_id"] == "call-7" and completed["tool_name"] == "lookup"
    assert completed["status"] == "success" and completed["result"] == "sunny"


async def test_reasoning_of_both_generations_and_steps_are_thoughts(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    reasoning = Script(
        [
            STARTED,
            StepStartedEvent(step_name="plan"),
            ReasoningStartEvent(message_id="r-1"),
            ReasoningMessageStartEvent(message_id="r-1"),
            ReasoningMessageContentEvent(message_id="r-1", delta="Compare the "),
            ReasoningMessageContentEvent(message_id="r-1", delta="two prices."),
            ReasoningMessageEndEvent(message_id="r-1"),
            ReasoningEndEvent(message_id="r-1"),
            StepFinishedEvent(step_name="plan"),
            *text_message("m-1", "Done."),
            FINISHED,
        ]
    )
    thinking = Script(
        [
            STARTED,
            ThinkingStartEvent(title="Pondering"),
            ThinkingTextMessageStartEvent(),
            ThinkingTextMessageContentEvent(delta="Compare the "),
            ThinkingTextMessageContentEvent(delta="two prices."),
            ThinkingTextMessageEndEvent(),
            ThinkingEndEvent(),
            *text_message("m-1", "Done."),
            FINISHED,
        ]
    )
    server = await serve_agents(nursery, endpoint, {"reasoning": reasoning, "thinking": thinking})
    async with open_client(server.url, token_for("alice")) as client:
        new = await one_run(client, "reasoning", "which is cheaper?")
        old = await one_run(client, "thinking", "which is cheaper?")
    assert [(p["thought"], p["step"]) for p in payloads(new, "agent_thinking")] == [
        ("step: plan", 1),
        ("Compare the two prices.", 2),
    ]
    assert [p["thought"] for p in payloads(old, "agent_thinking")] == ["Compare the two prices."]
    for events in (new, old):
        assert events[-1]["payload"]["result"] == {"text": "Done."}


async def test_unknown_and_unmapped_events_are_ignored_and_the_last_state_is_kept(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    script = Script(
        [
            STARTED,
            b"event: keep-alive\n\n",  # a server-sent event without data: not an AG-UI event
            FutureEvent(detail="from a later protocol"),
            CustomEvent(name="progress", value=0.5),
            RawEvent(event={"provider": "x"}),
            StateSnapshotEvent(snapshot={"cart": ["a"]}),
            *text_message("m-1", "ok"),
            FINISHED,
        ]
    )
    server = await serve_agents(nursery, endpoint, {"helper": script})
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(client, "helper", "go")
    assert [e["type"] for e in events] == ["agent_started", "agent_output", "agent_completed"]
    assert events[-1]["payload"]["result"] == {"text": "ok", "state": {"cart": ["a"]}}


async def test_the_second_run_on_a_thread_sends_the_whole_conversation(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    script = Script([STARTED, *text_message("m-1", "an answer"), FINISHED])
    server = await serve_agents(nursery, endpoint, {"helper": script})
    async with open_client(server.url, token_for("alice")) as client:
        first = await one_run(client, "helper", "first question")
        thread_id = first[0]["thread_id"]
        await no_active_run(server, "alice")
        second = await one_run(client, "helper", "second question", thread_id)
        history = await client.request("get_thread_history", {"thread_id": thread_id})
    assert second[0]["thread_id"] == thread_id
    stored = history["payload"]["messages"]
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "first question"),
        ("assistant", "an answer"),
        ("user", "second question"),
        ("assistant", "an answer"),
    ]
    assert endpoint.requests[1]["messages"] == [
        {"id": m["message_id"], "role": m["role"], "content": m["content"]} for m in stored[:3]
    ]
    assert endpoint.requests[1]["runId"] == second[0]["run_id"]


async def test_stop_agent_cancels_the_run_and_closes_the_request(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    script = Script([STARTED, *tool_call("c-1", "slow_tool", "{}"), HOLD])
    server = await serve_agents(nursery, endpoint, {"helper": script})
    async with open_client(server.url, token_for("alice")) as client:
        await start(client, "helper", "take your time")
        executing = await until(client, "tool_executing")
        await client.send("stop_agent", {"run_id": executing["run_id"]})
        closed = await until(client, "tool_completed")
        done = await until(client, "agent_completed")
    assert closed["payload"]["status"] == "error"
    assert done["payload"]["status"] == "cancelled"
    with trio.fail_after(5):
        await endpoint.hung_up.wait()


async def test_a_run_past_its_time_closes_the_request(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    script = Script([STARTED, *text_message("m-1", "partial"), HOLD])
    server = await serve_agents(nursery, endpoint, {"helper": script}, max_run_s=0.3)
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(client, "helper", "go")
    assert events[-1]["payload"]["code"] == "TIMEOUT"
    assert joined_output(events) == {"m-1": "partial"}
    with trio.fail_after(5):
        await endpoint.hung_up.wait()


async def test_server_shutdown_closes_the_request(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    script = Script([STARTED, *text_message("m-1", "partial"), HOLD])
    server = await serve_agents(nursery, endpoint, {"helper": script}, shutdown_grace_s=0.1)
    async with open_client(server.url, token_for("alice")) as client:
        await start(client, "helper", "go")
        await until(client, "agent_output")
        server.request_shutdown()
        with trio.fail_after(5):
            await endpoint.hung_up.wait()


async def test_an_ag_ui_run_error_fails_the_run_with_the_endpoints_message(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    script = Script(
        [STARTED, *text_message("m-1", "Let me"), RunErrorEvent(message="quota exceeded")]
    )
    server = await serve_agents(nursery, endpoint, {"helper": script})
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(client, "helper", "go")
        thread_id = events[0]["thread_id"]
        history = await client.request("get_thread_history", {"thread_id": thread_id})
    assert events[-1]["payload"] == {
        "agent_name": "helper",
        "code": "AGENT_FAILED",
        "message": "quota exceeded",
    }
    assert [m["role"] for m in history["payload"]["messages"]] == ["user"]


async def test_a_stream_that_stops_early_closes_its_tool_call_then_fails(
    nursery: trio.Nursery, endpoint: AguiEndpoint
) -> None:
    script = Script([STARTED, *tool_call("c-1", "lookup", '{"q": 1}')])
    server = await serve_agents(nursery, endpoint, {"helper": script})
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(client, "helper", "go")
    assert [e["type"] for e in events] == [
        "agent_started",
        "tool_executing",
        "tool_completed",
        "agent_error",
    ]
    assert events[2]["payload"]["status"] == "error"
    assert events[3]["payload"]["code"] == "AGENT_PROTOCOL_ERROR"
    assert "ended before RUN_FINISHED" in events[3]["payload"]["message"]
