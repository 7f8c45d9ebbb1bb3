"""Runs across a restart, with a language model on loopback, and when things fail."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import trio

from netra_trio.agents.base import AgentFailure, AgentResult, RunContext
from netra_trio.agents.registry import default_agents
from netra_trio.client import open_client
from netra_trio.server.app import Server
from tests.helpers import make_config, start_server, token_for
from tests.llm.standin import StandIn
from tests.runs.support import ISSUE_EXAMPLE, assert_well_formed, run_events


async def test_threads_and_history_survive_a_restart(tmp_path: Path) -> None:
    database = str(tmp_path / "netra.db")
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, database=database)
        async with open_client(server.url, token_for("alice")) as client:
            ack = await client.request("user_message", {"content": ISSUE_EXAMPLE})
            await run_events(client)
        server.request_shutdown()
    thread_id = ack["payload"]["thread_id"]
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, database=database)
        async with open_client(server.url, token_for("alice")) as client:
            threads = (await client.request("list_threads"))["payload"]["threads"]
            assert [t["thread_id"] for t in threads] == [thread_id]
            assert threads[0]["title"].startswith("we send 2M requests/day")
            history = await client.request("get_thread_history", {"thread_id": thread_id})
            assert [m["role"] for m in history["payload"]["messages"]] == ["user", "assistant"]
        async with open_client(server.url, token_for("bob")) as bob:
            refused = await bob.request("get_thread_history", {"thread_id": thread_id})
            assert refused["payload"]["code"] == "FORBIDDEN"
        server.request_shutdown()


async def test_the_model_writes_the_summary_when_configured(nursery: trio.Nursery) -> None:
    standin: StandIn = await nursery.start(
        StandIn(reply="Move to gpt-4o-mini. Cache the prefix.").serve
    )
    server = await start_server(nursery, llm_base_url=standin.base_url, llm_model="stand-in")
    async with open_client(server.url, token_for("alice")) as client:
        await client.send("agent_request", {"content": ISSUE_EXAMPLE})
        (events,) = (await run_events(client)).values()
    assert_well_formed(events)
    result = events[-1]["payload"]["result"]
    assert result["llm"] == {"used": True, "model": "stand-in"}
    assert result["summary"] == "Move to gpt-4o-mini. Cache the prefix."
    output = [e["payload"]["delta"] for e in events if e["type"] == "agent_output"]
    assert "".join(output) == "Move to gpt-4o-mini. Cache the prefix."
    (request,) = standin.requests
    assert "405000" in request["messages"][1]["content"].replace(",", "").replace(".0", "")


async def test_a_failing_or_stalled_model_falls_back_offline(nursery: trio.Nursery) -> None:
    for mode in ("error", "stall"):
        standin: StandIn = await nursery.start(StandIn(mode=mode).serve)
        server = await start_server(nursery, llm_base_url=standin.base_url, llm_timeout_s=0.5)
        async with open_client(server.url, token_for("alice")) as client:
            await client.send("agent_request", {"content": ISSUE_EXAMPLE})
            (events,) = (await run_events(client)).values()
        done = events[-1]["payload"]
        assert done["status"] == "success", mode
        assert done["result"]["llm"]["used"] is False and done["result"]["llm"]["fallback"] is True
        assert done["result"]["summary"].startswith("Your gpt-4o traffic costs about $405,000")
        server.request_shutdown()


async def _flaky_tool_agent(ctx: RunContext) -> AgentResult:
    def broken() -> Any:
        raise ValueError("the pricing feed is down")

    outcome = await ctx.emit.tool_call("flaky", "pricing_feed", {}, broken)
    if not outcome.ok:
        raise AgentFailure("TOOL_FAILED", "could not reach the pricing feed")
    return AgentResult(result={}, report="unreachable")


async def _crashing_agent(ctx: RunContext) -> AgentResult:
    await ctx.emit.thinking("crashy", "about to fail")
    return {}["missing"]  # type: ignore[no-any-return]


async def _forgetful_agent(ctx: RunContext) -> AgentResult:
    await ctx.emit.output("forgetful", "the answer")
    return {"text": "the answer"}  # type: ignore[return-value]


async def test_tool_errors_and_crashes_are_contained(nursery: trio.Nursery) -> None:
    agents = default_agents()
    agents.register("flaky", _flaky_tool_agent)
    agents.register("crashy", _crashing_agent)
    agents.register("forgetful", _forgetful_agent)
    server = Server(make_config(), agents=agents)
    await nursery.start(server.run)
    async with open_client(server.url, token_for("alice")) as client:
        await client.send("start_agent", {"agent": "flaky", "input": "go"})
        (events,) = (await run_events(client)).values()
        assert_well_formed(events)
        completed = next(e for e in events if e["type"] == "tool_completed")["payload"]
        assert completed["status"] == "error"
        assert completed["result"] == {"error": "ValueError: the pricing feed is down"}
        assert (
            events[-1]["type"] == "agent_error" and events[-1]["payload"]["code"] == "TOOL_FAILED"
        )
        await client.send("start_agent", {"agent": "crashy", "input": "go"})
        (events,) = (await run_events(client)).values()
        assert_well_formed(events)
        assert events[-1]["payload"]["code"] == "AGENT_CRASHED"
        assert "missing" not in events[-1]["payload"]["message"]  # no internals leak
        await client.send("start_agent", {"agent": "forgetful", "input": "go"})
        (events,) = (await run_events(client)).values()
        assert_well_formed(events)
        assert events[-1]["payload"] == {
            "agent_name": "forgetful",
            "code": "AGENT_CRASHED",
            "message": "the agent returned dict, not an AgentResult",
        }
        history = await client.request("get_thread_history", {"thread_id": events[0]["thread_id"]})
        assert [m["role"] for m in history["payload"]["messages"]] == ["user"]
        assert (await client.request("ping"))["type"] == "pong"  # the hub lives on
        await client.send("agent_request", {"content": ISSUE_EXAMPLE})
        (events,) = (await run_events(client)).values()
        assert events[-1]["payload"]["status"] == "success"
    server.request_shutdown()


async def test_a_locked_database_is_an_internal_error_and_writes_nothing(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    database = tmp_path / "netra.db"
    server = await start_server(nursery, database=str(database), database_busy_timeout_s=0.2)
    async with open_client(server.url, token_for("alice")) as client:
        blocker = sqlite3.connect(database, timeout=0)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            reply = await client.request("user_message", {"content": "hello"})
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert reply["type"] == "error" and reply["payload"]["code"] == "INTERNAL"
        assert "nothing was saved" in reply["payload"]["message"]
        assert (await client.request("list_threads"))["payload"]["threads"] == []
        ack = await client.request("user_message", {"content": ISSUE_EXAMPLE})  # recovers
        assert ack["type"] == "message_ack"
        await run_events(client)
