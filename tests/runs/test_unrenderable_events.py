"""What an agent hands the server that JSON cannot carry (an integer past 64
bits, text that is not Unicode, an object with no JSON form) ends that run
with AGENT_CRASHED, saying why, after a ``tool_completed`` for any call left
open; the event log that every user shares goes on, and so do other users'
runs and the next run of the same user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from netra_trio.agents.base import AgentFailure, AgentResult, RunContext
from tests.helpers import agents_with
from tests.server.harness import RawClient, open_raw, running_hub

Agent = Callable[[RunContext], Awaitable[AgentResult]]
LONE_SURROGATE = "\ud800"


async def _big_result(ctx: RunContext) -> AgentResult:
    await ctx.emit.thinking("odd", "about to answer")
    return AgentResult(result={"count": 2**70}, report="too big")


async def _bad_thought(ctx: RunContext) -> AgentResult:
    await ctx.emit.thinking("odd", "fine")
    await ctx.emit.thinking("odd", f"not text {LONE_SURROGATE}")
    return AgentResult(result={}, report="unreachable")


async def _bad_output(ctx: RunContext) -> AgentResult:
    await ctx.emit.output("odd", f"half {LONE_SURROGATE}")
    return AgentResult(result={}, report="unreachable")


async def _object_from_a_tool(ctx: RunContext) -> AgentResult:
    await ctx.emit.tool_call("odd", "lookup", {"q": 1}, lambda: object())
    return AgentResult(result={}, report="unreachable")


async def _bad_failure(ctx: RunContext) -> AgentResult:
    raise AgentFailure("GIVING_UP", f"no {LONE_SURROGATE}")


async def _run(client: RawClient, agent: str, message_id: str) -> list[dict[str, Any]]:
    await client.send_json(
        {"type": "start_agent", "message_id": message_id, "payload": {"agent": agent, "input": "x"}}
    )
    frames: list[dict[str, Any]] = []
    with trio.fail_after(10):
        while True:
            frame = await client.next_frame()
            if frame.get("correlation_id") != message_id:
                continue
            frames.append(frame)
            if frame["type"] in ("agent_completed", "agent_error", "error"):
                return frames


@pytest.mark.parametrize(
    ("agent", "reason"),
    [
        (_big_result, "the agent's ending cannot be sent: Integer exceeds 64-bit range"),
        (_bad_thought, "the agent emitted an event that cannot be sent: str is not valid UTF-8"),
        (_bad_output, "the agent emitted an event that cannot be sent: text that is not Unicode"),
        (_object_from_a_tool, "the agent emitted an event that cannot be sent: Type is not JSON"),
        (_bad_failure, "the agent's ending cannot be sent: str is not valid UTF-8"),
    ],
)
async def test_an_event_json_cannot_carry_crashes_its_run_only(agent: Agent, reason: str) -> None:
    async with running_hub(agents=agents_with(odd=agent)) as (hub, nursery):
        alice = await open_raw(hub, nursery, "alice")
        bob = await open_raw(hub, nursery, "bob")
        async with trio.open_nursery() as both:  # bob's run goes on beside alice's
            bobs: list[list[dict[str, Any]]] = []

            async def bobs_run() -> None:
                bobs.append(await _run(bob, "triage", "b-1"))

            both.start_soon(bobs_run)
            frames = await _run(alice, "odd", "a-1")
        last = frames[-1]
        assert (last["type"], last["payload"]["code"]) == ("agent_error", "AGENT_CRASHED"), last
        assert last["payload"]["message"].startswith(reason), last
        executing = [f["payload"]["tool_call_id"] for f in frames if f["type"] == "tool_executing"]
        completed = [f for f in frames if f["type"] == "tool_completed"]
        assert [f["payload"]["tool_call_id"] for f in completed] == executing
        assert all(f["payload"]["status"] == "error" for f in completed)
        seqs = [f["seq"] for f in frames]
        assert seqs == list(range(1, len(seqs) + 1))  # nothing lost in between
        assert bobs[0][-1]["type"] == "agent_completed"
        again = await _run(alice, "triage", "a-2")  # the log took alice's next run
        assert again[-1]["type"] == "agent_completed"
        assert again[0]["seq"] == seqs[-1] + 1
