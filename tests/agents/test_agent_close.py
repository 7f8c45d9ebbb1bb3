"""Agents that hold something open across runs close once, when the server stops."""

from __future__ import annotations

import logging

import pytest
import trio

from netra_trio.agents.base import AgentRegistry, AgentResult, RunContext
from netra_trio.client import open_client
from netra_trio.server.app import Server
from tests.helpers import agents_with, make_config, token_for


class PooledAgent:
    """An agent with connections of its own to close: records how it ended."""

    def __init__(self, fails: bool = False) -> None:
        self.runs = 0
        self.closed = 0
        self.fails = fails

    async def __call__(self, ctx: RunContext) -> AgentResult:
        self.runs += 1
        return AgentResult(result={"text": "done"}, report="done")

    async def aclose(self) -> None:
        self.closed += 1
        if self.fails:
            raise RuntimeError("the pool would not close")


async def test_each_agent_closes_once_and_one_failing_does_not_stop_the_others(
    netra_logs: pytest.LogCaptureFixture,
) -> None:
    shared, failing, last = PooledAgent(), PooledAgent(fails=True), PooledAgent()
    registry = AgentRegistry()
    registry.register("a-shared", shared)
    registry.register("b-failing", failing)
    registry.register("c-shared-again", shared)
    registry.register("d-last", last)
    await registry.aclose()
    assert (shared.closed, failing.closed, last.closed) == (1, 1, 1)
    (record,) = [r for r in netra_logs.records if r.getMessage() == "agent_close_failed"]
    assert record.levelno == logging.WARNING
    assert record.__dict__["netra_fields"] == {
        "agent": "b-failing",
        "error": "RuntimeError('the pool would not close')",
    }


async def test_the_server_closes_its_agents_after_the_last_run() -> None:
    agent = PooledAgent()
    server = Server(make_config(), agents=agents_with(pooled=agent))
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            async with open_client(server.url, token_for("alice")) as client:
                await client.send("start_agent", {"agent": "pooled", "input": "go"})
                await client.receive_type("agent_completed")
            assert (agent.runs, agent.closed) == (1, 0)
            server.request_shutdown()
    assert agent.closed == 1
