"""Agent runs end to end over loopback: order, seq, fan-out, stop, limits, ownership."""

from __future__ import annotations

import trio

from netra_trio.client import open_client
from tests.helpers import agents_with, start_server, token_for, waiting_agent
from tests.runs.support import ISSUE_EXAMPLE, assert_well_formed, run_events


async def test_user_message_runs_the_supervisor_and_keeps_the_thread(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    async with open_client(server.url, token_for("alice")) as client:
        await client.send("user_message", {"content": ISSUE_EXAMPLE}, message_id="c-1")
        others: list[dict[str, object]] = []
        (events,) = (await run_events(client, others=others)).values()
        (ack,) = [f for f in others if f["type"] == "message_ack"]
        thread_id = ack["payload"]["thread_id"]  # type: ignore[index]
        assert ack["correlation_id"] == "c-1"
        assert_well_formed(events)
        assert all(e["thread_id"] == thread_id and e["correlation_id"] == "c-1" for e in events)
        types = [e["type"] for e in events]
        assert "agent_thinking" in types and "tool_executing" in types
        done = events[-1]
        assert done["type"] == "agent_completed" and done["payload"]["status"] == "success"
        assert {"supervisor", "triage"} <= set(done["payload"]["agents_involved"])
        assert done["payload"]["orchestration_time_s"] > 0
        history = await client.request("get_thread_history", {"thread_id": thread_id})
        messages = history["payload"]["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[0]["content"] == ISSUE_EXAMPLE
        assert messages[1]["content"] == done["payload"]["result"]["report_markdown"]


async def test_the_issue_example_is_priced_correctly(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    async with open_client(server.url, token_for("alice")) as client:
        await client.send("agent_request", {"content": ISSUE_EXAMPLE, "require_multi_agent": True})
        (events,) = (await run_events(client)).values()
    done = events[-1]["payload"]
    assert {"supervisor", "triage", "optimization"} <= set(done["agents_involved"])
    optimization = done["result"]["optimization"]
    # 2M req/day x 30 days = 60M requests. gpt-4o at $2.50 / $10.00 per 1M tokens:
    # input 60M x 1,500 = 90B tokens -> $225,000; output 60M x 300 = 18B -> $180,000.
    assert optimization["computed"] is True
    assert optimization["model"] == "gpt-4o"
    assert optimization["monthly_cost_now"] == 405_000.00
    assert 0 < optimization["monthly_cost_after"] < 405_000.00
    assert optimization["monthly_savings"] == round(
        405_000.00 - optimization["monthly_cost_after"], 2
    )
    tools = [e["payload"]["tool_name"] for e in events if e["type"] == "tool_executing"]
    assert {
        "cost_calculator",
        "model_substitution",
        "prompt_caching_savings",
        "batch_api_savings",
        "latency_estimate",
    } <= set(tools)
    assert "$405,000.00" in done["result"]["report_markdown"]


async def test_events_reach_every_connection_of_the_user_with_the_same_seq(
    nursery: trio.Nursery,
) -> None:
    server = await start_server(nursery)
    token = token_for("alice")
    async with (
        open_client(server.url, token) as first,
        open_client(server.url, token) as second,
        open_client(server.url, token_for("bob")) as bob,
    ):
        await first.send("agent_request", {"content": ISSUE_EXAMPLE})
        seen_first = await run_events(first)
        seen_second = await run_events(second)
        assert [(e["seq"], e["type"]) for e in next(iter(seen_first.values()))] == [
            (e["seq"], e["type"]) for e in next(iter(seen_second.values()))
        ]
        # Every agent event of alice's run was sent before these replies were
        # made, and would have gone first (CRITICAL before HIGH): bob got none.
        for n in range(2):
            await bob.send("ping", {"n": n}, message_id=f"b-{n}")
            frame = await bob.receive()
            assert (frame["type"], frame["correlation_id"]) == ("pong", f"b-{n}")


async def test_seq_increases_across_concurrent_runs(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    async with open_client(server.url, token_for("alice")) as client:
        for n in range(3):
            await client.send("agent_request", {"content": f"{ISSUE_EXAMPLE} ({n})"})
        runs = await run_events(client, runs=3)
    assert len(runs) == 3
    for events in runs.values():
        assert_well_formed(events)
    everything = sorted((e for events in runs.values() for e in events), key=lambda e: e["seq"])
    seqs = [e["seq"] for e in everything]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gaps, no repeats


async def test_stop_agent_cancels_a_running_run(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, agents=agents_with(supervisor=waiting_agent()))
    async with open_client(server.url, token_for("alice")) as client:
        await client.send("agent_request", {"content": ISSUE_EXAMPLE})
        started = await client.receive_type("tool_executing")  # it waits there for ever
        await client.send("stop_agent", {"run_id": started["run_id"]})
        done = await client.receive_type("agent_completed")
        assert done["run_id"] == started["run_id"]
        assert done["payload"]["status"] == "cancelled"
        again = await client.request("stop_agent", {"run_id": started["run_id"]})
        # the record is written once the terminal event is stored (just after it)
        runs = server.hub.services.storage.runs
        with trio.fail_after(5):
            while (run := await runs.get_run(started["run_id"])) is None or run.status == "running":  # noqa: ASYNC110 - a row in the store
                await trio.sleep(0.01)
        assert run.status == "cancelled"
        assert again["payload"]["code"] == "NOT_FOUND"


async def test_one_run_per_thread_and_three_per_user(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, agents=agents_with(supervisor=waiting_agent()))
    async with open_client(server.url, token_for("alice")) as client:
        ack = await client.request("user_message", {"content": ISSUE_EXAMPLE})
        thread_id = ack["payload"]["thread_id"]
        busy = await client.request("agent_request", {"content": "again"}, thread_id=thread_id)
        assert busy["payload"]["code"] == "AGENT_BUSY"
        for n in range(2):
            await client.send("agent_request", {"content": f"other {n}"})
        started = set()
        while len(started) < 3:
            started.add((await client.receive_type("agent_started"))["run_id"])
        assert len(server.hub.users.get("alice").runs.active) == 3  # type: ignore[union-attr]
        over = await client.request("agent_request", {"content": "a fourth"})
        assert over["payload"]["code"] == "AGENT_BUSY"
        history = await client.request("get_thread_history", {"thread_id": thread_id})
        assert [m["content"] for m in history["payload"]["messages"]] == [ISSUE_EXAMPLE]


async def test_another_users_thread_and_run_are_refused(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    async with (
        open_client(server.url, token_for("alice")) as alice,
        open_client(server.url, token_for("bob")) as bob,
    ):
        await alice.send("user_message", {"content": ISSUE_EXAMPLE}, message_id="a-1")
        (events,) = (await run_events(alice)).values()
        thread_id, run_id = events[0]["thread_id"], events[0]["run_id"]
        for kind, payload, envelope in [
            ("get_thread_history", {"thread_id": thread_id}, {}),
            ("user_message", {"content": "let me in"}, {"thread_id": thread_id}),
            ("agent_request", {"content": "let me in"}, {"thread_id": thread_id}),
            ("stop_agent", {"run_id": run_id}, {}),
        ]:
            reply = await bob.request(kind, payload, **envelope)
            assert reply["type"] == "error" and reply["payload"]["code"] == "FORBIDDEN", kind
        assert server.hub.stats.security_violations == 4
        assert (await bob.request("list_threads"))["payload"]["threads"] == []
        missing = await bob.request("get_thread_history", {"thread_id": "t-nope"})
        assert missing["payload"]["code"] == "NOT_FOUND"
        history = await alice.request("get_thread_history", {"thread_id": thread_id})
        assert [m["role"] for m in history["payload"]["messages"]] == ["user", "assistant"]


async def test_start_agent_runs_a_named_agent(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    async with open_client(server.url, token_for("alice")) as client:
        unknown = await client.request("start_agent", {"agent": "oracle", "input": "hi"})
        assert unknown["payload"]["code"] == "NOT_FOUND"
        assert "triage" in unknown["payload"]["details"]["agents"]
        await client.send("start_agent", {"agent": "triage", "input": ISSUE_EXAMPLE})
        (events,) = (await run_events(client)).values()
        assert_well_formed(events)
        result = events[-1]["payload"]["result"]
        assert result["category"] == "cost"
        assert result["figures"]["requests_per_day"] == 2_000_000
        await client.send("start_agent", {"agent": "optimization", "input": "make it cheaper"})
        (events,) = (await run_events(client)).values()
        assert events[-1]["type"] == "agent_error"
        assert events[-1]["payload"]["code"] == "INSUFFICIENT_INPUT"


async def test_the_plans_substitution_leads_the_recommendations(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    async with open_client(server.url, token_for("alice")) as client:
        await client.send("agent_request", {"content": ISSUE_EXAMPLE})
        (events,) = (await run_events(client)).values()
    result = events[-1]["payload"]["result"]
    plan_model = result["optimization"]["plan"]["model"]
    recs = result["recommendations"]
    subs = [r for r in recs if r["kind"] == "model_substitution"]
    assert plan_model != "gpt-4o" and subs[0]["model"] == plan_model
    assert subs[0]["quality_risk"] is False
    assert all(r["quality_risk"] for r in subs[1:])
    assert f"Switch to {plan_model}" in result["report_markdown"]
