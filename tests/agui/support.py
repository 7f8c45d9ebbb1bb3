"""Helpers of the AG-UI tests: scripts of SDK events, and AG-UI runs as a client sees them."""

from __future__ import annotations

from typing import Any

import trio
from ag_ui.core import (
    BaseEvent,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)

from netra_trio.client import NetraClient
from netra_trio.server.app import Server
from tests.agui.endpoint import AguiEndpoint, Script
from tests.helpers import start_server
from tests.runs.support import assert_well_formed, run_events

Frame = dict[str, Any]

STARTED = RunStartedEvent(thread_id="t-remote", run_id="r-remote")
FINISHED = RunFinishedEvent(thread_id="t-remote", run_id="r-remote")


def text_message(message_id: str, *deltas: str) -> list[BaseEvent]:
    return [
        TextMessageStartEvent(message_id=message_id, role="assistant"),
        *(TextMessageContentEvent(message_id=message_id, delta=delta) for delta in deltas),
        TextMessageEndEvent(message_id=message_id),
    ]


def tool_call(
    call_id: str, tool_name: str, *arg_deltas: str, result: str | None = None
) -> list[BaseEvent]:
    events: list[BaseEvent] = [
        ToolCallStartEvent(tool_call_id=call_id, tool_call_name=tool_name),
        *(ToolCallArgsEvent(tool_call_id=call_id, delta=delta) for delta in arg_deltas),
        ToolCallEndEvent(tool_call_id=call_id),
    ]
    if result is not None:
        events.append(
            ToolCallResultEvent(
                message_id=f"{call_id}-result", tool_call_id=call_id, content=result
            )
        )
    return events


async def serve_agents(
    nursery: trio.Nursery, endpoint: AguiEndpoint, scripts: dict[str, Script], **overrides: Any
) -> Server:
    """A server whose agent NAME runs ``endpoint``'s path ``/NAME``, which plays
    ``scripts[NAME]``."""
    for name, script in scripts.items():
        endpoint.scripts[f"/{name}"] = script
    agents = tuple((name, endpoint.url(f"/{name}")) for name in scripts)
    return await start_server(nursery, agui_agents=agents, **overrides)


async def start(client: NetraClient, agent: str, text: str, thread_id: str | None = None) -> None:
    envelope = {"thread_id": thread_id} if thread_id is not None else {}
    await client.send("start_agent", {"agent": agent, "input": text}, **envelope)


async def one_run(
    client: NetraClient, agent: str, text: str, thread_id: str | None = None
) -> list[Frame]:
    """Start a run of ``agent`` and return its events, checked for the protocol's order."""
    await start(client, agent, text, thread_id)
    (events,) = (await run_events(client)).values()
    assert_well_formed(events)
    return events


def payloads(events: list[Frame], kind: str) -> list[dict[str, Any]]:
    return [event["payload"] for event in events if event["type"] == kind]


def joined_output(events: list[Frame]) -> dict[str, str]:
    """The text of each ``output_id``: its deltas joined in ``seq`` order."""
    texts: dict[str, str] = {}
    for payload in payloads(events, "agent_output"):
        texts[payload["output_id"]] = texts.get(payload["output_id"], "") + payload["delta"]
    return texts


async def no_active_run(server: Server, user: str) -> None:
    """Wait until ``user`` has no active run: a run's slot is freed just after
    its terminal event is sent, and a thread takes one run at a time."""
    with trio.fail_after(10):
        while (hub := server.hub.users.get(user)) is not None and hub.runs.active:  # noqa: ASYNC110 - server state
            await trio.sleep(0.01)


async def until(client: NetraClient, kind: str, timeout_s: float = 10.0) -> Frame:
    """Read frames until one of ``kind`` arrives; return it."""
    with trio.fail_after(timeout_s):
        while (frame := await client.receive())["type"] != kind:
            pass
    return frame
