"""The built-in agents run through a real server, as a client starts them:
the optimization agent on its own, the supervisor's report when nothing can
be priced or nothing is cheaper, the inputs ``start_agent`` accepts, and a
required tool that fails."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from netra_trio.agents.base import AgentRegistry, AgentResult, RunContext, require_tool
from netra_trio.client import NetraClient, open_client
from netra_trio.server.app import Server
from tests.helpers import agents_with, start_server, token_for
from tests.runs.support import ISSUE_EXAMPLE, assert_well_formed, run_events

CHEAPEST = (
    "We run gemini 1.5 flash at 100k requests/day with 500 input tokens and 200 output "
    "tokens. Can we spend less?"
)


async def one_run(client: NetraClient, kind: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    await client.send(kind, payload)
    (events,) = (await run_events(client)).values()
    assert_well_formed(events)
    return events


@pytest.fixture
async def server(nursery: trio.Nursery) -> Server:
    async def pricing_feed() -> dict[str, float]:
        raise ConnectionError("the pricing feed is down")

    async def needs_feed(ctx: RunContext) -> AgentResult:
        await require_tool(ctx, "pricer", "pricing_feed", {}, pricing_feed)
        return AgentResult(result={}, report="unreachable")  # pragma: no cover

    async def needs_feed_quietly(ctx: RunContext) -> AgentResult:
        await require_tool(
            ctx, "pricer", "pricing_feed", {}, pricing_feed, failure="no prices today"
        )
        return AgentResult(result={}, report="unreachable")  # pragma: no cover

    return await start_server(
        nursery, agents=agents_with(pricer=needs_feed, quiet_pricer=needs_feed_quietly)
    )


async def test_the_optimization_agent_prices_the_request_and_the_plan(server: Server) -> None:
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(
            client, "start_agent", {"agent": "optimization", "input": ISSUE_EXAMPLE}
        )
    done = events[-1]["payload"]
    assert done["status"] == "success"
    assert done["agents_involved"] == ["optimization"]
    result = done["result"]
    assert result["computed"] is True and result["model"] == "gpt-4o"
    assert result["monthly_cost_now"] == 405_000.0  # 60M requests x (1.5k in, 300 out)
    assert 0 < result["monthly_cost_after"] < result["monthly_cost_now"]
    tools = [e["payload"]["tool_name"] for e in events if e["type"] == "tool_executing"]
    assert tools == [
        "extract_figures",
        "cost_calculator",
        "model_substitution",
        "prompt_caching_savings",
        "batch_api_savings",
        "latency_estimate",
    ]


async def test_nothing_cheaper_means_a_plan_without_changes_and_no_recommendations(
    server: Server,
) -> None:
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(client, "start_agent", {"agent": "optimization", "input": CHEAPEST})
        optimization = events[-1]["payload"]["result"]
        assert optimization["plan"]["model"] == "gemini-1.5-flash"
        assert optimization["prompt_caching"]["savings"] == 0  # prompts too short to cache
        assert optimization["batch_api"]["applicable"] is False  # no batch API
        assert optimization["substitutions"] == []
        assert optimization["monthly_savings"] == 0
        thoughts = [e["payload"]["thought"] for e in events if e["type"] == "agent_thinking"]
        assert not any("same quality tier" in t for t in thoughts)
        events = await one_run(
            client, "agent_request", {"content": CHEAPEST, "require_multi_agent": True}
        )
    result = events[-1]["payload"]["result"]
    assert result["recommendations"] == []
    report = result["report_markdown"]
    assert "**Model:** gemini-1.5-flash" in report
    assert "### Recommendations" not in report


async def test_a_request_without_figures_gets_a_report_asking_for_them(server: Server) -> None:
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(
            client,
            "agent_request",
            {"content": "How can we make our support chatbot better?", "require_multi_agent": True},
        )
    result = events[-1]["payload"]["result"]
    assert result["optimization"]["computed"] is False
    assert result["report_markdown"].endswith(
        "To compute savings, tell me the model in use, requests per day, "
        "input tokens per request, output tokens per request."
    )


async def test_start_agent_takes_text_or_an_object_with_text(server: Server) -> None:
    async with open_client(server.url, token_for("alice")) as client:
        for run_input in ({"content": ISSUE_EXAMPLE}, {"text": "2M/day on gpt-4o"}):
            events = await one_run(client, "start_agent", {"agent": "triage", "input": run_input})
            done = events[-1]["payload"]
            assert done["status"] == "success" and done["result"]["figures"]["models"] == ["gpt-4o"]
            # the thread is titled and its first message is the object, as JSON
            history = await client.request(
                "get_thread_history", {"thread_id": events[0]["thread_id"]}
            )
            (first, *_) = history["payload"]["messages"]
            assert first["role"] == "user" and first["content"].startswith('{"')
        for unreadable in (42, {"question": "no text under a key the agents read"}):
            events = await one_run(client, "start_agent", {"agent": "triage", "input": unreadable})
            assert events[-1]["type"] == "agent_error"
            assert events[-1]["payload"]["code"] == "INVALID_INPUT"
        # an empty input is not stored as a message of the user
        events = await one_run(client, "start_agent", {"agent": "triage"})
        history = await client.request("get_thread_history", {"thread_id": events[0]["thread_id"]})
        assert [m["role"] for m in history["payload"]["messages"]] == ["assistant"]


async def test_a_required_tool_that_fails_ends_the_run_with_tool_failed(server: Server) -> None:
    async with open_client(server.url, token_for("alice")) as client:
        events = await one_run(client, "start_agent", {"agent": "pricer"})
        assert events[-1]["payload"] == {
            "agent_name": "pricer",
            "code": "TOOL_FAILED",
            "message": "the pricing_feed tool failed",
        }
        completed = next(e for e in events if e["type"] == "tool_completed")["payload"]
        assert completed["status"] == "error"
        assert completed["result"] == {"error": "ConnectionError: the pricing feed is down"}
        events = await one_run(client, "start_agent", {"agent": "quiet_pricer"})
        assert events[-1]["payload"]["message"] == "no prices today"


def test_an_agent_name_is_registered_once() -> None:
    registry = AgentRegistry()

    async def agent(ctx: RunContext) -> AgentResult:  # pragma: no cover - never run
        return AgentResult(result={}, report="")

    registry.register("mine", agent)
    with pytest.raises(ValueError, match="agent 'mine' is already registered"):
        registry.register("mine", agent)
    assert registry.names == ("mine",)
